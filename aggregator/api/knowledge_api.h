#pragma once

// The tenant's knowledge over the API (issue 8, retrieval; handlers run after AuthApi::guarded):
//
//   POST   /v1/search                   incidents.read    {query, kinds?, limit?}: ranked hits
//   GET    /v1/incidents/{id}/similar   incidents.read    past incidents like this one
//                                                         (limit, kinds); never itself
//   GET    /v1/runbooks                 incidents.read    the tenant's runbooks (no text)
//   GET    /v1/runbooks/{id}            incidents.read    one runbook with its Markdown
//   POST   /v1/runbooks                 incidents.manage  {id?, title, markdown, services?}
//   DELETE /v1/runbooks/{id}            incidents.manage
//
// Hits are documents (kind incident | runbook) with a score (higher is better; BM25 on SQLite,
// ts_rank_cd on PostgreSQL: compare within one answer only) and their best passages, each with a
// snippet whose matched words are in [brackets]. Runbook changes are audited.
//
// With embeddings configured (knowledge/embeddings.h), a search also ranks the tenant's passages
// by the cosine similarity of their embeddings to the query's, and the two rankings are fused
// (reciprocal rank fusion): each hit then says which retrievers found it ("retrievers", and
// "retriever" on each passage), its score is the fused one, and bm25_score / embedding_score are
// each retriever's own. Runbooks are embedded when they are written. Off: answers as before.

#include <cstdint>
#include <memory>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "aggregator/knowledge/embeddings.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

/// Bytes of a search query at most.
inline constexpr std::size_t kMaxSearchQueryBytes = 4096;
/// Hits an answer holds by default and at most.
inline constexpr std::size_t kDefaultSearchHits = 10;

class KnowledgeApi {
 public:
  /// `embeddings` null: BM25 only (ai.embeddings.provider unset).
  KnowledgeApi(store::Store& store, audit::AuditRecorder* audit,
               std::shared_ptr<knowledge::KnowledgeEmbeddings> embeddings = nullptr)
      : store_(store), audit_(audit), embeddings_(std::move(embeddings)) {}

  http::Response search(std::string_view tenant_id, const http::Request& request);
  http::Response similar(std::string_view tenant_id, const http::Request& request);
  http::Response listRunbooks(std::string_view tenant_id, const http::Request& request);
  http::Response showRunbook(std::string_view tenant_id, const http::Request& request);
  http::Response putRunbook(const auth::Principal& principal, const http::Request& request,
                            std::int64_t now_ns);
  http::Response deleteRunbook(const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns);

 private:
  bool audited(const auth::Principal& principal, const http::Request& request, std::string action,
               std::string target, std::string detail_json, std::int64_t now_ns);

  store::Store& store_;
  audit::AuditRecorder* audit_;
  std::shared_ptr<knowledge::KnowledgeEmbeddings> embeddings_;
};

}  // namespace faultline::aggregator::api
