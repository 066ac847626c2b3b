#pragma once

// Incidents over the API (handlers run after AuthApi::guarded):
//
//   GET   /v1/incidents                    incidents.read    status, limit, cursor
//   GET   /v1/incidents/{id}               incidents.read    events (why each joined), RCA,
//                                                            event chain, timeline
//   PATCH /v1/incidents/{id}               incidents.manage  {status, assignee, severity}
//   POST  /v1/incidents/{id}/acknowledge|resolve|close       incidents.manage
//   POST  /v1/incidents/{id}/comments      incidents.manage  {text}
//   PUT   /v1/incidents/{id}/postmortem    incidents.manage  {markdown} ("" clears it)
//   GET   /v1/incidents/{id}/postmortem    incidents.read    {markdown, updated_by, updated_at}
//                                                            (empty, nulls: not written yet)
//   POST  /v1/incidents/{id}/split         incidents.manage  {event_ids: [...]} -> new incident
//   POST  /v1/incidents/{id}/merge         incidents.manage  {source: id}: source merges into id
//   GET   /v1/correlation-rules            incidents.read
//   PUT   /v1/correlation-rules            incidents.manage  (incidents/incident.h)
//   POST  /v1/changes                      changes.create    a deploy or config change event
//
// Every change is audited and appended to the incident's timeline.

#include <cstdint>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/events/event_hub.h"
#include "aggregator/http/server.h"
#include "aggregator/incidents/incident_engine.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

/// Bytes of a comment at most.
inline constexpr std::size_t kMaxCommentBytes = 8192;
/// Events an incident's detail lists at most (event_total says how many it has).
inline constexpr std::size_t kMaxDetailEvents = 1000;

class IncidentsApi {
 public:
  /// `sink` gets change events once recorded (the live hub and the engine).
  IncidentsApi(store::Store& store, audit::AuditRecorder* audit, incidents::IncidentEngine& engine,
               events::EventSink sink)
      : store_(store), audit_(audit), engine_(engine), sink_(std::move(sink)) {}

  http::Response list(std::string_view tenant_id, const http::Request& request);
  http::Response show(std::string_view tenant_id, const http::Request& request);
  http::Response update(const auth::Principal& principal, const http::Request& request,
                        std::int64_t now_ns);
  /// The POST shortcuts: `status` is acknowledged, resolved or closed.
  http::Response transition(const auth::Principal& principal, const http::Request& request,
                            incidents::IncidentStatus status, std::int64_t now_ns);
  http::Response comment(const auth::Principal& principal, const http::Request& request,
                         std::int64_t now_ns);
  /// The postmortem is indexed with the incident (knowledge/knowledge.h) once it resolves.
  http::Response putPostmortem(const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns);
  http::Response showPostmortem(std::string_view tenant_id, const http::Request& request);
  http::Response split(const auth::Principal& principal, const http::Request& request,
                       std::int64_t now_ns);
  http::Response merge(const auth::Principal& principal, const http::Request& request,
                       std::int64_t now_ns);
  http::Response getRules(std::string_view tenant_id);
  http::Response putRules(const auth::Principal& principal, const http::Request& request,
                          std::int64_t now_ns);
  http::Response postChange(const auth::Principal& principal, const http::Request& request,
                            std::int64_t now_ns);

 private:
  /// Audits a change; false (and logs) when it could not be.
  bool audited(const auth::Principal& principal, const http::Request& request, std::string action,
               std::string target, std::string detail_json, std::int64_t now_ns);

  store::Store& store_;
  audit::AuditRecorder* audit_;
  incidents::IncidentEngine& engine_;
  events::EventSink sink_;
};

/// An incident row as the list shows it (JSON text of one object).
std::string incidentSummaryJson(const store::IncidentRow& row);

}  // namespace faultline::aggregator::api
