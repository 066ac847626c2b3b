#pragma once

// The two written answers beside the runbook (issue 8), both grounded claim by claim:
//
//   summary      a short summary for responders (what is affected, since when, the likely cause)
//                {"summary": string, "claims": [{"text": string, "evidence": [ids]}],
//                 "confidence": number in [0, 1]}
//   explanation  why the top RCA candidate(s) are likely: the chain of evidence along the service
//                graph, and what would confirm or refute it
//                {"cause": string, "chain": [{"text", "evidence"}], "checks": [{"text",
//                 "evidence"}], "confidence": number in [0, 1]}
//
// Every claim, chain link and check cites at least one evidence id (runbook.h: event ids of the
// incident, incident ids, passage citations); the guardrails (guardrails.h: checkNarrative)
// reject an answer citing an id the context does not know.

#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::ai {

/// What the AI layer is asked to write; each task has its own route of providers (ai.route.*)
/// and its own output schema.
enum class Task { Runbook, Summary, Explanation };

/// "runbook", "summary", "explanation" (config keys, the usage ledger, stored answers).
const char* taskName(Task task);

struct Claim {
  std::string text;
  std::vector<std::string> evidence;  // at least one id
};

/// A summary or an explanation (`task` says which; `checks` is the explanation's only).
struct Narrative {
  Task task = Task::Summary;
  std::string incident_id;
  /// The summary text, or the cause the explanation explains.
  std::string text;
  /// The summary's claims, or the explanation's chain of evidence.
  std::vector<Claim> claims;
  /// What would confirm or refute the cause (explanation).
  std::vector<Claim> checks;
  double confidence = 0.0;  // in [0, 1]
  std::string provider;
  std::vector<std::string> fallbacks;
  bool cached = false;
};

/// Limits of a narrative's shape (also what parsing a provider's answer enforces).
inline constexpr std::size_t kMaxClaims = 15;
inline constexpr std::size_t kMaxEvidencePerClaim = 20;
inline constexpr std::size_t kMaxNarrativeTextBytes = 4096;

/// The narrative as a JSON object (text), with the keys of its task.
std::string narrativeToJson(const Narrative& narrative);

/// Parses a narrative of `task` (Summary or Explanation): the text and at least one claim are
/// required, each claim an object with a non-empty text and 1 to kMaxEvidencePerClaim evidence
/// ids; unknown keys are ignored; wrong types and sizes are InvalidArgument naming the field.
Result<Narrative> narrativeFromJson(Task task, std::string_view json);

/// Every evidence id the narrative cites, in order, without repeats.
std::vector<std::string> citedIds(const Narrative& narrative);

}  // namespace faultline::aggregator::ai
