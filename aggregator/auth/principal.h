#pragma once

// Who a request acts as, once authenticated.

#include <string>

#include "aggregator/auth/permissions.h"

namespace faultline::aggregator::auth {

struct Principal {
  PrincipalKind kind = PrincipalKind::User;
  std::string id;  // user id, API key id or agent id
  std::string tenant_id;
  Role role = Role::Viewer;  // users and API keys; agents and integrations have none
  /// How the credential came: a session cookie (then unsafe methods needed a CSRF token), a
  /// bearer session token, a JWT, an API key or an agent secret.
  enum class Via : std::uint8_t {
    Cookie,
    SessionToken,
    Jwt,
    ApiKey,
    AgentSecret
  } via = Via::Cookie;
  std::string session_hash;  // sessions only: what logout revokes

  /// "user:<id>", "api_key:<id>", "agent:<id>", "integration:<id>" (audit actors).
  std::string actor() const;
  bool can(Permission permission) const { return allowed(columnFor(kind, role), permission); }
};

}  // namespace faultline::aggregator::auth
