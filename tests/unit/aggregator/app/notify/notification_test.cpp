// Channel specs, bodies (webhook document and Slack shape), idempotency keys, signatures, the
// retry schedule and status classification, and the URL and response parsing of the client.
#include "aggregator/notify/notification.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "aggregator/notify/http_client.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::notify;
using nlohmann::json;

namespace {

incidents::IncidentNotice sampleNotice() {
  incidents::IncidentNotice notice;
  notice.tenant_id = "tnt_1";
  notice.incident_id = "inc_42";
  notice.change = "opened";
  notice.status = "triggered";
  notice.severity = "critical";
  notice.title = "checkout <errors> & timeouts";
  notice.actor = "system";
  notice.services = {"checkout", "payments"};
  notice.top_cause = "service:payments";
  notice.top_confidence = 0.874;
  notice.first_event_ns = 1'700'000'000'000'000'000;
  notice.at_ns = 1'700'000'001'000'000'000;
  return notice;
}

store::NotificationChannel channelWith(std::string events, std::string min_severity) {
  store::NotificationChannel channel;
  channel.id = "nch_1";
  channel.events = std::move(events);
  channel.min_severity = std::move(min_severity);
  return channel;
}

}  // namespace

TEST_CASE("notify spec: defaults, validation, unknown fields refused") {
  auto spec = ChannelSpec::parse(
      R"({"name":"ops","kind":"slack","url":"https://hooks.slack.com/services/T/B/X"})");
  REQUIRE_MESSAGE(spec.isOk(), spec.status().toString());
  CHECK(spec->events.size() == knownChanges().size());
  CHECK(spec->min_severity == "unknown");
  CHECK(spec->secret.empty());

  spec = ChannelSpec::parse(
      R"({"name":"pager","kind":"webhook","url":"http://10.0.0.1:8080/hook","secret":"0123456789abcdef",)"
      R"("events":["resolved","opened","resolved"],"min_severity":"ERROR"})");
  REQUIRE_MESSAGE(spec.isOk(), spec.status().toString());
  CHECK(spec->events == std::vector<std::string>{"opened", "resolved"});
  CHECK(spec->min_severity == "error");

  for (const char* bad : {
           R"([])",
           R"({"name":"x","kind":"email","url":"https://a"})",
           R"({"name":"x","kind":"webhook","url":"ftp://a/b"})",
           R"({"name":"x","kind":"webhook","url":"https://user:pw@a/b"})",
           R"({"name":"x","kind":"webhook","url":"https://a/b","extra":1})",
           R"({"name":"","kind":"webhook","url":"https://a/b"})",
           R"({"name":"a\u0001b","kind":"webhook","url":"https://a/b"})",
           R"({"name":"x","kind":"slack","url":"https://a/b","secret":"0123456789abcdef"})",
           R"({"name":"x","kind":"webhook","url":"https://a/b","secret":"short"})",
           R"({"name":"x","kind":"webhook","url":"https://a/b","events":["exploded"]})",
           R"({"name":"x","kind":"webhook","url":"https://a/b","events":[]})",
           R"({"name":"x","kind":"webhook","url":"https://a/b","min_severity":"loud"})",
           R"({"name":"x","kind":"webhook","url":"https://a:99999/b"})",
       }) {
    INFO(bad);
    auto refused = ChannelSpec::parse(bad);
    CHECK(refused.code() == Errc::InvalidArgument);
    if (!refused.isOk()) {
      CHECK(refused.status().message().find("pw") == std::string::npos);
    }
  }
  CHECK(ChannelSpec::parse(std::string(kMaxChannelSpecBytes + 1, ' ')).code() ==
        Errc::InvalidArgument);
}

TEST_CASE("notify filter: the channel's changes and minimum severity") {
  incidents::IncidentNotice notice = sampleNotice();
  CHECK(channelWants(channelWith("opened,resolved", "unknown"), notice));
  CHECK(channelWants(channelWith("opened", "critical"), notice));
  CHECK_FALSE(channelWants(channelWith("resolved", "unknown"), notice));
  CHECK_FALSE(channelWants(channelWith("open", "unknown"), notice));  // whole names only
  notice.severity = "warn";
  CHECK_FALSE(channelWants(channelWith("opened", "error"), notice));
  CHECK(channelWants(channelWith("opened", "warn"), notice));
}

TEST_CASE("notify idempotency key: stable, and different for any other part") {
  const std::string key = idempotencyKey("nch_1", "inc_1", "opened", 42);
  CHECK(key.starts_with("ntf_"));
  CHECK(key.size() == 36);
  CHECK(key == idempotencyKey("nch_1", "inc_1", "opened", 42));
  std::set<std::string> keys = {key, idempotencyKey("nch_2", "inc_1", "opened", 42),
                                idempotencyKey("nch_1", "inc_2", "opened", 42),
                                idempotencyKey("nch_1", "inc_1", "resolved", 42),
                                idempotencyKey("nch_1", "inc_1", "opened", 43),
                                // part boundaries cannot be shifted into one another
                                idempotencyKey("nch_1i", "nc_1", "opened", 42)};
  CHECK(keys.size() == 6);
  // Pinned: a key must not change between versions, or receivers would see repeats as new.
  CHECK(key == idempotencyKey(std::string("nch_1"), std::string("inc_1"), "opened", 42));
}

TEST_CASE("notify webhook body: versioned document with the incident and its top cause") {
  const std::string body = renderWebhookBody(sampleNotice(), "ntf_k");
  json doc = json::parse(body);
  CHECK(doc["version"] == 1);
  CHECK(doc["type"] == "incident.opened");
  CHECK(doc["id"] == "ntf_k");
  CHECK(doc["occurred_at"] == "2023-11-14T22:13:21.000000000Z");
  CHECK(doc["incident"]["id"] == "inc_42");
  CHECK(doc["incident"]["title"] == "checkout <errors> & timeouts");
  CHECK(doc["incident"]["status"] == "triggered");
  CHECK(doc["incident"]["severity"] == "critical");
  CHECK(doc["incident"]["services"] == json::array({"checkout", "payments"}));
  CHECK(doc["incident"]["path"] == "/v1/incidents/inc_42");
  CHECK(doc["top_cause"]["kind"] == "service");
  CHECK(doc["top_cause"]["name"] == "payments");
  CHECK(doc["top_cause"]["confidence"].get<double>() == doctest::Approx(0.874));
  incidents::IncidentNotice no_cause = sampleNotice();
  no_cause.top_cause.clear();
  CHECK(json::parse(renderWebhookBody(no_cause, "k"))["top_cause"].is_null());
  CHECK(renderBody("webhook", sampleNotice(), "ntf_k") == body);
}

TEST_CASE("notify slack body: text and blocks with title, status, severity, services, cause") {
  json doc = json::parse(renderSlackBody(sampleNotice()));
  REQUIRE(doc["text"].is_string());
  CHECK(doc["text"].get<std::string>().find("checkout &lt;errors&gt; &amp; timeouts") !=
        std::string::npos);
  REQUIRE(doc["blocks"].is_array());
  REQUIRE(doc["blocks"].size() == 3);
  CHECK(doc["blocks"][0]["type"] == "header");
  CHECK(doc["blocks"][0]["text"]["type"] == "plain_text");
  CHECK(doc["blocks"][0]["text"]["text"] == "Incident opened: checkout <errors> & timeouts");
  CHECK(doc["blocks"][1]["type"] == "section");
  const json& fields = doc["blocks"][1]["fields"];
  REQUIRE(fields.size() == 4);
  CHECK(fields[0]["type"] == "mrkdwn");
  CHECK(fields[0]["text"] == "*Status*\ntriggered");
  CHECK(fields[1]["text"] == "*Severity*\ncritical");
  CHECK(fields[2]["text"] == "*Services*\ncheckout, payments");
  CHECK(fields[3]["text"] == "*Top cause*\nservice:payments (87%)");
  CHECK(doc["blocks"][2]["type"] == "context");
  CHECK(doc["blocks"][2]["elements"][0]["text"].get<std::string>().find("/v1/incidents/inc_42") !=
        std::string::npos);
  // Slack caps header text at 150 characters.
  incidents::IncidentNotice longer = sampleNotice();
  longer.title = std::string(500, 'x');
  json cut = json::parse(renderSlackBody(longer));
  CHECK(cut["blocks"][0]["text"]["text"].get<std::string>().size() <= 150);
  CHECK(renderBody("slack", sampleNotice(), "k") == renderSlackBody(sampleNotice()));
}

TEST_CASE("notify signature: HMAC-SHA256 of the body, hex") {
  // RFC 4231 test case 2.
  CHECK(signatureHeader("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("notify backoff: doubling from the base, capped, jittered within half") {
  RetryPolicy policy;
  using std::chrono::milliseconds;
  CHECK(backoffDelay(policy, 1, 0.999999) <= milliseconds(1000));
  CHECK(backoffDelay(policy, 1, 0.0) == milliseconds(500));
  CHECK(backoffDelay(policy, 2, 0.0) == milliseconds(1000));
  CHECK(backoffDelay(policy, 3, 0.0) == milliseconds(2000));
  CHECK(backoffDelay(policy, 3, 1.0) == milliseconds(4000));
  CHECK(backoffDelay(policy, 11, 1.0) == milliseconds(600'000));  // 1024 s capped at 10 min
  CHECK(backoffDelay(policy, 1000, 1.0) == milliseconds(600'000));
  CHECK(backoffDelay(policy, 1000, 0.0) == milliseconds(300'000));
  for (std::int64_t attempts = 1; attempts < 20; ++attempts) {
    CHECK(backoffDelay(policy, attempts + 1, 0.0) >= backoffDelay(policy, attempts, 0.0));
  }
}

TEST_CASE("notify outcome: 2xx delivered; network, 5xx and 429 retried; other 4xx final") {
  CHECK(classifyStatus(200) == AttemptOutcome::kDelivered);
  CHECK(classifyStatus(204) == AttemptOutcome::kDelivered);
  CHECK(classifyStatus(0) == AttemptOutcome::kRetry);
  CHECK(classifyStatus(429) == AttemptOutcome::kRetry);
  CHECK(classifyStatus(500) == AttemptOutcome::kRetry);
  CHECK(classifyStatus(503) == AttemptOutcome::kRetry);
  CHECK(classifyStatus(400) == AttemptOutcome::kFinal);
  CHECK(classifyStatus(404) == AttemptOutcome::kFinal);
  CHECK(classifyStatus(301) == AttemptOutcome::kFinal);  // redirects are not followed
}

TEST_CASE("notify http: URLs parsed, credentials refused, logs see the origin only") {
  auto url = parseHttpUrl("HTTPS://Hooks.Example.com/a/b?token=x#frag");
  REQUIRE(url.isOk());
  CHECK(url->tls);
  CHECK(url->host == "hooks.example.com");
  CHECK(url->port == "443");
  CHECK(url->path_and_query == "/a/b?token=x");
  url = parseHttpUrl("http://[::1]:8080");
  REQUIRE(url.isOk());
  CHECK_FALSE(url->tls);
  CHECK(url->host == "::1");
  CHECK(url->port == "8080");
  CHECK(url->path_and_query == "/");
  CHECK(parseHttpUrl("http://a?x=1")->path_and_query == "/?x=1");
  CHECK(parseHttpUrl("https://u:p@a/").code() == Errc::InvalidArgument);
  CHECK(parseHttpUrl("https://a:0/").code() == Errc::InvalidArgument);
  CHECK(parseHttpUrl("https://a b/").code() == Errc::InvalidArgument);
  CHECK(parseHttpUrl("https://a/b c").code() == Errc::InvalidArgument);
  CHECK(parseHttpUrl("gopher://a/").code() == Errc::InvalidArgument);
  CHECK(redactedUrl("https://hooks.slack.com/services/T/B/SECRET") ==
        "https://hooks.slack.com/...");
  CHECK(redactedUrl("https://u:pw@host:8443?q=1") == "https://host:8443/...");
  CHECK(redactedUrl("http://host") == "http://host");
  CHECK(redactedUrl("nonsense") == "(not a URL)");
}

TEST_CASE("notify http: responses parsed with Retry-After, chunked bodies and caps") {
  auto response = parseHttpResponse(
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy", 100,
      "t");
  REQUIRE(response.isOk());
  CHECK(response->status == 503);
  CHECK(response->body == "busy");
  CHECK(response->retry_after_seconds == 7);
  response = parseHttpResponse(
      "HTTP/1.1 429 Too Many\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n", 100, "t");
  REQUIRE(response.isOk());
  CHECK(response->retry_after_seconds == 0);  // a date in the past: now
  response = parseHttpResponse(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 100, "t");
  REQUIRE(response.isOk());
  CHECK(response->body == "ok");
  CHECK_FALSE(response->retry_after_seconds.has_value());
  CHECK(parseHttpResponse("HTTP/1.1 200 OK\r\n\r\n" + std::string(101, 'x'), 100, "t").code() ==
        Errc::ResourceExhausted);
  CHECK(parseHttpResponse("HTTP/1.1 2x0 OK\r\n\r\n", 100, "t").code() == Errc::Unavailable);
  CHECK(parseHttpResponse("garbage", 100, "t").code() == Errc::Unavailable);
  CHECK(parseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 100, "t").code() ==
        Errc::Unavailable);
}
