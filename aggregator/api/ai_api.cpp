#include "aggregator/api/ai_api.h"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "aggregator/ai/offline_provider.h"
#include "aggregator/api/replies.h"
#include "aggregator/audit/principal_audit.h"
#include "aggregator/knowledge/knowledge.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxEditBodyBytes = store::kMaxAiRunbookBytes;
constexpr std::size_t kMaxTitleBytes = 512;

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("ai-api", what, status);
}

http::Response noIncident() {
  return http::Response::error(404, "not_found", "no such incident");
}

/// The stored record as the API shows it: the answer plus who saved it when.
template <typename Record>
http::Response recordReply(int status, const Record& record) {
  json body = json::parse(record.body_json, nullptr, false);
  if (!body.is_object()) {
    body = json::object();
  }
  body["updated_by"] = record.updated_by;
  body["updated_at"] = formatRfc3339Nanos(record.updated_at_ns);
  return jsonReply(status, body);
}

/// A stored runbook or answer as GET shows it: 404 until one was written, 503 when the store
/// failed.
template <typename Record>
http::Response storedReply(const Result<Record>& record, const std::string& name) {
  if (record.status().code() == Errc::NotFound) {
    return http::Response::error(404, "not_found",
                                 "no " + name + " for this incident yet (POST writes one)");
  }
  if (!record) {
    return unavailable("show " + name, record.status());
  }
  return recordReply(200, *record);
}

/// Ids a runbook cites that the context cannot vouch for.
std::vector<std::string> unknownEvidence(const ai::Runbook& runbook, const ai::AiContext& context) {
  std::vector<std::string> out;
  auto check = [&](const std::string& id) {
    if (context.evidence_ids.count(id) == 0 && std::find(out.begin(), out.end(), id) == out.end()) {
      out.push_back(id);
    }
  };
  for (const ai::RunbookStep& step : runbook.steps) {
    for (const std::string& id : step.evidence) {
      check(id);
    }
  }
  for (const ai::Citation& citation : runbook.citations) {
    check(citation.id);
  }
  return out;
}

}  // namespace

AiApi::AiApi(store::Store& store, audit::AuditRecorder* audit, RunbookWriter writer,
             std::shared_ptr<ai::CostControl> cost, NarrativeWriter narrator)
    : store_(store),
      audit_(audit),
      writer_(std::move(writer)),
      narrator_(std::move(narrator)),
      cost_(std::move(cost)) {
  if (!writer_) {
    writer_ = [](const ai::AiContext& context) { return ai::offlineRunbook(context); };
  }
  if (!narrator_) {
    narrator_ = [](ai::Task task, const ai::AiContext& context) {
      return ai::offlineNarrative(task, context);
    };
  }
  if (cost_ == nullptr) {
    cost_ = std::make_shared<ai::CostControl>(store_, ai::CostOptions{});
  }
}

bool AiApi::audited(const auth::Principal& principal, const http::Request& request,
                    std::string action, std::string target, std::string detail_json,
                    std::int64_t now_ns) {
  return audit::recordPrincipalChange(audit_, "ai-api", principal, request, std::move(action),
                                      std::move(target), std::move(detail_json), now_ns);
}

std::optional<ai::AiContext> AiApi::incidentContext(std::string_view tenant_id,
                                                    const std::string* id, std::string_view what,
                                                    http::Response& refusal) {
  if (id == nullptr) {
    refusal = noIncident();
    return std::nullopt;
  }
  auto context = ai::gatherContext(store_, tenant_id, *id);
  if (context.status().code() == Errc::NotFound) {
    refusal = noIncident();
    return std::nullopt;
  }
  if (!context) {
    refusal = unavailable(std::string(what) + " context", context.status());
    return std::nullopt;
  }
  return std::move(*context);
}

http::Response AiApi::generate(const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  http::Response refusal;
  std::optional<ai::AiContext> context =
      incidentContext(principal.tenant_id, id, "runbook", refusal);
  if (!context) {
    return refusal;
  }
  ai::Runbook runbook = writer_(*context);
  store::AiRunbookRecord record;
  record.tenant_id = principal.tenant_id;
  record.incident_id = *id;
  record.body_json = ai::runbookToJson(runbook);
  record.provider = runbook.provider;
  record.updated_by = "system";
  record.updated_at_ns = now_ns;
  json detail = {{"provider", runbook.provider},
                 {"fallbacks", runbook.fallbacks},
                 {"cached", runbook.cached},
                 {"steps", runbook.steps.size()}};
  if (!audited(principal, request, "runbook.generate", "incident:" + *id,
               detail.dump(-1, ' ', false, json::error_handler_t::replace), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  Status stored = store_.putAiRunbook(record);
  if (!stored.isOk()) {
    return unavailable("store runbook", stored);
  }
  return recordReply(200, record);
}

http::Response AiApi::show(std::string_view tenant_id, const http::Request& request) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr) {
    return noIncident();
  }
  return storedReply(store_.findAiRunbook(tenant_id, *id), "runbook");
}

http::Response AiApi::edit(const auth::Principal& principal, const http::Request& request,
                           std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr) {
    return noIncident();
  }
  if (request.body.size() > kMaxEditBodyBytes) {
    return http::Response::error(
        413, "payload_too_large",
        "a runbook is at most " + std::to_string(kMaxEditBodyBytes) + " bytes");
  }
  auto parsed = ai::runbookFromJson(request.body);
  if (!parsed) {
    return http::Response::error(400, "bad_request", parsed.status().message());
  }
  json body = json::parse(request.body, nullptr, false);
  std::string title;
  if (body.contains("title")) {
    if (!body["title"].is_string() || body["title"].get<std::string>().empty() ||
        body["title"].get<std::string>().size() > kMaxTitleBytes) {
      return http::Response::error(
          400, "bad_request",
          "title: a string of 1 to " + std::to_string(kMaxTitleBytes) + " bytes");
    }
    title = knowledge::validUtf8(body["title"].get<std::string>());
  }
  http::Response refusal;
  std::optional<ai::AiContext> context =
      incidentContext(principal.tenant_id, id, "runbook", refusal);
  if (!context) {
    return refusal;
  }
  ai::Runbook runbook = std::move(*parsed);
  std::vector<std::string> unknown = unknownEvidence(runbook, *context);
  if (!unknown.empty()) {
    std::string list;
    for (const std::string& item : unknown) {
      list += (list.empty() ? "" : ", ") + item.substr(0, 80);
    }
    return http::Response::error(
        400, "bad_request", "evidence: not in this incident or its retrieved passages: " + list);
  }
  runbook.incident_id = *id;
  runbook.provider = "edited";
  if (title.empty()) {
    title = knowledge::validUtf8("Runbook: " + context->title).substr(0, kMaxTitleBytes);
  }
  std::string runbook_id = "ai-" + *id;
  store::KnowledgeDocument document = knowledge::runbookDocument(
      principal.tenant_id, runbook_id, title,
      knowledge::validUtf8(ai::runbookMarkdown(runbook, title)), context->services, now_ns);
  if (document.passages.size() > store::kMaxKnowledgePassages ||
      document.body.size() > knowledge::kMaxRunbookBytes) {
    return http::Response::error(413, "payload_too_large", "the runbook is too large");
  }
  store::AiRunbookRecord record;
  record.tenant_id = principal.tenant_id;
  record.incident_id = *id;
  record.body_json = ai::runbookToJson(runbook);
  record.provider = runbook.provider;
  record.updated_by = principal.id;
  record.updated_at_ns = now_ns;
  json detail = {{"steps", runbook.steps.size()}, {"runbook", runbook_id}};
  if (!audited(principal, request, "runbook.edit", "incident:" + *id,
               detail.dump(-1, ' ', false, json::error_handler_t::replace), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  Status stored = store_.putAiRunbook(record);
  if (!stored.isOk()) {
    return unavailable("store runbook", stored);
  }
  if (embeddings_ != nullptr) {
    embeddings_->embedDocument(&document);  // a failure leaves BM25 only, never refuses
  }
  Status saved = store_.putKnowledgeDocument(document);
  if (!saved.isOk()) {
    return unavailable("save runbook to knowledge", saved);
  }
  json reply = json::parse(record.body_json);
  reply["updated_by"] = record.updated_by;
  reply["updated_at"] = formatRfc3339Nanos(now_ns);
  reply["knowledge_runbook_id"] = runbook_id;
  return jsonReply(200, reply);
}

http::Response AiApi::narrate(ai::Task task, const auth::Principal& principal,
                              const http::Request& request, std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  const std::string name = ai::taskName(task);
  http::Response refusal;
  std::optional<ai::AiContext> context = incidentContext(principal.tenant_id, id, name, refusal);
  if (!context) {
    return refusal;
  }
  ai::Narrative narrative = narrator_(task, *context);
  store::AiAnswerRecord record;
  record.tenant_id = principal.tenant_id;
  record.incident_id = *id;
  record.task = name;
  record.body_json = ai::narrativeToJson(narrative);
  record.provider = narrative.provider;
  record.updated_by = "system";
  record.updated_at_ns = now_ns;
  json detail = {{"provider", narrative.provider},
                 {"fallbacks", narrative.fallbacks},
                 {"cached", narrative.cached},
                 {"claims", narrative.claims.size() + narrative.checks.size()}};
  if (!audited(principal, request, name + ".generate", "incident:" + *id,
               detail.dump(-1, ' ', false, json::error_handler_t::replace), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  Status stored = store_.putAiAnswer(record);
  if (!stored.isOk()) {
    return unavailable("store " + name, stored);
  }
  return recordReply(200, record);
}

http::Response AiApi::showNarrative(ai::Task task, std::string_view tenant_id,
                                    const http::Request& request) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr) {
    return noIncident();
  }
  const std::string name = ai::taskName(task);
  return storedReply(store_.findAiAnswer(tenant_id, *id, name), name);
}

http::Response AiApi::usage(std::string_view tenant_id, const http::Request& request) {
  const std::int64_t now_ns = cost_->now();
  // By default: this month so far.
  auto month_start = parseTimestamp(ai::utcMonth(now_ns) + "-01");
  std::int64_t since_ns = month_start.isOk() ? *month_start : 0;
  std::int64_t until_ns = now_ns + 1;
  for (const auto& [name, target] :
       {std::pair<const char*, std::int64_t*>{"since", &since_ns}, {"until", &until_ns}}) {
    if (auto value = request.queryParam(name); value != nullptr) {
      auto parsed = parseTimestamp(*value);
      if (!parsed) {
        return http::Response::error(400, "bad_request",
                                     std::string(name) + ": " + parsed.status().message());
      }
      *target = *parsed;
    }
  }
  if (since_ns >= until_ns) {
    return http::Response::error(400, "bad_request", "since: must be before until");
  }
  auto totals = store_.aiUsageTotals(tenant_id, since_ns, until_ns);
  if (!totals) {
    return unavailable("ai usage", totals.status());
  }
  auto budget = cost_->budget(tenant_id);
  if (!budget) {
    return unavailable("ai budget", budget.status());
  }
  struct Sum {
    std::int64_t calls = 0;
    std::int64_t cached = 0;
    std::int64_t prompt = 0;
    std::int64_t completion = 0;
    std::int64_t cost_micros = 0;
    void add(const store::AiUsageTotal& row) {
      calls += row.calls;
      cached += row.cached;
      prompt += row.prompt_tokens;
      completion += row.completion_tokens;
      cost_micros += row.cost_micros;
    }
    json toJson() const {
      return {{"calls", calls},
              {"cached_calls", cached},
              {"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"tokens", prompt + completion},
              {"cost", static_cast<double>(cost_micros) / 1e6}};
    }
  };
  Sum all;
  std::map<std::string, Sum> days;
  std::map<std::pair<std::string, std::string>, Sum> models;
  std::map<std::string, Sum> tasks;
  for (const store::AiUsageTotal& row : *totals) {
    all.add(row);
    days[row.day].add(row);
    models[{row.provider, row.model}].add(row);
    tasks[row.task].add(row);
  }
  json day_list = json::array();
  for (const auto& entry : days) {
    json item = entry.second.toJson();
    item["day"] = entry.first;
    day_list.push_back(std::move(item));
  }
  json model_list = json::array();
  for (const auto& entry : models) {
    json item = entry.second.toJson();
    item["provider"] = entry.first.first;
    item["model"] = entry.first.second;
    model_list.push_back(std::move(item));
  }
  json task_list = json::array();
  for (const auto& entry : tasks) {
    json item = entry.second.toJson();
    item["task"] = entry.first;
    task_list.push_back(std::move(item));
  }
  auto period = [](const ai::BudgetPeriod& p) {
    return json{{"period", p.period},
                {"used", p.used},
                {"limit", p.limit},
                {"remaining", p.remaining < 0 ? json(nullptr) : json(p.remaining)}};
  };
  json body = {{"since", formatRfc3339Nanos(since_ns)},
               {"until", formatRfc3339Nanos(until_ns)},
               {"totals", all.toJson()},
               {"days", day_list},
               {"models", model_list},
               {"tasks", task_list},
               {"budget", {{"today", period(budget->first)}, {"month", period(budget->second)}}}};
  return jsonReply(200, body);
}

}  // namespace faultline::aggregator::api
