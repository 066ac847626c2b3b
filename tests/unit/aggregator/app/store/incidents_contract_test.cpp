// The Store contract for incidents (migration 10) on every engine: rows replaced whole, event
// links with their reasons (first reason kept), merges and splits moving links, the timeline,
// keyset listing, correlation rules; every call tried across tenants.
#include <doctest/doctest.h>

#include "aggregator/events/event.h"
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

store::IncidentRow incidentRow(const store::Tenant& tenant, const std::string& id,
                               std::int64_t first_ns) {
  store::IncidentRow row;
  row.id = id;
  row.tenant_id = tenant.id;
  row.status = "triggered";
  row.severity = "critical";
  row.title = "db down";
  row.first_event_ns = first_ns;
  row.last_event_ns = first_ns + 10;
  row.opened_at_ns = first_ns + 20;
  row.updated_at_ns = first_ns + 20;
  row.doc_json = R"({"event_count":2})";
  return row;
}

std::vector<std::string> recordTwo(store::Store& store, const store::Tenant& tenant) {
  std::vector<events::Event> batch;
  for (int i = 0; i < 2; ++i) {
    events::Event event;
    event.tenant_id = tenant.id;
    event.source = events::SourceKind::kAlertmanager;
    event.service = "db";
    event.title = "alert " + std::to_string(i);
    event.source_dedup_key = event.title;
    event.occurred_at_ns = 100 + i;
    event.received_at_ns = 100 + i;
    event.fingerprint = events::computeFingerprint(event);
    batch.push_back(event);
  }
  auto decisions = store.recordEvents(tenant.id, batch);
  REQUIRE(decisions.isOk());
  return {(*decisions)[0].event_id, (*decisions)[1].event_id};
}

}  // namespace

TEST_CASE_TEMPLATE("incidents store: rows, links, moves, timeline, rules, tenant walls", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  std::vector<std::string> events_a = recordTwo(*store, a);

  store::IncidentWrite write;
  write.upserts = {incidentRow(a, "inc_1", 1000), incidentRow(a, "inc_2", 2000)};
  write.links = {{"inc_1", events_a[0], 100, R"({"rule":"opened"})"},
                 {"inc_1", events_a[1], 101, R"({"rule":"service","key":"db"})"}};
  write.timeline = {{"inc_1", 5, "system", "opened", R"({"title":"db down"})"}};
  REQUIRE(store->writeIncidents(a.id, write).isOk());

  // Replaced whole; a link written again keeps its first reason.
  store::IncidentWrite again;
  store::IncidentRow changed = incidentRow(a, "inc_1", 900);
  changed.status = "acknowledged";
  changed.doc_json = R"({"event_count":3,"assignee":"alice"})";
  again.upserts = {changed};
  again.links = {{"inc_1", events_a[0], 100, R"({"rule":"graph"})"}};
  REQUIRE(store->writeIncidents(a.id, again).isOk());
  auto found = store->findIncident(a.id, "inc_1");
  REQUIRE(found.isOk());
  CHECK(found->status == "acknowledged");
  CHECK(found->first_event_ns == 900);
  CHECK(found->doc_json == changed.doc_json);
  auto links = store->listIncidentEvents(a.id, "inc_1", 100);
  REQUIRE(links.isOk());
  REQUIRE(links->size() == 2);
  CHECK(links->front().event_id == events_a[0]);
  CHECK(links->front().reason_json == R"({"rule":"opened"})");

  // Newest first event first, keyset pages, status filter.
  store::IncidentQuery query;
  query.limit = 1;
  auto page = store->listIncidents(a.id, query);
  REQUIRE(page.isOk());
  REQUIRE(page->size() == 1);
  CHECK(page->front().id == "inc_2");
  query.before_first_event_ns = page->front().first_event_ns;
  query.before_id = page->front().id;
  page = store->listIncidents(a.id, query);
  REQUIRE(page.isOk());
  REQUIRE(page->size() == 1);
  CHECK(page->front().id == "inc_1");
  store::IncidentQuery acknowledged;
  acknowledged.status = "acknowledged";
  CHECK(store->listIncidents(a.id, acknowledged)->size() == 1);

  // A merge moves every link; an unlink removes one.
  store::IncidentWrite merge;
  merge.moves = {{"inc_1", "inc_2"}};
  merge.timeline = {{"inc_2", 6, "user:u1", "merged", R"({"from":"inc_1"})"}};
  REQUIRE(store->writeIncidents(a.id, merge).isOk());
  CHECK(store->listIncidentEvents(a.id, "inc_1", 100)->empty());
  CHECK(store->listIncidentEvents(a.id, "inc_2", 100)->size() == 2);
  store::IncidentWrite unlink;
  unlink.unlinks = {{"inc_2", events_a[1], 101, ""}};
  REQUIRE(store->writeIncidents(a.id, unlink).isOk());
  CHECK(store->listIncidentEvents(a.id, "inc_2", 100)->size() == 1);
  // Links to a known incident, then one to a missing incident: the whole write is refused
  // (each incident is checked once per write, whatever came before it).
  store::IncidentWrite partly_missing;
  partly_missing.links = {{"inc_2", events_a[1], 102, "{}"},
                          {"inc_2", events_a[0], 103, "{}"},
                          {"inc_missing", events_a[1], 104, "{}"}};
  CHECK(store->writeIncidents(a.id, partly_missing).code() == Errc::NotFound);
  CHECK(store->listIncidentEvents(a.id, "inc_2", 100)->size() == 1);
  auto timeline = store->listIncidentTimeline(a.id, "inc_1");
  REQUIRE(timeline.isOk());
  REQUIRE(timeline->size() == 1);
  CHECK(timeline->front().kind == "opened");

  // Events by id: the tenant's only.
  auto events = store->findEvents(a.id, {events_a[0], events_a[1], "evt_unknown"});
  REQUIRE(events.isOk());
  CHECK(events->size() == 2);
  CHECK(store->findEvents(b.id, events_a)->empty());

  // Rules.
  CHECK(store->findCorrelationRules(a.id).value().empty());
  REQUIRE(store->setCorrelationRules(a.id, R"({"window":"10m"})", 7).isOk());
  REQUIRE(store->setCorrelationRules(a.id, R"({"window":"15m"})", 8).isOk());
  CHECK(store->findCorrelationRules(a.id).value() == R"({"window":"15m"})");
  CHECK(store->findCorrelationRules(b.id).value().empty());
  CHECK(store->setCorrelationRules("tnt_missing", "{}", 9).code() == Errc::NotFound);

  // Tenant B sees none of A's incidents and cannot write into them.
  CHECK(store->listIncidents(b.id, {})->empty());
  CHECK(store->findIncident(b.id, "inc_1").status().code() == Errc::NotFound);
  CHECK(store->listIncidentEvents(b.id, "inc_2", 100)->empty());
  CHECK(store->listIncidentTimeline(b.id, "inc_1")->empty());
  store::IncidentWrite cross;
  cross.links = {{"inc_2", events_a[1], 101, "{}"}};
  CHECK(store->writeIncidents(b.id, cross).code() == Errc::NotFound);
  store::IncidentWrite cross_timeline;
  cross_timeline.timeline = {{"inc_2", 9, "user:x", "comment", "{}"}};
  CHECK(store->writeIncidents(b.id, cross_timeline).code() == Errc::NotFound);
  store::IncidentWrite cross_row;
  cross_row.upserts = {incidentRow(a, "inc_9", 5)};
  CHECK(store->writeIncidents(b.id, cross_row).code() == Errc::InvalidArgument);
  store::IncidentWrite cross_move;
  cross_move.moves = {{"inc_2", "inc_1"}};
  CHECK(store->writeIncidents(b.id, cross_move).code() == Errc::NotFound);
  CHECK(store->listIncidentEvents(a.id, "inc_2", 100)->size() == 1);
  CHECK(store->listIncidentTimeline(a.id, "inc_2")->size() == 1);
  // An unlink that does not know the event's time still removes the link.
  store::IncidentWrite unlink_untimed;
  unlink_untimed.unlinks = {{"inc_2", events_a[0], 0, ""}};
  REQUIRE(store->writeIncidents(a.id, unlink_untimed).isOk());
  CHECK(store->listIncidentEvents(a.id, "inc_2", 100)->empty());
}
