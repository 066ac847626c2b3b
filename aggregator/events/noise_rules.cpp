#include "aggregator/events/noise_rules.h"

#include <date/tz.h>
#include <re2/re2.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "shared/util/time.h"

namespace faultline::aggregator::events {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};
constexpr std::int64_t kSecondNs = 1'000'000'000;
// Recurrences are computed in local time, which overflows nanoseconds near the ends of
// int64: times outside [1970, ~2191] never fall into a recurring window.
constexpr std::int64_t kLatestZonedNs = 7'000'000'000'000'000'000;

bool zonable(std::int64_t at_ns) {
  return at_ns >= 0 && at_ns <= kLatestZonedNs;
}

struct OpName {
  MatchOp op;
  std::string_view name;
};
constexpr std::array<OpName, 4> kOps = {{
    {MatchOp::kEqual, "="},
    {MatchOp::kNotEqual, "!="},
    {MatchOp::kRegex, "=~"},
    {MatchOp::kNotRegex, "!~"},
}};

std::string_view opName(MatchOp op) {
  for (const OpName& known : kOps) {
    if (known.op == op) {
      return known.name;
    }
  }
  return "=";
}

Status fieldError(std::string_view field, std::string_view message) {
  return invalidArgument(std::string(field) + ": " + std::string(message));
}

Result<std::string> stringField(const json& object, const char* name, bool required,
                                std::size_t max_bytes) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (required) {
      return fieldError(name, "required");
    }
    return std::string();
  }
  if (!it->is_string()) {
    return fieldError(name, "expected a string");
  }
  std::string value = it->get<std::string>();
  if (value.size() > max_bytes) {
    return fieldError(name, "at most " + std::to_string(max_bytes) + " bytes");
  }
  return value;
}

Result<std::optional<std::int64_t>> timeField(const json& object, const char* name) {
  FL_ASSIGN_OR_RETURN(std::string text, stringField(object, name, false, 64));
  if (text.empty()) {
    return std::optional<std::int64_t>();
  }
  auto parsed = parseTimestamp(text);
  if (!parsed) {
    return fieldError(name, parsed.status().message());
  }
  return std::optional<std::int64_t>(*parsed);
}

Result<Matcher> parseMatcher(const json& item, std::size_t index) {
  const std::string where = "matchers[" + std::to_string(index) + "]";
  if (!item.is_object()) {
    return fieldError(where, "expected an object {name, op, value}");
  }
  Matcher matcher;
  auto name = stringField(item, "name", true, 256);
  auto op = stringField(item, "op", false, 2);
  auto value = stringField(item, "value", true, kMaxMatcherValueBytes);
  for (const Status& status : {name.status(), op.status(), value.status()}) {
    if (!status.isOk()) {
      return fieldError(where, status.message());
    }
  }
  if (name->empty()) {
    return fieldError(where, "name: must not be empty");
  }
  matcher.name = std::move(*name);
  matcher.value = std::move(*value);
  const std::string op_text = op->empty() ? "=" : *op;
  bool known = false;
  for (const OpName& candidate : kOps) {
    if (candidate.name == op_text) {
      matcher.op = candidate.op;
      known = true;
    }
  }
  if (!known) {
    return fieldError(where, "op: one of =, !=, =~, !~");
  }
  if (matcher.op == MatchOp::kRegex || matcher.op == MatchOp::kNotRegex) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(1 << 20);  // a tenant's regex must not cost the node much memory
    // Anchored like Alertmanager: the whole value must match.
    auto regex = std::make_shared<RE2>("^(?:" + matcher.value + ")$", options);
    if (!regex->ok()) {
      return fieldError(where, "value: not a valid regular expression: " + regex->error());
    }
    matcher.regex = std::move(regex);
  }
  return matcher;
}

Result<Recurrence> parseRecurrence(const json& object) {
  if (!object.is_object()) {
    return fieldError("recurrence", "expected an object {time_zone, days, start, duration}");
  }
  Recurrence recurrence;
  auto zone_name = stringField(object, "time_zone", true, 64);
  auto start = stringField(object, "start", true, 8);
  auto duration = stringField(object, "duration", true, 32);
  for (const Status& status : {zone_name.status(), start.status(), duration.status()}) {
    if (!status.isOk()) {
      return fieldError("recurrence", status.message());
    }
  }
  try {
    recurrence.zone = date::locate_zone(*zone_name);
  } catch (const std::exception&) {
    return fieldError("recurrence.time_zone",
                      "unknown time zone '" + *zone_name + "' (an IANA name like Europe/Berlin)");
  }
  recurrence.zone_name = *zone_name;
  int hours = -1;
  int minutes = -1;
  if (start->size() == 5 && (*start)[2] == ':' && std::isdigit((*start)[0]) &&
      std::isdigit((*start)[1]) && std::isdigit((*start)[3]) && std::isdigit((*start)[4])) {
    hours = ((*start)[0] - '0') * 10 + ((*start)[1] - '0');
    minutes = ((*start)[3] - '0') * 10 + ((*start)[4] - '0');
  }
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) {
    return fieldError("recurrence.start", "expected local time HH:MM (00:00 to 23:59)");
  }
  recurrence.start_ns = (static_cast<std::int64_t>(hours) * 3600 + minutes * 60) * kSecondNs;
  auto length = parseDuration(*duration);
  if (!length) {
    return fieldError("recurrence.duration", length.status().message());
  }
  recurrence.duration_ns = length->count();
  if (recurrence.duration_ns > kMaxWindowDurationNs) {
    return fieldError("recurrence.duration", "at most 7 days");
  }
  auto days = object.find("days");
  if (days == object.end() || days->is_null()) {
    recurrence.days = 0x7f;  // every day
  } else {
    if (!days->is_array() || days->empty() || days->size() > 7) {
      return fieldError("recurrence.days", "expected a list of days (sun, mon, ... sat)");
    }
    for (const json& day : *days) {
      bool known = false;
      for (std::size_t d = 0; d < kDayNames.size(); ++d) {
        if (day.is_string() && day.get<std::string>() == kDayNames[d]) {
          recurrence.days |= static_cast<std::uint8_t>(1u << d);
          known = true;
        }
      }
      if (!known) {
        return fieldError("recurrence.days",
                          "each day is one of sun, mon, tue, wed, thu, fri, sat");
      }
    }
  }
  return recurrence;
}

using NanoTime = date::sys_time<std::chrono::nanoseconds>;

/// The UTC start of the occurrence that opens on local day `day` (DST gaps open at their end).
std::int64_t occurrenceStart(const Recurrence& recurrence, date::local_days day) {
  const date::local_time<std::chrono::nanoseconds> local =
      day + std::chrono::nanoseconds(recurrence.start_ns);
  return recurrence.zone->to_sys(local, date::choose::earliest).time_since_epoch().count();
}

bool opensOn(const Recurrence& recurrence, date::local_days day) {
  return (recurrence.days >> date::weekday(day).c_encoding()) & 1u;
}

date::local_days localDay(const Recurrence& recurrence, std::int64_t at_ns) {
  const auto local = recurrence.zone->to_local(NanoTime(std::chrono::nanoseconds(at_ns)));
  return date::floor<date::days>(local);
}

}  // namespace

std::string_view noiseRuleKindName(NoiseRuleKind kind) {
  return kind == NoiseRuleKind::kMaintenance ? "maintenance" : "suppression";
}

std::optional<NoiseRuleKind> noiseRuleKindFromName(std::string_view name) {
  if (name == "suppression") {
    return NoiseRuleKind::kSuppression;
  }
  if (name == "maintenance") {
    return NoiseRuleKind::kMaintenance;
  }
  return std::nullopt;
}

std::string fieldOf(const Event& event, std::string_view name) {
  for (const auto& [key, value] : event.labels) {
    if (key == name) {
      return value;
    }
  }
  if (name == "service") return event.service;
  if (name == "host") return event.host;
  if (name == "environment") return event.environment;
  if (name == "severity") return std::string(logparse::severityName(event.severity));
  if (name == "status") return std::string(eventStatusName(event.status));
  if (name == "source") return std::string(sourceKindName(event.source));
  if (name == "integration_id") return event.integration_id;
  if (name == "title") return event.title;
  return std::string();
}

bool Matcher::matches(const Event& event) const {
  const std::string actual = fieldOf(event, name);
  switch (op) {
    case MatchOp::kEqual: return actual == value;
    case MatchOp::kNotEqual: return actual != value;
    case MatchOp::kRegex: return RE2::FullMatch(actual, *regex);
    case MatchOp::kNotRegex: return !RE2::FullMatch(actual, *regex);
  }
  return false;
}

std::string Matcher::text() const {
  return name + std::string(opName(op)) +
         json(value).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<NoiseRuleSpec> NoiseRuleSpec::parse(NoiseRuleKind kind, std::string_view spec_json) {
  if (spec_json.size() > kMaxNoiseSpecBytes) {
    return invalidArgument("rule: at most " + std::to_string(kMaxNoiseSpecBytes) + " bytes");
  }
  json body = json::parse(spec_json, nullptr, false);
  if (!body.is_object()) {
    return invalidArgument("rule: expected a JSON object");
  }
  static constexpr std::array<std::string_view, 6> kKnown = {"name",      "comment", "matchers",
                                                             "starts_at", "ends_at", "recurrence"};
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (std::string_view name : kKnown) {
      known = known || key == name;
    }
    if (!known) {
      return fieldError(key, "unknown field");
    }
  }
  NoiseRuleSpec spec;
  spec.kind_ = kind;
  FL_ASSIGN_OR_RETURN(spec.name_, stringField(body, "name", true, 200));
  if (spec.name_.empty()) {
    return fieldError("name", "must not be empty");
  }
  FL_ASSIGN_OR_RETURN(spec.comment_, stringField(body, "comment", false, 2000));
  auto matchers = body.find("matchers");
  if (matchers == body.end() || !matchers->is_array() || matchers->empty()) {
    return fieldError("matchers", "at least one matcher {name, op, value} is required");
  }
  if (matchers->size() > kMaxMatchers) {
    return fieldError("matchers", "at most " + std::to_string(kMaxMatchers));
  }
  for (std::size_t i = 0; i < matchers->size(); ++i) {
    FL_ASSIGN_OR_RETURN(Matcher matcher, parseMatcher((*matchers)[i], i));
    spec.matchers_.push_back(std::move(matcher));
  }
  FL_ASSIGN_OR_RETURN(std::optional<std::int64_t> starts, timeField(body, "starts_at"));
  FL_ASSIGN_OR_RETURN(std::optional<std::int64_t> ends, timeField(body, "ends_at"));
  spec.starts_at_ns_ = starts.value_or(INT64_MIN);
  spec.ends_at_ns_ = ends.value_or(INT64_MAX);
  if (spec.starts_at_ns_ >= spec.ends_at_ns_) {
    return fieldError("ends_at", "must be after starts_at");
  }
  if (auto recurrence = body.find("recurrence");
      recurrence != body.end() && !recurrence->is_null()) {
    if (kind != NoiseRuleKind::kMaintenance) {
      return fieldError("recurrence", "only maintenance windows recur");
    }
    FL_ASSIGN_OR_RETURN(spec.recurrence_, parseRecurrence(*recurrence));
  } else if (kind == NoiseRuleKind::kMaintenance && (!starts || !ends)) {
    return fieldError("starts_at",
                      "a one-off maintenance window needs starts_at and ends_at "
                      "(or give a recurrence)");
  }
  return spec;
}

std::string NoiseRuleSpec::canonicalJson() const {
  ordered_json out;
  out["name"] = name_;
  if (!comment_.empty()) {
    out["comment"] = comment_;
  }
  ordered_json matchers = ordered_json::array();
  for (const Matcher& matcher : matchers_) {
    matchers.push_back(
        {{"name", matcher.name}, {"op", opName(matcher.op)}, {"value", matcher.value}});
  }
  out["matchers"] = std::move(matchers);
  if (starts_at_ns_ != INT64_MIN) {
    out["starts_at"] = formatRfc3339Nanos(starts_at_ns_);
  }
  if (ends_at_ns_ != INT64_MAX) {
    out["ends_at"] = formatRfc3339Nanos(ends_at_ns_);
  }
  if (recurrence_) {
    ordered_json days = ordered_json::array();
    for (std::size_t d = 0; d < kDayNames.size(); ++d) {
      if ((recurrence_->days >> d) & 1u) {
        days.push_back(kDayNames[d]);
      }
    }
    const std::int64_t minutes = recurrence_->start_ns / (60 * kSecondNs);
    char start[16];
    std::snprintf(start, sizeof start, "%02d:%02d", static_cast<int>(minutes / 60),
                  static_cast<int>(minutes % 60));
    out["recurrence"] = {{"time_zone", recurrence_->zone_name},
                         {"days", std::move(days)},
                         {"start", start},
                         {"duration", std::to_string(recurrence_->duration_ns / kSecondNs) + "s"}};
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool NoiseRuleSpec::matches(const Event& event) const {
  for (const Matcher& matcher : matchers_) {
    if (!matcher.matches(event)) {
      return false;
    }
  }
  return true;
}

std::optional<std::int64_t> NoiseRuleSpec::activeUntil(std::int64_t at_ns) const {
  if (at_ns < starts_at_ns_ || at_ns >= ends_at_ns_) {
    return std::nullopt;
  }
  if (!recurrence_) {
    return ends_at_ns_;
  }
  if (!zonable(at_ns)) {
    return std::nullopt;
  }
  // An occurrence lasts at most 7 days: one that covers `at` opened on one of the last 8 days.
  const date::local_days today = localDay(*recurrence_, at_ns);
  for (int back = 0; back <= 8; ++back) {
    const date::local_days day = today - date::days(back);
    if (!opensOn(*recurrence_, day)) {
      continue;
    }
    const std::int64_t start = occurrenceStart(*recurrence_, day);
    if (start <= at_ns && at_ns - start < recurrence_->duration_ns) {
      return std::min(start + recurrence_->duration_ns, ends_at_ns_);
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> NoiseRuleSpec::nextStart(std::int64_t at_ns) const {
  if (at_ns >= ends_at_ns_) {
    return std::nullopt;
  }
  if (!recurrence_) {
    return at_ns < starts_at_ns_ ? std::optional<std::int64_t>(starts_at_ns_) : std::nullopt;
  }
  const std::int64_t from = std::max(at_ns, starts_at_ns_ == INT64_MIN ? at_ns : starts_at_ns_ - 1);
  if (!zonable(from)) {
    return std::nullopt;
  }
  const date::local_days today = localDay(*recurrence_, from);
  for (int ahead = 0; ahead <= 8; ++ahead) {
    const date::local_days day = today + date::days(ahead);
    if (!opensOn(*recurrence_, day)) {
      continue;
    }
    const std::int64_t start = occurrenceStart(*recurrence_, day);
    if (start > from && start < ends_at_ns_) {
      return start;
    }
  }
  return std::nullopt;
}

NoisePolicy NoisePolicy::compile(const std::vector<store::NoiseRule>& rules,
                                 std::vector<std::string>* skipped) {
  NoisePolicy policy;
  std::vector<Rule> suppressions;
  for (const store::NoiseRule& stored : rules) {
    std::optional<NoiseRuleKind> kind = noiseRuleKindFromName(stored.kind);
    Result<NoiseRuleSpec> spec = kind ? NoiseRuleSpec::parse(*kind, stored.spec_json)
                                      : Result<NoiseRuleSpec>(invalidArgument("unknown kind"));
    if (!spec) {
      if (skipped != nullptr) {
        skipped->push_back(stored.id + ": " + spec.status().message());
      }
      continue;
    }
    (*kind == NoiseRuleKind::kMaintenance ? policy.rules_ : suppressions)
        .push_back(Rule{stored.id, std::move(*spec)});
  }
  for (Rule& rule : suppressions) {
    policy.rules_.push_back(std::move(rule));
  }
  return policy;
}

std::optional<store::Mute> NoisePolicy::muteFor(const Event& event) const {
  return muteAt(event, event.occurred_at_ns != 0 ? event.occurred_at_ns : event.received_at_ns);
}

std::optional<store::Mute> NoisePolicy::muteAt(const Event& event, std::int64_t at) const {
  for (const Rule& rule : rules_) {
    std::optional<std::int64_t> until = rule.spec.activeUntil(at);
    if (!until || !rule.spec.matches(event)) {
      continue;
    }
    std::string matched;
    for (const Matcher& matcher : rule.spec.matchers()) {
      matched += (matched.empty() ? "" : ", ") + matcher.text();
    }
    store::Mute mute;
    mute.rule_id = rule.id;
    if (rule.spec.kind() == NoiseRuleKind::kMaintenance) {
      mute.decision = store::NoiseDecision::kMaintenance;
      mute.reason = "in maintenance window " + rule.id + " '" + rule.spec.name() + "' {" + matched +
                    "} until " + formatRfc3339Millis(*until);
    } else {
      mute.decision = store::NoiseDecision::kSuppressed;
      mute.reason = "suppressed by rule " + rule.id + " '" + rule.spec.name() + "' {" + matched +
                    "}" + (*until == INT64_MAX ? "" : " until " + formatRfc3339Millis(*until));
    }
    return mute;
  }
  return std::nullopt;
}

}  // namespace faultline::aggregator::events
