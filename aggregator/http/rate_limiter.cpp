#include "aggregator/http/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace faultline::aggregator::http {
namespace {

constexpr std::size_t kShards = 16;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

struct Bucket {
  double tokens = 0;
  std::int64_t last_ns = 0;
};

std::int64_t monotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct RateLimiter::Shard {
  std::mutex mutex;
  std::unordered_map<std::string, Bucket, StringHash, std::equal_to<>> buckets;
};

RateLimiter::RateLimiter(std::string scope, RateLimitSpec spec, std::size_t max_keys)
    : scope_(std::move(scope)),
      spec_(spec),
      max_keys_per_shard_(std::max<std::size_t>(1, max_keys / kShards)),
      shards_(std::make_unique<Shard[]>(kShards)) {
  if (spec_.burst < 1) {
    spec_.burst = 1;
  }
}

RateLimiter::~RateLimiter() = default;

RateDecision RateLimiter::take(std::string_view key) {
  return take(key, monotonicNs());
}

RateDecision RateLimiter::take(std::string_view key, std::int64_t now_ns) {
  if (!spec_.enabled()) {
    return {};
  }
  const double per_ns = spec_.per_second / 1e9;
  auto refill = [&](Bucket& bucket) {
    if (now_ns > bucket.last_ns) {
      bucket.tokens = std::min(
          spec_.burst, bucket.tokens + static_cast<double>(now_ns - bucket.last_ns) * per_ns);
      bucket.last_ns = now_ns;
    }
  };

  Shard& shard = shards_[StringHash{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_keys_per_shard_) {
      // Full buckets carry no state: forget them first.
      for (auto entry = shard.buckets.begin(); entry != shard.buckets.end();) {
        refill(entry->second);
        entry = entry->second.tokens >= spec_.burst ? shard.buckets.erase(entry) : std::next(entry);
      }
      if (shard.buckets.size() >= max_keys_per_shard_) {
        std::vector<std::int64_t> touched;
        touched.reserve(shard.buckets.size());
        for (const auto& entry : shard.buckets) {
          touched.push_back(entry.second.last_ns);
        }
        auto middle = touched.begin() + static_cast<std::ptrdiff_t>(touched.size() / 2);
        std::nth_element(touched.begin(), middle, touched.end());
        const std::int64_t cutoff = *middle;
        std::erase_if(shard.buckets,
                      [&](const auto& entry) { return entry.second.last_ns <= cutoff; });
      }
    }
    it = shard.buckets.emplace(std::string(key), Bucket{spec_.burst, now_ns}).first;
  }
  Bucket& bucket = it->second;
  refill(bucket);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return {};
  }
  const double wait_ms = std::ceil((1 - bucket.tokens) / spec_.per_second * 1000.0);
  RateDecision refused;
  refused.allowed = false;
  refused.retry_after =
      std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(wait_ms)));
  return refused;
}

std::size_t RateLimiter::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].buckets.size();
  }
  return total;
}

RateLimits RateLimits::create(RateLimitSpec client_address, RateLimitSpec principal,
                              RateLimitSpec tenant) {
  RateLimits limits;
  if (client_address.enabled()) {
    limits.client_address = std::make_unique<RateLimiter>("client_address", client_address);
  }
  if (principal.enabled()) {
    limits.principal = std::make_unique<RateLimiter>("principal", principal);
  }
  if (tenant.enabled()) {
    limits.tenant = std::make_unique<RateLimiter>("tenant", tenant);
  }
  return limits;
}

std::optional<Response> RateLimits::admit(std::string_view remote_address,
                                          std::string_view principal_key,
                                          std::string_view tenant_id) const {
  const std::pair<RateLimiter*, std::string_view> checks[] = {
      {client_address.get(), clientHost(remote_address)},
      {principal.get(), principal_key},
      {tenant.get(), tenant_id},
  };
  for (const auto& [limiter, key] : checks) {
    if (limiter == nullptr || key.empty()) {
      continue;
    }
    RateDecision decision = limiter->take(key);
    if (!decision.allowed) {
      return rateLimitedResponse(*limiter, decision);
    }
  }
  return std::nullopt;
}

Response rateLimitedResponse(const RateLimiter& limiter, const RateDecision& decision) {
  const std::int64_t ms = decision.retry_after.count();
  const std::int64_t seconds = std::max<std::int64_t>(1, (ms + 999) / 1000);
  nlohmann::json body = {{"error",
                          {{"code", "rate_limited"},
                           {"message", "too many requests for this " + limiter.scope() +
                                           "; retry after " + std::to_string(seconds) + " s"},
                           {"limit", limiter.scope()},
                           {"retry_after_ms", ms}}}};
  Response response = Response::json(429, body.dump());
  response.headers.emplace_back("Retry-After", std::to_string(seconds));
  return response;
}

std::string_view clientHost(std::string_view remote_address) {
  if (!remote_address.empty() && remote_address.front() == '[') {
    const std::size_t close = remote_address.find(']');
    return close == std::string_view::npos ? remote_address : remote_address.substr(1, close - 1);
  }
  const std::size_t colon = remote_address.rfind(':');
  // One colon: IPv4 "host:port". More: a bare IPv6 address without port.
  if (colon != std::string_view::npos && remote_address.find(':') == colon) {
    return remote_address.substr(0, colon);
  }
  return remote_address;
}

}  // namespace faultline::aggregator::http
