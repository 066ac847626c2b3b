// The OpenAPI document against the routes serve() really registers: nothing served without
// documentation, nothing documented that is not served, and the document is sound 3.1.
#include "aggregator/api/openapi.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "aggregator/serve/routes.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

// Audit events of these route tables go nowhere: no request is served here.
class DiscardAudit final : public audit::AuditRecorder {
 public:
  Status record(const audit::AuditEvent&) override { return Status::ok(); }
};

/// The route table serve() builds, over a real store (no request is served).
struct ServerRoutes {
  ServerRoutes()
      : store(openStore(dir.file("db.sqlite"), {})),
        agent_api(*store, {}),
        jwt(*store, auth::JwtOptions{}),
        auth_api(*store, audit, passwords, jwt, throttle, auth::AuthApiOptions{}),
        ops(*store, agent_api, serve::OpsOptions{}),
        uploader(ingest::LogUploader::create(*store, {}).value()),
        router(serve::buildServerRouter({.agent_api = &agent_api,
                                         .auth_api = &auth_api,
                                         .store = store.get(),
                                         .ops = &ops,
                                         .uploader = uploader.get(),
                                         .audit = nullptr,
                                         .webhooks = {},
                                         .noise = nullptr,
                                         .event_hub = nullptr,
                                         .event_streams = {},
                                         .incidents = nullptr,
                                         .graph_cache = nullptr,
                                         .span_edges = nullptr,
                                         .notifier = nullptr,
                                         .ai_writer = nullptr,
                                         .ai_cost = nullptr,
                                         .ai_narrator = nullptr,
                                         .knowledge_embeddings = nullptr})) {}
  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  ingest::AgentApi agent_api;
  DiscardAudit audit;
  auth::PasswordHasher passwords;
  auth::JwtKeys jwt;
  auth::LoginThrottle throttle;
  auth::AuthApi auth_api;
  serve::OpsApi ops;
  std::unique_ptr<ingest::LogUploader> uploader;
  http::Router router;
};

}  // namespace

TEST_CASE("openapi: every served route is documented and every documented route is served") {
  ServerRoutes server;
  api::RouteCoverage coverage = api::checkRouteCoverage(server.router, api::openapiDocument());
  CHECK(coverage.error == "");
  for (const std::string& route : coverage.undocumented) {
    FAIL_CHECK("served but not in aggregator/api/openapi.json: " << route);
  }
  for (const std::string& route : coverage.unserved) {
    FAIL_CHECK("documented in aggregator/api/openapi.json but not served: " << route);
  }
  CHECK(server.router.routes().size() >= 5);
}

TEST_CASE("openapi: the check catches a route added without documentation, and a stale one") {
  ServerRoutes server;
  server.router.add("DELETE", "/v1/undocumented/{id}", [](http::Request&&, http::Respond) {});
  api::RouteCoverage coverage = api::checkRouteCoverage(server.router, api::openapiDocument());
  REQUIRE(coverage.undocumented.size() == 1);
  CHECK(coverage.undocumented[0] == "DELETE /v1/undocumented/{id}");

  auto document = nlohmann::json::parse(api::openapiDocument());
  document["paths"]["/v1/gone"]["get"] = {{"responses", {{"200", {{"description", "x"}}}}}};
  coverage = api::checkRouteCoverage(server.router, document.dump());
  REQUIRE(coverage.unserved.size() == 1);
  CHECK(coverage.unserved[0] == "GET /v1/gone");
  CHECK_FALSE(api::checkRouteCoverage(server.router, "not json").error.empty());
}

TEST_CASE("openapi: a 3.1 document whose operations have unique ids, responses and valid refs") {
  auto document = nlohmann::json::parse(api::openapiDocument());
  CHECK(document["openapi"] == "3.1.0");
  CHECK(document["info"]["title"].is_string());
  std::set<std::string> operation_ids;
  std::set<std::string> refs;
  std::function<void(const nlohmann::json&)> collectRefs = [&](const nlohmann::json& node) {
    if (node.is_object()) {
      for (const auto& [key, value] : node.items()) {
        if (key == "$ref" && value.is_string()) {
          refs.insert(value.get<std::string>());
        }
        collectRefs(value);
      }
    } else if (node.is_array()) {
      for (const auto& value : node) {
        collectRefs(value);
      }
    }
  };
  for (const auto& path_item : document["paths"].items()) {
    // Named copies: CAPTURE's lambda cannot see structured bindings under clang 14.
    const std::string path = path_item.key();
    const auto& item = path_item.value();
    CHECK(path.starts_with("/"));
    for (const auto& method_item : item.items()) {
      const std::string method = method_item.key();
      const auto& operation = method_item.value();
      CAPTURE(path);
      CAPTURE(method);
      REQUIRE(operation.contains("operationId"));
      CHECK(operation_ids.insert(operation["operationId"].get<std::string>()).second);
      CHECK(operation.contains("summary"));
      REQUIRE(operation.contains("responses"));
      CHECK_FALSE(operation["responses"].empty());
    }
  }
  collectRefs(document);
  for (const std::string& ref : refs) {
    CAPTURE(ref);
    REQUIRE(ref.starts_with("#/"));
    nlohmann::json::json_pointer pointer(ref.substr(1));
    CHECK(document.contains(pointer));
  }
}

TEST_CASE("openapi: GET /v1/openapi.json serves the document") {
  ServerRoutes server;
  bool found = false;
  for (const auto& route : server.router.routes()) {
    if (route.method == "GET" && route.path == "/v1/openapi.json") {
      found = true;
      http::Response got;
      route.handler(http::Request{}, [&](http::Response response) { got = std::move(response); });
      CHECK(got.status == 200);
      CHECK(got.body == api::openapiDocument());
    }
  }
  CHECK(found);
}
