// The Store contract for the knowledge index (migration 12) on every engine: documents replaced
// whole with their passages, BM25 (FTS5) or full-text ranking, kinds and exclusion, snippets,
// deletion, and never another tenant's documents (the store's WHERE and PostgreSQL's RLS).
#include <doctest/doctest.h>

#include <algorithm>

#include "aggregator/knowledge/knowledge.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

store::Tenant tenantNamed(store::Store& store, const std::string& name) {
  auto tenant = store.createTenant(name, nowUnixNanos());
  REQUIRE_MESSAGE(tenant.isOk(), tenant.status().toString());
  return *tenant;
}

store::KnowledgeDocument runbook(const store::Tenant& tenant, const std::string& id,
                                 const std::string& title, const std::string& markdown) {
  store::KnowledgeDocument document;
  document.tenant_id = tenant.id;
  document.kind = "runbook";
  document.id = id;
  document.title = title;
  document.services = {"ts-order-service"};
  document.body = markdown;
  document.passages = knowledge::chunkMarkdown(markdown);
  document.updated_at_ns = 1000;
  return document;
}

std::vector<std::string> ids(const std::vector<store::KnowledgeHit>& hits) {
  std::vector<std::string> out;
  for (const store::KnowledgeHit& hit : hits) {
    out.push_back(hit.kind + "/" + hit.id);
  }
  return out;
}

store::KnowledgeQuery queryFor(const std::string& text) {
  store::KnowledgeQuery query;
  query.terms = knowledge::queryTerms(text);
  return query;
}

}  // namespace

TEST_CASE_TEMPLATE("knowledge store: put, search ranked with passages, kinds, exclude, delete",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = tenantNamed(*store, "acme");

  REQUIRE(store
              ->putKnowledgeDocument(runbook(acme, "db-failover", "Database failover",
                                             "# Database failover\nPromote the replica.\n\n"
                                             "## Check replication lag\nRun pg_stat_replication "
                                             "on the primary.\n"))
              .isOk());
  REQUIRE(store
              ->putKnowledgeDocument(runbook(acme, "cache", "Cache eviction storms",
                                             "# Cache\nRedis evictions spike when memory is "
                                             "full. Raise maxmemory.\n"))
              .isOk());
  knowledge::IncidentFacts facts;
  facts.id = "inc_1";
  facts.title = "replication lag on db";
  facts.status = "resolved";
  facts.services = {"db"};
  facts.event_lines = {"db: replication lag above 30s"};
  facts.comments = {"failed over to the replica"};
  REQUIRE(store->putKnowledgeDocument(knowledge::incidentDocument(acme.id, facts, 2000)).isOk());

  auto hits = store->searchKnowledge(acme.id, queryFor("replication lag"));
  REQUIRE_MESSAGE(hits.isOk(), hits.status().toString());
  std::vector<std::string> found_ids = ids(*hits);
  std::sort(found_ids.begin(), found_ids.end());
  CHECK(found_ids == std::vector<std::string>{"incident/inc_1", "runbook/db-failover"});
  for (const store::KnowledgeHit& hit : *hits) {
    CHECK(hit.score > 0);
    REQUIRE_FALSE(hit.passages.empty());
    CHECK(hit.passages.front().snippet.find("[") != std::string::npos);
    CHECK(hit.passages.front().score == doctest::Approx(hit.score));
  }
  const store::KnowledgeHit& failover = (*hits)[(*hits)[0].id == "db-failover" ? 0 : 1];
  CHECK(failover.title == "Database failover");
  CHECK(failover.services == std::vector<std::string>{"ts-order-service"});
  CHECK(failover.passages.front().heading == "Check replication lag");

  // A term only one document has ranks it first; unknown words find nothing.
  hits = store->searchKnowledge(acme.id, queryFor("redis maxmemory"));
  REQUIRE(hits.isOk());
  CHECK(ids(*hits) == std::vector<std::string>{"runbook/cache"});
  hits = store->searchKnowledge(acme.id, queryFor("kubernetes"));
  REQUIRE(hits.isOk());
  CHECK(hits->empty());

  // Kinds filter; the excluded document never shows.
  store::KnowledgeQuery only_incidents = queryFor("replication");
  only_incidents.kinds = {"incident"};
  hits = store->searchKnowledge(acme.id, only_incidents);
  REQUIRE(hits.isOk());
  CHECK(ids(*hits) == std::vector<std::string>{"incident/inc_1"});
  only_incidents.exclude_kind = "incident";
  only_incidents.exclude_id = "inc_1";
  hits = store->searchKnowledge(acme.id, only_incidents);
  REQUIRE(hits.isOk());
  CHECK(hits->empty());

  // Limit.
  store::KnowledgeQuery one = queryFor("replication cache");
  one.limit = 1;
  hits = store->searchKnowledge(acme.id, one);
  REQUIRE(hits.isOk());
  CHECK(hits->size() == 1);

  // Replacing a document replaces its passages.
  REQUIRE(store
              ->putKnowledgeDocument(
                  runbook(acme, "cache", "Cache eviction storms", "# Cache\nMemcached slabs.\n"))
              .isOk());
  hits = store->searchKnowledge(acme.id, queryFor("redis"));
  REQUIRE(hits.isOk());
  CHECK(hits->empty());
  hits = store->searchKnowledge(acme.id, queryFor("memcached"));
  REQUIRE(hits.isOk());
  CHECK(ids(*hits) == std::vector<std::string>{"runbook/cache"});

  auto found = store->findKnowledgeDocument(acme.id, "runbook", "cache");
  REQUIRE(found.isOk());
  CHECK(found->body == "# Cache\nMemcached slabs.\n");
  auto listed = store->listKnowledgeDocuments(acme.id, "runbook", 10);
  REQUIRE(listed.isOk());
  CHECK(listed->size() == 2);

  REQUIRE(store->deleteKnowledgeDocument(acme.id, "runbook", "cache").isOk());
  CHECK(store->deleteKnowledgeDocument(acme.id, "runbook", "cache").code() == Errc::NotFound);
  CHECK(store->findKnowledgeDocument(acme.id, "runbook", "cache").status().code() ==
        Errc::NotFound);
  hits = store->searchKnowledge(acme.id, queryFor("memcached"));
  REQUIRE(hits.isOk());
  CHECK(hits->empty());

  // Refused: another tenant's document, a bad kind, an unknown tenant.
  store::KnowledgeDocument bad = runbook(acme, "x", "x", "x");
  bad.kind = "secret";
  CHECK(store->putKnowledgeDocument(bad).code() == Errc::InvalidArgument);
  store::KnowledgeDocument ghost = runbook(acme, "x", "x", "x");
  ghost.tenant_id = "tnt_nosuch";
  CHECK(store->putKnowledgeDocument(ghost).code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("knowledge store: never another tenant's documents", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = tenantNamed(*store, "acme");
  store::Tenant globex = tenantNamed(*store, "globex");
  REQUIRE(store
              ->putKnowledgeDocument(
                  runbook(acme, "secret-plan", "Acme secret plan", "# Plan\nzanzibar rollback\n"))
              .isOk());
  REQUIRE(store
              ->putKnowledgeDocument(
                  runbook(globex, "other", "Globex runbook", "# Other\nnothing in common\n"))
              .isOk());
  auto hits = store->searchKnowledge(globex.id, queryFor("zanzibar rollback plan"));
  REQUIRE(hits.isOk());
  CHECK(hits->empty());
  CHECK(store->findKnowledgeDocument(globex.id, "runbook", "secret-plan").status().code() ==
        Errc::NotFound);
  CHECK(store->deleteKnowledgeDocument(globex.id, "runbook", "secret-plan").code() ==
        Errc::NotFound);
  auto listed = store->listKnowledgeDocuments(globex.id, "runbook", 10);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == "other");
  // The same id in two tenants: two documents.
  REQUIRE(store
              ->putKnowledgeDocument(
                  runbook(globex, "secret-plan", "Globex plan", "# Plan\nglobex only\n"))
              .isOk());
  hits = store->searchKnowledge(acme.id, queryFor("zanzibar globex"));
  REQUIRE(hits.isOk());
  REQUIRE(hits->size() == 1);
  CHECK(hits->front().title == "Acme secret plan");
  // Row counts as each tenant sees them (RLS on PostgreSQL).
  CHECK(engine.queryInt("SELECT count(*) FROM knowledge_passages WHERE tenant_id = $1", acme.id) >=
        1);
}

TEST_CASE("knowledge chunking: Markdown cut at headings, code blocks kept whole, long sections") {
  auto passages = knowledge::chunkMarkdown(
      "intro line\n# One #\nfirst\n```\n# not a heading\n```\n## Two\nsecond\n###\n#nospace\n");
  REQUIRE(passages.size() == 4);
  CHECK(passages[0].heading == "");
  CHECK(passages[0].text == "intro line");
  CHECK(passages[1].heading == "One");
  CHECK(passages[1].text == "first\n```\n# not a heading\n```");
  CHECK(passages[2].heading == "Two");
  CHECK(passages[2].text == "second");
  CHECK(passages[3].heading == "");
  CHECK(passages[3].text == "#nospace");
  std::string long_text;
  for (int i = 0; i < 500; ++i) {
    long_text += "word" + std::to_string(i) + " ";
    if (i % 50 == 49) {
      long_text += "\n\n";
    }
  }
  passages = knowledge::chunkMarkdown("# Long\n" + long_text);
  REQUIRE(passages.size() >= 2);
  for (const auto& passage : passages) {
    CHECK(passage.heading == "Long");
    CHECK(passage.text.size() <= knowledge::kMaxPassageBytes);
  }
}

TEST_CASE("knowledge terms: lower-cased words, numbers and stop words dropped, no syntax") {
  CHECK(knowledge::queryTerms("The ts-order-service OR \"x\" NEAR(a b) 500 errors* AND errors") ==
        std::vector<std::string>{"ts", "order", "service", "near", "errors"});
  CHECK(knowledge::validUtf8(std::string("ok\xff\0x", 5)) == "ok?x");
}
