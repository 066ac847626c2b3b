#pragma once

// Rows of the incident tables (migration 10). The correlation engine (aggregator/incidents) owns
// an incident's state and writes it whole: the columns listings filter and sort on, and the rest
// (services, fingerprints, assignee, RCA, event chain...) as one JSON document the engine alone
// reads and writes. Events join incidents through link rows that say why each joined; the
// timeline is append-only.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace faultline::aggregator::store {

struct IncidentRow {
  std::string id;  // "inc_<hex>"
  std::string tenant_id;
  std::string status;    // incidents::statusName
  std::string severity;  // logparse::severityName
  std::string title;
  std::int64_t first_event_ns = 0;  // event time of its earliest event
  std::int64_t last_event_ns = 0;   // event time of its latest event
  std::int64_t opened_at_ns = 0;    // wall time it was opened
  std::int64_t updated_at_ns = 0;
  std::string doc_json;  // the engine's document (incidents/incident.h)
};

/// One event's membership of an incident, with the reason it joined (JSON object).
struct IncidentEventRow {
  std::string incident_id;
  std::string event_id;
  std::int64_t occurred_at_ns = 0;
  std::string reason_json;
};

struct IncidentTimelineRow {
  std::string incident_id;
  std::int64_t at_ns = 0;
  std::string actor;  // "system", a user id, an API key id
  std::string kind;   // "opened", "status", "assignee", "severity", "comment", "merged"...
  std::string detail_json;
};

/// What one correlation step changes, written in one transaction (all or nothing).
struct IncidentWrite {
  std::vector<IncidentRow> upserts;  // each replaces the incident's row (or inserts it)
  std::vector<IncidentEventRow> links;
  /// Merges: every link of `first` moves to `second`.
  std::vector<std::pair<std::string, std::string>> moves;
  /// Links to remove (a split by hand): incident_id, event_id and, so the store can seek the
  /// link instead of scanning the incident's, the event's occurred_at_ns.
  std::vector<IncidentEventRow> unlinks;
  std::vector<IncidentTimelineRow> timeline;
};

/// Newest first by (first_event_ns, id); the page holds incidents strictly before the key.
struct IncidentQuery {
  std::string status;                          // "" for every status
  std::int64_t min_last_event_ns = INT64_MIN;  // only incidents with a later last event
  std::int64_t before_first_event_ns = INT64_MAX;
  std::string before_id;
  std::size_t limit = 50;
};

/// Rows in one IncidentWrite at most, all lists together (the engine writes in steps).
inline constexpr std::size_t kMaxIncidentWriteRows = 5000;
/// Link rows one listIncidentEvents call returns at most.
inline constexpr std::size_t kMaxIncidentEventsListed = 10000;

}  // namespace faultline::aggregator::store
