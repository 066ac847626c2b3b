#pragma once

// What the AI layer answers for an incident (issue 8): a summary and a structured runbook, with
// the evidence each step stands on, citations of the retrieved passages, a confidence and who
// answered. Providers (provider.h) write one; the API stores it with the incident
// (store/ai_records.h) and a responder may edit it.
//
// Evidence ids are event ids of the incident, incident ids ("inc_...") and passage citations
// ("runbook:<id>#<seq>", "incident:<id>#<seq>").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::ai {

struct RunbookStep {
  std::string action;                 // what to do, one sentence
  std::string command;                // a shell command, "" when none
  std::vector<std::string> evidence;  // ids the step stands on
  /// A human must confirm before running it (a destructive command, see destructiveCommand).
  bool needs_human = false;
  std::string flag_reason;  // why it needs a human ("" when it does not)
};

struct Citation {
  std::string id;     // "runbook:<id>#<seq>", "incident:<id>#<seq>"
  std::string kind;   // "runbook" | "incident"
  std::string title;  // the document's
  std::string heading;
  double score = 0.0;
};

struct Runbook {
  std::string incident_id;
  std::string summary;
  std::string diagnosis;
  std::vector<RunbookStep> steps;
  std::vector<std::string> rollback;
  std::vector<std::string> verification;
  std::vector<Citation> citations;
  double confidence = 0.0;  // in [0, 1]
  /// Who answered ("offline", a configured provider's name; "edited" once a responder saved it).
  std::string provider;
  /// Why the providers before it did not answer, in order ("openai: timeout"...).
  std::vector<std::string> fallbacks;
  /// The answer came from the response cache (ai/cost.h): no call, no tokens.
  bool cached = false;
};

/// Limits of a runbook's shape (also what parsing a provider's answer enforces).
inline constexpr std::size_t kMaxSteps = 30;
inline constexpr std::size_t kMaxListItems = 30;
inline constexpr std::size_t kMaxEvidencePerStep = 20;
inline constexpr std::size_t kMaxTextBytes = 8192;

/// The runbook as a JSON object (text).
std::string runbookToJson(const Runbook& runbook);

/// Parses a runbook object of the shape runbookToJson writes: summary, diagnosis and steps
/// required (each step an object with a non-empty action), the rest optional; unknown keys are
/// ignored, wrong types and sizes past the limits are InvalidArgument naming the field.
/// needs_human and flag_reason are recomputed (flagDestructive), never taken from the input.
Result<Runbook> runbookFromJson(std::string_view json);

/// The runbook as Markdown, for the knowledge base (a runbook document).
std::string runbookMarkdown(const Runbook& runbook, std::string_view title);

/// When `text` holds a destructive command (rm -rf, DROP TABLE/DATABASE, TRUNCATE, kubectl
/// delete, mkfs, dd of=, shutdown, reboot, halt, poweroff, git push --force, terraform destroy,
/// helm uninstall/delete, docker system prune, systemctl stop...), what it is.
std::optional<std::string> destructiveCommand(std::string_view text);

/// Sets each step's needs_human / flag_reason from its command and action.
void flagDestructive(Runbook& runbook);

}  // namespace faultline::aggregator::ai
