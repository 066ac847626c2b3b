#include "aggregator/ai/tenant_policy.h"

#include "aggregator/config/tenant_entries.h"

namespace faultline::aggregator::ai {

Result<TenantPolicy> TenantPolicy::parse(const std::vector<std::string>& entries,
                                         const std::set<std::string>& known) {
  TenantPolicy policy;
  FL_ASSIGN_OR_RETURN(
      std::vector<config::TenantEntry> parsed,
      config::parseTenantEntries("ai.tenant_policy", entries, "'tenant: provider[, provider...]'"));
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    const std::string& entry = entries[i];
    std::string tenant = std::move(parsed[i].tenant);
    auto bad = [&](const std::string& why) {
      return invalidArgument("ai.tenant_policy: '" + entry + "': " + why);
    };
    std::set<std::string> providers;
    const std::string value = std::move(parsed[i].value);
    std::string_view rest = value;
    bool any = false;
    while (true) {
      const std::size_t comma = rest.find(',');
      std::string name = config::trimmedSpaces(rest.substr(0, comma));
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
