// The webhook receivers, the integrations API and GET /v1/events over real loopback HTTP on a
// real store: keys find tenants, bodies become events with their decisions, bad input and
// unknown keys store nothing, buckets answer 429, and tenants never see each other's events.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "aggregator/events/integrations.h"
#include "tests/unit/aggregator/app/auth/auth_test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

json alertmanagerBody(const std::string& status, const std::vector<std::string>& instances) {
  json alerts = json::array();
  for (const std::string& instance : instances) {
    alerts.push_back(
        {{"status", status},
         {"labels",
          {{"alertname", "InstanceDown"},
           {"instance", instance},
           {"job", "node"},
           {"severity", "critical"}}},
         {"annotations", {{"summary", "Instance " + instance + " down"}}},
         {"startsAt", "2026-11-26T08:24:38.326Z"},
         {"endsAt", status == "resolved" ? "2026-11-26T09:00:00Z" : "0001-01-01T00:00:00Z"},
         {"fingerprint", "fp-" + instance}});
  }
  return {{"version", "4"}, {"status", status}, {"receiver", "faultline"}, {"alerts", alerts}};
}

json pagerDutyTrigger(const std::string& routing_key, const std::string& dedup_key) {
  return {{"routing_key", routing_key},
          {"event_action", "trigger"},
          {"dedup_key", dedup_key},
          {"payload", {{"summary", "DB replica lag"}, {"source", "db-2"}, {"severity", "error"}}}};
}

struct Hook {
  std::string key;
  std::string id;
};

Hook integration(AuthHarness& h, const store::Tenant& tenant, const std::string& kind,
                 std::optional<std::int64_t> rps = std::nullopt,
                 std::optional<std::int64_t> burst = std::nullopt,
                 const std::string& mapping = "") {
  events::IntegrationRequest request;
  request.kind = kind;
  request.rps = rps;
  request.burst = burst;
  request.mapping_json = mapping;
  auto created = events::createIntegration(h.store(), h.audit, tenant.id, request,
                                           {"admin-cli", ""}, nowUnixNanos());
  REQUIRE_MESSAGE(created.isOk(), created.status().toString());
  CHECK(created->hook_path == "/v1/hooks/" + created->key);
  return {created->key, created->integration.id};
}

std::int64_t storedEvents(AuthHarness& h, const store::Tenant& tenant) {
  auto stats = h.store().eventStats(tenant.id);
  REQUIRE(stats.isOk());
  return stats->events;
}

}  // namespace

TEST_CASE("webhooks: alertmanager events dedup, resolve and are listed per tenant") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  Hook hook = integration(h, a, "alertmanager");

  HttpReply first =
      h.callJson("POST", "/v1/hooks/" + hook.key, alertmanagerBody("firing", {"web-1", "web-2"}));
  REQUIRE_MESSAGE(first.status == 202, first.body);
  json accepted = first.json();
  CHECK(accepted["accepted"] == 2);
  CHECK(accepted["events"][0]["decision"] == "new");
  CHECK(accepted["events"][1]["decision"] == "new");

  HttpReply repeat =
      h.callJson("POST", "/v1/hooks/" + hook.key, alertmanagerBody("firing", {"web-1"}));
  REQUIRE(repeat.status == 202);
  CHECK(repeat.json()["events"][0]["decision"] == "deduplicated");
  CHECK(repeat.json()["events"][0]["fingerprint"] == accepted["events"][0]["fingerprint"]);

  HttpReply resolved =
      h.callJson("POST", "/v1/hooks/" + hook.key, alertmanagerBody("resolved", {"web-1"}));
  REQUIRE(resolved.status == 202);
  CHECK(resolved.json()["events"][0]["decision"] == "resolved");

  store::User viewer = h.member(a, "viewer@a.example.com", "viewer");
  const Headers as_viewer = {AuthHarness::bearer(h.session(a, viewer))};
  HttpReply listed = h.call("GET", "/v1/events", as_viewer);
  REQUIRE_MESSAGE(listed.status == 200, listed.body);
  json events = listed.json()["events"];
  REQUIRE(events.size() == 4);
  CHECK(events[0]["status"] == "resolved");  // newest first
  CHECK(events[0]["decision"] == "resolved");
  CHECK(events[0]["source"] == "alertmanager");
  CHECK(events[0]["integration_id"] == hook.id);
  CHECK(events[0]["host"] == "web-1");
  CHECK(events[0]["labels"]["alertname"] == "InstanceDown");
  CHECK_FALSE(events[0]["reason"].get<std::string>().empty());
  CHECK(listed.json()["next_cursor"].is_null());

  HttpReply filtered = h.call("GET", "/v1/events?status=firing&q=web-2", as_viewer);
  REQUIRE(filtered.status == 200);
  CHECK(filtered.json()["events"].size() == 1);
  CHECK(h.call("GET", "/v1/events?severity=loud", as_viewer).status == 400);
  CHECK(h.call("GET", "/v1/events?since=yesterday-ish", as_viewer).status == 400);
  CHECK(h.call("GET", "/v1/events?cursor=garbage", as_viewer).status == 400);

  // Pages of one, following next_cursor, walk all four exactly once.
  std::set<std::string> seen;
  std::string path = "/v1/events?limit=1";
  for (int i = 0; i < 10; ++i) {
    HttpReply page = h.call("GET", path, as_viewer);
    REQUIRE(page.status == 200);
    const json doc = page.json();
    for (const json& event : doc["events"]) {
      CHECK(seen.insert(event["id"].get<std::string>()).second);
    }
    if (doc["next_cursor"].is_null()) {
      break;
    }
    path = "/v1/events?limit=1&cursor=" + doc["next_cursor"].get<std::string>();
  }
  CHECK(seen.size() == 4);

  HttpReply stats = h.call("GET", "/v1/events/stats", as_viewer);
  REQUIRE(stats.status == 200);
  CHECK(stats.json()["events"] == 4);
  CHECK(stats.json()["alerts"] == 2);
  CHECK(stats.json()["open_alerts"] == 1);
  CHECK(stats.json()["compression_ratio"].get<double>() == doctest::Approx(2.0));

  // Tenant B sees nothing of A.
  store::User b_viewer = h.member(b, "viewer@b.example.com", "viewer");
  const Headers as_b = {AuthHarness::bearer(h.session(b, b_viewer))};
  CHECK(h.call("GET", "/v1/events", as_b).json()["events"].empty());
  CHECK(h.call("GET", "/v1/events/stats", as_b).json()["events"] == 0);
  // Nor can anyone read events without credentials.
  CHECK(h.call("GET", "/v1/events").status == 401);
}

TEST_CASE("webhooks: unknown, revoked and missing keys get one 404 and store nothing") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  Hook hook = integration(h, a, "alertmanager");
  const json body = alertmanagerBody("firing", {"web-1"});

  HttpReply by_header = h.callJson("POST", "/v1/hooks", body, {{"X-Faultline-Key", hook.key}});
  REQUIRE_MESSAGE(by_header.status == 202, by_header.body);
  CHECK(storedEvents(h, a) == 1);

  HttpReply unknown = h.callJson("POST", "/v1/hooks/flh_not-a-key", body);
  HttpReply no_header = h.callJson("POST", "/v1/hooks", body);
  HttpReply wrong_header = h.callJson("POST", "/v1/hooks", body, {{"X-Faultline-Key", "x"}});
  // Revoked through this node: refused at once although the key's lookup is cached.
  store::User admin = h.member(a, "admin@a.example.com", "admin");
  REQUIRE(
      h.call("DELETE", "/v1/integrations/" + hook.id, {AuthHarness::bearer(h.session(a, admin))})
          .status == 200);
  HttpReply revoked = h.callJson("POST", "/v1/hooks/" + hook.key, body);
  for (const HttpReply* reply : {&unknown, &no_header, &wrong_header, &revoked}) {
    CHECK(reply->status == 404);
    CHECK(reply->body == unknown.body);
  }
  CHECK(storedEvents(h, a) == 1);
}

TEST_CASE("webhooks: bad input is a clear 4xx and nothing is half-stored") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  Hook hook = integration(h, a, "alertmanager");
  HttpReply malformed = h.call("POST", "/v1/hooks/" + hook.key,
                               {{"Content-Type", "application/json"}}, "{\"alerts\":[");
  CHECK(malformed.status == 400);
  CHECK(malformed.errorCode() == "bad_request");
  // The second alert is broken: the first one must not be stored either.
  json half = alertmanagerBody("firing", {"web-1", "web-2"});
  half["alerts"][1]["labels"] = "not an object";
  HttpReply partial = h.callJson("POST", "/v1/hooks/" + hook.key, half);
  CHECK(partial.status == 400);
  CHECK_FALSE(partial.json()["error"]["message"].get<std::string>().empty());
  std::string huge = alertmanagerBody("firing", {"web-1"}).dump();
  huge.insert(huge.size() - 1, ",\"pad\":\"" + std::string(2 << 20, 'x') + "\"");
  HttpReply too_big = h.call("POST", "/v1/hooks/" + hook.key, {}, huge);
  CHECK(too_big.status == 413);
  CHECK(storedEvents(h, a) == 0);
}

TEST_CASE("webhooks: a client address guessing keys is limited before any store lookup") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  Hook hook = integration(h, a, "alertmanager");
  const http::RateLimits limits =
      http::RateLimits::create({1, 3}, http::RateLimitSpec{}, http::RateLimitSpec{});
  events::WebhookOptions options;
  options.rate_limits = &limits;
  events::WebhookReceiver receiver(h.store(), options);
  auto post = [&](const std::string& key, const std::string& address) {
    http::Request request;
    request.method = "POST";
    request.path = "/v1/hooks";
    request.headers = {{"x-faultline-key", key}};
    request.body = alertmanagerBody("firing", {"web-1"}).dump();
    request.remote_address = address;
    return receiver.receive(request);
  };
  for (int i = 0; i < 3; ++i) {
    CHECK(post("flh_guess" + std::to_string(i), "203.0.113.9:4000").status == 404);
  }
  http::Response limited = post(hook.key, "203.0.113.9:4001");  // even a good key: later
  CHECK(limited.status == 429);
  CHECK(limited.body.find("client_address") != std::string::npos);
  CHECK(post(hook.key, "198.51.100.7:5000").status == 202);  // other senders are not held up
  CHECK(storedEvents(h, a) == 1);
}

TEST_CASE("webhooks: PagerDuty Events v2 compatible answers") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  Hook pd = integration(h, a, "pagerduty");
  Hook am = integration(h, a, "alertmanager");

  HttpReply ok =
      h.callJson("POST", "/v1/hooks/pagerduty/v2/enqueue", pagerDutyTrigger(pd.key, "db-lag"));
  REQUIRE_MESSAGE(ok.status == 202, ok.body);
  CHECK(ok.json() ==
        json{{"status", "success"}, {"message", "Event processed"}, {"dedup_key", "db-lag"}});
  HttpReply by_path = h.callJson("POST", "/v1/hooks/" + pd.key + "/v2/enqueue",
                                 pagerDutyTrigger("ignored-when-in-path", "db-lag"));
  REQUIRE(by_path.status == 202);
  json resolve = {{"routing_key", pd.key}, {"event_action", "resolve"}, {"dedup_key", "db-lag"}};
  REQUIRE(h.callJson("POST", "/v1/hooks/pagerduty/v2/enqueue", resolve).status == 202);
  auto stats = h.store().eventStats(a.id);
  REQUIRE(stats.isOk());
  CHECK(stats->events == 3);
  CHECK(stats->alerts == 1);
  CHECK(stats->open_alerts == 0);

  json no_summary = pagerDutyTrigger(pd.key, "x");
  no_summary["payload"].erase("summary");
  for (const json& bad : {json{{"event_action", "trigger"}}, no_summary}) {
    HttpReply reply = h.callJson("POST", "/v1/hooks/pagerduty/v2/enqueue", bad);
    CHECK(reply.status == 400);
    CHECK(reply.json()["status"] == "invalid event");
    CHECK(reply.json()["errors"].is_array());
    CHECK_FALSE(reply.json()["errors"].empty());
  }
  HttpReply not_json = h.call("POST", "/v1/hooks/pagerduty/v2/enqueue", {}, "nope");
  CHECK(not_json.status == 400);
  CHECK(not_json.json()["status"] == "invalid event");
  HttpReply wrong_kind =
      h.callJson("POST", "/v1/hooks/pagerduty/v2/enqueue", pagerDutyTrigger(am.key, "x"));
  CHECK(wrong_kind.status == 400);
  HttpReply unknown =
      h.callJson("POST", "/v1/hooks/pagerduty/v2/enqueue", pagerDutyTrigger("flh_unknown", "x"));
  CHECK(unknown.status == 404);
  CHECK(h.store().eventStats(a.id)->events == 3);
}

TEST_CASE("webhooks: each integration has its own bucket and a structured 429") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  Hook slow = integration(h, a, "alertmanager", 1, 2);
  Hook other = integration(h, a, "alertmanager", 1, 2);
  const json body = alertmanagerBody("firing", {"web-1"});
  CHECK(h.callJson("POST", "/v1/hooks/" + slow.key, body).status == 202);
  CHECK(h.callJson("POST", "/v1/hooks/" + slow.key, body).status == 202);
  HttpReply limited = h.callJson("POST", "/v1/hooks/" + slow.key, body);
  REQUIRE(limited.status == 429);
  CHECK(limited.json()["error"]["code"] == "rate_limited");
  CHECK(limited.json()["error"]["limit"] == "integration");
  CHECK_FALSE(limited.raw.header("retry-after").empty());
  CHECK(h.callJson("POST", "/v1/hooks/" + other.key, body).status == 202);
  CHECK(storedEvents(h, a) == 3);
}

TEST_CASE("webhooks: CloudWatch is refused when no SNS verifier is configured") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  Hook hook = integration(h, a, "cloudwatch");
  // An SNS HTTP notification shaped like
  // ../shared/datasets/webhooks/cloudwatch-alarm-sns-http.json.
  json alarm = {{"AlarmName", "cpu-high"},
                {"NewStateValue", "ALARM"},
                {"NewStateReason", "Threshold Crossed"},
                {"StateChangeTime", "2026-11-26T17:43:27.123+0000"},
                {"Region", "eu-west-1"},
                {"AlarmArn", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu-high"},
                {"OldStateValue", "OK"}};
  json envelope = {{"Type", "Notification"},
                   {"MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"},
                   {"TopicArn", "arn:aws:sns:eu-west-1:123456789012:alarms"},
                   {"Subject", "ALARM: cpu-high"},
                   {"Message", alarm.dump()},
                   {"Timestamp", "2026-11-26T17:43:27.123Z"},
                   {"SignatureVersion", "1"},
                   {"Signature", "EXAMPLE"},
                   {"SigningCertURL", "https://sns.eu-west-1.amazonaws.com/cert.pem"},
                   {"UnsubscribeURL", "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"}};
  const std::string body = envelope.dump();
  HttpReply reply = h.call("POST", "/v1/hooks/" + hook.key, {}, body);
  CHECK(reply.status == 501);
  CHECK(reply.json()["error"]["message"].get<std::string>().find(
            "SNS signature verification not available") != std::string::npos);
  CHECK(storedEvents(h, a) == 0);
}

TEST_CASE("integrations api: create with a generic mapping, post through it, revoke; audited") {
  AuthHarness h;
  store::Tenant a = h.tenant("tenant-a");
  store::User admin = h.member(a, "admin@a.example.com", "admin");
  const Headers as_admin = {AuthHarness::bearer(h.session(a, admin))};
  json request = {{"kind", "generic"},
                  {"name", "keep"},
                  {"mapping", {{"title", "/name"}, {"dedup_key", "/id"}, {"status", "/state"}}},
                  {"rps", 10}};
  HttpReply created = h.callJson("POST", "/v1/integrations", request, as_admin);
  REQUIRE_MESSAGE(created.status == 201, created.body);
  const std::string key = created.json()["key"];
  const std::string id = created.json()["id"];
  CHECK(key.starts_with("flh_"));
  CHECK(created.json()["hook_path"] == "/v1/hooks/" + key);
  CHECK(created.json()["rate_limit"]["rps"] == 10);
  CHECK(h.audit.count("integration.create") == 1);

  HttpReply listed = h.call("GET", "/v1/integrations", as_admin);
  REQUIRE(listed.status == 200);
  REQUIRE(listed.json()["integrations"].size() == 1);
  CHECK_FALSE(listed.json()["integrations"][0].contains("key"));
  CHECK(listed.body.find(key) == std::string::npos);

  HttpReply posted =
      h.callJson("POST", "/v1/hooks/" + key, {{"name", "Queue backlog"}, {"id", "q-1"}});
  REQUIRE_MESSAGE(posted.status == 202, posted.body);
  HttpReply resolved = h.callJson("POST", "/v1/hooks/" + key,
                                  {{"name", "Queue backlog"}, {"id", "q-1"}, {"state", "ok"}});
  REQUIRE(resolved.status == 202);
  CHECK(resolved.json()["events"][0]["decision"] == "resolved");

  for (const json& bad : {json{{"kind", "generic"}}, json{{"kind", "smtp"}},
                          json{{"kind", "generic"}, {"mapping", {{"title", "no-slash"}}}},
                          json{{"kind", "grafana"}, {"mapping", {{"title", "/t"}}}},
                          json{{"kind", "grafana"}, {"rps", 0}}, json{{"kind", 5}}}) {
    HttpReply reply = h.callJson("POST", "/v1/integrations", bad, as_admin);
    CHECK_MESSAGE(reply.status == 400, bad.dump() << " → " << reply.body);
  }

  CHECK(h.call("DELETE", "/v1/integrations/int_nope", as_admin).status == 404);
  REQUIRE(h.call("DELETE", "/v1/integrations/" + id, as_admin).status == 200);
  CHECK(h.audit.count("integration.revoke") == 1);
  CHECK(h.callJson("POST", "/v1/hooks/" + key, {{"name", "x"}}).status == 404);

  // A failing audit refuses the change: no key is handed out unaudited.
  h.audit.fail = true;
  HttpReply unaudited = h.callJson("POST", "/v1/integrations", {{"kind", "grafana"}}, as_admin);
  CHECK(unaudited.status >= 500);
  h.audit.fail = false;
  auto integrations = h.store().listIntegrations(a.id);
  REQUIRE(integrations.isOk());
  for (const store::Integration& integration : *integrations) {
    CHECK(integration.revoked_at_ns != 0);
  }
}
