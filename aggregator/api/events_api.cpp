#include "aggregator/api/events_api.h"

#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "aggregator/api/replies.h"
#include "aggregator/events/integrations.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("api", what, status);
}

/// An optional positive integer field of the request body.
Result<std::optional<std::int64_t>> optionalCount(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return std::optional<std::int64_t>();
  }
  if (!it->is_number_integer()) {
    return invalidArgument(std::string(name) + ": expected an integer");
  }
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Result<std::string> optionalString(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return std::string();
  }
  if (!it->is_string()) {
    return invalidArgument(std::string(name) + ": expected a string");
  }
  return it->get<std::string>();
}

}  // namespace

namespace {
ordered_json eventJson(const store::StoredEvent& stored) {
  const events::Event& event = stored.event;
  ordered_json labels = ordered_json::object();
  for (const auto& [key, value] : event.labels) {
    labels[key] = value;
  }
  return {
      {"id", stored.id},
      {"source", events::sourceKindName(event.source)},
      {"integration_id", event.integration_id},
      {"service", event.service},
      {"host", event.host},
      {"environment", event.environment},
      {"severity", logparse::severityName(event.severity)},
      {"status", events::eventStatusName(event.status)},
      {"action", event.action},
      {"dedup_key", event.source_dedup_key},
      {"fingerprint", event.fingerprint},
      {"title", event.title},
      {"body", event.body},
      {"labels", std::move(labels)},
      {"occurred_at", formatRfc3339Nanos(event.occurred_at_ns)},
      {"received_at", formatRfc3339Nanos(event.received_at_ns)},
      {"decision", store::noiseDecisionName(stored.decision)},
      {"reason", stored.reason},
      {"rule_id", stored.rule_id.empty() ? ordered_json(nullptr) : ordered_json(stored.rule_id)},
      {"raw", event.raw}};
}

}  // namespace

std::string eventJsonLine(const store::StoredEvent& stored) {
  return eventJson(stored).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<http::Response> parseEventFilters(const http::Request& request,
                                                store::EventQuery* query) {
  for (const auto& [name, target] :
       {std::pair<const char*, std::string*>{"service", &query->service},
        {"severity", &query->severity},
        {"status", &query->status},
        {"source", &query->source},
        {"decision", &query->decision},
        {"q", &query->text}}) {
    if (auto value = request.queryParam(name); value != nullptr) {
      if (value->size() > 1024) {
        return badRequest(std::string(name) + ": at most 1024 bytes");
      }
      *target = *value;
    }
  }
  if (!query->severity.empty()) {
    auto severity = logparse::severityFromText(query->severity);
    if (!severity) {
      return badRequest("severity: not a severity (info, warn, error, critical, ...)");
    }
    query->severity = std::string(logparse::severityName(*severity));
  }
  if (!query->status.empty() && query->status != "firing" && query->status != "resolved" &&
      query->status != "info") {
    return badRequest("status: firing, resolved or info");
  }
  if (!query->decision.empty() && !store::noiseDecisionFromName(query->decision)) {
    return badRequest("decision: new, deduplicated, resolved, suppressed, maintenance or flapping");
  }
  if (!query->source.empty() && !events::sourceKindFromName(query->source)) {
    return badRequest(
        "source: alertmanager, grafana, pagerduty, datadog, cloudwatch, generic "
        "or log");
  }
  return std::nullopt;
}

http::Response listIntegrations(store::Store& store, std::string_view tenant_id) {
  auto integrations = store.listIntegrations(tenant_id);
  if (!integrations) {
    return unavailable("list integrations", integrations.status());
  }
  ordered_json list = ordered_json::array();
  for (const store::Integration& integration : *integrations) {
    list.push_back(ordered_json::parse(events::integrationJson(integration)));
  }
  return orderedJsonReply(200, {{"integrations", std::move(list)}});
}

http::Response createIntegration(store::Store& store, audit::AuditRecorder& audit,
                                 const auth::Principal& principal, const http::Request& request,
                                 std::int64_t now_ns) {
  if (request.body.size() > kMaxIntegrationBodyBytes) {
    return http::Response::error(413, "payload_too_large",
                                 "at most " + std::to_string(kMaxIntegrationBodyBytes) + " bytes");
  }
  json body = json::parse(request.body, nullptr, false);
  if (!body.is_object()) {
    return badRequest("expected a JSON object {kind, name?, mapping?, rps?, burst?}");
  }
  events::IntegrationRequest ask;
  auto kind = optionalString(body, "kind");
  auto name = optionalString(body, "name");
  auto rps = optionalCount(body, "rps");
  auto burst = optionalCount(body, "burst");
  for (const Status& status : {kind.status(), name.status(), rps.status(), burst.status()}) {
    if (!status.isOk()) {
      return badRequest(status.message());
    }
  }
  ask.kind = *kind;
  ask.name = *name;
  ask.rps = *rps;
  ask.burst = *burst;
  if (auto mapping = body.find("mapping"); mapping != body.end() && !mapping->is_null()) {
    if (!mapping->is_object()) {
      return badRequest("mapping: expected an object of JSON pointers");
    }
    ask.mapping_json = mapping->dump();
  }
  auto created = events::createIntegration(store, audit, principal.tenant_id, ask,
                                           {principal.actor(), request.remote_address}, now_ns);
  if (!created) {
    if (created.code() == Errc::InvalidArgument) {
      return badRequest(created.status().message());
    }
    return unavailable("create integration", created.status());
  }
  ordered_json out = ordered_json::parse(events::integrationJson(created->integration));
  out["key"] = created->key;
  out["hook_path"] = created->hook_path;
  return orderedJsonReply(201, out);
}

http::Response revokeIntegration(store::Store& store, audit::AuditRecorder& audit,
                                 const auth::Principal& principal, const http::Request& request,
                                 std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  auto not_found = [] { return http::Response::error(404, "not_found", "no such integration"); };
  if (id == nullptr || id->size() > 64) {
    return not_found();
  }
  Status revoked = events::revokeIntegration(store, audit, principal.tenant_id, *id,
                                             {principal.actor(), request.remote_address}, now_ns);
  if (revoked.code() == Errc::NotFound) {
    return not_found();
  }
  if (!revoked.isOk()) {
    return unavailable("revoke integration", revoked);
  }
  return orderedJsonReply(200, {{"id", *id}, {"revoked", true}});
}

http::Response listEvents(store::Store& store, std::string_view tenant_id,
                          const http::Request& request) {
  auto limit = parseLimit(request);
  if (!limit) {
    return badRequest(limit.status().message());
  }
  store::EventQuery query;
  query.limit = *limit + 1;  // one more than asked: is there a next page?
  if (auto bad = parseEventFilters(request, &query)) {
    return std::move(*bad);
  }
  for (const auto& [name, target] :
       {std::pair<const char*, std::int64_t*>{"since", &query.since_ns},
        {"until", &query.until_ns}}) {
    if (auto value = request.queryParam(name); value != nullptr) {
      auto parsed = parseTimestamp(*value);
      if (!parsed) {
        return badRequest(std::string(name) + ": " + parsed.status().message());
      }
      *target = *parsed;
    }
  }
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto fields = decodeCursor(*cursor, 2);
    if (!fields) {
      return badRequest(fields.status().message());
    }
    auto before = cursorNumber((*fields)[0]);
    if (!before) {
      return badRequest(before.status().message());
    }
    query.before_received_at_ns = *before;
    query.before_id = (*fields)[1];
  }
  auto page = store.queryEvents(tenant_id, query);
  if (!page) {
    return unavailable("list events", page.status());
  }
  const bool more = page->size() > *limit;
  if (more) {
    page->resize(*limit);
  }
  ordered_json list = ordered_json::array();
  for (const store::StoredEvent& stored : *page) {
    list.push_back(eventJson(stored));
  }
  ordered_json body = {{"events", std::move(list)}, {"next_cursor", nullptr}};
  if (more) {
    body["next_cursor"] =
        encodeCursor({std::to_string(page->back().event.received_at_ns), page->back().id});
  }
  return orderedJsonReply(200, body);
}

http::Response getEvent(store::Store& store, std::string_view tenant_id,
                        const http::Request& request) {
  const std::string* id = request.pathParam("id");
  auto not_found = [] { return http::Response::error(404, "not_found", "no such event"); };
  if (id == nullptr || id->size() > 64) {
    return not_found();
  }
  auto found = store.findEvent(tenant_id, *id);
  if (found.code() == Errc::NotFound) {
    return not_found();
  }
  if (!found) {
    return unavailable("get event", found.status());
  }
  return orderedJsonReply(200, eventJson(*found));
}

http::Response eventStats(store::Store& store, std::string_view tenant_id) {
  auto stats = store.eventStats(tenant_id);
  if (!stats) {
    return unavailable("event stats", stats.status());
  }
  // Events per alert: how much the dedup and resolve pairing cut (1 when nothing folded).
  const double ratio =
      stats->alerts == 0 ? 0.0
                         : static_cast<double>(stats->events) / static_cast<double>(stats->alerts);
  ordered_json decisions = ordered_json::object();
  for (const auto& [name, count] : stats->decisions) {
    decisions[name] = count;
  }
  return orderedJsonReply(200, {{"events", stats->events},
                                {"alerts", stats->alerts},
                                {"open_alerts", stats->open_alerts},
                                {"compression_ratio", ratio},
                                {"decisions", std::move(decisions)}});
}

}  // namespace faultline::aggregator::api
