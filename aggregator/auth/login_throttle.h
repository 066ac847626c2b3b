#pragma once

// Login throttling against password guessing, per e-mail address and per client address: the
// first `free_failures` failures cost nothing, each further one locks the key for `base_lock`,
// doubling up to `max_lock`. A success clears the e-mail's record. Memory is bounded: beyond
// `max_entries` keys, unlocked ones are dropped first. Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace faultline::aggregator::auth {

struct ThrottleOptions {
  int free_failures = 5;
  std::chrono::milliseconds base_lock{1000};
  std::chrono::milliseconds max_lock{15 * 60 * 1000};
  std::size_t max_entries = 100'000;
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottleOptions options = {});

  /// 0 when `key` may try now, else nanoseconds until it may.
  std::int64_t lockedFor(const std::string& key, std::int64_t now_ns);
  void recordFailure(const std::string& key, std::int64_t now_ns);
  void recordSuccess(const std::string& key);

  /// The keys a login attempt is counted under.
  static std::string emailKey(std::string_view normalized_email);
  /// "1.2.3.4:5678" → "addr:1.2.3.4", "[::1]:80" → "addr:[::1]": the port changes per connection.
  static std::string addressKey(std::string_view remote_address);

 private:
  struct Entry {
    int failures = 0;
    std::int64_t locked_until_ns = 0;
  };
  void evictLocked(std::int64_t now_ns);

  ThrottleOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace faultline::aggregator::auth
