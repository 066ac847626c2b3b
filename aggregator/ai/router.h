#pragma once

// The provider router (issue 8): for a task, the configured providers in order (ai.route), each
// tried at most twice (one retry, on any failure: transport, timeout, HTTP error, a failed
// guardrail check; not when the tenant's token budget is spent), then the next; the offline
// provider always answers last. The answer says
// which provider answered (Runbook::provider) and why each one before it did not
// (Runbook::fallbacks, "openai: invented evidence ids: evt_x (after a retry)").

#include <memory>
#include <mutex>
#include <vector>

#include "aggregator/ai/provider.h"

namespace faultline::aggregator::ai {

class Router {
 public:
  explicit Router(std::vector<std::shared_ptr<Provider>> providers)
      : providers_(std::move(providers)) {}

  Runbook write(const AiContext& context) const;

  struct Stats {
    std::uint64_t answered = 0;  // by a configured provider
    std::uint64_t retries = 0;
    std::uint64_t fallbacks = 0;  // answers by the offline provider after another failed
  };
  Stats stats() const;

 private:
  std::vector<std::shared_ptr<Provider>> providers_;
  mutable std::mutex mutex_;
  mutable Stats stats_;
};

}  // namespace faultline::aggregator::ai
