#include "aggregator/auth/authenticator.h"

#include <algorithm>
#include <cctype>

#include "shared/util/crypto.h"
#include "shared/util/time.h"

namespace faultline::aggregator::auth {
namespace {
constexpr std::int64_t kTouchIntervalNs = 60'000'000'000;  // last_used is kept to the minute

Status denied() {
  return Status(Errc::Unauthenticated, "authentication required");
}

bool unsafeMethod(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// Store errors other than NotFound are the server's problem, not the client's credentials.
Status storeFailure(const Status& status) {
  return status.code() == Errc::NotFound ? denied() : status;
}

// The store's answer for `hash`, from `cache` when a recent lookup is there.
template <typename Value, typename Lookup>
Result<Value> cachedLookup(CredentialCache<Value>& cache, const std::string& hash, Lookup lookup) {
  const std::int64_t now = monotonicNanos();
  if (auto cached = cache.get(hash, now)) {
    return std::move(*cached);
  }
  auto found = lookup();
  if (found) {
    cache.put(hash, *found, now);
  }
  return found;
}
}  // namespace

std::string Principal::actor() const {
  switch (kind) {
    case PrincipalKind::User: return "user:" + id;
    case PrincipalKind::ApiKey: return "api_key:" + id;
    case PrincipalKind::Agent: return "agent:" + id;
    case PrincipalKind::Integration: return "integration:" + id;
  }
  return "anonymous";
}

Authenticator::Authenticator(store::Store& store, JwtKeys& jwt, AuthenticatorOptions options)
    : store_(store),
      jwt_(jwt),
      sessions_(options.credential_cache_ttl, options.credential_cache_max_entries),
      api_keys_(options.credential_cache_ttl, options.credential_cache_max_entries),
      agents_(options.credential_cache_ttl, options.credential_cache_max_entries) {}

void Authenticator::forgetCachedCredentials() {
  sessions_.clear();
  api_keys_.clear();
  agents_.clear();
}

std::string Authenticator::sessionCookie(const http::Request& request) {
  const std::string* header = request.header("cookie");
  if (header == nullptr || header->size() > kMaxCredentialBytes * 4) {
    return "";
  }
  std::string_view rest = *header;
  while (!rest.empty()) {
    std::size_t semi = rest.find(';');
    std::string_view pair = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == kSessionCookie) {
      return std::string(trim(pair.substr(eq + 1)));
    }
  }
  return "";
}

Result<Principal> Authenticator::authenticate(const http::Request& request, std::int64_t now_ns) {
  if (const std::string* authorization = request.header("authorization")) {
    std::string_view value = trim(*authorization);
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() <= kBearer.size() || value.size() > kMaxCredentialBytes + kBearer.size()) {
      return denied();
    }
    std::string scheme(value.substr(0, kBearer.size()));
    for (char& c : scheme) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (scheme != kBearer) {
      return denied();
    }
    std::string_view token = trim(value.substr(kBearer.size()));
    if (startsWith(token, kSessionPrefix)) {
      return fromSession(token, Principal::Via::SessionToken, now_ns, request);
    }
    if (startsWith(token, kApiKeyPrefix)) {
      return fromApiKey(token, now_ns);
    }
    if (startsWith(token, kAgentSecretPrefix)) {
      return fromAgentSecret(token);
    }
    if (std::count(token.begin(), token.end(), '.') == 2) {
      auto principal = jwt_.verify(token, now_ns);
      if (!principal) {
        return principal.code() == Errc::Unauthenticated ? denied() : principal.status();
      }
      return principal;
    }
    return denied();
  }
  std::string cookie = sessionCookie(request);
  if (!cookie.empty()) {
    return fromSession(cookie, Principal::Via::Cookie, now_ns, request);
  }
  return denied();
}

Result<Principal> Authenticator::fromSession(std::string_view token, Principal::Via via,
                                             std::int64_t now_ns, const http::Request& request) {
  if (!startsWith(token, kSessionPrefix) || token.size() > kMaxCredentialBytes) {
    return denied();
  }
  const std::string hash = crypto::hashSecret(token);
  auto session = cachedLookup(sessions_, hash, [&] { return store_.findSession(hash); });
  if (!session) {
    return storeFailure(session.status());
  }
  auto role = parseRole(session->role);
  if (session->revoked_at_ns != 0 || session->expires_at_ns <= now_ns || !role) {
    return denied();
  }
  if (via == Principal::Via::Cookie && unsafeMethod(request.method)) {
    // The browser sends the cookie on its own; only our page can read and send the CSRF token.
    const std::string* csrf = request.header("x-csrf-token");
    if (csrf == nullptr || csrf->empty() || csrf->size() > kMaxCredentialBytes ||
        !crypto::constantTimeEqual(crypto::hashSecret(*csrf), session->csrf_hash)) {
      return Status(Errc::PermissionDenied, "missing or wrong X-CSRF-Token");
    }
  }
  Principal principal;
  principal.kind = PrincipalKind::User;
  principal.id = session->user_id;
  principal.tenant_id = session->tenant_id;
  principal.role = *role;
  principal.via = via;
  principal.session_hash = hash;
  return principal;
}

Result<Principal> Authenticator::fromApiKey(std::string_view token, std::int64_t now_ns) {
  const std::string hash = crypto::hashSecret(token);
  auto key = cachedLookup(api_keys_, hash, [&] { return store_.findApiKeyByHash(hash); });
  if (!key) {
    return storeFailure(key.status());
  }
  if (key->revoked_at_ns != 0 || (key->expires_at_ns != 0 && key->expires_at_ns <= now_ns)) {
    return denied();
  }
  Principal principal;
  principal.id = key->id;
  principal.tenant_id = key->tenant_id;
  principal.via = Principal::Via::ApiKey;
  if (key->role == kIntegrationRole) {
    principal.kind = PrincipalKind::Integration;
  } else {
    auto role = parseRole(key->role);
    if (!role) {
      return denied();
    }
    principal.kind = PrincipalKind::ApiKey;
    principal.role = *role;
  }
  if (now_ns - key->last_used_ns >= kTouchIntervalNs) {
    // Best effort: a busy store must not turn a valid key away.
    if (store_.touchApiKey(key->tenant_id, key->id, now_ns).isOk()) {
      key->last_used_ns = now_ns;
      api_keys_.update(hash, *key);
    }
  }
  return principal;
}

Result<Principal> Authenticator::fromAgentSecret(std::string_view token) {
  const std::string hash = crypto::hashSecret(token);
  auto agent = cachedLookup(agents_, hash, [&] { return store_.findAgentBySecretHash(hash); });
  if (!agent) {
    return storeFailure(agent.status());
  }
  Principal principal;
  principal.kind = PrincipalKind::Agent;
  principal.id = agent->agent_id;
  principal.tenant_id = agent->tenant_id;
  principal.via = Principal::Via::AgentSecret;
  return principal;
}

http::Response unauthenticatedResponse() {
  http::Response response =
      http::Response::error(401, "unauthenticated", "missing, invalid or expired credentials");
  response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

}  // namespace faultline::aggregator::auth
