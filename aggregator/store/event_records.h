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

/// What noise reduction decided about one event. Stored by name. The alert of the event's
/// fingerprint always follows the event (its true state), whatever the decision: a suppressed,
/// maintenance or flapping decision only says that nobody should be told about this event.
enum class NoiseDecision : std::uint8_t {
  kNew,           // opened an alert (first firing of a fingerprint, or a firing after resolve)
  kDeduplicated,  // folded into an alert already in the same state
  kResolved,      // closed an open alert (or resolved one nobody saw open)
  kSuppressed,    // a suppression rule matched the event (rule_id says which)
  kMaintenance,   // a maintenance window covered the event (rule_id says which)
  kFlapping,      // changed its alert's state while that alert flaps
  kTransient,     // fired again, and its alert has often resolved by itself soon (may not open)
};

/// "new", "deduplicated", "resolved", "suppressed", "maintenance", "flapping", "transient".
std::string_view noiseDecisionName(NoiseDecision decision);
std::optional<NoiseDecision> noiseDecisionFromName(std::string_view name);

/// The decision on one recorded event, in the order the events were given.
struct EventDecision {
  std::string event_id;  // "evt_<16 hex: creation ns><16 hex random>"
  NoiseDecision decision = NoiseDecision::kNew;
  std::string reason;            // which alert, and why
  std::int64_t alert_count = 0;  // the alert's count after this event (0: none touched)
  std::string rule_id;           // the suppression rule or maintenance window; "" if none
};

struct StoredEvent {
  std::string id;
  events::Event event;
  NoiseDecision decision = NoiseDecision::kNew;
  std::string reason;
  std::string rule_id;
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
  std::string decision;  // noiseDecisionName
  std::int64_t before_received_at_ns = INT64_MAX;
  std::string before_id;  // with before_received_at_ns: the last event of the previous page
  std::size_t limit = 50;
};

struct EventStats {
  std::int64_t events = 0;       // every event received
  std::int64_t alerts = 0;       // distinct alerts they made
  std::int64_t open_alerts = 0;  // of those, firing now
  /// Events per decision name, every decision listed (0 when none).
  std::vector<std::pair<std::string, std::int64_t>> decisions;
};

/// The recent state changes an alert remembers for flapping detection.
inline constexpr std::size_t kMaxRememberedChanges = 32;

/// The alert row of a fingerprint as the store read it (locked) before deciding.
struct AlertState {
  std::string status;  // "firing" or "resolved"
  std::int64_t count = 0;
  std::int64_t first_seen_ns = 0;
  std::int64_t resolved_at_ns = 0;
  /// Event times of its latest state changes (the first firing counts), oldest first, at most
  /// kMaxRememberedChanges.
  std::vector<std::int64_t> changes;
  bool flapping = false;
};

/// Flapping: an alert that changed state `changes` times within `window` flaps until no more
/// than half that many changes fall within the window. 0 changes: never flaps.
struct FlapPolicy {
  std::int64_t window_ns = 15LL * 60 * 1'000'000'000;
  std::uint32_t changes = 4;
};

/// Transient alerts (PagerDuty's auto-pause of alerts that resolve by themselves, learned per
/// alert): an alert that `episodes` times within `window` resolved within `max_duration` of
/// firing is transient; its firing, and its repeats until it has fired for max_duration, are
/// decided kTransient and open no incident (they still join one). 0 episodes: off.
struct TransientPolicy {
  std::int64_t window_ns = 24LL * 60 * 60 * 1'000'000'000;
  std::int64_t max_duration_ns = 5LL * 60 * 1'000'000'000;
  std::uint32_t episodes = 3;
};

/// An event held back whatever its alert does: a suppression rule or maintenance window matched.
struct Mute {
  NoiseDecision decision = NoiseDecision::kSuppressed;  // kSuppressed or kMaintenance
  std::string rule_id;
  std::string reason;  // names the rule and the matchers that matched
};

/// The noise policy applied while recording one request's events.
struct RecordContext {
  std::vector<std::optional<Mute>> mutes;  // empty, or one per event
  FlapPolicy flap;
  TransientPolicy transient;
};

/// One alert with the event that last touched it (raw payload left out), for listings.
struct AlertSummary {
  std::string fingerprint;
  AlertState state;
  std::int64_t last_seen_ns = 0;
  StoredEvent last_event;
};

/// Newest activity first, keyset on (last_seen, fingerprint).
struct AlertQuery {
  std::string status;  // "firing", "resolved" or "" for both
  std::int64_t before_last_seen_ns = INT64_MAX;
  std::string before_fingerprint;
  std::size_t limit = 50;
};

/// A suppression rule or maintenance window of a tenant, as stored: the spec is the JSON the
/// events layer validated (events/noise_rules.h); the store only keeps it.
struct NoiseRule {
  std::string id;  // "nr_<hex>"
  std::string tenant_id;
  std::string kind;  // "suppression" or "maintenance"
  std::string name;
  std::string spec_json;
  std::string created_by;
  std::int64_t created_at_ns = 0;
  std::int64_t deleted_at_ns = 0;  // 0: in force
};

/// What one event does to its fingerprint's alert: the decision and the row to write. Both
/// engines apply exactly this, so they decide alike.
struct AlertTransition {
  NoiseDecision decision = NoiseDecision::kNew;
  std::string reason;
  bool write = false;   // false: leave the alert as it is (or absent)
  bool insert = false;  // with write: no row yet
  AlertState next;      // with write
  std::string rule_id;  // the mute's rule, if a mute decided
};

/// Firing (and info) events open or fold into the alert; a resolved event closes an open
/// alert; a firing after resolve reopens it (the count goes on). A state change while the alert
/// flaps is decided kFlapping; a mute decides over everything else. The alert row follows the
/// event in every case, so when a window ends or flapping settles the alert shows its real state.
/// A firing of a transient alert (TransientPolicy) that is not flapping is decided kTransient.
AlertTransition decideAlert(const std::optional<AlertState>& current, const events::Event& event,
                            const FlapPolicy& flap = {}, const std::optional<Mute>& mute = {},
                            const TransientPolicy& transient = {});

/// The changes list as stored ("t1,t2,..."), and back (DataLoss-free: bad items are skipped).
std::string encodeChanges(const std::vector<std::int64_t>& changes);
std::vector<std::int64_t> decodeChanges(std::string_view text);

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
Status checkEventsToRecord(std::string_view tenant_id, const std::vector<events::Event>& events,
                           const RecordContext& context = {});
/// Every decision name with its count from `found` (name, count) rows, in decision order; 0 for
/// a decision with no row.
std::vector<std::pair<std::string, std::int64_t>> decisionCounts(
    const std::vector<std::pair<std::string, std::int64_t>>& found);
/// A fresh event id: "evt_" and 24 hex digits.
std::string newEventId();
/// Fills the columns stored by name; DataLoss for a name this binary does not know.
Status decodeEventColumns(std::string_view source, std::string_view severity,
                          std::string_view status, std::string_view labels_json,
                          std::string_view decision, StoredEvent* out);

}  // namespace faultline::aggregator::store
