#include "aggregator/ai/offline_provider.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "shared/util/time.h"

namespace faultline::aggregator::ai {
namespace {

constexpr std::size_t kMaxCommandBytes = 512;
constexpr std::size_t kEvidencePerStep = 5;
constexpr std::size_t kRunbookSteps = 3;
constexpr std::size_t kIncidentSteps = 2;

std::string percent(double value) {
  return std::to_string(static_cast<int>(std::lround(std::clamp(value, 0.0, 1.0) * 100.0))) + "%";
}

std::string candidateName(const incidents::Candidate& candidate) {
  std::string out = candidate.kind + " " + candidate.name;
  if (!candidate.service.empty() && candidate.service != candidate.name) {
    out += " (service " + candidate.service + ")";
  }
  return out;
}

std::string trim(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) {
    return {};
  }
  std::size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

std::string lowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + ('a' - 'A'));
    }
  }
  return out;
}

bool mentions(std::string_view heading, std::initializer_list<const char*> words) {
  std::string h = lowerAscii(heading);
  for (const char* word : words) {
    if (h.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

/// The candidate's evidence that the context knows (never an id it cannot vouch for).
std::vector<std::string> knownEvidence(const AiContext& context,
                                       const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const std::string& id : ids) {
    if (out.size() >= kEvidencePerStep) {
      break;
    }
    if (context.evidence_ids.count(id) != 0) {
      out.push_back(id);
    }
  }
  return out;
}

/// "critical incident "orders failing" (triggered) since <time>: 3 events from db, orders.
/// Most likely cause: service db, confidence 80%." (the runbook's and the summary's first line).
std::string summaryLine(const AiContext& context) {
  const incidents::Candidate* top = context.candidates.empty() ? nullptr : &context.candidates[0];
  std::ostringstream summary;
  summary << (context.severity.empty() ? std::string("unknown") : context.severity)
          << " incident \"" << context.title << "\" (" << context.status << ")";
  if (context.first_ns > 0) {
    summary << " since " << formatRfc3339Millis(context.first_ns);
  }
  summary << ": " << context.event_total << (context.event_total == 1 ? " event" : " events");
  if (!context.services.empty()) {
    summary << " from ";
    for (std::size_t i = 0; i < context.services.size(); ++i) {
      summary << (i == 0 ? "" : ", ") << context.services[i];
    }
  }
  summary << ".";
  if (top != nullptr) {
    summary << " Most likely cause: " << candidateName(*top) << ", confidence "
            << percent(top->confidence) << ".";
  } else {
    summary << " No likely cause is ranked yet.";
  }
  return summary.str();
}

const EvidenceEvent* findEvent(const AiContext& context, std::string_view id) {
  for (const EvidenceEvent& event : context.events) {
    if (event.id == id) {
      return &event;
    }
  }
  return nullptr;
}

/// "db: connection refused at 2026-...Z" for an event of the context ("evt_1" when unknown).
std::string describeEvent(const AiContext& context, std::string_view id) {
  const EvidenceEvent* event = findEvent(context, id);
  if (event == nullptr) {
    return std::string(id);
  }
  return (event->service.empty() ? "" : event->service + ": ") + "\"" + event->title + "\" at " +
         formatRfc3339Millis(event->occurred_at_ns);
}

/// The candidate's score factors, strongest first ("precedence 90%, graph 70%").
std::string strongestFactors(const incidents::Candidate& candidate) {
  std::vector<std::pair<std::string, double>> factors(candidate.factors.begin(),
                                                      candidate.factors.end());
  std::stable_sort(factors.begin(), factors.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (std::size_t i = 0; i < factors.size() && i < 3; ++i) {
    out += (i == 0 ? "" : ", ") + factors[i].first + " " + percent(factors[i].second);
  }
  return out;
}

/// The best retrieved past incident, or null.
const RetrievedPassage* pastIncident(const AiContext& context) {
  for (const RetrievedPassage& passage : context.passages) {
    if (passage.kind == "incident") {
      return &passage;
    }
  }
  return nullptr;
}

void addClaim(std::vector<Claim>& claims, std::string text, std::vector<std::string> evidence) {
  if (!evidence.empty() && claims.size() < kMaxClaims) {
    claims.push_back({std::move(text), std::move(evidence)});
  }
}

Narrative offlineSummary(const AiContext& context) {
  Narrative out;
  out.task = Task::Summary;
  out.text = summaryLine(context);
  const incidents::Candidate* top = context.candidates.empty() ? nullptr : &context.candidates[0];
  // What is affected: the first event of each service the context holds.
  std::vector<std::string> affected;
  std::vector<std::string> first_per_service;
  for (const EvidenceEvent& event : context.events) {
    if (std::find(affected.begin(), affected.end(), event.service) == affected.end()) {
      affected.push_back(event.service);
      if (first_per_service.size() < kEvidencePerStep) {
        first_per_service.push_back(event.id);
      }
    }
  }
  std::string names;
  for (const std::string& service : affected) {
    names +=
        (names.empty() ? "" : ", ") + (service.empty() ? std::string("(no service)") : service);
  }
  addClaim(out.claims, "Affected: " + names + ".", first_per_service);
  if (!context.events.empty()) {
    addClaim(out.claims,
             "It started with " + describeEvent(context, context.events.front().id) + ".",
             {context.events.front().id});
  }
  if (top != nullptr) {
    addClaim(out.claims,
             "Most likely cause: " + candidateName(*top) + " (confidence " +
                 percent(top->confidence) + ").",
             knownEvidence(context, top->evidence));
  }
  const RetrievedPassage* past = pastIncident(context);
  if (past != nullptr) {
    addClaim(out.claims, "A similar past incident: \"" + past->title + "\" (" + past->doc_id + ").",
             {past->doc_id, past->citation_id});
  }
  if (out.claims.empty()) {
    addClaim(out.claims, "The incident has no events yet.", {context.incident_id});
  }
  // Confidence: the cause's, how much of what is affected is cited, a similar past incident.
  const double coverage =
      context.services.empty()
          ? (affected.empty() ? 0.0 : 1.0)
          : std::min(1.0, static_cast<double>(affected.size()) / context.services.size());
  out.confidence = std::clamp(0.5 * (top != nullptr ? top->confidence : 0.0) + 0.3 * coverage +
                                  0.2 * (past != nullptr ? past->relative_score : 0.0),
                              0.0, 1.0);
  return out;
}

Narrative offlineExplanation(const AiContext& context) {
  Narrative out;
  out.task = Task::Explanation;
  const incidents::Candidate* top = context.candidates.empty() ? nullptr : &context.candidates[0];
  out.text = top != nullptr ? candidateName(*top) + ", confidence " + percent(top->confidence)
                            : "No cause is ranked yet.";
  // Why the top candidates rank where they do.
  for (std::size_t i = 0; i < context.candidates.size() && i < 2; ++i) {
    const incidents::Candidate& candidate = context.candidates[i];
    std::string text = (i == 0 ? "The most likely cause, " : "The next candidate, ") +
                       candidateName(candidate) + ", confidence " + percent(candidate.confidence);
    const std::string factors = strongestFactors(candidate);
    text += factors.empty() ? "." : ": its score stands on " + factors + ".";
    std::vector<std::string> evidence = knownEvidence(context, candidate.evidence);
    if (!evidence.empty()) {
      text += " Its first evidence: " + describeEvent(context, evidence.front()) + ".";
    }
    addClaim(out.claims, std::move(text), std::move(evidence));
  }
  // The chain along the service graph, from the first anomaly to the symptoms.
  for (const incidents::ChainStep& step : context.chain) {
    std::string text = step.via.empty()
                           ? "The first anomaly is on " + step.service + ": " +
                                 describeEvent(context, step.event_id) + "."
                           : step.service + " follows " + step.via + " along the service graph: " +
                                 describeEvent(context, step.event_id) + ".";
    addClaim(out.claims, std::move(text), knownEvidence(context, {step.event_id}));
  }
  if (out.claims.empty()) {
    addClaim(out.claims, "The incident has no ranked cause and no event chain yet.",
             {context.incident_id});
  }
  // What would confirm or refute it.
  if (top != nullptr) {
    const std::string service = top->service.empty() ? top->name : top->service;
    std::vector<std::string> first = knownEvidence(context, top->evidence);
    if (!first.empty()) {
      first.resize(1);
    }
    addClaim(out.checks,
             "Confirms it: " + service +
                 "'s own errors began before every other service's, and its logs show why.",
             first);
    for (const EvidenceEvent& event : context.events) {
      if (event.service != service) {
        addClaim(out.checks,
                 "Refutes it: a symptom that began before " + service +
                     "'s first event (the earliest elsewhere: " + describeEvent(context, event.id) +
                     "), or " + service + " healthy while the symptoms go on.",
                 {event.id});
        break;
      }
    }
  }
  for (const incidents::Candidate& candidate : context.candidates) {
    if (candidate.kind == "change") {
      addClaim(out.checks,
               "Confirms it: rolling back the change " + candidate.name + " of " +
                   candidate.service + " stops the symptoms.",
               knownEvidence(context, candidate.evidence));
      break;
    }
  }
  const RetrievedPassage* past = pastIncident(context);
  if (past != nullptr) {
    addClaim(out.checks,
             "Compare with the past incident \"" + past->title + "\" (" + past->doc_id +
                 "): the same cause there makes it more likely here.",
             {past->doc_id, past->citation_id});
  }
  // Confidence: the cause's, and how much of the incident's services the cited chain covers.
  const double chain_coverage =
      context.services.empty()
          ? 0.0
          : std::min(1.0, static_cast<double>(context.chain.size()) / context.services.size());
  out.confidence =
      std::clamp(0.7 * (top != nullptr ? top->confidence : 0.0) + 0.3 * chain_coverage, 0.0, 1.0);
  return out;
}

}  // namespace

std::string firstCommand(std::string_view text) {
  bool fenced = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string line = trim(text.substr(start, end - start));
    start = end + 1;
    if (line.rfind("```", 0) == 0 || line.rfind("~~~", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    std::string command;
    if (line.rfind("$ ", 0) == 0) {
      command = trim(std::string_view(line).substr(2));
    } else if (fenced && !line.empty()) {
      command = line;
    }
    if (!command.empty()) {
      return command.substr(0, kMaxCommandBytes);
    }
    if (end == text.size()) {
      break;
    }
  }
  return {};
}

double offlineConfidence(double top_confidence, std::size_t candidates, double coverage,
                         double retrieval) {
  // The RCA confidence is the top candidate's share among the candidates: with one candidate
  // it is 1 whatever the evidence, so it counts in proportion to the candidates it beat (the
  // context holds at most kMaxContextCandidates). Coverage multiplies: an answer that cites
  // nothing is not known to be right however strong the rest. Weights 4/7 and 3/7: the former
  // 0.4 and 0.3 of RCA and retrieval, renormalised (see docs/ai.md for the measurement).
  double support = static_cast<double>(std::min(candidates, kMaxContextCandidates)) /
                   static_cast<double>(kMaxContextCandidates);
  double rca = std::clamp(top_confidence, 0.0, 1.0) * support;
  double found = std::clamp(retrieval, 0.0, 1.0);
  return std::clamp(std::clamp(coverage, 0.0, 1.0) * (4.0 / 7.0 * rca + 3.0 / 7.0 * found), 0.0,
                    1.0);
}

Runbook offlineRunbook(const AiContext& context) {
  Runbook runbook;
  runbook.incident_id = context.incident_id;
  runbook.provider = "offline";
  const incidents::Candidate* top = context.candidates.empty() ? nullptr : &context.candidates[0];
  const incidents::Candidate* change = nullptr;
  for (const incidents::Candidate& candidate : context.candidates) {
    if (candidate.kind == "change") {
      change = &candidate;
      break;
    }
  }
  // Summary and diagnosis.
  runbook.summary = summaryLine(context);

  std::ostringstream diagnosis;
  if (top != nullptr) {
    diagnosis << "Likely causes, best first: ";
    for (std::size_t i = 0; i < context.candidates.size(); ++i) {
      diagnosis << (i == 0 ? "" : "; ") << candidateName(context.candidates[i]) << " "
                << percent(context.candidates[i].confidence);
    }
    diagnosis << ".";
  } else {
    diagnosis << "The incident has no ranked cause yet.";
  }
  if (!context.events.empty()) {
    const EvidenceEvent& first = context.events.front();
    diagnosis << " Earliest event: " << (first.service.empty() ? "" : first.service + ": ")
              << first.title << " (" << first.id << ").";
  }
  runbook.diagnosis = diagnosis.str();

  // Steps.
  if (top != nullptr) {
    RunbookStep step;
    step.action = "Check " + candidateName(*top) + ", the most likely cause (confidence " +
                  percent(top->confidence) + "): look at its events and recent changes.";
    step.evidence = knownEvidence(context, top->evidence);
    runbook.steps.push_back(std::move(step));
  } else {
    RunbookStep step;
    step.action = "Look at the incident's earliest events to find where it started.";
    for (const EvidenceEvent& event : context.events) {
      if (step.evidence.size() >= kEvidencePerStep) {
        break;
      }
      step.evidence.push_back(event.id);
    }
    runbook.steps.push_back(std::move(step));
  }
  if (change != nullptr && change != top) {
    RunbookStep step;
    step.action = "Review the change " + change->name + " of " + change->service +
                  ": it came shortly before or during the incident; roll it back if it is the "
                  "cause.";
    step.evidence = knownEvidence(context, change->evidence);
    runbook.steps.push_back(std::move(step));
  }
  std::size_t runbook_steps = 0;
  std::size_t incident_steps = 0;
  double retrieval = 0.0;
  for (const RetrievedPassage& passage : context.passages) {
    if (passage.kind == "runbook") {
      if (runbook_steps >= kRunbookSteps || passage.heading == "Runbook") {
        continue;  // the title-and-services passage says nothing to do
      }
      ++runbook_steps;
      retrieval += passage.relative_score;
      RunbookStep step;
      step.action =
          "Follow runbook \"" + passage.title + "\", section \"" + passage.heading + "\".";
      step.command = firstCommand(passage.text);
      step.evidence = {passage.citation_id};
      runbook.steps.push_back(std::move(step));
      if (mentions(passage.heading, {"rollback", "roll back", "revert", "undo"})) {
        runbook.rollback.push_back("Runbook \"" + passage.title + "\", section \"" +
                                   passage.heading + "\" [" + passage.citation_id + "].");
      }
      if (mentions(passage.heading, {"verif", "check", "confirm", "validat"})) {
        runbook.verification.push_back("Runbook \"" + passage.title + "\", section \"" +
                                       passage.heading + "\" [" + passage.citation_id + "].");
      }
    } else if (passage.kind == "incident") {
      if (incident_steps >= kIncidentSteps) {
        continue;
      }
      ++incident_steps;
      RunbookStep step;
      step.action = "Compare with the past incident \"" + passage.title + "\" (" + passage.doc_id +
                    "): what resolved it may apply here.";
      step.evidence = {passage.doc_id, passage.citation_id};
      runbook.steps.push_back(std::move(step));
    } else {
      continue;
    }
    Citation citation;
    citation.id = passage.citation_id;
    citation.kind = passage.kind;
    citation.title = passage.title;
    citation.heading = passage.heading;
    citation.score = passage.score;
    runbook.citations.push_back(std::move(citation));
  }

  // Rollback and verification.
  if (change != nullptr) {
    runbook.rollback.insert(runbook.rollback.begin(),
                            "Roll back the change " + change->name + " of " + change->service +
                                " [" + (change->evidence.empty() ? "" : change->evidence[0]) +
                                "].");
  }
  runbook.rollback.push_back("Undo the steps taken, in reverse order, if the symptoms get worse.");
  if (top != nullptr) {
    runbook.verification.insert(runbook.verification.begin(),
                                "No new firing events from " +
                                    (top->service.empty() ? top->name : top->service) +
                                    " for 10 minutes.");
  }
  runbook.verification.push_back(
      "The incident's alerts resolve and it receives no new events; then resolve it.");

  // Confidence.
  std::size_t with_evidence = 0;
  for (const RunbookStep& step : runbook.steps) {
    with_evidence += step.evidence.empty() ? 0 : 1;
  }
  double coverage =
      runbook.steps.empty() ? 0.0 : static_cast<double>(with_evidence) / runbook.steps.size();
  runbook.confidence = offlineConfidence(top != nullptr ? top->confidence : 0.0,
                                         context.candidates.size(), coverage, retrieval / 2.0);
  flagDestructive(runbook);
  return runbook;
}

Narrative offlineNarrative(Task task, const AiContext& context) {
  Narrative out = task == Task::Explanation ? offlineExplanation(context) : offlineSummary(context);
  out.incident_id = context.incident_id;
  out.provider = "offline";
  return out;
}

}  // namespace faultline::aggregator::ai
