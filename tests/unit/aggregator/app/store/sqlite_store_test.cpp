// SQLite-only store tests; the shared contract is in store_contract_test.cpp.
#include "aggregator/store/sqlite/sqlite_store.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "aggregator/store/sqlite/group_commit_writer.h"
#include "aggregator/store/sqlite/migrations.h"
#include "aggregator/store/sqlite/wal_checkpointer.h"
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

TEST_CASE("sqlite migrations: the database runs in WAL mode") {
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

TEST_CASE("sqlite migrations: a database with a newer schema is refused, not written") {
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

TEST_CASE("sqlite migrations: a file that is not a database is a clear error") {
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

TEST_CASE("sqlite migrations: 20 rekeys incident links by time and keeps every link") {
  TempDir dir;
  std::string path = dir.file("db.sqlite");
  std::string tenant_id;
  {
    auto store = openStore(path);
    auto tenant = store->createTenant("acme", nowUnixNanos());
    REQUIRE(tenant.isOk());
    tenant_id = tenant->id;
    store::IncidentWrite write;
    store::IncidentRow row;
    row.id = "inc_1";
    row.tenant_id = tenant_id;
    row.status = "triggered";
    row.severity = "error";
    row.title = "db down";
    row.doc_json = "{}";
    write.upserts = {row};
    REQUIRE(store->writeIncidents(tenant_id, write).isOk());
  }
  // Put the table back as migration 10 made it, with links, and forget migration 20.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string downgrade = R"sql(
DROP TABLE incidents_events;
CREATE TABLE incidents_events (
  tenant_id TEXT NOT NULL, incident_id TEXT NOT NULL, event_id TEXT NOT NULL,
  occurred_at INTEGER NOT NULL, reason_json TEXT NOT NULL,
  PRIMARY KEY (tenant_id, incident_id, event_id),
  FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents_incidents(tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX incidents_events_by_time ON incidents_events(tenant_id, incident_id, occurred_at);
DELETE FROM schema_migrations WHERE version >= 20;
)sql";
  for (int i = 0; i < 3; ++i) {
    // Event ids out of time order, so the listing's order shows the new key is used.
    downgrade += "INSERT INTO incidents_events VALUES ('" + tenant_id + "', 'inc_1', 'evt_" +
                 std::to_string(9 - i) + "', " + std::to_string(100 + i) +
                 ", '{\"n\":" + std::to_string(i) + "}');\n";
  }
  char* error = nullptr;
  int rc = sqlite3_exec(db, downgrade.c_str(), nullptr, nullptr, &error);
  INFO((error != nullptr ? error : ""));
  sqlite3_free(error);
  REQUIRE(rc == SQLITE_OK);
  sqlite3_close(db);

  auto store = openStore(path);
  auto links = store->listIncidentEvents(tenant_id, "inc_1", 10);
  REQUIRE(links.isOk());
  REQUIRE(links->size() == 3);
  for (std::size_t i = 0; i < links->size(); ++i) {
    const store::IncidentEventRow& link = (*links)[i];
    CHECK(link.event_id == "evt_" + std::to_string(9 - i));
    CHECK(link.occurred_at_ns == static_cast<std::int64_t>(100 + i));
    CHECK(link.reason_json == "{\"n\":" + std::to_string(i) + "}");
  }
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                             "('incidents_events_by_time', 'incidents_events_v20')",
                             -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(sqlite3_column_int(stmt, 0) == 0);
  sqlite3_finalize(stmt);
  // The rebuilt table keeps its foreign key: a link to no incident is refused by SQLite
  // itself, not only by the store's existence check.
  const std::string dangling_sql =
      "PRAGMA foreign_keys=ON; INSERT INTO incidents_events VALUES ('" + tenant_id +
      "', 'inc_missing', 1, 'evt_1', '{}')";
  CHECK(sqlite3_exec(db, dangling_sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_CONSTRAINT);
  sqlite3_close(db);
  // A link still joins an incident once; one to a missing incident is refused.
  store::IncidentWrite again;
  again.links = {{"inc_1", "evt_9", 100, "{}"}};
  REQUIRE(store->writeIncidents(tenant_id, again).isOk());
  CHECK(store->listIncidentEvents(tenant_id, "inc_1", 10)->size() == 3);
  store::IncidentWrite dangling;
  dangling.links = {{"inc_missing", "evt_1", 1, "{}"}};
  CHECK_FALSE(store->writeIncidents(tenant_id, dangling).isOk());
}

TEST_CASE("sqlite group commit: a failing job rolls back alone and does not poison its group") {
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
  std::atomic<bool> blocking{false};
  std::thread blocker([&] {
    CHECK((*writer)
              ->run([&] {
                blocking = true;
                while (!release.load()) {
                  std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                return insert(0);
              })
              .isOk());
  });
  // Running, not just queued: a job queued before the writer takes the blocker could share its
  // group.
  while (!blocking.load()) {
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

TEST_CASE("sqlite group commit: drain waits for queued completions and releases them") {
  // Shutdown relies on this: after drain() no completion of a queued write still holds what
  // it captured (the incident engine), so nothing is destroyed on the writer's thread.
  TempDir dir;
  auto db = store::sqlite::openDatabase(dir.file("d.sqlite"), 5000);
  REQUIRE(db.isOk());
  REQUIRE(store::sqlite::exec(db->get(), "CREATE TABLE t (x INTEGER)").isOk());
  auto writer = store::sqlite::GroupCommitWriter::start(db->get(), {});
  REQUIRE(writer.isOk());
  auto captured = std::make_shared<int>(0);
  std::atomic<int> completed{0};
  for (int i = 0; i < 200; ++i) {
    REQUIRE((*writer)
                ->submit(
                    [&db, i] {
                      std::this_thread::sleep_for(std::chrono::microseconds(50));
                      return store::sqlite::exec(
                          db->get(), "INSERT INTO t VALUES (" + std::to_string(i) + ")");
                    },
                    [captured, &completed](Status status) {
                      CHECK(status.isOk());
                      completed.fetch_add(1);
                    })
                .isOk());
  }
  (*writer)->drain();
  CHECK(completed.load() == 200);
  CHECK(captured.use_count() == 1);  // every completion was released, not only called
  // After shutdown a late writer gets an error, not a dangling writer.
  (*writer)->shutdown();
  CHECK((*writer)->run([] { return Status::ok(); }).code() == Errc::Unavailable);
  CHECK((*writer)->submit([] { return Status::ok(); }, [](Status) {}).code() == Errc::Unavailable);
  writer->reset();
  CHECK(queryInt(dir.file("d.sqlite"), "SELECT COUNT(*) FROM t") == 200);
}

TEST_CASE("sqlite group commit: a full write queue refuses at once instead of queueing") {
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

namespace {

// Commits `transactions` transactions of 20 rows of 1 KiB each on `db`.
void writeRows(sqlite3* db, int transactions) {
  for (int t = 0; t < transactions; ++t) {
    REQUIRE(store::sqlite::exec(db, "BEGIN").isOk());
    for (int i = 0; i < 20; ++i) {
      REQUIRE(store::sqlite::exec(db, "INSERT INTO t(v) VALUES (randomblob(1024))").isOk());
    }
    REQUIRE(store::sqlite::exec(db, "COMMIT").isOk());
  }
}

// Bytes in the database's WAL file (it grows until a checkpoint lets the log restart).
std::uintmax_t walBytes(const std::string& path) {
  std::error_code error;
  std::uintmax_t size = std::filesystem::file_size(path + "-wal", error);
  return error ? 0 : size;
}

// A database with table t and a checkpointer hooked on its (writer) connection.
struct CheckpointedDb {
  store::sqlite::DbPtr db;
  std::unique_ptr<store::sqlite::WalCheckpointer> checkpointer;
};
CheckpointedDb checkpointedDb(const std::string& path, int background_pages, int fallback_pages) {
  auto db = store::sqlite::openDatabase(path, 5000);
  REQUIRE(db.isOk());
  REQUIRE(store::sqlite::exec(db->get(), "CREATE TABLE t (v BLOB)").isOk());
  store::sqlite::WalCheckpointer::Options options;
  options.background_pages = background_pages;
  options.fallback_pages = fallback_pages;
  auto checkpointer = store::sqlite::WalCheckpointer::start(db->get(), path, options);
  REQUIRE(checkpointer.isOk());
  return {std::move(*db), std::move(*checkpointer)};
}

}  // namespace

TEST_CASE("sqlite checkpoints: a thread of its own copies the WAL back, not the writer") {
  TempDir dir;
  const std::string path = dir.file("c.sqlite");
  CheckpointedDb setup = checkpointedDb(path, 50, 1'000'000);
  store::sqlite::DbPtr& db = setup.db;
  auto& checkpointer = setup.checkpointer;
  // 4 MiB of rows in 200 commits, pausing now and then as real traffic does. Without a
  // checkpoint the WAL would hold all of it (the hook replaced SQLite's autocheckpoint).
  for (int round = 0; round < 10; ++round) {
    writeRows(db.get(), 20);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  CHECK(checkpointer->stats().background >= 1);
  CHECK(checkpointer->stats().inline_ == 0);
  CHECK(walBytes(path) < 2'000'000);
  checkpointer.reset();
  // Every row is there.
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(), "SELECT COUNT(*) FROM t", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(sqlite3_column_int(stmt, 0) == 200 * 20);
  sqlite3_finalize(stmt);
}

TEST_CASE("sqlite checkpoints: when the thread falls behind, the writer bounds the WAL itself") {
  TempDir dir;
  const std::string path = dir.file("f.sqlite");
  CheckpointedDb setup = checkpointedDb(path, 1'000'000, 50);  // the thread is never asked
  store::sqlite::DbPtr& db = setup.db;
  auto& checkpointer = setup.checkpointer;
  writeRows(db.get(), 60);  // ~1.2 MiB of rows
  CHECK(checkpointer->stats().background == 0);
  CHECK(checkpointer->stats().inline_ >= 1);
  // The inline checkpoints let the WAL restart: it holds about 50 pages, never all the rows.
  CHECK(walBytes(path) < 400'000);
}
