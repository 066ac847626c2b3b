// Noise reduction without a store: the alert decision with flapping and mutes (decideAlert), and
// suppression rules / maintenance windows (matchers, one-off and recurring windows in real time
// zones from the system's tzdata, DST included).
#include "aggregator/events/noise_rules.h"

#include <doctest/doctest.h>

#include "aggregator/store/event_records.h"
#include "shared/util/time.h"

using namespace faultline;
using namespace faultline::aggregator;
using events::EventStatus;
using events::NoiseRuleKind;
using events::NoiseRuleSpec;
using store::NoiseDecision;

namespace {

constexpr std::int64_t kMinute = 60'000'000'000;

std::int64_t at(const char* rfc3339) {
  auto parsed = parseTimestamp(rfc3339);
  REQUIRE_MESSAGE(parsed.isOk(), rfc3339);
  return *parsed;
}

events::Event alertEvent(EventStatus status, std::int64_t when) {
  events::Event event;
  event.tenant_id = "tnt_a";
  event.source = events::SourceKind::kAlertmanager;
  event.service = "checkout";
  event.host = "web-1";
  event.environment = "prod";
  event.severity = logparse::Severity::kCritical;
  event.status = status;
  event.title = "HighErrorRate";
  event.labels = {{"alertname", "HighErrorRate"}, {"team", "payments"}};
  event.occurred_at_ns = when;
  event.received_at_ns = when + 5;
  event.fingerprint = "fp-1";
  return event;
}

/// Runs events through decideAlert as a store would, keeping the alert row between them.
struct AlertFolder {
  std::optional<store::AlertState> alert;
  store::FlapPolicy flap;
  store::AlertTransition apply(const events::Event& event,
                               const std::optional<store::Mute>& mute = {}) {
    store::AlertTransition t = store::decideAlert(alert, event, flap, mute);
    if (t.write) {
      alert = t.next;
    }
    return t;
  }
};

NoiseRuleSpec spec(NoiseRuleKind kind, const std::string& json) {
  auto parsed = NoiseRuleSpec::parse(kind, json);
  REQUIRE_MESSAGE(parsed.isOk(), parsed.status().toString());
  return *parsed;
}

std::string parseError(NoiseRuleKind kind, const std::string& json) {
  auto parsed = NoiseRuleSpec::parse(kind, json);
  REQUIRE_FALSE(parsed.isOk());
  CHECK(parsed.code() == Errc::InvalidArgument);
  return parsed.status().message();
}

}  // namespace

TEST_CASE("flapping: the 4th state change within the window flaps; quiet settles it") {
  AlertFolder folder;
  folder.flap = store::FlapPolicy{10 * kMinute, 4};
  const std::int64_t t0 = at("2026-11-27T10:00:00Z");
  CHECK(folder.apply(alertEvent(EventStatus::kFiring, t0)).decision == NoiseDecision::kNew);
  CHECK(folder.apply(alertEvent(EventStatus::kResolved, t0 + kMinute)).decision ==
        NoiseDecision::kResolved);
  CHECK(folder.apply(alertEvent(EventStatus::kFiring, t0 + 2 * kMinute)).decision ==
        NoiseDecision::kNew);
  // A repeat is no state change: still deduplicated, never flapping.
  CHECK(folder.apply(alertEvent(EventStatus::kFiring, t0 + 2 * kMinute + 1)).decision ==
        NoiseDecision::kDeduplicated);
  store::AlertTransition fourth =
      folder.apply(alertEvent(EventStatus::kResolved, t0 + 3 * kMinute));
  CHECK(fourth.decision == NoiseDecision::kFlapping);
  CHECK(fourth.reason.find("changed state 4 times in the last 10m") != std::string::npos);
  CHECK(fourth.next.status == "resolved");  // the alert still follows the event
  CHECK(fourth.next.flapping);
  CHECK(folder.apply(alertEvent(EventStatus::kFiring, t0 + 4 * kMinute)).decision ==
        NoiseDecision::kFlapping);
  // Much later: the earlier changes left the window, so this change settles it.
  store::AlertTransition settled =
      folder.apply(alertEvent(EventStatus::kResolved, t0 + 30 * kMinute));
  CHECK(settled.decision == NoiseDecision::kResolved);
  CHECK_FALSE(settled.next.flapping);
  CHECK(folder.alert->changes.size() == 6);
}

TEST_CASE("flapping: hysteresis keeps flapping until half as many changes remain; 0 turns it off") {
  AlertFolder folder;
  folder.flap = store::FlapPolicy{10 * kMinute, 4};
  const std::int64_t t0 = at("2026-11-27T10:00:00Z");
  for (int i = 0; i < 4; ++i) {
    folder.apply(
        alertEvent(i % 2 == 0 ? EventStatus::kFiring : EventStatus::kResolved, t0 + i * kMinute));
  }
  REQUIRE(folder.alert->flapping);
  // 9.5 minutes after the first change: 3 changes remain in the window, above 4/2.
  CHECK(folder.apply(alertEvent(EventStatus::kFiring, t0 + 10 * kMinute + kMinute / 2)).decision ==
        NoiseDecision::kFlapping);

  AlertFolder off;
  off.flap = store::FlapPolicy{10 * kMinute, 0};
  for (int i = 0; i < 8; ++i) {
    store::AlertTransition t = off.apply(
        alertEvent(i % 2 == 0 ? EventStatus::kFiring : EventStatus::kResolved, t0 + i * 1000));
    CHECK(t.decision != NoiseDecision::kFlapping);
  }
}

TEST_CASE("a mute decides the event, the alert still follows it") {
  AlertFolder folder;
  const std::int64_t t0 = at("2026-11-27T10:00:00Z");
  store::Mute mute{NoiseDecision::kMaintenance, "nr_1", "in maintenance window nr_1 'db'"};
  store::AlertTransition t = folder.apply(alertEvent(EventStatus::kFiring, t0), mute);
  CHECK(t.decision == NoiseDecision::kMaintenance);
  CHECK(t.rule_id == "nr_1");
  CHECK(t.reason.rfind("in maintenance window nr_1", 0) == 0);
  CHECK(t.reason.find("first event of alert fp-1") != std::string::npos);
  REQUIRE(folder.alert);
  CHECK(folder.alert->status == "firing");
  // After the window, the alert is where the events left it: this firing is a repeat.
  CHECK(folder.apply(alertEvent(EventStatus::kFiring, t0 + kMinute)).decision ==
        NoiseDecision::kDeduplicated);
}

TEST_CASE("changes round-trip through their stored text; junk is skipped") {
  CHECK(store::encodeChanges({1, 22, -3}) == "1,22,-3");
  CHECK(store::decodeChanges("1,22,-3") == std::vector<std::int64_t>{1, 22, -3});
  CHECK(store::decodeChanges("").empty());
  CHECK(store::decodeChanges("5,x,,7") == std::vector<std::int64_t>{5, 7});
}

TEST_CASE("matchers: operators, anchored regexes, labels before canonical fields") {
  const std::int64_t t0 = at("2026-11-27T10:00:00Z");
  events::Event event = alertEvent(EventStatus::kFiring, t0);
  auto matches = [&](const std::string& matchers) {
    return spec(NoiseRuleKind::kSuppression, R"({"name":"r","matchers":)" + matchers + "}")
        .matches(event);
  };
  CHECK(matches(R"([{"name":"alertname","value":"HighErrorRate"}])"));
  CHECK(matches(R"([{"name":"alertname","op":"=~","value":"High.*"}])"));
  CHECK_FALSE(matches(R"([{"name":"alertname","op":"=~","value":"High"}])"));  // anchored
  CHECK(matches(R"([{"name":"alertname","op":"!~","value":"Disk.*"}])"));
  CHECK(matches(R"([{"name":"team","op":"!=","value":"db"}])"));
  CHECK(
      matches(R"([{"name":"service","value":"checkout"},{"name":"severity","value":"critical"}])"));
  CHECK(matches(
      R"([{"name":"source","value":"alertmanager"},{"name":"environment","value":"prod"}])"));
  CHECK_FALSE(matches(R"([{"name":"service","value":"checkout"},{"name":"host","value":"db-1"}])"));
  // A missing label is "".
  CHECK(matches(R"([{"name":"region","value":""}])"));
  CHECK(matches(R"([{"name":"region","op":"!=","value":"eu"}])"));
  // A label named like a canonical field wins over the field.
  event.labels.emplace_back("service", "payments-api");
  CHECK(matches(R"([{"name":"service","value":"payments-api"}])"));
}

TEST_CASE("rule specs: every bad field is refused by name") {
  const auto kS = NoiseRuleKind::kSuppression;
  const auto kM = NoiseRuleKind::kMaintenance;
  CHECK(parseError(kS, "[]").find("JSON object") != std::string::npos);
  CHECK(parseError(kS, R"({"matchers":[{"name":"a","value":"b"}]})").find("name") == 0);
  CHECK(parseError(kS, R"({"name":"r"})").find("matchers") == 0);
  CHECK(parseError(kS, R"({"name":"r","matchers":[]})").find("matchers") == 0);
  CHECK(parseError(kS, R"({"name":"r","matchers":[{"name":"a","value":"b"}],"color":1})")
            .find("color: unknown field") == 0);
  CHECK(parseError(kS, R"({"name":"r","matchers":[{"name":"a","op":"<","value":"b"}]})")
            .find("op:") != std::string::npos);
  CHECK(parseError(kS, R"({"name":"r","matchers":[{"name":"a","op":"=~","value":"(x"}]})")
            .find("regular expression") != std::string::npos);
  CHECK(parseError(kS, R"({"name":"r","matchers":[{"name":"a","value":7}]})").find("matchers[0]") ==
        0);
  CHECK(parseError(kS, R"({"name":"r","matchers":[{"name":"a","value":"b"}],)"
                       R"("starts_at":"2026-11-27T10:00:00Z","ends_at":"2026-11-27T09:00:00Z"})")
            .find("ends_at") == 0);
  CHECK(parseError(kS, R"({"name":"r","matchers":[{"name":"a","value":"b"}],)"
                       R"("recurrence":{"time_zone":"UTC","start":"02:00","duration":"1h"}})")
            .find("only maintenance windows recur") != std::string::npos);
  CHECK(parseError(kM, R"({"name":"w","matchers":[{"name":"a","value":"b"}]})")
            .find("starts_at and ends_at") != std::string::npos);
  const std::string base = R"({"name":"w","matchers":[{"name":"a","value":"b"}],"recurrence":)";
  CHECK(parseError(kM, base + R"({"time_zone":"Mars/Olympus","start":"02:00","duration":"1h"}})")
            .find("unknown time zone") != std::string::npos);
  CHECK(parseError(kM, base + R"({"time_zone":"UTC","start":"25:00","duration":"1h"}})")
            .find("recurrence.start") == 0);
  CHECK(parseError(kM, base + R"({"time_zone":"UTC","start":"02:00","duration":"8d"}})")
            .find("at most 7 days") != std::string::npos);
  CHECK(parseError(
            kM, base + R"({"time_zone":"UTC","start":"02:00","duration":"1h","days":["funday"]}})")
            .find("recurrence.days") == 0);
  std::string many = R"({"name":"r","matchers":[)";
  for (std::size_t i = 0; i <= events::kMaxMatchers; ++i) {
    many += std::string(i == 0 ? "" : ",") + R"({"name":"a","value":"b"})";
  }
  CHECK(parseError(kS, many + "]}").find("at most") != std::string::npos);
  CHECK(parseError(kS, std::string(events::kMaxNoiseSpecBytes + 1, ' ')).find("at most") !=
        std::string::npos);
}

TEST_CASE("one-off windows and timed silences: in force from starts_at until ends_at") {
  NoiseRuleSpec window =
      spec(NoiseRuleKind::kMaintenance,
           R"({"name":"db upgrade","matchers":[{"name":"service","value":"db"}],)"
           R"("starts_at":"2026-11-28T22:00:00Z","ends_at":"2026-11-28T23:30:00Z"})");
  CHECK_FALSE(window.activeUntil(at("2026-11-28T21:59:59Z")));
  CHECK(window.activeUntil(at("2026-11-28T22:00:00Z")) == at("2026-11-28T23:30:00Z"));
  CHECK_FALSE(window.activeUntil(at("2026-11-28T23:30:00Z")));
  CHECK(window.nextStart(at("2026-11-28T12:00:00Z")) == at("2026-11-28T22:00:00Z"));
  CHECK_FALSE(window.nextStart(at("2026-11-28T22:10:00Z")));
  // The canonical form parses back to the same rule.
  NoiseRuleSpec again = spec(NoiseRuleKind::kMaintenance, window.canonicalJson());
  CHECK(again.canonicalJson() == window.canonicalJson());
  CHECK(again.activeUntil(at("2026-11-28T22:00:00Z")) == at("2026-11-28T23:30:00Z"));

  NoiseRuleSpec forever =
      spec(NoiseRuleKind::kSuppression, R"({"name":"r","matchers":[{"name":"a","value":"b"}]})");
  CHECK(forever.activeUntil(0) == INT64_MAX);
}

TEST_CASE("recurring windows: local days and times in the zone, across midnight and DST") {
  // Saturdays and Sundays 00:00-02:00 in Berlin (UTC+1 in November).
  NoiseRuleSpec weekend = spec(NoiseRuleKind::kMaintenance,
                               R"({"name":"w","matchers":[{"name":"a","value":"b"}],)"
                               R"("recurrence":{"time_zone":"Europe/Berlin","days":["sat","sun"],)"
                               R"("start":"00:00","duration":"2h"}})");
  // 2026-11-27 is a Friday: 23:30 UTC is already Saturday 00:30 in Berlin.
  CHECK(weekend.activeUntil(at("2026-11-27T23:30:00Z")) == at("2026-11-28T01:00:00Z"));
  CHECK_FALSE(weekend.activeUntil(at("2026-11-27T22:59:59Z")));
  CHECK_FALSE(weekend.activeUntil(at("2026-11-28T01:00:00Z")));
  CHECK(weekend.activeUntil(at("2026-11-28T23:00:00Z")) == at("2026-11-29T01:00:00Z"));  // Sunday
  CHECK_FALSE(weekend.activeUntil(at("2026-11-29T23:30:00Z")));  // Monday 00:30 local
  CHECK(weekend.nextStart(at("2026-11-27T12:00:00Z")) == at("2026-11-27T23:00:00Z"));
  // In July Berlin is UTC+2.
  CHECK(weekend.activeUntil(at("2026-07-24T22:30:00Z")) == at("2026-07-25T00:00:00Z"));

  // Fridays 23:00 for 3 hours: open into Saturday.
  NoiseRuleSpec overnight =
      spec(NoiseRuleKind::kMaintenance, R"({"name":"w","matchers":[{"name":"a","value":"b"}],)"
                                        R"("recurrence":{"time_zone":"UTC","days":["fri"],)"
                                        R"("start":"23:00","duration":"3h"}})");
  CHECK(overnight.activeUntil(at("2026-11-28T01:00:00Z")) == at("2026-11-28T02:00:00Z"));
  CHECK_FALSE(overnight.activeUntil(at("2026-11-28T02:00:00Z")));

  // New York springs forward on Sunday 2026-03-08: 02:30 does not exist, the window opens at the
  // end of the gap (03:00 EDT = 07:00 UTC) and still lasts its hour.
  NoiseRuleSpec gap = spec(NoiseRuleKind::kMaintenance,
                           R"({"name":"w","matchers":[{"name":"a","value":"b"}],)"
                           R"("recurrence":{"time_zone":"America/New_York","days":["sun"],)"
                           R"("start":"02:30","duration":"1h"}})");
  CHECK_FALSE(gap.activeUntil(at("2026-03-08T06:59:59Z")));
  CHECK(gap.activeUntil(at("2026-03-08T07:00:00Z")) == at("2026-03-08T08:00:00Z"));
  // A week later 02:30 EDT exists: 06:30 UTC.
  CHECK(gap.activeUntil(at("2026-03-15T06:30:00Z")) == at("2026-03-15T07:30:00Z"));

  // starts_at / ends_at bound the recurrence.
  NoiseRuleSpec bounded =
      spec(NoiseRuleKind::kMaintenance,
           R"({"name":"w","matchers":[{"name":"a","value":"b"}],)"
           R"("starts_at":"2026-11-01T00:00:00Z","ends_at":"2026-11-28T00:30:00Z",)"
           R"("recurrence":{"time_zone":"UTC","start":"00:00","duration":"1h"}})");
  CHECK(bounded.activeUntil(at("2026-11-27T00:10:00Z")) == at("2026-11-27T01:00:00Z"));
  CHECK(bounded.activeUntil(at("2026-11-28T00:10:00Z")) == at("2026-11-28T00:30:00Z"));
  CHECK_FALSE(bounded.activeUntil(at("2026-11-29T00:10:00Z")));
  CHECK_FALSE(bounded.activeUntil(at("2026-10-31T00:10:00Z")));
}

TEST_CASE("policy: maintenance before suppression, judged at the event's own time") {
  store::NoiseRule silence{
      "nr_s",
      "tnt_a",
      "suppression",
      "silence checkout",
      R"({"name":"silence checkout","matchers":[{"name":"service","value":"checkout"}]})",
      "user:u",
      1,
      0};
  store::NoiseRule window{
      "nr_m",
      "tnt_a",
      "maintenance",
      "payments window",
      R"({"name":"payments window","matchers":[{"name":"team","value":"payments"}],)"
      R"("starts_at":"2026-11-27T10:00:00Z","ends_at":"2026-11-27T11:00:00Z"})",
      "user:u",
      2,
      0};
  store::NoiseRule broken{
      "nr_x", "tnt_a", "maintenance", "broken", R"({"name":"broken"})", "user:u", 3, 0};
  std::vector<std::string> skipped;
  events::NoisePolicy policy = events::NoisePolicy::compile({silence, window, broken}, &skipped);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].rfind("nr_x: ", 0) == 0);
  REQUIRE(policy.rules().size() == 2);
  CHECK(policy.rules()[0].id == "nr_m");  // maintenance windows are asked first

  auto in_window = policy.muteFor(alertEvent(EventStatus::kFiring, at("2026-11-27T10:30:00Z")));
  REQUIRE(in_window);
  CHECK(in_window->decision == NoiseDecision::kMaintenance);
  CHECK(in_window->rule_id == "nr_m");
  CHECK(in_window->reason.find(R"(team="payments")") != std::string::npos);
  CHECK(in_window->reason.find("until 2026-11-27T11:00:00.000Z") != std::string::npos);

  // Received during the window, but it happened before: the silence decides, not the window.
  events::Event replayed = alertEvent(EventStatus::kFiring, at("2026-11-27T09:00:00Z"));
  replayed.received_at_ns = at("2026-11-27T10:30:00Z");
  auto silenced = policy.muteFor(replayed);
  REQUIRE(silenced);
  CHECK(silenced->decision == NoiseDecision::kSuppressed);
  CHECK(silenced->rule_id == "nr_s");

  events::Event other = alertEvent(EventStatus::kFiring, at("2026-11-27T10:30:00Z"));
  other.service = "search";
  other.labels = {{"alertname", "Slow"}};
  CHECK_FALSE(policy.muteFor(other));
  CHECK(policy
            .muteAt(alertEvent(EventStatus::kFiring, at("2026-11-27T09:00:00Z")),
                    at("2026-11-27T10:30:00Z"))
            ->decision == NoiseDecision::kMaintenance);
}
