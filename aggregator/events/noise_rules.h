#pragma once

// Suppression rules and maintenance windows: a tenant's way to say "do not tell anyone about
// these events" — for good (a known noisy alert), for a while (a silence), or on a schedule
// (a maintenance window, one-off or recurring in a time zone).
//
// Both match events with Alertmanager-style label matchers:
//   {"name": "service", "op": "=", "value": "db"}      ops: =  !=  =~  !~  (regex fully anchored)
// A matcher name is looked up in the event's labels first; when the event has no such label the
// canonical fields answer: service, host, environment, severity, status, source, integration_id,
// title. A missing value is "" (so `team!="db"` matches events without a team label).
//
// Spec JSON (the body of POST /v1/suppression-rules and /v1/maintenance-windows):
//   suppression:  {"name", "comment"?, "matchers": [...], "starts_at"?, "ends_at"?}
//   maintenance:  {"name", "comment"?, "matchers": [...], "starts_at", "ends_at"}      one-off
//                 {"name", "comment"?, "matchers": [...], "starts_at"?, "ends_at"?,
//                  "recurrence": {"time_zone": "Europe/Berlin", "days": ["sat", "sun"],
//                                 "start": "02:00", "duration": "2h"}}              recurring
// Times are RFC 3339. A recurring window opens on each listed day at `start` local time (a start
// that falls into a DST gap opens at the end of the gap) and stays open for `duration` (at most
// 7 days); starts_at/ends_at bound the recurrence.
//
// Rules are judged at the event's own time (occurred_at), so replayed or backfilled events meet
// the window that was in force when they happened.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/events/event.h"
#include "aggregator/store/event_records.h"
#include "shared/util/status.h"

namespace re2 {
class RE2;
}
namespace date {
class time_zone;
}

namespace faultline::aggregator::events {

enum class NoiseRuleKind : std::uint8_t { kSuppression, kMaintenance };

/// "suppression", "maintenance".
std::string_view noiseRuleKindName(NoiseRuleKind kind);
std::optional<NoiseRuleKind> noiseRuleKindFromName(std::string_view name);

inline constexpr std::size_t kMaxNoiseSpecBytes = 16 * 1024;
inline constexpr std::size_t kMaxMatchers = 32;
inline constexpr std::size_t kMaxMatcherValueBytes = 1024;
inline constexpr std::size_t kMaxNoiseRulesPerTenant = 500;
inline constexpr std::int64_t kMaxWindowDurationNs = 7LL * 24 * 3600 * 1'000'000'000;

enum class MatchOp : std::uint8_t { kEqual, kNotEqual, kRegex, kNotRegex };

struct Matcher {
  std::string name;
  MatchOp op = MatchOp::kEqual;
  std::string value;
  std::shared_ptr<const re2::RE2> regex;  // with kRegex / kNotRegex

  bool matches(const Event& event) const;
  /// `name="value"`, `name=~"value"`...
  std::string text() const;
};

/// The value `event` has under a matcher name (see the header comment).
std::string fieldOf(const Event& event, std::string_view name);

/// A weekly schedule in a time zone.
struct Recurrence {
  const date::time_zone* zone = nullptr;
  std::string zone_name;
  std::uint8_t days = 0;      // bit d set: open on weekday d (0 = Sunday)
  std::int64_t start_ns = 0;  // since local midnight
  std::int64_t duration_ns = 0;
};

/// A validated rule, ready to match.
class NoiseRuleSpec {
 public:
  /// Validates a spec (see the header comment); InvalidArgument naming the field otherwise.
  static Result<NoiseRuleSpec> parse(NoiseRuleKind kind, std::string_view spec_json);

  NoiseRuleKind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::vector<Matcher>& matchers() const { return matchers_; }
  /// The spec as stored: only the known fields, normalized.
  std::string canonicalJson() const;

  bool matches(const Event& event) const;
  /// The end of the period in force at `at_ns`, or nullopt when the rule is not in force then.
  std::optional<std::int64_t> activeUntil(std::int64_t at_ns) const;
  /// The next time after `at_ns` the rule comes into force (within 8 days for a recurrence),
  /// or nullopt.
  std::optional<std::int64_t> nextStart(std::int64_t at_ns) const;

 private:
  NoiseRuleKind kind_ = NoiseRuleKind::kSuppression;
  std::string name_;
  std::string comment_;
  std::vector<Matcher> matchers_;
  std::int64_t starts_at_ns_ = INT64_MIN;
  std::int64_t ends_at_ns_ = INT64_MAX;
  std::optional<Recurrence> recurrence_;
};

/// One tenant's rules in force, compiled; what a recorder asks about each event.
class NoisePolicy {
 public:
  struct Rule {
    std::string id;
    NoiseRuleSpec spec;
  };

  /// Compiles stored rules. A stored rule that no longer compiles (say its time zone left the
  /// system's database) is skipped and named in `skipped`, never a reason to refuse events.
  static NoisePolicy compile(const std::vector<store::NoiseRule>& rules,
                             std::vector<std::string>* skipped = nullptr);

  /// A maintenance window in force at the event's time that matches it, else a matching
  /// suppression rule in force, else nothing.
  std::optional<store::Mute> muteFor(const Event& event) const;
  /// The same, judged at `at_ns` instead of the event's time (is an alert muted now?).
  std::optional<store::Mute> muteAt(const Event& event, std::int64_t at_ns) const;

  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;  // maintenance windows first
};

}  // namespace faultline::aggregator::events
