#include "aggregator/events/event.h"

#include <array>

#include "shared/util/crypto.h"

namespace faultline::aggregator::events {
namespace {

constexpr std::array<std::pair<SourceKind, std::string_view>, 8> kSourceNames = {{
    {SourceKind::kAlertmanager, "alertmanager"},
    {SourceKind::kGrafana, "grafana"},
    {SourceKind::kPagerDuty, "pagerduty"},
    {SourceKind::kDatadog, "datadog"},
    {SourceKind::kCloudWatch, "cloudwatch"},
    {SourceKind::kGeneric, "generic"},
    {SourceKind::kLog, "log"},
    {SourceKind::kChange, "change"},
}};

// Length-prefixed so that ("ab","c") and ("a","bc") differ.
void absorb(std::string& key, std::string_view part) {
  const std::uint64_t size = part.size();
  for (int i = 0; i < 8; ++i) {
    key.push_back(static_cast<char>(size >> (8 * i)));
  }
  key.append(part);
}

}  // namespace

std::string_view sourceKindName(SourceKind kind) {
  for (const auto& [k, name] : kSourceNames) {
    if (k == kind) {
      return name;
    }
  }
  return "unknown";
}

std::optional<SourceKind> sourceKindFromName(std::string_view name) {
  for (const auto& [k, known] : kSourceNames) {
    if (known == name) {
      return k;
    }
  }
  return std::nullopt;
}

std::string_view eventStatusName(EventStatus status) {
  switch (status) {
    case EventStatus::kFiring: return "firing";
    case EventStatus::kResolved: return "resolved";
    case EventStatus::kInfo: return "info";
  }
  return "unknown";
}

std::string computeFingerprint(const Event& event) {
  std::string key;
  absorb(key, "faultline-event-v1");
  absorb(key, event.tenant_id);
  absorb(key, event.integration_id);
  absorb(key, sourceKindName(event.source));
  if (!event.source_dedup_key.empty()) {
    absorb(key, "key");
    absorb(key, event.source_dedup_key);
  } else if (!event.labels.empty()) {
    absorb(key, "labels");
    for (const auto& [name, value] : event.labels) {
      absorb(key, name);
      absorb(key, value);
    }
  } else {
    absorb(key, "title");
    absorb(key, event.title);
  }
  // 128 bits of BLAKE2b-256 are plenty to tell alerts apart and keep ids short.
  return crypto::hashSecret(key).substr(0, 32);
}

}  // namespace faultline::aggregator::events
