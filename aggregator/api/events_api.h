#pragma once

// The tenant's integrations and events over the API (the handlers run after AuthApi::guarded
// has authenticated and authorized the caller; they get its tenant and principal).
//
//   GET    /v1/integrations          integrations.list
//   POST   /v1/integrations          integrations.create: {kind, name?, mapping?, rps?, burst?}
//                                    → 201 with the key and receiver path, shown once
//   DELETE /v1/integrations/{id}     integrations.revoke
//   GET    /v1/events                events.read: since, until, service, severity, status,
//                                    source, q (text in title or body), limit, cursor
//   GET    /v1/events/stats          events.read: {"events","alerts","open_alerts",
//                                    "compression_ratio"}
//   GET    /v1/events/{id}           events.read: one event as the listing shows it (with its
//                                    raw payload and noise decision); 404 for an id the
//                                    tenant does not have

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

inline constexpr std::size_t kMaxIntegrationBodyBytes = 32 * 1024;

http::Response listIntegrations(store::Store& store, std::string_view tenant_id);
http::Response createIntegration(store::Store& store, audit::AuditRecorder& audit,
                                 const auth::Principal& principal, const http::Request& request,
                                 std::int64_t now_ns);
http::Response revokeIntegration(store::Store& store, audit::AuditRecorder& audit,
                                 const auth::Principal& principal, const http::Request& request,
                                 std::int64_t now_ns);
http::Response listEvents(store::Store& store, std::string_view tenant_id,
                          const http::Request& request);
http::Response eventStats(store::Store& store, std::string_view tenant_id);
http::Response getEvent(store::Store& store, std::string_view tenant_id,
                        const http::Request& request);

/// One event as GET /v1/events lists it, as JSON on one line (invalid UTF-8 replaced): also
/// the data of the live stream.
std::string eventJsonLine(const store::StoredEvent& stored);
/// Reads the filters service, severity, status, source and q (text) of an event listing into
/// `query`; a 400 response when one is bad.
std::optional<http::Response> parseEventFilters(const http::Request& request,
                                                store::EventQuery* query);

}  // namespace faultline::aggregator::api
