// The router alone (no sockets): exact routes, {param} segments, 404/405 and HEAD.
#include <doctest/doctest.h>

#include "aggregator/http/server.h"

using faultline::aggregator::http::Handler;
using faultline::aggregator::http::Request;
using faultline::aggregator::http::Respond;
using faultline::aggregator::http::Router;

namespace {
Handler noop() {
  return [](Request&&, Respond) {};
}

Router sample() {
  Router router;
  router.add("GET", "/v1/api-keys", noop());
  router.add("POST", "/v1/api-keys", noop());
  router.add("DELETE", "/v1/api-keys/{id}", noop());
  router.add("PUT", "/v1/members/{user_id}", noop());
  router.add("DELETE", "/v1/members/{user_id}", noop());
  router.add("GET", "/v1/members/export", noop());  // exact beats the {user_id} pattern
  router.add("GET", "/v1/a/{x}/b/{y}", noop());
  return router;
}
}  // namespace

TEST_CASE("router: exact routes match by path and method; others are 404 or 405") {
  Router router = sample();
  auto listed = router.match("GET", "/v1/api-keys");
  CHECK(listed.handler == &router.routes()[0].handler);
  CHECK(listed.params.empty());
  CHECK(router.match("POST", "/v1/api-keys").handler == &router.routes()[1].handler);
  auto wrong = router.match("PATCH", "/v1/api-keys");
  CHECK(wrong.handler == nullptr);
  CHECK(wrong.allowed == std::vector<std::string>{"GET", "HEAD", "POST"});
  auto missing = router.match("GET", "/v1/nothing");
  CHECK(missing.handler == nullptr);
  CHECK(missing.allowed.empty());
  // HEAD falls back to GET.
  CHECK(router.match("HEAD", "/v1/api-keys").handler == &router.routes()[0].handler);
}

TEST_CASE("router: {param} segments capture one non-empty segment") {
  Router router = sample();
  auto revoke = router.match("DELETE", "/v1/api-keys/key_123");
  REQUIRE(revoke.handler == &router.routes()[2].handler);
  REQUIRE(revoke.params.size() == 1);
  CHECK(revoke.params[0].first == "id");
  CHECK(revoke.params[0].second == "key_123");

  auto two = router.match("GET", "/v1/a/1/b/two");
  REQUIRE(two.handler != nullptr);
  REQUIRE(two.params.size() == 2);
  CHECK(two.params[0] == std::pair<std::string, std::string>{"x", "1"});
  CHECK(two.params[1] == std::pair<std::string, std::string>{"y", "two"});

  CHECK(router.match("DELETE", "/v1/api-keys/").allowed.empty());     // empty segment
  CHECK(router.match("DELETE", "/v1/api-keys/a/b").allowed.empty());  // one segment only
  CHECK(router.match("DELETE", "/v1/api-keys").handler == nullptr);   // the exact route
  CHECK(router.match("DELETE", "/v1/api-keys").allowed.size() == 3);  // GET, HEAD, POST

  auto method = router.match("GET", "/v1/members/usr_1");
  CHECK(method.handler == nullptr);
  CHECK(method.allowed == std::vector<std::string>{"DELETE", "PUT"});
  CHECK(router.match("PUT", "/v1/members/usr_1").handler == &router.routes()[3].handler);
}

TEST_CASE("router: an exact route wins over a pattern that also matches") {
  Router router = sample();
  auto exact = router.match("GET", "/v1/members/export");
  CHECK(exact.handler == &router.routes()[5].handler);
  CHECK(exact.params.empty());
  CHECK(router.match("PUT", "/v1/members/export").handler == nullptr);
}

TEST_CASE("request: pathParam finds captured values") {
  Request request;
  request.path_params = {{"id", "key_1"}};
  REQUIRE(request.pathParam("id") != nullptr);
  CHECK(*request.pathParam("id") == "key_1");
  CHECK(request.pathParam("user_id") == nullptr);
}
