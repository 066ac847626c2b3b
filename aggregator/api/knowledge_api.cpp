#include "aggregator/api/knowledge_api.h"

#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "aggregator/api/replies.h"
#include "aggregator/audit/principal_audit.h"
#include "aggregator/knowledge/knowledge.h"
#include "aggregator/knowledge/runbook_folder.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;

/// A runbook body: its Markdown (kMaxRunbookBytes) plus the JSON around it.
constexpr std::size_t kMaxRunbookBodyBytes = knowledge::kMaxRunbookBytes + 16 * 1024;
constexpr std::size_t kMaxTitleBytes = 512;
constexpr std::size_t kMaxServices = 64;

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("knowledge-api", what, status);
}

/// Runbook ids: [a-z0-9_-], 1..64, starting with a letter or digit.
bool validRunbookId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '-' || id.front() == '_') {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

/// The kinds asked for: a JSON array or a comma-separated query parameter.
Result<std::vector<std::string>> parseKinds(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    if (!store::validKnowledgeKind(name)) {
      return invalidArgument("kinds: each must be incident or runbook");
    }
    out.push_back(name);
  }
  return out;
}

json hitsJson(const std::vector<store::KnowledgeHit>& hits) {
  json out = json::array();
  for (const store::KnowledgeHit& hit : hits) {
    json passages = json::array();
    for (const store::KnowledgePassageHit& passage : hit.passages) {
      passages.push_back({{"seq", passage.seq},
                          {"heading", passage.heading},
                          {"snippet", passage.snippet},
                          {"score", passage.score}});
      if (!passage.retriever.empty()) {
        passages.back()["retriever"] = passage.retriever;
      }
    }
    out.push_back({{"kind", hit.kind},
                   {"id", hit.id},
                   {"title", hit.title},
                   {"services", hit.services},
                   {"score", hit.score},
                   {"passages", passages}});
    // Only a fused search (embeddings on) names its retrievers: off, answers are as before.
    if (!hit.retrievers.empty()) {
      out.back()["retrievers"] = hit.retrievers;
      out.back()["bm25_score"] = hit.bm25_score;
      out.back()["embedding_score"] = hit.embedding_score;
    }
  }
  return out;
}

}  // namespace

bool KnowledgeApi::audited(const auth::Principal& principal, const http::Request& request,
                           std::string action, std::string target, std::string detail_json,
                           std::int64_t now_ns) {
  return audit::recordPrincipalChange(audit_, "knowledge-api", principal, request,
                                      std::move(action), std::move(target), std::move(detail_json),
                                      now_ns);
}

http::Response KnowledgeApi::search(std::string_view tenant_id, const http::Request& request) {
  if (request.body.size() > kMaxSearchQueryBytes + 1024) {
    return http::Response::error(413, "payload_too_large", "the search body is too large");
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return badRequest("body: a JSON object is required");
  }
  if (!body.contains("query") || !body["query"].is_string()) {
    return badRequest("query: a string is required");
  }
  std::string text = body["query"].get<std::string>();
  if (text.size() > kMaxSearchQueryBytes) {
    return badRequest("query: at most " + std::to_string(kMaxSearchQueryBytes) + " bytes");
  }
  store::KnowledgeQuery query;
  query.limit = kDefaultSearchHits;
  if (body.contains("limit")) {
    if (!body["limit"].is_number_integer() || body["limit"].get<std::int64_t>() < 1 ||
        body["limit"].get<std::int64_t>() > static_cast<std::int64_t>(store::kMaxKnowledgeHits)) {
      return badRequest("limit: an integer from 1 to " + std::to_string(store::kMaxKnowledgeHits));
    }
    query.limit = body["limit"].get<std::size_t>();
  }
  if (body.contains("kinds")) {
    std::vector<std::string> names;
    if (!body["kinds"].is_array()) {
      return badRequest("kinds: an array of incident, runbook");
    }
    for (const json& name : body["kinds"]) {
      if (!name.is_string()) {
        return badRequest("kinds: an array of incident, runbook");
      }
      names.push_back(name.get<std::string>());
    }
    auto kinds = parseKinds(names);
    if (!kinds) {
      return badRequest(kinds.status().message());
    }
    query.kinds = std::move(*kinds);
  }
  query.terms = knowledge::queryTerms(text);
  auto hits = embeddings_ != nullptr ? embeddings_->search(store_, tenant_id, query, text)
                                     : store_.searchKnowledge(tenant_id, query);
  if (!hits) {
    return unavailable("search", hits.status());
  }
  return jsonReply(200, {{"terms", query.terms}, {"hits", hitsJson(*hits)}});
}

http::Response KnowledgeApi::similar(std::string_view tenant_id, const http::Request& request) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr || id->empty() || id->size() > 64) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  auto limit = parseLimit(request, 5, store::kMaxKnowledgeHits);
  if (!limit) {
    return badRequest(limit.status().message());
  }
  store::KnowledgeQuery query;
  query.limit = *limit;
  query.kinds = {"incident"};
  if (auto kinds = request.queryParam("kinds"); kinds != nullptr) {
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start <= kinds->size()) {
      std::size_t comma = kinds->find(',', start);
      if (comma == std::string::npos) {
        comma = kinds->size();
      }
      names.push_back(kinds->substr(start, comma - start));
      start = comma + 1;
    }
    auto parsed = parseKinds(names);
    if (!parsed) {
      return badRequest(parsed.status().message());
    }
    query.kinds = std::move(*parsed);
  }
  auto facts = knowledge::loadIncidentFacts(store_, tenant_id, *id);
  if (facts.status().code() == Errc::NotFound) {
    return http::Response::error(404, "not_found", "no such incident");
  }
  if (!facts) {
    return unavailable("similar incidents", facts.status());
  }
  query.terms = knowledge::incidentQueryTerms(*facts);
  query.exclude_kind = "incident";
  query.exclude_id = *id;  // never the incident itself
  auto hits = embeddings_ != nullptr ? embeddings_->search(store_, tenant_id, query,
                                                           knowledge::incidentQueryText(*facts))
                                     : store_.searchKnowledge(tenant_id, query);
  if (!hits) {
    return unavailable("similar incidents", hits.status());
  }
  return jsonReply(200, {{"incident_id", *id}, {"terms", query.terms}, {"hits", hitsJson(*hits)}});
}

http::Response KnowledgeApi::listRunbooks(std::string_view tenant_id,
                                          const http::Request& request) {
  auto limit = parseLimit(request, 100, 1000);
  if (!limit) {
    return badRequest(limit.status().message());
  }
  auto listed = store_.listKnowledgeDocuments(tenant_id, "runbook", *limit);
  if (!listed) {
    return unavailable("list runbooks", listed.status());
  }
  json out = json::array();
  for (const store::KnowledgeSummary& summary : *listed) {
    out.push_back({{"id", summary.id},
                   {"title", summary.title},
                   {"services", summary.services},
                   {"bytes", summary.body_bytes},
                   {"updated_at", formatRfc3339Nanos(summary.updated_at_ns)}});
  }
  return jsonReply(200, {{"runbooks", out}});
}

http::Response KnowledgeApi::showRunbook(std::string_view tenant_id, const http::Request& request) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr || !validRunbookId(*id)) {
    return http::Response::error(404, "not_found", "no such runbook");
  }
  auto document = store_.findKnowledgeDocument(tenant_id, "runbook", *id);
  if (document.status().code() == Errc::NotFound) {
    return http::Response::error(404, "not_found", "no such runbook");
  }
  if (!document) {
    return unavailable("show runbook", document.status());
  }
  json passages = json::array();
  for (const store::KnowledgePassage& passage : knowledge::chunkMarkdown(document->body)) {
    passages.push_back({{"heading", passage.heading}, {"bytes", passage.text.size()}});
  }
  return jsonReply(200, {{"id", document->id},
                         {"title", document->title},
                         {"services", document->services},
                         {"markdown", document->body},
                         {"passages", passages},
                         {"updated_at", formatRfc3339Nanos(document->updated_at_ns)}});
}

http::Response KnowledgeApi::putRunbook(const auth::Principal& principal,
                                        const http::Request& request, std::int64_t now_ns) {
  if (request.body.size() > kMaxRunbookBodyBytes) {
    return http::Response::error(413, "payload_too_large",
                                 "a runbook's markdown is at most " +
                                     std::to_string(knowledge::kMaxRunbookBytes) + " bytes");
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return badRequest("body: a JSON object is required");
  }
  std::string id;
  if (body.contains("id")) {
    if (!body["id"].is_string() || !validRunbookId(body["id"].get<std::string>())) {
      return badRequest("id: 1 to 64 of a-z, 0-9, - and _");
    }
    id = body["id"].get<std::string>();
    if (knowledge::isFolderRunbookId(id)) {
      return http::Response::error(409, "conflict",
                                   "id: runbooks \"" +
                                       std::string(knowledge::kFolderRunbookPrefix) +
                                       "...\" are synced from a folder (ai.runbook_folders); "
                                       "change the file instead");
    }
  } else {
    id = "rbk_" + crypto::randomHex(8);
  }
  if (!body.contains("title") || !body["title"].is_string() ||
      body["title"].get<std::string>().empty() ||
      body["title"].get<std::string>().size() > kMaxTitleBytes) {
    return badRequest("title: a string of 1 to " + std::to_string(kMaxTitleBytes) + " bytes");
  }
  if (!body.contains("markdown") || !body["markdown"].is_string()) {
    return badRequest("markdown: a string is required");
  }
  std::string markdown = knowledge::validUtf8(body["markdown"].get<std::string>());
  if (markdown.size() > knowledge::kMaxRunbookBytes) {
    return http::Response::error(
        413, "payload_too_large",
        "markdown: at most " + std::to_string(knowledge::kMaxRunbookBytes) + " bytes");
  }
  std::vector<std::string> services;
  if (body.contains("services")) {
    if (!body["services"].is_array() || body["services"].size() > kMaxServices) {
      return badRequest("services: an array of at most " + std::to_string(kMaxServices) + " names");
    }
    for (const json& service : body["services"]) {
      if (!service.is_string() || service.get<std::string>().empty() ||
          service.get<std::string>().size() > 256) {
        return badRequest("services: each a name of 1 to 256 bytes");
      }
      services.push_back(knowledge::validUtf8(service.get<std::string>()));
    }
  }
  // No NUL, valid UTF-8 in the title too.
  store::KnowledgeDocument document = knowledge::runbookDocument(
      principal.tenant_id, id, knowledge::validUtf8(body["title"].get<std::string>()), markdown,
      services, now_ns);
  if (document.passages.size() > store::kMaxKnowledgePassages) {
    return http::Response::error(413, "payload_too_large", "markdown: too many sections");
  }
  if (embeddings_ != nullptr) {
    embeddings_->embedDocument(&document);  // a failure leaves BM25 only, never refuses
  }
  json detail = {{"title", document.title}, {"bytes", document.body.size()}};
  if (!audited(principal, request, "runbook.put", "runbook:" + document.id,
               detail.dump(-1, ' ', false, json::error_handler_t::replace), now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  Status stored = store_.putKnowledgeDocument(document);
  if (!stored.isOk()) {
    return unavailable("put runbook", stored);
  }
  return jsonReply(body.contains("id") ? 200 : 201, {{"id", document.id},
                                                     {"title", document.title},
                                                     {"services", document.services},
                                                     {"passages", document.passages.size()},
                                                     {"updated_at", formatRfc3339Nanos(now_ns)}});
}

http::Response KnowledgeApi::deleteRunbook(const auth::Principal& principal,
                                           const http::Request& request, std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr || !validRunbookId(*id)) {
    return http::Response::error(404, "not_found", "no such runbook");
  }
  auto existing = store_.findKnowledgeDocument(principal.tenant_id, "runbook", *id);
  if (existing.status().code() == Errc::NotFound) {
    return http::Response::error(404, "not_found", "no such runbook");
  }
  if (!existing) {
    return unavailable("delete runbook", existing.status());
  }
  if (knowledge::isFolderRunbookId(*id)) {
    return http::Response::error(409, "conflict",
                                 "this runbook is synced from a folder (ai.runbook_folders); "
                                 "delete its file instead");
  }
  if (!audited(principal, request, "runbook.delete", "runbook:" + *id, "{}", now_ns)) {
    return http::Response::error(503, "unavailable", "the change could not be audited");
  }
  Status deleted = store_.deleteKnowledgeDocument(principal.tenant_id, "runbook", *id);
  if (deleted.code() == Errc::NotFound) {
    return http::Response::error(404, "not_found", "no such runbook");
  }
  if (!deleted.isOk()) {
    return unavailable("delete runbook", deleted);
  }
  return jsonReply(200, {{"id", *id}, {"deleted", true}});
}

}  // namespace faultline::aggregator::api
