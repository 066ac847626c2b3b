#include "aggregator/auth/auth_api.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::auth {
namespace {
using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::int64_t kNsPerSec = 1'000'000'000;
// Sessions and invitations dead (expired, revoked, accepted) for longer than this are deleted;
// until then an old invitation link still says "expired" or "already accepted", not "unknown".
constexpr std::int64_t kStaleRetentionNs = 7 * 24 * 3600 * kNsPerSec;
constexpr std::size_t kMaxEmailBytes = 254;
constexpr std::size_t kMaxNameBytes = 128;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response jsonResponse(int status, const json& body) {
  return Response::json(status, dump(body));
}

// Login failures all look alike: no hint whether the e-mail, password or tenant was wrong.
Response invalidCredentials() {
  return Response::error(401, "invalid_credentials", "invalid e-mail, password or tenant");
}

Response forbidden(Permission permission) {
  return Response::error(403, "forbidden",
                         "not allowed: " + std::string(permissionName(permission)));
}

// The store refuses, in the same transaction as the change, to leave a tenant without an owner.
Response lastOwnerResponse() {
  return Response::error(409, "last_owner", "a tenant keeps at least one owner");
}

Response notFoundResponse(std::string_view what) {
  return Response::error(404, "not_found", std::string(what) + " not found");
}

Response internal(std::string_view what, const Status& status) {
  log::error("auth-api", std::string(what) + ": " + status.toString());
  return Response::error(500, "internal", std::string(what) + " failed");
}

bool transient(const Status& status) {
  return status.code() == Errc::Unavailable || status.code() == Errc::ResourceExhausted;
}

Response unavailableResponse(const Status& status) {
  Response response = Response::error(503, "unavailable", "the store is busy, retry");
  response.headers.emplace_back("Retry-After", "1");
  log::warn("auth-api", status.toString());
  return response;
}

Response storeError(std::string_view what, const Status& status) {
  return transient(status) ? unavailableResponse(status) : internal(what, status);
}

Response tooManyAttempts(std::int64_t wait_ns) {
  const std::int64_t seconds = std::max<std::int64_t>(1, (wait_ns + kNsPerSec - 1) / kNsPerSec);
  Response response =
      Response::error(429, "too_many_attempts", "too many failed logins, retry later");
  response.headers.emplace_back("Retry-After", std::to_string(seconds));
  return response;
}

/// The request body as a JSON object, or the response refusing it.
Result<json> jsonBody(const Request& request, std::size_t max_bytes, Response* refusal) {
  const std::string* type = request.header("content-type");
  std::string media = type == nullptr ? "" : type->substr(0, type->find(';'));
  for (char& c : media) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!media.empty() && media.back() == ' ') {
    media.pop_back();
  }
  if (media != "application/json") {
    *refusal =
        Response::error(415, "unsupported_media_type", "Content-Type must be application/json");
    return invalidArgument("media type");
  }
  if (request.body.size() > max_bytes) {
    *refusal = Response::error(413, "payload_too_large",
                               "body larger than " + std::to_string(max_bytes) + " bytes");
    return invalidArgument("too large");
  }
  json body = json::parse(request.body, nullptr, false);
  if (!body.is_object()) {
    *refusal = Response::error(400, "bad_json", "body must be a JSON object");
    return invalidArgument("not an object");
  }
  return body;
}

/// A string field, or nullopt when absent or not a string.
std::optional<std::string> stringField(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

Response badField(std::string_view name, std::string_view why) {
  return Response::error(400, "bad_request", std::string(name) + ": " + std::string(why));
}

bool plausibleEmail(std::string_view email) {
  const std::size_t at = email.find('@');
  if (email.size() > kMaxEmailBytes || at == 0 || at == std::string_view::npos ||
      at + 1 >= email.size()) {
    return false;
  }
  for (char c : email) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

json apiKeyJson(const store::ApiKey& key) {
  auto at = [](std::int64_t ns) { return ns == 0 ? json(nullptr) : json(formatRfc3339Millis(ns)); };
  return {{"id", key.id},
          {"name", key.name},
          {"role", key.role},
          {"created_by", key.created_by},
          {"created_at", at(key.created_at_ns)},
          {"expires_at", at(key.expires_at_ns)},
          {"revoked_at", at(key.revoked_at_ns)},
          {"last_used_at", at(key.last_used_ns)}};
}

std::string sessionCookie(std::string_view token, std::int64_t max_age_s, bool secure) {
  std::string cookie = std::string(kSessionCookie) + "=" + std::string(token) +
                       "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" + std::to_string(max_age_s);
  if (secure) {
    cookie += "; Secure";
  }
  return cookie;
}

/// Whether `principal` may hand out `role` (to a key, a member or an invitee): never higher
/// than its own. Integrations are the lowest kind of key and may be made by anyone allowed.
bool mayGrant(const Principal& principal, std::string_view role) {
  if (role == kIntegrationRole) {
    return true;
  }
  auto wanted = parseRole(role);
  return wanted && principal.kind != PrincipalKind::Integration &&
         principal.kind != PrincipalKind::Agent && roleAtLeast(principal.role, *wanted);
}
}  // namespace

AuthApi::AuthApi(store::Store& store, audit::AuditRecorder& audit, const PasswordHasher& passwords,
                 JwtKeys& jwt, LoginThrottle& throttle, AuthApiOptions options, Clock clock)
    : store_(store),
      audit_(audit),
      passwords_(passwords),
      jwt_(jwt),
      throttle_(throttle),
      options_(options),
      clock_(clock ? std::move(clock) : Clock(&nowUnixNanos)),
      authenticator_(store, jwt, options_.authenticator) {}

bool AuthApi::audited(const Request& request, const std::string& tenant_id,
                      const std::string& actor, const std::string& action,
                      const std::string& target, const std::string& outcome,
                      const std::string& detail_json) {
  audit::AuditEvent event;
  event.tenant_id = tenant_id;
  event.actor = actor;
  event.action = action;
  event.target = target;
  event.outcome = outcome;
  event.client_address = request.remote_address;
  event.detail_json = detail_json;
  event.at_ns = clock_();
  Status recorded = audit_.record(event);
  if (!recorded.isOk()) {
    log::error("auth-api", "audit " + action + ": " + recorded.toString());
    return false;
  }
  return true;
}

void AuthApi::recordRefusal(const Request& request, std::string_view action,
                            std::string_view reason) {
  Status recorded = audit::recordThrottledFailure(audit_, refusal_throttle_, request.remote_address,
                                                  request.path, action, reason, clock_());
  if (!recorded.isOk()) {
    log::error("auth-api", "audit " + std::string(action) + ": " + recorded.toString());
  }
}

Response AuthApi::guarded(const Request& request, Permission permission,
                          const std::function<Response(const Principal&)>& body) {
  if (auto limited = limitAddress(request)) {
    return std::move(*limited);
  }
  auto principal = authenticator_.authenticate(request, clock_());
  if (!principal) {
    switch (principal.code()) {
      case Errc::Unauthenticated:
        recordRefusal(request, "auth.unauthenticated", "missing, invalid or expired credentials");
        return unauthenticatedResponse();
      case Errc::PermissionDenied:
        recordRefusal(request, "auth.csrf_failed", "missing or wrong X-CSRF-Token");
        return Response::error(403, "csrf_failed", "missing or wrong X-CSRF-Token");
      default: return storeError("authenticate", principal.status());
    }
  }
  if (options_.rate_limits != nullptr) {
    if (auto limited = options_.rate_limits->admit({}, principal->actor(), principal->tenant_id)) {
      return std::move(*limited);
    }
  }
  if (!principal->can(permission)) {
    (void)audited(request, principal->tenant_id, principal->actor(), "auth.denied", "", "denied",
                  dump(json{{"permission", permissionName(permission)},
                            {"path", request.path},
                            {"method", request.method}}));
    return forbidden(permission);
  }
  return body(*principal);
}

Response AuthApi::login(const Request& request) {
  if (auto limited = limitAddress(request)) {
    return std::move(*limited);
  }
  Response refusal;
  auto body = jsonBody(request, options_.max_body_bytes, &refusal);
  if (!body) {
    return refusal;
  }
  auto email = stringField(*body, "email");
  auto password = stringField(*body, "password");
  auto tenant_name = stringField(*body, "tenant");
  if (!email || !password || email->empty() || email->size() > kMaxEmailBytes) {
    return badField("email, password", "required strings");
  }
  if (body->contains("tenant") && !tenant_name) {
    return badField("tenant", "must be a string");
  }
  const std::int64_t now = clock_();
  const std::string normalized = store::normalizeEmail(*email);
  const std::string email_key = LoginThrottle::emailKey(normalized);
  const std::string address_key = LoginThrottle::addressKey(request.remote_address);
  const std::int64_t wait =
      std::max(throttle_.lockedFor(email_key, now), throttle_.lockedFor(address_key, now));
  if (wait > 0) {
    (void)audited(request, "", "anonymous", "auth.login_throttled", "", "denied",
                  dump(json{{"email", normalized}}));
    return tooManyAttempts(wait);
  }
  auto fail = [&](const std::string& tenant_id) {
    throttle_.recordFailure(email_key, now);
    throttle_.recordFailure(address_key, now);
    (void)audited(request, tenant_id, "anonymous", "auth.login_failed", "", "failure",
                  dump(json{{"email", normalized}}));
    return invalidCredentials();
  };
  auto user = store_.findUserByEmail(normalized);
  if (!user) {
    if (user.code() != Errc::NotFound) {
      return storeError("login", user.status());
    }
    passwords_.verifyDummy(*password);  // the same argon2 cost as a known e-mail
    return fail("");
  }
  if (!passwords_.verify(user->password_hash, *password) || user->disabled_at_ns != 0) {
    return fail("");
  }
  auto memberships = store_.listUserMemberships(user->id);
  if (!memberships) {
    return storeError("login", memberships.status());
  }
  const store::Membership* chosen = nullptr;
  if (tenant_name) {
    for (const store::Membership& membership : *memberships) {
      if (membership.tenant_name == *tenant_name) {
        chosen = &membership;
      }
    }
  } else if (memberships->size() == 1) {
    chosen = &memberships->front();
  } else if (memberships->size() > 1) {
    // The password was right: naming the tenants reveals nothing the user does not know.
    json names = json::array();
    for (const store::Membership& membership : *memberships) {
      names.push_back(membership.tenant_name);
    }
    return jsonResponse(400, {{"error",
                               {{"code", "tenant_required"},
                                {"message", "this user belongs to several tenants: name one"}}},
                              {"tenants", names}});
  }
  auto role = chosen == nullptr ? std::nullopt : parseRole(chosen->role);
  if (!role) {
    return fail("");
  }
  throttle_.recordSuccess(email_key);
  return openSession(request, user->id, user->email, *chosen, now,
                     now + options_.session_ttl.count() * kNsPerSec, "auth.login", "{}");
}

Response AuthApi::openSession(const Request& request, const std::string& user_id,
                              const std::string& email, const store::Membership& membership,
                              std::int64_t now_ns, std::int64_t expires_at_ns,
                              const std::string& action, const std::string& detail_json) {
  // Always a fresh token: a session id planted before login (fixation) is never reused.
  const std::string token = crypto::randomToken(kSessionPrefix);
  const std::string csrf = crypto::randomToken("");
  store::Session session;
  session.token_hash = crypto::hashSecret(token);
  session.user_id = user_id;
  session.tenant_id = membership.tenant_id;
  session.csrf_hash = crypto::hashSecret(csrf);
  session.created_at_ns = now_ns;
  session.expires_at_ns = expires_at_ns;
  Status created = store_.createSession(session);
  if (!created.isOk()) {
    return storeError("create session", created);
  }
  if (!audited(request, membership.tenant_id, "user:" + user_id, action, "user:" + user_id,
               "success", detail_json)) {
    (void)store_.revokeSession(membership.tenant_id, session.token_hash, now_ns);
    return Response::error(500, "internal", "the sign-in could not be audited");
  }
  // Each login clears its tenant's dead sessions and invitations, so the tables grow with the
  // live ones only. Best effort: a failure here costs space, not the login.
  if (auto purged = store_.purgeStaleCredentials(membership.tenant_id, now_ns - kStaleRetentionNs);
      !purged) {
    log::warn("auth-api", "purge stale credentials: " + purged.status().toString());
  }
  const std::int64_t max_age_s = std::max<std::int64_t>(0, (expires_at_ns - now_ns) / kNsPerSec);
  Response response = jsonResponse(
      200, {{"csrf_token", csrf},
            {"user", {{"id", user_id}, {"email", email}}},
            {"tenant", {{"id", membership.tenant_id}, {"name", membership.tenant_name}}},
            {"role", membership.role},
            {"expires_at", formatRfc3339Millis(session.expires_at_ns)}});
  response.headers.emplace_back("Set-Cookie",
                                sessionCookie(token, max_age_s, options_.secure_cookie));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

Response AuthApi::switchTenant(const Request& request) {
  return guarded(request, Permission::ReadSelf, [&](const Principal& principal) {
    if (principal.session_hash.empty() || principal.kind != PrincipalKind::User) {
      return Response::error(400, "not_a_session", "only a signed-in user's session can switch");
    }
    Response refusal;
    auto body = jsonBody(request, options_.max_body_bytes, &refusal);
    if (!body) {
      return refusal;
    }
    auto tenant_name = stringField(*body, "tenant");
    if (!tenant_name || tenant_name->empty()) {
      return badField("tenant", "a tenant name");
    }
    auto current = store_.findSession(principal.session_hash);
    if (!current) {
      return current.code() == Errc::NotFound ? unauthenticatedResponse()
                                              : storeError("switch tenant", current.status());
    }
    auto memberships = store_.listUserMemberships(principal.id);
    if (!memberships) {
      return storeError("switch tenant", memberships.status());
    }
    const store::Membership* target = nullptr;
    const store::Membership* source = nullptr;
    for (const store::Membership& membership : *memberships) {
      if (membership.tenant_name == *tenant_name) {
        target = &membership;
      }
      if (membership.tenant_id == principal.tenant_id) {
        source = &membership;
      }
    }
    // Not a member there: the same answer whether the tenant exists or not.
    if (target == nullptr || !parseRole(target->role) || source == nullptr) {
      return Response::error(404, "not_found", "you are not a member of that tenant");
    }
    if (target->tenant_id == principal.tenant_id) {
      return Response::error(409, "same_tenant", "this session is already in that tenant");
    }
    const std::int64_t now = clock_();
    if (current->expires_at_ns <= now || current->revoked_at_ns != 0) {
      return unauthenticatedResponse();
    }
    // Leave first: a failure past this point leaves the user signed out, never in two places.
    Status revoked = store_.revokeSession(principal.tenant_id, principal.session_hash, now);
    if (!revoked.isOk()) {
      return storeError("switch tenant", revoked);
    }
    authenticator_.forgetCachedCredentials();
    if (!audited(request, principal.tenant_id, principal.actor(), "auth.switch_tenant",
                 "tenant:" + target->tenant_id, "success",
                 dump(json{{"direction", "out"}, {"to", target->tenant_name}}))) {
      return Response::error(500, "internal", "the switch could not be audited");
    }
    return openSession(request, principal.id, source->email, *target, now, current->expires_at_ns,
                       "auth.switch_tenant",
                       dump(json{{"direction", "in"}, {"from", source->tenant_name}}));
  });
}

Response AuthApi::logout(const Request& request) {
  return guarded(request, Permission::ReadSelf, [&](const Principal& principal) {
    if (principal.session_hash.empty()) {
      return Response::error(400, "not_a_session", "only a session can log out");
    }
    Status revoked = store_.revokeSession(principal.tenant_id, principal.session_hash, clock_());
    if (!revoked.isOk()) {
      return storeError("logout", revoked);
    }
    authenticator_.forgetCachedCredentials();
    if (!audited(request, principal.tenant_id, principal.actor(), "auth.logout", principal.actor(),
                 "success")) {
      return Response::error(500, "internal", "logout could not be audited");
    }
    Response response = jsonResponse(200, {{"status", "logged_out"}});
    response.headers.emplace_back("Set-Cookie", sessionCookie("", 0, options_.secure_cookie));
    return response;
  });
}

Response AuthApi::me(const Request& request) {
  return guarded(request, Permission::ReadSelf, [&](const Principal& principal) {
    json out = {{"actor", principal.actor()},
                {"id", principal.id},
                {"tenant_id", principal.tenant_id},
                {"role", roleName(principal.role)}};
    if (principal.kind == PrincipalKind::User) {
      auto member = store_.findMember(principal.tenant_id, principal.id);
      if (!member) {
        return member.code() == Errc::NotFound ? unauthenticatedResponse()
                                               : storeError("me", member.status());
      }
      out["email"] = member->email;
      out["tenant"] = member->tenant_name;
      out["role"] = member->role;
    }
    return jsonResponse(200, out);
  });
}

Response AuthApi::token(const Request& request) {
  return guarded(request, Permission::IssueToken, [&](const Principal& principal) {
    if (principal.session_hash.empty()) {
      // A JWT must not mint its own successor, nor an API key act as a user.
      return Response::error(403, "forbidden", "access tokens are issued to sessions only");
    }
    auto issued = jwt_.issue(principal, clock_());
    if (!issued) {
      return storeError("issue token", issued.status());
    }
    if (!audited(request, principal.tenant_id, principal.actor(), "auth.token", "", "success")) {
      return Response::error(500, "internal", "token could not be audited");
    }
    return jsonResponse(200, {{"access_token", issued->token},
                              {"token_type", "Bearer"},
                              {"expires_in", jwt_.options().token_ttl.count()},
                              {"expires_at", formatRfc3339Millis(issued->expires_at_ns)}});
  });
}

Response AuthApi::createApiKey(const Request& request) {
  return guarded(request, Permission::CreateApiKey, [&](const Principal& principal) {
    Response refusal;
    auto body = jsonBody(request, options_.max_body_bytes, &refusal);
    if (!body) {
      return refusal;
    }
    auto name = stringField(*body, "name");
    auto role = stringField(*body, "role");
    if (!role) {
      return badField("role", "required string");
    }
    if (name && (name->empty() || name->size() > kMaxNameBytes)) {
      return badField("name", "1-128 bytes");
    }
    if (!parseRole(*role) && *role != kIntegrationRole) {
      return badField("role", "one of owner, admin, responder, viewer, integration");
    }
    if (!mayGrant(principal, *role)) {
      return Response::error(403, "forbidden", "a key's role cannot be above its creator's");
    }
    const std::int64_t now = clock_();
    store::ApiKey key;
    key.id = "key_" + crypto::randomHex(12);
    key.tenant_id = principal.tenant_id;
    key.name = name.value_or("");
    key.role = *role;
    key.created_by = principal.actor();
    key.created_at_ns = now;
    if (body->contains("ttl")) {
      auto ttl_text = stringField(*body, "ttl");
      auto ttl = ttl_text ? parseDuration(*ttl_text)
                          : Result<std::chrono::nanoseconds>(invalidArgument("must be a string"));
      if (!ttl || ttl->count() <= 0) {
        return badField("ttl", "a positive duration such as 30d, 12h");
      }
      key.expires_at_ns = ttl->count() > INT64_MAX - now ? INT64_MAX : now + ttl->count();
    }
    const std::string secret = crypto::randomToken(kApiKeyPrefix);
    key.key_hash = crypto::hashSecret(secret);
    Status created = store_.createApiKey(key);
    if (!created.isOk()) {
      return storeError("create API key", created);
    }
    if (!audited(request, principal.tenant_id, principal.actor(), "api_key.create",
                 "api_key:" + key.id, "success",
                 dump(json{{"role", key.role}, {"name", key.name}}))) {
      (void)store_.revokeApiKey(principal.tenant_id, key.id, now);
      return Response::error(500, "internal", "API key could not be audited");
    }
    json out = apiKeyJson(key);
    out["key"] = secret;
    return jsonResponse(201, out);
  });
}

Response AuthApi::listApiKeys(const Request& request) {
  return guarded(request, Permission::ListApiKeys, [&](const Principal& principal) {
    auto keys = store_.listApiKeys(principal.tenant_id);
    if (!keys) {
      return storeError("list API keys", keys.status());
    }
    return api::pagedList(
        request, "api_keys", std::move(*keys),
        [](const store::ApiKey& key) { return api::sortableNumber(key.created_at_ns) + key.id; },
        [](const store::ApiKey& key) { return apiKeyJson(key); });
  });
}

Response AuthApi::revokeApiKey(const Request& request) {
  return guarded(request, Permission::RevokeApiKey, [&](const Principal& principal) {
    const std::string* id = request.pathParam("id");
    if (id == nullptr || id->size() > kMaxNameBytes) {
      return notFoundResponse("API key");
    }
    Status revoked = store_.revokeApiKey(principal.tenant_id, *id, clock_());
    if (revoked.code() == Errc::NotFound) {
      return notFoundResponse("API key");
    }
    if (!revoked.isOk()) {
      return storeError("revoke API key", revoked);
    }
    authenticator_.forgetCachedCredentials();
    if (!audited(request, principal.tenant_id, principal.actor(), "api_key.revoke",
                 "api_key:" + *id, "success")) {
      return Response::error(500, "internal", "revocation could not be audited");
    }
    return jsonResponse(200, {{"id", *id}, {"revoked", true}});
  });
}

Response AuthApi::listMembers(const Request& request) {
  return guarded(request, Permission::ListMembers, [&](const Principal& principal) {
    auto members = store_.listMembers(principal.tenant_id);
    if (!members) {
      return storeError("list members", members.status());
    }
    return api::pagedList(
        request, "members", std::move(*members),
        [](const store::Membership& member) { return member.email + '\0' + member.user_id; },
        [](const store::Membership& member) {
          return json{{"user_id", member.user_id},
                      {"email", member.email},
                      {"role", member.role},
                      {"created_at", formatRfc3339Millis(member.created_at_ns)}};
        });
  });
}

Response AuthApi::setMemberRole(const Request& request) {
  return guarded(request, Permission::ChangeMemberRole, [&](const Principal& principal) {
    const std::string* user_id = request.pathParam("user_id");
    if (user_id == nullptr) {
      return notFoundResponse("member");
    }
    Response refusal;
    auto body = jsonBody(request, options_.max_body_bytes, &refusal);
    if (!body) {
      return refusal;
    }
    auto role = stringField(*body, "role");
    if (!role || !parseRole(*role)) {
      return badField("role", "one of owner, admin, responder, viewer");
    }
    auto member = store_.findMember(principal.tenant_id, *user_id);
    if (!member) {
      return member.code() == Errc::NotFound ? notFoundResponse("member")
                                             : storeError("find member", member.status());
    }
    // Neither the new role nor the member's current one may be above the changer's.
    if (!mayGrant(principal, *role) || !mayGrant(principal, member->role)) {
      return Response::error(403, "forbidden", "cannot change a role above your own");
    }
    Status changed = store_.setMemberRole(principal.tenant_id, *user_id, *role);
    if (changed.code() == Errc::NotFound) {
      return notFoundResponse("member");
    }
    if (changed.code() == Errc::FailedPrecondition) {
      return lastOwnerResponse();
    }
    if (!changed.isOk()) {
      return storeError("set role", changed);
    }
    authenticator_.forgetCachedCredentials();
    if (!audited(request, principal.tenant_id, principal.actor(), "member.role_change",
                 "user:" + *user_id, "success",
                 dump(json{{"from", member->role}, {"to", *role}}))) {
      return Response::error(500, "internal", "role change could not be audited");
    }
    return jsonResponse(200, {{"user_id", *user_id}, {"email", member->email}, {"role", *role}});
  });
}

Response AuthApi::removeMember(const Request& request) {
  return guarded(request, Permission::RemoveMember, [&](const Principal& principal) {
    const std::string* user_id = request.pathParam("user_id");
    if (user_id == nullptr) {
      return notFoundResponse("member");
    }
    auto member = store_.findMember(principal.tenant_id, *user_id);
    if (!member) {
      return member.code() == Errc::NotFound ? notFoundResponse("member")
                                             : storeError("find member", member.status());
    }
    if (!mayGrant(principal, member->role)) {
      return Response::error(403, "forbidden", "cannot remove a member above your own role");
    }
    Status removed = store_.removeMember(principal.tenant_id, *user_id, clock_());
    if (removed.code() == Errc::NotFound) {
      return notFoundResponse("member");
    }
    if (removed.code() == Errc::FailedPrecondition) {
      return lastOwnerResponse();
    }
    if (!removed.isOk()) {
      return storeError("remove member", removed);
    }
    authenticator_.forgetCachedCredentials();
    if (!audited(request, principal.tenant_id, principal.actor(), "member.remove",
                 "user:" + *user_id, "success", dump(json{{"role", member->role}}))) {
      return Response::error(500, "internal", "removal could not be audited");
    }
    return jsonResponse(200, {{"user_id", *user_id}, {"removed", true}});
  });
}

Response AuthApi::invite(const Request& request) {
  return guarded(request, Permission::InviteMember, [&](const Principal& principal) {
    Response refusal;
    auto body = jsonBody(request, options_.max_body_bytes, &refusal);
    if (!body) {
      return refusal;
    }
    auto email = stringField(*body, "email");
    auto role = stringField(*body, "role");
    if (!email || !plausibleEmail(*email)) {
      return badField("email", "an e-mail address");
    }
    if (!role || !parseRole(*role)) {
      return badField("role", "one of owner, admin, responder, viewer");
    }
    if (!mayGrant(principal, *role)) {
      return Response::error(403, "forbidden", "cannot invite above your own role");
    }
    const std::int64_t now = clock_();
    const std::string token = crypto::randomToken("fli_");
    store::Invitation invitation;
    invitation.id = "inv_" + crypto::randomHex(12);
    invitation.tenant_id = principal.tenant_id;
    invitation.email = store::normalizeEmail(*email);
    invitation.role = *role;
    invitation.token_hash = crypto::hashSecret(token);
    invitation.invited_by = principal.actor();
    invitation.created_at_ns = now;
    invitation.expires_at_ns = now + options_.invitation_ttl.count() * kNsPerSec;
    Status created = store_.createInvitation(invitation);
    if (!created.isOk()) {
      return storeError("create invitation", created);
    }
    if (!audited(request, principal.tenant_id, principal.actor(), "invitation.create",
                 "invitation:" + invitation.id, "success",
                 dump(json{{"email", invitation.email}, {"role", *role}}))) {
      return Response::error(500, "internal", "invitation could not be audited");
    }
    return jsonResponse(201, {{"id", invitation.id},
                              {"token", token},
                              {"email", invitation.email},
                              {"role", *role},
                              {"expires_at", formatRfc3339Millis(invitation.expires_at_ns)}});
  });
}

Response AuthApi::acceptInvitation(const Request& request) {
  if (auto limited = limitAddress(request)) {
    return std::move(*limited);
  }
  Response refusal;
  auto body = jsonBody(request, options_.max_body_bytes, &refusal);
  if (!body) {
    return refusal;
  }
  auto token = stringField(*body, "token");
  auto password = stringField(*body, "password");
  if (!token || !password || token->size() > kMaxCredentialBytes) {
    return badField("token, password", "required strings");
  }
  // Unknown, used and expired invitations look the same.
  auto invalid = [] { return Response::error(404, "invalid_invitation", "invalid invitation"); };
  const std::string token_hash = crypto::hashSecret(*token);
  auto invitation = store_.findInvitation(token_hash);
  if (!invitation) {
    return invitation.code() == Errc::NotFound ? invalid()
                                               : storeError("invitation", invitation.status());
  }
  const std::int64_t now = clock_();
  if (invitation->accepted_at_ns != 0 || invitation->expires_at_ns <= now) {
    return invalid();
  }
  std::string password_hash;
  auto existing = store_.findUserByEmail(invitation->email);
  if (existing) {
    // Joining another tenant proves the account's own password.
    if (!passwords_.verify(existing->password_hash, *password)) {
      return invalidCredentials();
    }
  } else if (existing.code() == Errc::NotFound) {
    auto hashed = passwords_.hash(*password);
    if (!hashed) {
      return hashed.code() == Errc::InvalidArgument
                 ? badField("password", hashed.status().message())
                 : internal("hash password", hashed.status());
    }
    password_hash = std::move(*hashed);
  } else {
    return storeError("find user", existing.status());
  }
  auto accepted =
      store_.acceptInvitation(token_hash, "usr_" + crypto::randomHex(12), password_hash, now);
  if (!accepted) {
    switch (accepted.code()) {
      case Errc::NotFound:
      case Errc::FailedPrecondition: return invalid();
      case Errc::AlreadyExists:
        return Response::error(409, "conflict", accepted.status().message());
      default: return storeError("accept invitation", accepted.status());
    }
  }
  if (!audited(request, accepted->tenant_id, "user:" + accepted->user_id, "invitation.accept",
               "invitation:" + invitation->id, "success", dump(json{{"role", accepted->role}}))) {
    return Response::error(500, "internal", "acceptance could not be audited");
  }
  return jsonResponse(200, {{"user_id", accepted->user_id},
                            {"email", accepted->email},
                            {"tenant_id", accepted->tenant_id},
                            {"role", accepted->role}});
}

Response AuthApi::tenants(const Request& request) {
  return guarded(request, Permission::ReadSelf, [&](const Principal& principal) {
    json list = json::array();
    if (principal.kind != PrincipalKind::User) {
      // Keys, agents and integrations live in exactly one tenant.
      list.push_back(
          {{"id", principal.tenant_id},
           {"name", nullptr},
           {"role", principal.kind == PrincipalKind::ApiKey ? json(roleName(principal.role))
                                                            : json(nullptr)},
           {"current", true}});
      return jsonResponse(200, {{"tenants", list}, {"next_cursor", nullptr}});
    }
    auto memberships = store_.listUserMemberships(principal.id);
    if (!memberships) {
      return storeError("list tenants", memberships.status());
    }
    return api::pagedList(
        request, "tenants", std::move(*memberships),
        [](const store::Membership& m) { return m.tenant_name + '\0' + m.tenant_id; },
        [&](const store::Membership& m) {
          return json{{"id", m.tenant_id},
                      {"name", m.tenant_name},
                      {"role", m.role},
                      {"current", m.tenant_id == principal.tenant_id}};
        });
  });
}

void addAuthRoutes(http::Router& router, AuthApi& api) {
  using Method = Response (AuthApi::*)(const Request&);
  auto bind = [&api](const char* what, Method method) {
    return [&api, what, method](Request&& request, http::Respond respond) {
      Response response;
      try {
        response = (api.*method)(request);
      } catch (const std::exception& e) {
        log::error("auth-api", std::string(what) + " threw: " + e.what());
        response = Response::error(500, "internal", std::string(what) + " failed");
      }
      respond(std::move(response));
    };
  };
  router.add("POST", "/v1/auth/login", bind("login", &AuthApi::login));
  router.add("POST", "/v1/auth/logout", bind("logout", &AuthApi::logout));
  router.add("POST", "/v1/auth/switch-tenant", bind("switch tenant", &AuthApi::switchTenant));
  router.add("GET", "/v1/auth/me", bind("me", &AuthApi::me));
  router.add("GET", "/v1/tenants", bind("list tenants", &AuthApi::tenants));
  router.add("POST", "/v1/auth/token", bind("token", &AuthApi::token));
  router.add("POST", "/v1/api-keys", bind("create API key", &AuthApi::createApiKey));
  router.add("GET", "/v1/api-keys", bind("list API keys", &AuthApi::listApiKeys));
  router.add("DELETE", "/v1/api-keys/{id}", bind("revoke API key", &AuthApi::revokeApiKey));
  router.add("GET", "/v1/members", bind("list members", &AuthApi::listMembers));
  router.add("PUT", "/v1/members/{user_id}", bind("set role", &AuthApi::setMemberRole));
  router.add("DELETE", "/v1/members/{user_id}", bind("remove member", &AuthApi::removeMember));
  router.add("POST", "/v1/invitations", bind("invite", &AuthApi::invite));
  router.add("POST", "/v1/invitations/accept",
             bind("accept invitation", &AuthApi::acceptInvitation));
}

}  // namespace faultline::aggregator::auth
