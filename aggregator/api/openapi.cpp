#include "aggregator/api/openapi.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace faultline::aggregator::api {
namespace {

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

}  // namespace

RouteCoverage checkRouteCoverage(const http::Router& router, std::string_view document) {
  RouteCoverage coverage;
  nlohmann::json parsed = nlohmann::json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("paths") ||
      !parsed["paths"].is_object()) {
    coverage.error = "the OpenAPI document is not a JSON object with \"paths\"";
    return coverage;
  }
  static const std::set<std::string> kMethods = {"get",   "put",  "post",    "delete",
                                                 "patch", "head", "options", "trace"};
  std::set<std::pair<std::string, std::string>> documented;  // (METHOD, path)
  for (const auto& [path, item] : parsed["paths"].items()) {
    if (!item.is_object()) {
      continue;
    }
    for (const auto& [method, operation] : item.items()) {
      if (kMethods.count(method) != 0) {
        documented.emplace(upper(method), path);
      }
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : router.routes()) {
    served.emplace(route.method, route.path);
  }
  for (const auto& [method, path] : served) {
    if (documented.count({method, path}) == 0) {
      coverage.undocumented.push_back(method + " " + path);
    }
  }
  for (const auto& [method, path] : documented) {
    if (served.count({method, path}) == 0) {
      coverage.unserved.push_back(method + " " + path);
    }
  }
  return coverage;
}

void addOpenApiRoute(http::Router& router) {
  router.add("GET", "/v1/openapi.json", [](http::Request&&, http::Respond respond) {
    respond(http::Response::json(200, std::string(openapiDocument())));
  });
}

}  // namespace faultline::aggregator::api
