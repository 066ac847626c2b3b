// The Store contract for events (migration 6): integrations, recorded events with their noise
// decision, alerts folded by fingerprint, queries and the compression figure, on every engine
// (store_engines.h). Every tenant-scoped call is also tried across tenants.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
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

TEST_CASE_TEMPLATE("noise rules: stored per tenant, deleted once, never across tenants", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::NoiseRule rule{"nr_" + crypto::randomHex(12),
                        a.id,
                        "maintenance",
                        "db upgrade ü",
                        R"({"name":"db upgrade ü","matchers":[{"name":"service","value":"db"}]})",
                        "user:u1",
                        nowUnixNanos(),
                        0};
  REQUIRE(store->createNoiseRule(rule).isOk());
  CHECK(store->createNoiseRule(rule).code() == Errc::NotFound);  // duplicate id
  store::NoiseRule orphan = rule;
  orphan.id = "nr_orphan";
  orphan.tenant_id = "tnt_missing";
  CHECK(store->createNoiseRule(orphan).code() == Errc::NotFound);

  auto listed = store->listNoiseRules(a.id);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().name == rule.name);
  CHECK(listed->front().spec_json == rule.spec_json);
  CHECK(listed->front().kind == "maintenance");
  CHECK(listed->front().created_by == "user:u1");
  CHECK(store->listNoiseRules(b.id)->empty());

  // Another tenant's delete is an unknown id and changes nothing.
  CHECK(store->deleteNoiseRule(b.id, rule.id, nowUnixNanos()).code() == Errc::NotFound);
  CHECK(store->listNoiseRules(a.id)->size() == 1);
  REQUIRE(store->deleteNoiseRule(a.id, rule.id, nowUnixNanos()).isOk());
  CHECK(store->deleteNoiseRule(a.id, rule.id, nowUnixNanos()).code() == Errc::NotFound);
  CHECK(store->listNoiseRules(a.id)->empty());
  // Kept for the events that name it.
  CHECK(engine.queryInt("SELECT COUNT(*) FROM events_noise_rules WHERE tenant_id = $1", a.id) == 1);
}

TEST_CASE_TEMPLATE("noise decisions: mutes and flapping stored with their rule, filtered, counted",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  using events::EventStatus;
  using store::NoiseDecision;
  const std::int64_t t0 = 1'790'000'000'000'000'000;
  const std::int64_t minute = 60'000'000'000;

  store::RecordContext context;
  context.flap = store::FlapPolicy{10 * minute, 4};
  context.mutes = {store::Mute{NoiseDecision::kMaintenance, "nr_window", "in maintenance window"},
                   std::nullopt};
  auto muted = store->recordEvents(a.id,
                                   {eventFor(a, "fp-1", EventStatus::kFiring, t0),
                                    eventFor(a, "fp-2", EventStatus::kFiring, t0 + 1)},
                                   context);
  REQUIRE_MESSAGE(muted.isOk(), muted.status().toString());
  CHECK(decisionsOf(*muted) ==
        std::vector<NoiseDecision>{NoiseDecision::kMaintenance, NoiseDecision::kNew});
  CHECK((*muted)[0].rule_id == "nr_window");
  CHECK((*muted)[1].rule_id.empty());

  // fp-1 flaps: resolve, fire, resolve within the window (with the first firing, 4 changes),
  // one call per event so the changes go through the stored row.
  context.mutes.clear();
  std::vector<NoiseDecision> flapping;
  for (int i = 1; i <= 3; ++i) {
    auto recorded = store->recordEvents(
        a.id,
        {eventFor(a, "fp-1", i % 2 == 1 ? EventStatus::kResolved : EventStatus::kFiring,
                  t0 + i * minute)},
        context);
    REQUIRE_MESSAGE(recorded.isOk(), recorded.status().toString());
    flapping.push_back(recorded->front().decision);
  }
  CHECK(flapping == std::vector<NoiseDecision>{NoiseDecision::kResolved, NoiseDecision::kNew,
                                               NoiseDecision::kFlapping});

  // Stored and filterable by decision, with the rule.
  store::EventQuery query;
  query.decision = "maintenance";
  auto in_window = store->queryEvents(a.id, query);
  REQUIRE(in_window.isOk());
  REQUIRE(in_window->size() == 1);
  CHECK(in_window->front().rule_id == "nr_window");
  CHECK(in_window->front().decision == NoiseDecision::kMaintenance);
  CHECK(in_window->front().reason.find("first event of alert") != std::string::npos);
  query.decision = "flapping";
  CHECK(store->queryEvents(a.id, query)->size() == 1);
  CHECK(store->queryEvents(b.id, query)->empty());

  auto stats = store->eventStats(a.id);
  REQUIRE(stats.isOk());
  CHECK(stats->events == 5);
  std::map<std::string, std::int64_t> counts(stats->decisions.begin(), stats->decisions.end());
  CHECK(counts.size() == 7);
  CHECK(counts["maintenance"] == 1);
  CHECK(counts["new"] == 2);
  CHECK(counts["resolved"] == 1);
  CHECK(counts["flapping"] == 1);
  CHECK(counts["suppressed"] == 0);

  // Alerts, most recently touched first, with the event that last touched them.
  store::AlertQuery alerts_query;
  alerts_query.limit = 1;
  auto first_page = store->listAlerts(a.id, alerts_query);
  REQUIRE_MESSAGE(first_page.isOk(), first_page.status().toString());
  REQUIRE(first_page->size() == 1);
  const store::AlertSummary& fp1 = first_page->front();
  CHECK(fp1.state.status == "resolved");
  CHECK(fp1.state.flapping);
  CHECK(fp1.state.changes.size() == 4);
  CHECK(fp1.state.count == 4);
  CHECK(fp1.last_event.decision == NoiseDecision::kFlapping);
  CHECK(fp1.last_event.event.title == "High error rate on fp-1");
  CHECK(fp1.last_event.event.labels.size() == 2);
  CHECK(fp1.last_event.event.raw.empty());  // left out of listings
  alerts_query.before_last_seen_ns = fp1.last_seen_ns;
  alerts_query.before_fingerprint = fp1.fingerprint;
  auto second_page = store->listAlerts(a.id, alerts_query);
  REQUIRE(second_page.isOk());
  REQUIRE(second_page->size() == 1);
  CHECK(second_page->front().state.status == "firing");
  CHECK_FALSE(second_page->front().state.flapping);
  alerts_query = store::AlertQuery{};
  alerts_query.status = "firing";
  CHECK(store->listAlerts(a.id, alerts_query)->size() == 1);
  CHECK(store->listAlerts(b.id, store::AlertQuery{})->empty());

  // A mute per event or none; only suppression and maintenance mute.
  context.mutes = {std::nullopt, std::nullopt};
  CHECK(
      store->recordEvents(a.id, {eventFor(a, "fp-3", EventStatus::kFiring, t0)}, context).code() ==
      Errc::InvalidArgument);
  context.mutes = {store::Mute{NoiseDecision::kNew, "nr_x", "not a mute"}};
  CHECK(
      store->recordEvents(a.id, {eventFor(a, "fp-3", EventStatus::kFiring, t0)}, context).code() ==
      Errc::InvalidArgument);
}

TEST_CASE_TEMPLATE("noise decisions: an alert that keeps resolving by itself soon is transient",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  using events::EventStatus;
  using store::NoiseDecision;
  const std::int64_t t0 = 1'790'000'000'000'000'000;
  const std::int64_t minute = 60'000'000'000;
  store::RecordContext context;  // default policies: flapping 4 in 15m; transient 3 in 24h, 5m
  // One call per event, so each decision reads the alert row the previous one wrote.
  auto record = [&](const store::Tenant& tenant, const std::string& key, EventStatus status,
                    std::int64_t at) {
    auto recorded = store->recordEvents(tenant.id, {eventFor(tenant, key, status, at)}, context);
    REQUIRE_MESSAGE(recorded.isOk(), recorded.status().toString());
    return recorded->front();
  };
  // Three episodes half an hour apart (never flapping), each resolved 2 minutes after firing.
  auto episodes = [&](const std::string& key, std::int64_t start, std::int64_t lasting) {
    for (int i = 0; i < 3; ++i) {
      const std::int64_t fired = start + i * 30 * minute;
      CHECK(record(a, key, EventStatus::kFiring, fired).decision == NoiseDecision::kNew);
      CHECK(record(a, key, EventStatus::kResolved, fired + lasting).decision ==
            NoiseDecision::kResolved);
    }
  };
  episodes("fp-short", t0, 2 * minute);
  const std::int64_t fourth = t0 + 90 * minute;
  store::EventDecision transient = record(a, "fp-short", EventStatus::kFiring, fourth);
  CHECK(transient.decision == NoiseDecision::kTransient);
  CHECK_MESSAGE(transient.reason.find("resolved by itself within 5m 3 times in the last 24h") !=
                    std::string::npos,
                transient.reason);
  // Its repeats stay transient until it has fired for 5 minutes, then count as usual.
  CHECK(record(a, "fp-short", EventStatus::kFiring, fourth + 2 * minute).decision ==
        NoiseDecision::kTransient);
  CHECK(record(a, "fp-short", EventStatus::kFiring, fourth + 6 * minute).decision ==
        NoiseDecision::kDeduplicated);
  CHECK(record(a, "fp-short", EventStatus::kResolved, fourth + 7 * minute).decision ==
        NoiseDecision::kResolved);

  // Episodes that lasted longer than 5 minutes do not count.
  episodes("fp-long", t0, 8 * minute);
  CHECK(record(a, "fp-long", EventStatus::kFiring, t0 + 90 * minute).decision ==
        NoiseDecision::kNew);
  // Nor do episodes older than the window.
  episodes("fp-old", t0, 2 * minute);
  CHECK(record(a, "fp-old", EventStatus::kFiring, t0 + 60 * minute + 25 * 60 * minute).decision ==
        NoiseDecision::kNew);
  // Another tenant's alert of the same name has its own history.
  CHECK(record(b, "fp-short", EventStatus::kFiring, fourth).decision == NoiseDecision::kNew);
  // Off: 0 episodes.
  context.transient.episodes = 0;
  episodes("fp-off", t0, 2 * minute);
  CHECK(record(a, "fp-off", EventStatus::kFiring, fourth).decision == NoiseDecision::kNew);

  store::EventQuery query;
  query.decision = "transient";
  CHECK(store->queryEvents(a.id, query)->size() == 2);
  CHECK(store->queryEvents(b.id, query)->empty());
  auto stats = store->eventStats(a.id);
  REQUIRE(stats.isOk());
  std::map<std::string, std::int64_t> counts(stats->decisions.begin(), stats->decisions.end());
  CHECK(counts["transient"] == 2);
}

TEST_CASE_TEMPLATE("events find one: raw payload and decision, never another tenant's", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  const std::int64_t t0 = 1'790'000'000'000'000'000;
  store::RecordContext context;
  context.mutes = {store::Mute{store::NoiseDecision::kSuppressed, "nr_quiet", "suppressed"}};
  auto recorded =
      store->recordEvents(a.id, {eventFor(a, "fp-one", events::EventStatus::kFiring, t0)}, context);
  REQUIRE_MESSAGE(recorded.isOk(), recorded.status().toString());
  const std::string id = recorded->front().event_id;

  auto found = store->findEvent(a.id, id);
  REQUIRE_MESSAGE(found.isOk(), found.status().toString());
  CHECK(found->id == id);
  CHECK(found->event.raw == R"({"status":"firing"})");
  CHECK(found->event.title == "High error rate on fp-one");
  CHECK(found->decision == store::NoiseDecision::kSuppressed);
  CHECK(found->rule_id == "nr_quiet");
  CHECK(found->event.received_at_ns == t0);

  CHECK(store->findEvent(b.id, id).code() == Errc::NotFound);
  CHECK(store->findEvent(a.id, "evt_missing").code() == Errc::NotFound);
  CHECK(store->findEvent("tnt_missing", id).code() == Errc::NotFound);
}

// SQLite lists alerts through an index on the minute of their last activity and orders the
// rows within a minute (migration 19): the pages must still follow last_seen exactly, across
// minutes, with alerts that fire again in the same minute or a later one, and ties on
// last_seen broken by fingerprint.
TEST_CASE_TEMPLATE("alerts list: most recent activity first across minutes, re-fires and ties",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  const std::int64_t t0 = 1'790'000'000'000'000'000;
  const std::int64_t second = 1'000'000'000;
  // (alert, received at): first firings spread over four minutes, then re-fires: in the same
  // minute, in a later one, and two alerts touched at the very same instant.
  std::vector<std::pair<std::string, std::int64_t>> touches;
  for (int i = 0; i < 24; ++i) {
    touches.emplace_back("fp-" + std::to_string(i), t0 + i * 10 * second);
  }
  touches.emplace_back("fp-3", t0 + 40 * second);    // same minute as its first firing
  touches.emplace_back("fp-1", t0 + 185 * second);   // a later minute
  touches.emplace_back("fp-20", t0 + 185 * second);  // tie with fp-1
  touches.emplace_back("fp-7", t0 + 61 * second);    // received late: last_seen goes back
  std::map<std::string, std::int64_t> last_seen;
  for (const auto& [alert, at] : touches) {
    auto recorded =
        store->recordEvents(a.id, {eventFor(a, alert, events::EventStatus::kFiring, at)});
    REQUIRE_MESSAGE(recorded.isOk(), recorded.status().toString());
    last_seen[alert] = at;  // the latest event received sets it, even an older one
  }
  // The store's own fingerprints break ties; expected: last_seen descending, then fingerprint.
  std::vector<std::pair<std::int64_t, std::string>> expected;
  for (const auto& [alert, at] : last_seen) {
    expected.emplace_back(at, eventFor(a, alert, events::EventStatus::kFiring, at).fingerprint);
  }
  std::sort(expected.rbegin(), expected.rend());

  std::vector<std::pair<std::int64_t, std::string>> listed;
  store::AlertQuery query;
  query.limit = 5;
  for (int page = 0; page < 10; ++page) {
    auto alerts = store->listAlerts(a.id, query);
    REQUIRE_MESSAGE(alerts.isOk(), alerts.status().toString());
    if (alerts->empty()) {
      break;
    }
    for (const store::AlertSummary& alert : *alerts) {
      listed.emplace_back(alert.last_seen_ns, alert.fingerprint);
    }
    query.before_last_seen_ns = alerts->back().last_seen_ns;
    query.before_fingerprint = alerts->back().fingerprint;
  }
  CHECK(listed == expected);
  CHECK(store->listAlerts(b.id, store::AlertQuery{})->empty());
}
