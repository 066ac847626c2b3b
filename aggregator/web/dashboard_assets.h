#pragma once

// The dashboard's files (aggregator/web/dashboard/), compiled into the binary at build time by
// embed_assets.cmake, so that the single aggregator binary serves its own page and needs nothing
// beside it.

#include <span>
#include <string_view>

namespace faultline::aggregator::web {

struct DashboardAsset {
  std::string_view path;          // the URL path it is served at: "/" or "/ui/<file>"
  std::string_view content_type;  // with charset for text
  std::string_view body;
};

/// Every embedded file; static storage, valid for the life of the process.
std::span<const DashboardAsset> dashboardAssets();

}  // namespace faultline::aggregator::web
