#pragma once

// The OpenAPI 3.1 document of every route the aggregator serves, compiled in from
// aggregator/api/openapi.json and served at GET /v1/openapi.json, and the check that keeps it
// honest: a route served but not documented (or documented but gone) fails a unit test.

#include <string>
#include <string_view>
#include <vector>

#include "aggregator/http/server.h"

namespace faultline::aggregator::api {

/// The document, byte for byte as in aggregator/api/openapi.json.
std::string_view openapiDocument();

struct RouteCoverage {
  std::vector<std::string> undocumented;  // "GET /v1/x": served, not in the document
  std::vector<std::string> unserved;      // in the document, not served
  std::string error;                      // the document is not valid JSON / has no paths
  bool complete() const { return undocumented.empty() && unserved.empty() && error.empty(); }
};

/// Compares the router's (method, path) pairs with the document's paths and operations. Paths
/// compare as written: templated segments use the same `{name}` syntax in both.
RouteCoverage checkRouteCoverage(const http::Router& router, std::string_view document);

/// Adds GET /v1/openapi.json.
void addOpenApiRoute(http::Router& router);

}  // namespace faultline::aggregator::api
