#pragma once

// Which model providers a tenant's data may reach (issue 8; ai.tenant_policy). Entries are
// "tenant: providers" (the tenant's name, as `admin tenant create` made it, or its id
// "tnt_..."), the providers a comma-separated list:
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

#include <functional>
#include <map>
#include <memory>
#include <mutex>
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

  /// How a tenant name becomes its id (the store's findTenantByName). Looked up when a tenant
  /// id is not listed as such, and remembered, so tenants created after start are covered.
  using IdOf = std::function<Result<std::string>(std::string_view name)>;
  void resolveNamesWith(IdOf id_of);

  /// Whether the tenant's data may be sent to `provider` (always true for "offline").
  bool allows(std::string_view tenant_id, std::string_view provider) const;

 private:
  /// The entry of a tenant id: itself, a name that resolves to it, else "*", else null.
  const std::set<std::string>* entryOf(std::string_view tenant_id) const;

  // tenant name or id ("*": the default) -> the providers it may use ("offline" not kept).
  std::map<std::string, std::set<std::string>, std::less<>> allowed_;
  struct Names {
    IdOf id_of;
    std::mutex mutex;
    std::map<std::string, std::string, std::less<>> ids;  // name -> id, once resolved
  };
  std::shared_ptr<Names> names_ = std::make_shared<Names>();
};

}  // namespace faultline::aggregator::ai
