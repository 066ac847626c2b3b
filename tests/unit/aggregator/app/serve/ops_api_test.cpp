// /readyz and /metrics, called directly and over loopback through the real server.
#include "aggregator/serve/ops_api.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "aggregator/audit/audit_api.h"
#include "aggregator/events/event_hub.h"
#include "aggregator/incidents/incident_engine.h"
#include "tests/unit/aggregator/app/test_support.h"
#include "tests/unit/aggregator/http/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

/// Parses Prometheus text: every sample line must be `name{labels} value`, every family
/// declared by # TYPE before its samples. Returns the samples by their full series text.
std::map<std::string, double> parseMetrics(const std::string& text) {
  static const std::regex kSample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? ([-+0-9.eE]+|\+Inf|NaN)$)");
  std::map<std::string, double> samples;
  std::set<std::string> typed;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    REQUIRE(end != std::string::npos);  // the last line ends with \n too
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) {
      continue;
    }
    std::smatch match;
    INFO(line);
    REQUIRE(std::regex_match(line, match, kSample));
    std::string name = match[1];
    bool declared = typed.count(name) != 0;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (!declared && name.size() > s.size() &&
          name.compare(name.size() - s.size(), s.size(), s) == 0) {
        declared = typed.count(name.substr(0, name.size() - s.size())) != 0;
      }
    }
    CHECK(declared);
    samples[line.substr(0, line.rfind(' '))] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  return samples;
}

struct Fixture {
  explicit Fixture(serve::OpsOptions options = {})
      : store(openStore(dir.file("db.sqlite"))),
        recorder(*store),
        api(*store, apiOptions()),
        ops(*store, api, options) {}
  ingest::AgentApiOptions apiOptions() {
    ingest::AgentApiOptions api_options;
    api_options.audit = &recorder;
    return api_options;
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  audit::StoreAuditRecorder recorder;
  ingest::AgentApi api;
  serve::OpsApi ops;
};

}  // namespace

TEST_CASE("readyz: ready with a reachable store below the high-water mark, else 503") {
  Fixture ready;
  http::Response response = ready.ops.handleReady();
  CHECK(response.status == 200);
  CHECK(nlohmann::json::parse(response.body)["status"] == "ready");

  serve::OpsOptions zero;
  zero.ready_max_pending_writes = 0;  // every queue depth is at the mark
  Fixture full(zero);
  response = full.ops.handleReady();
  CHECK(response.status == 503);
  auto body = nlohmann::json::parse(response.body);
  CHECK(body["status"] == "not_ready");
  CHECK(body["reason"].get<std::string>().find("write queue") != std::string::npos);
}

TEST_CASE("metrics: well-formed Prometheus text with every family") {
  Fixture f;
  http::Router router;
  f.ops.addRoutes(router);
  router = f.ops.instrument(std::move(router));
  http::Response response = f.ops.handleMetrics();
  CHECK(response.status == 200);
  CHECK(*responseHeader(response, "Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  auto samples = parseMetrics(response.body);
  for (
      const char* series :
      {"faultline_ingest_batches_total", "faultline_ingest_records_total",
       "faultline_ingest_bytes_total", R"(faultline_auth_failures_total{kind="agent"})",
       "faultline_store_pending_writes", "faultline_tls_handshake_failures_total",
       "faultline_process_uptime_seconds",
       R"(faultline_http_requests_total{route="/readyz",method="GET",status="2xx"})",
       R"(faultline_http_request_duration_seconds_bucket{route="/metrics",method="GET",le="+Inf"})"}) {
    INFO(series);
    CHECK(samples.count(series) == 1);
  }
}

TEST_CASE("metrics: disabled leaves the route out") {
  serve::OpsOptions options;
  options.metrics_enabled = false;
  Fixture f(options);
  http::Router router;
  f.ops.addRoutes(router);
  for (const auto& route : router.routes()) {
    CHECK(route.path != "/metrics");
  }
}

TEST_CASE("ops over loopback: counters move with real requests") {
  Fixture f;
  auto tenant = f.store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  EnrolledAgent agent = enrollThroughApi(*f.store, f.api, tenant->id);

  http::Router router = ingest::buildRouter(f.api);
  f.ops.addRoutes(router);
  http::testing::LoopServer server(f.ops.instrument(std::move(router)), http::ServerLimits{});
  REQUIRE(server.port() > 0);
  f.ops.setTlsFailureSource([&server] { return server.stats().tls_handshake_failures; });

  auto request = [&](const std::string& raw) {
    http::testing::Client client(server.port());
    REQUIRE(client.send(raw));
    auto response = client.readResponse();
    REQUIRE(response.has_value());
    return *response;
  };
  auto scrape = [&] {
    auto response = request("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(response.status == 200);
    return parseMetrics(response.body);
  };
  const std::string ready_2xx =
      R"(faultline_http_requests_total{route="/readyz",method="GET",status="2xx"})";
  const std::string ingest_4xx =
      R"(faultline_http_requests_total{route="/v1/ingest",method="POST",status="4xx"})";
  const std::string ingest_2xx =
      R"(faultline_http_requests_total{route="/v1/ingest",method="POST",status="2xx"})";
  const std::string ready_count =
      R"(faultline_http_request_duration_seconds_count{route="/readyz",method="GET"})";

  auto before = scrape();
  CHECK(before[ready_2xx] == 0);
  CHECK(before["faultline_ingest_batches_total"] == 0);

  auto ready = request("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(ready.status == 200);
  CHECK(nlohmann::json::parse(ready.body)["status"] == "ready");
  auto healthz = request("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(healthz.status == 200);

  std::string batch =
      makeBatch(agent.agent_id, 1, 1, {{"/var/log/a", 1, "hello"}, {"/var/log/a", 2, "world"}});
  auto ingest =
      request("POST /v1/ingest HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + agent.secret +
              "\r\nContent-Type: " + std::string(wire::kBatchContentType) +
              "\r\nContent-Encoding: zstd\r\nContent-Length: " + std::to_string(batch.size()) +
              "\r\n\r\n" + batch);
  CHECK(ingest.status == 200);
  auto refused = request(
      "POST /v1/ingest HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\n"
      "Content-Length: 0\r\n\r\n");
  CHECK(refused.status == 401);

  auto after = scrape();
  CHECK(after[ready_2xx] == 1);
  CHECK(after[ready_count] == 1);
  CHECK(after[ingest_2xx] == 1);
  CHECK(after[ingest_4xx] == 1);
  CHECK(after["faultline_ingest_batches_total"] == 1);
  CHECK(after["faultline_ingest_records_total"] == 2);
  CHECK(after["faultline_ingest_bytes_total"] == static_cast<double>(batch.size()));
  CHECK(after[R"(faultline_auth_failures_total{kind="agent"})"] == 1);
  CHECK(after["faultline_tls_handshake_failures_total"] == 0);
  CHECK(after[R"(faultline_http_requests_total{route="/metrics",method="GET",status="2xx"})"] == 1);
  CHECK(after["faultline_process_uptime_seconds"] > 0);
  CHECK(server.stop() == 0);
}

namespace {

events::Event firingAlert(const std::string& tenant_id, const std::string& service,
                          const std::string& alert, std::int64_t now_ns) {
  events::Event event;
  event.tenant_id = tenant_id;
  event.source = events::SourceKind::kAlertmanager;
  event.integration_id = "int_test";
  event.service = service;
  event.severity = events::Severity::kCritical;
  event.title = alert + " on " + service;
  event.labels = {{"alertname", alert}, {"service", service}};
  event.source_dedup_key = service + "/" + alert;
  event.fingerprint = events::computeFingerprint(event);
  event.occurred_at_ns = now_ns;
  event.received_at_ns = now_ns;
  return event;
}

/// Records the events in the store and hands them to the engine, as the webhook path does.
void recordAndPublish(store::Store& store, incidents::IncidentEngine& engine,
                      const std::string& tenant_id, const std::vector<events::Event>& batch) {
  auto decisions = store.recordEvents(tenant_id, batch);
  REQUIRE_MESSAGE(decisions.isOk(), decisions.status().toString());
  engine.publish(tenant_id, events::storedEvents(batch, *decisions));
}

}  // namespace

TEST_CASE("metrics: the incident engine's families move with correlated events") {
  Fixture f;
  incidents::IncidentEngine engine(*f.store, {});
  f.ops.addMetricText([&engine] { return incidents::metricsText(engine.stats()); });
  auto before = parseMetrics(f.ops.handleMetrics().body);
  CHECK(before["faultline_incident_events_total"] == 0);
  CHECK(before["faultline_incident_latency_seconds_count"] == 0);

  auto tenant = f.store->createTenant("metrics-tenant", nowUnixNanos());
  REQUIRE(tenant.isOk());
  std::int64_t now = nowUnixNanos();
  // Two services, unlike titles: two incidents; the repeats join them.
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now),
                    firingAlert(tenant->id, "ledger", "DiskFull", now)});
  engine.flush();
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now + 1000),
                    firingAlert(tenant->id, "ledger", "DiskFull", now + 1000),
                    firingAlert(tenant->id, "checkout", "HighLatency", now + 2000)});
  engine.flush();

  std::string text = f.ops.handleMetrics().body;
  auto after = parseMetrics(text);
  CHECK(after["faultline_incident_events_total"] == 5);
  CHECK(after["faultline_incident_events_joined_total"] == 5);
  CHECK(after["faultline_incidents_opened_total"] == 2);
  CHECK(after["faultline_incident_write_steps_total"] >= 2);
  CHECK(after["faultline_incident_write_failures_total"] == 0);
  CHECK(after["faultline_incident_events_dropped_total"] == 0);
  CHECK(after["faultline_incident_queue_events"] == 0);
  CHECK(after["faultline_incident_latency_seconds_count"] == 5);
  CHECK(after[R"(faultline_incident_latency_seconds_bucket{le="+Inf"})"] == 5);
  CHECK(after["faultline_incident_latency_seconds_sum"] > 0);
  CHECK(after[R"(faultline_incident_latency_recent_seconds{quantile="0.99"})"] > 0);
  CHECK(after[R"(faultline_incident_latency_recent_seconds{quantile="0.99"})"] >=
        after[R"(faultline_incident_latency_recent_seconds{quantile="0.5"})"]);
  // Buckets are cumulative; no tenant name or id reaches the node's metrics.
  double previous = 0;
  for (double bound : incidents::IncidentEngine::kLatencyBuckets) {
    char le[64];
    std::snprintf(le, sizeof(le), "%.9g", bound);
    double count =
        after["faultline_incident_latency_seconds_bucket{le=\"" + std::string(le) + "\"}"];
    CHECK(count >= previous);
    previous = count;
  }
  CHECK(text.find("metrics-tenant") == std::string::npos);
  CHECK(text.find(tenant->id) == std::string::npos);
}

TEST_CASE("metrics: an incident the knowledge index refuses is counted, the resolve still lands") {
  Fixture f;
  incidents::IncidentEngine engine(*f.store, {});
  f.ops.addMetricText([&engine] { return incidents::metricsText(engine.stats()); });
  auto before = parseMetrics(f.ops.handleMetrics().body);
  REQUIRE(before.count("faultline_knowledge_index_failures_total") == 1);
  CHECK(before["faultline_knowledge_index_failures_total"] == 0);
  auto tenant = f.store->createTenant("index-tenant", nowUnixNanos());
  REQUIRE(tenant.isOk());
  std::int64_t now = nowUnixNanos();
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now)});
  engine.flush();
  auto opened = f.store->listIncidents(tenant->id, {});
  REQUIRE(opened.isOk());
  REQUIRE(opened->size() == 1);
  // Another connection to the same file makes the index refuse every document (a full disk
  // or a broken index looks the same to the engine).
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.dir.file("db.sqlite").c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db,
                        "CREATE TRIGGER refuse_index BEFORE INSERT ON knowledge_documents "
                        "BEGIN SELECT RAISE(ABORT, 'index refused by the test'); END;",
                        nullptr, nullptr, &error);
  CHECK_MESSAGE(rc == SQLITE_OK, (error != nullptr ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  const std::string id = (*opened)[0].id;
  REQUIRE(
      engine
          .setStatus(tenant->id, id, incidents::IncidentStatus::kResolved, "user:test", now + 1000)
          .isOk());
  auto after = parseMetrics(f.ops.handleMetrics().body);
  CHECK(after["faultline_knowledge_index_failures_total"] == 1);
  auto row = f.store->findIncident(tenant->id, id);
  REQUIRE(row.isOk());
  CHECK(row->status == "resolved");
}

TEST_CASE("incident engine: debounced ranking still leaves every incident ranked once drained") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
  incidents::IncidentEngineOptions options;
  options.rerank_interval = std::chrono::hours(1);  // only the forced and drain-end rankings
  options.rerank_events = 1'000'000;
  incidents::IncidentEngine engine(*store, options);
  auto tenant = store->createTenant("rank-tenant", nowUnixNanos());
  REQUIRE(tenant.isOk());
  std::int64_t now = nowUnixNanos();
  recordAndPublish(*store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now)});
  engine.flush();
  auto opened = store->listIncidents(tenant->id, {});
  REQUIRE(opened.isOk());
  REQUIRE(opened->size() == 1);
  // A second service joins (the same alert, now reported by payments) after the opening
  // ranking, in a step that does not force one: the drain-end ranking must include it.
  std::vector<events::Event> more;
  for (int i = 1; i <= 20; ++i) {
    more.push_back(firingAlert(tenant->id, "checkout", "HighErrorRate", now + i * 1000));
  }
  events::Event moved = firingAlert(tenant->id, "payments", "HighErrorRate", now + 30'000);
  moved.source_dedup_key = "checkout/HighErrorRate";
  moved.fingerprint = events::computeFingerprint(moved);
  more.push_back(moved);
  recordAndPublish(*store, engine, tenant->id, more);
  engine.flush();
  auto found = store->findIncident(tenant->id, opened->front().id);
  REQUIRE(found.isOk());
  auto doc = nlohmann::json::parse(found->doc_json);
  std::set<std::string> ranked;
  for (const auto& candidate : doc["candidates"]) {
    ranked.insert(candidate["name"].get<std::string>());
  }
  CHECK(ranked.count("checkout") == 1);
  CHECK(ranked.count("payments") == 1);
}

namespace {

/// The engine's row of the tenant's one incident: its event count as written.
std::uint64_t writtenEventCount(store::Store& store, const std::string& tenant_id,
                                std::string* incident_id) {
  auto rows = store.listIncidents(tenant_id, {});
  REQUIRE(rows.isOk());
  REQUIRE(rows->size() == 1);
  *incident_id = rows->front().id;
  incidents::Incident incident;
  REQUIRE(incidents::Incident::fromDocJson(rows->front().doc_json, &incident).isOk());
  return incident.event_count;
}

}  // namespace

TEST_CASE("incident engine: a large incident's row waits for the rerank tick, its links do not") {
  Fixture f;
  incidents::IncidentEngineOptions options;
  options.large_doc_bytes = 0;  // every row counts as large
  options.rerank_interval = std::chrono::seconds(3);
  options.rerank_events = 1'000'000;
  incidents::IncidentEngine engine(*f.store, options);
  auto tenant = f.store->createTenant("large-docs", nowUnixNanos());
  REQUIRE(tenant.isOk());
  const std::int64_t now = nowUnixNanos();
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now)});
  engine.flush();
  std::string id;
  CHECK(writtenEventCount(*f.store, tenant->id, &id) == 1);

  // Repeats join at once (links), the row is rewritten on the tick, without any flush.
  for (int i = 1; i <= 3; ++i) {
    recordAndPublish(*f.store, engine, tenant->id,
                     {firingAlert(tenant->id, "checkout", "HighErrorRate", now + i * 1000)});
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::size_t links = 0;
  while (links < 4 && std::chrono::steady_clock::now() < deadline) {
    auto listed = f.store->listIncidentEvents(tenant->id, id, 100);
    REQUIRE(listed.isOk());
    links = listed->size();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(links == 4);
  CHECK(writtenEventCount(*f.store, tenant->id, &id) < 4);  // within 3 s of the last ranking
  std::uint64_t written = 0;
  while (written < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    written = writtenEventCount(*f.store, tenant->id, &id);
  }
  CHECK(written == 4);

  // A flush writes what is behind at once.
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now + 9000)});
  engine.flush();
  CHECK(writtenEventCount(*f.store, tenant->id, &id) == 5);
}

TEST_CASE("incident engine: a small incident's row is written with each step") {
  Fixture f;
  incidents::IncidentEngineOptions options;
  options.rerank_interval = std::chrono::hours(1);
  options.rerank_events = 1'000'000;
  incidents::IncidentEngine engine(*f.store, options);
  auto tenant = f.store->createTenant("small-docs", nowUnixNanos());
  REQUIRE(tenant.isOk());
  const std::int64_t now = nowUnixNanos();
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now)});
  std::string id;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::uint64_t written = 0;
  for (int i = 1; i <= 3; ++i) {
    recordAndPublish(*f.store, engine, tenant->id,
                     {firingAlert(tenant->id, "checkout", "HighErrorRate", now + i * 1000)});
  }
  while (written < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto rows = f.store->listIncidents(tenant->id, {});
    REQUIRE(rows.isOk());
    if (!rows->empty()) {
      written = writtenEventCount(*f.store, tenant->id, &id);
    }
  }
  CHECK(written == 4);  // no flush, no tick: an hour's interval
}

// Correlation steps are written without the engine waiting (the next step is correlated while
// the store commits), so a change by hand must wait for the step still open: made after the
// step, it is written after it, and the step's older copy of the row never overwrites it.
TEST_CASE("incident engine: a change by hand right after events is not overwritten by their step") {
  Fixture f;
  incidents::IncidentEngine engine(*f.store, {});
  auto tenant = f.store->createTenant("hand-after-step", nowUnixNanos());
  REQUIRE(tenant.isOk());
  const std::int64_t now = nowUnixNanos();
  recordAndPublish(*f.store, engine, tenant->id,
                   {firingAlert(tenant->id, "checkout", "HighErrorRate", now)});
  engine.flush();
  std::string id;
  REQUIRE(writtenEventCount(*f.store, tenant->id, &id) == 1);
  for (int round = 1; round <= 20; ++round) {
    std::vector<events::Event> batch;
    for (int i = 0; i < 50; ++i) {
      batch.push_back(
          firingAlert(tenant->id, "checkout", "HighErrorRate", now + round * 1'000'000 + i));
    }
    recordAndPublish(*f.store, engine, tenant->id, batch);
    const auto status = round % 2 == 1 ? incidents::IncidentStatus::kAcknowledged
                                       : incidents::IncidentStatus::kTriggered;
    Status changed = engine.setStatus(tenant->id, id, status, "usr_alice", nowUnixNanos());
    REQUIRE_MESSAGE(changed.isOk(), changed.toString());
    engine.flush();
    auto row = f.store->findIncident(tenant->id, id);
    REQUIRE(row.isOk());
    CHECK(row->status == incidents::statusName(status));
    CHECK(writtenEventCount(*f.store, tenant->id, &id) ==
          1 + 50 * static_cast<std::uint64_t>(round));
  }
}
