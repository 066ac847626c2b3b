#include "aggregator/api/noise_api.h"

#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "aggregator/api/replies.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("noise-api", what, status);
}

json timeOrNull(std::optional<std::int64_t> at) {
  if (!at || *at == INT64_MAX || *at == INT64_MIN) {
    return nullptr;
  }
  return formatRfc3339Nanos(*at);
}

/// "suppression_rule" / "maintenance_window": the audit noun and the 404 wording.
std::string_view noun(events::NoiseRuleKind kind) {
  return kind == events::NoiseRuleKind::kMaintenance ? "maintenance_window" : "suppression_rule";
}

/// The stored rule as an API object: its spec fields plus id, times and its state at `now_ns`.
json ruleJson(const store::NoiseRule& rule, std::int64_t now_ns) {
  json out = json::parse(rule.spec_json, nullptr, false);
  if (!out.is_object()) {
    out = json::object();
  }
  out["id"] = rule.id;
  out["kind"] = rule.kind;
  out["created_by"] = rule.created_by;
  out["created_at"] = formatRfc3339Nanos(rule.created_at_ns);
  std::optional<events::NoiseRuleKind> kind = events::noiseRuleKindFromName(rule.kind);
  auto spec = kind ? events::NoiseRuleSpec::parse(*kind, rule.spec_json)
                   : Result<events::NoiseRuleSpec>(invalidArgument("unknown kind"));
  if (!spec) {
    out["active_now"] = false;
    out["error"] = spec.status().message();  // e.g. a time zone the system no longer knows
    return out;
  }
  std::optional<std::int64_t> until = spec->activeUntil(now_ns);
  out["active_now"] = until.has_value();
  out["active_until"] = timeOrNull(until);
  out["next_start"] = timeOrNull(spec->nextStart(now_ns));
  return out;
}

Result<std::vector<store::NoiseRule>> rulesOfKind(store::Store& store, std::string_view tenant_id,
                                                  events::NoiseRuleKind kind) {
  FL_ASSIGN_OR_RETURN(std::vector<store::NoiseRule> rules, store.listNoiseRules(tenant_id));
  std::erase_if(rules, [&](const store::NoiseRule& rule) {
    return rule.kind != events::noiseRuleKindName(kind);
  });
  return rules;
}

}  // namespace

http::Response listNoiseRules(store::Store& store, events::NoiseRuleKind kind,
                              std::string_view tenant_id, const http::Request& request,
                              std::int64_t now_ns) {
  auto rules = rulesOfKind(store, tenant_id, kind);
  if (!rules) {
    return unavailable("list noise rules", rules.status());
  }
  const std::string name =
      kind == events::NoiseRuleKind::kMaintenance ? "maintenance_windows" : "suppression_rules";
  return pagedList(
      request, name, std::move(*rules),
      [](const store::NoiseRule& rule) { return sortableNumber(rule.created_at_ns) + rule.id; },
      [&](const store::NoiseRule& rule) { return ruleJson(rule, now_ns); });
}

http::Response createNoiseRule(store::Store& store, audit::AuditRecorder& audit,
                               events::NoisePolicies& policies, events::NoiseRuleKind kind,
                               const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns) {
  if (request.body.size() > events::kMaxNoiseSpecBytes) {
    return http::Response::error(
        413, "payload_too_large",
        "at most " + std::to_string(events::kMaxNoiseSpecBytes) + " bytes");
  }
  auto spec = events::NoiseRuleSpec::parse(kind, request.body);
  if (!spec) {
    return http::Response::error(400, "bad_request", spec.status().message());
  }
  auto existing = store.listNoiseRules(principal.tenant_id);
  if (!existing) {
    return unavailable("create noise rule", existing.status());
  }
  if (existing->size() >= events::kMaxNoiseRulesPerTenant) {
    return http::Response::error(
        409, "limit_reached",
        "a tenant keeps at most " + std::to_string(events::kMaxNoiseRulesPerTenant) +
            " suppression rules and maintenance windows; delete some first");
  }
  store::NoiseRule rule;
  rule.id = "nr_" + crypto::randomHex(12);
  rule.tenant_id = principal.tenant_id;
  rule.kind = std::string(events::noiseRuleKindName(kind));
  rule.name = spec->name();
  rule.spec_json = spec->canonicalJson();
  rule.created_by = principal.actor();
  rule.created_at_ns = now_ns;
  Status created = store.createNoiseRule(rule);
  if (!created.isOk()) {
    return unavailable("create noise rule", created);
  }
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = std::string(noun(kind)) + ".create";
  event.target = "noise_rule:" + rule.id;
  event.client_address = request.remote_address;
  event.detail_json = json{{"name", rule.name}, {"spec", json::parse(rule.spec_json)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  event.at_ns = now_ns;
  if (Status recorded = audit.record(event); !recorded.isOk()) {
    (void)store.deleteNoiseRule(rule.tenant_id, rule.id, now_ns);  // never an unaudited rule
    return unavailable("audit noise rule", recorded);
  }
  policies.forget();
  return jsonReply(201, ruleJson(rule, now_ns));
}

http::Response deleteNoiseRule(store::Store& store, audit::AuditRecorder& audit,
                               events::NoisePolicies& policies, events::NoiseRuleKind kind,
                               const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  auto not_found = [&] {
    return http::Response::error(404, "not_found",
                                 "no such " + std::string(noun(kind)) + " in force");
  };
  if (id == nullptr || id->size() > 64) {
    return not_found();
  }
  auto rules = rulesOfKind(store, principal.tenant_id, kind);
  if (!rules) {
    return unavailable("delete noise rule", rules.status());
  }
  if (std::none_of(rules->begin(), rules->end(),
                   [&](const store::NoiseRule& rule) { return rule.id == *id; })) {
    return not_found();  // another kind's id, another tenant's, or already deleted
  }
  Status deleted = store.deleteNoiseRule(principal.tenant_id, *id, now_ns);
  if (deleted.code() == Errc::NotFound) {
    return not_found();
  }
  if (!deleted.isOk()) {
    return unavailable("delete noise rule", deleted);
  }
  policies.forget();
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = std::string(noun(kind)) + ".delete";
  event.target = "noise_rule:" + *id;
  event.client_address = request.remote_address;
  event.at_ns = now_ns;
  if (Status recorded = audit.record(event); !recorded.isOk()) {
    // The rule is gone either way; say the change may be unaudited rather than pretend.
    return unavailable("audit noise rule delete", recorded);
  }
  return jsonReply(200, {{"id", *id}, {"deleted", true}});
}

http::Response listAlerts(store::Store& store, events::NoisePolicies& policies,
                          std::string_view tenant_id, const http::Request& request,
                          std::int64_t now_ns) {
  auto limit = parseLimit(request);
  if (!limit) {
    return http::Response::error(400, "bad_request", limit.status().message());
  }
  store::AlertQuery query;
  query.limit = *limit + 1;  // one more than asked: is there a next page?
  if (auto status = request.queryParam("status"); status != nullptr) {
    if (*status != "firing" && *status != "resolved") {
      return http::Response::error(400, "bad_request", "status: firing or resolved");
    }
    query.status = *status;
  }
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto fields = decodeCursor(*cursor, 2);
    auto before = fields ? cursorNumber((*fields)[0]) : Result<std::int64_t>(fields.status());
    if (!before) {
      return http::Response::error(400, "bad_request", before.status().message());
    }
    query.before_last_seen_ns = *before;
    query.before_fingerprint = (*fields)[1];
  }
  auto page = store.listAlerts(tenant_id, query);
  if (!page) {
    return unavailable("list alerts", page.status());
  }
  auto policy = policies.policyFor(tenant_id);
  if (!policy) {
    return unavailable("list alerts", policy.status());
  }
  const bool more = page->size() > *limit;
  if (more) {
    page->resize(*limit);
  }
  const store::FlapPolicy& flap = policies.flap();
  json list = json::array();
  for (const store::AlertSummary& alert : *page) {
    const events::Event& last = alert.last_event.event;
    json labels = json::object();
    for (const auto& [key, value] : last.labels) {
      labels[key] = value;
    }
    // Flapping settles when no state change falls within the window any more.
    const std::vector<std::int64_t>& changes = alert.state.changes;
    const bool flapping =
        alert.state.flapping && !changes.empty() && changes.back() > now_ns - flap.window_ns;
    json muted = nullptr;
    if (auto mute = (*policy)->muteAt(last, now_ns)) {
      muted = {{"decision", store::noiseDecisionName(mute->decision)},
               {"rule_id", mute->rule_id},
               {"reason", mute->reason}};
    }
    list.push_back({{"fingerprint", alert.fingerprint},
                    {"status", alert.state.status},
                    {"count", alert.state.count},
                    {"first_seen", formatRfc3339Nanos(alert.state.first_seen_ns)},
                    {"last_seen", formatRfc3339Nanos(alert.last_seen_ns)},
                    {"resolved_at", alert.state.resolved_at_ns == 0
                                        ? json(nullptr)
                                        : json(formatRfc3339Nanos(alert.state.resolved_at_ns))},
                    {"flapping", flapping},
                    {"muted", std::move(muted)},
                    {"title", last.title},
                    {"service", last.service},
                    {"severity", logparse::severityName(last.severity)},
                    {"source", events::sourceKindName(last.source)},
                    {"integration_id", last.integration_id},
                    {"labels", std::move(labels)},
                    {"last_event",
                     {{"id", alert.last_event.id},
                      {"decision", store::noiseDecisionName(alert.last_event.decision)},
                      {"reason", alert.last_event.reason}}}});
  }
  json body = {{"alerts", std::move(list)}, {"next_cursor", nullptr}};
  if (more) {
    body["next_cursor"] =
        encodeCursor({std::to_string(page->back().last_seen_ns), page->back().fingerprint});
  }
  return jsonReply(200, body);
}

}  // namespace faultline::aggregator::api
