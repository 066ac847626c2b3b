#pragma once

// A short-lived, bounded map from a credential's hash to what the store said about it, so
// that a busy API client or agent costs one store lookup per TTL instead of one per request.
//
// What it trusts and for how long: a cached record is still checked on every use (expiry,
// revocation time), so only changes made in the store by *another* aggregator node can go
// unseen, for at most the TTL. Changes made through this node (key revocation, logout, role
// change, member removal) call clear() at once. A TTL of zero turns the cache off.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace faultline::aggregator::auth {

template <typename Value>
class CredentialCache {
 public:
  CredentialCache(std::chrono::nanoseconds ttl, std::size_t max_entries)
      : ttl_ns_(ttl.count()), max_entries_(max_entries) {}

  bool enabled() const { return ttl_ns_ > 0 && max_entries_ > 0; }

  /// The value stored under `key`, unless it is older than the TTL. `now_ns` is monotonic.
  std::optional<Value> get(const std::string& key, std::int64_t now_ns) {
    if (!enabled()) {
      return std::nullopt;
    }
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      return std::nullopt;
    }
    if (it->second.expires_ns <= now_ns) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  /// Stores `value` for a TTL from `now_ns`.
  void put(const std::string& key, Value value, std::int64_t now_ns) {
    if (!enabled()) {
      return;
    }
    std::lock_guard lock(mutex_);
    if (entries_.size() >= max_entries_ && entries_.count(key) == 0) {
      entries_.clear();  // crude but bounded: a miss only costs one indexed read
    }
    entries_.insert_or_assign(key, Entry{std::move(value), now_ns + ttl_ns_});
  }

  /// Replaces the value under `key` without extending its life (e.g. a new last-used time).
  void update(const std::string& key, Value value) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      it->second.value = std::move(value);
    }
  }

  void clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  struct Entry {
    Value value;
    std::int64_t expires_ns = 0;
  };
  const std::int64_t ttl_ns_;
  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace faultline::aggregator::auth
