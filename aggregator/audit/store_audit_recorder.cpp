#include "aggregator/audit/store_audit_recorder.h"

#include <climits>
#include <nlohmann/json.hpp>

#include "shared/util/time.h"

namespace faultline::aggregator::audit {

Status StoreAuditRecorder::record(const AuditEvent& event) {
  if (event.at_ns != 0) {
    return store_.appendAudit(event).status();
  }
  AuditEvent stamped = event;
  stamped.at_ns = nowUnixNanos();
  return store_.appendAudit(stamped).status();
}

bool AuditThrottle::admit(const std::string& key, std::int64_t now_ns, std::uint64_t* suppressed) {
  std::lock_guard lock(mutex_);
  if (total_started_ns_ == INT64_MIN || now_ns - total_started_ns_ >= options_.window_ns) {
    total_started_ns_ = now_ns;
    total_admitted_ = 0;
  }
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    if (windows_.size() >= options_.max_keys) {
      windows_.clear();
    }
    // A key never written is due at once (its window "started" long ago).
    it = windows_.emplace(key, Window{INT64_MIN, 0}).first;
  }
  Window& window = it->second;
  const bool due =
      window.started_ns == INT64_MIN || now_ns - window.started_ns >= options_.window_ns;
  if (!due || total_admitted_ >= options_.max_total) {
    ++window.suppressed;
    return false;
  }
  *suppressed = window.suppressed;
  window = Window{now_ns, 0};
  ++total_admitted_;
  return true;
}

std::string clientHost(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    std::size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.find(':') != colon) {
    return address;  // no port, or a bare IPv6 literal
  }
  return address.substr(0, colon);
}

Status recordThrottledFailure(AuditRecorder& recorder, AuditThrottle& throttle,
                              const std::string& remote_address, std::string_view path,
                              std::string_view action, std::string_view reason,
                              std::int64_t now_ns) {
  std::uint64_t suppressed = 0;
  if (!throttle.admit(clientHost(remote_address) + '|' + std::string(action), now_ns,
                      &suppressed)) {
    return Status::ok();
  }
  AuditEvent event;
  event.actor = "anonymous";
  event.action = std::string(action);
  event.outcome = "failure";
  event.client_address = remote_address;
  event.at_ns = now_ns;
  event.detail_json = nlohmann::json{
      {"reason", std::string(reason)},
      {"path", std::string(path)},
      {"suppressed_since_last",
       suppressed}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return recorder.record(event);
}

}  // namespace faultline::aggregator::audit
