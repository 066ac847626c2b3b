#pragma once

// AI runbooks over the API (issue 8; handlers run after AuthApi::guarded):
//
//   POST /v1/incidents/{id}/runbook   incidents.manage  writes a runbook for the incident (the
//                                                       provider router, offline by default),
//                                                       stores it with the incident, returns it
//   GET  /v1/incidents/{id}/runbook   incidents.read    the stored runbook (404 before a POST)
//   PUT  /v1/incidents/{id}/runbook   incidents.manage  a responder's edit {summary, diagnosis,
//                                                       steps, rollback?, verification?,
//                                                       citations?, title?}: checked, stored,
//                                                       and saved into the knowledge base as
//                                                       the runbook "ai-<incident id>"
//   POST /v1/incidents/{id}/summary   incidents.manage  a short summary for responders, every
//                                                       claim citing evidence (the router's
//                                                       summary route), stored, returned
//   GET  /v1/incidents/{id}/summary   incidents.read    the stored summary (404 before a POST)
//   POST /v1/incidents/{id}/explanation, GET ...        the same for the RCA explanation: why
//                                                       the top candidates are likely, and
//                                                       what would confirm or refute it
//   GET  /v1/ai/usage?since=&until=   incidents.read    the tenant's model usage from the
//                                                       ledger, per day and per model, and its
//                                                       token budget today and this month
//
// Every evidence id an answer or an edit cites must be this tenant's (the incident's events,
// past incidents and passages retrieval found for it); destructive commands are flagged
// needs_human (aggregator/ai/runbook.h). Writes are audited.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "aggregator/ai/context.h"
#include "aggregator/ai/cost.h"
#include "aggregator/ai/narrative.h"
#include "aggregator/ai/runbook.h"
#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "aggregator/knowledge/embeddings.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

/// Writes a runbook for a context (the provider router; never fails: offline is the last resort).
using RunbookWriter = std::function<ai::Runbook(const ai::AiContext&)>;
/// Writes a summary or an explanation (the router; never fails either).
using NarrativeWriter = std::function<ai::Narrative(ai::Task, const ai::AiContext&)>;

class AiApi {
 public:
  /// `writer`, `narrator` null: the offline provider alone; `cost` null: one over `store`, no
  /// limits.
  AiApi(store::Store& store, audit::AuditRecorder* audit, RunbookWriter writer,
        std::shared_ptr<ai::CostControl> cost = nullptr, NarrativeWriter narrator = nullptr);

  http::Response generate(const auth::Principal& principal, const http::Request& request,
                          std::int64_t now_ns);
  http::Response show(std::string_view tenant_id, const http::Request& request);
  http::Response edit(const auth::Principal& principal, const http::Request& request,
                      std::int64_t now_ns);
  http::Response usage(std::string_view tenant_id, const http::Request& request);
  /// POST and GET of a summary or an explanation (`task`).
  http::Response narrate(ai::Task task, const auth::Principal& principal,
                         const http::Request& request, std::int64_t now_ns);
  http::Response showNarrative(ai::Task task, std::string_view tenant_id,
                               const http::Request& request);
  /// Embeds a responder's runbook as it is saved into the knowledge base (null: BM25 only).
  /// Set before the first request.
  void setKnowledgeEmbeddings(std::shared_ptr<knowledge::KnowledgeEmbeddings> embeddings) {
    embeddings_ = std::move(embeddings);
  }

 private:
  /// The context of the incident `id` names in the tenant; nullopt with `refusal` set (404 for
  /// no such incident, 503 when the store failed) otherwise. `what` names the task in logs.
  std::optional<ai::AiContext> incidentContext(std::string_view tenant_id, const std::string* id,
                                               std::string_view what, http::Response& refusal);
  bool audited(const auth::Principal& principal, const http::Request& request, std::string action,
               std::string target, std::string detail_json, std::int64_t now_ns);

  store::Store& store_;
  audit::AuditRecorder* audit_;
  RunbookWriter writer_;
  NarrativeWriter narrator_;
  std::shared_ptr<ai::CostControl> cost_;
  std::shared_ptr<knowledge::KnowledgeEmbeddings> embeddings_;
};

}  // namespace faultline::aggregator::api
