#pragma once

// Embeddings in the knowledge index (issue 8): when configured (ai.embeddings.provider), each
// passage is embedded as its document is written and the vector stored beside it (migration
// 17); a search embeds the query, scores the tenant's stored vectors by cosine similarity (brute
// force, at most store::kKnowledgeVectorScan of them, the newest documents first) and fuses
// that ranking of documents with BM25's by reciprocal rank fusion:
//
//   fused(d) = sum over the retrievers that found d of 1 / (kRrfK + rank(d))   (ranks from 1)
//
// An embedding failure never loses nor blocks a document: it is stored with BM25 only, and the
// failure counted and logged. A query whose embedding fails is answered by BM25 alone.
// Everything is scoped to one tenant: only that tenant's vectors are read (the store filters,
// and on PostgreSQL row-level security too).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/knowledge/embedder.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::knowledge {

/// Reciprocal rank fusion's constant (Cormack et al. 2009): damps the weight of top ranks.
inline constexpr double kRrfK = 60.0;
/// The retrievers' names, as hits show them.
inline constexpr std::string_view kBm25Retriever = "bm25";
inline constexpr std::string_view kEmbeddingRetriever = "embedding";

/// Cosine similarity; 0 for vectors of different dimensions or a zero vector.
double cosineSimilarity(const std::vector<float>& a, const std::vector<float>& b);

/// The documents whose passages score at least `min_similarity` against `query_vector`, best
/// first (a document scores as its best passage), at most `query.limit`, the query's excluded
/// document dropped; each with its best passages (at most kMaxPassagesPerHit, their text's
/// start as the snippet), retriever "embedding".
std::vector<store::KnowledgeHit> embeddingHits(const std::vector<store::KnowledgeVectorRow>& rows,
                                               const std::vector<float>& query_vector,
                                               const store::KnowledgeQuery& query,
                                               double min_similarity);

/// The two rankings fused by RRF, at most `limit` documents, best first (ties: BM25's order).
/// A document found by both keeps BM25's passages, then the embedding's not already there.
/// hit.score is the fused score; bm25_score and embedding_score each retriever's own.
std::vector<store::KnowledgeHit> fuseHits(const std::vector<store::KnowledgeHit>& bm25,
                                          const std::vector<store::KnowledgeHit>& embedding,
                                          std::size_t limit);

struct EmbeddingOptions {
  /// A passage must score at least this cosine similarity to be an embedding hit.
  double min_similarity = 0.3;
  /// Stored vectors read per search at most.
  std::size_t vector_scan = store::kKnowledgeVectorScan;
};

/// The embedder and what it is used for. Thread-safe (the embedder is).
class KnowledgeEmbeddings {
 public:
  struct Stats {
    std::uint64_t documents = 0;          // documents written with their vectors
    std::uint64_t document_failures = 0;  // documents written with BM25 only: embedding failed
    std::uint64_t queries = 0;            // searches that used embeddings
    std::uint64_t query_failures = 0;     // searches answered by BM25 only: embedding failed
  };

  KnowledgeEmbeddings(std::unique_ptr<Embedder> embedder, EmbeddingOptions options)
      : embedder_(std::move(embedder)), options_(options) {}

  /// Sets each passage's embedding (heading and text embedded). On any failure no passage
  /// keeps one (the document goes in with BM25 only): counted and logged, never an error.
  void embedDocument(store::KnowledgeDocument* document);

  /// BM25 (store.searchKnowledge) fused with the embedding ranking of `query_text`. Only the
  /// store's errors are errors; an embedding failure leaves BM25's hits, with their retriever.
  Result<std::vector<store::KnowledgeHit>> search(store::Store& store, std::string_view tenant_id,
                                                  const store::KnowledgeQuery& query,
                                                  std::string_view query_text);

  Stats stats() const;
  const EmbeddingOptions& options() const { return options_; }

 private:
  std::unique_ptr<Embedder> embedder_;
  const EmbeddingOptions options_;
  std::atomic<std::uint64_t> documents_{0};
  std::atomic<std::uint64_t> document_failures_{0};
  std::atomic<std::uint64_t> queries_{0};
  std::atomic<std::uint64_t> query_failures_{0};
};

}  // namespace faultline::aggregator::knowledge
