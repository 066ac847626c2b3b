#pragma once

// A provider writes a runbook, a summary or an explanation for an incident from its context
// (issue 8). The offline provider
// (offline_provider.h) is the default and the last resort: deterministic, no key, no network.

#include <string>

#include "aggregator/ai/context.h"
#include "aggregator/ai/narrative.h"
#include "aggregator/ai/runbook.h"

namespace faultline::aggregator::ai {

class Provider {
 public:
  virtual ~Provider() = default;
  /// Its name in answers and the usage ledger ("offline", "openai"...).
  virtual std::string name() const = 0;
  /// A runbook for the context's incident; an error says why there is none (the router falls
  /// back and shows it).
  virtual Result<Runbook> generate(const AiContext& context) = 0;
  /// A summary or an explanation (`task`); by default none (FailedPrecondition: the router falls
  /// back to the next provider).
  virtual Result<Narrative> narrate(Task task, const AiContext& context) {
    (void)context;
    return Status(Errc::FailedPrecondition, name() + ": cannot write a " + taskName(task));
  }
};

}  // namespace faultline::aggregator::ai
