#include "aggregator/store/knowledge_records.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace faultline::aggregator::store {

bool validKnowledgeKind(std::string_view kind) {
  return kind == "incident" || kind == "runbook";
}

bool validKnowledgeTerm(std::string_view term) {
  if (term.empty() || term.size() > 64) {
    return false;
  }
  return std::all_of(term.begin(), term.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status validateKnowledgeDocument(std::string_view tenant_id, const KnowledgeDocument& document) {
  if (document.tenant_id != tenant_id) {
    return invalidArgument("knowledge: a document of another tenant");
  }
  if (!validKnowledgeKind(document.kind)) {
    return invalidArgument("knowledge: kind must be incident or runbook");
  }
  if (document.id.empty() || document.id.size() > 128) {
    return invalidArgument("knowledge: id must be 1 to 128 bytes");
  }
  if (document.passages.size() > kMaxKnowledgePassages) {
    return invalidArgument("knowledge: more than " + std::to_string(kMaxKnowledgePassages) +
                           " passages");
  }
  for (const KnowledgePassage& passage : document.passages) {
    if (passage.embedding.size() > kMaxEmbeddingDimensions) {
      return invalidArgument("knowledge: an embedding of more than " +
                             std::to_string(kMaxEmbeddingDimensions) + " dimensions");
    }
  }
  return Status::ok();
}

std::string encodeEmbedding(const std::vector<float>& embedding) {
  std::string out;
  out.reserve(embedding.size() * 4);
  for (float value : embedding) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    for (int shift = 0; shift < 32; shift += 8) {
      out.push_back(static_cast<char>((bits >> shift) & 0xff));
    }
  }
  return out;
}

std::vector<float> decodeEmbedding(std::string_view bytes) {
  std::vector<float> out;
  if (bytes.size() % 4 != 0 || bytes.size() / 4 > kMaxEmbeddingDimensions) {
    return out;
  }
  out.reserve(bytes.size() / 4);
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    std::uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + b])) << (8 * b);
    }
    float value = 0;
    std::memcpy(&value, &bits, sizeof value);
    out.push_back(value);
  }
  return out;
}

std::optional<std::string> kindsFilter(const std::vector<std::string>& kinds) {
  std::string joined;
  for (const std::string& kind : kinds) {
    if (validKnowledgeKind(kind)) {
      joined += (joined.empty() ? "" : ",") + kind;
    }
  }
  if (!kinds.empty() && joined.empty()) {
    return std::nullopt;
  }
  return joined;
}

std::vector<std::string> searchTerms(const std::vector<std::string>& terms) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& term : terms) {
    if (out.size() >= kMaxKnowledgeTerms) {
      break;
    }
    if (validKnowledgeTerm(term) && seen.insert(term).second) {
      out.push_back(term);
    }
  }
  return out;
}

std::string servicesToJson(const std::vector<std::string>& services) {
  return nlohmann::json(services).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> servicesFromJson(std::string_view json) {
  std::vector<std::string> out;
  nlohmann::json value = nlohmann::json::parse(json, nullptr, false);
  if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

std::vector<KnowledgeHit> groupKnowledgeHits(std::vector<KnowledgePassageRow> rows,
                                             const KnowledgeQuery& query) {
  std::vector<KnowledgeHit> hits;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  std::size_t limit = std::min(query.limit, kMaxKnowledgeHits);
  for (KnowledgePassageRow& row : rows) {
    if (row.kind == query.exclude_kind && row.id == query.exclude_id) {
      continue;
    }
    auto key = std::make_pair(row.kind, row.id);
    auto found = index.find(key);
    if (found == index.end()) {
      if (hits.size() >= limit) {
        continue;  // rows come best first: a new document now would rank below the limit
      }
      KnowledgeHit hit;
      hit.kind = row.kind;
      hit.id = row.id;
      hit.title = std::move(row.title);
      hit.services = servicesFromJson(row.services_json);
      hit.score = row.passage.score;
      index.emplace(key, hits.size());
      hits.push_back(std::move(hit));
      found = index.find(key);
    }
    KnowledgeHit& hit = hits[found->second];
    if (hit.passages.size() < kMaxPassagesPerHit) {
      hit.passages.push_back(std::move(row.passage));
    }
  }
  return hits;
}

}  // namespace faultline::aggregator::store
