#pragma once

// The AuditRecorder that writes to the Store's hash-chained audit log, and a throttle for
// events an unauthenticated client can cause at will (failed agent authentication), so that a
// flood of bad requests cannot turn into a flood of audit writes competing with ingest.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "aggregator/audit/audit_event.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::audit {

/// Thread-safe. Does not own the store, which must outlive it.
class StoreAuditRecorder final : public AuditRecorder {
 public:
  explicit StoreAuditRecorder(store::Store& store) : store_(store) {}

  /// Appends to the event's chain; fills at_ns with the wall clock when it is 0.
  Status record(const AuditEvent& event) override;

 private:
  store::Store& store_;
};

/// Decides which of many similar failure events get written: the first per key in each window,
/// carrying how many were suppressed since the last one written. Thread-safe.
class AuditThrottle {
 public:
  struct Options {
    std::int64_t window_ns = 60'000'000'000;  // one entry per key per minute at most
    std::size_t max_keys = 10'000;            // beyond: forget every key (bounded memory)
    // Entries per window over all keys: many client addresses (a botnet, an IPv6 range) must
    // not turn into as many writes either.
    std::uint64_t max_total = 120;
  };

  AuditThrottle() : AuditThrottle(Options{}) {}
  explicit AuditThrottle(Options options) : options_(options) {}

  /// True when an event with `key` at `now_ns` should be written; then `*suppressed` is the
  /// number of events with this key dropped since the previous one written.
  bool admit(const std::string& key, std::int64_t now_ns, std::uint64_t* suppressed);

 private:
  struct Window {
    std::int64_t started_ns = 0;
    std::uint64_t suppressed = 0;
  };
  Options options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
  std::int64_t total_started_ns_ = INT64_MIN;
  std::uint64_t total_admitted_ = 0;
};

/// "127.0.0.1:53422" → "127.0.0.1", "[::1]:80" → "::1": the client host a throttle keys on.
std::string clientHost(const std::string& address);

/// Records a failure an unauthenticated client caused (actor "anonymous", system chain) when
/// `throttle` admits it for this client host and action; detail: reason, path and how many
/// were suppressed since the last one written. Ok when throttled away.
Status recordThrottledFailure(AuditRecorder& recorder, AuditThrottle& throttle,
                              const std::string& remote_address, std::string_view path,
                              std::string_view action, std::string_view reason,
                              std::int64_t now_ns);

}  // namespace faultline::aggregator::audit
