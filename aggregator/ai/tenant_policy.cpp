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

void TenantPolicy::resolveNamesWith(IdOf id_of) {
  std::lock_guard<std::mutex> lock(names_->mutex);
  names_->id_of = std::move(id_of);
}

const std::set<std::string>* TenantPolicy::entryOf(std::string_view tenant_id) const {
  auto found = allowed_.find(tenant_id);
  if (found != allowed_.end()) {
    return &found->second;
  }
  std::lock_guard<std::mutex> lock(names_->mutex);
  for (const auto& entry : allowed_) {
    if (entry.first == "*") {
      continue;
    }
    auto known = names_->ids.find(entry.first);
    if (known == names_->ids.end() && names_->id_of) {
      auto id = names_->id_of(entry.first);
      if (id.isOk()) {
        known = names_->ids.emplace(entry.first, *id).first;
      }
    }
    if (known != names_->ids.end() && known->second == tenant_id) {
      return &entry.second;
    }
  }
  found = allowed_.find(std::string_view("*"));
  return found == allowed_.end() ? nullptr : &found->second;
}

bool TenantPolicy::allows(std::string_view tenant_id, std::string_view provider) const {
  if (provider == "offline") {
    return true;
  }
  const std::set<std::string>* allowed = entryOf(tenant_id);
  return allowed == nullptr || allowed->count(std::string(provider)) != 0;
}

}  // namespace faultline::aggregator::ai
