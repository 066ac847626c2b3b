// The Store contract, one set of test bodies run against every engine (store_engines.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {
constexpr std::int64_t kHourNs = 3'600'000'000'000;

std::string tokenFor(store::Store& store, const std::string& tenant_id, std::int64_t ttl_ns) {
  std::string token = crypto::randomToken("fet_");
  std::int64_t now = nowUnixNanos();
  REQUIRE(
      store.createEnrollmentToken(tenant_id, crypto::hashSecret(token), now, now + ttl_ns).isOk());
  return token;
}

store::NewAgent newAgent(const std::string& token) {
  return {crypto::hashSecret(token),
          "agt_" + crypto::randomHex(16),
          crypto::hashSecret(crypto::randomToken("fas_")),
          "host",
          "0.1",
          nowUnixNanos()};
}

store::AgentIdentity enrolled(store::Store& store, const std::string& tenant_id) {
  auto agent = store.enrollAgent(newAgent(tokenFor(store, tenant_id, kHourNs)));
  REQUIRE_MESSAGE(agent.isOk(), agent.status().toString());
  return *agent;
}

store::NewBatch newBatch(const std::string& tenant_id, const std::string& agent_id,
                         std::uint64_t seq, std::string_view payload) {
  store::NewBatch batch;
  batch.tenant_id = tenant_id;
  batch.agent_id = agent_id;
  batch.epoch = 1;
  batch.seq = seq;
  batch.record_count = 1;
  batch.line_bytes = 5;
  batch.min_ts_ns = 10;
  batch.max_ts_ns = 10;
  batch.received_at_ns = nowUnixNanos();
  batch.sources = {"/var/log/app.log"};
  batch.payload = payload;
  return batch;
}

std::vector<std::string> payloads(store::Store& store, const std::string& tenant_id,
                                  const store::BatchQuery& query = {}) {
  std::vector<std::string> seen;
  Status status = store.forEachBatch(tenant_id, query, [&](std::string_view payload) {
    seen.emplace_back(payload);
    return Status::ok();
  });
  REQUIRE_MESSAGE(status.isOk(), status.toString());
  return seen;
}
}  // namespace

TEST_CASE_TEMPLATE(
    "store migrations: a fresh database gets every migration once, and re-opening "
    "adds none",
    TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  {
    auto store = engine.open();
    CHECK(store->ping().isOk());
  }
  CHECK(engine.queryInt("SELECT COUNT(*) FROM schema_migrations") == TestType::migrationCount());
  CHECK(engine.queryInt("SELECT MAX(version) FROM schema_migrations") == TestType::latestVersion());
  std::string tenant_id;
  {
    auto store = engine.open();
    auto tenant = store->createTenant("acme", nowUnixNanos());
    REQUIRE(tenant.isOk());
    tenant_id = tenant->id;
  }
  CHECK(engine.queryInt("SELECT COUNT(*) FROM schema_migrations") == TestType::migrationCount());
  CHECK(engine.queryInt("SELECT COUNT(*) FROM tenancy_tenants WHERE id = $1", tenant_id) == 1);
}

TEST_CASE_TEMPLATE("store tenants: create, find, duplicate and bad names refused", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto acme = store->createTenant("acme-1", 5);
  REQUIRE(acme.isOk());
  CHECK(acme->id.rfind("tnt_", 0) == 0);
  auto found = store->findTenantByName("acme-1");
  REQUIRE(found.isOk());
  CHECK(found->id == acme->id);
  CHECK(found->name == "acme-1");
  CHECK(found->created_at_ns == 5);
  auto duplicate = store->createTenant("acme-1", 6);
  CHECK(duplicate.code() == Errc::AlreadyExists);
  CHECK(duplicate.status().message().find("already exists") != std::string::npos);
  for (const char* bad : {"", "-acme", "Acme", "acme_1", "a b", "acme/..",
                          "a123456789012345678901234567890123456789012345678901234567890123"}) {
    INFO(bad);
    CHECK(store->createTenant(bad, 1).code() == Errc::InvalidArgument);
  }
  CHECK(store->createTenant(std::string(63, 'a'), 1).isOk());
  CHECK(store->findTenantByName("nope").code() == Errc::NotFound);
  CHECK(store->findTenantByName(std::string("ac\0me", 5)).code() == Errc::NotFound);
  CHECK(store->findTenantByName("\xff\xfe").code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("store enrollment tokens: one use, expiry, unknown token, unknown tenant",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  std::string token = tokenFor(*store, tenant->id, kHourNs);

  auto first = store->enrollAgent(newAgent(token));
  REQUIRE_MESSAGE(first.isOk(), first.status().toString());
  CHECK(first->tenant_id == tenant->id);
  CHECK(first->tenant_name == "acme");
  CHECK(store->enrollAgent(newAgent(token)).code() == Errc::AlreadyExists);
  CHECK(store->enrollAgent(newAgent("fet_unknown")).code() == Errc::NotFound);

  std::string short_lived = tokenFor(*store, tenant->id, 1'000'000);  // 1 ms
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(store->enrollAgent(newAgent(short_lived)).code() == Errc::FailedPrecondition);

  CHECK(store->createEnrollmentToken("tnt_missing", "hash", 1, 2).code() == Errc::NotFound);
  auto agents = store->listAgents(tenant->id);
  REQUIRE(agents.isOk());
  CHECK(agents->size() == 1);
}

TEST_CASE_TEMPLATE("store enrollment tokens: revoked ones stay listed and cannot enroll; pages",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", nowUnixNanos());
  auto other = store->createTenant("other", nowUnixNanos());
  REQUIRE(tenant.isOk());
  REQUIRE(other.isOk());
  const std::int64_t now = nowUnixNanos();
  const std::string token = crypto::randomToken("fet_");
  auto id = store->createEnrollmentToken(tenant->id, crypto::hashSecret(token), now, now + kHourNs);
  REQUIRE(id.isOk());
  CHECK(*id > 0);

  // Another tenant cannot revoke it; its own tenant can, once.
  CHECK(store->revokeEnrollmentToken(other->id, *id, now).code() == Errc::NotFound);
  auto revoked = store->revokeEnrollmentToken(tenant->id, *id, now + 5);
  REQUIRE_MESSAGE(revoked.isOk(), revoked.status().toString());
  CHECK(revoked->id == *id);
  CHECK(revoked->revoked_at_ns == now + 5);
  CHECK(store->revokeEnrollmentToken(tenant->id, *id, now + 6).code() == Errc::NotFound);
  CHECK(store->enrollAgent(newAgent(token)).code() == Errc::PermissionDenied);

  // A used token cannot be revoked.
  const std::string used = tokenFor(*store, tenant->id, kHourNs);
  REQUIRE(store->enrollAgent(newAgent(used)).isOk());
  auto listed = store->listEnrollmentTokens(tenant->id, 10, 0);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 2);
  CHECK(store->revokeEnrollmentToken(tenant->id, listed->front().id, now).code() == Errc::NotFound);
  CHECK(listed->back().id == *id);
  CHECK(listed->back().revoked_at_ns == now + 5);
  CHECK(listed->front().revoked_at_ns == 0);

  // Keyset pages: below an id, newest first; never the other tenant's.
  (void)tokenFor(*store, other->id, kHourNs);
  auto page = store->listEnrollmentTokens(tenant->id, 10, listed->front().id);
  REQUIRE(page.isOk());
  REQUIRE(page->size() == 1);
  CHECK(page->front().id == *id);
  auto none = store->listEnrollmentTokens(tenant->id, 10, *id);
  REQUIRE(none.isOk());
  CHECK(none->empty());
}

TEST_CASE_TEMPLATE(
    "store enrollment tokens: two threads racing for one token create exactly one "
    "agent",
    TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  constexpr int kRounds = 20;
  int wins = 0;
  int used = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::string token = tokenFor(*store, tenant->id, kHourNs);
    std::atomic<bool> go{false};
    Errc results[2] = {Errc::Internal, Errc::Internal};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) {
        }
        results[i] = store->enrollAgent(newAgent(token)).code();
      });
    }
    go.store(true);
    for (auto& thread : threads) {
      thread.join();
    }
    for (Errc result : results) {
      wins += result == Errc::Ok ? 1 : 0;
      used += result == Errc::AlreadyExists ? 1 : 0;
    }
  }
  CHECK(wins == kRounds);
  CHECK(used == kRounds);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM agents_agents WHERE tenant_id = $1", tenant->id) ==
        kRounds);
}

TEST_CASE_TEMPLATE(
    "store batches: stored once per (agent, epoch, seq) and only for the agent's "
    "own tenant",
    TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto a = store->createTenant("tenant-a", nowUnixNanos());
  auto b = store->createTenant("tenant-b", nowUnixNanos());
  REQUIRE((a.isOk() && b.isOk()));
  auto agent_a = enrolled(*store, a->id);
  auto agent_b = enrolled(*store, b->id);

  auto first = store->storeBatch(newBatch(a->id, agent_a.agent_id, 1, "payload-a"));
  REQUIRE(first.isOk());
  CHECK_FALSE(first->duplicate);
  CHECK(first->record_count == 1);
  // A resend reports the record count of the batch stored first, not of the resend.
  auto resend = newBatch(a->id, agent_a.agent_id, 1, "payload-a");
  resend.record_count = 99;
  auto again = store->storeBatch(resend);
  REQUIRE(again.isOk());
  CHECK(again->duplicate);
  CHECK(again->record_count == 1);

  // B's agent cannot write into A, nor A's agent into B.
  auto crossed = store->storeBatch(newBatch(a->id, agent_b.agent_id, 1, "payload-b"));
  CHECK(crossed.code() == Errc::PermissionDenied);
  CHECK(store->storeBatch(newBatch(b->id, agent_a.agent_id, 2, "x")).code() ==
        Errc::PermissionDenied);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM logs_batches WHERE tenant_id = $1", a->id) == 1);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM logs_batches WHERE tenant_id = $1", b->id) == 0);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM logs_batch_sources WHERE tenant_id = $1", a->id) ==
        1);

  CHECK(payloads(*store, b->id).empty());
  auto seen = payloads(*store, a->id);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "payload-a");

  auto listed = store->listAgents(a->id);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].agent_id == agent_a.agent_id);
  CHECK((*listed)[0].batches == 1);
  CHECK((*listed)[0].records == 1);
  CHECK((*listed)[0].last_seen_ns > 0);
  auto listed_b = store->listAgents(b->id);
  REQUIRE(listed_b.isOk());
  REQUIRE(listed_b->size() == 1);
  CHECK((*listed_b)[0].batches == 0);
  CHECK((*listed_b)[0].last_seen_ns == 0);
}

TEST_CASE_TEMPLATE(
    "store batches: export order is each stream by seq, streams by first arrival, "
    "with source and time filters",
    TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  auto first = enrolled(*store, tenant->id);
  auto second = enrolled(*store, tenant->id);
  auto put = [&](const store::AgentIdentity& agent, std::uint64_t seq, const std::string& payload,
                 std::int64_t ts, std::vector<std::string> sources) {
    auto batch = newBatch(tenant->id, agent.agent_id, seq, payload);
    batch.min_ts_ns = ts;
    batch.max_ts_ns = ts + 5;
    batch.sources = std::move(sources);
    REQUIRE(store->storeBatch(batch).isOk());
  };
  // The first agent's seq 2 arrives before its seq 1; the second agent starts in between.
  put(first, 2, "first-2", 200, {"/var/log/app.log"});
  put(second, 1, "second-1", 150, {"/srv/db.log", "/var/log/app.log"});
  put(first, 1, "first-1", 100, {"/var/log/app.log"});
  put(second, 2, "second-2", 300, {"/srv/db.log"});

  CHECK(payloads(*store, tenant->id) ==
        std::vector<std::string>{"first-1", "first-2", "second-1", "second-2"});
  store::BatchQuery by_source;
  by_source.source_glob = "/srv/*";
  CHECK(payloads(*store, tenant->id, by_source) ==
        std::vector<std::string>{"second-1", "second-2"});
  by_source.source_glob = "*app.log";
  CHECK(payloads(*store, tenant->id, by_source) ==
        std::vector<std::string>{"first-1", "first-2", "second-1"});
  by_source.source_glob = "/nothing/*";
  CHECK(payloads(*store, tenant->id, by_source).empty());
  store::BatchQuery by_time;
  by_time.since_ns = 155;  // keeps batches whose max_ts >= 155
  by_time.until_ns = 300;  // keeps batches whose min_ts < 300
  CHECK(payloads(*store, tenant->id, by_time) == std::vector<std::string>{"first-2", "second-1"});

  // The walk stops at the first error from the visitor and returns it.
  int visits = 0;
  Status stopped = store->forEachBatch(tenant->id, {}, [&](std::string_view) {
    ++visits;
    return Status(Errc::Unavailable, "reader went away");
  });
  CHECK(stopped.code() == Errc::Unavailable);
  CHECK(visits == 1);
}

TEST_CASE_TEMPLATE(
    "store batches: client bytes (hostnames, sources, payloads) come back as they "
    "went in",
    TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  auto agent = newAgent(tokenFor(*store, tenant->id, kHourNs));
  agent.hostname = std::string("h\xff\xfeost\x01", 7);
  agent.version = std::string("1.0\0beta", 8);
  auto identity = store->enrollAgent(agent);
  REQUIRE_MESSAGE(identity.isOk(), identity.status().toString());
  auto listed = store->listAgents(tenant->id);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].hostname == agent.hostname);
  CHECK((*listed)[0].version == agent.version);

  std::string payload;
  for (int i = 0; i < 256 * 64; ++i) {
    payload.push_back(static_cast<char>(i % 256));
  }
  auto batch = newBatch(tenant->id, identity->agent_id, 1, payload);
  batch.sources = {"/var/log/caf\xe9.log", std::string("/tmp/\xff\x80", 7)};
  REQUIRE(store->storeBatch(batch).isOk());
  auto empty = newBatch(tenant->id, identity->agent_id, 2, "");
  empty.sources.clear();
  REQUIRE(store->storeBatch(empty).isOk());
  CHECK(payloads(*store, tenant->id) == std::vector<std::string>{payload, ""});
  store::BatchQuery query;
  query.source_glob = "/var/log/caf?.log";
  CHECK(payloads(*store, tenant->id, query).size() == 1);
}

TEST_CASE_TEMPLATE("store group commit: many concurrent writers share transactions and all commit",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  auto other = store->createTenant("other", nowUnixNanos());
  REQUIRE(other.isOk());
  auto agent = enrolled(*store, tenant->id);
  auto other_agent = enrolled(*store, other->id);
  auto before = store->writerStats();

  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every other thread writes for the second tenant: groups mix tenants.
      const auto& writer = t % 2 == 0 ? agent : other_agent;
      for (int i = 0; i < kPerThread; ++i) {
        std::string payload = "p" + std::to_string(t) + "-" + std::to_string(i);
        auto seq = static_cast<std::uint64_t>(t * kPerThread + i);
        if (!store->storeBatch(newBatch(writer.tenant_id, writer.agent_id, seq, payload)).isOk()) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(failures.load() == 0);
  constexpr int kEach = kThreads / 2 * kPerThread;
  CHECK(engine.queryInt("SELECT COUNT(*) FROM logs_batches WHERE tenant_id = $1", tenant->id) ==
        kEach);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM logs_batches WHERE tenant_id = $1", other->id) ==
        kEach);
  CHECK(engine.queryInt("SELECT batches FROM agents_agents WHERE tenant_id = $1", tenant->id) ==
        kEach);
  auto after = store->writerStats();
  std::uint64_t jobs = after.jobs - before.jobs;
  std::uint64_t groups = after.groups - before.groups;
  CHECK(jobs == kThreads * kPerThread);
  MESSAGE("group commit (" << std::string(TestType::kName) << "): " << jobs << " jobs in " << groups
                           << " transactions");
  CHECK(groups < jobs);
  CHECK(store->pendingWrites() == 0);
}

TEST_CASE_TEMPLATE("store agents: keyset pages, ties on enrolled_at included, never another tenant",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto a = store->createTenant("acme", nowUnixNanos());
  auto b = store->createTenant("beta", nowUnixNanos());
  REQUIRE(a.isOk());
  REQUIRE(b.isOk());
  // Three agents share one enrollment time: the page boundary must fall between them cleanly.
  for (int i = 0; i < 7; ++i) {
    store::NewAgent agent = newAgent(tokenFor(*store, a->id, kHourNs));
    agent.now_ns = 1'000 + (i < 3 ? 0 : i);
    REQUIRE(store->enrollAgent(agent).isOk());
  }
  enrolled(*store, b->id);
  enrolled(*store, b->id);

  auto all = store->listAgents(a->id);
  REQUIRE(all.isOk());
  REQUIRE(all->size() == 7);
  std::vector<std::string> paged;
  store::AgentPage page;
  page.limit = 3;
  int pages = 0;
  for (;;) {
    auto got = store->listAgents(a->id, page);
    REQUIRE(got.isOk());
    ++pages;
    for (const auto& agent : *got) {
      paged.push_back(agent.agent_id);
    }
    if (got->size() < page.limit) {
      break;
    }
    page.after_enrolled_at_ns = got->back().enrolled_at_ns;
    page.after_id = got->back().agent_id;
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  REQUIRE(paged.size() == 7);
  for (std::size_t i = 0; i < paged.size(); ++i) {
    CHECK(paged[i] == (*all)[i].agent_id);
  }
  // Tenant B's agents never show, whatever the cursor says.
  auto b_agents = store->listAgents(b->id);
  REQUIRE(b_agents.isOk());
  store::AgentPage into_b;
  into_b.after_enrolled_at_ns = INT64_MIN;
  into_b.limit = 100;
  auto from_a = store->listAgents(a->id, into_b);
  REQUIRE(from_a.isOk());
  for (const auto& agent : *from_a) {
    for (const auto& other : *b_agents) {
      CHECK(agent.agent_id != other.agent_id);
    }
  }
}
