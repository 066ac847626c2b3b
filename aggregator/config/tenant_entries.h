#pragma once

// Per-tenant config lists: entries "tenant: value", one per tenant (ai.tenant_policy,
// ai.runbook_folders). One parser, so every such option splits, trims and refuses alike.

#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::config {

struct TenantEntry {
  std::string tenant;  // a tenant name (or id), or "*" where the option allows a default
  std::string value;   // what follows the colon, trimmed (may be empty: the caller decides)
};

/// Splits each entry at its first colon. InvalidArgument "<option>: '<entry>': <why>" for an
/// entry without a colon, without a tenant, or naming a tenant already listed; `expected`
/// shows the form in the first case (e.g. "'tenant: /path'").
Result<std::vector<TenantEntry>> parseTenantEntries(std::string_view option,
                                                    const std::vector<std::string>& entries,
                                                    std::string_view expected);

/// `text` without leading and trailing spaces and tabs.
std::string trimmedSpaces(std::string_view text);

}  // namespace faultline::aggregator::config
