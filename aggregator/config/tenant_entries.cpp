#include "aggregator/config/tenant_entries.h"

#include <set>

namespace faultline::aggregator::config {

std::string trimmedSpaces(std::string_view text) {
  const std::size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) {
    return {};
  }
  const std::size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

Result<std::vector<TenantEntry>> parseTenantEntries(std::string_view option,
                                                    const std::vector<std::string>& entries,
                                                    std::string_view expected) {
  std::vector<TenantEntry> out;
  std::set<std::string> tenants;
  for (const std::string& entry : entries) {
    auto bad = [&](std::string_view why) {
      return invalidArgument(std::string(option) + ": '" + entry + "': " + std::string(why));
    };
    const std::size_t colon = entry.find(':');
    if (colon == std::string::npos) {
      return bad("expected " + std::string(expected));
    }
    TenantEntry parsed{trimmedSpaces(std::string_view(entry).substr(0, colon)),
                       trimmedSpaces(std::string_view(entry).substr(colon + 1))};
    if (parsed.tenant.empty()) {
      return bad("no tenant");
    }
    if (!tenants.insert(parsed.tenant).second) {
      return bad("the tenant is listed twice");
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace faultline::aggregator::config
