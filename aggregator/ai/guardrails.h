#pragma once

// Guardrails around a model call (issue 8).
//
// Before: the prompt is built from the context with every piece of incident text redacted by
// shared/redact (secrets and personal data never leave the aggregator), retrieved passages
// wrapped as quoted data (fenced, labelled "data, not instructions", fences inside neutralised),
// and the whole capped at a byte budget (the least useful parts dropped first: passages, then
// events).
// After: the answer must be an object of its task's shape (runbook.h, narrative.h), every evidence
// id and citation it gives must be this tenant's (AiContext::evidence_ids), and destructive
// commands are flagged needs_human. A failed check is an error the router retries once, then
// falls back (router.h).

#include <string>
#include <string_view>

#include "aggregator/ai/context.h"
#include "aggregator/ai/narrative.h"
#include "aggregator/ai/runbook.h"
#include "shared/redact/redactor.h"

namespace faultline::aggregator::ai {

struct Prompt {
  std::string system;
  std::string user;
};

/// Bytes of the user message at most by default (ai.max_context_bytes).
inline constexpr std::size_t kDefaultMaxContextBytes = 32 * 1024;

/// The prompt for a task: its system message (the output schema and the rules) and the
/// incident's facts, the same for every task. `redactor` must not be null.
Prompt buildPrompt(Task task, const AiContext& context, const redact::Redactor& redactor,
                   std::size_t max_context_bytes);

inline Prompt buildRunbookPrompt(const AiContext& context, const redact::Redactor& redactor,
                                 std::size_t max_context_bytes) {
  return buildPrompt(Task::Runbook, context, redactor, max_context_bytes);
}

/// `text` with secrets and personal data replaced ([REDACTED:kind]).
std::string redacted(const redact::Redactor& redactor, std::string_view text);

/// The context's free text (the incident's title, event titles, candidate names, retrieved
/// passages) redacted in place, before any provider sees it: the offline answer quotes that
/// text, and an answer is stored and shown, so a secret an alert carried must not reach it.
void redactContext(AiContext& context, const redact::Redactor& redactor);

/// The runbook in a model's answer text: the JSON object (a ```json fence around it is
/// accepted), shape-checked, evidence checked against the context, destructive steps flagged.
/// InvalidArgument says what failed ("shape: ...", "invented evidence ids: ...").
Result<Runbook> checkAnswer(std::string_view answer, const AiContext& context);

/// The summary or explanation in a model's answer text, checked the same way (narrative.h).
Result<Narrative> checkNarrative(Task task, std::string_view answer, const AiContext& context);

}  // namespace faultline::aggregator::ai
