#include "aggregator/knowledge/embeddings.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "aggregator/knowledge/knowledge.h"
#include "shared/util/log.h"

namespace faultline::aggregator::knowledge {
namespace {

/// Bytes of a passage shown as an embedding hit's snippet (cut at a space when it can be).
constexpr std::size_t kSnippetBytes = 200;

std::string snippetOf(std::string_view text) {
  if (text.size() <= kSnippetBytes) {
    return std::string(text);
  }
  std::size_t cut = text.rfind(' ', kSnippetBytes);
  if (cut == std::string_view::npos || cut < kSnippetBytes / 2) {
    cut = kSnippetBytes;
  }
  return validUtf8(text.substr(0, cut)) + "...";
}

std::string passageText(const store::KnowledgePassage& passage) {
  return passage.heading.empty() ? passage.text : passage.heading + "\n" + passage.text;
}

}  // namespace

double cosineSimilarity(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) {
    return 0.0;
  }
  double dot = 0.0;
  double norm_a = 0.0;
  double norm_b = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  if (norm_a <= 0.0 || norm_b <= 0.0) {
    return 0.0;
  }
  return dot / (std::sqrt(norm_a) * std::sqrt(norm_b));
}

std::vector<store::KnowledgeHit> embeddingHits(const std::vector<store::KnowledgeVectorRow>& rows,
                                               const std::vector<float>& query_vector,
                                               const store::KnowledgeQuery& query,
                                               double min_similarity) {
  struct Scored {
    double score;
    const store::KnowledgeVectorRow* row;
  };
  std::vector<Scored> scored;
  for (const store::KnowledgeVectorRow& row : rows) {
    if (row.kind == query.exclude_kind && row.id == query.exclude_id) {
      continue;
    }
    double score = cosineSimilarity(query_vector, row.embedding);
    if (score >= min_similarity) {
      scored.push_back({score, &row});
    }
  }
  std::stable_sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    if (a.score != b.score) {
      return a.score > b.score;
    }
    if (a.row->kind != b.row->kind) {
      return a.row->kind < b.row->kind;
    }
    if (a.row->id != b.row->id) {
      return a.row->id < b.row->id;
    }
    return a.row->seq < b.row->seq;
  });
  // Best passages first, so a document's first passage is its best (its score).
  std::vector<store::KnowledgeHit> out;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (const Scored& item : scored) {
    const store::KnowledgeVectorRow& row = *item.row;
    auto key = std::make_pair(row.kind, row.id);
    auto found = index.find(key);
    if (found == index.end()) {
      if (out.size() >= query.limit) {
        continue;
      }
      store::KnowledgeHit hit;
      hit.kind = row.kind;
      hit.id = row.id;
      hit.title = row.title;
      hit.services = store::servicesFromJson(row.services_json);
      hit.score = item.score;
      hit.embedding_score = item.score;
      hit.retrievers = {std::string(kEmbeddingRetriever)};
      found = index.emplace(key, out.size()).first;
      out.push_back(std::move(hit));
    }
    store::KnowledgeHit& hit = out[found->second];
    if (hit.passages.size() < store::kMaxPassagesPerHit) {
      store::KnowledgePassageHit passage;
      passage.seq = row.seq;
      passage.heading = row.heading;
      passage.snippet = snippetOf(row.text);
      passage.score = item.score;
      passage.retriever = std::string(kEmbeddingRetriever);
      hit.passages.push_back(std::move(passage));
    }
  }
  return out;
}

std::vector<store::KnowledgeHit> fuseHits(const std::vector<store::KnowledgeHit>& bm25,
                                          const std::vector<store::KnowledgeHit>& embedding,
                                          std::size_t limit) {
  struct Fused {
    store::KnowledgeHit hit;
    double score = 0.0;
    std::size_t order = 0;  // BM25's rank first, then the embedding's
  };
  std::vector<Fused> fused;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (std::size_t rank = 0; rank < bm25.size(); ++rank) {
    Fused item;
    item.hit = bm25[rank];
    item.hit.bm25_score = bm25[rank].score;
    item.hit.retrievers = {std::string(kBm25Retriever)};
    for (store::KnowledgePassageHit& passage : item.hit.passages) {
      passage.retriever = std::string(kBm25Retriever);
    }
    item.score = 1.0 / (kRrfK + static_cast<double>(rank + 1));
    item.order = rank;
    index.emplace(std::make_pair(item.hit.kind, item.hit.id), fused.size());
    fused.push_back(std::move(item));
  }
  for (std::size_t rank = 0; rank < embedding.size(); ++rank) {
    const store::KnowledgeHit& hit = embedding[rank];
    const double contribution = 1.0 / (kRrfK + static_cast<double>(rank + 1));
    auto found = index.find(std::make_pair(hit.kind, hit.id));
    if (found == index.end()) {
      Fused item;
      item.hit = hit;
      item.hit.retrievers = {std::string(kEmbeddingRetriever)};
      for (store::KnowledgePassageHit& passage : item.hit.passages) {
        passage.retriever = std::string(kEmbeddingRetriever);
      }
      item.hit.embedding_score = hit.score;
      item.score = contribution;
      item.order = bm25.size() + rank;
      fused.push_back(std::move(item));
      continue;
    }
    Fused& item = fused[found->second];
    item.score += contribution;
    item.hit.retrievers.push_back(std::string(kEmbeddingRetriever));
    item.hit.embedding_score = hit.score;
    for (const store::KnowledgePassageHit& passage : hit.passages) {
      if (item.hit.passages.size() >= store::kMaxPassagesPerHit) {
        break;
      }
      bool present =
          std::any_of(item.hit.passages.begin(), item.hit.passages.end(),
                      [&](const store::KnowledgePassageHit& p) { return p.seq == passage.seq; });
      if (!present) {
        item.hit.passages.push_back(passage);
        item.hit.passages.back().retriever = std::string(kEmbeddingRetriever);
      }
    }
  }
  std::stable_sort(fused.begin(), fused.end(), [](const Fused& a, const Fused& b) {
    if (a.score != b.score) {
      return a.score > b.score;
    }
    return a.order < b.order;
  });
  std::vector<store::KnowledgeHit> out;
  for (Fused& item : fused) {
    if (out.size() >= limit) {
      break;
    }
    item.hit.score = item.score;
    out.push_back(std::move(item.hit));
  }
  return out;
}

void KnowledgeEmbeddings::embedDocument(store::KnowledgeDocument* document) {
  std::vector<std::vector<float>> vectors;
  vectors.reserve(document->passages.size());
  Status failed;
  for (std::size_t start = 0; start < document->passages.size() && failed.isOk();
       start += kMaxEmbeddingBatch) {
    std::vector<std::string> texts;
    for (std::size_t i = start; i < document->passages.size() && i < start + kMaxEmbeddingBatch;
         ++i) {
      texts.push_back(passageText(document->passages[i]));
    }
    auto batch = embedder_->embed(texts);
    if (!batch) {
      failed = batch.status();
      break;
    }
    for (std::vector<float>& vector : *batch) {
      vectors.push_back(std::move(vector));
    }
  }
  // One dimension across the document (batches could disagree if the model changed midway).
  if (failed.isOk() && !vectors.empty() &&
      std::any_of(vectors.begin(), vectors.end(),
                  [&](const std::vector<float>& v) { return v.size() != vectors[0].size(); })) {
    failed = unavailable("embeddings: vectors of different dimensions in one document");
  }
  if (!failed.isOk()) {
    for (store::KnowledgePassage& passage : document->passages) {
      passage.embedding.clear();
    }
    document_failures_.fetch_add(1, std::memory_order_relaxed);
    log::warn("knowledge", "tenant " + document->tenant_id + ": " + document->kind + " " +
                               document->id + " indexed with BM25 only: " + failed.message());
    return;
  }
  for (std::size_t i = 0; i < document->passages.size(); ++i) {
    document->passages[i].embedding = std::move(vectors[i]);
  }
  documents_.fetch_add(1, std::memory_order_relaxed);
}

Result<std::vector<store::KnowledgeHit>> KnowledgeEmbeddings::search(
    store::Store& store, std::string_view tenant_id, const store::KnowledgeQuery& query,
    std::string_view query_text) {
  FL_ASSIGN_OR_RETURN(std::vector<store::KnowledgeHit> bm25,
                      store.searchKnowledge(tenant_id, query));
  std::vector<store::KnowledgeHit> by_embedding;
  auto vectors = embedder_->embed({std::string(query_text.substr(0, kMaxEmbeddingInputBytes))});
  if (!vectors) {
    query_failures_.fetch_add(1, std::memory_order_relaxed);
    log::warn("knowledge", "tenant " + std::string(tenant_id) +
                               ": search answered by BM25 only: " + vectors.status().message());
  } else {
    queries_.fetch_add(1, std::memory_order_relaxed);
    FL_ASSIGN_OR_RETURN(std::vector<store::KnowledgeVectorRow> rows,
                        store.listKnowledgeVectors(tenant_id, query.kinds, options_.vector_scan));
    by_embedding = embeddingHits(rows, vectors->front(), query, options_.min_similarity);
  }
  return fuseHits(bm25, by_embedding, query.limit);
}

KnowledgeEmbeddings::Stats KnowledgeEmbeddings::stats() const {
  Stats out;
  out.documents = documents_.load(std::memory_order_relaxed);
  out.document_failures = document_failures_.load(std::memory_order_relaxed);
  out.queries = queries_.load(std::memory_order_relaxed);
  out.query_failures = query_failures_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace faultline::aggregator::knowledge
