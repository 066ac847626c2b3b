#pragma once

// The one event model every signal becomes: monitoring webhooks (Alertmanager, Grafana,
// PagerDuty Events v2, Datadog, CloudWatch via SNS, generic JSON), log-derived events and
// uploads. Noise reduction, correlation and the dashboard only ever see this shape.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/logparse/severity.h"

namespace faultline::aggregator::events {

enum class SourceKind : std::uint8_t {
  kAlertmanager,
  kGrafana,
  kPagerDuty,
  kDatadog,
  kCloudWatch,
  kGeneric,
  kLog,     // derived from agent or uploaded log lines
  kChange,  // a deploy or config change (POST /v1/changes)
};

/// "alertmanager", "grafana", "pagerduty", "datadog", "cloudwatch", "generic", "log", "change".
std::string_view sourceKindName(SourceKind kind);
std::optional<SourceKind> sourceKindFromName(std::string_view name);

enum class EventStatus : std::uint8_t { kFiring, kResolved, kInfo };

/// "firing", "resolved", "info".
std::string_view eventStatusName(EventStatus status);

using Severity = logparse::Severity;

struct Event {
  std::string tenant_id;
  SourceKind source = SourceKind::kGeneric;
  std::string integration_id;
  std::string service;
  std::string host;
  std::string environment;
  /// kInfo, kWarn, kError or kCritical for monitoring events (see normalize.h for the mapping).
  Severity severity = Severity::kUnknown;
  EventStatus status = EventStatus::kFiring;
  /// What the sender asked for when it is more than a status: PagerDuty "acknowledge".
  std::string action;
  /// The sender's own deduplication key, kept as sent (Alertmanager fingerprint, PagerDuty
  /// dedup_key, Datadog alert cycle key, CloudWatch alarm ARN...). May be empty.
  std::string source_dedup_key;
  /// Computed: equal for the same alert from the same integration (see computeFingerprint).
  std::string fingerprint;
  std::string title;
  std::string body;
  /// Sorted by key, keys unique.
  std::vector<std::pair<std::string, std::string>> labels;
  std::int64_t occurred_at_ns = 0;  // the sender's time of the event; received time if none
  std::int64_t received_at_ns = 0;
  /// This event's part of the payload as received (one alert of a group, or the whole body).
  std::string raw;
};

/// 32 hex digits (128 bits of BLAKE2b) identifying "the same alert": tenant, integration, source
/// kind and the source's dedup key when it sent one, else the sorted label set, else the title.
std::string computeFingerprint(const Event& event);

}  // namespace faultline::aggregator::events
