#include "aggregator/auth/login_throttle.h"

#include <algorithm>

namespace faultline::aggregator::auth {

LoginThrottle::LoginThrottle(ThrottleOptions options) : options_(options) {}

std::int64_t LoginThrottle::lockedFor(const std::string& key, std::int64_t now_ns) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.locked_until_ns <= now_ns) {
    return 0;
  }
  return it->second.locked_until_ns - now_ns;
}

void LoginThrottle::recordFailure(const std::string& key, std::int64_t now_ns) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= options_.max_entries && entries_.find(key) == entries_.end()) {
    evictLocked(now_ns);
  }
  Entry& entry = entries_[key];
  entry.failures = std::min(entry.failures + 1, 1 << 20);
  const int over = entry.failures - options_.free_failures;
  if (over <= 0) {
    return;
  }
  const std::int64_t base_ns = std::chrono::nanoseconds(options_.base_lock).count();
  const std::int64_t max_ns = std::chrono::nanoseconds(options_.max_lock).count();
  std::int64_t lock_ns = base_ns;
  for (int i = 1; i < over && lock_ns < max_ns; ++i) {
    lock_ns *= 2;
  }
  entry.locked_until_ns = now_ns + std::min(lock_ns, max_ns);
}

void LoginThrottle::recordSuccess(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

void LoginThrottle::evictLocked(std::int64_t now_ns) {
  // Unlocked keys first; when every key is locked (an attack from everywhere), the oldest
  // locks go, so the table never grows past max_entries.
  std::erase_if(entries_, [&](const auto& item) { return item.second.locked_until_ns <= now_ns; });
  while (entries_.size() >= options_.max_entries && !entries_.empty()) {
    auto oldest =
        std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
          return a.second.locked_until_ns < b.second.locked_until_ns;
        });
    entries_.erase(oldest);
  }
}

std::string LoginThrottle::emailKey(std::string_view normalized_email) {
  return "email:" + std::string(normalized_email);
}

std::string LoginThrottle::addressKey(std::string_view remote_address) {
  std::size_t colon = remote_address.rfind(':');
  std::string_view host =
      colon == std::string_view::npos ? remote_address : remote_address.substr(0, colon);
  return "addr:" + std::string(host);
}

}  // namespace faultline::aggregator::auth
