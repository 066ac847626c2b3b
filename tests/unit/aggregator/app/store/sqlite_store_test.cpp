#include "aggregator/store/sqlite/sqlite_store.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "aggregator/store/sqlite/group_commit_writer.h"
#include "aggregator/store/sqlite/migrations.h"
#include "tests/unit/aggregator/app/test_support.h"

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

store::NewBatch newBatch(const std::string& tenant_id, const std::string& agent_id,
                         std::uint64_t seq, const std::string& payload) {
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
}  // namespace

TEST_CASE("migrations: a fresh database gets every migration once, and re-opening adds none") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  {
    auto store = openStore(path);
    CHECK(store->ping().isOk());
  }
  auto expected = static_cast<std::int64_t>(store::sqlite::migrations().size());
  CHECK(queryInt(path, "SELECT COUNT(*) FROM schema_migrations") == expected);
  CHECK(queryInt(path, "SELECT MAX(version) FROM schema_migrations") ==
        store::sqlite::latestSchemaVersion());
  CHECK(queryInt(path,
                 "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('tenancy_tenants',"
                 "'agents_enrollment_tokens','agents_agents','logs_batches',"
                 "'logs_batch_sources')") == 5);
  {
    auto store = openStore(path);
    CHECK(store->createTenant("acme", nowUnixNanos()).isOk());
  }
  CHECK(queryInt(path, "SELECT COUNT(*) FROM schema_migrations") == expected);
  CHECK(queryInt(path, "SELECT COUNT(*) FROM tenancy_tenants") == 1);
}

TEST_CASE("migrations: the database runs in WAL mode") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  auto store = openStore(path);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_CASE("migrations: a database with a newer schema is refused, not written") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  { auto store = openStore(path); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string sql = "INSERT INTO schema_migrations VALUES (" +
                    std::to_string(store::sqlite::latestSchemaVersion() + 1) + ", 'future', 0)";
  REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto reopened = store::sqlite::SqliteStore::open({path});
  REQUIRE_FALSE(reopened.isOk());
  CHECK(reopened.code() == Errc::FailedPrecondition);
  CHECK(reopened.status().message().find("newer") != std::string::npos);
}

TEST_CASE("migrations: a file that is not a database is a clear error") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    REQUIRE(file != nullptr);
    std::string junk(8192, 'x');
    std::fwrite(junk.data(), 1, junk.size(), file);
    std::fclose(file);
  }
  auto opened = store::sqlite::SqliteStore::open({path});
  REQUIRE_FALSE(opened.isOk());
  CHECK(opened.status().message().find(path) != std::string::npos);
}

TEST_CASE("tenants: create, find, duplicate and bad names refused") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
  auto acme = store->createTenant("acme-1", 5);
  REQUIRE(acme.isOk());
  CHECK(acme->id.rfind("tnt_", 0) == 0);
  auto found = store->findTenantByName("acme-1");
  REQUIRE(found.isOk());
  CHECK(found->id == acme->id);
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
}

TEST_CASE("enrollment tokens: one use, expiry, unknown token, unknown tenant") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
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

TEST_CASE("enrollment tokens: two threads racing for one token create exactly one agent") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  auto store = openStore(path);
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
  CHECK(queryInt(path, "SELECT COUNT(*) FROM agents_agents") == kRounds);
}

TEST_CASE("batches: stored once per (agent, epoch, seq) and only for the agent's own tenant") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  auto store = openStore(path);
  auto a = store->createTenant("tenant-a", nowUnixNanos());
  auto b = store->createTenant("tenant-b", nowUnixNanos());
  REQUIRE((a.isOk() && b.isOk()));
  auto agent_a = store->enrollAgent(newAgent(tokenFor(*store, a->id, kHourNs)));
  auto agent_b = store->enrollAgent(newAgent(tokenFor(*store, b->id, kHourNs)));
  REQUIRE((agent_a.isOk() && agent_b.isOk()));

  auto first = store->storeBatch(newBatch(a->id, agent_a->agent_id, 1, "payload-a"));
  REQUIRE(first.isOk());
  CHECK_FALSE(first->duplicate);
  auto again = store->storeBatch(newBatch(a->id, agent_a->agent_id, 1, "payload-a"));
  REQUIRE(again.isOk());
  CHECK(again->duplicate);
  CHECK(again->record_count == 1);

  // B's agent cannot write into A, nor A's agent into B.
  auto crossed = store->storeBatch(newBatch(a->id, agent_b->agent_id, 1, "payload-b"));
  CHECK(crossed.code() == Errc::PermissionDenied);
  CHECK(store->storeBatch(newBatch(b->id, agent_a->agent_id, 2, "x")).code() ==
        Errc::PermissionDenied);
  CHECK(queryInt(path, "SELECT COUNT(*) FROM logs_batches") == 1);
  CHECK(queryInt(path, "SELECT COUNT(*) FROM logs_batch_sources") == 1);

  std::vector<std::string> seen;
  auto collect = [&](std::string_view payload) {
    seen.emplace_back(payload);
    return Status::ok();
  };
  REQUIRE(store->forEachBatch(b->id, {}, collect).isOk());
  CHECK(seen.empty());
  REQUIRE(store->forEachBatch(a->id, {}, collect).isOk());
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "payload-a");

  auto listed = store->listAgents(a->id);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].agent_id == agent_a->agent_id);
  CHECK((*listed)[0].batches == 1);
  CHECK((*listed)[0].records == 1);
  CHECK((*listed)[0].last_seen_ns > 0);
}

TEST_CASE("group commit: many concurrent writers share transactions and all commit") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  auto store = openStore(path);
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  auto agent = store->enrollAgent(newAgent(tokenFor(*store, tenant->id, kHourNs)));
  REQUIRE(agent.isOk());
  auto before = store->writerStats();

  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string payload = "p" + std::to_string(t) + "-" + std::to_string(i);
        auto seq = static_cast<std::uint64_t>(t * kPerThread + i);
        if (!store->storeBatch(newBatch(tenant->id, agent->agent_id, seq, payload)).isOk()) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(failures.load() == 0);
  CHECK(queryInt(path, "SELECT COUNT(*) FROM logs_batches") == kThreads * kPerThread);
  CHECK(queryInt(path, "SELECT batches FROM agents_agents") == kThreads * kPerThread);
  auto after = store->writerStats();
  std::uint64_t jobs = after.jobs - before.jobs;
  std::uint64_t groups = after.groups - before.groups;
  CHECK(jobs == kThreads * kPerThread);
  MESSAGE("group commit: " << jobs << " jobs in " << groups << " transactions");
  CHECK(groups < jobs);
  CHECK(store->pendingWrites() == 0);
}

TEST_CASE("group commit: a failing job rolls back alone and does not poison its group") {
  TempDir dir;
  auto db = store::sqlite::openDatabase(dir.file("w.sqlite"), 5000);
  REQUIRE(db.isOk());
  REQUIRE(store::sqlite::exec(db->get(), "CREATE TABLE t (x INTEGER UNIQUE)").isOk());
  auto writer = store::sqlite::GroupCommitWriter::start(db->get(), {});
  REQUIRE(writer.isOk());
  auto insert = [&](int x) {
    return store::sqlite::exec(db->get(), "INSERT INTO t VALUES (" + std::to_string(x) + ")");
  };

  // Hold the writer inside a first job until every other job is queued, so that they all
  // land in the second group.
  std::atomic<bool> release{false};
  std::thread blocker([&] {
    CHECK((*writer)
              ->run([&] {
                while (!release.load()) {
                  std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                return insert(0);
              })
              .isOk());
  });
  while ((*writer)->pending() < 1) {
    std::this_thread::yield();
  }
  std::vector<std::function<Status()>> jobs = {
      [&] { return insert(1); },
      [&] { return insert(1); },  // unique violation
      [&] { return insert(2); },
      [&]() -> Status {
        FL_RETURN_IF_ERROR(insert(3));
        return invalidArgument("changed my mind");  // its insert must vanish
      },
      [&] { return insert(4); },
  };
  std::vector<Status> results(jobs.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    threads.emplace_back([&, i] {
      // Queue in order so that the duplicate insert is the second one.
      while ((*writer)->pending() < i + 1) {
        std::this_thread::yield();
      }
      results[i] = (*writer)->run(jobs[i]);
    });
  }
  while ((*writer)->pending() < jobs.size() + 1) {
    std::this_thread::yield();
  }
  auto before = (*writer)->stats();
  release.store(true);
  blocker.join();
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(results[0].isOk());
  CHECK(results[1].code() == Errc::AlreadyExists);
  CHECK(results[2].isOk());
  CHECK(results[3].code() == Errc::InvalidArgument);
  CHECK(results[4].isOk());
  auto after = (*writer)->stats();
  CHECK(after.groups - before.groups == 2);
  writer->reset();
  std::string path = dir.file("w.sqlite");
  CHECK(queryInt(path, "SELECT COUNT(*) FROM t") == 4);
  CHECK(queryInt(path, "SELECT COUNT(*) FROM t WHERE x = 3") == 0);
  CHECK(queryInt(path, "SELECT SUM(x) FROM t") == 0 + 1 + 2 + 4);
}

TEST_CASE("group commit: a full write queue refuses at once instead of queueing") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  store::sqlite::SqliteStoreOptions options;
  options.max_pending_writes = 1;
  options.busy_timeout_ms = 20'000;
  auto store = openStore(path, options);
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  auto agent = store->enrollAgent(newAgent(tokenFor(*store, tenant->id, kHourNs)));
  REQUIRE(agent.isOk());

  // Another process-like connection holds the write lock, so the writer waits in BEGIN.
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  Status first;
  std::thread writer_thread(
      [&] { first = store->storeBatch(newBatch(tenant->id, agent->agent_id, 1, "x")).status(); });
  while (store->pendingWrites() < 1) {
    std::this_thread::yield();
  }
  auto refused = store->storeBatch(newBatch(tenant->id, agent->agent_id, 2, "y"));
  CHECK(refused.code() == Errc::ResourceExhausted);
  REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);
  writer_thread.join();
  CHECK(first.isOk());
  CHECK(queryInt(path, "SELECT COUNT(*) FROM logs_batches") == 1);
  CHECK(queryInt(path, "SELECT COUNT(*) FROM logs_batches WHERE seq = 2") == 0);
}
