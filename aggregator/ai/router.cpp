#include "aggregator/ai/router.h"

#include "aggregator/ai/offline_provider.h"
#include "shared/util/log.h"

namespace faultline::aggregator::ai {

template <typename Answer, typename Ask, typename Offline>
Answer Router::route(Task task, const AiContext& context, Ask ask, Offline offline) const {
  std::vector<std::string> fallbacks;
  std::uint64_t retries = 0;
  bool failed = false;
  auto found = routes_.find(task);
  const Route empty;
  for (const std::shared_ptr<Provider>& provider : found == routes_.end() ? empty : found->second) {
    if (!policy_.allows(context.tenant_id, provider->name())) {
      // Not a failure: the tenant's data is kept off this provider by design.
      fallbacks.push_back(provider->name() + ": not allowed for this tenant (ai.tenant_policy)");
      continue;
    }
    Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (attempt == 1) {
        ++retries;
      }
      Result<Answer> answer = ask(*provider);
      if (answer.isOk()) {
        Answer out = std::move(*answer);
        out.provider = provider->name();
        out.fallbacks = fallbacks;
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.answered;
        stats_.retries += retries;
        return out;
      }
      last = answer.status();
      if (last.code() == Errc::ResourceExhausted || last.code() == Errc::FailedPrecondition) {
        break;  // the token budget, or a task it cannot write: another try ends the same way
      }
    }
    std::string reason = last.message();
    if (reason.rfind(provider->name() + ":", 0) != 0) {
      reason = provider->name() + ": " + reason;
    }
    if (last.code() != Errc::ResourceExhausted && last.code() != Errc::FailedPrecondition) {
      reason += " (after a retry)";
    }
    log::warn("ai", std::string(taskName(task)) + ": falling back: " + reason);
    fallbacks.push_back(std::move(reason));
    failed = true;
  }
  Answer out = offline();
  out.fallbacks = std::move(fallbacks);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.retries += retries;
  if (failed) {
    ++stats_.fallbacks;
  }
  return out;
}

Runbook Router::write(const AiContext& context) const {
  return route<Runbook>(
      Task::Runbook, context, [&](Provider& provider) { return provider.generate(context); },
      [&] { return offlineRunbook(context); });
}

Narrative Router::narrate(Task task, const AiContext& context) const {
  return route<Narrative>(
      task, context, [&](Provider& provider) { return provider.narrate(task, context); },
      [&] { return offlineNarrative(task, context); });
}

Router::Stats Router::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace faultline::aggregator::ai
