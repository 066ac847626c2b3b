#include "aggregator/serve/ops_api.h"

#include <cinttypes>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "shared/util/log.h"
#include "shared/util/prometheus_text.h"
#include "shared/util/time.h"

namespace faultline::aggregator::serve {
namespace {

using http::Request;
using http::Response;

/// A Prometheus label value: backslash, double quote and newline escaped.
std::string labelValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using prometheus::family;
using prometheus::number;
using prometheus::sample;

}  // namespace

http::Router HttpMetrics::instrument(http::Router router) {
  http::Router wrapped;
  for (const http::Router::Route& route : router.routes()) {
    routes_.push_back(std::make_unique<RouteCounters>());
    RouteCounters* counters = routes_.back().get();
    counters->method = route.method;
    counters->path = route.path;
    http::Handler inner = route.handler;
    wrapped.add(route.method, route.path,
                [this, counters, inner](Request&& request, http::Respond respond) {
                  const std::int64_t start = monotonicNanos();
                  inner(std::move(request), [this, counters, start, respond](Response response) {
                    observe(*counters, response.status, monotonicNanos() - start);
                    respond(std::move(response));
                  });
                });
  }
  return wrapped;
}

void HttpMetrics::observe(RouteCounters& route, int status, std::int64_t duration_ns) {
  const int status_class = status / 100;
  if (status_class >= 1 && status_class <= 5) {
    route.by_class[static_cast<std::size_t>(status_class - 1)].fetch_add(1,
                                                                         std::memory_order_relaxed);
  }
  const double seconds = static_cast<double>(duration_ns) / 1e9;
  std::size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) {
    ++bucket;
  }
  route.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  route.duration_ns.fetch_add(static_cast<std::uint64_t>(duration_ns < 0 ? 0 : duration_ns),
                              std::memory_order_relaxed);
  route.count.fetch_add(1, std::memory_order_relaxed);
}

std::string HttpMetrics::render() const {
  std::string out;
  family(out, "faultline_http_requests_total", "counter",
         "HTTP requests answered, by route, method and status class.");
  for (const auto& route : routes_) {
    std::string labels = "route=\"" + labelValue(route->path) + "\",method=\"" +
                         labelValue(route->method) + "\",status=\"";
    for (std::size_t c = 0; c < route->by_class.size(); ++c) {
      out += "faultline_http_requests_total{" + labels + std::to_string(c + 1) + "xx\"} " +
             std::to_string(route->by_class[c].load(std::memory_order_relaxed)) + '\n';
    }
  }
  family(out, "faultline_http_request_duration_seconds", "histogram",
         "Time from a request reaching its handler to its response, by route and method.");
  for (const auto& route : routes_) {
    std::string labels =
        "route=\"" + labelValue(route->path) + "\",method=\"" + labelValue(route->method) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += route->buckets[b].load(std::memory_order_relaxed);
      std::string le = b < kBuckets.size() ? number(kBuckets[b]) : "+Inf";
      out += "faultline_http_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " +
             std::to_string(cumulative) + '\n';
    }
    out += "faultline_http_request_duration_seconds_sum{" + labels + "} " +
           number(static_cast<double>(route->duration_ns.load(std::memory_order_relaxed)) / 1e9) +
           '\n';
    // The count is the +Inf bucket by definition; taking it from there keeps them equal.
    out += "faultline_http_request_duration_seconds_count{" + labels + "} " +
           std::to_string(cumulative) + '\n';
  }
  return out;
}

OpsApi::OpsApi(store::Store& store, const ingest::AgentApi& agent_api, OpsOptions options)
    : store_(store),
      agent_api_(agent_api),
      options_(options),
      started_mono_ns_(monotonicNanos()),
      started_unix_ns_(nowUnixNanos()) {}

void OpsApi::addRoutes(http::Router& router) {
  router.add("GET", "/readyz", [this](Request&&, http::Respond respond) {
    Response response;
    try {
      response = handleReady();
    } catch (const std::exception&) {
      response = Response::error(500, "internal", "readiness check failed");
    }
    respond(std::move(response));
  });
  if (options_.metrics_enabled) {
    router.add("GET", "/metrics", [this](Request&&, http::Respond respond) {
      Response response;
      try {
        response = handleMetrics();
      } catch (const std::exception& e) {
        log::error("ops-api", std::string("metrics threw: ") + e.what());
        response = Response::error(500, "internal", "metrics failed");
      }
      respond(std::move(response));
    });
  }
}

Response OpsApi::handleReady() {
  auto notReady = [](const std::string& reason) {
    nlohmann::ordered_json body = {{"status", "not_ready"}, {"reason", reason}};
    Response response = Response::json(503, body.dump());
    response.headers.emplace_back("Retry-After", "1");
    return response;
  };
  Status pinged = store_.ping();
  if (!pinged.isOk()) {
    log::warn("ops-api", "readiness: " + pinged.toString());
    return notReady("store unreachable");
  }
  const std::size_t pending = store_.pendingWrites();
  if (pending >= options_.ready_max_pending_writes) {
    return notReady("store write queue at " + std::to_string(pending) + " (high-water mark " +
                    std::to_string(options_.ready_max_pending_writes) + ")");
  }
  return Response::json(200, R"({"status":"ready"})");
}

Response OpsApi::handleMetrics() {
  std::string out = http_.render();
  const ingest::AgentApi::Stats agents = agent_api_.stats();
  family(out, "faultline_ingest_batches_total", "counter", "Agent batches stored (not resends).");
  sample(out, "faultline_ingest_batches_total", agents.batches);
  family(out, "faultline_ingest_records_total", "counter", "Records in the stored batches.");
  sample(out, "faultline_ingest_records_total", agents.records);
  family(out, "faultline_ingest_bytes_total", "counter",
         "Compressed bytes of the stored batches, as received.");
  sample(out, "faultline_ingest_bytes_total", agents.bytes);
  family(out, "faultline_auth_failures_total", "counter",
         "Requests refused for their credentials, by kind (agent: secret or enrollment token).");
  sample(out, "faultline_auth_failures_total{kind=\"agent\"}", agents.auth_failures);
  for (const auto& [kind, source] : auth_failure_sources_) {
    sample(out, "faultline_auth_failures_total{kind=\"" + labelValue(kind) + "\"}", source());
  }
  family(out, "faultline_store_pending_writes", "gauge", "Store write jobs queued or running.");
  sample(out, "faultline_store_pending_writes", store_.pendingWrites());
  family(out, "faultline_tls_handshake_failures_total", "counter",
         "TLS connections closed before their handshake completed.");
  sample(out, "faultline_tls_handshake_failures_total", tls_failures_ ? tls_failures_() : 0);
  for (const MetricSource& source : metric_sources_) {
    family(out, source.name, source.type, source.help);
    sample(out, source.name, source.read());
  }
  for (const auto& render : metric_texts_) {
    out += render();
  }
  family(out, "faultline_process_uptime_seconds", "gauge", "Seconds since the server started.");
  out += "faultline_process_uptime_seconds " +
         number(static_cast<double>(monotonicNanos() - started_mono_ns_) / 1e9) + '\n';
  family(out, "faultline_process_start_time_seconds", "gauge",
         "Start time of the server, seconds since the Unix epoch.");
  out += "faultline_process_start_time_seconds " +
         number(static_cast<double>(started_unix_ns_) / 1e9) + '\n';
  Response response;
  response.status = 200;
  response.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  response.body = std::move(out);
  return response;
}

}  // namespace faultline::aggregator::serve
