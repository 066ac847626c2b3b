#pragma once

// An AuditRecorder that writes each event as one log line (shared/util/log). It stands in where
// the store-backed, hash-chained recorder (branch i4-audit) is not wired yet; the integrator
// swaps it. It never fails, so it never blocks the change it records.

#include <nlohmann/json.hpp>

#include "aggregator/audit/audit_event.h"
#include "shared/util/log.h"

namespace faultline::aggregator::audit {

class LogAuditRecorder final : public AuditRecorder {
 public:
  Status record(const AuditEvent& event) override {
    nlohmann::json line = {{"tenant_id", event.tenant_id}, {"actor", event.actor},
                           {"action", event.action},       {"target", event.target},
                           {"outcome", event.outcome},     {"client", event.client_address},
                           {"at_ns", event.at_ns}};
    nlohmann::json detail = nlohmann::json::parse(event.detail_json, nullptr, false);
    line["detail"] = detail.is_discarded() ? nlohmann::json(event.detail_json) : detail;
    log::info("audit", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return Status::ok();
  }
};

}  // namespace faultline::aggregator::audit
