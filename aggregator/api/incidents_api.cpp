#include "aggregator/api/incidents_api.h"

#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "aggregator/api/replies.h"
#include "aggregator/audit/principal_audit.h"
#include "aggregator/knowledge/knowledge.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr std::size_t kMaxSplitEvents = 1000;

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("incidents-api", what, status);
}

/// The engine's refusals as HTTP: 404, 409, 400; anything else is the store's (503).
http::Response refused(std::string_view what, const Status& status) {
  switch (status.code()) {
    case Errc::NotFound: return http::Response::error(404, "not_found", status.message());
    case Errc::FailedPrecondition: return http::Response::error(409, "conflict", status.message());
    case Errc::InvalidArgument: return http::Response::error(400, "bad_request", status.message());
    default: return unavailable(what, status);
  }
}

json parseOrNull(std::string_view text) {
  json value = json::parse(text, nullptr, false);
  return value.is_discarded() ? json(nullptr) : value;
}

Result<json> bodyObject(const http::Request& request, std::size_t max_bytes = kMaxBodyBytes) {
  if (request.body.size() > max_bytes) {
    return invalidArgument("body: at most " + std::to_string(max_bytes) + " bytes");
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return invalidArgument("body: a JSON object is required");
  }
  return body;
}

const std::string* incidentId(const http::Request& request) {
  const std::string* id = request.pathParam("id");
  return id != nullptr && !id->empty() && id->size() <= 64 ? id : nullptr;
}

std::optional<events::Severity> severityByName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(events::Severity::kCritical); ++i) {
    auto severity = static_cast<events::Severity>(i);
    if (logparse::severityName(severity) == name) {
      return severity;
    }
  }
  return std::nullopt;
}

json summaryOf(const store::IncidentRow& row, const json& doc) {
  json services = json::array();
  if (doc.is_object() && doc.contains("services") && doc["services"].is_object()) {
    for (const auto& [name, activity] : doc["services"].items()) {
      services.push_back(name);
    }
  }
  json top = nullptr;
  if (doc.is_object() && doc.contains("candidates") && doc["candidates"].is_array() &&
      !doc["candidates"].empty()) {
    const json& first = doc["candidates"][0];
    top = {{"kind", first.value("kind", "")},
           {"name", first.value("name", "")},
           {"service", first.value("service", "")},
           {"confidence", first.value("confidence", 0.0)}};
  }
  json out = {{"id", row.id},
              {"title", row.title},
              {"status", row.status},
              {"severity", row.severity},
              {"opened_at", formatRfc3339Nanos(row.opened_at_ns)},
              {"updated_at", formatRfc3339Nanos(row.updated_at_ns)},
              {"first_event_at", formatRfc3339Nanos(row.first_event_ns)},
              {"last_event_at", formatRfc3339Nanos(row.last_event_ns)},
              {"services", services},
              {"event_count", doc.is_object() ? doc.value("event_count", 0) : 0},
              {"assignee", doc.is_object() ? doc.value("assignee", "") : ""},
              {"graph_version", doc.is_object() ? doc.value("graph_version", 0) : 0},
              {"top_cause", top}};
  if (doc.is_object() && !doc.value("merged_into", "").empty()) {
    out["merged_into"] = doc.value("merged_into", "");
  }
  return out;
}

}  // namespace

std::string incidentSummaryJson(const store::IncidentRow& row) {
  return summaryOf(row, parseOrNull(row.doc_json))
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

bool IncidentsApi::audited(const auth::Principal& principal, const http::Request& request,
                           std::string action, std::string target, std::string detail_json,
                           std::int64_t now_ns) {
  return audit::recordPrincipalChange(audit_, "incidents-api", principal, request,
                                      std::move(action), std::move(target), std::move(detail_json),
                                      now_ns);
}

http::Response IncidentsApi::list(std::string_view tenant_id, const http::Request& request) {
  auto limit = parseLimit(request);
  if (!limit) {
    return http::Response::error(400, "bad_request", limit.status().message());
  }
  store::IncidentQuery query;
  query.limit = *limit + 1;  // one more than asked: is there a next page?
  if (auto status = request.queryParam("status"); status != nullptr) {
    if (!incidents::statusFromName(*status)) {
      return http::Response::error(400, "bad_request",
                                   "status: triggered, acknowledged, resolved, closed or merged");
    }
    query.status = *status;
  }
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto fields = decodeCursor(*cursor, 2);
    if (!fields) {
      return http::Response::error(400, "bad_request", fields.status().message());
    }
    auto at = cursorNumber((*fields)[0]);
    if (!at) {
      return http::Response::error(400, "bad_request", at.status().message());
    }
    query.before_first_event_ns = *at;
    query.before_id = (*fields)[1];
  }
  auto rows = store_.listIncidents(tenant_id, query);
  if (!rows) {
    return unavailable("list incidents", rows.status());
  }
  json next = nullptr;
  if (rows->size() > *limit) {
    rows->resize(*limit);
    next = encodeCursor({std::to_string(rows->back().first_event_ns), rows->back().id});
  }
  json out = json::array();
  for (const store::IncidentRow& row : *rows) {
    out.push_back(summaryOf(row, parseOrNull(row.doc_json)));
  }
  return jsonReply(200, {{"incidents", out}, {"next_cursor", next}});
}

http::Response IncidentsApi::show(std::string_view tenant_id, const http::Request& request) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto row = store_.findIncident(tenant_id, *id);
  if (row.status().code() == Errc::NotFound) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  if (!row) {
    return unavailable("show incident", row.status());
  }
  json doc = parseOrNull(row->doc_json);
  json out = summaryOf(*row, doc);
  auto links = store_.listIncidentEvents(tenant_id, *id, store::kMaxIncidentEventsListed);
  if (!links) {
    return unavailable("incident events", links.status());
  }
  out["event_total"] = links->size();
  std::map<std::string, const store::IncidentEventRow*> link_of;
  std::vector<std::string> ids;
  for (const store::IncidentEventRow& link : *links) {
    if (ids.size() >= kMaxDetailEvents) {
      break;
    }
    link_of[link.event_id] = &link;
    ids.push_back(link.event_id);
  }
  auto found = store_.findEvents(tenant_id, ids);
  if (!found) {
    return unavailable("incident events", found.status());
  }
  std::sort(found->begin(), found->end(), [](const auto& a, const auto& b) {
    return std::tie(a.event.occurred_at_ns, a.id) < std::tie(b.event.occurred_at_ns, b.id);
  });
  json events_json = json::array();
  for (const store::StoredEvent& stored : *found) {
    const events::Event& event = stored.event;
    json labels = json::object();
    for (const auto& [key, value] : event.labels) {
      labels[key] = value;
    }
    events_json.push_back({{"event_id", stored.id},
                           {"service", event.service},
                           {"host", event.host},
                           {"title", event.title},
                           {"severity", logparse::severityName(event.severity)},
                           {"status", events::eventStatusName(event.status)},
                           {"source", events::sourceKindName(event.source)},
                           {"decision", store::noiseDecisionName(stored.decision)},
                           {"fingerprint", event.fingerprint},
                           {"labels", labels},
                           {"occurred_at", formatRfc3339Nanos(event.occurred_at_ns)},
                           {"reason", parseOrNull(link_of[stored.id]->reason_json)}});
  }
  out["events"] = events_json;
  json candidates = json::array();
  json chain = json::array();
  json services = json::object();
  if (doc.is_object()) {
    candidates = doc.value("candidates", json::array());
    for (const json& step : doc.value("chain", json::array())) {
      chain.push_back({{"service", step.value("service", "")},
                       {"event_id", step.value("event_id", "")},
                       {"at", formatRfc3339Nanos(step.value("at_ns", std::int64_t{0}))},
                       {"via", step.value("via", "")}});
    }
    const json activities = doc.value("services", json::object());  // items() needs it alive
    for (const auto& [name, activity] : activities.items()) {
      services[name] = {
          {"events", activity.value("events", 0)},
          {"first_event_at", formatRfc3339Nanos(activity.value("first_ns", std::int64_t{0}))},
          {"last_event_at", formatRfc3339Nanos(activity.value("last_ns", std::int64_t{0}))},
          {"max_severity", activity.value("max_severity", "unknown")}};
    }
  }
  out["rca"] = {{"candidates", candidates}};
  out["chain"] = chain;
  out["service_activity"] = services;
  auto timeline = store_.listIncidentTimeline(tenant_id, *id);
  if (!timeline) {
    return unavailable("incident timeline", timeline.status());
  }
  json timeline_json = json::array();
  for (const store::IncidentTimelineRow& entry : *timeline) {
    timeline_json.push_back({{"at", formatRfc3339Nanos(entry.at_ns)},
                             {"actor", entry.actor},
                             {"kind", entry.kind},
                             {"detail", parseOrNull(entry.detail_json)}});
  }
  out["timeline"] = timeline_json;
  return jsonReply(200, out);
}

http::Response IncidentsApi::update(const auth::Principal& principal, const http::Request& request,
                                    std::int64_t now_ns) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto body = bodyObject(request);
  if (!body) {
    return http::Response::error(400, "bad_request", body.status().message());
  }
  std::optional<incidents::IncidentStatus> status;
  std::optional<std::string> assignee;
  std::optional<events::Severity> severity;
  for (const auto& [key, value] : body->items()) {
    if (key == "status") {
      status =
          value.is_string() ? incidents::statusFromName(value.get<std::string>()) : std::nullopt;
      if (!status || *status == incidents::IncidentStatus::kMerged) {
        return http::Response::error(400, "bad_request",
                                     "status: triggered, acknowledged, resolved or closed");
      }
    } else if (key == "assignee") {
      if (!value.is_string() || value.get<std::string>().size() > 256) {
        return http::Response::error(400, "bad_request", "assignee: a string of <= 256 bytes");
      }
      assignee = value.get<std::string>();
    } else if (key == "severity") {
      severity = value.is_string() ? severityByName(value.get<std::string>()) : std::nullopt;
      if (!severity) {
        return http::Response::error(400, "bad_request", "severity: info, warn, error or critical");
      }
    } else {
      return http::Response::error(400, "bad_request", "unknown field " + key);
    }
  }
  if (!status && !assignee && !severity) {
    return http::Response::error(400, "bad_request", "nothing to change");
  }
  const std::string actor = principal.actor();
  if (!audited(principal, request, "incident.update", "incident:" + *id,
               body->dump(-1, ' ', false, json::error_handler_t::replace), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  if (assignee) {
    if (Status s = engine_.setAssignee(principal.tenant_id, *id, *assignee, actor, now_ns);
        !s.isOk()) {
      return refused("assign incident", s);
    }
  }
  if (severity) {
    if (Status s = engine_.setSeverity(principal.tenant_id, *id, *severity, actor, now_ns);
        !s.isOk()) {
      return refused("incident severity", s);
    }
  }
  if (status) {
    if (Status s = engine_.setStatus(principal.tenant_id, *id, *status, actor, now_ns); !s.isOk()) {
      return refused("incident status", s);
    }
  }
  auto row = store_.findIncident(principal.tenant_id, *id);
  if (!row) {
    return unavailable("read incident", row.status());
  }
  return jsonReply(200, summaryOf(*row, parseOrNull(row->doc_json)));
}

http::Response IncidentsApi::transition(const auth::Principal& principal,
                                        const http::Request& request,
                                        incidents::IncidentStatus status, std::int64_t now_ns) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  if (!audited(principal, request, "incident." + std::string(incidents::statusName(status)),
               "incident:" + *id, "{}", now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  if (Status s = engine_.setStatus(principal.tenant_id, *id, status, principal.actor(), now_ns);
      !s.isOk()) {
    return refused("incident status", s);
  }
  auto row = store_.findIncident(principal.tenant_id, *id);
  if (!row) {
    return unavailable("read incident", row.status());
  }
  return jsonReply(200, summaryOf(*row, parseOrNull(row->doc_json)));
}

http::Response IncidentsApi::comment(const auth::Principal& principal, const http::Request& request,
                                     std::int64_t now_ns) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto body = bodyObject(request);
  if (!body) {
    return http::Response::error(400, "bad_request", body.status().message());
  }
  if (!body->contains("text") || !(*body)["text"].is_string() ||
      (*body)["text"].get<std::string>().empty() ||
      (*body)["text"].get<std::string>().size() > kMaxCommentBytes) {
    return http::Response::error(400, "bad_request",
                                 "text: 1 to " + std::to_string(kMaxCommentBytes) + " bytes");
  }
  std::string text = (*body)["text"].get<std::string>();
  if (!audited(principal, request, "incident.comment", "incident:" + *id,
               json{{"bytes", text.size()}}.dump(), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  if (Status s = engine_.addComment(principal.tenant_id, *id, text, principal.actor(), now_ns);
      !s.isOk()) {
    return refused("comment", s);
  }
  return jsonReply(201, {{"incident_id", *id},
                         {"actor", principal.actor()},
                         {"at", formatRfc3339Nanos(now_ns)},
                         {"text", text}});
}

namespace {

json postmortemJson(const store::AiAnswerRecord& record) {
  return {{"incident_id", record.incident_id},
          {"markdown", knowledge::postmortemMarkdown(record)},
          {"updated_by", record.updated_by},
          {"updated_at", formatRfc3339Nanos(record.updated_at_ns)}};
}

}  // namespace

http::Response IncidentsApi::putPostmortem(const auth::Principal& principal,
                                           const http::Request& request, std::int64_t now_ns) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  // JSON escaping can double the Markdown's bytes; the Markdown itself is checked below.
  auto body = bodyObject(request, 2 * knowledge::kMaxPostmortemBytes + 1024);
  if (!body) {
    return http::Response::error(400, "bad_request", body.status().message());
  }
  if (!body->contains("markdown") || !(*body)["markdown"].is_string() ||
      (*body)["markdown"].get_ref<const std::string&>().size() > knowledge::kMaxPostmortemBytes) {
    return http::Response::error(400, "bad_request",
                                 "markdown: a string of at most " +
                                     std::to_string(knowledge::kMaxPostmortemBytes) +
                                     " bytes (empty clears the postmortem)");
  }
  const std::string& markdown = (*body)["markdown"].get_ref<const std::string&>();
  if (auto row = store_.findIncident(principal.tenant_id, *id); !row) {
    return refused("postmortem", row.status());
  }
  if (!audited(principal, request, "incident.postmortem", "incident:" + *id,
               json{{"bytes", markdown.size()}}.dump(), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  if (Status s =
          engine_.setPostmortem(principal.tenant_id, *id, markdown, principal.actor(), now_ns);
      !s.isOk()) {
    return refused("postmortem", s);
  }
  return jsonReply(200, postmortemJson(knowledge::postmortemRecord(
                            principal.tenant_id, *id, markdown, principal.actor(), now_ns)));
}

http::Response IncidentsApi::showPostmortem(std::string_view tenant_id,
                                            const http::Request& request) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto record = store_.findAiAnswer(tenant_id, *id, knowledge::kPostmortemTask);
  if (record.status().code() == Errc::NotFound) {
    // Not written yet: empty, when the incident is this tenant's.
    auto row = store_.findIncident(tenant_id, *id);
    if (!row) {
      return refused("show postmortem", row.status());
    }
    return jsonReply(
        200,
        {{"incident_id", *id}, {"markdown", ""}, {"updated_by", nullptr}, {"updated_at", nullptr}});
  }
  if (!record) {
    return unavailable("show postmortem", record.status());
  }
  return jsonReply(200, postmortemJson(*record));
}

http::Response IncidentsApi::split(const auth::Principal& principal, const http::Request& request,
                                   std::int64_t now_ns) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto body = bodyObject(request);
  if (!body) {
    return http::Response::error(400, "bad_request", body.status().message());
  }
  std::vector<std::string> event_ids;
  if (!body->contains("event_ids") || !(*body)["event_ids"].is_array() ||
      (*body)["event_ids"].empty() || (*body)["event_ids"].size() > kMaxSplitEvents) {
    return http::Response::error(400, "bad_request",
                                 "event_ids: 1 to " + std::to_string(kMaxSplitEvents) + " ids");
  }
  for (const json& value : (*body)["event_ids"]) {
    if (!value.is_string()) {
      return http::Response::error(400, "bad_request", "event_ids: strings");
    }
    event_ids.push_back(value.get<std::string>());
  }
  if (!audited(principal, request, "incident.split", "incident:" + *id,
               json{{"event_ids", event_ids}}.dump(), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  auto created = engine_.split(principal.tenant_id, *id, event_ids, principal.actor(), now_ns);
  if (!created) {
    return refused("split incident", created.status());
  }
  auto row = store_.findIncident(principal.tenant_id, *created);
  if (!row) {
    return unavailable("read incident", row.status());
  }
  return jsonReply(201, summaryOf(*row, parseOrNull(row->doc_json)));
}

http::Response IncidentsApi::merge(const auth::Principal& principal, const http::Request& request,
                                   std::int64_t now_ns) {
  const std::string* id = incidentId(request);
  if (id == nullptr) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto body = bodyObject(request);
  if (!body) {
    return http::Response::error(400, "bad_request", body.status().message());
  }
  if (!body->contains("source") || !(*body)["source"].is_string()) {
    return http::Response::error(400, "bad_request", "source: the incident id to merge in");
  }
  std::string source = (*body)["source"].get<std::string>();
  if (!audited(principal, request, "incident.merge", "incident:" + *id,
               json{{"source", source}}.dump(), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  if (Status s = engine_.merge(principal.tenant_id, *id, source, principal.actor(), now_ns);
      !s.isOk()) {
    return refused("merge incidents", s);
  }
  auto row = store_.findIncident(principal.tenant_id, *id);
  if (!row) {
    return unavailable("read incident", row.status());
  }
  return jsonReply(200, summaryOf(*row, parseOrNull(row->doc_json)));
}

http::Response IncidentsApi::getRules(std::string_view tenant_id) {
  auto rules = engine_.rules(std::string(tenant_id));
  if (!rules) {
    return unavailable("correlation rules", rules.status());
  }
  return http::Response::json(200, rules->toJson());
}

http::Response IncidentsApi::putRules(const auth::Principal& principal,
                                      const http::Request& request, std::int64_t now_ns) {
  if (request.body.size() > kMaxBodyBytes) {
    return http::Response::error(413, "payload_too_large",
                                 "at most " + std::to_string(kMaxBodyBytes) + " bytes");
  }
  auto rules = incidents::CorrelationRules::fromJson(request.body);
  if (!rules) {
    return http::Response::error(400, "bad_request", rules.status().message());
  }
  if (!audited(principal, request, "correlation_rules.update", "tenant:" + principal.tenant_id,
               rules->toJson(), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  if (Status s = engine_.setRules(principal.tenant_id, *rules, now_ns); !s.isOk()) {
    return refused("set correlation rules", s);
  }
  return http::Response::json(200, rules->toJson());
}

http::Response IncidentsApi::postChange(const auth::Principal& principal,
                                        const http::Request& request, std::int64_t now_ns) {
  auto body = bodyObject(request);
  if (!body) {
    return http::Response::error(400, "bad_request", body.status().message());
  }
  auto text = [&](const char* key, std::size_t max) -> Result<std::string> {
    if (!body->contains(key)) {
      return std::string();
    }
    const json& value = (*body)[key];
    if (!value.is_string() || value.get<std::string>().size() > max) {
      return invalidArgument(std::string(key) + ": a string of at most " + std::to_string(max) +
                             " bytes");
    }
    return value.get<std::string>();
  };
  events::Event event;
  event.tenant_id = principal.tenant_id;
  event.source = events::SourceKind::kChange;
  event.severity = events::Severity::kInfo;
  event.status = events::EventStatus::kInfo;
  event.received_at_ns = now_ns;
  event.occurred_at_ns = now_ns;
  std::string change_kind = "deploy";
  for (const auto& [key, max, target] :
       {std::tuple<const char*, std::size_t, std::string*>{"service", 256, &event.service},
        {"title", 1024, &event.title},
        {"host", 256, &event.host},
        {"environment", 128, &event.environment},
        {"description", 16384, &event.body},
        {"kind", 64, &change_kind}}) {
    auto value = text(key, max);
    if (!value) {
      return http::Response::error(400, "bad_request", value.status().message());
    }
    if (!value->empty()) {
      *target = std::move(*value);
    }
  }
  if (event.service.empty() || event.title.empty()) {
    return http::Response::error(400, "bad_request", "service and title are required");
  }
  if (body->contains("occurred_at")) {
    const json& at = (*body)["occurred_at"];
    auto parsed = at.is_string() ? parseTimestamp(at.get<std::string>())
                                 : Result<std::int64_t>(invalidArgument("not a string"));
    if (!parsed) {
      return http::Response::error(400, "bad_request", "occurred_at: an RFC 3339 time");
    }
    event.occurred_at_ns = *parsed;
  }
  std::map<std::string, std::string> labels;
  if (body->contains("labels")) {
    const json& given = (*body)["labels"];
    if (!given.is_object() || given.size() > 64) {
      return http::Response::error(400, "bad_request", "labels: an object of <= 64 strings");
    }
    for (const auto& [key, value] : given.items()) {
      if (!value.is_string() || key.size() > 128 || value.get<std::string>().size() > 1024) {
        return http::Response::error(400, "bad_request", "labels: short string values");
      }
      labels[key] = value.get<std::string>();
    }
  }
  labels["kind"] = change_kind;
  event.labels.assign(labels.begin(), labels.end());
  event.source_dedup_key = "chg_" + crypto::randomHex(12);  // every change is its own
  event.fingerprint = events::computeFingerprint(event);
  json raw = *body;
  event.raw = raw.dump(-1, ' ', false, json::error_handler_t::replace);
  std::vector<events::Event> batch = {event};
  auto decisions = store_.recordEvents(principal.tenant_id, batch);
  if (!decisions) {
    return refused("record change", decisions.status());
  }
  store::StoredEvent stored;
  stored.id = decisions->front().event_id;
  stored.event = std::move(batch.front());
  stored.decision = decisions->front().decision;
  stored.reason = decisions->front().reason;
  if (sink_) {
    sink_(principal.tenant_id, {stored});
  }
  audited(principal, request, "change.create", "event:" + stored.id,
          json{{"service", stored.event.service}, {"title", stored.event.title}}.dump(
              -1, ' ', false, json::error_handler_t::replace),
          now_ns);
  return jsonReply(201, {{"event_id", stored.id},
                         {"service", stored.event.service},
                         {"kind", change_kind},
                         {"occurred_at", formatRfc3339Nanos(stored.event.occurred_at_ns)}});
}

}  // namespace faultline::aggregator::api
