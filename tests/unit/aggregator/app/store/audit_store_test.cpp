// The audit log part of the Store contract, on every engine: the hash chain verifies, edits and
// removals made directly in the database are found at the right seq, concurrent appends keep
// one chain, and no tenant sees another's entries.
#include <doctest/doctest.h>

#include <set>
#include <thread>
#include <vector>

#include "aggregator/store/audit_log.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

audit::AuditEvent event(const std::string& tenant_id, const std::string& action, std::int64_t at_ns,
                        const std::string& actor = "admin-cli",
                        const std::string& outcome = "success") {
  audit::AuditEvent e;
  e.tenant_id = tenant_id;
  e.actor = actor;
  e.action = action;
  e.target = "agent:agt_1";
  e.outcome = outcome;
  e.client_address = "127.0.0.1:4000";
  e.detail_json = R"({"n":)" + std::to_string(at_ns) + "}";
  e.at_ns = at_ns;
  return e;
}

void appendMany(store::Store& store, const std::string& tenant_id, int count) {
  for (int i = 1; i <= count; ++i) {
    auto appended = store.appendAudit(event(tenant_id, "test.step", 1000 + i));
    REQUIRE_MESSAGE(appended.isOk(), appended.status().toString());
    CHECK(appended->seq == i);
  }
}

// Runs SQL on a separate connection as an attacker with database access would; $1/?1 is the
// tenant id. Returns "" on success or the error text.
std::string rawSql(const SqliteEngine& engine, const std::string& sql,
                   const std::string& tenant_id) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(engine.path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  std::string error;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    error = sqlite3_errmsg(db);
  } else {
    if (sqlite3_bind_parameter_count(stmt) > 0) {
      sqlite3_bind_text(stmt, 1, tenant_id.c_str(), -1, SQLITE_TRANSIENT);
    }
    if (sqlite3_step(stmt) != SQLITE_DONE) {
      error = sqlite3_errmsg(db);
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return error;
}

std::string rawSql(const PostgresEngine& engine, const std::string& sql,
                   const std::string& tenant_id) {
  PgRaw raw(engine.url());
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {tenant_id});
  raw.exec("SELECT set_config('faultline.system_chain', $1, true)",
           {tenant_id.empty() ? "on" : "off"});
  std::string result = sql.find("$1") != std::string::npos ? raw.exec(sql, {tenant_id}, true)
                                                           : raw.exec(sql, {}, true);
  raw.exec(result.rfind("ERROR", 0) == 0 ? "ROLLBACK" : "COMMIT");
  return result.rfind("ERROR", 0) == 0 ? result : "";
}

// Lifts the append-only guard the way someone with full access to the database could.
void liftGuard(const SqliteEngine& engine) {
  REQUIRE(rawSql(engine, "DROP TRIGGER audit_log_no_update", "").empty());
  REQUIRE(rawSql(engine, "DROP TRIGGER audit_log_no_delete", "").empty());
}
void liftGuard(const PostgresEngine& engine) {
  REQUIRE(rawSql(engine, "GRANT UPDATE, DELETE ON audit_log TO CURRENT_USER", "").empty());
}

template <typename Engine>
void tamper(const Engine& engine, const std::string& sql, const std::string& tenant_id) {
  liftGuard(engine);
  std::string error = rawSql(engine, sql, tenant_id);
  REQUIRE_MESSAGE(error.empty(), error);
}

std::string param(const SqliteEngine&) {
  return "?1";
}
std::string param(const PostgresEngine&) {
  return "$1";
}

}  // namespace

TEST_CASE_TEMPLATE("store audit: an untouched chain verifies, per tenant and system chain",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());

  auto empty = store->verifyAuditChain(tenant->id);
  REQUIRE(empty.isOk());
  CHECK(empty->intact);
  CHECK(empty->entries == 0);
  CHECK(empty->head_hash == store::kAuditGenesisHash);

  appendMany(*store, tenant->id, 5);
  appendMany(*store, "", 3);
  auto verified = store->verifyAuditChain(tenant->id);
  REQUIRE(verified.isOk());
  CHECK(verified->intact);
  CHECK(verified->entries == 5);
  auto page = store->queryAudit(tenant->id, {});
  REQUIRE(page.isOk());
  REQUIRE(page->entries.size() == 5);
  CHECK(verified->head_hash == page->entries.back().hash);
  CHECK(page->entries.front().prev_hash == store::kAuditGenesisHash);
  for (std::size_t i = 1; i < page->entries.size(); ++i) {
    CHECK(page->entries[i].prev_hash == page->entries[i - 1].hash);
    CHECK(page->entries[i].hash == store::auditEntryHash(page->entries[i]));
  }
  auto system = store->verifyAuditChain("");
  REQUIRE(system.isOk());
  CHECK(system->intact);
  CHECK(system->entries == 3);

  // Re-opening continues the same chain.
  store.reset();
  store = engine.open();
  auto next = store->appendAudit(event(tenant->id, "test.after_reopen", 9000));
  REQUIRE(next.isOk());
  CHECK(next->seq == 6);
  CHECK(next->prev_hash == verified->head_hash);
  CHECK(store->verifyAuditChain(tenant->id)->intact);
}

TEST_CASE_TEMPLATE("store audit: the application cannot update or delete entries", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  appendMany(*store, tenant->id, 2);
  std::string p = param(engine);
  CHECK_FALSE(rawSql(engine, "UPDATE audit_log SET actor = 'x' WHERE tenant_id = " + p, tenant->id)
                  .empty());
  CHECK_FALSE(rawSql(engine, "DELETE FROM audit_log WHERE tenant_id = " + p, tenant->id).empty());
  CHECK(engine.queryInt("SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1", tenant->id) == 2);
  CHECK(store->verifyAuditChain(tenant->id)->intact);
}

TEST_CASE_TEMPLATE("store audit: an entry edited in the database is found at its seq", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  appendMany(*store, tenant->id, 5);
  std::string p = param(engine);

  SUBCASE("a field changed") {
    tamper(engine, "UPDATE audit_log SET outcome = 'failure' WHERE seq = 3 AND tenant_id = " + p,
           tenant->id);
    auto verified = store->verifyAuditChain(tenant->id);
    REQUIRE(verified.isOk());
    CHECK_FALSE(verified->intact);
    CHECK(verified->broken_at_seq == 3);
    CHECK(verified->reason.find("edited") != std::string::npos);
    CHECK(verified->entries == 2);
  }
  SUBCASE("a field changed and its hash recomputed") {
    // Without rewriting every later entry too, the next link breaks.
    auto page = store->queryAudit(tenant->id, {});
    REQUIRE(page.isOk());
    store::AuditEntry forged = page->entries[2];
    forged.actor = "someone-else";
    forged.hash = store::auditEntryHash(forged);
    tamper(engine,
           "UPDATE audit_log SET actor = 'someone-else', hash = '" + forged.hash +
               "' WHERE seq = 3 AND tenant_id = " + p,
           tenant->id);
    auto verified = store->verifyAuditChain(tenant->id);
    REQUIRE(verified.isOk());
    CHECK_FALSE(verified->intact);
    CHECK(verified->broken_at_seq == 4);
    CHECK(verified->reason.find("prev_hash") != std::string::npos);
  }
}

TEST_CASE_TEMPLATE("store audit: removed entries are found, in the middle and at the end", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  appendMany(*store, tenant->id, 5);
  std::string p = param(engine);

  SUBCASE("a middle entry") {
    tamper(engine, "DELETE FROM audit_log WHERE seq = 3 AND tenant_id = " + p, tenant->id);
    auto verified = store->verifyAuditChain(tenant->id);
    REQUIRE(verified.isOk());
    CHECK_FALSE(verified->intact);
    CHECK(verified->broken_at_seq == 3);
    CHECK(verified->reason.find("missing") != std::string::npos);
  }
  SUBCASE("the newest entry") {
    tamper(engine, "DELETE FROM audit_log WHERE seq = 5 AND tenant_id = " + p, tenant->id);
    auto verified = store->verifyAuditChain(tenant->id);
    REQUIRE(verified.isOk());
    CHECK_FALSE(verified->intact);
    CHECK(verified->broken_at_seq == 5);
    CHECK(verified->reason.find("truncated") != std::string::npos);
  }
  SUBCASE("the first entry") {
    tamper(engine, "DELETE FROM audit_log WHERE seq = 1 AND tenant_id = " + p, tenant->id);
    auto verified = store->verifyAuditChain(tenant->id);
    REQUIRE(verified.isOk());
    CHECK_FALSE(verified->intact);
    CHECK(verified->broken_at_seq == 1);
  }
  // The other tenants' chains are not affected by tampering with this one.
  auto other = store->createTenant("other", 1);
  REQUIRE(other.isOk());
  appendMany(*store, other->id, 2);
  CHECK(store->verifyAuditChain(other->id)->intact);
}

TEST_CASE_TEMPLATE("store audit: concurrent appends keep one chain", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  constexpr int kThreads = 6;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::int64_t>> seqs(kThreads);
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Half the threads write the system chain too, interleaved.
        auto appended = store->appendAudit(event(tenant->id, "test.concurrent", nowUnixNanos()));
        if (!appended.isOk()) {
          ++failures[t];
          continue;
        }
        seqs[t].push_back(appended->seq);
        if (t % 2 == 0 && !store->appendAudit(event("", "test.system", nowUnixNanos())).isOk()) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  std::set<std::int64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[t] == 0);
    all.insert(seqs[t].begin(), seqs[t].end());
  }
  CHECK(all.size() == kThreads * kEach);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kThreads * kEach);
  auto verified = store->verifyAuditChain(tenant->id);
  REQUIRE(verified.isOk());
  CHECK(verified->intact);
  CHECK(verified->entries == kThreads * kEach);
  auto system = store->verifyAuditChain("");
  REQUIRE(system.isOk());
  CHECK(system->intact);
  CHECK(system->entries == (kThreads / 2) * kEach);
}

TEST_CASE_TEMPLATE("store audit: queries filter, page by cursor and stay within the tenant",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto a = store->createTenant("tenant-a", 1);
  auto b = store->createTenant("tenant-b", 1);
  REQUIRE(a.isOk());
  REQUIRE(b.isOk());
  for (int i = 1; i <= 10; ++i) {
    REQUIRE(store
                ->appendAudit(event(a->id, i % 2 == 0 ? "agent.enroll" : "auth.login_failed",
                                    i * 100, i % 3 == 0 ? "agent:agt_x" : "admin-cli",
                                    i % 2 == 0 ? "success" : "failure"))
                .isOk());
  }
  REQUIRE(store->appendAudit(event(b->id, "agent.enroll", 150, "agent:agt_b")).isOk());
  REQUIRE(store->appendAudit(event("", "tenant.create", 150)).isOk());

  auto all = store->queryAudit(a->id, {});
  REQUIRE(all.isOk());
  CHECK(all->entries.size() == 10);
  CHECK_FALSE(all->next_after_seq.has_value());
  for (const store::AuditEntry& entry : all->entries) {
    CHECK(entry.tenant_id == a->id);
  }

  store::AuditQuery by_action;
  by_action.action = "agent.enroll";
  CHECK(store->queryAudit(a->id, by_action)->entries.size() == 5);
  store::AuditQuery by_actor;
  by_actor.actor = "agent:agt_x";
  CHECK(store->queryAudit(a->id, by_actor)->entries.size() == 3);
  store::AuditQuery by_outcome;
  by_outcome.outcome = "failure";
  CHECK(store->queryAudit(a->id, by_outcome)->entries.size() == 5);
  store::AuditQuery by_time;
  by_time.since_ns = 300;
  by_time.until_ns = 700;
  auto timed = store->queryAudit(a->id, by_time);
  REQUIRE(timed.isOk());
  REQUIRE(timed->entries.size() == 4);
  CHECK(timed->entries.front().at_ns == 300);
  CHECK(timed->entries.back().at_ns == 600);

  // Pages of 3 by cursor: every entry once, in seq order.
  store::AuditQuery paged;
  paged.limit = 3;
  std::vector<std::int64_t> seen;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store->queryAudit(a->id, paged);
    REQUIRE(page.isOk());
    for (const store::AuditEntry& entry : page->entries) {
      seen.push_back(entry.seq);
    }
    if (!page->next_after_seq) {
      break;
    }
    paged.after_seq = *page->next_after_seq;
  }
  CHECK(seen == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});

  // Tenant B's filters never reach A's entries, nor the system chain.
  store::AuditQuery b_actor;
  b_actor.actor = "agent:agt_b";
  CHECK(store->queryAudit(a->id, b_actor)->entries.empty());
  auto b_all = store->queryAudit(b->id, {});
  REQUIRE(b_all.isOk());
  REQUIRE(b_all->entries.size() == 1);
  CHECK(b_all->entries[0].tenant_id == b->id);
  CHECK(b_all->entries[0].seq == 1);
  store::AuditQuery tenant_create;
  tenant_create.action = "tenant.create";
  CHECK(store->queryAudit(a->id, tenant_create)->entries.empty());
  CHECK(store->queryAudit("", tenant_create)->entries.size() == 1);
  // SQL metacharacters in filters are values, not SQL.
  store::AuditQuery injection;
  injection.actor = "' OR '1'='1";
  CHECK(store->queryAudit(a->id, injection)->entries.empty());
  CHECK(store->queryAudit("tnt_nope", {})->entries.empty());
}

TEST_CASE_TEMPLATE("store audit: invalid events are refused and nothing is stored", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  std::vector<audit::AuditEvent> bad(6, event(tenant->id, "x.y", 1));
  bad[0].outcome = "maybe";
  bad[1].actor = "";
  bad[2].action = std::string("a\0b", 3);
  bad[3].detail_json = "[1]";
  bad[4].target = "\xff\xfe";
  bad[5].detail_json = "{\"x\":\"" + std::string(store::kAuditMaxDetailBytes, 'a') + "\"}";
  for (const audit::AuditEvent& e : bad) {
    CHECK(store->appendAudit(e).code() == Errc::InvalidArgument);
  }
  CHECK(store->queryAudit(tenant->id, {})->entries.empty());
  auto verified = store->verifyAuditChain(tenant->id);
  REQUIRE(verified.isOk());
  CHECK(verified->intact);
  CHECK(verified->entries == 0);
}
