// PostgreSQL-only store tests: row-level security, migrations under concurrency, the connection
// pool, connection loss, group commit internals. The shared contract is in
// store_contract_test.cpp. Each test works in a schema of its own (store_engines.h).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "aggregator/store/postgres/connection_pool.h"
#include "aggregator/store/postgres/group_commit_writer.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using store::postgres::ConnectionPool;
using store::postgres::GroupCommitWriter;
using store::postgres::Params;
using store::postgres::PgResult;
using store::postgres::Statement;

namespace {
constexpr std::int64_t kHourNs = 3'600'000'000'000;
using Clock = std::chrono::steady_clock;

#define PG_ENGINE_OR_SKIP(engine) \
  PostgresEngine engine;          \
  if (!engine.ready()) {          \
    return;                       \
  }

struct Tenancy {
  store::Tenant tenant;
  store::NewAgent agent;  // as enrolled (holds the secret hash)
  std::string unused_token_hash;
};

/// A tenant with one enrolled agent, one unused token and `batches` stored batches.
Tenancy populate(store::Store& store, const std::string& name, int batches) {
  auto tenant = store.createTenant(name, nowUnixNanos());
  REQUIRE(tenant.isOk());
  Tenancy out{*tenant, {}, crypto::hashSecret(crypto::randomToken("fet_"))};
  std::int64_t now = nowUnixNanos();
  std::string token = crypto::randomToken("fet_");
  REQUIRE(store.createEnrollmentToken(tenant->id, crypto::hashSecret(token), now, now + kHourNs)
              .isOk());
  REQUIRE(
      store.createEnrollmentToken(tenant->id, out.unused_token_hash, now, now + kHourNs).isOk());
  out.agent = {crypto::hashSecret(token),
               "agt_" + crypto::randomHex(16),
               crypto::hashSecret(crypto::randomToken("fas_")),
               "host-" + name,
               "0.1",
               now};
  REQUIRE(store.enrollAgent(out.agent).isOk());
  for (int i = 0; i < batches; ++i) {
    store::NewBatch batch;
    batch.tenant_id = tenant->id;
    batch.agent_id = out.agent.agent_id;
    batch.epoch = 1;
    batch.seq = static_cast<std::uint64_t>(i);
    batch.record_count = 3;
    batch.min_ts_ns = batch.max_ts_ns = 10;
    batch.received_at_ns = now;
    batch.sources = {"/var/log/" + name + ".log"};
    std::string payload = name + "-" + std::to_string(i);
    batch.payload = payload;
    REQUIRE(store.storeBatch(batch).isOk());
  }
  return out;
}

store::NewBatch batchFor(const Tenancy& owner, std::uint64_t seq, std::string_view payload) {
  store::NewBatch batch;
  batch.tenant_id = owner.tenant.id;
  batch.agent_id = owner.agent.agent_id;
  batch.epoch = 1;
  batch.seq = seq;
  batch.record_count = 1;
  batch.received_at_ns = nowUnixNanos();
  batch.payload = payload;
  return batch;
}

const char* const kTenantTables[] = {
    "tenancy_tenants",    "agents_enrollment_tokens", "agents_agents", "logs_batches",
    "logs_batch_sources", "logs_templates",           "audit_log",     "audit_chain_heads"};

// Identity tables (migration 4) that are tenant data, and the two that are not: auth_users
// (RLS keyed by the user's own id or e-mail, or membership of the current tenant) and
// auth_signing_keys (key material shared by all tenants, no tenant rows: no RLS).
const char* const kIdentityTenantTables[] = {"auth_memberships", "auth_sessions", "auth_api_keys",
                                             "auth_invitations"};

// Event tables (migration 6), all tenant data.
const char* const kEventTenantTables[] = {
    "events_integrations",  "events_events",       "events_alerts",     "events_noise_rules",
    "log_events_templates", "incidents_incidents", "incidents_events",  "incidents_timeline",
    "incidents_rules",      "notify_channels",     "notify_deliveries", "knowledge_documents",
    "knowledge_passages",   "ai_runbooks",         "ai_token_counters", "ai_response_cache",
    "ai_usage_ledger",      "ai_answers"};

// Service graph tables (migration 9), all tenant data.
const char* const kGraphTenantTables[] = {"graph_versions", "graph_services", "graph_edges"};

std::string tenantColumn(const std::string& table) {
  return table == "tenancy_tenants" ? "id" : "tenant_id";
}

void waitUntil(const std::function<bool()>& done, const char* what) {
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!done()) {
    REQUIRE_MESSAGE(Clock::now() < deadline, "timed out waiting for " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// Backends of this schema's store (tests connect with application_name = schema name).
std::int64_t storeBackends(PgRaw& admin, const PostgresEngine& engine) {
  return admin.queryInt(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> "
      "pg_backend_pid()",
      {engine.schema->name()});
}
}  // namespace

TEST_CASE(
    "postgres rls: with the session set to tenant A, tenant B's rows are invisible even "
    "without a WHERE clause") {
  PG_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  Tenancy a = populate(*store, "tenant-a", 2);
  Tenancy b = populate(*store, "tenant-b", 3);
  for (const auto& [tenant_id, entries] :
       {std::pair<std::string, int>{a.tenant.id, 2}, {b.tenant.id, 3}, {"", 1}}) {
    for (int i = 0; i < entries; ++i) {
      audit::AuditEvent event;
      event.tenant_id = tenant_id;
      event.actor = "admin-cli";
      event.action = "test.rls";
      event.at_ns = 1;
      REQUIRE(store->appendAudit(event).isOk());
    }
  }

  PgRaw raw(engine.url());
  REQUIRE_MESSAGE(raw.exec("SELECT rolsuper OR rolbypassrls FROM pg_roles "
                           "WHERE rolname = current_user") == "f",
                  "FAULTLINE_TEST_PG_URL logs in as a superuser or BYPASSRLS role, which row-level "
                  "security never binds: use an ordinary role (installers/pg_cluster.sh does)");

  // With no tenant set, nothing at all is visible, even to the tables' owner.
  for (const char* table : kTenantTables) {
    INFO(table);
    CHECK(raw.queryInt(std::string("SELECT count(*) FROM ") + table) == 0);
  }

  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {a.tenant.id});
  const std::int64_t expected_a[] = {1, 2, 1, 2, 2, 0, 2, 1};  // in kTenantTables order
  for (std::size_t i = 0; i < std::size(kTenantTables); ++i) {
    std::string table = kTenantTables[i];
    INFO(table);
    CHECK(raw.queryInt("SELECT count(*) FROM " + table) == expected_a[i]);
    CHECK(raw.queryInt("SELECT count(*) FROM " + table + " WHERE " + tenantColumn(table) + " = $1",
                       {b.tenant.id}) == 0);
    CHECK(raw.queryInt("SELECT count(*) FROM " + table + " WHERE " + tenantColumn(table) + " <> $1",
                       {a.tenant.id}) == 0);
  }
  // B's rows can neither be changed nor deleted from A's session...
  CHECK(raw.queryInt("WITH u AS (UPDATE agents_agents SET hostname = 'x' WHERE tenant_id = $1 "
                     "RETURNING 1) SELECT count(*) FROM u",
                     {b.tenant.id}) == 0);
  CHECK(raw.queryInt("WITH d AS (DELETE FROM logs_batch_sources RETURNING tenant_id) "
                     "SELECT count(*) FROM d WHERE tenant_id = $1",
                     {b.tenant.id}) == 0);
  raw.exec("ROLLBACK");
  // ...nor written into it, nor an A row moved over to it.
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {a.tenant.id});
  std::string insert = raw.exec(
      "INSERT INTO logs_batches(tenant_id, agent_id, epoch, seq, record_count, line_bytes, "
      "min_ts, max_ts, received_at, payload) VALUES ($1, $2, 9, 9, 1, 1, 1, 1, 1, 'x')",
      {b.tenant.id, b.agent.agent_id}, true);
  CHECK(insert.rfind("ERROR 42501", 0) == 0);
  raw.exec("ROLLBACK");
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {a.tenant.id});
  std::string moved = raw.exec("UPDATE logs_batches SET tenant_id = $1", {b.tenant.id}, true);
  CHECK(moved.rfind("ERROR 42501", 0) == 0);
  raw.exec("ROLLBACK");

  // The cross-tenant lookups reveal exactly the row whose secret or name the caller holds.
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.agent_secret_hash', $1, true)", {b.agent.secret_hash});
  CHECK(raw.queryInt("SELECT count(*) FROM agents_agents") == 1);
  CHECK(raw.exec("SELECT id FROM agents_agents") == b.agent.agent_id);
  CHECK(raw.queryInt("SELECT count(*) FROM logs_batches") == 0);
  CHECK(raw.queryInt("SELECT count(*) FROM agents_enrollment_tokens") == 0);
  raw.exec("ROLLBACK");
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.token_hash', $1, true)", {b.unused_token_hash});
  CHECK(raw.queryInt("SELECT count(*) FROM agents_enrollment_tokens") == 1);
  CHECK(raw.queryInt("SELECT count(*) FROM agents_agents") == 0);
  raw.exec("ROLLBACK");
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_name', 'tenant-b', true)");
  CHECK(raw.queryInt("SELECT count(*) FROM tenancy_tenants") == 1);
  CHECK(raw.queryInt("SELECT count(*) FROM agents_agents") == 0);
  raw.exec("ROLLBACK");

  // The system audit chain needs its own flag: a session whose tenant setting reads '' (as it
  // does after any transaction set it) still sees nothing of it.
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', '', true)");
  CHECK(raw.queryInt("SELECT count(*) FROM audit_log") == 0);
  CHECK(raw.queryInt("SELECT count(*) FROM audit_chain_heads") == 0);
  raw.exec("SELECT set_config('faultline.system_chain', 'on', true)");
  CHECK(raw.queryInt("SELECT count(*) FROM audit_log") == 1);
  CHECK(raw.queryInt("SELECT count(*) FROM audit_log WHERE tenant_id <> ''") == 0);
  raw.exec("ROLLBACK");

  // The setting is transaction-local: it does not outlive the transaction on a pooled session.
  CHECK(raw.queryInt("SELECT count(*) FROM logs_batches") == 0);
}

TEST_CASE("postgres migrations: every tenant table has tenant_id and forced row-level security") {
  PG_ENGINE_OR_SKIP(engine);
  { auto store = engine.open(); }
  PgRaw raw(engine.url());
  std::string schema = engine.schema->name();
  // Tables of this schema other than the migrations ledger and the tenant registry itself must
  // carry tenant_id; a new table without it (or without RLS) fails here.
  CHECK(raw.queryInt("SELECT count(*) FROM pg_tables t WHERE schemaname = $1 AND tablename NOT IN "
                     "('schema_migrations', 'tenancy_tenants', 'auth_users', 'auth_signing_keys') "
                     "AND NOT EXISTS (SELECT 1 FROM "
                     "information_schema.columns c WHERE c.table_schema = t.schemaname AND "
                     "c.table_name = t.tablename AND c.column_name = 'tenant_id')",
                     {schema}) == 0);
  CHECK(raw.queryInt("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                     "c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname NOT IN "
                     "('schema_migrations', 'auth_signing_keys') AND NOT (c.relrowsecurity AND "
                     "c.relforcerowsecurity)",
                     {schema}) == 0);
  CHECK(raw.queryInt("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                     "c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND "
                     "c.relrowsecurity AND c.relforcerowsecurity",
                     {schema}) ==
        static_cast<std::int64_t>(std::size(kTenantTables) + std::size(kIdentityTenantTables) +
                                  std::size(kEventTenantTables) + std::size(kGraphTenantTables) +
                                  1));
  CHECK(raw.queryInt("SELECT count(*) FROM pg_policies WHERE schemaname = $1 AND policyname = "
                     "'tenant_isolation' AND cmd = 'ALL'",
                     {schema}) ==
        static_cast<std::int64_t>(std::size(kTenantTables) + std::size(kIdentityTenantTables) +
                                  std::size(kEventTenantTables) + std::size(kGraphTenantTables)));
}

TEST_CASE("postgres migrations: a database with a newer schema is refused, not written") {
  PG_ENGINE_OR_SKIP(engine);
  { auto store = engine.open(); }
  PgRaw raw(engine.url());
  raw.exec("INSERT INTO schema_migrations VALUES ($1, 'future', 0)",
           {std::to_string(store::postgres::latestSchemaVersion() + 1)});
  auto reopened = store::postgres::PostgresStore::open(engine.options());
  REQUIRE_FALSE(reopened.isOk());
  CHECK(reopened.code() == Errc::FailedPrecondition);
  CHECK(reopened.status().message().find("newer") != std::string::npos);
  CHECK(raw.queryInt("SELECT count(*) FROM schema_migrations") ==
        PostgresEngine::migrationCount() + 1);
}

TEST_CASE(
    "postgres migrations: aggregators starting at once migrate a fresh database once, "
    "serialized by the advisory lock") {
  PG_ENGINE_OR_SKIP(engine);
  PgRaw holder(engine.url());
  holder.exec("SELECT pg_advisory_lock($1)", {std::to_string(store::postgres::kMigrationLockKey)});
  constexpr int kStarters = 4;
  std::vector<Status> results(kStarters, Status(Errc::Internal, "not run"));
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] {
      auto opened = store::postgres::PostgresStore::open(engine.options());
      results[static_cast<std::size_t>(i)] = opened.status();
      ++finished;
    });
  }
  // While another session holds the migration lock, nobody migrates.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(finished.load() == 0);
  CHECK(holder.queryInt("SELECT count(*) FROM pg_tables WHERE schemaname = $1",
                        {engine.schema->name()}) == 0);
  holder.exec("SELECT pg_advisory_unlock($1)",
              {std::to_string(store::postgres::kMigrationLockKey)});
  for (auto& thread : threads) {
    thread.join();
  }
  for (const Status& status : results) {
    CHECK_MESSAGE(status.isOk(), status.toString());
  }
  PgRaw raw(engine.url());
  CHECK(raw.queryInt("SELECT count(*) FROM schema_migrations") == PostgresEngine::migrationCount());
}

TEST_CASE("postgres pool: a checkout waits at most its timeout when every connection is busy") {
  PG_ENGINE_OR_SKIP(engine);
  store::postgres::PoolOptions options;
  options.url = engine.url();
  options.url_for_messages = "test";
  options.size = 2;
  options.checkout_timeout = std::chrono::milliseconds(300);
  ConnectionPool pool(options);
  {
    auto first = pool.acquire();
    auto second = pool.acquire();
    REQUIRE((first.isOk() && second.isOk()));
    auto start = Clock::now();
    auto third = pool.acquire();
    auto waited = Clock::now() - start;
    CHECK(third.code() == Errc::Unavailable);
    CHECK(third.status().message().find("pool exhausted") != std::string::npos);
    CHECK(waited >= std::chrono::milliseconds(290));
    CHECK(waited < std::chrono::seconds(5));

    // A connection given back wakes a waiting checkout at once.
    std::atomic<bool> got{false};
    std::thread waiter([&] {
      auto lease = pool.acquire();
      got = lease.isOk();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    { auto released = std::move(*second); }
    waiter.join();
    CHECK(got.load());
    // A connection left inside a transaction is rolled back before it is reused.
    REQUIRE((*first)->begin().isOk());
  }
  auto stats = pool.stats();
  CHECK(stats.opened == 2);
  CHECK(stats.idle == 2);
  auto again = pool.acquire();
  REQUIRE(again.isOk());
  CHECK((*again)->reusable());
  again->discard();
  CHECK(pool.stats().open == 1);
  CHECK(pool.stats().discarded == 1);
}

TEST_CASE(
    "postgres pool: a store whose connections are all busy answers Unavailable, then "
    "recovers") {
  PG_ENGINE_OR_SKIP(engine);
  auto options = engine.options();
  options.pool_size = 1;
  options.pool_timeout = std::chrono::milliseconds(200);
  auto store = engine.open(options);
  Tenancy owner = populate(*store, "acme", 1);

  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  std::thread exporter([&] {
    Status status = store->forEachBatch(owner.tenant.id, {}, [&](std::string_view) {
      holding = true;
      while (!release.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return Status::ok();
    });
    CHECK(status.isOk());
  });
  waitUntil([&] { return holding.load(); }, "the export to hold the only connection");
  auto listed = store->listAgents(owner.tenant.id);
  CHECK(listed.code() == Errc::Unavailable);
  auto stored = store->storeBatch(batchFor(owner, 7, "late"));
  CHECK(stored.code() == Errc::Unavailable);
  // Busy is not down: the server still answers a ping.
  CHECK(store->ping().isOk());
  release = true;
  exporter.join();
  CHECK(store->listAgents(owner.tenant.id).isOk());
  CHECK(store->storeBatch(batchFor(owner, 7, "late")).isOk());
}

TEST_CASE(
    "postgres connections: connections the server terminated are replaced without failing "
    "a request") {
  PG_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  Tenancy owner = populate(*store, "acme", 2);
  REQUIRE(store->ping().isOk());
  PgRaw admin(*engine.base_url);
  REQUIRE(storeBackends(admin, engine) >= 1);
  admin.exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name = $1 AND pid <> pg_backend_pid()",
      {engine.schema->name()});
  waitUntil([&] { return storeBackends(admin, engine) == 0; }, "the backends to exit");

  // Reads, writes and pings all go through: dead connections are noticed before use.
  CHECK(store->ping().isOk());
  auto listed = store->listAgents(owner.tenant.id);
  REQUIRE_MESSAGE(listed.isOk(), listed.status().toString());
  CHECK(listed->size() == 1);
  auto stored = store->storeBatch(batchFor(owner, 10, "after"));
  REQUIRE_MESSAGE(stored.isOk(), stored.status().toString());
  CHECK(store->poolStats().discarded >= 1);

  // Also when the connection dies while the writer holds it between groups.
  admin.exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name = $1 AND pid <> pg_backend_pid()",
      {engine.schema->name()});
  waitUntil([&] { return storeBackends(admin, engine) == 0; }, "the backends to exit");
  auto stored_again = store->storeBatch(batchFor(owner, 11, "after-2"));
  REQUIRE_MESSAGE(stored_again.isOk(), stored_again.status().toString());
  CHECK(engine.queryInt("SELECT count(*) FROM logs_batches WHERE tenant_id = $1",
                        owner.tenant.id) == 4);
}

TEST_CASE(
    "postgres group commit: a batch whose connection dies mid-transaction is retried on a "
    "new connection and stored once") {
  PG_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  Tenancy owner = populate(*store, "acme", 0);
  // Another session locks the agent's row, so the writer's first attempt waits inside its
  // transaction; that backend is then terminated under it.
  PgRaw other(engine.url());
  other.exec("BEGIN");
  other.exec("SELECT set_config('faultline.tenant_id', $1, true)", {owner.tenant.id});
  other.exec("SELECT 1 FROM agents_agents WHERE id = $1 FOR UPDATE", {owner.agent.agent_id});
  Result<store::StoredBatch> stored = Status(Errc::Internal, "not run");
  std::thread sender([&] { stored = store->storeBatch(batchFor(owner, 1, "survivor")); });
  PgRaw admin(*engine.base_url);
  auto waitingWriter = [&] {
    return admin.exec(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND "
        "wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        {engine.schema->name()});
  };
  waitUntil([&] { return !waitingWriter().empty(); }, "the writer to wait for the row lock");
  std::string first_pid = waitingWriter();
  admin.exec("SELECT pg_terminate_backend($1::int)", {first_pid});
  // The retry waits for the same lock on a new connection.
  waitUntil(
      [&] {
        std::string pid = waitingWriter();
        return !pid.empty() && pid != first_pid;
      },
      "the retry to wait on a new connection");
  other.exec("COMMIT");
  sender.join();
  REQUIRE_MESSAGE(stored.isOk(), stored.status().toString());
  CHECK_FALSE(stored->duplicate);
  CHECK(store->writerStats().reruns >= 1);
  CHECK(engine.queryInt("SELECT count(*) FROM logs_batches WHERE tenant_id = $1",
                        owner.tenant.id) == 1);
}

TEST_CASE("postgres connections: the store recovers after the server restarts") {
  PG_ENGINE_OR_SKIP(engine);
  const char* restart = std::getenv("FAULTLINE_TEST_PG_RESTART");
  if (restart == nullptr || *restart == '\0') {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && *ci != '\0' && std::string(ci) != "false" && std::string(ci) != "0") {
      FAIL("FAULTLINE_TEST_PG_RESTART is not set but CI is (installers/test.sh sets it)");
    }
    MESSAGE(
        "skipped: FAULTLINE_TEST_PG_RESTART is not set (a command that restarts the "
        "server, e.g. 'installers/pg_cluster.sh restart')");
    return;
  }
  auto store = engine.open();
  Tenancy owner = populate(*store, "acme", 1);
  REQUIRE(std::system(restart) == 0);
  // pg_ctl -w returns once the server accepts connections again.
  auto pinged = store->ping();
  CHECK_MESSAGE(pinged.isOk(), pinged.toString());
  auto stored = store->storeBatch(batchFor(owner, 5, "after-restart"));
  CHECK_MESSAGE(stored.isOk(), stored.status().toString());
  auto listed = store->listAgents(owner.tenant.id);
  REQUIRE_MESSAGE(listed.isOk(), listed.status().toString());
  CHECK((*listed)[0].batches == 2);
}

TEST_CASE("postgres group commit: a full write queue refuses at once instead of queueing") {
  PG_ENGINE_OR_SKIP(engine);
  auto store = engine.open(TestStoreOptions{1});
  Tenancy owner = populate(*store, "acme", 0);
  // Another session locks the agent's row, so the writer waits inside its first batch.
  PgRaw other(engine.url());
  other.exec("BEGIN");
  other.exec("SELECT set_config('faultline.tenant_id', $1, true)", {owner.tenant.id});
  other.exec("SELECT 1 FROM agents_agents WHERE id = $1 FOR UPDATE", {owner.agent.agent_id});
  Status first;
  std::thread writer_thread([&] { first = store->storeBatch(batchFor(owner, 1, "x")).status(); });
  waitUntil([&] { return store->pendingWrites() >= 1; }, "the first write to queue");
  auto refused = store->storeBatch(batchFor(owner, 2, "y"));
  CHECK(refused.code() == Errc::ResourceExhausted);
  other.exec("COMMIT");
  writer_thread.join();
  CHECK_MESSAGE(first.isOk(), first.toString());
  CHECK(engine.queryInt("SELECT count(*) FROM logs_batches WHERE tenant_id = $1",
                        owner.tenant.id) == 1);
}

TEST_CASE(
    "postgres batches: a resend racing the first copy's uncommitted insert waits for it, "
    "then answers from the stored row") {
  PG_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  Tenancy owner = populate(*store, "acme", 0);
  for (bool commit : {true, false}) {
    INFO("other transaction " << (commit ? "commits" : "rolls back"));
    std::string seq = commit ? "5" : "6";
    PgRaw other(engine.url());
    other.exec("BEGIN");
    other.exec("SELECT set_config('faultline.tenant_id', $1, true)", {owner.tenant.id});
    other.exec(
        "INSERT INTO logs_batches(tenant_id, agent_id, epoch, seq, record_count, "
        "line_bytes, min_ts, max_ts, received_at, payload) "
        "VALUES ($1, $2, 1, $3, 7, 1, 1, 1, 1, 'other')",
        {owner.tenant.id, owner.agent.agent_id, seq});
    std::atomic<bool> done{false};
    Result<store::StoredBatch> stored = Status(Errc::Internal, "not run");
    std::thread sender([&] {
      stored = store->storeBatch(batchFor(owner, std::stoull(seq), "mine"));
      done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK_FALSE(done.load());
    other.exec(commit ? "COMMIT" : "ROLLBACK");
    sender.join();
    REQUIRE_MESSAGE(stored.isOk(), stored.status().toString());
    CHECK(stored->duplicate == commit);
    CHECK(stored->record_count == (commit ? 7u : 1u));
  }
  CHECK(engine.queryInt("SELECT count(*) FROM logs_batches WHERE tenant_id = $1",
                        owner.tenant.id) == 2);
}

TEST_CASE(
    "postgres group commit: a failing job rolls back alone and the rest of its group "
    "commits") {
  PG_ENGINE_OR_SKIP(engine);
  PgRaw raw(engine.url());
  raw.exec("CREATE TABLE t (x integer UNIQUE)");
  store::postgres::PoolOptions pool_options;
  pool_options.url = engine.url();
  pool_options.size = 2;
  ConnectionPool pool(pool_options);
  auto writer = GroupCommitWriter::start(pool, {});
  REQUIRE(writer.isOk());
  static constexpr Statement kInsert{"test_insert", "INSERT INTO t VALUES ($1)"};
  auto insert = [](store::postgres::Connection& connection, int x) {
    Params params;
    params.int64(x);
    return connection.exec(kInsert, params).status();
  };

  // Hold the writer inside a first job until every other job is queued, so that they all land
  // in the second group.
  std::atomic<bool> release{false};
  std::atomic<bool> blocking{false};
  std::thread blocker([&] {
    CHECK((*writer)
              ->run("0",
                    [&](store::postgres::Connection& connection) {
                      blocking = true;
                      while (!release.load()) {
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                      }
                      return insert(connection, 0);
                    })
              .isOk());
  });
  // Running, not just queued: a job queued before the writer takes the blocker could share its
  // group.
  waitUntil([&] { return blocking.load(); }, "the blocker to run");
  std::vector<GroupCommitWriter::Job> jobs = {
      [&](store::postgres::Connection& c) { return insert(c, 1); },
      [&](store::postgres::Connection& c) { return insert(c, 1); },  // unique violation
      [&](store::postgres::Connection& c) { return insert(c, 2); },
      [&](store::postgres::Connection& c) -> Status {
        FL_RETURN_IF_ERROR(insert(c, 3));
        return invalidArgument("changed my mind");  // its insert must vanish
      },
      [&](store::postgres::Connection& c) { return insert(c, 4); },
  };
  std::vector<Status> results(jobs.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    threads.emplace_back([&, i] {
      // Order keys run the jobs in this order whatever order they are queued in.
      results[i] = (*writer)->run(std::to_string(i + 1), jobs[i]);
    });
  }
  waitUntil([&] { return (*writer)->pending() == jobs.size() + 1; }, "every job to queue");
  auto before = (*writer)->stats();
  release = true;
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
  CHECK(after.reruns - before.reruns == 2);
  writer->reset();
  CHECK(raw.queryInt("SELECT count(*) FROM t") == 4);
  CHECK(raw.queryInt("SELECT count(*) FROM t WHERE x = 3") == 0);
  CHECK(raw.queryInt("SELECT sum(x) FROM t") == 0 + 1 + 2 + 4);
}

TEST_CASE("postgres connections: synchronous_commit=off from the login is turned back on") {
  PG_ENGINE_OR_SKIP(engine);
  auto connection = store::postgres::Connection::connect(
      withUrlParam(engine.url(), "options=-csynchronous_commit%3Doff"), "test",
      std::chrono::seconds(5));
  REQUIRE_MESSAGE(connection.isOk(), connection.status().toString());
  static constexpr Statement kShow{"test_show", "SELECT current_setting('synchronous_commit')"};
  auto shown = (*connection)->exec(kShow);
  REQUIRE(shown.isOk());
  CHECK(shown->bytes(0, 0) == "on");
}

TEST_CASE("postgres connections: a scoped read sets its setting for the read and nothing after") {
  PG_ENGINE_OR_SKIP(engine);
  auto connection =
      store::postgres::Connection::connect(engine.url(), "test", std::chrono::seconds(5));
  REQUIRE_MESSAGE(connection.isOk(), connection.status().toString());
  store::postgres::Connection& conn = **connection;
  static constexpr Statement kReadSetting{
      "test_read_setting", "SELECT current_setting('faultline.test', true), $1::bigint + 1"};
  static constexpr Statement kDivide{"test_divide", "SELECT 1 / $1::bigint"};
  for (int round = 0; round < 3; ++round) {
    store::postgres::Params params;
    params.int64(41);
    auto read =
        conn.scopedRead("faultline.test", "tenant-" + std::to_string(round), kReadSetting, params);
    REQUIRE_MESSAGE(read.isOk(), read.status().toString());
    CHECK(read->bytes(0, 0) == "tenant-" + std::to_string(round));
    CHECK(read->int64(0, 1) == 42);
    CHECK(conn.reusable());
    // The setting was local to the pipeline's implicit transaction: gone afterwards.
    auto after = conn.exec(kReadSetting, params);
    REQUIRE(after.isOk());
    CHECK(after->bytes(0, 0).empty());
  }
  // A statement that fails mid-pipeline: a clear error, and the connection stays usable.
  store::postgres::Params zero;
  zero.int64(0);
  auto failed = conn.scopedRead("faultline.test", "x", kDivide, zero);
  CHECK(failed.code() == Errc::InvalidArgument);
  CHECK(failed.status().message().find("division by zero") != std::string::npos);
  CHECK(conn.reusable());
  store::postgres::Params two;
  two.int64(2);
  auto fine = conn.scopedRead("faultline.test", "y", kDivide, two);
  REQUIRE_MESSAGE(fine.isOk(), fine.status().toString());
  CHECK(fine->int64(0, 0) == 0);
}

TEST_CASE(
    "postgres rls: identity rows of another tenant are invisible; users only by id, e-mail "
    "or shared membership") {
  PG_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto a = store->createTenant("tenant-a", nowUnixNanos());
  auto b = store->createTenant("tenant-b", nowUnixNanos());
  REQUIRE((a.isOk() && b.isOk()));
  auto alice = store->createUser("alice@example.com", "h", nowUnixNanos());
  auto bob = store->createUser("bob@example.com", "h", nowUnixNanos());
  REQUIRE((alice.isOk() && bob.isOk()));
  REQUIRE(store->addMembership(a->id, alice->id, "owner", nowUnixNanos()).isOk());
  REQUIRE(store->addMembership(b->id, bob->id, "owner", nowUnixNanos()).isOk());
  store::Session session;
  session.token_hash = crypto::hashSecret("fls_b");
  session.tenant_id = b->id;
  session.user_id = bob->id;
  session.csrf_hash = "c";
  session.expires_at_ns = nowUnixNanos() + 1'000'000'000;
  REQUIRE(store->createSession(session).isOk());
  store::ApiKey key;
  key.id = "key_b";
  key.tenant_id = b->id;
  key.name = "k";
  key.role = "viewer";
  key.key_hash = crypto::hashSecret("flk_b");
  key.created_by = "admin-cli";
  REQUIRE(store->createApiKey(key).isOk());

  PgRaw raw(engine.url());
  for (const char* table : kIdentityTenantTables) {
    INFO(table);
    CHECK(raw.queryInt(std::string("SELECT count(*) FROM ") + table) == 0);
  }
  CHECK(raw.queryInt("SELECT count(*) FROM auth_users") == 0);
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {a->id});
  CHECK(raw.queryInt("SELECT count(*) FROM auth_memberships") == 1);
  CHECK(raw.queryInt("SELECT count(*) FROM auth_sessions") == 0);
  CHECK(raw.queryInt("SELECT count(*) FROM auth_api_keys") == 0);
  CHECK(raw.queryInt("SELECT count(*) FROM auth_users") == 1);  // alice, a member of A
  CHECK(raw.exec("SELECT email FROM auth_users") == "alice@example.com");
  std::string stolen = raw.exec(
      "INSERT INTO auth_memberships(tenant_id, user_id, role, created_at) VALUES ($1, $2, "
      "'owner', 0)",
      {b->id, alice->id}, true);
  CHECK(stolen.rfind("ERROR 42501", 0) == 0);
  raw.exec("ROLLBACK");
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.user_email', 'bob@example.com', true)");
  CHECK(raw.queryInt("SELECT count(*) FROM auth_users") == 1);
  CHECK(raw.queryInt("SELECT count(*) FROM auth_memberships") == 0);
  raw.exec("ROLLBACK");
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.api_key_hash', $1, true)", {key.key_hash});
  CHECK(raw.queryInt("SELECT count(*) FROM auth_api_keys") == 1);
  CHECK(raw.queryInt("SELECT count(*) FROM auth_sessions") == 0);
  raw.exec("ROLLBACK");
}
