#pragma once

// Rows of the knowledge index (migration 12): per-tenant documents (past incidents and
// runbooks) cut into passages, searched with BM25 (SQLite FTS5; PostgreSQL full-text search).
// The caller chunks (aggregator/knowledge); the store keeps the passages and ranks them.

#include <cstdint>
#include <string>
#include <vector>

namespace faultline::aggregator::store {

/// One searchable piece of a document: a Markdown section, or one facet of an incident.
struct KnowledgePassage {
  std::string heading;
  std::string text;
  /// Its embedding (migration 17) when embeddings are configured and the provider answered;
  /// empty: BM25 only.
  std::vector<float> embedding;
};

struct KnowledgeDocument {
  std::string tenant_id;
  std::string kind;  // "incident" | "runbook"
  std::string id;    // the incident's id, or the runbook's
  std::string title;
  std::vector<std::string> services;
  std::string body;  // the source: a runbook's Markdown, an incident's indexed text
  std::vector<KnowledgePassage> passages;
  std::int64_t updated_at_ns = 0;
};

/// A listing entry (no body, no passages).
struct KnowledgeSummary {
  std::string kind;
  std::string id;
  std::string title;
  std::vector<std::string> services;
  std::size_t body_bytes = 0;
  std::int64_t updated_at_ns = 0;
};

/// What a search asks: `terms` are plain lower-case word tokens ([a-z0-9_]), matched with OR
/// and ranked by BM25 (the engine binds them; they are never parsed as query syntax).
struct KnowledgeQuery {
  std::vector<std::string> terms;
  std::vector<std::string> kinds;  // empty: every kind
  /// A document left out of the results (an incident's own entry in its similar list).
  std::string exclude_kind;
  std::string exclude_id;
  std::size_t limit = 10;  // documents
};

/// One matching passage of a document.
struct KnowledgePassageHit {
  int seq = 0;
  std::string heading;
  std::string snippet;  // the passage around the matched terms, matches in [brackets]
  double score = 0.0;   // higher is better
  /// Which retriever found it, set only by a fused search: "bm25" (score is BM25's) or
  /// "embedding" (score is the cosine similarity, snippet the passage's start).
  std::string retriever;
};

struct KnowledgeHit {
  std::string kind;
  std::string id;
  std::string title;
  std::vector<std::string> services;
  double score = 0.0;                         // its best passage's score
  std::vector<KnowledgePassageHit> passages;  // best first, at most kMaxPassagesPerHit
  /// Set only by a search that fuses retrievers (knowledge/embeddings.h): which found it
  /// ("bm25", "embedding"), and each one's own score (0 when it did not find it).
  std::vector<std::string> retrievers;
  double bm25_score = 0.0;
  double embedding_score = 0.0;
};

/// A passage's stored embedding, with what a hit needs (knowledge/embeddings.h scores them).
struct KnowledgeVectorRow {
  std::string kind;
  std::string id;
  std::string title;
  std::string services_json;
  int seq = 0;
  std::string heading;
  std::string text;
  std::vector<float> embedding;
};

inline constexpr std::size_t kMaxKnowledgeTerms = 64;
inline constexpr std::size_t kMaxKnowledgeHits = 50;
inline constexpr std::size_t kMaxPassagesPerHit = 3;
inline constexpr std::size_t kMaxKnowledgePassages = 512;
/// Passage rows read per search: the best ones, grouped by document afterwards.
inline constexpr std::size_t kKnowledgePassageScan = 400;
/// Dimensions of an embedding at most (larger answers are refused, never stored).
inline constexpr std::size_t kMaxEmbeddingDimensions = 4096;
/// Passage vectors read per embedding search, the most recently updated documents first.
inline constexpr std::size_t kKnowledgeVectorScan = 5000;

}  // namespace faultline::aggregator::store

#include <optional>
#include <string_view>

#include "shared/util/status.h"

namespace faultline::aggregator::store {

/// "incident" or "runbook".
bool validKnowledgeKind(std::string_view kind);
/// A query term both engines can bind safely: 1..64 bytes of [a-z0-9_].
bool validKnowledgeTerm(std::string_view term);
/// InvalidArgument naming what is wrong with a document written for `tenant_id`.
Status validateKnowledgeDocument(std::string_view tenant_id, const KnowledgeDocument& document);
/// The terms a search binds: the valid ones, deduplicated, at most kMaxKnowledgeTerms.
std::vector<std::string> searchTerms(const std::vector<std::string>& terms);

/// The kinds a search asks for, as the comma-joined filter both engines bind ("" = every
/// kind); nullopt when it asked only for kinds that do not exist (nothing can match).
std::optional<std::string> kindsFilter(const std::vector<std::string>& kinds);

/// An embedding as stored: float32 little-endian, 4 bytes a dimension ("" for none).
std::string encodeEmbedding(const std::vector<float>& embedding);
/// The stored bytes back; empty when they are not whole floats or past kMaxEmbeddingDimensions.
std::vector<float> decodeEmbedding(std::string_view bytes);

std::string servicesToJson(const std::vector<std::string>& services);
std::vector<std::string> servicesFromJson(std::string_view json);

/// One matching passage row as an engine reads it, best first.
struct KnowledgePassageRow {
  std::string kind;
  std::string id;
  std::string title;
  std::string services_json;
  KnowledgePassageHit passage;
};
/// Groups passage rows (best first) into documents: each document's score is its best
/// passage's; at most kMaxPassagesPerHit passages each and `limit` documents; the excluded
/// document is dropped.
std::vector<KnowledgeHit> groupKnowledgeHits(std::vector<KnowledgePassageRow> rows,
                                             const KnowledgeQuery& query);

}  // namespace faultline::aggregator::store
