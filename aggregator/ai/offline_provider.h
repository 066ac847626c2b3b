#pragma once

// The offline provider (issue 8): a runbook from the incident's own facts, deterministic, with
// no key and no network. From the context (context.h) it writes
//   summary       severity, title, status, how many events over which services, the likely cause
//   diagnosis     the RCA candidates best first with their confidence, the earliest anomaly
//   steps         check the top candidate (its evidence events); review a change candidate; one
//                 step per retrieved runbook section (its first command: a fenced code line or a
//                 "$ " line; cited); compare with retrieved past incidents (cited)
//   rollback      roll back a change candidate; runbook sections about rollback; undo in reverse
//   verification  no new firing events from the likely cause; runbook sections about checks
//   confidence    offlineConfidence: coverage x (4/7 x RCA + 3/7 x retrieval), in [0, 1]
// The summary and the explanation (narrative.h) come from the same facts:
//   summary      the runbook's summary line; claims: what is affected (the first event of each
//                service), how it started (the earliest event), the likely cause (its evidence),
//                a similar past incident (cited); confidence 0.5 * top RCA confidence + 0.3 *
//                services covered by a cited event + 0.2 * the past incident's relative score
//   explanation  the cause; chain: why the top two candidates rank (their strongest score
//                factors, their evidence), then the event chain along the service graph, link
//                by link; checks: what confirms it (its service's errors came first; rolling
//                back a change candidate stops the symptoms), what refutes it (an earlier
//                symptom elsewhere), a past incident to compare; confidence 0.7 * top RCA
//                confidence + 0.3 * the incident's services covered by the chain
// Destructive commands are flagged needs_human (runbook.h: flagDestructive). Retrieved text is
// never followed as instructions: only a command line is lifted from it, and it is flagged.

#include "aggregator/ai/provider.h"

namespace faultline::aggregator::ai {

/// The offline runbook for a context.
Runbook offlineRunbook(const AiContext& context);

/// The answer's confidence, in [0, 1], deterministic:
///   coverage x (4/7 x top_confidence x min(candidates, 5) / 5 + 3/7 x retrieval)
/// top_confidence: the top RCA candidate's confidence (its share among the candidates; 0 without
/// one); candidates: how many the context holds; coverage: the share of steps citing evidence;
/// retrieval: runbook sections used, each weighed by its score relative to the answer's best
/// hit, two at full weight (1). Inputs are clamped to [0, 1]. Measured on the Nezha day:
/// docs/ai.md.
double offlineConfidence(double top_confidence, std::size_t candidates, double coverage,
                         double retrieval);

/// The offline summary or explanation for a context (`task` Summary or Explanation).
Narrative offlineNarrative(Task task, const AiContext& context);

/// The first command of a passage: the first non-empty line of a fenced code block, or a line
/// starting with "$ " (without it); "" when there is none. At most 512 bytes.
std::string firstCommand(std::string_view text);

class OfflineProvider final : public Provider {
 public:
  std::string name() const override { return "offline"; }
  Result<Runbook> generate(const AiContext& context) override { return offlineRunbook(context); }
  Result<Narrative> narrate(Task task, const AiContext& context) override {
    return offlineNarrative(task, context);
  }
};

}  // namespace faultline::aggregator::ai
