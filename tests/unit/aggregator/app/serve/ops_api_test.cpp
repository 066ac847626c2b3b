// /readyz and /metrics, called directly and over loopback through the real server.
#include "aggregator/serve/ops_api.h"

#include <doctest/doctest.h>

#include <map>
#include <regex>
#include <set>

#include "aggregator/audit/audit_api.h"
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
