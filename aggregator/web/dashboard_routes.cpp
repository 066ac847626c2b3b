#include "aggregator/web/dashboard_routes.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "aggregator/web/dashboard_assets.h"

namespace faultline::aggregator::web {
namespace {

/// A strong validator of `body`: FNV-1a 64, stable across runs and nodes of the same build.
std::string entityTag(std::string_view body) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : body) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char text[24];
  std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(hash));
  return text;
}

/// Whether an If-None-Match header names `etag` (a list, or "*").
bool matchesTag(const std::string* if_none_match, std::string_view etag) {
  if (if_none_match == nullptr) {
    return false;
  }
  std::string_view header = *if_none_match;
  if (header.find('*') != std::string_view::npos) {
    return true;
  }
  return header.find(etag) != std::string_view::npos;
}

}  // namespace

void addDashboardRoutes(http::Router& router) {
  for (const DashboardAsset& asset : dashboardAssets()) {
    std::string etag = entityTag(asset.body);
    router.add("GET", std::string(asset.path),
               [asset, etag = std::move(etag)](http::Request&& request, http::Respond respond) {
                 http::Response response;
                 response.headers = {{"Cache-Control", "no-cache"},
                                     {"ETag", etag},
                                     {"Content-Security-Policy", std::string(kDashboardCsp)},
                                     {"X-Content-Type-Options", "nosniff"},
                                     {"Referrer-Policy", "no-referrer"},
                                     {"X-Frame-Options", "DENY"}};
                 if (matchesTag(request.header("if-none-match"), etag)) {
                   response.status = 304;
                 } else {
                   response.status = 200;
                   response.headers.emplace_back("Content-Type", std::string(asset.content_type));
                   response.body = std::string(asset.body);
                 }
                 respond(std::move(response));
               });
  }
}

}  // namespace faultline::aggregator::web
