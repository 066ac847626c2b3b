#pragma once

// Token-bucket rate limits keyed by a string: a tenant id, a principal ("agent:<id>",
// "api_key:<id>"), a client address. A bucket holds up to `burst` tokens and refills at
// `per_second`; a request takes one. When the bucket is empty the request is refused with the
// time until a token is back, which the HTTP layer turns into 429 + Retry-After.
//
// Thread-safe: handlers on every worker thread ask at once, so keys are spread over shards with
// a mutex each. Memory is bounded by max_keys: a bucket that has refilled is the same as no
// bucket, so full ones are dropped first; if a shard is still over its share, the least recently
// used half goes (those keys start again with a full bucket: lenient, never a lock-out).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aggregator/http/server.h"

namespace faultline::aggregator::http {

struct RateLimitSpec {
  double per_second = 0;  // 0: no limit
  double burst = 0;       // bucket size; at least 1 when the limit is on
  bool enabled() const { return per_second > 0; }
};

struct RateDecision {
  bool allowed = true;
  /// When refused: how long until one token is back (at least 1 ms).
  std::chrono::milliseconds retry_after{0};
};

class RateLimiter {
 public:
  /// `scope` names the limit in the 429 body: "client_address", "principal", "tenant", ...
  RateLimiter(std::string scope, RateLimitSpec spec, std::size_t max_keys = 100'000);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Takes one token from `key`'s bucket at monotonic time `now_ns`.
  RateDecision take(std::string_view key, std::int64_t now_ns);
  /// Same, now.
  RateDecision take(std::string_view key);

  const std::string& scope() const { return scope_; }
  const RateLimitSpec& spec() const { return spec_; }
  /// Buckets currently held (for tests and metrics).
  std::size_t size() const;

 private:
  struct Shard;
  std::string scope_;
  RateLimitSpec spec_;
  std::size_t max_keys_per_shard_;
  std::unique_ptr<Shard[]> shards_;
};

/// The limits the aggregator applies to its API. A null limiter pointer anywhere means "off".
struct RateLimits {
  std::unique_ptr<RateLimiter> client_address;  // before authentication, every /v1 request
  std::unique_ptr<RateLimiter> principal;       // after authentication
  std::unique_ptr<RateLimiter> tenant;          // after authentication

  /// Builds the limiters whose spec is enabled.
  static RateLimits create(RateLimitSpec client_address, RateLimitSpec principal,
                           RateLimitSpec tenant);

  /// Asks each limit in turn (address, principal, tenant); an empty key skips that limit. The
  /// first refusal comes back as a 429 response; nullopt when every limit lets the request in.
  std::optional<Response> admit(std::string_view remote_address, std::string_view principal_key,
                                std::string_view tenant_id) const;
};

/// 429 with `Retry-After` in whole seconds (rounded up, at least 1) and the body
/// {"error":{"code":"rate_limited","message":"...","limit":"<scope>","retry_after_ms":N}}.
Response rateLimitedResponse(const RateLimiter& limiter, const RateDecision& decision);

/// The address part of "host:port" / "[v6]:port" (the whole text when it has no port): clients
/// are limited by address, not by connection.
std::string_view clientHost(std::string_view remote_address);

}  // namespace faultline::aggregator::http
