// Login throttling: free failures, then locks that double up to the cap; bounded memory.
#include "aggregator/auth/login_throttle.h"

#include <doctest/doctest.h>

using faultline::aggregator::auth::LoginThrottle;
using faultline::aggregator::auth::ThrottleOptions;

namespace {
constexpr std::int64_t kSec = 1'000'000'000;
}

TEST_CASE("throttle: five free failures, then 1 s doubling up to 15 min") {
  LoginThrottle throttle;
  const std::string key = LoginThrottle::emailKey("alice@example.com");
  std::int64_t now = 1000 * kSec;
  for (int i = 0; i < 5; ++i) {
    CHECK(throttle.lockedFor(key, now) == 0);
    throttle.recordFailure(key, now);
  }
  CHECK(throttle.lockedFor(key, now) == 0);
  throttle.recordFailure(key, now);  // 6th
  CHECK(throttle.lockedFor(key, now) == 1 * kSec);
  now += kSec;
  CHECK(throttle.lockedFor(key, now) == 0);
  throttle.recordFailure(key, now);  // 7th
  CHECK(throttle.lockedFor(key, now) == 2 * kSec);
  throttle.recordFailure(key, now);  // 8th
  CHECK(throttle.lockedFor(key, now) == 4 * kSec);
  for (int i = 0; i < 40; ++i) {
    throttle.recordFailure(key, now);
  }
  CHECK(throttle.lockedFor(key, now) == 15 * 60 * kSec);
  // Other keys are not affected; a success clears the key.
  CHECK(throttle.lockedFor(LoginThrottle::emailKey("bob@example.com"), now) == 0);
  throttle.recordSuccess(key);
  CHECK(throttle.lockedFor(key, now) == 0);
}

TEST_CASE("throttle: client addresses are keyed without their port") {
  CHECK(LoginThrottle::addressKey("10.0.0.1:5000") == "addr:10.0.0.1");
  CHECK(LoginThrottle::addressKey("10.0.0.1:6000") == "addr:10.0.0.1");
  CHECK(LoginThrottle::addressKey("[::1]:443") == "addr:[::1]");
  CHECK(LoginThrottle::addressKey("") == "addr:");
}

TEST_CASE("throttle: the table never grows past max_entries") {
  ThrottleOptions options;
  options.max_entries = 100;
  options.free_failures = 0;
  LoginThrottle throttle(options);
  const std::int64_t now = 1000 * kSec;
  for (int i = 0; i < 1000; ++i) {
    throttle.recordFailure("k" + std::to_string(i), now);
  }
  // The most recent keys are still locked; the oldest were dropped to stay within bounds.
  CHECK(throttle.lockedFor("k999", now) > 0);
  int locked = 0;
  for (int i = 0; i < 1000; ++i) {
    locked += throttle.lockedFor("k" + std::to_string(i), now) > 0 ? 1 : 0;
  }
  CHECK(locked <= 100);
}
