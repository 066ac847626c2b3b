#include "aggregator/ai/context.h"

#include <algorithm>

#include "aggregator/knowledge/knowledge.h"
#include "shared/logparse/severity.h"

namespace faultline::aggregator::ai {

Result<AiContext> gatherContext(store::Store& store, std::string_view tenant_id,
                                std::string_view incident_id) {
  FL_ASSIGN_OR_RETURN(store::IncidentRow row, store.findIncident(tenant_id, incident_id));
  AiContext context;
  context.tenant_id = std::string(tenant_id);
  context.incident_id = row.id;
  context.title = row.title;
  context.status = row.status;
  context.severity = row.severity;
  context.evidence_ids.insert(row.id);
  context.first_ns = row.first_event_ns;
  incidents::Incident incident;
  const bool have_doc = incidents::Incident::fromDocJson(row.doc_json, &incident).isOk();
  if (have_doc) {
    for (const auto& entry : incident.services) {
      context.services.push_back(entry.first);
    }
    for (const incidents::Candidate& candidate : incident.candidates) {
      if (context.candidates.size() >= kMaxContextCandidates) {
        break;
      }
      context.candidates.push_back(candidate);
    }
  }
  FL_ASSIGN_OR_RETURN(
      std::vector<store::IncidentEventRow> links,
      store.listIncidentEvents(tenant_id, incident_id, store::kMaxIncidentEventsListed));
  std::vector<std::string> ids;
  for (const store::IncidentEventRow& link : links) {
    context.evidence_ids.insert(link.event_id);
    ++context.event_total;
    if (ids.size() < kMaxContextEvents) {
      ids.push_back(link.event_id);
    }
  }
  // The chain's events: only those of the incident (an id the context cannot vouch for is
  // never offered as evidence).
  if (have_doc) {
    for (const incidents::ChainStep& step : incident.chain) {
      if (context.chain.size() >= kMaxContextChain) {
        break;
      }
      if (context.evidence_ids.count(step.event_id) != 0) {
        context.chain.push_back(step);
        if (std::find(ids.begin(), ids.end(), step.event_id) == ids.end()) {
          ids.push_back(step.event_id);
        }
      }
    }
  }
  // The candidates' evidence: those are the events a step will cite.
  for (const incidents::Candidate& candidate : context.candidates) {
    for (const std::string& id : candidate.evidence) {
      if (ids.size() >= kMaxContextEvents + 20) {
        break;
      }
      if (context.evidence_ids.count(id) != 0 &&
          std::find(ids.begin(), ids.end(), id) == ids.end()) {
        ids.push_back(id);
      }
    }
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> events, store.findEvents(tenant_id, ids));
  std::sort(events.begin(), events.end(),
            [](const store::StoredEvent& a, const store::StoredEvent& b) {
              return a.event.occurred_at_ns != b.event.occurred_at_ns
                         ? a.event.occurred_at_ns < b.event.occurred_at_ns
                         : a.id < b.id;
            });
  for (const store::StoredEvent& stored : events) {
    EvidenceEvent event;
    event.id = stored.id;
    event.service = stored.event.service;
    event.title = stored.event.title;
    event.severity = std::string(logparse::severityName(stored.event.severity));
    event.occurred_at_ns = stored.event.occurred_at_ns;
    context.events.push_back(std::move(event));
  }

  // Retrieval: the incident's own query over runbooks and past incidents (never itself).
  FL_ASSIGN_OR_RETURN(knowledge::IncidentFacts facts,
                      knowledge::loadIncidentFacts(store, tenant_id, incident_id));
  store::KnowledgeQuery query;
  query.terms = knowledge::incidentQueryTerms(facts);
  query.kinds = {"incident", "runbook"};
  query.exclude_kind = "incident";
  query.exclude_id = std::string(incident_id);
  query.limit = kMaxContextPassages;
  FL_ASSIGN_OR_RETURN(std::vector<store::KnowledgeHit> hits,
                      store.searchKnowledge(tenant_id, query));
  double best = 0.0;
  for (const store::KnowledgeHit& hit : hits) {
    best = std::max(best, hit.score);
  }
  for (const store::KnowledgeHit& hit : hits) {
    if (hit.kind == "incident") {
      context.evidence_ids.insert(hit.id);
    }
    std::vector<store::KnowledgePassage> full;
    if (hit.kind == "runbook") {
      auto document = store.findKnowledgeDocument(tenant_id, "runbook", hit.id);
      if (document.isOk()) {
        full = knowledge::runbookDocument(tenant_id, document->id, document->title, document->body,
                                          document->services, 0)
                   .passages;
      }
    }
    for (const store::KnowledgePassageHit& passage : hit.passages) {
      if (context.passages.size() >= kMaxContextPassages) {
        break;
      }
      RetrievedPassage out;
      out.citation_id = hit.kind + ":" + hit.id + "#" + std::to_string(passage.seq);
      out.kind = hit.kind;
      out.doc_id = hit.id;
      out.title = hit.title;
      out.heading = passage.heading;
      std::size_t seq = static_cast<std::size_t>(passage.seq);
      out.text = seq < full.size() ? full[seq].text : passage.snippet;
      out.score = passage.score;
      out.relative_score = best > 0.0 ? std::clamp(passage.score / best, 0.0, 1.0) : 0.0;
      context.evidence_ids.insert(out.citation_id);
      context.passages.push_back(std::move(out));
    }
  }
  std::stable_sort(
      context.passages.begin(), context.passages.end(),
      [](const RetrievedPassage& a, const RetrievedPassage& b) { return a.score > b.score; });
  return context;
}

}  // namespace faultline::aggregator::ai
