#include "aggregator/ai/tenant_policy.h"

namespace faultline::aggregator::ai {
namespace {

std::string trimmed(std::string_view text) {
  const std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  const std::size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

}  // namespace

Result<TenantPolicy> TenantPolicy::parse(const std::vector<std::string>& entries,
                                         const std::set<std::string>& known) {
  TenantPolicy policy;
  for (const std::string& entry : entries) {
    auto bad = [&](const std::string& why) {
      return invalidArgument("ai.tenant_policy: '" + entry + "': " + why);
    };
    const std::size_t colon = entry.find(':');
    if (colon == std::string::npos) {
      return bad("expected 'tenant: provider[, provider...]'");
    }
    std::string tenant = trimmed(std::string_view(entry).substr(0, colon));
    if (tenant.empty()) {
      return bad("no tenant");
    }
    if (policy.allowed_.count(tenant) != 0) {
      return bad("the tenant is listed twice");
    }
    std::set<std::string> providers;
    std::string_view rest = std::string_view(entry).substr(colon + 1);
    bool any = false;
    while (true) {
      const std::size_t comma = rest.find(',');
      std::string name = trimmed(rest.substr(0, comma));
      if (name.empty()) {
        return bad("an empty provider name");
      }
      any = true;
      if (name != "offline") {
        if (known.count(name) == 0) {
          return bad("unknown provider '" + name + "' (offline, openai or anthropic)");
        }
        providers.insert(std::move(name));
      }
      if (comma == std::string_view::npos) {
        break;
      }
      rest = rest.substr(comma + 1);
    }
    if (!any) {
      return bad("no provider");
    }
    policy.allowed_.emplace(std::move(tenant), std::move(providers));
  }
  return policy;
}

bool TenantPolicy::allows(std::string_view tenant_id, std::string_view provider) const {
  if (provider == "offline") {
    return true;
  }
  auto found = allowed_.find(tenant_id);
  if (found == allowed_.end()) {
    found = allowed_.find(std::string_view("*"));
    if (found == allowed_.end()) {
      return true;
    }
  }
  return found->second.count(std::string(provider)) != 0;
}

}  // namespace faultline::aggregator::ai
