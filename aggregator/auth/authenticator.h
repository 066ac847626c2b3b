#pragma once

// Turns a request into a Principal. Credentials, in order:
//   Authorization: Bearer fls_...   a session token (API clients; no CSRF check)
//   Authorization: Bearer flk_...   an API key (role from the key; "integration" keys are
//                                   integration principals)
//   Authorization: Bearer fas_...   an agent secret
//   Authorization: Bearer a.b.c     a JWT access token (jwt.h)
//   Cookie: faultline_session=fls_... a browser session: every unsafe method (POST, PUT, PATCH,
//                                   DELETE) must carry X-CSRF-Token matching the session's.
// Failures never say which part was wrong: Unauthenticated (→ 401) for any bad, unknown,
// expired or revoked credential; PermissionDenied (→ 403) for a cookie without the CSRF token.

#include <chrono>
#include <cstdint>
#include <string>

#include "aggregator/auth/credential_cache.h"
#include "aggregator/auth/jwt.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::auth {

inline constexpr std::string_view kSessionCookie = "faultline_session";
inline constexpr std::string_view kSessionPrefix = "fls_";
inline constexpr std::string_view kApiKeyPrefix = "flk_";
inline constexpr std::string_view kAgentSecretPrefix = "fas_";
/// The API-key role that makes an integration principal instead of a tenant role.
inline constexpr std::string_view kIntegrationRole = "integration";
/// Bearer tokens and cookies longer than this are refused unparsed.
inline constexpr std::size_t kMaxCredentialBytes = 4096;

struct AuthenticatorOptions {
  /// How long a session, API-key or agent-secret lookup is reused without asking the store
  /// (credential_cache.h says what that trusts). Zero: every request asks the store.
  std::chrono::milliseconds credential_cache_ttl{5'000};
  std::size_t credential_cache_max_entries = 10'000;  // per kind of credential
};

/// Thread-safe. Does not own the store or keys, which must outlive it.
class Authenticator {
 public:
  Authenticator(store::Store& store, JwtKeys& jwt, AuthenticatorOptions options = {});

  /// Unauthenticated, PermissionDenied (CSRF), or Unavailable/ResourceExhausted (store busy).
  Result<Principal> authenticate(const http::Request& request, std::int64_t now_ns);

  /// The session token from the Cookie header, or "" (exposed for logout and tests).
  static std::string sessionCookie(const http::Request& request);

  /// Forgets every cached credential lookup: called after any change on this node that can
  /// take a right away (revocation, logout, role change, member removal).
  void forgetCachedCredentials();

 private:
  Result<Principal> fromSession(std::string_view token, Principal::Via via, std::int64_t now_ns,
                                const http::Request& request);
  Result<Principal> fromApiKey(std::string_view token, std::int64_t now_ns);
  Result<Principal> fromAgentSecret(std::string_view token);

  store::Store& store_;
  JwtKeys& jwt_;
  CredentialCache<store::Session> sessions_;
  CredentialCache<store::ApiKey> api_keys_;
  CredentialCache<store::AgentIdentity> agents_;
};

/// The uniform 401: the same body whatever was wrong.
http::Response unauthenticatedResponse();

}  // namespace faultline::aggregator::auth
