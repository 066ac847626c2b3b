// Embeddings in the knowledge index (migration 17): vectors stored with their passages on every
// engine and read back exactly, only the tenant's own; the answer parser's limits; cosine
// similarity, the embedding ranking and its fusion with BM25 (reciprocal rank fusion, k = 60).
// The provider itself is exercised over loopback against the test stand-in
// (tests/integration/test_embeddings.py).
#include "aggregator/knowledge/embeddings.h"

#include <doctest/doctest.h>

#include <cmath>

#include "aggregator/knowledge/knowledge.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

store::KnowledgeDocument embeddedRunbook(const std::string& tenant_id, const std::string& id,
                                         std::vector<std::vector<float>> vectors,
                                         std::int64_t updated_at_ns) {
  store::KnowledgeDocument document;
  document.tenant_id = tenant_id;
  document.kind = "runbook";
  document.id = id;
  document.title = "Runbook " + id;
  document.services = {"db"};
  document.updated_at_ns = updated_at_ns;
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    store::KnowledgePassage passage;
    passage.heading = "part " + std::to_string(i);
    passage.text = id + " text " + std::to_string(i);
    passage.embedding = std::move(vectors[i]);
    document.passages.push_back(std::move(passage));
  }
  return document;
}

store::KnowledgeHit hit(const std::string& id, double score, int seq) {
  store::KnowledgeHit out;
  out.kind = "runbook";
  out.id = id;
  out.title = id;
  out.score = score;
  store::KnowledgePassageHit passage;
  passage.seq = seq;
  passage.snippet = id;
  passage.score = score;
  out.passages.push_back(passage);
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("knowledge vectors: stored with passages, read back exactly, tenant-scoped",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto acme = store->createTenant("acme", nowUnixNanos());
  auto globex = store->createTenant("globex", nowUnixNanos());
  REQUIRE(acme.isOk());
  REQUIRE(globex.isOk());
  const std::vector<float> exact = {0.5f, -1.25f, 3.0e-7f, 1e20f};
  REQUIRE(store->putKnowledgeDocument(embeddedRunbook(acme->id, "a", {exact, {}}, 1000)).isOk());
  REQUIRE(store->putKnowledgeDocument(embeddedRunbook(acme->id, "b", {{1, 0, 0, 0}}, 2000)).isOk());
  REQUIRE(
      store->putKnowledgeDocument(embeddedRunbook(globex->id, "g", {{9, 9, 9, 9}}, 3000)).isOk());

  auto rows = store->listKnowledgeVectors(acme->id, {}, 100);
  REQUIRE_MESSAGE(rows.isOk(), rows.status().toString());
  // The passage without a vector is not read; the newest document first.
  REQUIRE(rows->size() == 2);
  CHECK(rows->at(0).id == "b");
  CHECK(rows->at(1).id == "a");
  CHECK(rows->at(1).seq == 0);
  CHECK(rows->at(1).embedding == exact);
  CHECK(rows->at(1).text == "a text 0");
  CHECK(rows->at(1).title == "Runbook a");
  for (const auto& row : *rows) {
    CHECK(row.id != "g");
  }
  // The cap, and kinds.
  rows = store->listKnowledgeVectors(acme->id, {}, 1);
  REQUIRE(rows.isOk());
  CHECK(rows->size() == 1);
  rows = store->listKnowledgeVectors(acme->id, {"incident"}, 100);
  REQUIRE(rows.isOk());
  CHECK(rows->empty());
  // Another tenant reads only its own.
  rows = store->listKnowledgeVectors(globex->id, {"runbook"}, 100);
  REQUIRE(rows.isOk());
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().id == "g");
  // A document written again without vectors (embedding failed) has none left.
  REQUIRE(store->putKnowledgeDocument(embeddedRunbook(acme->id, "b", {{}}, 4000)).isOk());
  rows = store->listKnowledgeVectors(acme->id, {}, 100);
  REQUIRE(rows.isOk());
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().id == "a");
  // Past the dimension cap: refused.
  CHECK(
      store
          ->putKnowledgeDocument(embeddedRunbook(
              acme->id, "c", {std::vector<float>(store::kMaxEmbeddingDimensions + 1, 1.0f)}, 5000))
          .code() == Errc::InvalidArgument);
}

TEST_CASE("embeddings answer: count, dimensions, values and index are checked") {
  auto ok = knowledge::parseEmbeddingsAnswer(
      R"({"data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0.5]}]})", 2);
  REQUIRE(ok.isOk());
  CHECK(ok->at(0) == std::vector<float>{1.0f, 0.5f});
  CHECK(ok->at(1) == std::vector<float>{0.0f, 1.0f});
  CHECK(knowledge::parseEmbeddingsAnswer(R"({"data":[{"embedding":[1]}]})", 2).status().code() ==
        Errc::Unavailable);
  CHECK(!knowledge::parseEmbeddingsAnswer(R"({"data":[{"embedding":[]}]})", 1).isOk());
  CHECK(!knowledge::parseEmbeddingsAnswer(R"({"data":[{"embedding":[1,"x"]}]})", 1).isOk());
  CHECK(!knowledge::parseEmbeddingsAnswer(R"({"data":[{"embedding":[1,2]},{"embedding":[1]}]})", 2)
             .isOk());
  CHECK(!knowledge::parseEmbeddingsAnswer(
             R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]})", 2)
             .isOk());
  CHECK(!knowledge::parseEmbeddingsAnswer("not json", 1).isOk());
  std::string big = R"({"data":[{"embedding":[)";
  for (std::size_t i = 0; i <= store::kMaxEmbeddingDimensions; ++i) {
    big += i == 0 ? "1" : ",1";
  }
  big += "]}]}";
  CHECK(!knowledge::parseEmbeddingsAnswer(big, 1).isOk());
}

TEST_CASE("embedding ranking: cosine, threshold, exclusion, documents by their best passage") {
  CHECK(knowledge::cosineSimilarity({1, 0}, {1, 0}) == doctest::Approx(1.0));
  CHECK(knowledge::cosineSimilarity({1, 0}, {0, 1}) == doctest::Approx(0.0));
  CHECK(knowledge::cosineSimilarity({1, 0}, {1, 0, 0}) == 0.0);
  CHECK(knowledge::cosineSimilarity({0, 0}, {1, 0}) == 0.0);
  std::vector<store::KnowledgeVectorRow> rows;
  auto row = [&](const std::string& id, int seq, std::vector<float> v) {
    store::KnowledgeVectorRow r;
    r.kind = "runbook";
    r.id = id;
    r.seq = seq;
    r.text = id + " passage";
    r.embedding = std::move(v);
    rows.push_back(r);
  };
  row("far", 0, {0, 1});
  row("near", 0, {1, 0.1f});
  row("near", 1, {1, 0});
  row("mid", 0, {1, 1});
  row("self", 0, {1, 0});
  store::KnowledgeQuery query;
  query.exclude_kind = "runbook";
  query.exclude_id = "self";
  auto hits = knowledge::embeddingHits(rows, {1, 0}, query, 0.3);
  REQUIRE(hits.size() == 2);
  CHECK(hits[0].id == "near");
  CHECK(hits[0].score == doctest::Approx(1.0));
  REQUIRE(hits[0].passages.size() == 2);
  CHECK(hits[0].passages[0].seq == 1);  // best first
  CHECK(hits[0].passages[0].retriever == "embedding");
  CHECK(hits[0].retrievers == std::vector<std::string>{"embedding"});
  CHECK(hits[1].id == "mid");
  query.limit = 1;
  CHECK(knowledge::embeddingHits(rows, {1, 0}, query, 0.3).size() == 1);
}

TEST_CASE("fusion: reciprocal rank fusion, k 60, retrievers and passages kept") {
  std::vector<store::KnowledgeHit> bm25 = {hit("a", 9.0, 0), hit("b", 5.0, 0)};
  std::vector<store::KnowledgeHit> by_embedding = {hit("c", 0.9, 2), hit("b", 0.8, 3)};
  auto fused = knowledge::fuseHits(bm25, by_embedding, 10);
  REQUIRE(fused.size() == 3);
  // b: 1/62 + 1/62 beats a: 1/61 and c: 1/61; a before c (BM25's order breaks the tie).
  CHECK(fused[0].id == "b");
  CHECK(fused[0].score == doctest::Approx(2.0 / 62.0));
  CHECK(fused[0].retrievers == std::vector<std::string>{"bm25", "embedding"});
  CHECK(fused[0].bm25_score == doctest::Approx(5.0));
  CHECK(fused[0].embedding_score == doctest::Approx(0.8));
  REQUIRE(fused[0].passages.size() == 2);
  CHECK(fused[0].passages[0].retriever == "bm25");
  CHECK(fused[0].passages[1].retriever == "embedding");
  CHECK(fused[0].passages[1].seq == 3);
  CHECK(fused[1].id == "a");
  CHECK(fused[1].score == doctest::Approx(1.0 / 61.0));
  CHECK(fused[1].retrievers == std::vector<std::string>{"bm25"});
  CHECK(fused[2].id == "c");
  CHECK(fused[2].retrievers == std::vector<std::string>{"embedding"});
  CHECK(fused[2].bm25_score == 0.0);
  CHECK(knowledge::fuseHits(bm25, by_embedding, 2).size() == 2);
  // Nothing from embeddings: BM25's order, each named.
  fused = knowledge::fuseHits(bm25, {}, 10);
  REQUIRE(fused.size() == 2);
  CHECK(fused[0].id == "a");
  CHECK(fused[0].retrievers == std::vector<std::string>{"bm25"});
}
