// The credential cache on its own: time to live, updates that keep the expiry, the size bound,
// clear(), and a zero TTL that turns it off.
#include "aggregator/auth/credential_cache.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using faultline::aggregator::auth::CredentialCache;

namespace {
constexpr std::int64_t kMsNs = 1'000'000;
}

TEST_CASE("credential cache: entries live for the TTL, updates keep their expiry") {
  CredentialCache<std::string> cache(std::chrono::milliseconds(100), 10);
  REQUIRE(cache.enabled());
  cache.put("h1", "first", 0);
  CHECK(cache.get("h1", 99 * kMsNs) == "first");
  cache.update("h1", "touched");
  CHECK(cache.get("h1", 99 * kMsNs) == "touched");
  CHECK_FALSE(cache.get("h1", 100 * kMsNs).has_value());  // expired: and dropped
  CHECK(cache.size() == 0);
  cache.update("h1", "late");  // no entry: nothing is created
  CHECK_FALSE(cache.get("h1", 0).has_value());
}

TEST_CASE("credential cache: bounded, cleared on demand, off with a zero TTL") {
  CredentialCache<int> cache(std::chrono::seconds(5), 3);
  for (int i = 0; i < 3; ++i) {
    cache.put("k" + std::to_string(i), i, 0);
  }
  CHECK(cache.size() == 3);
  cache.put("k0", 10, 0);  // replacing an entry does not count as a new one
  CHECK(cache.size() == 3);
  CHECK(cache.get("k0", 0) == 10);
  cache.put("k3", 3, 0);  // full: everything else goes
  CHECK(cache.size() == 1);
  CHECK(cache.get("k3", 0) == 3);
  cache.clear();
  CHECK_FALSE(cache.get("k3", 0).has_value());

  CredentialCache<int> off(std::chrono::milliseconds(0), 10);
  CHECK_FALSE(off.enabled());
  off.put("k", 1, 0);
  CHECK_FALSE(off.get("k", 0).has_value());
}
