#include "aggregator/ai/router.h"

#include "aggregator/ai/offline_provider.h"
#include "shared/util/log.h"

namespace faultline::aggregator::ai {

Runbook Router::write(const AiContext& context) const {
  std::vector<std::string> fallbacks;
  std::uint64_t retries = 0;
  for (const std::shared_ptr<Provider>& provider : providers_) {
    Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (attempt == 1) {
        ++retries;
      }
      Result<Runbook> answer = provider->generate(context);
      if (answer.isOk()) {
        Runbook runbook = std::move(*answer);
        runbook.provider = provider->name();
        runbook.fallbacks = fallbacks;
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.answered;
        stats_.retries += retries;
        return runbook;
      }
      last = answer.status();
      if (last.code() == Errc::ResourceExhausted) {
        break;  // the token budget: another try would be refused the same way
      }
    }
    std::string reason = last.message();
    if (reason.rfind(provider->name() + ":", 0) != 0) {
      reason = provider->name() + ": " + reason;
    }
    if (last.code() != Errc::ResourceExhausted) {
      reason += " (after a retry)";
    }
    log::warn("ai", "falling back: " + reason);
    fallbacks.push_back(std::move(reason));
  }
  Runbook runbook = offlineRunbook(context);
  runbook.fallbacks = std::move(fallbacks);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.retries += retries;
  if (!runbook.fallbacks.empty()) {
    ++stats_.fallbacks;
  }
  return runbook;
}

Router::Stats Router::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace faultline::aggregator::ai
