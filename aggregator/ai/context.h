#pragma once

// What a provider is given about an incident (issue 8): the incident, its RCA candidates with
// their evidence, its events, and the passages retrieval finds for it (runbooks and past
// incidents, knowledge search). Everything is read from the tenant's own store rows; the ids
// in it are the only evidence ids an answer may cite (validEvidence).

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/incidents/incident.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::ai {

struct EvidenceEvent {
  std::string id;
  std::string service;
  std::string title;
  std::string severity;
  std::int64_t occurred_at_ns = 0;
};

struct RetrievedPassage {
  std::string citation_id;  // "runbook:<id>#<seq>" / "incident:<id>#<seq>"
  std::string kind;         // "runbook" | "incident"
  std::string doc_id;
  std::string title;
  std::string heading;
  std::string text;  // the whole passage for runbooks, the snippet for incidents
  double score = 0.0;
  /// The passage's score relative to the best hit of the answer, in (0, 1]: search scores are
  /// comparable within one answer only (BM25 on SQLite, ts_rank_cd on PostgreSQL).
  double relative_score = 0.0;
};

struct AiContext {
  std::string tenant_id;
  std::string incident_id;
  std::string title;
  std::string status;
  std::string severity;
  std::vector<std::string> services;
  std::vector<incidents::Candidate> candidates;  // best first, at most kMaxContextCandidates
  /// The event chain: from the first anomaly along the service graph to the symptoms.
  std::vector<incidents::ChainStep> chain;  // at most kMaxContextChain
  std::int64_t first_ns = 0;                // the incident's first event (0: unknown)
  std::vector<EvidenceEvent> events;        // earliest first, at most kMaxContextEvents
  std::size_t event_total = 0;              // the incident's events, all of them
  std::vector<RetrievedPassage> passages;   // best first, at most kMaxContextPassages
  /// Every id an answer may cite: the incident's event ids (all of them, not only the ones in
  /// `events`), the incident itself, retrieved incidents and passage citations.
  std::set<std::string> evidence_ids;
};

inline constexpr std::size_t kMaxContextCandidates = 5;
inline constexpr std::size_t kMaxContextEvents = 50;
inline constexpr std::size_t kMaxContextChain = 20;
inline constexpr std::size_t kMaxContextPassages = 8;

/// Reads the context of the tenant's incident. NotFound when the tenant has no such incident.
Result<AiContext> gatherContext(store::Store& store, std::string_view tenant_id,
                                std::string_view incident_id);

}  // namespace faultline::aggregator::ai
