#pragma once

// The knowledge a tenant's responders search (issue 8, retrieval): past incidents and runbooks,
// cut into passages the store indexes with BM25 (store/knowledge_records.h). This module turns
// text into passages and query terms, and an incident into its document:
//
//   incident  title + status + services | events (titles, templates) | likely causes (RCA top
//             candidates) | resolution notes (comments), one passage each | the postmortem
//             (Markdown written by responders, cut at headings like a runbook)
//   runbook   Markdown cut at headings (ATX "#" lines), long sections cut at paragraphs
//
// Incidents are indexed when they resolve or close, and again whenever a resolved or closed
// incident is written (a comment, a new ranking); a reopened incident keeps its last entry.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/store/store.h"

namespace faultline::aggregator::knowledge {

class KnowledgeEmbeddings;  // embeddings.h

/// Bytes of a passage at most (a longer section is cut at paragraphs, then lines, then bytes).
inline constexpr std::size_t kMaxPassageBytes = 2000;
/// Bytes of a runbook's Markdown at most.
inline constexpr std::size_t kMaxRunbookBytes = 256 * 1024;
/// Bytes of an incident's postmortem at most.
inline constexpr std::size_t kMaxPostmortemBytes = 128 * 1024;
/// The task name an incident's postmortem is stored under, beside the AI answers of the
/// incident (store::AiAnswerRecord: one text per incident and kind, with who wrote it).
inline constexpr std::string_view kPostmortemTask = "postmortem";

/// Events of an incident read into its document at most (its first ones).
inline constexpr std::size_t kMaxIncidentEventsIndexed = 200;

/// `text` as valid UTF-8 without NUL: invalid bytes become '?'.
std::string validUtf8(std::string_view text);

/// Word tokens for a query: ASCII letters and digits, lower-cased, 2..64 bytes, deduplicated in
/// order of first appearance; common English words and pure numbers dropped.
std::vector<std::string> queryTerms(std::string_view text,
                                    std::size_t max_terms = store::kMaxKnowledgeTerms);

/// Markdown cut into passages at headings; each passage's heading is the heading text.
std::vector<store::KnowledgePassage> chunkMarkdown(std::string_view markdown);

/// A runbook's knowledge document (kind "runbook"): its Markdown cut at headings, after one
/// passage (seq 0, heading "Runbook") with the title and services, so those are findable too.
/// The passage count is not checked here (the store refuses past kMaxKnowledgePassages).
store::KnowledgeDocument runbookDocument(std::string_view tenant_id, std::string_view id,
                                         std::string_view title, std::string_view markdown,
                                         const std::vector<std::string>& services,
                                         std::int64_t now_ns);

/// What an incident's document is made of.
struct IncidentFacts {
  std::string id;
  std::string title;
  std::string status;
  std::vector<std::string> services;
  std::vector<std::string> event_lines;  // distinct event titles and templates, first first
  std::vector<std::string> causes;       // "service ts-order-service (confidence 0.82)"...
  std::vector<std::string> comments;     // resolution notes, oldest first
  std::string postmortem;                // Markdown; empty when none was written
};

/// The stored form of a postmortem: body {"markdown": ...}, written by `actor`.
store::AiAnswerRecord postmortemRecord(std::string_view tenant_id, std::string_view incident_id,
                                       const std::string& markdown, std::string_view actor,
                                       std::int64_t now_ns);
/// The Markdown of a stored postmortem ("" when its body is not one).
std::string postmortemMarkdown(const store::AiAnswerRecord& record);

/// The incident's knowledge document (kind "incident").
store::KnowledgeDocument incidentDocument(std::string_view tenant_id, const IncidentFacts& facts,
                                          std::int64_t now_ns);

/// Bytes of an incident's query text at most (cut at a line; the first events are kept).
inline constexpr std::size_t kMaxIncidentQueryTextBytes = 4096;
/// The text that finds incidents like this one: services and causes first (they say the
/// most), then the title and the events; what an embedding of the incident is made from.
std::string incidentQueryText(const IncidentFacts& facts);
/// The terms of the same text, uncut (queryTerms keeps the first 64), what BM25 matches.
std::vector<std::string> incidentQueryTerms(const IncidentFacts& facts);

/// Reads an incident's facts from the store (row, document, first events, comments).
/// NotFound when the tenant has no such incident.
Result<IncidentFacts> loadIncidentFacts(store::Store& store, std::string_view tenant_id,
                                        std::string_view incident_id);

/// Whether an incident with this status belongs in the index (resolved or closed).
bool indexedStatus(std::string_view status);

/// Loads the incident and writes its document (when its status is indexed), its passages
/// embedded first when `embeddings` is given (an embedding failure leaves BM25 only).
Status indexIncident(store::Store& store, std::string_view tenant_id, std::string_view incident_id,
                     std::int64_t now_ns, KnowledgeEmbeddings* embeddings = nullptr);

}  // namespace faultline::aggregator::knowledge
