#pragma once

// Noise reduction over the API (handlers run after AuthApi::guarded; they get the caller's
// tenant and principal).
//
//   GET    /v1/suppression-rules          noise.read     limit, cursor
//   POST   /v1/suppression-rules          noise.manage   spec (events/noise_rules.h) → 201
//   DELETE /v1/suppression-rules/{id}     noise.manage
//   GET    /v1/maintenance-windows        noise.read     limit, cursor
//   POST   /v1/maintenance-windows        noise.manage   spec → 201
//   DELETE /v1/maintenance-windows/{id}   noise.manage
//   GET    /v1/alerts                     events.read    status, limit, cursor
//
// Rules and windows carry their state now: active_now, active_until, next_start. Alerts carry
// their real state (the events always move it) and, now, whether a window or rule mutes them
// and whether they flap; when a window ends the alert simply shows its state again.

#include <cstdint>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/events/noise_policies.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

http::Response listNoiseRules(store::Store& store, events::NoiseRuleKind kind,
                              std::string_view tenant_id, const http::Request& request,
                              std::int64_t now_ns);
http::Response createNoiseRule(store::Store& store, audit::AuditRecorder& audit,
                               events::NoisePolicies& policies, events::NoiseRuleKind kind,
                               const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns);
http::Response deleteNoiseRule(store::Store& store, audit::AuditRecorder& audit,
                               events::NoisePolicies& policies, events::NoiseRuleKind kind,
                               const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns);
http::Response listAlerts(store::Store& store, events::NoisePolicies& policies,
                          std::string_view tenant_id, const http::Request& request,
                          std::int64_t now_ns);

}  // namespace faultline::aggregator::api
