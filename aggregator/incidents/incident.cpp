#include "aggregator/incidents/incident.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::incidents {
namespace {

using nlohmann::json;

constexpr std::string_view kStatusNames[] = {"triggered", "acknowledged", "resolved", "closed",
                                             "merged"};

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Compact JSON text, appended in place; commas come from the nesting.
struct DocText {
  std::string out;
  bool first = true;  // nothing written yet at this level

  void separate() {
    if (!first) {
      out += ',';
    }
    first = false;
  }
  void open(char bracket) {
    separate();
    out += bracket;
    first = true;
  }
  void close(char bracket) {
    out += bracket;
    first = false;
  }
  void key(std::string_view name) {
    string(name);
    out += ':';
    first = true;  // the value that follows takes no comma
  }
  void string(std::string_view text) {
    separate();
    out += '"';
    log::appendJsonEscaped(out, text);  // invalid UTF-8 becomes U+FFFD, as the DOM's dump did
    out += '"';
  }
  template <typename Strings>
  void strings(const Strings& texts) {
    open('[');
    for (const std::string& text : texts) {
      string(text);
    }
    close(']');
  }
  template <typename Integer>
  void integer(Integer value) {
    separate();
    char buffer[24];
    auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    out.append(buffer, end);
  }
  void boolean(bool value) {
    separate();
    out += value ? "true" : "false";
  }
  /// Shortest text that reads back to the same double; "1.0", not "1", so it stays a float.
  /// Not finite: null, as the DOM wrote it.
  void number(double value) {
    separate();
    if (!std::isfinite(value)) {
      out += "null";
      return;
    }
    char buffer[32];
    auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    std::string_view text(buffer, static_cast<std::size_t>(end - buffer));
    out += text;
    if (text.find_first_of(".e") == std::string_view::npos) {
      out += ".0";
    }
  }
  // A key and its value.
  void textField(std::string_view name, std::string_view text) {
    key(name);
    string(text);
  }
  template <typename Integer>
  void integerField(std::string_view name, Integer value) {
    key(name);
    integer(value);
  }
  void numberField(std::string_view name, double value) {
    key(name);
    number(value);
  }
};

std::optional<events::Severity> severityByName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(events::Severity::kCritical); ++i) {
    auto severity = static_cast<events::Severity>(i);
    if (logparse::severityName(severity) == name) {
      return severity;
    }
  }
  return std::nullopt;
}

/// "5m", "90s", "1500ms": the largest unit that divides it, as parseDuration reads back.
std::string formatDuration(std::int64_t ns) {
  constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {3600LL * 1'000'000'000, "h"}, {60LL * 1'000'000'000, "m"}, {1'000'000'000, "s"}};
  for (const auto& [size, unit] : kUnits) {
    if (ns % size == 0) {
      return std::to_string(ns / size) + unit;
    }
  }
  return std::to_string(ns / 1'000'000) + "ms";
}

}  // namespace

std::string_view statusName(IncidentStatus status) {
  return kStatusNames[static_cast<std::size_t>(status)];
}

std::optional<IncidentStatus> statusFromName(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kStatusNames); ++i) {
    if (kStatusNames[i] == name) {
      return static_cast<IncidentStatus>(i);
    }
  }
  return std::nullopt;
}

bool isActive(IncidentStatus status) {
  return status == IncidentStatus::kTriggered || status == IncidentStatus::kAcknowledged;
}

std::string reasonToJson(const JoinReason& reason) {
  json out = {{"rule", reason.rule}};
  if (!reason.key.empty()) {
    out["key"] = reason.key;
  }
  if (!reason.path.empty()) {
    out["path"] = reason.path;
    out["hops"] = reason.path.size() - 1;
  }
  if (reason.rule == "similarity") {
    out["similarity"] = std::round(reason.similarity * 1000) / 1000;
  }
  if (!reason.with_incident.empty()) {
    out["with_incident"] = reason.with_incident;
  }
  return dump(out);
}

Result<CorrelationRules> CorrelationRules::fromJson(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return invalidArgument("correlation rules: not a JSON object");
  }
  CorrelationRules rules;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    // Named, not a structured binding: clang 14 cannot capture those in lambdas.
    const std::string& key = it.key();
    const json& value = it.value();
    auto bad = [&](std::string_view what) {
      return invalidArgument("correlation rules: " + key + " " + std::string(what));
    };
    if (key == "window") {
      if (!value.is_string()) {
        return bad("must be a duration like \"5m\"");
      }
      auto parsed = parseDuration(value.get<std::string>());
      if (!parsed.isOk() || parsed.value().count() < 1'000'000 ||
          parsed.value().count() > 24LL * 3600 * 1'000'000'000) {
        return bad("must be a duration between 1ms and 24h");
      }
      rules.window_ns = parsed.value().count();
    } else if (key == "max_span") {
      if (!value.is_string()) {
        return bad("must be a duration like \"15m\" (\"0s\": no limit)");
      }
      const std::string span = value.get<std::string>();
      if (span == "0" || span == "0s" || span == "0m" || span == "0h") {
        rules.max_span_ns = 0;
        continue;
      }
      auto parsed = parseDuration(span);
      if (!parsed.isOk() || parsed.value().count() > 7LL * 24 * 3600 * 1'000'000'000) {
        return bad("must be a duration up to 7d (\"0s\": no limit)");
      }
      rules.max_span_ns = parsed.value().count();
    } else if (key == "max_hops") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > 6) {
        return bad("must be an integer from 0 to 6");
      }
      rules.max_hops = value.get<int>();
    } else if (key == "group_by") {
      if (!value.is_array() || value.size() > 16) {
        return bad("must be an array of at most 16 label names");
      }
      rules.group_by.clear();
      for (const json& name : value) {
        if (!name.is_string() || name.get<std::string>().empty() ||
            name.get<std::string>().size() > 128) {
          return bad("must hold label names (1 to 128 bytes)");
        }
        rules.group_by.push_back(name.get<std::string>());
      }
    } else if (key == "similarity") {
      if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 2) {
        return bad("must be a number from 0 to 2 (above 1: never)");
      }
      rules.similarity = value.get<double>();
    } else if (key == "min_events") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
          value.get<std::int64_t>() > 10000) {
        return bad("must be an integer from 1 to 10000");
      }
      rules.min_events = value.get<std::uint32_t>();
    } else if (key == "open_severity") {
      auto severity = value.is_string() ? severityByName(value.get<std::string>()) : std::nullopt;
      if (!severity) {
        return bad("must be a severity name (info, warn, error, critical...)");
      }
      rules.open_severity = *severity;
    } else if (key == "merge_on_bridge" || key == "reopen_resolved" || key == "auto_resolve") {
      if (!value.is_boolean()) {
        return bad("must be true or false");
      }
      bool flag = value.get<bool>();
      (key == "merge_on_bridge"   ? rules.merge_on_bridge
       : key == "reopen_resolved" ? rules.reopen_resolved
                                  : rules.auto_resolve) = flag;
    } else {
      return invalidArgument("correlation rules: unknown field " + key);
    }
  }
  return rules;
}

std::string CorrelationRules::toJson() const {
  return dump(json{{"window", formatDuration(window_ns)},
                   {"max_span", max_span_ns == 0 ? std::string("0s") : formatDuration(max_span_ns)},
                   {"max_hops", max_hops},
                   {"group_by", group_by},
                   {"similarity", similarity},
                   {"min_events", min_events},
                   {"open_severity", logparse::severityName(open_severity)},
                   {"merge_on_bridge", merge_on_bridge},
                   {"reopen_resolved", reopen_resolved},
                   {"auto_resolve", auto_resolve}});
}

std::string Incident::docJson() const {
  // Written directly, not through a json DOM: the engine rewrites every changed incident's
  // document each correlation step, and building the DOM was over half of the engine thread's
  // time at 10,000 events/s (perf). Keys in sorted order, as the DOM wrote them.
  DocText doc;
  doc.open('{');
  doc.key("alerts");
  doc.open('{');
  for (const auto& [fingerprint, firing] : alerts) {
    doc.key(fingerprint);
    doc.boolean(firing);
  }
  doc.close('}');
  doc.textField("assignee", assignee);
  doc.key("candidates");
  doc.open('[');
  for (const Candidate& c : candidates) {
    doc.open('{');
    doc.numberField("confidence", c.confidence);
    doc.key("evidence");
    doc.strings(c.evidence);
    doc.key("factors");
    doc.open('{');
    for (const auto& [name, value] : c.factors) {
      doc.numberField(name, value);
    }
    doc.close('}');
    doc.textField("kind", c.kind);
    doc.textField("name", c.name);
    doc.numberField("score", c.score);
    doc.textField("service", c.service);
    doc.close('}');
  }
  doc.close(']');
  doc.key("chain");
  doc.open('[');
  for (const ChainStep& step : chain) {
    doc.open('{');
    doc.integerField("at_ns", step.at_ns);
    doc.textField("event_id", step.event_id);
    doc.textField("service", step.service);
    doc.textField("via", step.via);
    doc.close('}');
  }
  doc.close(']');
  doc.integerField("event_count", event_count);
  doc.key("fingerprints");
  doc.strings(fingerprints);
  doc.integerField("graph_version", graph_version);
  doc.key("group_keys");
  doc.strings(group_keys);
  doc.textField("merged_into", merged_into);
  doc.integerField("resolved_at_ns", resolved_at_ns);
  doc.key("services");
  doc.open('{');
  for (const auto& [name, activity] : services) {
    doc.key(name);
    doc.open('{');
    doc.integerField("events", activity.events);
    doc.integerField("first_ns", activity.first_ns);
    doc.integerField("last_ns", activity.last_ns);
    doc.textField("max_severity", logparse::severityName(activity.max_severity));
    doc.close('}');
  }
  doc.close('}');
  doc.key("title_tokens");
  doc.open('[');
  for (const auto& set : title_tokens) {
    doc.strings(set);
  }
  doc.close(']');
  doc.close('}');
  return std::move(doc.out);
}

Status Incident::fromDocJson(std::string_view text, Incident* out) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return dataLoss("incident document is not a JSON object");
  }
  try {
    out->assignee = doc.value("assignee", "");
    out->resolved_at_ns = doc.value("resolved_at_ns", std::int64_t{0});
    out->graph_version = doc.value("graph_version", std::int64_t{0});
    out->merged_into = doc.value("merged_into", "");
    out->event_count = doc.value("event_count", std::uint64_t{0});
    out->services.clear();
    const json activities = doc.value("services", json::object());  // items() needs it alive
    for (const auto& [name, value] : activities.items()) {
      ServiceActivity activity;
      activity.events = value.value("events", std::uint64_t{0});
      activity.first_ns = value.value("first_ns", std::int64_t{0});
      activity.last_ns = value.value("last_ns", std::int64_t{0});
      activity.max_severity = severityByName(value.value("max_severity", "unknown"))
                                  .value_or(events::Severity::kUnknown);
      out->services[name] = activity;
    }
    out->alerts = doc.value("alerts", std::map<std::string, bool>{});
    out->fingerprints = doc.value("fingerprints", std::set<std::string>{});
    out->group_keys = doc.value("group_keys", std::set<std::string>{});
    out->title_tokens.clear();
    for (const json& set : doc.value("title_tokens", json::array())) {
      out->title_tokens.push_back(set.get<std::set<std::string>>());
    }
    out->candidates.clear();
    for (const json& c : doc.value("candidates", json::array())) {
      Candidate candidate;
      candidate.kind = c.value("kind", "");
      candidate.name = c.value("name", "");
      candidate.service = c.value("service", "");
      candidate.score = c.value("score", 0.0);
      candidate.confidence = c.value("confidence", 0.0);
      candidate.evidence = c.value("evidence", std::vector<std::string>{});
      candidate.factors = c.value("factors", std::map<std::string, double>{});
      out->candidates.push_back(std::move(candidate));
    }
    out->chain.clear();
    for (const json& s : doc.value("chain", json::array())) {
      out->chain.push_back({s.value("service", ""), s.value("event_id", ""),
                            s.value("at_ns", std::int64_t{0}), s.value("via", "")});
    }
  } catch (const json::exception& e) {
    return dataLoss(std::string("incident document: ") + e.what());
  }
  return Status::ok();
}

std::set<std::string> titleTokens(std::string_view title) {
  std::set<std::string> out;
  std::string word;
  auto flush = [&] {
    bool has_alpha = std::any_of(word.begin(), word.end(), [](char c) {
      return std::isalpha(static_cast<unsigned char>(c));
    });
    bool has_digit = std::any_of(word.begin(), word.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    // Words with digits are ids, counts and times: they differ between otherwise equal lines.
    if (has_alpha && !has_digit && word.size() > 1 && out.size() < 64) {
      out.insert(word);
    }
    word.clear();
  };
  for (char c : title) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

double jaccard(const std::set<std::string>& a, const std::set<std::string>& b) {
  if (a.empty() || b.empty()) {
    return 0.0;
  }
  // Both sets are ordered: one merge walk.
  std::size_t common = 0;
  auto left = a.begin();
  auto right = b.begin();
  while (left != a.end() && right != b.end()) {
    const int order = left->compare(*right);
    if (order == 0) {
      ++common;
      ++left;
      ++right;
    } else if (order < 0) {
      ++left;
    } else {
      ++right;
    }
  }
  return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

}  // namespace faultline::aggregator::incidents
