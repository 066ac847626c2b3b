// Token buckets: burst then refill, per-key isolation, the 429 shape, bounded memory, and many
// threads on one key never letting through more than the bucket allows.
#include "aggregator/http/rate_limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace faultline::aggregator::http {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

TEST_CASE("rate limiter: a burst passes, the next is refused until a token refills") {
  RateLimiter limiter("tenant", {.per_second = 2, .burst = 3});
  const std::int64_t t0 = 10 * kSecond;
  for (int i = 0; i < 3; ++i) {
    CHECK(limiter.take("t1", t0).allowed);
  }
  RateDecision refused = limiter.take("t1", t0);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after == std::chrono::milliseconds(500));  // 1 token at 2/s
  CHECK_FALSE(limiter.take("t1", t0 + kSecond / 4).allowed);
  CHECK(limiter.take("t1", t0 + kSecond / 2).allowed);
  // Another key has its own bucket.
  CHECK(limiter.take("t2", t0).allowed);
  // A long pause refills to the burst, not beyond it.
  const std::int64_t later = t0 + 100 * kSecond;
  int passed = 0;
  while (limiter.take("t1", later).allowed) {
    ++passed;
  }
  CHECK(passed == 3);
}

TEST_CASE("rate limiter: a disabled spec never refuses") {
  RateLimiter limiter("principal", {});
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(limiter.take("k", 0).allowed);
  }
  CHECK(limiter.size() == 0);
  RateLimits limits = RateLimits::create({}, {.per_second = 1, .burst = 1}, {});
  CHECK(limits.client_address == nullptr);
  CHECK(limits.principal != nullptr);
  CHECK(limits.tenant == nullptr);
}

TEST_CASE("rate limiter: 429 with Retry-After rounded up and a body naming the limit") {
  RateLimiter limiter("client_address", {.per_second = 0.5, .burst = 1});
  REQUIRE(limiter.take("10.0.0.1", 0).allowed);
  RateDecision refused = limiter.take("10.0.0.1", 0);
  REQUIRE_FALSE(refused.allowed);
  Response response = rateLimitedResponse(limiter, refused);
  CHECK(response.status == 429);
  std::string retry_after;
  for (const auto& [name, value] : response.headers) {
    if (name == "Retry-After") {
      retry_after = value;
    }
  }
  CHECK(retry_after == "2");
  auto body = nlohmann::json::parse(response.body);
  CHECK(body["error"]["code"] == "rate_limited");
  CHECK(body["error"]["limit"] == "client_address");
  CHECK(body["error"]["retry_after_ms"] == 2000);
  // Sub-second waits still say at least one second.
  RateLimiter fast("tenant", {.per_second = 100, .burst = 1});
  REQUIRE(fast.take("t", 0).allowed);
  Response quick = rateLimitedResponse(fast, fast.take("t", 0));
  CHECK(quick.headers.back().second == "1");
}

TEST_CASE("rate limiter: memory stays bounded under many distinct keys") {
  RateLimiter limiter("client_address", {.per_second = 1, .burst = 5}, /*max_keys=*/1600);
  for (int i = 0; i < 50'000; ++i) {
    limiter.take("10.0." + std::to_string(i), i);  // each key spends one token: not full
  }
  CHECK(limiter.size() <= 1600);
  CHECK(limiter.size() > 0);
  // The newest keys kept their state.
  const std::string newest = "10.0." + std::to_string(49'999);
  for (int i = 0; i < 4; ++i) {
    CHECK(limiter.take(newest, 50'000).allowed);
  }
  CHECK_FALSE(limiter.take(newest, 50'000).allowed);
}

TEST_CASE("rate limiter: threads racing on one key get exactly the burst") {
  RateLimiter limiter("principal", {.per_second = 1e-6, .burst = 1000});
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.take("agent:1", kSecond).allowed) {
          allowed.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(allowed.load() == 1000);
}

TEST_CASE("rate limiter: client addresses are limited by host, not by port") {
  CHECK(clientHost("127.0.0.1:53422") == "127.0.0.1");
  CHECK(clientHost("[::1]:8080") == "::1");
  CHECK(clientHost("::1") == "::1");
  CHECK(clientHost("10.1.2.3") == "10.1.2.3");
  CHECK(clientHost("") == "");
}

}  // namespace
}  // namespace faultline::aggregator::http
