#pragma once

// The identity endpoints. Every route but login and invitation acceptance authenticates
// (authenticator.h) and checks exactly one Permission from the matrix (permissions.h); ids of
// another tenant answer 404 like ids that do not exist. Every authentication event and every
// change goes to the AuditRecorder.
//
//   POST   /v1/auth/login           {email, password, tenant?} → 200 + Set-Cookie
//   POST   /v1/auth/logout          revokes the session
//   GET    /v1/auth/me              who the credentials are
//   GET    /v1/tenants              the tenants the caller may switch to (users: every membership)
//   POST   /v1/auth/token           a short-lived JWT access token (sessions only)
//   POST   /v1/api-keys             {name, role, ttl?} → 201 {id, key, ...} (key shown once)
//   GET    /v1/api-keys
//   DELETE /v1/api-keys/{id}        revoke
//   GET    /v1/members
//   PUT    /v1/members/{user_id}    {role}
//   DELETE /v1/members/{user_id}
//   POST   /v1/invitations          {email, role} → 201 {token, ...} (token shown once)
//   POST   /v1/invitations/accept   {token, password}

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "aggregator/audit/audit_event.h"
#include "aggregator/audit/store_audit_recorder.h"
#include "aggregator/auth/authenticator.h"
#include "aggregator/auth/jwt.h"
#include "aggregator/auth/login_throttle.h"
#include "aggregator/auth/password.h"
#include "aggregator/http/rate_limiter.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::auth {

struct AuthApiOptions {
  std::chrono::seconds session_ttl{12 * 3600};
  std::chrono::seconds invitation_ttl{7 * 24 * 3600};
  /// Secure on the session cookie. Only tests over plain loopback turn it off.
  bool secure_cookie = true;
  std::size_t max_body_bytes = 64 * 1024;
  /// Per client address before authentication (login included), per principal and tenant
  /// after it. Null: no limits. Must outlive the API.
  const http::RateLimits* rate_limits = nullptr;
  AuthenticatorOptions authenticator;
};

/// Thread-safe: handlers run concurrently on the server's worker threads and block on the store
/// and on argon2. Owns nothing it is given; all of it must outlive the API and its router.
class AuthApi {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix nanoseconds; tests move time

  AuthApi(store::Store& store, audit::AuditRecorder& audit, const PasswordHasher& passwords,
          JwtKeys& jwt, LoginThrottle& throttle, AuthApiOptions options, Clock clock = {});

  http::Response login(const http::Request& request);
  http::Response logout(const http::Request& request);
  /// POST /v1/auth/switch-tenant {"tenant": name}: a session of a user who is also a member of
  /// that tenant is swapped for a session there, without the password again. The old session
  /// is revoked; the new one ends when the old one would have (a switch never extends a
  /// session). Audited in both tenants (auth.switch_tenant).
  http::Response switchTenant(const http::Request& request);
  http::Response me(const http::Request& request);
  http::Response tenants(const http::Request& request);
  http::Response token(const http::Request& request);
  http::Response createApiKey(const http::Request& request);
  http::Response listApiKeys(const http::Request& request);
  http::Response revokeApiKey(const http::Request& request);
  http::Response listMembers(const http::Request& request);
  http::Response setMemberRole(const http::Request& request);
  http::Response removeMember(const http::Request& request);
  http::Response invite(const http::Request& request);
  http::Response acceptInvitation(const http::Request& request);

  Authenticator& authenticator() { return authenticator_; }

  /// Rate-limits (client address, then principal and tenant), authenticates, checks
  /// `permission`, then runs `body`; answers 401/403/429/503 itself. Every authenticated route
  /// of the aggregator goes through here, the identity routes and the others alike.
  http::Response guarded(const http::Request& request, Permission permission,
                         const std::function<http::Response(const Principal&)>& body);

 private:
  /// The client-address rate limit, asked before any credential is looked at (a 429 or nullopt).
  std::optional<http::Response> limitAddress(const http::Request& request) const {
    return options_.rate_limits == nullptr
               ? std::nullopt
               : options_.rate_limits->admit(request.remote_address, {}, {});
  }
  /// A refused credential or CSRF token, in the system chain, throttled per client host.
  void recordRefusal(const http::Request& request, std::string_view action,
                     std::string_view reason);
  /// A new session for `user` in `membership`'s tenant until `expires_at_ns`, audited there as
  /// `action` (reverted when that fails); the answer login and switchTenant give, with the
  /// cookie and the CSRF token.
  http::Response openSession(const http::Request& request, const std::string& user_id,
                             const std::string& email, const store::Membership& membership,
                             std::int64_t now_ns, std::int64_t expires_at_ns,
                             const std::string& action, const std::string& detail_json);
  /// Records an event; false (and logged) when the recorder failed.
  bool audited(const http::Request& request, const std::string& tenant_id, const std::string& actor,
               const std::string& action, const std::string& target, const std::string& outcome,
               const std::string& detail_json = "{}");

  store::Store& store_;
  audit::AuditRecorder& audit_;
  // Refusals an anonymous client can cause at will are written at most once a minute per
  // client host and action (see audit::AuditThrottle).
  audit::AuditThrottle refusal_throttle_;
  const PasswordHasher& passwords_;
  JwtKeys& jwt_;
  LoginThrottle& throttle_;
  AuthApiOptions options_;
  Clock clock_;
  Authenticator authenticator_;
};

/// Adds the identity routes to `router`, bound to `api` (which must outlive the router).
void addAuthRoutes(http::Router& router, AuthApi& api);

}  // namespace faultline::aggregator::auth
