#pragma once

// The incident model the correlation engine keeps per tenant: what an incident is made of
// (its signals: the events that joined it, reduced to what correlation and RCA read), its
// lifecycle, and the per-tenant correlation rules. Pure data plus its JSON forms.
//
// Lifecycle: triggered -> acknowledged -> resolved -> closed (any forward step may be skipped;
// resolved may go back to triggered or acknowledged by hand, or when a rule reopens it); merged
// is terminal and names the incident it went into.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aggregator/events/event.h"
#include "shared/util/status.h"

namespace faultline::aggregator::incidents {

enum class IncidentStatus : std::uint8_t { kTriggered, kAcknowledged, kResolved, kClosed, kMerged };
std::string_view statusName(IncidentStatus status);
std::optional<IncidentStatus> statusFromName(std::string_view name);
/// Triggered or acknowledged: events may still join it.
bool isActive(IncidentStatus status);

/// One event as correlation and RCA see it.
struct Signal {
  std::string event_id;
  std::string service;
  std::string host;
  std::string fingerprint;
  events::Severity severity = events::Severity::kUnknown;
  events::EventStatus status = events::EventStatus::kFiring;
  events::SourceKind source = events::SourceKind::kGeneric;
  std::string decision;  // store::noiseDecisionName
  std::string title;
  std::string kind;  // the "kind" label (log_error, new_template, rate_spike, change...) or ""
  std::string template_label;  // the "template" label of log events, or ""
  std::vector<std::pair<std::string, std::string>> labels;
  std::int64_t occurred_at_ns = 0;
  /// A deploy or config change (source kind "change" label), a candidate cause in RCA.
  bool change = false;
};

/// Why an event joined an incident (stored with the link, shown by the API).
struct JoinReason {
  std::string rule;  // opened | fingerprint | group_key | service | graph | similarity | merged
  std::string key;   // the fingerprint or "label=value" group key, or the matched service
  std::vector<std::string> path;  // graph: from the event's service to the incident's
  double similarity = 0.0;        // similarity: Jaccard of title tokens
  std::string with_incident;      // merged: the incident whose events came along
};
std::string reasonToJson(const JoinReason& reason);
inline JoinReason makeReason(std::string rule, std::string key = {}) {
  JoinReason reason;
  reason.rule = std::move(rule);
  reason.key = std::move(key);
  return reason;
}

/// Per-tenant correlation rules (GET/PUT /v1/correlation-rules).
struct CorrelationRules {
  /// Events join an incident whose event-time span, widened by this, holds their time.
  std::int64_t window_ns = 5LL * 60 * 1'000'000'000;
  /// Time-based grouping, as PagerDuty's: apart from repeats of an alert still firing in it, an
  /// event joins an incident (or bridges two) only while the incident's event-time span stays
  /// within this; later symptoms open a new incident. Without it a system that always has some
  /// alert firing grows one incident forever. 0: no limit.
  std::int64_t max_span_ns = 15LL * 60 * 1'000'000'000;
  /// Services this many dependency hops apart (either direction) correlate; 0: same service only.
  int max_hops = 2;
  /// Label names whose equal values group events ("cluster", "trace_id"...).
  std::vector<std::string> group_by;
  /// Title similarity (Jaccard of word tokens, numbers dropped) at or above this correlates;
  /// above 1: never.
  double similarity = 0.6;
  /// Events it takes to open an incident (the first N matching events open it together).
  std::uint32_t min_events = 1;
  /// The lowest severity that may open an incident; lower ones only join open incidents.
  events::Severity open_severity = events::Severity::kWarn;
  /// An event that matches two open incidents by fingerprint, group key or service merges them.
  bool merge_on_bridge = true;
  /// An event that matches a resolved incident reopens it (else it opens a new incident).
  bool reopen_resolved = false;
  /// Resolve an incident by itself once every alert in it that can resolve has resolved.
  bool auto_resolve = true;

  /// InvalidArgument naming the field for a bad document; missing fields keep the defaults.
  static Result<CorrelationRules> fromJson(std::string_view json);
  std::string toJson() const;
};

/// What RCA found (rca.h), kept on the incident.
struct Candidate {
  std::string kind;  // service | host | template | change
  std::string name;
  std::string service;  // the service it belongs to (itself for kind service)
  double score = 0.0;
  double confidence = 0.0;            // in [0, 1]
  std::vector<std::string> evidence;  // event ids, earliest first
  /// The parts of the score, each in [0, 1].
  std::map<std::string, double> factors;
};

struct ChainStep {
  std::string service;
  std::string event_id;  // its first event in the incident
  std::int64_t at_ns = 0;
  std::string via;  // the service it was reached from ("" for the first)
};

struct ServiceActivity {
  std::uint64_t events = 0;
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
  events::Severity max_severity = events::Severity::kUnknown;
};

/// An incident as the engine keeps it. Everything but `signals` is its stored document.
struct Incident {
  std::string id;
  std::string tenant_id;
  IncidentStatus status = IncidentStatus::kTriggered;
  events::Severity severity = events::Severity::kUnknown;
  std::string title;
  std::string assignee;
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
  std::int64_t opened_at_ns = 0;
  std::int64_t updated_at_ns = 0;
  std::int64_t resolved_at_ns = 0;
  std::int64_t graph_version = 0;
  std::string merged_into;
  std::uint64_t event_count = 0;
  std::map<std::string, ServiceActivity> services;
  /// Alerts that can resolve (non-log sources), by fingerprint: true while firing.
  std::map<std::string, bool> alerts;
  std::set<std::string> fingerprints;
  std::set<std::string> group_keys;                 // "label=value"
  std::vector<std::set<std::string>> title_tokens;  // bounded: kMaxTitleSets
  std::vector<Candidate> candidates;
  std::vector<ChainStep> chain;
  /// The joined events, kept (bounded by kMaxSignals) for RCA; reloaded from the store.
  std::vector<Signal> signals;

  std::string docJson() const;
  /// Fills the document's fields (not id, tenant, status, times: the row's columns).
  static Status fromDocJson(std::string_view json, Incident* out);
};

inline constexpr std::size_t kMaxTitleSets = 64;
inline constexpr std::size_t kMaxSignals = 5000;

/// Word tokens of a title for similarity: lower-cased, numbers, hex ids and <*> dropped.
std::set<std::string> titleTokens(std::string_view title);
double jaccard(const std::set<std::string>& a, const std::set<std::string>& b);

}  // namespace faultline::aggregator::incidents
