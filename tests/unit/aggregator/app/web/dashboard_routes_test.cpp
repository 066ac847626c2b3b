// The embedded dashboard: every file is served with its type, the strict policy and a validator
// that answers 304; the page only references files that are served, and holds no inline code
// that its own Content-Security-Policy would block.
#include "aggregator/web/dashboard_routes.h"

#include <doctest/doctest.h>

#include <optional>
#include <regex>
#include <set>
#include <string>

#include "aggregator/web/dashboard_assets.h"

using namespace faultline::aggregator;

namespace {

/// Runs the route for GET `path` (with `if_none_match` when set); nullopt when nothing matches.
std::optional<http::Response> get(const http::Router& router, const std::string& path,
                                  const std::string& if_none_match = "") {
  http::Router::Match match = router.match("GET", path);
  if (match.handler == nullptr) {
    return std::nullopt;
  }
  http::Request request;
  request.method = "GET";
  request.path = path;
  if (!if_none_match.empty()) {
    request.headers.emplace_back("if-none-match", if_none_match);
  }
  std::optional<http::Response> out;
  (*match.handler)(std::move(request), [&out](http::Response response) { out = response; });
  return out;
}

std::string header(const http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) {
      return value;
    }
  }
  return "";
}

}  // namespace

TEST_CASE("the dashboard files are served with their type, a strict CSP and revalidation") {
  http::Router router;
  web::addDashboardRoutes(router);
  const std::set<std::pair<std::string, std::string>> expected = {
      {"/", "text/html; charset=utf-8"},
      {"/ui/app.js", "text/javascript; charset=utf-8"},
      {"/ui/app.css", "text/css; charset=utf-8"}};
  std::set<std::pair<std::string, std::string>> served;
  for (const web::DashboardAsset& asset : web::dashboardAssets()) {
    served.emplace(std::string(asset.path), std::string(asset.content_type));
  }
  CHECK(served == expected);

  for (const auto& entry : expected) {
    const std::string& path = entry.first;  // named: clang 14 cannot capture bindings
    const std::string& type = entry.second;
    CAPTURE(path);
    auto response = get(router, path);
    REQUIRE(response.has_value());
    CHECK(response->status == 200);
    CHECK(header(*response, "Content-Type") == type);
    CHECK(header(*response, "Content-Security-Policy") == web::kDashboardCsp);
    CHECK(header(*response, "X-Content-Type-Options") == "nosniff");
    CHECK(header(*response, "Cache-Control") == "no-cache");
    CHECK_FALSE(response->body.empty());
    const std::string etag = header(*response, "ETag");
    REQUIRE(etag.size() == 18);

    auto again = get(router, path, etag);
    REQUIRE(again.has_value());
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    CHECK(header(*again, "ETag") == etag);
    auto stale = get(router, path, "\"0000000000000000\"");
    REQUIRE(stale.has_value());
    CHECK(stale->status == 200);
  }
  // The three files differ, so do their tags.
  CHECK(header(*get(router, "/"), "ETag") != header(*get(router, "/ui/app.js"), "ETag"));
  CHECK_FALSE(get(router, "/ui/missing.js").has_value());
}

TEST_CASE("the page references only served files and carries no inline code") {
  http::Router router;
  web::addDashboardRoutes(router);
  const std::string page = get(router, "/")->body;
  const std::regex reference(R"re((?:src|href)="(/[^"]*)")re");
  int references = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), reference);
       it != std::sregex_iterator(); ++it) {
    const std::string path = (*it)[1];
    CAPTURE(path);
    CHECK(get(router, path).has_value());
    ++references;
  }
  CHECK(references == 2);  // the script and the style sheet
  // The CSP allows neither inline scripts, inline styles nor event-handler attributes.
  CHECK(std::regex_search(page, std::regex(R"(<script src="[^"]+" defer></script>)")));
  CHECK_FALSE(std::regex_search(page, std::regex(R"(<script>|<script [^>]*>[^<])")));
  CHECK_FALSE(std::regex_search(page, std::regex(R"(<style|\sstyle=|\son[a-z]+=)")));
  const std::string script = get(router, "/ui/app.js")->body;
  CHECK(script.find("innerHTML") == std::string::npos);  // text goes in as text only
  CHECK(script.find("eval(") == std::string::npos);
}
