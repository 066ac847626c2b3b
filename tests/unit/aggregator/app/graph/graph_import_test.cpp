// Service graph files: JSON and TOML, the content type that picks one, and bad input refused
// with the offending path.
#include "aggregator/graph/graph_import.h"

#include <doctest/doctest.h>

#include <string>

using namespace faultline;
using namespace faultline::aggregator;
using graph::GraphFileFormat;

namespace {

std::string errorOf(std::string_view text, GraphFileFormat format) {
  auto parsed = graph::parseGraphFile(text, format);
  REQUIRE_FALSE(parsed.isOk());
  return parsed.status().message();
}

}  // namespace

TEST_CASE("graph import: JSON with every key") {
  auto parsed = graph::parseGraphFile(R"({"services": [
      {"name": "web", "owner": "team-a", "environment": "prod", "tier": "frontend",
       "labels": {"lang": "ts"}, "depends_on": ["api", "auth"]},
      {"name": "api"}]})",
                                      GraphFileFormat::Json);
  REQUIRE_MESSAGE(parsed.isOk(), parsed.status().toString());
  REQUIRE(parsed->size() == 2);
  const store::ServiceDeclaration& web = (*parsed)[0];
  CHECK(web.service.name == "web");
  CHECK(web.service.owner == "team-a");
  CHECK(web.service.environment == "prod");
  CHECK(web.service.tier == "frontend");
  CHECK(web.service.labels.at("lang") == "ts");
  CHECK(web.depends_on == std::vector<std::string>{"api", "auth"});
  CHECK((*parsed)[1].service.owner.empty());
  CHECK((*parsed)[1].depends_on.empty());
}

TEST_CASE("graph import: TOML services tables") {
  auto parsed = graph::parseGraphFile(R"(
[[services]]
name = "web"
owner = "team-a"
depends_on = ["api"]
labels = { lang = "ts" }

[[services]]
name = "api"
environment = "prod"
)",
                                      GraphFileFormat::Toml);
  REQUIRE_MESSAGE(parsed.isOk(), parsed.status().toString());
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0].service.name == "web");
  CHECK((*parsed)[0].depends_on == std::vector<std::string>{"api"});
  CHECK((*parsed)[0].service.labels.at("lang") == "ts");
  CHECK((*parsed)[1].service.environment == "prod");
}

TEST_CASE("graph import: bad JSON names the offending path") {
  CHECK(errorOf("{", GraphFileFormat::Json) == "not valid JSON");
  CHECK(errorOf("[]", GraphFileFormat::Json).starts_with("$:"));
  CHECK(errorOf(R"({"services": {}})", GraphFileFormat::Json).starts_with("services:"));
  CHECK(errorOf(R"({"services": [], "extra": 1})", GraphFileFormat::Json).starts_with("extra:"));
  CHECK(errorOf(R"({"services": [{"owner": "x"}]})", GraphFileFormat::Json) ==
        "services[0].name: required");
  CHECK(errorOf(R"({"services": [{"name": "a"}, {"name": "b", "depends_on": ["c", 4]}]})",
                GraphFileFormat::Json) == "services[1].depends_on[1]: expected a string");
  CHECK(errorOf(R"({"services": [{"name": "a", "colour": "red"}]})", GraphFileFormat::Json) ==
        "services[0].colour: unknown key");
  CHECK(errorOf(R"({"services": [{"name": "a", "labels": {"k": 1}}]})", GraphFileFormat::Json) ==
        "services[0].labels.k: expected a string");
  CHECK(errorOf(R"({"services": [{"name": "a"}, {"name": "a"}]})", GraphFileFormat::Json)
            .starts_with("services[1].name:"));
  CHECK(errorOf(R"({"services": [{"name": "a", "depends_on": ["a"]}]})", GraphFileFormat::Json)
            .find("cannot depend on itself") != std::string::npos);
  CHECK(errorOf(R"({"services": [{"name": ""}]})", GraphFileFormat::Json)
            .starts_with("services[0]:"));
}

TEST_CASE("graph import: bad TOML names the line or the path") {
  CHECK(errorOf("[[services]\nname = 1", GraphFileFormat::Toml).starts_with("not valid TOML"));
  CHECK(errorOf("name = \"x\"", GraphFileFormat::Toml).starts_with("name: unknown key"));
  CHECK(errorOf("[[services]]\nname = 3\n", GraphFileFormat::Toml)
            .starts_with("services[0].name: expected a string (line 2"));
  CHECK(errorOf("[[services]]\nname = \"a\"\ndepends_on = \"b\"\n", GraphFileFormat::Toml) ==
        "services[0].depends_on: expected an array of service names");
  CHECK(errorOf("[[services]]\nowner = \"a\"\n", GraphFileFormat::Toml) ==
        "services[0].name: required");
  CHECK(errorOf("services = 1\n", GraphFileFormat::Toml).starts_with("services:"));
}

TEST_CASE("graph import: size limit") {
  std::string huge(graph::kMaxGraphImportBytes + 1, ' ');
  auto parsed = graph::parseGraphFile(huge, GraphFileFormat::Json);
  CHECK(parsed.status().code() == Errc::ResourceExhausted);
}

TEST_CASE("graph import: the content type picks the format and text/plain is sniffed") {
  CHECK(graph::graphFileFormat("application/json", "x") == GraphFileFormat::Json);
  CHECK(graph::graphFileFormat("Application/TOML; charset=utf-8", "{") == GraphFileFormat::Toml);
  CHECK(graph::graphFileFormat("text/plain", "  \n{\"services\": []}") == GraphFileFormat::Json);
  CHECK(graph::graphFileFormat("text/plain", "[[services]]") == GraphFileFormat::Toml);
  CHECK(graph::graphFileFormat("", "{}") == GraphFileFormat::Json);
  CHECK(graph::graphFileFormat("image/png", "{}") == std::nullopt);
}

TEST_CASE("graph import: one service as PUT sends it") {
  auto put = graph::parseServiceJson(R"({"owner": "o", "depends_on": ["db"]})", "api");
  REQUIRE_MESSAGE(put.isOk(), put.status().toString());
  CHECK(put->service.name == "api");
  CHECK(put->depends_on == std::vector<std::string>{"db"});
  CHECK(graph::parseServiceJson("", "api").isOk());  // every key is optional
  CHECK(graph::parseServiceJson(R"({"name": "other"})", "api")
            .status()
            .message()
            .starts_with("name:"));
  CHECK(graph::parseServiceJson(R"({"tier": 1})", "api").status().message() ==
        "tier: expected a string");
}
