#pragma once

// Rows of the event tables (migration 6): integrations (a tenant's webhook senders, each with
// its own hashed key and rate limit), every received event with the noise decision taken on it,
// and one alert per (tenant, fingerprint) that repeated and resolving events fold into.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/events/event.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store {

/// A webhook sender of one tenant. The key is never stored, only its hash.
struct Integration {
  std::string id;  // "int_<hex>"
  std::string tenant_id;
  std::string name;
  std::string kind;  // events::sourceKindName of a webhook kind
  std::string key_hash;
  std::string mapping_json;  // the GenericMapping of a generic integration; "" otherwise
  std::int64_t rate_limit_rps = 0;
  std::int64_t rate_limit_burst = 0;
  std::int64_t created_at_ns = 0;
  std::int64_t revoked_at_ns = 0;  // 0: active
};

/// What noise reduction decided about one event. Stored by name; room for suppression,
/// maintenance windows and flapping later.
enum class NoiseDecision : std::uint8_t {
  kNew,           // opened an alert (first firing of a fingerprint, or a firing after resolve)
  kDeduplicated,  // folded into an alert already in the same state
  kResolved,      // closed an open alert (or resolved one nobody saw open)
};

/// "new", "deduplicated", "resolved".
std::string_view noiseDecisionName(NoiseDecision decision);
std::optional<NoiseDecision> noiseDecisionFromName(std::string_view name);

/// The decision on one recorded event, in the order the events were given.
struct EventDecision {
  std::string event_id;  // "evt_<hex>"
  NoiseDecision decision = NoiseDecision::kNew;
  std::string reason;            // which alert, and why
  std::int64_t alert_count = 0;  // the alert's count after this event (0: none touched)
};

struct StoredEvent {
  std::string id;
  events::Event event;
  NoiseDecision decision = NoiseDecision::kNew;
  std::string reason;
};

/// Filters of an event listing; empty strings match everything. Newest first, keyset on
/// (received_at, id): the page holds events strictly before (before_received_at_ns, before_id).
struct EventQuery {
  std::int64_t since_ns = INT64_MIN;  // received_at >= since
  std::int64_t until_ns = INT64_MAX;  // received_at < until
  std::string service;
  std::string severity;  // logparse::severityName
  std::string status;    // events::eventStatusName
  std::string source;    // events::sourceKindName
  std::string text;      // substring of title or body (case-sensitive)
  std::int64_t before_received_at_ns = INT64_MAX;
  std::string before_id;  // with before_received_at_ns: the last event of the previous page
  std::size_t limit = 50;
};

struct EventStats {
  std::int64_t events = 0;       // every event received
  std::int64_t alerts = 0;       // distinct alerts they made
  std::int64_t open_alerts = 0;  // of those, firing now
};

/// The alert row of a fingerprint as the store read it (locked) before deciding.
struct AlertState {
  std::string status;  // "firing" or "resolved"
  std::int64_t count = 0;
  std::int64_t first_seen_ns = 0;
  std::int64_t resolved_at_ns = 0;
};

/// What one event does to its fingerprint's alert: the decision and the row to write. Both
/// engines apply exactly this, so they decide alike.
struct AlertTransition {
  NoiseDecision decision = NoiseDecision::kNew;
  std::string reason;
  bool write = false;   // false: leave the alert as it is (or absent)
  bool insert = false;  // with write: no row yet
  AlertState next;      // with write
};

/// Firing (and info) events open or fold into the alert; a resolved event closes an open
/// alert; a firing after resolve reopens it (the count goes on).
AlertTransition decideAlert(const std::optional<AlertState>& current, const events::Event& event);

/// Events in one recordEvents call at most (a payload's alert count is bounded the same way).
inline constexpr std::size_t kMaxEventsPerRecord = 1000;

/// Labels as a JSON object (sorted keys) and back; the inverse refuses anything else.
std::string labelsToJson(const std::vector<std::pair<std::string, std::string>>& labels);
bool labelsFromJson(std::string_view json, std::vector<std::pair<std::string, std::string>>* out);

/// A (service, template) pair a tenant's logs showed (migration 8; see events/log_events.h).
struct LogTemplateKey {
  std::string service;
  std::uint64_t template_id = 0;
};

/// Pairs in one rememberLogTemplates call at most.
inline constexpr std::size_t kMaxLogTemplatesPerCall = 1000;

// Shared by the engines.

/// InvalidArgument unless every event has a fingerprint and belongs to `tenant_id` (or leaves
/// its tenant empty), and there are at most kMaxEventsPerRecord.
Status checkEventsToRecord(std::string_view tenant_id, const std::vector<events::Event>& events);
/// A fresh event id: "evt_" and 24 hex digits.
std::string newEventId();
/// Fills the columns stored by name; DataLoss for a name this binary does not know.
Status decodeEventColumns(std::string_view source, std::string_view severity,
                          std::string_view status, std::string_view labels_json,
                          std::string_view decision, StoredEvent* out);

}  // namespace faultline::aggregator::store
