#pragma once

// A provider writes a runbook for an incident from its context (issue 8). The offline provider
// (offline_provider.h) is the default and the last resort: deterministic, no key, no network.

#include <string>

#include "aggregator/ai/context.h"
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
};

}  // namespace faultline::aggregator::ai
