#pragma once

// Which model providers a tenant's data may reach (issue 8; ai.tenant_policy). Entries are
// "tenant: providers", a comma-separated list:
//
//   "acme: offline"           acme's incidents never leave the aggregator: the offline
//                             provider answers every task, no model provider is called
//   "globex: openai"          globex may use openai only (anthropic is skipped on its routes)
//   "*: offline"              the default for tenants not listed (without it: every provider
//                             on the task's route, ai.route.<task>)
//
// The policy only narrows a task's route (ai.route.runbook/summary/explanation): the order is
// the route's, and a provider the route does not name is never added. The offline provider is
// always allowed, and always answers last.

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::ai {

class TenantPolicy {
 public:
  /// Parses the entries. InvalidArgument (naming ai.tenant_policy and the entry) for an empty
  /// tenant, a provider not in `known` nor "offline", a tenant listed twice.
  static Result<TenantPolicy> parse(const std::vector<std::string>& entries,
                                    const std::set<std::string>& known);

  /// Whether the tenant's data may be sent to `provider` (always true for "offline").
  bool allows(std::string_view tenant_id, std::string_view provider) const;

 private:
  // tenant id ("*": the default) -> the providers it may use ("offline" not kept).
  std::map<std::string, std::set<std::string>, std::less<>> allowed_;
};

}  // namespace faultline::aggregator::ai
