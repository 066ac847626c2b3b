#pragma once

// The audit entry of a change an authenticated principal made through the API: who (the
// principal), from where (the request's address), what (action, target, detail).

#include <cstdint>
#include <string>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "shared/util/log.h"

namespace faultline::aggregator::audit {

/// Records the change durably. False, logged under `component`, when there is no recorder or
/// the entry could not be written: the change must then not be reported as done.
inline bool recordPrincipalChange(AuditRecorder* recorder, std::string_view component,
                                  const auth::Principal& principal, const http::Request& request,
                                  std::string action, std::string target, std::string detail_json,
                                  std::int64_t now_ns) {
  if (recorder == nullptr) {
    log::error(component, "no audit recorder configured: refusing " + action);
    return false;
  }
  AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = std::move(action);
  event.target = std::move(target);
  event.client_address = request.remote_address;
  event.detail_json = std::move(detail_json);
  event.at_ns = now_ns;
  Status recorded = recorder->record(event);
  if (!recorded.isOk()) {
    log::error(component, "audit failed: " + recorded.toString());
    return false;
  }
  return true;
}

}  // namespace faultline::aggregator::audit
