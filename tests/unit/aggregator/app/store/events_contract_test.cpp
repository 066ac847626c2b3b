// The Store contract for events (migration 6): integrations, recorded events with their noise
// decision, alerts folded by fingerprint, queries and the compression figure, on every engine
// (store_engines.h). Every tenant-scoped call is also tried across tenants.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "aggregator/events/event.h"
#include "shared/util/crypto.h"
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

store::Integration integrationFor(const store::Tenant& tenant, const std::string& kind) {
  store::Integration integration;
  integration.id = "int_" + crypto::randomHex(12);
  integration.tenant_id = tenant.id;
  integration.name = kind + " prod";
  integration.kind = kind;
  integration.key_hash = crypto::hashSecret(crypto::randomToken("flh_"));
  integration.rate_limit_rps = 50;
  integration.rate_limit_burst = 100;
  integration.created_at_ns = nowUnixNanos();
  return integration;
}

events::Event eventFor(const store::Tenant& tenant, const std::string& dedup_key,
                       events::EventStatus status, std::int64_t received_at_ns) {
  events::Event event;
  event.tenant_id = tenant.id;
  event.source = events::SourceKind::kAlertmanager;
  event.integration_id = "int_test";
  event.service = "checkout";
  event.host = "web-1:9100";
  event.environment = "prod";
  event.severity = logparse::Severity::kCritical;
  event.status = status;
  event.source_dedup_key = dedup_key;
  event.title = "High error rate on " + dedup_key;
  event.body = "5xx above 5% for 10 minutes";
  event.labels = {{"alertname", "HighErrorRate"}, {"service", "checkout"}};
  event.occurred_at_ns = received_at_ns - 1000;
  event.received_at_ns = received_at_ns;
  event.raw = R"({"status":"firing"})";
  event.fingerprint = events::computeFingerprint(event);
  return event;
}

std::vector<store::NoiseDecision> decisionsOf(const std::vector<store::EventDecision>& decisions) {
  std::vector<store::NoiseDecision> out;
  for (const auto& decision : decisions) {
    out.push_back(decision.decision);
  }
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("events integrations: by key hash, listed and revoked per tenant", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::Integration hook = integrationFor(a, "alertmanager");
  hook.mapping_json = R"({"title":"/t"})";
  REQUIRE(store->createIntegration(hook).isOk());
  CHECK(store->createIntegration(hook).code() == Errc::NotFound);  // duplicate id and key

  auto found = store->findIntegrationByKeyHash(hook.key_hash);
  REQUIRE_MESSAGE(found.isOk(), found.status().toString());
  CHECK(found->id == hook.id);
  CHECK(found->tenant_id == a.id);
  CHECK(found->name == "alertmanager prod");
  CHECK(found->kind == "alertmanager");
  CHECK(found->mapping_json == hook.mapping_json);
  CHECK(found->rate_limit_rps == 50);
  CHECK(found->rate_limit_burst == 100);
  CHECK(found->revoked_at_ns == 0);
  CHECK(store->findIntegrationByKeyHash("no-such-hash").code() == Errc::NotFound);

  auto listed_a = store->listIntegrations(a.id);
  REQUIRE(listed_a.isOk());
  REQUIRE(listed_a->size() == 1);
  CHECK(listed_a->front().id == hook.id);
  auto listed_b = store->listIntegrations(b.id);
  REQUIRE(listed_b.isOk());
  CHECK(listed_b->empty());

  // Another tenant's revoke looks exactly like an unknown id, and changes nothing.
  CHECK(store->revokeIntegration(b.id, hook.id, nowUnixNanos()).code() == Errc::NotFound);
  CHECK(store->findIntegrationByKeyHash(hook.key_hash)->revoked_at_ns == 0);
  const std::int64_t revoked_at = nowUnixNanos();
  REQUIRE(store->revokeIntegration(a.id, hook.id, revoked_at).isOk());
  REQUIRE(store->revokeIntegration(a.id, hook.id, revoked_at + 5).isOk());
  CHECK(store->findIntegrationByKeyHash(hook.key_hash)->revoked_at_ns == revoked_at);

  store::Integration orphan = integrationFor(a, "grafana");
  orphan.tenant_id = "tnt_missing";
  CHECK(store->createIntegration(orphan).code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("events record: dedup by fingerprint, resolve pairing, reopen", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  const std::int64_t t0 = nowUnixNanos();
  using events::EventStatus;
  using store::NoiseDecision;

  auto first = store->recordEvents(a.id, {eventFor(a, "fp-1", EventStatus::kFiring, t0),
                                          eventFor(a, "fp-1", EventStatus::kFiring, t0 + 1),
                                          eventFor(a, "fp-2", EventStatus::kFiring, t0 + 2)});
  REQUIRE_MESSAGE(first.isOk(), first.status().toString());
  CHECK(decisionsOf(*first) == std::vector<NoiseDecision>{NoiseDecision::kNew,
                                                          NoiseDecision::kDeduplicated,
                                                          NoiseDecision::kNew});
  CHECK((*first)[1].alert_count == 2);
  CHECK((*first)[1].reason.find("already firing") != std::string::npos);
  CHECK((*first)[0].event_id.rfind("evt_", 0) == 0);

  auto resolved = store->recordEvents(a.id, {eventFor(a, "fp-1", EventStatus::kResolved, t0 + 3),
                                             eventFor(a, "fp-1", EventStatus::kResolved, t0 + 4)});
  REQUIRE(resolved.isOk());
  CHECK(decisionsOf(*resolved) ==
        std::vector<NoiseDecision>{NoiseDecision::kResolved, NoiseDecision::kDeduplicated});
  CHECK((*resolved)[0].reason.find("resolves alert") != std::string::npos);

  auto reopened = store->recordEvents(a.id, {eventFor(a, "fp-1", EventStatus::kFiring, t0 + 5)});
  REQUIRE(reopened.isOk());
  CHECK(reopened->front().decision == NoiseDecision::kNew);
  CHECK(reopened->front().reason.find("reopens") != std::string::npos);
  CHECK(reopened->front().alert_count == 5);  // the count goes on

  auto stray = store->recordEvents(a.id, {eventFor(a, "fp-9", EventStatus::kResolved, t0 + 6)});
  REQUIRE(stray.isOk());
  CHECK(stray->front().decision == NoiseDecision::kResolved);
  CHECK(stray->front().alert_count == 0);

  auto stats = store->eventStats(a.id);
  REQUIRE(stats.isOk());
  CHECK(stats->events == 7);
  CHECK(stats->alerts == 2);  // fp-1 and fp-2; the stray resolve made none
  CHECK(stats->open_alerts == 2);
  CHECK(engine.queryInt("SELECT count FROM events_alerts WHERE tenant_id = $1 AND status = "
                        "'firing' ORDER BY count DESC LIMIT 1",
                        a.id) == 5);
}

TEST_CASE_TEMPLATE("events record: checked input, nothing stored", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  const std::int64_t t0 = nowUnixNanos();
  events::Event good = eventFor(a, "fp-1", events::EventStatus::kFiring, t0);
  events::Event no_fingerprint = good;
  no_fingerprint.fingerprint.clear();
  CHECK(store->recordEvents(a.id, {good, no_fingerprint}).code() == Errc::InvalidArgument);
  events::Event foreign = eventFor(b, "fp-1", events::EventStatus::kFiring, t0);
  CHECK(store->recordEvents(a.id, {good, foreign}).code() == Errc::InvalidArgument);
  events::Event unowned = good;  // an empty tenant_id takes the call's tenant
  unowned.tenant_id.clear();
  CHECK(store->recordEvents("tnt_missing", {unowned}).code() == Errc::NotFound);
  std::vector<events::Event> too_many(store::kMaxEventsPerRecord + 1, good);
  CHECK(store->recordEvents(a.id, too_many).code() == Errc::InvalidArgument);
  CHECK(store->eventStats(a.id)->events == 0);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM events_alerts WHERE tenant_id = $1", a.id) == 0);
  auto empty = store->recordEvents(a.id, {});
  REQUIRE(empty.isOk());
  CHECK(empty->empty());
}

TEST_CASE_TEMPLATE("events query: filters, newest first, keyset pages, tenant walls", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  const std::int64_t t0 = 1'700'000'000'000'000'000;
  std::vector<events::Event> batch;
  for (int i = 0; i < 5; ++i) {
    events::Event event =
        eventFor(a, "fp-" + std::to_string(i % 2), events::EventStatus::kFiring, t0 + i * 1000);
    if (i == 3) {
      event.service = "billing";
      event.severity = logparse::Severity::kWarn;
      event.source = events::SourceKind::kPagerDuty;
      event.title = "Disk almost full";
      event.body = "needle in the body";
      event.labels = {{"team", "storage"}};
      event.fingerprint = events::computeFingerprint(event);
    }
    batch.push_back(event);
  }
  // Two events with the same received time: the id breaks the tie.
  batch.push_back(eventFor(a, "fp-tie", events::EventStatus::kResolved, t0 + 4000));
  REQUIRE(store->recordEvents(a.id, batch).isOk());
  REQUIRE(
      store->recordEvents(b.id, {eventFor(b, "fp-b", events::EventStatus::kFiring, t0)}).isOk());

  store::EventQuery all;
  auto everything = store->queryEvents(a.id, all);
  REQUIRE_MESSAGE(everything.isOk(), everything.status().toString());
  REQUIRE(everything->size() == 6);
  for (std::size_t i = 1; i < everything->size(); ++i) {
    const auto& newer = (*everything)[i - 1];
    const auto& older = (*everything)[i];
    CHECK((newer.event.received_at_ns > older.event.received_at_ns ||
           (newer.event.received_at_ns == older.event.received_at_ns && newer.id > older.id)));
  }
  const store::StoredEvent& billing =
      *std::find_if(everything->begin(), everything->end(),
                    [](const store::StoredEvent& e) { return e.event.service == "billing"; });
  CHECK(billing.event.tenant_id == a.id);
  CHECK(billing.event.source == events::SourceKind::kPagerDuty);
  CHECK(billing.event.severity == logparse::Severity::kWarn);
  CHECK(billing.event.labels ==
        std::vector<std::pair<std::string, std::string>>{{"team", "storage"}});
  CHECK(billing.event.host == "web-1:9100");
  CHECK(billing.event.raw == R"({"status":"firing"})");
  CHECK(billing.decision == store::NoiseDecision::kNew);
  CHECK(!billing.reason.empty());

  auto count = [&](store::EventQuery query) {
    auto page = store->queryEvents(a.id, query);
    REQUIRE_MESSAGE(page.isOk(), page.status().toString());
    return page->size();
  };
  store::EventQuery q;
  q.service = "billing";
  CHECK(count(q) == 1);
  q = {};
  q.severity = "warn";
  CHECK(count(q) == 1);
  q = {};
  q.status = "resolved";
  CHECK(count(q) == 1);
  q = {};
  q.source = "pagerduty";
  CHECK(count(q) == 1);
  q = {};
  q.text = "needle";
  CHECK(count(q) == 1);
  q = {};
  q.text = "Disk almost";
  CHECK(count(q) == 1);
  q = {};
  q.text = "High error";
  CHECK(count(q) == 5);
  q = {};
  q.since_ns = t0 + 1000;
  q.until_ns = t0 + 3000;
  CHECK(count(q) == 2);

  // Keyset pages of 2 cover everything exactly once.
  std::vector<std::string> seen;
  store::EventQuery page_query;
  page_query.limit = 2;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store->queryEvents(a.id, page_query);
    REQUIRE(page.isOk());
    for (const auto& e : *page) {
      seen.push_back(e.id);
    }
    if (page->size() < page_query.limit) {
      break;
    }
    page_query.before_received_at_ns = page->back().event.received_at_ns;
    page_query.before_id = page->back().id;
  }
  CHECK(seen.size() == 6);
  std::vector<std::string> expected;
  for (const auto& e : *everything) {
    expected.push_back(e.id);
  }
  CHECK(seen == expected);

  // Tenant walls: B sees only its own event, A's filters never reach B's rows.
  auto of_b = store->queryEvents(b.id, all);
  REQUIRE(of_b.isOk());
  REQUIRE(of_b->size() == 1);
  CHECK(of_b->front().event.source_dedup_key == "fp-b");
  CHECK(store->eventStats(b.id)->events == 1);
  CHECK(store->eventStats(b.id)->alerts == 1);
  CHECK(store->queryEvents("tnt_missing", all)->empty());
  // Both tenants used "fp-*" style keys: fingerprints include the tenant, alerts never mix.
  CHECK(engine.queryInt("SELECT COUNT(*) FROM events_alerts WHERE tenant_id = $1", b.id) == 1);
}

TEST_CASE_TEMPLATE("events record: concurrent requests for one fingerprint make one alert",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  std::atomic<int> failures{0};
  std::atomic<int> opened{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kPerThread; ++j) {
        auto recorded = store->recordEvents(
            a.id, {eventFor(a, "same", events::EventStatus::kFiring, nowUnixNanos())});
        if (!recorded.isOk()) {
          ++failures;
          continue;
        }
        if (recorded->front().decision == store::NoiseDecision::kNew) {
          ++opened;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(failures.load() == 0);
  CHECK(opened.load() == 1);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM events_alerts WHERE tenant_id = $1", a.id) == 1);
  CHECK(engine.queryInt("SELECT count FROM events_alerts WHERE tenant_id = $1", a.id) ==
        kThreads * kPerThread);
  auto stats = store->eventStats(a.id);
  REQUIRE(stats.isOk());
  CHECK(stats->events == kThreads * kPerThread);
  CHECK(stats->alerts == 1);
}

TEST_CASE_TEMPLATE("events record: the same alerts in opposite orders never deadlock", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  std::vector<std::string> keys;
  for (int i = 0; i < 6; ++i) {
    keys.push_back("alert-" + std::to_string(i));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 15; ++round) {
        std::vector<events::Event> payload;
        for (int i = 0; i < 6; ++i) {
          // Half the threads send the group forwards, half backwards.
          const std::string& key = keys[t % 2 == 0 ? i : 5 - i];
          payload.push_back(eventFor(a, key, events::EventStatus::kFiring, nowUnixNanos()));
        }
        auto recorded = store->recordEvents(a.id, payload);
        if (!recorded.isOk()) {
          ++failures;
          continue;
        }
        // Decisions come back in the payload's order, whatever order the alerts were locked in.
        for (std::size_t i = 0; i < payload.size(); ++i) {
          if ((*recorded)[i].reason.find(payload[i].fingerprint) == std::string::npos) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(failures.load() == 0);  // a deadlock would surface as an Unavailable failure
  CHECK(engine.queryInt("SELECT COUNT(*) FROM events_alerts WHERE tenant_id = $1", a.id) == 6);
  CHECK(engine.queryInt("SELECT SUM(count) FROM events_alerts WHERE tenant_id = $1", a.id) ==
        4 * 15 * 6);
}

TEST_CASE_TEMPLATE("events row-level security: a transaction of tenant A sees none of B's rows",
                   TestType, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  REQUIRE(store->createIntegration(integrationFor(b, "grafana")).isOk());
  REQUIRE(
      store->recordEvents(b.id, {eventFor(b, "fp", events::EventStatus::kFiring, nowUnixNanos())})
          .isOk());
  for (const char* table : {"events_integrations", "events_events", "events_alerts"}) {
    INFO(table);
    // Even without a WHERE clause, and even asking for B's rows by id, A's transaction sees none.
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table, a.id) == 0);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table + " WHERE tenant_id <> $1",
                          a.id) == 0);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table, b.id) == 1);
  }
}
