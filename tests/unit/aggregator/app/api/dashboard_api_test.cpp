// The API the dashboard's third slice added, over real loopback HTTP on each store engine:
// GET /v1/events/{id} (one event with its raw payload and noise decision, never another
// tenant's); enrollment tokens (POST/GET/DELETE /v1/enrollment-tokens).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregator/events/integrations.h"
#include "tests/unit/aggregator/app/auth/auth_test_support.h"
#include "tests/unit/aggregator/app/events/alertmanager_fixtures.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

TEST_CASE_TEMPLATE("event detail: one event with raw payload and decision, tenants apart", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  AuthHarness h(engine.open());
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  const Headers as_a = {
      AuthHarness::bearer(h.session(a, h.member(a, "viewer@a.example.com", "viewer")))};
  const Headers as_b = {
      AuthHarness::bearer(h.session(b, h.member(b, "viewer@b.example.com", "viewer")))};
  const std::string key = alertmanagerHookKey(h, a);
  REQUIRE(h.callJson("POST", "/v1/hooks/" + key, alertmanagerOneAlert("firing", "web-1")).status ==
          202);
  HttpReply repeat =
      h.callJson("POST", "/v1/hooks/" + key, alertmanagerOneAlert("firing", "web-1"));
  REQUIRE(repeat.status == 202);
  const std::string id = repeat.json()["events"][0]["id"].get<std::string>();

  HttpReply listed = h.call("GET", "/v1/events?limit=1", as_a);
  REQUIRE(listed.status == 200);
  const json row = listed.json()["events"][0];
  REQUIRE(row["id"] == id);

  HttpReply one = h.call("GET", "/v1/events/" + id, as_a);
  REQUIRE_MESSAGE(one.status == 200, one.body);
  const json event = one.json();
  CHECK(event == row);  // exactly the list row
  CHECK(event["decision"] == "deduplicated");
  CHECK_FALSE(event["reason"].get<std::string>().empty());
  const json raw = json::parse(event["raw"].get<std::string>());
  CHECK(raw["labels"]["instance"] == "web-1");

  // Another tenant's id is no different from an unknown one.
  HttpReply other = h.call("GET", "/v1/events/" + id, as_b);
  CHECK(other.status == 404);
  CHECK(other.body.find("web-1") == std::string::npos);
  CHECK(h.call("GET", "/v1/events/evt_0000000000000000ffffffffffffffff", as_a).status == 404);
  CHECK(h.call("GET", "/v1/events/" + std::string(65, 'x'), as_a).status == 404);
  CHECK(h.call("GET", "/v1/events/" + id).status == 401);
  // The fixed routes beside it still win.
  CHECK(h.call("GET", "/v1/events/stats", as_a).json()["events"] == 2);
}

namespace {

// The audit events with this action, in order.
std::vector<audit::AuditEvent> audited(AuthHarness& h, const std::string& action) {
  std::vector<audit::AuditEvent> out;
  for (const audit::AuditEvent& event : h.audit.events()) {
    if (event.action == action) {
      out.push_back(event);
    }
  }
  return out;
}

HttpReply enroll(AuthHarness& h, const std::string& token) {
  return h.callJson("POST", "/v1/agents/enroll",
                    {{"token", token}, {"hostname", "web-01"}, {"version", "1.0.0"}});
}

}  // namespace

TEST_CASE_TEMPLATE("enrollment tokens: made, listed and revoked over the API, tenants apart",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  AuthHarness h(engine.open());
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  store::User admin = h.member(a, "admin@a.example.com", "admin");
  const Headers as_a = {AuthHarness::bearer(h.session(a, admin))};
  const Headers as_b = {
      AuthHarness::bearer(h.session(b, h.member(b, "owner@b.example.com", "owner")))};
  const Headers as_responder = {
      AuthHarness::bearer(h.session(a, h.member(a, "oncall@a.example.com", "responder")))};

  // Made: the token once, its hash prefix, audited with the user as actor.
  HttpReply made = h.callJson("POST", "/v1/enrollment-tokens", {{"ttl", "2h"}}, as_a);
  REQUIRE_MESSAGE(made.status == 201, made.body);
  const json first = made.json();
  const std::string token = first["token"].get<std::string>();
  CHECK(token.starts_with("fet_"));
  const std::string prefix = first["prefix"].get<std::string>();
  CHECK(prefix == crypto::hashSecret(token).substr(0, 12));
  REQUIRE(first["id"].is_string());
  auto created = audited(h, "enrollment_token.create");
  REQUIRE(created.size() == 1);
  CHECK(created[0].actor == "user:" + admin.id);
  CHECK(created[0].tenant_id == a.id);
  CHECK(created[0].target == "enrollment_token:" + prefix);
  CHECK(created[0].detail_json.find(token) == std::string::npos);
  // Bad lifetimes and other roles are refused, and make nothing.
  CHECK(h.callJson("POST", "/v1/enrollment-tokens", {{"ttl", "1m"}}, as_a).status == 400);
  CHECK(h.callJson("POST", "/v1/enrollment-tokens", {{"ttl", "90d"}}, as_a).status == 400);
  CHECK(h.callJson("POST", "/v1/enrollment-tokens", {{"ttl", 7}}, as_a).status == 400);
  CHECK(h.callJson("POST", "/v1/enrollment-tokens", json::object(), as_responder).status == 403);
  CHECK(h.call("GET", "/v1/enrollment-tokens", as_responder).status == 403);

  // Listed without the secret; another tenant sees none of it and cannot revoke it.
  HttpReply listed = h.call("GET", "/v1/enrollment-tokens", as_a);
  REQUIRE(listed.status == 200);
  CHECK(listed.body.find(token) == std::string::npos);
  CHECK(listed.body.find(crypto::hashSecret(token)) == std::string::npos);
  json tokens = listed.json()["enrollment_tokens"];
  REQUIRE(tokens.size() == 1);
  CHECK(tokens[0]["id"] == first["id"]);
  CHECK(tokens[0]["prefix"] == prefix);
  CHECK(tokens[0]["state"] == "unused");
  CHECK(tokens[0]["expires_at"] == first["expires_at"]);
  CHECK(h.call("GET", "/v1/enrollment-tokens", as_b).json()["enrollment_tokens"].empty());
  const std::string first_path = "/v1/enrollment-tokens/" + first["id"].get<std::string>();
  CHECK(h.call("DELETE", first_path, as_b).status == 404);
  CHECK(audited(h, "enrollment_token.revoke").empty());

  // The token still enrolls; used, it is listed as used and can no longer be revoked.
  HttpReply enrolled = enroll(h, token);
  REQUIRE_MESSAGE(enrolled.status == 201, enrolled.body);
  tokens = h.call("GET", "/v1/enrollment-tokens", as_a).json()["enrollment_tokens"];
  CHECK(tokens[0]["state"] == "used");
  CHECK(tokens[0]["used_by_agent"] == enrolled.json()["agent_id"]);
  CHECK(h.call("DELETE", first_path, as_a).status == 404);

  // A second token, revoked: audited, listed as revoked (and when), and it cannot enroll.
  const json second = h.callJson("POST", "/v1/enrollment-tokens", json::object(), as_a).json();
  const std::string second_path = "/v1/enrollment-tokens/" + second["id"].get<std::string>();
  HttpReply revoked = h.call("DELETE", second_path, as_a);
  REQUIRE_MESSAGE(revoked.status == 200, revoked.body);
  auto revocations = audited(h, "enrollment_token.revoke");
  REQUIRE(revocations.size() == 1);
  CHECK(revocations[0].target == "enrollment_token:" + second["prefix"].get<std::string>());
  CHECK(revocations[0].actor == "user:" + admin.id);
  tokens = h.call("GET", "/v1/enrollment-tokens", as_a).json()["enrollment_tokens"];
  REQUIRE(tokens.size() == 2);
  CHECK(tokens[0]["id"] == second["id"]);
  CHECK(tokens[0]["state"] == "revoked");
  CHECK(tokens[0]["revoked_at"].is_string());
  CHECK(tokens[1]["revoked_at"].is_null());
  HttpReply refused = enroll(h, second["token"].get<std::string>());
  CHECK(refused.status == 401);
  CHECK(refused.json()["error"]["code"] == "token_revoked");
  CHECK(h.call("DELETE", second_path, as_a).status == 404);
  CHECK(h.call("DELETE", "/v1/enrollment-tokens/not-a-number", as_a).status == 404);
  CHECK(h.call("DELETE", "/v1/enrollment-tokens/-1", as_a).status == 404);

  // Pages, newest first, by cursor: three more tokens, two a page.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.callJson("POST", "/v1/enrollment-tokens", json::object(), as_a).status == 201);
  }
  std::vector<std::string> ids;
  std::string path = "/v1/enrollment-tokens?limit=2";
  for (int page = 0; page < 5; ++page) {
    HttpReply got = h.call("GET", path, as_a);
    REQUIRE_MESSAGE(got.status == 200, got.body);
    json doc = got.json();
    CHECK(doc["enrollment_tokens"].size() <= 2);
    for (const json& listed_token : doc["enrollment_tokens"]) {
      ids.push_back(listed_token["id"].get<std::string>());
    }
    if (doc["next_cursor"].is_null()) {
      break;
    }
    path = "/v1/enrollment-tokens?limit=2&cursor=" + doc["next_cursor"].get<std::string>();
  }
  REQUIRE(ids.size() == 5);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    CHECK(std::stoll(ids[i - 1]) > std::stoll(ids[i]));
  }
  CHECK(ids.back() == first["id"]);
  CHECK(h.call("GET", "/v1/enrollment-tokens?cursor=junk", as_a).status == 400);
}
