// The identity routes over real loopback HTTP on a real SQLite store: login, cookies and CSRF,
// logout, API keys, JWT, members, invitations, throttling, and the role × route table.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/unit/aggregator/app/auth/auth_test_support.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using nlohmann::json;

namespace {
using Headers = std::vector<std::pair<std::string, std::string>>;

/// The session token in a Set-Cookie header ("" when none).
std::string cookieToken(const HttpReply& reply) {
  std::string cookie = reply.raw.header("set-cookie");
  std::string prefix = "faultline_session=";
  if (cookie.rfind(prefix, 0) != 0) {
    return "";
  }
  return cookie.substr(prefix.size(), cookie.find(';') - prefix.size());
}

HttpReply login(AuthHarness& h, const std::string& email, const std::string& password,
                const std::string& tenant = "", Headers headers = {}) {
  json body = {{"email", email}, {"password", password}};
  if (!tenant.empty()) {
    body["tenant"] = tenant;
  }
  return h.callJson("POST", "/v1/auth/login", body, std::move(headers));
}
}  // namespace

TEST_CASE(
    "auth api: login sets a hardened cookie; the cookie needs the CSRF token to change "
    "anything") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  h.member(a, "alice@example.com", "admin");
  HttpReply reply = login(h, "ALICE@example.com", kPassword);
  REQUIRE_MESSAGE(reply.status == 200, reply.body);
  const std::string cookie = reply.raw.header("set-cookie");
  for (const char* attribute : {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"}) {
    CHECK_MESSAGE(cookie.find(attribute) != std::string::npos, cookie);
  }
  json body = reply.json();
  CHECK(body["role"] == "admin");
  CHECK(body["tenant"]["name"] == "tenant-a");
  CHECK(body["user"]["email"] == "alice@example.com");
  const std::string csrf = body["csrf_token"].get<std::string>();
  const std::string token = cookieToken(reply);
  REQUIRE(token.rfind("fls_", 0) == 0);
  CHECK(h.audit.count("auth.login", "success") == 1);

  const std::pair<std::string, std::string> with_cookie{"Cookie",
                                                        "theme=dark; faultline_session=" + token};
  // Safe methods need no CSRF token.
  HttpReply me = h.call("GET", "/v1/auth/me", {with_cookie});
  REQUIRE_MESSAGE(me.status == 200, me.body);
  CHECK(me.json()["email"] == "alice@example.com");
  // Unsafe ones do: none, a wrong one, then the right one.
  json key_body = {{"name", "ci"}, {"role", "viewer"}};
  CHECK(h.callJson("POST", "/v1/api-keys", key_body, {with_cookie}).status == 403);
  CHECK(h.callJson("POST", "/v1/api-keys", key_body, {with_cookie, {"X-CSRF-Token", "nope"}})
            .status == 403);
  CHECK(h.store().listApiKeys(a.id)->empty());  // nothing stored by the refused requests
  HttpReply created =
      h.callJson("POST", "/v1/api-keys", key_body, {with_cookie, {"X-CSRF-Token", csrf}});
  REQUIRE_MESSAGE(created.status == 201, created.body);
  // The same token as a Bearer session needs no CSRF token (no ambient credential).
  CHECK(h.callJson("POST", "/v1/api-keys", key_body, {AuthHarness::bearer(token)}).status == 201);

  // Logout revokes the session and clears the cookie; it no longer works either way.
  HttpReply out = h.call("POST", "/v1/auth/logout", {with_cookie, {"X-CSRF-Token", csrf}});
  REQUIRE_MESSAGE(out.status == 200, out.body);
  CHECK(out.raw.header("set-cookie").find("Max-Age=0") != std::string::npos);
  CHECK(h.call("GET", "/v1/auth/me", {with_cookie}).status == 401);
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(token)}).status == 401);
  CHECK(h.audit.count("auth.logout") == 1);
}

TEST_CASE("auth api: failed logins look alike whatever was wrong, and cost the same argon2") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  h.member(a, "alice@example.com", "viewer");
  h.member(b, "bob@example.com", "viewer");
  HttpReply wrong_password = login(h, "alice@example.com", "wrong password!!");
  HttpReply unknown_email = login(h, "nobody@example.com", kPassword);
  HttpReply wrong_tenant = login(h, "alice@example.com", kPassword, "tenant-b");
  HttpReply no_tenant = login(h, "alice@example.com", kPassword, "tenant-zzz");
  for (const HttpReply* reply : {&wrong_password, &unknown_email, &wrong_tenant, &no_tenant}) {
    CHECK(reply->status == 401);
    CHECK(reply->body == wrong_password.body);
    CHECK(reply->raw.header("set-cookie").empty());
  }
  CHECK(h.audit.count("auth.login_failed", "failure") == 4);
  for (const audit::AuditEvent& event : h.audit.events()) {
    CHECK(event.detail_json.find(kPassword) == std::string::npos);  // never a password
  }
  // Malformed bodies are refused before any lookup.
  CHECK(h.call("POST", "/v1/auth/login", {{"Content-Type", "application/json"}}, "{").status ==
        400);
  CHECK(h.call("POST", "/v1/auth/login", {{"Content-Type", "text/plain"}}, "{}").status == 415);
  CHECK(h.callJson("POST", "/v1/auth/login", {{"email", 5}, {"password", "x"}}).status == 400);
  CHECK(h.call("POST", "/v1/auth/login", {{"Content-Type", "application/json"}},
               std::string(70 * 1024, ' '))
            .status == 413);
}

TEST_CASE("auth api: a user of several tenants names one; each login is a new session") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  h.member(a, "alice@example.com", "owner");
  h.member(b, "alice@example.com", "viewer");
  HttpReply ambiguous = login(h, "alice@example.com", kPassword);
  CHECK(ambiguous.status == 400);
  CHECK(ambiguous.errorCode() == "tenant_required");
  CHECK(ambiguous.json()["tenants"] == json({"tenant-a", "tenant-b"}));
  HttpReply into_b = login(h, "alice@example.com", kPassword, "tenant-b");
  REQUIRE(into_b.status == 200);
  CHECK(into_b.json()["role"] == "viewer");
  // Session fixation: a cookie planted before login is never the session after it.
  const std::string planted = cookieToken(into_b);
  HttpReply again = login(h, "alice@example.com", kPassword, "tenant-a",
                          {{"Cookie", "faultline_session=" + planted}});
  REQUIRE(again.status == 200);
  CHECK(cookieToken(again) != planted);
  CHECK(again.json()["role"] == "owner");
  HttpReply me = h.call("GET", "/v1/auth/me", {AuthHarness::bearer(cookieToken(again))});
  CHECK(me.json()["tenant_id"] == a.id);
  // GET /v1/tenants lists both memberships, the session's own marked current.
  HttpReply tenants = h.call("GET", "/v1/tenants", {AuthHarness::bearer(cookieToken(again))});
  REQUIRE(tenants.status == 200);
  const json list = tenants.json()["tenants"];
  REQUIRE(list.size() == 2);
  for (const json& t : list) {
    CHECK(t["current"] == (t["id"] == a.id));
    CHECK(t["role"] == (t["id"] == a.id ? "owner" : "viewer"));
  }
  // A key sees its one tenant only.
  HttpReply key_view = h.call("GET", "/v1/tenants", {AuthHarness::bearer(h.apiKey(b, "viewer"))});
  REQUIRE(key_view.json()["tenants"].size() == 1);
  CHECK(key_view.json()["tenants"][0]["id"] == b.id);
}

TEST_CASE(
    "auth api: a session switches to another tenant of its user without the password, and "
    "ends when the old one would have") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  store::Tenant c = h.tenant("tenant-c");
  store::User alice = h.member(a, "alice@example.com", "owner");
  h.member(b, "alice@example.com", "viewer");
  h.member(c, "carol@example.com", "owner");
  std::string csrf;
  const std::string in_a = h.session(a, alice, 600 * kSecNs, &csrf);
  const std::pair<std::string, std::string> cookie{"Cookie", "faultline_session=" + in_a};
  auto switchTo = [&](const std::string& tenant, Headers headers) {
    return h.callJson("POST", "/v1/auth/switch-tenant", {{"tenant", tenant}}, std::move(headers));
  };

  // Refused, and the session left as it was: no CSRF token with the cookie, a tenant she is not
  // in (existing or not: the same answer), her own tenant, a bad body, an API key.
  CHECK(switchTo("tenant-b", {cookie}).status == 403);
  HttpReply not_member = switchTo("tenant-c", {cookie, {"X-CSRF-Token", csrf}});
  HttpReply no_tenant = switchTo("tenant-zzz", {cookie, {"X-CSRF-Token", csrf}});
  CHECK(not_member.status == 404);
  CHECK(not_member.body == no_tenant.body);
  CHECK(switchTo("tenant-a", {cookie, {"X-CSRF-Token", csrf}}).status == 409);
  CHECK(h.callJson("POST", "/v1/auth/switch-tenant", {{"tenant", 5}},
                   {cookie, {"X-CSRF-Token", csrf}})
            .status == 400);
  CHECK(switchTo("tenant-b", {AuthHarness::bearer(h.apiKey(a, "admin"))}).status == 400);
  CHECK(h.call("GET", "/v1/auth/me", {cookie}).status == 200);
  CHECK(h.audit.count("auth.switch_tenant") == 0);

  // Switched: a new session in tenant-b with her role there; the old one is gone.
  h.now += 100 * kSecNs;
  HttpReply switched = switchTo("tenant-b", {cookie, {"X-CSRF-Token", csrf}});
  REQUIRE_MESSAGE(switched.status == 200, switched.body);
  const json doc = switched.json();
  CHECK(doc["tenant"]["name"] == "tenant-b");
  CHECK(doc["role"] == "viewer");
  CHECK(doc["csrf_token"].is_string());
  const std::string in_b = cookieToken(switched);
  REQUIRE(in_b.rfind("fls_", 0) == 0);
  CHECK(in_b != in_a);
  CHECK(h.call("GET", "/v1/auth/me", {cookie}).status == 401);
  HttpReply me = h.call("GET", "/v1/auth/me", {AuthHarness::bearer(in_b)});
  REQUIRE(me.status == 200);
  CHECK(me.json()["tenant_id"] == b.id);
  CHECK(me.json()["role"] == "viewer");
  // The cookie lives for what was left of the old session (600 s - 100 s), no longer.
  CHECK_MESSAGE(switched.raw.header("set-cookie").find("Max-Age=500") != std::string::npos,
                switched.raw.header("set-cookie"));
  h.now += 501 * kSecNs;
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(in_b)}).status == 401);

  // Audited in both tenants: leaving in tenant-a, arriving in tenant-b.
  int out_of_a = 0;
  int into_b = 0;
  for (const audit::AuditEvent& event : h.audit.events()) {
    if (event.action != "auth.switch_tenant") {
      continue;
    }
    CHECK(event.actor == "user:" + alice.id);
    if (event.tenant_id == a.id) {
      ++out_of_a;
      CHECK(event.detail_json.find("tenant-b") != std::string::npos);
    } else if (event.tenant_id == b.id) {
      ++into_b;
      CHECK(event.detail_json.find("tenant-a") != std::string::npos);
    }
  }
  CHECK(out_of_a == 1);
  CHECK(into_b == 1);
}

TEST_CASE("auth api: expired and revoked sessions and keys get the same 401") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User alice = h.member(a, "alice@example.com", "admin");
  const std::string short_session = h.session(a, alice, 10 * kSecNs);
  std::string revoked_id;
  const std::string revoked_key = h.apiKey(a, "viewer", &revoked_id);
  const std::string expiring_key = h.apiKey(a, "viewer", nullptr, h.now.load() + 10 * kSecNs);
  CHECK(h.call("GET", "/v1/members", {AuthHarness::bearer(short_session)}).status == 200);
  CHECK(h.call("GET", "/v1/members", {AuthHarness::bearer(expiring_key)}).status == 200);
  REQUIRE(h.store().revokeApiKey(a.id, revoked_id, h.now.load()).isOk());
  h.now += 11 * kSecNs;
  const HttpReply reference = h.call("GET", "/v1/members");  // no credentials at all
  CHECK(reference.status == 401);
  CHECK(reference.raw.header("www-authenticate") == "Bearer");
  for (const std::string& credential :
       {short_session, revoked_key, expiring_key, std::string("fls_nope"), std::string("flk_x"),
        std::string("fas_x"), std::string("a.b.c"), std::string("garbage")}) {
    HttpReply reply = h.call("GET", "/v1/members", {AuthHarness::bearer(credential)});
    CHECK(reply.status == 401);
    CHECK(reply.body == reference.body);
  }
  CHECK(h.call("GET", "/v1/members", {{"Authorization", "Basic YTpi"}}).body == reference.body);
  CHECK(h.call("GET", "/v1/members", {{"Cookie", "faultline_session=fls_nope"}}).body ==
        reference.body);
}

TEST_CASE("auth api: cached credential lookups; changes through this node apply at once") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User olga = h.member(a, "olga@example.com", "owner");
  store::User adam = h.member(a, "adam@example.com", "admin");
  const std::string owner_session = h.session(a, olga);
  const std::string admin_session = h.session(a, adam);
  // Both sessions are looked up (and cached); the admin may invite.
  const json invite = {{"email", "new@example.com"}, {"role", "viewer"}};
  CHECK(
      h.callJson("POST", "/v1/invitations", invite, {AuthHarness::bearer(admin_session)}).status ==
      201);
  // Demoted through this node: the cached admin role is not used again.
  HttpReply demoted = h.callJson("PUT", "/v1/members/" + adam.id, {{"role", "viewer"}},
                                 {AuthHarness::bearer(owner_session)});
  REQUIRE_MESSAGE(demoted.status == 200, demoted.body);
  CHECK(
      h.callJson("POST", "/v1/invitations", invite, {AuthHarness::bearer(admin_session)}).status ==
      403);
  // Logged out through this node: the cached session is not used again.
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(admin_session)}).status == 200);
  CHECK(h.call("POST", "/v1/auth/logout", {AuthHarness::bearer(admin_session)}).status == 200);
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(admin_session)}).status == 401);
}

TEST_CASE("auth api: a revocation made by another node is seen within the cache TTL") {
  auth::AuthenticatorOptions cache;
  cache.credential_cache_ttl = std::chrono::milliseconds(300);
  AuthHarness h(nullptr, {}, {}, cache);
  store::Tenant a = h.tenant("tenant-a");
  std::string key_id;
  const std::string key = h.apiKey(a, "viewer", &key_id);
  CHECK(h.call("GET", "/v1/agents", {AuthHarness::bearer(key)}).status == 200);
  // Revoked in the store directly, as another aggregator node would: this node's lookup of a
  // moment ago still stands (that is the cache), and is asked again once it is 300 ms old.
  REQUIRE(h.store().revokeApiKey(a.id, key_id, h.now.load()).isOk());
  CHECK(h.call("GET", "/v1/agents", {AuthHarness::bearer(key)}).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(h.call("GET", "/v1/agents", {AuthHarness::bearer(key)}).status == 401);

  auth::AuthenticatorOptions no_cache;
  no_cache.credential_cache_ttl = std::chrono::milliseconds(0);
  AuthHarness uncached(nullptr, {}, {}, no_cache);
  store::Tenant b = uncached.tenant("tenant-b");
  const std::string other_key = uncached.apiKey(b, "viewer", &key_id);
  CHECK(uncached.call("GET", "/v1/agents", {AuthHarness::bearer(other_key)}).status == 200);
  REQUIRE(uncached.store().revokeApiKey(b.id, key_id, uncached.now.load()).isOk());
  CHECK(uncached.call("GET", "/v1/agents", {AuthHarness::bearer(other_key)}).status == 401);
}

TEST_CASE("auth api: refused credentials are audited, at most once a minute per client host") {
  AuthHarness h;
  for (int i = 0; i < 5; ++i) {
    CHECK(h.call("GET", "/v1/members", {AuthHarness::bearer("flk_guess" + std::to_string(i))})
              .status == 401);
  }
  REQUIRE(h.audit.count("auth.unauthenticated", "failure") == 1);
  audit::AuditEvent first = h.audit.events().back();
  CHECK(first.tenant_id.empty());  // the system chain: no tenant is known
  CHECK(first.actor == "anonymous");
  CHECK(json::parse(first.detail_json)["path"] == "/v1/members");
  h.now += 61 * kSecNs;
  CHECK(h.call("GET", "/v1/members").status == 401);
  REQUIRE(h.audit.count("auth.unauthenticated", "failure") == 2);
  CHECK(json::parse(h.audit.events().back().detail_json)["suppressed_since_last"] == 4);
}

TEST_CASE("auth api: members, API keys and tenants are listed a page at a time") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User olga = h.member(a, "olga@example.com", "owner");
  for (const char* email : {"b@example.com", "d@example.com", "c@example.com", "a@example.com"}) {
    h.member(a, email, "viewer");
  }
  for (const char* name : {"tenant-c", "tenant-b"}) {
    h.member(h.tenant(name), "olga@example.com", "viewer");
  }
  for (int i = 0; i < 3; ++i) {
    h.apiKey(a, "viewer");
  }
  const std::string session = h.session(a, olga);
  // Follows next_cursor from the first page to the last; returns the `field` of every item.
  auto walk = [&](const std::string& path, const std::string& list, const std::string& field,
                  std::size_t limit, int* pages) {
    std::vector<std::string> seen;
    std::string cursor;
    *pages = 0;
    for (;;) {
      std::string url = path + "?limit=" + std::to_string(limit);
      if (!cursor.empty()) {
        url += "&cursor=" + cursor;
      }
      HttpReply page = h.call("GET", url, {AuthHarness::bearer(session)});
      REQUIRE_MESSAGE(page.status == 200, page.body);
      ++*pages;
      const json doc = page.json();
      CHECK(doc[list].size() <= limit);
      for (const json& item : doc[list]) {
        seen.push_back(item[field].get<std::string>());
      }
      if (doc["next_cursor"].is_null()) {
        return seen;
      }
      cursor = doc["next_cursor"].get<std::string>();
      REQUIRE(*pages < 20);
    }
  };
  int pages = 0;
  CHECK(walk("/v1/members", "members", "email", 2, &pages) ==
        std::vector<std::string>{"a@example.com", "b@example.com", "c@example.com", "d@example.com",
                                 "olga@example.com"});
  CHECK(pages == 3);
  std::vector<std::string> keys = walk("/v1/api-keys", "api_keys", "id", 2, &pages);
  CHECK(keys.size() == 3);
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 3);
  CHECK(pages == 2);
  CHECK(walk("/v1/tenants", "tenants", "name", 1, &pages) ==
        std::vector<std::string>{"tenant-a", "tenant-b", "tenant-c"});
  CHECK(pages == 3);
  // One page of everything has no next cursor; bad limits and cursors are 400s.
  HttpReply all = h.call("GET", "/v1/members", {AuthHarness::bearer(session)});
  CHECK(all.json()["members"].size() == 5);
  CHECK(all.json()["next_cursor"].is_null());
  for (const std::string query :
       {"limit=0", "limit=501", "limit=x", "cursor=nope", "cursor=%27%20OR%201%3D1--"}) {
    HttpReply bad = h.call("GET", "/v1/members?" + query, {AuthHarness::bearer(session)});
    CHECK_MESSAGE(bad.status == 400, query);
  }
}

TEST_CASE("auth api: JWT access tokens for sessions only; they authenticate until they expire") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User alice = h.member(a, "alice@example.com", "responder");
  const std::string session = h.session(a, alice);
  HttpReply issued = h.call("POST", "/v1/auth/token", {AuthHarness::bearer(session)});
  REQUIRE_MESSAGE(issued.status == 200, issued.body);
  const std::string jwt = issued.json()["access_token"].get<std::string>();
  CHECK(issued.json()["token_type"] == "Bearer");
  HttpReply me = h.call("GET", "/v1/auth/me", {AuthHarness::bearer(jwt)});
  REQUIRE_MESSAGE(me.status == 200, me.body);
  CHECK(me.json()["role"] == "responder");
  // A JWT cannot mint its successor; an API key cannot get one.
  CHECK(h.call("POST", "/v1/auth/token", {AuthHarness::bearer(jwt)}).status == 403);
  CHECK(h.call("POST", "/v1/auth/token", {AuthHarness::bearer(h.apiKey(a, "admin"))}).status ==
        403);
  // Tampered: the signature of one token on another's claims.
  std::string tampered = jwt;
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(tampered)}).status == 401);
  h.now += 16 * 60 * kSecNs;
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(jwt)}).status == 401);
}

TEST_CASE("auth api: API keys carry a role no higher than the creator's and are revocable") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User responder = h.member(a, "rita@example.com", "responder");
  const std::string session = h.session(a, responder);
  auto create = [&](const json& body) {
    return h.callJson("POST", "/v1/api-keys", body, {AuthHarness::bearer(session)});
  };
  CHECK(create({{"role", "admin"}}).status == 403);
  CHECK(create({{"role", "owner"}}).status == 403);
  CHECK(create({{"role", "root"}}).status == 400);
  CHECK(create({{"role", "viewer"}, {"ttl", "soon"}}).status == 400);
  CHECK(create({{"role", "viewer"}, {"ttl", 5}}).status == 400);
  CHECK(h.store().listApiKeys(a.id)->empty());
  HttpReply made = create({{"role", "responder"}, {"name", "ci"}, {"ttl", "1h"}});
  REQUIRE_MESSAGE(made.status == 201, made.body);
  const std::string key = made.json()["key"].get<std::string>();
  const std::string id = made.json()["id"].get<std::string>();
  CHECK(key.rfind("flk_", 0) == 0);
  CHECK_FALSE(made.json()["expires_at"].is_null());
  // The key works, is listed without its secret, and its last use is recorded.
  HttpReply me = h.call("GET", "/v1/auth/me", {AuthHarness::bearer(key)});
  REQUIRE(me.status == 200);
  CHECK(me.json()["actor"] == "api_key:" + id);
  HttpReply listed = h.call("GET", "/v1/api-keys", {AuthHarness::bearer(session)});
  REQUIRE(listed.status == 200);
  CHECK(listed.body.find(key) == std::string::npos);
  CHECK(listed.body.find(crypto::hashSecret(key)) == std::string::npos);
  CHECK_FALSE(listed.json()["api_keys"][0]["last_used_at"].is_null());
  // Integration keys: anyone who may create keys; they may not read the tenant.
  HttpReply integration = create({{"role", "integration"}});
  REQUIRE(integration.status == 201);
  CHECK(h.call("GET", "/v1/members",
               {AuthHarness::bearer(integration.json()["key"].get<std::string>())})
            .status == 403);
  // Revoking needs an admin; after it the key is refused.
  store::User admin = h.member(a, "adam@example.com", "admin");
  const std::string admin_session = h.session(a, admin);
  CHECK(h.call("DELETE", "/v1/api-keys/" + id, {AuthHarness::bearer(session)}).status == 403);
  HttpReply revoked = h.call("DELETE", "/v1/api-keys/" + id, {AuthHarness::bearer(admin_session)});
  REQUIRE_MESSAGE(revoked.status == 200, revoked.body);
  CHECK(h.call("GET", "/v1/auth/me", {AuthHarness::bearer(key)}).status == 401);
  CHECK(h.call("DELETE", "/v1/api-keys/key_nope", {AuthHarness::bearer(admin_session)}).status ==
        404);
  CHECK(h.audit.count("api_key.create") == 2);
  CHECK(h.audit.count("api_key.revoke") == 1);
}

TEST_CASE("auth api: members and invitations; a tenant keeps an owner") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User owner = h.member(a, "olga@example.com", "owner");
  store::User admin = h.member(a, "adam@example.com", "admin");
  const std::string owner_session = h.session(a, owner);
  const std::string admin_session = h.session(a, admin);
  auto as = [](const std::string& token) { return Headers{AuthHarness::bearer(token)}; };

  HttpReply invited =
      h.callJson("POST", "/v1/invitations", {{"email", "Vera@Example.com"}, {"role", "viewer"}},
                 as(admin_session));
  REQUIRE_MESSAGE(invited.status == 201, invited.body);
  CHECK(h.callJson("POST", "/v1/invitations", {{"email", "x@example.com"}, {"role", "owner"}},
                   as(admin_session))
            .status == 403);  // above the inviter's role
  CHECK(h.callJson("POST", "/v1/invitations", {{"email", "not-an-email"}, {"role", "viewer"}},
                   as(admin_session))
            .status == 400);
  const std::string token = invited.json()["token"].get<std::string>();
  CHECK(h.callJson("POST", "/v1/invitations/accept", {{"token", token}, {"password", "short"}})
            .status == 400);
  HttpReply accepted = h.callJson("POST", "/v1/invitations/accept",
                                  {{"token", token}, {"password", "a long new password"}});
  REQUIRE_MESSAGE(accepted.status == 200, accepted.body);
  const std::string vera_id = accepted.json()["user_id"].get<std::string>();
  CHECK(h.callJson("POST", "/v1/invitations/accept",
                   {{"token", token}, {"password", "a long new password"}})
            .status == 404);  // one use
  HttpReply vera_login = login(h, "vera@example.com", "a long new password");
  REQUIRE_MESSAGE(vera_login.status == 200, vera_login.body);
  CHECK(vera_login.json()["role"] == "viewer");

  HttpReply members = h.call("GET", "/v1/members", as(admin_session));
  REQUIRE(members.status == 200);
  CHECK(members.json()["members"].size() == 3);

  // An admin cannot touch the owner, nor promote anyone to owner.
  CHECK(h.callJson("PUT", "/v1/members/" + owner.id, {{"role", "viewer"}}, as(admin_session))
            .status == 403);
  CHECK(
      h.callJson("PUT", "/v1/members/" + vera_id, {{"role", "owner"}}, as(admin_session)).status ==
      403);
  HttpReply promoted =
      h.callJson("PUT", "/v1/members/" + vera_id, {{"role", "responder"}}, as(admin_session));
  REQUIRE_MESSAGE(promoted.status == 200, promoted.body);
  CHECK(h.store().findMember(a.id, vera_id)->role == "responder");
  // The only owner cannot step down or be removed.
  CHECK(
      h.callJson("PUT", "/v1/members/" + owner.id, {{"role", "admin"}}, as(owner_session)).status ==
      409);
  CHECK(h.call("DELETE", "/v1/members/" + owner.id, as(owner_session)).status == 409);
  // Removing a member ends their sessions.
  const std::string vera_session = cookieToken(vera_login);
  HttpReply removed = h.call("DELETE", "/v1/members/" + vera_id, as(admin_session));
  REQUIRE_MESSAGE(removed.status == 200, removed.body);
  CHECK(h.call("GET", "/v1/auth/me", as(vera_session)).status == 401);
  CHECK(h.call("DELETE", "/v1/members/" + vera_id, as(admin_session)).status == 404);
  CHECK(h.audit.count("member.role_change") == 1);
  CHECK(h.audit.count("member.remove") == 1);
  CHECK(h.audit.count("invitation.accept") == 1);
}

TEST_CASE("auth api: repeated failures lock the e-mail and the address out with 429") {
  auth::ThrottleOptions throttle;
  throttle.free_failures = 3;
  AuthHarness h(throttle);
  store::Tenant a = h.tenant("tenant-a");
  h.member(a, "alice@example.com", "viewer");
  for (int i = 0; i < 4; ++i) {
    CHECK(login(h, "alice@example.com", "wrong password!!").status == 401);
  }
  // Locked now, even with the right password.
  HttpReply locked = login(h, "alice@example.com", kPassword);
  CHECK(locked.status == 429);
  CHECK(locked.raw.header("retry-after") == "1");
  // The address is locked too: another e-mail from it waits as well.
  CHECK(login(h, "bob@example.com", kPassword).status == 429);
  h.now += 1 * kSecNs;
  CHECK(login(h, "alice@example.com", kPassword).status == 200);
  CHECK(h.audit.count("auth.login_throttled") == 2);
}

TEST_CASE("auth api: an audit failure refuses the change instead of reporting it done") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User admin = h.member(a, "adam@example.com", "admin");
  const std::string session = h.session(a, admin);
  h.audit.fail = true;
  HttpReply key =
      h.callJson("POST", "/v1/api-keys", {{"role", "viewer"}}, {AuthHarness::bearer(session)});
  CHECK(key.status == 500);
  CHECK(key.body.find("flk_") == std::string::npos);
  auto keys = h.store().listApiKeys(a.id);
  REQUIRE(keys.isOk());
  for (const store::ApiKey& stored : *keys) {
    CHECK(stored.revoked_at_ns != 0);  // made, then revoked: never usable
  }
  HttpReply logged_in = login(h, "adam@example.com", kPassword);
  CHECK(logged_in.status == 500);
  CHECK(logged_in.raw.header("set-cookie").empty());
}

// Every route × every principal column: allowed → 2xx, others → 403; another tenant's ids → 404.
// On both store engines.
TEST_CASE_TEMPLATE("auth api: role x route table, and other tenants' ids are 404", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  AuthHarness h(engine.open());
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  std::map<std::string, store::User> users;
  for (const char* role : {"owner", "admin", "responder", "viewer"}) {
    users[role] = h.member(a, std::string(role) + "@a.example.com", role);
  }
  h.member(a, "second-owner@a.example.com", "owner");
  int counter = 0;
  auto fresh = [&] { return std::to_string(++counter); };

  struct RouteCase {
    std::string method;
    std::function<std::string()> path;  // may create the target it acts on
    json body;                          // null: no body
    auth::Permission permission;
    std::function<json()> make_body = nullptr;  // set: the body, made after path()
  };
  auto fresh_viewer = [&] {
    return h.member(a, "target" + fresh() + "@a.example.com", "viewer").id;
  };
  std::string key_to_revoke;
  const json silence = {{"name", "silence"},
                        {"matchers", json::array({{{"name", "service"}, {"value", "db"}}})}};
  const json window = {{"name", "window"},
                       {"matchers", json::array({{{"name", "service"}, {"value", "db"}}})},
                       {"starts_at", "2026-11-28T22:00:00Z"},
                       {"ends_at", "2026-11-28T23:00:00Z"}};
  // A rule of tenant A made behind the API's back, for a DELETE to act on.
  auto noise_rule = [&](const std::string& kind) {
    store::NoiseRule rule{
        "nr_" + fresh(), a.id, kind, "r", (kind == "maintenance" ? window : silence).dump(),
        "test",          1,    0};
    REQUIRE(h.store().createNoiseRule(rule).isOk());
    return rule.id;
  };
  // A runbook of tenant A made behind the API's back, for a GET or DELETE to act on.
  auto fresh_runbook = [&] {
    store::KnowledgeDocument runbook;
    runbook.tenant_id = a.id;
    runbook.kind = "runbook";
    runbook.id = "rb-" + fresh();
    runbook.title = "Disk full";
    runbook.body = "# Disk full\nFree space on the volume.\n";
    runbook.passages = {{"Disk full", "Free space on the volume.", {}}};
    runbook.updated_at_ns = 1;
    REQUIRE(h.store().putKnowledgeDocument(runbook).isOk());
    return runbook.id;
  };
  // An incident of tenant A with two events, written behind the API's back (the engine reads
  // it from the store when a request names it).
  std::vector<std::string> incident_events;
  auto fresh_incident = [&] {
    std::vector<events::Event> recorded;
    for (int i = 0; i < 2; ++i) {
      events::Event event;
      event.tenant_id = a.id;
      event.source = events::SourceKind::kAlertmanager;
      event.service = "db";
      event.severity = events::Severity::kCritical;
      event.title = "alert " + fresh();
      event.source_dedup_key = event.title;
      event.occurred_at_ns = 1'000'000'000LL * (1000 + counter);
      event.received_at_ns = event.occurred_at_ns;
      event.fingerprint = events::computeFingerprint(event);
      recorded.push_back(event);
    }
    auto decisions = h.store().recordEvents(a.id, recorded);
    REQUIRE(decisions.isOk());
    store::IncidentWrite write;
    store::IncidentRow row;
    row.id = "inc_" + fresh();
    row.tenant_id = a.id;
    row.status = "triggered";
    row.severity = "critical";
    row.title = "db";
    row.first_event_ns = recorded.front().occurred_at_ns;
    row.last_event_ns = recorded.back().occurred_at_ns;
    row.doc_json = "{}";
    write.upserts.push_back(row);
    incident_events.clear();
    for (const store::EventDecision& decision : *decisions) {
      incident_events.push_back(decision.event_id);
      write.links.push_back({row.id, decision.event_id, row.first_event_ns, "{}"});
    }
    REQUIRE(h.store().writeIncidents(a.id, write).isOk());
    return row.id;
  };
  // An incident of tenant A with a runbook stored behind the API's back, for a GET to read.
  auto fresh_ai_runbook = [&] {
    const std::string incident = fresh_incident();
    store::AiRunbookRecord record;
    record.tenant_id = a.id;
    record.incident_id = incident;
    record.body_json = R"({"summary":"s","diagnosis":"d","steps":[{"action":"look"}]})";
    record.provider = "offline";
    record.updated_by = "system";
    record.updated_at_ns = 1;
    REQUIRE(h.store().putAiRunbook(record).isOk());
    return incident;
  };
  // An incident of tenant A with a summary, an explanation and a postmortem stored behind the
  // API's back.
  auto fresh_ai_answers = [&] {
    const std::string incident = fresh_incident();
    for (const char* task : {"summary", "explanation", "postmortem"}) {
      store::AiAnswerRecord record;
      record.tenant_id = a.id;
      record.incident_id = incident;
      record.task = task;
      record.body_json = R"({"task":"summary","markdown":"# m"})";
      record.provider = "offline";
      record.updated_by = "system";
      record.updated_at_ns = 1;
      REQUIRE(h.store().putAiAnswer(record).isOk());
    }
    return incident;
  };
  const json edited_runbook = {
      {"summary", "edited"}, {"diagnosis", "db"}, {"steps", {{{"action", "restart the db"}}}}};
  std::string merge_source;
  // A service of a tenant declared behind the API's back, for a DELETE to act on.
  auto graph_service = [&](const std::string& tenant_id) {
    store::GraphChange change;
    change.cause = "test";
    change.declare.push_back({store::GraphService{"gone-" + fresh(), "", "", "", {}}, {}});
    REQUIRE(h.store().applyGraphChange(tenant_id, change).isOk());
    return change.declare[0].service.name;
  };
  // A notification channel of tenant A made behind the API's back (nothing listens on port 1:
  // a test send answers 200 with delivered false). Paths are asked for many times (the route
  // census below), so the previous one is dropped first: the tenant stays under its limit.
  std::string last_channel;
  auto notify_channel = [&] {
    if (!last_channel.empty()) {
      (void)h.store().deleteNotificationChannel(a.id, last_channel, 2);
    }
    store::NotificationChannel channel;
    channel.id = "nch_" + fresh();
    channel.tenant_id = a.id;
    channel.name = "ops";
    channel.kind = "webhook";
    channel.url = "http://127.0.0.1:1/hook";
    channel.events = "opened";
    channel.min_severity = "unknown";
    channel.created_at_ns = 1;
    REQUIRE(h.store().createNotificationChannel(channel).isOk());
    last_channel = channel.id;
    return channel.id;
  };
  const json channel_spec = {{"name", "ops"}, {"kind", "webhook"}, {"url", "http://127.0.0.1:1/"}};
  bool switch_tenant_ready = false;
  const std::vector<RouteCase> routes = {
      {"POST", [] { return "/v1/auth/logout"; }, nullptr, auth::Permission::ReadSelf},
      // Every role of tenant A is also a viewer of tenant-s, where the switch takes them.
      {"POST",
       [&] {
         if (!switch_tenant_ready) {
           const store::Tenant s = h.tenant("tenant-s");
           for (const auto& [role, user] : users) {
             (void)role;
             h.member(s, user.email, "viewer");
           }
           switch_tenant_ready = true;
         }
         return "/v1/auth/switch-tenant";
       },
       json{{"tenant", "tenant-s"}}, auth::Permission::ReadSelf},
      {"GET", [] { return "/v1/auth/me"; }, nullptr, auth::Permission::ReadSelf},
      {"POST", [] { return "/v1/auth/token"; }, nullptr, auth::Permission::IssueToken},
      {"POST", [] { return "/v1/api-keys"; }, json{{"role", "viewer"}},
       auth::Permission::CreateApiKey},
      {"GET", [] { return "/v1/api-keys"; }, nullptr, auth::Permission::ListApiKeys},
      {"DELETE",
       [&] {
         std::string id;
         h.apiKey(a, "viewer", &id);
         return "/v1/api-keys/" + id;
       },
       nullptr, auth::Permission::RevokeApiKey},
      {"GET", [] { return "/v1/members"; }, nullptr, auth::Permission::ListMembers},
      {"PUT", [&] { return "/v1/members/" + fresh_viewer(); }, json{{"role", "viewer"}},
       auth::Permission::ChangeMemberRole},
      {"DELETE", [&] { return "/v1/members/" + fresh_viewer(); }, nullptr,
       auth::Permission::RemoveMember},
      {"POST", [] { return "/v1/invitations"; },
       json{{"email", "new@x.example"}, {"role", "viewer"}}, auth::Permission::InviteMember},
      {"GET", [] { return "/v1/agents"; }, nullptr, auth::Permission::ListAgents},
      {"GET", [] { return "/v1/tenants"; }, nullptr, auth::Permission::ReadSelf},
      {"GET", [] { return "/v1/audit"; }, nullptr, auth::Permission::ReadAudit},
      // The JSON body is one log line to the uploader.
      {"POST", [] { return "/v1/logs/upload?source=role-table"; }, json{{"msg", "hello"}},
       auth::Permission::UploadLogs},
      {"GET", [] { return "/v1/integrations"; }, nullptr, auth::Permission::ListIntegrations},
      {"POST", [] { return "/v1/integrations"; }, json{{"kind", "alertmanager"}},
       auth::Permission::CreateIntegration},
      {"DELETE",
       [&] {
         store::Integration integration;
         integration.id = "int_" + fresh();
         integration.tenant_id = a.id;
         integration.kind = "grafana";
         integration.name = "grafana";
         integration.key_hash = "hash-" + integration.id;
         integration.rate_limit_rps = 1;
         integration.rate_limit_burst = 1;
         REQUIRE(h.store().createIntegration(integration).isOk());
         return "/v1/integrations/" + integration.id;
       },
       nullptr, auth::Permission::RevokeIntegration},
      {"POST", [] { return "/v1/enrollment-tokens"; }, json{{"ttl", "1h"}},
       auth::Permission::EnrollAgents},
      {"GET", [] { return "/v1/enrollment-tokens"; }, nullptr, auth::Permission::EnrollAgents},
      {"DELETE",
       [&] {
         auto id = h.store().createEnrollmentToken(
             a.id, crypto::hashSecret(crypto::randomToken("fet_")), 1, INT64_MAX);
         REQUIRE(id.isOk());
         return "/v1/enrollment-tokens/" + std::to_string(*id);
       },
       nullptr, auth::Permission::EnrollAgents},
      {"GET", [] { return "/v1/events"; }, nullptr, auth::Permission::ReadEvents},
      {"GET", [] { return "/v1/events/stats"; }, nullptr, auth::Permission::ReadEvents},
      {"GET",
       [&] {
         fresh_incident();
         return "/v1/events/" + incident_events.front();
       },
       nullptr, auth::Permission::ReadEvents},
      {"GET", [] { return "/v1/alerts"; }, nullptr, auth::Permission::ReadEvents},
      {"GET", [] { return "/v1/suppression-rules"; }, nullptr, auth::Permission::ReadNoiseRules},
      {"POST", [] { return "/v1/suppression-rules"; }, silence, auth::Permission::ManageNoiseRules},
      {"DELETE", [&] { return "/v1/suppression-rules/" + noise_rule("suppression"); }, nullptr,
       auth::Permission::ManageNoiseRules},
      {"GET", [] { return "/v1/maintenance-windows"; }, nullptr, auth::Permission::ReadNoiseRules},
      {"POST", [] { return "/v1/maintenance-windows"; }, window,
       auth::Permission::ManageNoiseRules},
      {"DELETE", [&] { return "/v1/maintenance-windows/" + noise_rule("maintenance"); }, nullptr,
       auth::Permission::ManageNoiseRules},
      {"GET", [] { return "/v1/events/stream"; }, nullptr, auth::Permission::ReadEvents},
      {"GET", [] { return "/v1/incidents"; }, nullptr, auth::Permission::ReadIncidents},
      {"GET", [&] { return "/v1/incidents/" + fresh_incident(); }, nullptr,
       auth::Permission::ReadIncidents},
      {"PATCH", [&] { return "/v1/incidents/" + fresh_incident(); }, json{{"assignee", "bob"}},
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/acknowledge"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/resolve"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/close"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/comments"; },
       json{{"text", "looking"}}, auth::Permission::ManageIncidents},
      {"PUT", [&] { return "/v1/incidents/" + fresh_incident() + "/postmortem"; },
       json{{"markdown", "# What happened"}}, auth::Permission::ManageIncidents},
      {"GET", [&] { return "/v1/incidents/" + fresh_ai_answers() + "/postmortem"; }, nullptr,
       auth::Permission::ReadIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/split"; }, nullptr,
       auth::Permission::ManageIncidents,
       [&] {
         return json{{"event_ids", {incident_events.front()}}};
       }},
      {"POST",
       [&] {
         merge_source = fresh_incident();
         return "/v1/incidents/" + fresh_incident() + "/merge";
       },
       nullptr, auth::Permission::ManageIncidents,
       [&] {
         return json{{"source", merge_source}};
       }},
      {"GET", [] { return "/v1/correlation-rules"; }, nullptr, auth::Permission::ReadIncidents},
      {"PUT", [] { return "/v1/correlation-rules"; }, json{{"window", "10m"}},
       auth::Permission::ManageIncidents},
      {"POST", [] { return "/v1/changes"; }, json{{"service", "db"}, {"title", "deploy"}},
       auth::Permission::PostChanges},
      {"GET", [] { return "/v1/services"; }, nullptr, auth::Permission::ReadGraph},
      {"PUT", [&] { return "/v1/services/svc-" + fresh(); },
       json{{"owner", "team"}, {"depends_on", {"db"}}}, auth::Permission::ManageGraph},
      {"DELETE", [&] { return "/v1/services/" + graph_service(a.id); }, nullptr,
       auth::Permission::ManageGraph},
      {"POST", [] { return "/v1/service-graph/import?mode=merge"; },
       json{{"services", json::array({{{"name", "imported"}, {"depends_on", {"db"}}}})}},
       auth::Permission::ManageGraph},
      {"POST", [] { return "/v1/service-graph/spans"; },
       json{{"spans", json::array({{{"trace_id", "t"}, {"span_id", "1"}, {"service", "web"}},
                                   {{"trace_id", "t"},
                                    {"span_id", "2"},
                                    {"parent_span_id", "1"},
                                    {"service", "api"}}})}},
       auth::Permission::ManageGraph},
      {"GET", [] { return "/v1/service-graph"; }, nullptr, auth::Permission::ReadGraph},
      {"GET", [] { return "/v1/service-graph/versions"; }, nullptr, auth::Permission::ReadGraph},
      {"GET", [] { return "/v1/notification-channels"; }, nullptr, auth::Permission::ReadIncidents},
      {"POST", [] { return "/v1/notification-channels"; }, channel_spec,
       auth::Permission::ManageIncidents},
      {"DELETE", [&] { return "/v1/notification-channels/" + notify_channel(); }, nullptr,
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/notification-channels/" + notify_channel() + "/test"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"GET", [&] { return "/v1/notification-channels/" + notify_channel() + "/deliveries"; },
       nullptr, auth::Permission::ReadIncidents},
      {"POST", [] { return "/v1/search"; }, json{{"query", "disk full"}},
       auth::Permission::ReadIncidents},
      {"GET", [&] { return "/v1/incidents/" + fresh_incident() + "/similar"; }, nullptr,
       auth::Permission::ReadIncidents},
      {"GET", [] { return "/v1/runbooks"; }, nullptr, auth::Permission::ReadIncidents},
      {"GET", [&] { return "/v1/runbooks/" + fresh_runbook(); }, nullptr,
       auth::Permission::ReadIncidents},
      {"POST", [] { return "/v1/runbooks"; },
       json{{"title", "Restart"}, {"markdown", "# Restart\nRestart the service.\n"}},
       auth::Permission::ManageIncidents},
      {"DELETE", [&] { return "/v1/runbooks/" + fresh_runbook(); }, nullptr,
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/runbook"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"GET", [&] { return "/v1/incidents/" + fresh_ai_runbook() + "/runbook"; }, nullptr,
       auth::Permission::ReadIncidents},
      {"PUT", [&] { return "/v1/incidents/" + fresh_incident() + "/runbook"; }, edited_runbook,
       auth::Permission::ManageIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/summary"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"GET", [&] { return "/v1/incidents/" + fresh_ai_answers() + "/summary"; }, nullptr,
       auth::Permission::ReadIncidents},
      {"POST", [&] { return "/v1/incidents/" + fresh_incident() + "/explanation"; }, nullptr,
       auth::Permission::ManageIncidents},
      {"GET", [&] { return "/v1/incidents/" + fresh_ai_answers() + "/explanation"; }, nullptr,
       auth::Permission::ReadIncidents},
      {"GET", [] { return "/v1/ai/usage"; }, nullptr, auth::Permission::ReadIncidents},
  };
  // Every route of the server is either in the table above or deliberately public (it
  // authenticates some other way, or not at all). A new route must be added to one of them.
  const std::set<std::string> kNotGuarded = {
      "GET /healthz",
      "GET /v1/openapi.json",
      "POST /v1/auth/login",
      "POST /v1/invitations/accept",
      "POST /v1/agents/enroll",  // one-time tokens
      "GET /readyz",
      "GET /metrics",  // operations: no credentials
      "POST /v1/ingest",
      "POST /v1/agents/heartbeat",  // agent secret (AgentApi)
      "POST /v1/hooks",
      "POST /v1/hooks/{key}",
      "POST /v1/hooks/pagerduty/v2/enqueue",
      "POST /v1/hooks/{key}/v2/enqueue",  // integration keys (WebhookReceiver)
      "GET /",
      "GET /ui/app.js",
      "GET /ui/app.css",  // the dashboard's files: the data comes from the guarded API
  };
  for (const auto& served : h.routes()) {
    const std::string name = served.method + " " + served.path;
    bool in_table = false;
    for (const RouteCase& route : routes) {
      std::string path = route.path();
      path = path.substr(0, path.find('?'));
      // Templated routes: compare the path before its {param}.
      const std::size_t brace = served.path.find('{');
      in_table |= route.method == served.method &&
                  (brace == std::string::npos ? path == served.path
                                              : path.starts_with(served.path.substr(0, brace)));
    }
    CHECK_MESSAGE((in_table || kNotGuarded.count(name) == 1),
                  name << " is neither in the role table nor listed as public");
  }

  struct Caller {
    auth::Column column;
    std::function<std::string()> credential;  // a fresh one per call (logout revokes)
  };
  std::vector<Caller> callers;
  for (const auto& [role, user] : users) {
    const store::User member = user;
    callers.push_back({auth::columnFor(auth::PrincipalKind::User, *auth::parseRole(role)),
                       [&h, &a, member] { return h.session(a, member); }});
  }
  callers.push_back({auth::Column::Agent, [&] { return h.agentSecret(a); }});
  callers.push_back({auth::Column::Integration, [&] { return h.apiKey(a, "integration"); }});

  for (const RouteCase& route : routes) {
    for (const Caller& caller : callers) {
      const std::string path = route.path();
      INFO(route.method << " " << path << " as " << auth::columnName(caller.column));
      const Headers headers = {AuthHarness::bearer(caller.credential())};
      const json body = route.make_body ? route.make_body() : route.body;
      HttpReply reply = body.is_null() ? h.call(route.method, path, headers)
                                       : h.callJson(route.method, path, body, headers);
      if (auth::allowed(caller.column, route.permission)) {
        CHECK_MESSAGE((reply.status >= 200 && reply.status < 300), reply.body);
      } else {
        CHECK_MESSAGE(reply.status == 403, reply.body);
      }
    }
  }

  // Tenant B's owner names A's ids: they do not exist for B, and nothing changes in A.
  store::User b_owner = h.member(b, "owner@b.example.com", "owner");
  const Headers as_b = {AuthHarness::bearer(h.session(b, b_owner))};
  std::string a_key;
  h.apiKey(a, "viewer", &a_key);
  const std::string a_member = fresh_viewer();
  CHECK(h.call("DELETE", "/v1/api-keys/" + a_key, as_b).status == 404);
  auto a_integrations = h.store().listIntegrations(a.id);
  REQUIRE(a_integrations.isOk());
  REQUIRE_FALSE(a_integrations->empty());
  const std::string a_integration = a_integrations->front().id;
  CHECK(h.call("DELETE", "/v1/integrations/" + a_integration, as_b).status == 404);
  CHECK(h.call("GET", "/v1/integrations", as_b).json()["integrations"].empty());
  const std::string a_window = noise_rule("maintenance");
  CHECK(h.call("DELETE", "/v1/maintenance-windows/" + a_window, as_b).status == 404);
  CHECK(h.call("GET", "/v1/maintenance-windows", as_b).json()["maintenance_windows"].empty());
  CHECK(h.call("GET", "/v1/suppression-rules", as_b).json()["suppression_rules"].empty());
  CHECK(h.call("GET", "/v1/alerts", as_b).json()["alerts"].empty());
  const std::string a_incident = fresh_incident();
  CHECK(h.call("GET", "/v1/incidents", as_b).json()["incidents"].empty());
  CHECK(h.call("GET", "/v1/incidents/" + a_incident, as_b).status == 404);
  CHECK(h.call("POST", "/v1/incidents/" + a_incident + "/acknowledge", as_b).status == 404);
  const std::string a_runbook_incident = fresh_ai_runbook();
  CHECK(h.call("GET", "/v1/incidents/" + a_runbook_incident + "/runbook", as_b).status == 404);
  CHECK(h.call("POST", "/v1/incidents/" + a_runbook_incident + "/runbook", as_b).status == 404);
  CHECK(h.callJson("PUT", "/v1/incidents/" + a_runbook_incident + "/runbook", edited_runbook, as_b)
            .status == 404);
  auto a_runbook = h.store().findAiRunbook(a.id, a_runbook_incident);
  REQUIRE(a_runbook.isOk());
  CHECK(a_runbook->provider == "offline");  // B's calls changed nothing of A's
  CHECK_FALSE(h.store().findAiRunbook(b.id, a_runbook_incident).isOk());
  const std::string a_answers_incident = fresh_ai_answers();
  for (const char* task : {"summary", "explanation"}) {
    const std::string path = "/v1/incidents/" + a_answers_incident + "/" + task;
    CHECK(h.call("GET", path, as_b).status == 404);
    CHECK(h.call("POST", path, as_b).status == 404);
    auto a_answer = h.store().findAiAnswer(a.id, a_answers_incident, task);
    REQUIRE(a_answer.isOk());
    CHECK(a_answer->updated_at_ns == 1);  // B's calls changed nothing of A's
    CHECK_FALSE(h.store().findAiAnswer(b.id, a_answers_incident, task).isOk());
  }
  const std::string a_postmortem = "/v1/incidents/" + a_answers_incident + "/postmortem";
  CHECK(h.call("GET", a_postmortem, as_b).status == 404);
  CHECK(h.callJson("PUT", a_postmortem, {{"markdown", "b's words"}}, as_b).status == 404);
  auto a_kept = h.store().findAiAnswer(a.id, a_answers_incident, "postmortem");
  REQUIRE(a_kept.isOk());
  CHECK(a_kept->updated_at_ns == 1);  // B's PUT changed nothing of A's
  CHECK_FALSE(h.store().findAiAnswer(b.id, a_answers_incident, "postmortem").isOk());
  CHECK(h.callJson("POST", "/v1/incidents/" + a_incident + "/comments", {{"text", "x"}}, as_b)
            .status == 404);
  CHECK(h.callJson("POST", "/v1/incidents/" + a_incident + "/split",
                   {{"event_ids", {incident_events.front()}}}, as_b)
            .status == 404);
  CHECK(h.store().findIncident(a.id, a_incident)->status == "triggered");
  const std::string a_service = graph_service(a.id);
  auto a_graph = h.store().readGraph(a.id, std::nullopt);
  REQUIRE(a_graph.isOk());
  CHECK(h.call("DELETE", "/v1/services/" + a_service, as_b).status == 404);
  CHECK(h.call("GET", "/v1/services", as_b).json()["services"].empty());
  CHECK(h.call("GET", "/v1/service-graph", as_b).json()["edges"].empty());
  CHECK(h.call("GET", "/v1/service-graph?version=1", as_b).status == 404);
  CHECK(h.call("GET", "/v1/service-graph/versions", as_b).json()["versions"].empty());
  auto a_graph_after = h.store().readGraph(a.id, std::nullopt);
  REQUIRE(a_graph_after.isOk());
  CHECK(a_graph_after->version == a_graph->version);
  CHECK(h.callJson("PUT", "/v1/members/" + a_member, {{"role", "admin"}}, as_b).status == 404);
  CHECK(h.call("DELETE", "/v1/members/" + a_member, as_b).status == 404);
  CHECK(h.call("DELETE", "/v1/members/" + users["owner"].id, as_b).status == 404);
  auto a_keys = h.store().listApiKeys(a.id);
  REQUIRE(a_keys.isOk());
  for (const store::ApiKey& key : *a_keys) {
    if (key.id == a_key) {
      CHECK(key.revoked_at_ns == 0);
    }
  }
  CHECK(h.store().findMember(a.id, a_member)->role == "viewer");
  HttpReply b_members = h.call("GET", "/v1/members", as_b);
  CHECK(b_members.json()["members"].size() == 1);
  HttpReply b_keys = h.call("GET", "/v1/api-keys", as_b);
  CHECK(b_keys.json()["api_keys"].empty());
}
