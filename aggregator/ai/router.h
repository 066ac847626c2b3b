#pragma once

// The provider router (issue 8): for a task (runbook, summary, explanation), the providers of
// its route in order (ai.route.<task>) that the tenant's policy allows (ai.tenant_policy,
// tenant_policy.h), each tried at most twice (one retry, on any failure: transport, timeout,
// HTTP error, a failed guardrail check; not when the tenant's token budget is spent or the
// provider cannot write that task), then the next; the offline provider always answers last.
// The answer says which provider answered (provider) and why each one before it did not
// (fallbacks, "openai: invented evidence ids: evt_x (after a retry)"; "openai: not allowed for
// this tenant (ai.tenant_policy)").

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "aggregator/ai/provider.h"
#include "aggregator/ai/tenant_policy.h"

namespace faultline::aggregator::ai {

using Route = std::vector<std::shared_ptr<Provider>>;

class Router {
 public:
  /// Runbooks only: `providers` is the runbook route; the other tasks are offline.
  explicit Router(Route providers) { routes_[Task::Runbook] = std::move(providers); }
  /// A route per task (a task not in `routes` is offline), narrowed per tenant by `policy`.
  Router(std::map<Task, Route> routes, TenantPolicy policy)
      : routes_(std::move(routes)), policy_(std::move(policy)) {}

  Runbook write(const AiContext& context) const;
  /// A summary or an explanation.
  Narrative narrate(Task task, const AiContext& context) const;

  struct Stats {
    std::uint64_t answered = 0;  // by a configured provider
    std::uint64_t retries = 0;
    std::uint64_t fallbacks = 0;  // answers by the offline provider after another failed
  };
  Stats stats() const;

 private:
  /// The one routing loop: `ask` a provider, or `offline` when none answers.
  template <typename Answer, typename Ask, typename Offline>
  Answer route(Task task, const AiContext& context, Ask ask, Offline offline) const;

  std::map<Task, Route> routes_;
  TenantPolicy policy_;
  mutable std::mutex mutex_;
  mutable Stats stats_;
};

}  // namespace faultline::aggregator::ai
