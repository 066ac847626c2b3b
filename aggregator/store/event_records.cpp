#include "aggregator/store/event_records.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "shared/util/crypto.h"
#include "shared/util/time.h"

namespace faultline::aggregator::store {
namespace {

constexpr std::array<std::pair<NoiseDecision, std::string_view>, 7> kDecisionNames = {{
    {NoiseDecision::kNew, "new"},
    {NoiseDecision::kDeduplicated, "deduplicated"},
    {NoiseDecision::kResolved, "resolved"},
    {NoiseDecision::kSuppressed, "suppressed"},
    {NoiseDecision::kMaintenance, "maintenance"},
    {NoiseDecision::kFlapping, "flapping"},
    {NoiseDecision::kTransient, "transient"},
}};

constexpr std::string_view kFiring = "firing";
constexpr std::string_view kResolved = "resolved";

std::string durationText(std::int64_t ns) {
  const std::int64_t seconds = ns / 1'000'000'000;
  if (seconds % 60 != 0 || seconds == 0) {
    return std::to_string(seconds) + "s";
  }
  if (seconds % 3600 == 0) {
    return std::to_string(seconds / 3600) + "h";
  }
  return std::to_string(seconds / 60) + "m";
}

/// How many times the alert whose state changes are `changes` (oldest first, the last one its
/// current firing) resolved within `max_duration_ns` of firing, with the resolve after
/// `since_ns`. The list alternates firing and resolved backwards from its last entry.
std::uint32_t transientEpisodes(const std::vector<std::int64_t>& changes, std::int64_t since_ns,
                                std::int64_t max_duration_ns) {
  std::uint32_t episodes = 0;
  for (auto resolve = static_cast<std::ptrdiff_t>(changes.size()) - 2; resolve >= 1; resolve -= 2) {
    const std::int64_t fired_at = changes[static_cast<std::size_t>(resolve) - 1];
    const std::int64_t resolved_at = changes[static_cast<std::size_t>(resolve)];
    if (resolved_at <= since_ns) {
      break;  // older ones are older still (events of one alert mostly come in order)
    }
    if (resolved_at >= fired_at && resolved_at - fired_at <= max_duration_ns) {
      ++episodes;
    }
  }
  return episodes;
}

/// The base decision: what the event does to its alert, flapping and mutes aside.
AlertTransition alertTransition(const std::optional<AlertState>& current,
                                const events::Event& event) {
  AlertTransition t;
  const std::string alert = "alert " + event.fingerprint;
  const bool resolving = event.status == events::EventStatus::kResolved;
  if (!current) {
    if (resolving) {
      // Nothing to pair with (the firing may predate the integration): recorded, no alert.
      t.decision = NoiseDecision::kResolved;
      t.reason = alert + " was never seen firing; nothing to resolve";
      return t;
    }
    t.decision = NoiseDecision::kNew;
    t.reason = "first event of " + alert;
    t.write = true;
    t.insert = true;
    t.next = AlertState{std::string(kFiring), 1, event.received_at_ns, 0, {}, false};
    return t;
  }
  t.next = *current;
  t.next.count = current->count + 1;
  t.write = true;
  const bool open = current->status == kFiring;
  if (resolving) {
    if (open) {
      t.decision = NoiseDecision::kResolved;
      t.reason = "resolves " + alert + " (open since " + std::to_string(current->first_seen_ns) +
                 ", " + std::to_string(current->count) + " events)";
      t.next.status = std::string(kResolved);
      t.next.resolved_at_ns = event.received_at_ns;
    } else {
      t.decision = NoiseDecision::kDeduplicated;
      t.reason = alert + " is already resolved";
    }
    return t;
  }
  if (open) {
    t.decision = NoiseDecision::kDeduplicated;
    t.reason = alert + " is already firing (event " + std::to_string(t.next.count) + ")";
  } else {
    t.decision = NoiseDecision::kNew;
    t.reason =
        "reopens " + alert + " (resolved at " + std::to_string(current->resolved_at_ns) + ")";
    t.next.status = std::string(kFiring);
    t.next.resolved_at_ns = 0;
  }
  return t;
}

}  // namespace

std::string_view noiseDecisionName(NoiseDecision decision) {
  for (const auto& [value, name] : kDecisionNames) {
    if (value == decision) {
      return name;
    }
  }
  return "unknown";
}

std::optional<NoiseDecision> noiseDecisionFromName(std::string_view name) {
  for (const auto& [value, known] : kDecisionNames) {
    if (known == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::string labelsToJson(const std::vector<std::pair<std::string, std::string>>& labels) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : labels) {
    object[key] = value;
  }
  // Replace, not throw, on invalid UTF-8: labels come from senders.
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool labelsFromJson(std::string_view json, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  nlohmann::json object = nlohmann::json::parse(json, nullptr, false);
  if (!object.is_object()) {
    return false;
  }
  for (const auto& [key, value] : object.items()) {
    if (!value.is_string()) {
      return false;
    }
    out->emplace_back(key, value.get<std::string>());
  }
  return true;  // nlohmann's object is a std::map: keys come out sorted
}

AlertTransition decideAlert(const std::optional<AlertState>& current, const events::Event& event,
                            const FlapPolicy& flap, const std::optional<Mute>& mute,
                            const TransientPolicy& transient) {
  AlertTransition t = alertTransition(current, event);
  if (t.write) {
    const bool changed = !current || current->status != t.next.status;
    const std::int64_t at = event.occurred_at_ns != 0 ? event.occurred_at_ns : event.received_at_ns;
    std::vector<std::int64_t>& changes = t.next.changes;
    if (changed) {
      changes.push_back(at);
      if (changes.size() > kMaxRememberedChanges) {
        changes.erase(changes.begin(), changes.end() - kMaxRememberedChanges);
      }
    }
    // Hysteresis: start at `changes` within the window, stop at half as many, so an alert on
    // the edge does not flap in and out of flapping.
    const auto recent = static_cast<std::uint32_t>(std::count_if(
        changes.begin(), changes.end(), [&](std::int64_t c) { return c > at - flap.window_ns; }));
    if (flap.changes == 0) {
      t.next.flapping = false;
    } else if (!t.next.flapping && recent >= flap.changes) {
      t.next.flapping = true;
    } else if (t.next.flapping && recent <= flap.changes / 2) {
      t.next.flapping = false;
    }
    if (changed && t.next.flapping) {
      t.reason = "alert " + event.fingerprint + " changed state " + std::to_string(recent) +
                 " times in the last " + durationText(flap.window_ns) + " (flapping from " +
                 std::to_string(flap.changes) + "); held until it settles; " + t.reason;
      t.decision = NoiseDecision::kFlapping;
    }
    // A transient alert's firing, and its repeats while it has fired for less than
    // max_duration: it will most likely resolve by itself, so it opens no incident. A repeat
    // once it has fired longer is an ordinary event again (PagerDuty's auto-pause).
    const bool firing_now = t.next.status == kFiring && !changes.empty();
    if (transient.episodes > 0 && firing_now && !t.next.flapping &&
        (t.decision == NoiseDecision::kNew || t.decision == NoiseDecision::kDeduplicated) &&
        at - changes.back() < transient.max_duration_ns) {
      const std::uint32_t episodes =
          transientEpisodes(changes, at - transient.window_ns, transient.max_duration_ns);
      if (episodes >= transient.episodes) {
        t.reason = "alert " + event.fingerprint + " resolved by itself within " +
                   durationText(transient.max_duration_ns) + " " + std::to_string(episodes) +
                   " times in the last " + durationText(transient.window_ns) + " (transient from " +
                   std::to_string(transient.episodes) +
                   "): opens no incident before it has fired for " +
                   durationText(transient.max_duration_ns) + "; " + t.reason;
        t.decision = NoiseDecision::kTransient;
      }
    }
  }
  if (mute) {
    t.reason = mute->reason + "; " + t.reason;
    t.decision = mute->decision;
    t.rule_id = mute->rule_id;
  }
  return t;
}

std::string encodeChanges(const std::vector<std::int64_t>& changes) {
  std::string out;
  for (std::int64_t change : changes) {
    if (!out.empty()) {
      out.push_back(',');
    }
    out += std::to_string(change);
  }
  return out;
}

std::vector<std::int64_t> decodeChanges(std::string_view text) {
  std::vector<std::int64_t> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec == std::errc() && ptr == item.data() + item.size() &&
        out.size() < kMaxRememberedChanges) {
      out.push_back(value);
    }
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

Status checkEventsToRecord(std::string_view tenant_id, const std::vector<events::Event>& events,
                           const RecordContext& context) {
  if (!context.mutes.empty() && context.mutes.size() != events.size()) {
    return invalidArgument("record events: one mute (or none) per event");
  }
  for (const std::optional<Mute>& mute : context.mutes) {
    if (mute && mute->decision != NoiseDecision::kSuppressed &&
        mute->decision != NoiseDecision::kMaintenance) {
      return invalidArgument("record events: a mute decides 'suppressed' or 'maintenance'");
    }
  }
  if (events.size() > kMaxEventsPerRecord) {
    return invalidArgument("record events: " + std::to_string(events.size()) + " events; at most " +
                           std::to_string(kMaxEventsPerRecord) + " per call");
  }
  for (const events::Event& event : events) {
    if (event.fingerprint.empty()) {
      return invalidArgument("record events: an event has no fingerprint");
    }
    if (!event.tenant_id.empty() && event.tenant_id != tenant_id) {
      return invalidArgument("record events: an event belongs to another tenant");
    }
  }
  return Status::ok();
}

std::vector<std::pair<std::string, std::int64_t>> decisionCounts(
    const std::vector<std::pair<std::string, std::int64_t>>& found) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& [decision, name] : kDecisionNames) {
    std::int64_t count = 0;
    for (const auto& [found_name, found_count] : found) {
      if (found_name == name) {
        count += found_count;
      }
    }
    out.emplace_back(std::string(name), count);
  }
  return out;
}

std::string newEventId() {
  // Time first (ns, 16 hex digits), then 64 random bits: ids sort roughly by creation, so the
  // primary-key index of the events table grows at its end instead of dirtying a random leaf
  // page per event (each dirty page is a WAL write at every group commit).
  char time_hex[17];
  std::snprintf(time_hex, sizeof time_hex, "%016llx",
                static_cast<unsigned long long>(nowUnixNanos()));
  return "evt_" + std::string(time_hex, 16) + crypto::randomHex(8);
}

Status decodeEventColumns(std::string_view source, std::string_view severity,
                          std::string_view status, std::string_view labels_json,
                          std::string_view decision, StoredEvent* out) {
  auto bad = [](std::string_view what, std::string_view value) {
    return Status(Errc::DataLoss, "stored event has an unknown " + std::string(what) + " '" +
                                      std::string(value) + "'");
  };
  std::optional<events::SourceKind> kind = events::sourceKindFromName(source);
  if (!kind) {
    return bad("source", source);
  }
  out->event.source = *kind;
  out->event.severity = logparse::severityFromText(severity).value_or(logparse::Severity::kUnknown);
  if (status == events::eventStatusName(events::EventStatus::kFiring)) {
    out->event.status = events::EventStatus::kFiring;
  } else if (status == events::eventStatusName(events::EventStatus::kResolved)) {
    out->event.status = events::EventStatus::kResolved;
  } else if (status == events::eventStatusName(events::EventStatus::kInfo)) {
    out->event.status = events::EventStatus::kInfo;
  } else {
    return bad("status", status);
  }
  if (!labelsFromJson(labels_json, &out->event.labels)) {
    return bad("labels", labels_json);
  }
  std::optional<NoiseDecision> known = noiseDecisionFromName(decision);
  if (!known) {
    return bad("decision", decision);
  }
  out->decision = *known;
  return Status::ok();
}

}  // namespace faultline::aggregator::store
