#pragma once

// The operator endpoints beside the agent API:
//
//   GET /readyz   → 200 {"status":"ready"} when the store answers a ping and its pending writes
//                   are below the high-water mark, else 503 {"status":"not_ready","reason":..}.
//                   (/healthz stays the liveness check.)
//   GET /metrics  → Prometheus text format 0.0.4: HTTP requests by route, method and status
//                   class, request durations (histogram), ingest batches/records/bytes, agent
//                   auth failures, store pending writes, TLS handshake failures, uptime.
//                   Unauthenticated (scrapers rarely carry credentials); metrics.enabled = false
//                   leaves the route out.
//
// Threads: instrument() and setTlsFailureSource() on the loop thread before serving; the handlers
// and observe() on any thread.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aggregator/http/server.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::serve {

/// Request counters and durations per route. Fixed at instrument() time; lock-free afterwards.
class HttpMetrics {
 public:
  /// Upper bounds (seconds) of the duration histogram's buckets; +Inf is implied.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

  /// Returns `router` with every handler wrapped to count and time its requests. This object
  /// must outlive the returned router.
  http::Router instrument(http::Router router);

  /// Prometheus text for the HTTP families.
  std::string render() const;

 private:
  struct RouteCounters {
    std::string method;
    std::string path;
    std::array<std::atomic<std::uint64_t>, 5> by_class{};  // 1xx .. 5xx
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<std::uint64_t> duration_ns{0};
    std::atomic<std::uint64_t> count{0};
  };
  void observe(RouteCounters& route, int status, std::int64_t duration_ns);

  std::vector<std::unique_ptr<RouteCounters>> routes_;
};

struct OpsOptions {
  /// /readyz answers 503 at or above this many queued store writes.
  std::size_t ready_max_pending_writes = 768;
  bool metrics_enabled = true;
};

/// /readyz and /metrics. Does not own what it reads; everything must outlive the server.
class OpsApi {
 public:
  OpsApi(store::Store& store, const ingest::AgentApi& agent_api, OpsOptions options);

  /// Adds /readyz, and /metrics when enabled.
  void addRoutes(http::Router& router);
  /// Wraps the finished router for request metrics (see HttpMetrics::instrument).
  http::Router instrument(http::Router router) { return http_.instrument(std::move(router)); }
  /// Where /metrics reads TLS handshake failures (the Server's stats; a function, so that this
  /// library needs no socket code). Set before serving; unset reads 0.
  void setTlsFailureSource(std::function<std::uint64_t()> source) {
    tls_failures_ = std::move(source);
  }
  /// Another source of refused credentials for faultline_auth_failures_total{kind=...} (the
  /// agent API's are always there, as kind "agent"). Before serving.
  void addAuthFailureSource(std::string kind, std::function<std::uint64_t()> source) {
    auth_failure_sources_.emplace_back(std::move(kind), std::move(source));
  }

  /// One more sample for /metrics, read at each scrape: `type` is "counter" or "gauge". Before
  /// serving (live streams: the server's and the event hub's counters).
  void addMetricSource(std::string name, std::string type, std::string help,
                       std::function<std::uint64_t()> source) {
    metric_sources_.push_back(
        {std::move(name), std::move(type), std::move(help), std::move(source)});
  }

  /// Whole families for /metrics (HELP, TYPE and samples), rendered at each scrape: for sources
  /// with labels or histograms (the incident engine's). Before serving.
  void addMetricText(std::function<std::string()> render) {
    metric_texts_.push_back(std::move(render));
  }

  http::Response handleReady();
  http::Response handleMetrics();

 private:
  store::Store& store_;
  const ingest::AgentApi& agent_api_;
  OpsOptions options_;
  HttpMetrics http_;
  std::function<std::uint64_t()> tls_failures_;
  std::vector<std::pair<std::string, std::function<std::uint64_t()>>> auth_failure_sources_;
  struct MetricSource {
    std::string name;
    std::string type;
    std::string help;
    std::function<std::uint64_t()> read;
  };
  std::vector<MetricSource> metric_sources_;
  std::vector<std::function<std::string()>> metric_texts_;
  std::int64_t started_mono_ns_;
  std::int64_t started_unix_ns_;
};

}  // namespace faultline::aggregator::serve
