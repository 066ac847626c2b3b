#include "aggregator/store/event_records.h"

#include <array>
#include <nlohmann/json.hpp>

#include "shared/util/crypto.h"

namespace faultline::aggregator::store {
namespace {

constexpr std::array<std::pair<NoiseDecision, std::string_view>, 3> kDecisionNames = {{
    {NoiseDecision::kNew, "new"},
    {NoiseDecision::kDeduplicated, "deduplicated"},
    {NoiseDecision::kResolved, "resolved"},
}};

constexpr std::string_view kFiring = "firing";
constexpr std::string_view kResolved = "resolved";

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

AlertTransition decideAlert(const std::optional<AlertState>& current, const events::Event& event) {
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
    t.next = AlertState{std::string(kFiring), 1, event.received_at_ns, 0};
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

Status checkEventsToRecord(std::string_view tenant_id, const std::vector<events::Event>& events) {
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

std::string newEventId() {
  return "evt_" + crypto::randomHex(12);
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
