// The Store contract for log-derived events (migration 8): the (service, template) pairs a
// tenant's logs have shown, on every engine (store_engines.h), and never across tenants.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

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

std::vector<bool> remember(store::Store& store, const std::string& tenant_id,
                           const std::vector<store::LogTemplateKey>& keys) {
  auto fresh = store.rememberLogTemplates(tenant_id, keys, nowUnixNanos());
  REQUIRE_MESSAGE(fresh.isOk(), fresh.status().toString());
  return *fresh;
}

}  // namespace

TEST_CASE_TEMPLATE("log templates: new once per tenant and service, durable across reopen",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  std::string a_id;
  {
    auto store = engine.open();
    store::Tenant a = tenantNamed(*store, "tenant-a");
    a_id = a.id;
    // Ids above 2^63 travel as signed 64-bit values; they must still compare equal.
    const std::uint64_t big = 0xFEDCBA9876543210ULL;
    CHECK(remember(*store, a.id, {{"api", 1}, {"api", big}, {"worker", 1}}) ==
          std::vector<bool>{true, true, true});
    // Seen: not new again; the same id under another service is; a repeat within one call is
    // new only the first time.
    CHECK(remember(*store, a.id, {{"api", big}, {"api", 2}, {"api", 2}, {"worker", 1}}) ==
          std::vector<bool>{false, true, false, false});
    CHECK(remember(*store, a.id, {}).empty());
  }
  // A restarted node (a new store on the same database) agrees.
  auto store = engine.open();
  CHECK(remember(*store, a_id, {{"api", 1}, {"api", 3}}) == std::vector<bool>{false, true});
}

TEST_CASE_TEMPLATE("log templates: tenants never share what they have seen", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  CHECK(remember(*store, a.id, {{"api", 7}}) == std::vector<bool>{true});
  // B's first sight of the same pair is B's own news, and A's history is untouched by B.
  CHECK(remember(*store, b.id, {{"api", 7}}) == std::vector<bool>{true});
  CHECK(remember(*store, a.id, {{"api", 7}, {"api", 8}}) == std::vector<bool>{false, true});
  CHECK(remember(*store, b.id, {{"api", 8}}) == std::vector<bool>{true});
  CHECK(engine.queryInt("SELECT COUNT(*) FROM log_events_templates WHERE tenant_id = $1", a.id) ==
        2);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM log_events_templates WHERE tenant_id = $1", b.id) ==
        2);
  // A tenant that does not exist is refused, nothing written.
  auto ghost = store->rememberLogTemplates("tnt_doesnotexist", {{"api", 9}}, nowUnixNanos());
  CHECK(ghost.code() == Errc::NotFound);
  // Too many pairs in one call.
  std::vector<store::LogTemplateKey> many(store::kMaxLogTemplatesPerCall + 1, {"api", 1});
  CHECK(store->rememberLogTemplates(a.id, many, nowUnixNanos()).code() == Errc::InvalidArgument);
}

TEST_CASE_TEMPLATE("log templates: concurrent nodes see a pair new exactly once", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto first = engine.open();
  auto second = engine.open();
  store::Tenant a = tenantNamed(*first, "tenant-a");
  std::vector<store::LogTemplateKey> keys;
  for (std::uint64_t id = 1; id <= 50; ++id) {
    keys.push_back({"api", id});
  }
  std::vector<store::LogTemplateKey> reversed(keys.rbegin(), keys.rend());
  std::atomic<int> fresh{0};
  std::atomic<int> failures{0};
  auto run = [&](store::Store& store, const std::vector<store::LogTemplateKey>& mine) {
    auto answer = store.rememberLogTemplates(a.id, mine, nowUnixNanos());
    if (!answer.isOk()) {
      ++failures;
      return;
    }
    for (bool is_new : *answer) {
      fresh += is_new ? 1 : 0;
    }
  };
  std::thread one([&] { run(*first, keys); });
  std::thread two([&] { run(*second, reversed); });
  one.join();
  two.join();
  CHECK(failures == 0);
  CHECK(fresh == 50);
}

TEST_CASE_TEMPLATE("log templates row-level security: tenant A's transaction sees none of B's",
                   TestType, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  CHECK(remember(*store, b.id, {{"api", 1}, {"api", 2}}) == std::vector<bool>{true, true});
  CHECK(engine.queryInt("SELECT COUNT(*) FROM log_events_templates", a.id) == 0);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM log_events_templates WHERE tenant_id <> $1", a.id) ==
        0);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM log_events_templates", b.id) == 2);
}
