#include "aggregator/ai/offline_provider.h"

#include <algorithm>
#include <cmath>
#include <sstream>

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
  std::string services;
  for (const std::string& service : context.services) {
    services += (services.empty() ? "" : ", ") + service;
  }

  // Summary and diagnosis.
  std::ostringstream summary;
  summary << (context.severity.empty() ? std::string("unknown") : context.severity)
          << " incident \"" << context.title << "\" (" << context.status
          << "): " << context.event_total << (context.event_total == 1 ? " event" : " events");
  if (!services.empty()) {
    summary << " from " << services;
  }
  summary << ".";
  if (top != nullptr) {
    summary << " Most likely cause: " << candidateName(*top) << ", confidence "
            << percent(top->confidence) << ".";
  } else {
    summary << " No likely cause is ranked yet.";
  }
  runbook.summary = summary.str();

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

}  // namespace faultline::aggregator::ai
