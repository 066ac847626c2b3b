#pragma once

// The HTTP endpoints agents use: enrollment, batch ingest, and the health check.
//
//   GET  /healthz            → 200 {"status":"ok"} when the store answers
//   POST /v1/agents/enroll   → 201 {"agent_id","secret","tenant","tenant_id"}
//   POST /v1/ingest          → 200 {"agent","epoch","seq","records"}  (same bytes on resend)
//   POST /v1/agents/heartbeat → 200 {"status":"ok"}  (the agent's status document, JSON)

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "aggregator/audit/audit_event.h"
#include "aggregator/audit/store_audit_recorder.h"
#include "aggregator/auth/credential_cache.h"
#include "aggregator/events/log_events.h"
#include "aggregator/http/rate_limiter.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::ingest {

struct AgentApiOptions {
  wire::Limits batch_limits;  // max_compressed_bytes also caps the request body
  /// How long a successful secret lookup is trusted without asking the store again.
  std::chrono::milliseconds auth_cache_ttl{5'000};
  std::size_t auth_cache_max_entries = 10'000;
  /// Per client address (every agent route but /healthz), per agent and per tenant (ingest and
  /// heartbeat, after authentication). Null: no limits. Must outlive the AgentApi.
  const http::RateLimits* rate_limits = nullptr;
  /// Where enrollments and failed agent authentication are recorded (not owned; must outlive
  /// the api). Null: nothing is recorded (tests of other behaviour only; serve always sets it).
  audit::AuditRecorder* audit = nullptr;
  /// Derives log events from each newly stored batch (not owned; must outlive the api).
  /// Null: none are derived.
  events::LogEventDeriver* log_events = nullptr;
};

/// Handlers for the agent endpoints. Thread-safe: the handlers run concurrently on the HTTP
/// server's worker threads and block on the store. Does not own the store, which must outlive
/// it (and the server that calls it).
class AgentApi {
 public:
  AgentApi(store::Store& store, AgentApiOptions options);

  /// Each handler calls `respond` exactly once, on the calling thread, and never throws.
  void health(http::Request&& request, const http::Respond& respond);
  void enroll(http::Request&& request, const http::Respond& respond);
  void ingest(http::Request&& request, const http::Respond& respond);
  void heartbeat(http::Request&& request, const http::Respond& respond);

  http::Response handleHealth(const http::Request& request);
  http::Response handleEnroll(const http::Request& request);
  http::Response handleIngest(const http::Request& request);
  http::Response handleHeartbeat(const http::Request& request);

  /// Counters for /metrics, readable from any thread.
  struct Stats {
    std::uint64_t batches = 0;        // batches stored (duplicates not counted)
    std::uint64_t records = 0;        // records in those batches
    std::uint64_t bytes = 0;          // compressed bytes of those batches
    std::uint64_t auth_failures = 0;  // agent requests refused for their credentials
  };
  Stats stats() const;

 private:
  /// The agent behind a Bearer secret; NotFound/Unauthenticated when none.
  Result<store::AgentIdentity> authenticate(const http::Request& request);
  /// A 429 when a rate limit refuses the request; `identity` null before authentication.
  std::optional<http::Response> rateLimited(const http::Request& request,
                                            const store::AgentIdentity* identity) const;
  /// Counts a refused credential and records it in the system chain, at most once per client
  /// host and minute (so a flood of bad requests costs no more than one write a minute).
  void recordAuthFailure(const http::Request& request, std::string_view action,
                         std::string_view reason);

  store::Store& store_;
  AgentApiOptions options_;
  auth::CredentialCache<store::AgentIdentity> auth_cache_;  // by secret hash
  audit::AuditThrottle failure_throttle_;
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> auth_failures_{0};
};

/// The routes of the aggregator's agent API, bound to `api` (which must outlive the router).
http::Router buildRouter(AgentApi& api);

}  // namespace faultline::aggregator::ingest
