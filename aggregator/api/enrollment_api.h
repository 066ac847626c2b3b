#pragma once

// Agent enrollment tokens over the API (agents.enroll: owners and admins), the way
// `faultline-aggregator admin enrollment-token create` makes them (admin::issueEnrollmentToken).
//
//   POST   /v1/enrollment-tokens        {"ttl"?: "24h"} (15m .. 30d)
//                                       → 201 {"id","prefix","token","created_at","expires_at"}:
//                                         the token, shown once (only its hash is stored)
//   GET    /v1/enrollment-tokens        ?limit=1..500 (default 50), newest first
//                                       → 200 {"enrollment_tokens":[{"id","prefix","created_at",
//                                          "expires_at","state","used_at","used_by_agent"}]}
//                                         state: unused, used or expired; never the token
//   DELETE /v1/enrollment-tokens/{id}   revokes an unused token (it can no longer enroll);
//                                       404 when the tenant has no unused token with this id
// Creating and revoking are audited (enrollment_token.create / .revoke, target
// "enrollment_token:<prefix>"), where prefix is the first 12 characters of the token's hash.

#include <cstdint>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

http::Response createEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                     const auth::Principal& principal, const http::Request& request,
                                     std::int64_t now_ns);
http::Response listEnrollmentTokens(store::Store& store, std::string_view tenant_id,
                                    const http::Request& request, std::int64_t now_ns);
http::Response revokeEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                     const auth::Principal& principal, const http::Request& request,
                                     std::int64_t now_ns);

}  // namespace faultline::aggregator::api
