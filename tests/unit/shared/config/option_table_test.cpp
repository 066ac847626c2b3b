#include "shared/config/option_table.h"

#include <doctest/doctest.h>

using namespace faultline;
using namespace faultline::config;

namespace {
OptionTable makeTable() {
  return OptionTable({
      {"server.listen", OptionType::String, "127.0.0.1:7070", "address to listen on"},
      {"server.max_body", OptionType::ByteSize, "16MiB", "largest request body"},
      {"server.timeout", OptionType::Duration, "30s", "request time limit"},
      {"server.workers", OptionType::Int, "4", "worker threads"},
      {"server.tls", OptionType::Bool, "false", "serve TLS"},
      {"inputs.paths", OptionType::StringList, "", "globs to tail"},
  });
}
}  // namespace

TEST_CASE("defaults, TOML values and overrides") {
  OptionTable table = makeTable();
  CHECK(table.getString("server.listen") == "127.0.0.1:7070");
  CHECK(table.getByteSize("server.max_body") == 16u << 20);
  REQUIRE(table
              .loadString("[server]\nlisten = \"0.0.0.0:9\"\nmax_body = 1024\n"
                          "timeout = \"2m\"\ntls = true\nworkers = 8\n"
                          "[inputs]\npaths = [\"/a/*.log\", \"/b.log\"]\n",
                          "test.toml")
              .isOk());
  CHECK(table.getString("server.listen") == "0.0.0.0:9");
  CHECK(table.getByteSize("server.max_body") == 1024);
  CHECK(table.getDuration("server.timeout") == std::chrono::minutes(2));
  CHECK(table.getBool("server.tls"));
  CHECK(table.getInt("server.workers") == 8);
  CHECK(table.getStringList("inputs.paths") == std::vector<std::string>{"/a/*.log", "/b.log"});
  REQUIRE(table.set("server.listen", "127.0.0.1:1").isOk());
  CHECK(table.getString("server.listen") == "127.0.0.1:1");
  REQUIRE(table.append("inputs.paths", "/c.log").isOk());
  CHECK(table.getStringList("inputs.paths").size() == 3);
  CHECK(table.helpText().find("server.timeout (duration, default 30s)") != std::string::npos);
}

TEST_CASE("unknown keys and wrong types name the file, line and key") {
  OptionTable table = makeTable();
  Status unknown = table.loadString("[server]\nlisten = \"x\"\nlisen = \"y\"\n", "a.toml");
  CHECK_FALSE(unknown.isOk());
  CHECK(unknown.message().find("a.toml:3") != std::string::npos);
  CHECK(unknown.message().find("server.lisen") != std::string::npos);

  Status wrong_type = table.loadString("[server]\nworkers = \"many\"\n", "b.toml");
  CHECK_FALSE(wrong_type.isOk());
  CHECK(wrong_type.message().find("b.toml:2") != std::string::npos);

  Status bad_duration = table.loadString("[server]\ntimeout = \"soon\"\n", "c.toml");
  CHECK_FALSE(bad_duration.isOk());
  CHECK(bad_duration.message().find("timeout") != std::string::npos);

  Status syntax = table.loadString("[server\n", "d.toml");
  CHECK_FALSE(syntax.isOk());
  CHECK(syntax.message().find("d.toml:1") != std::string::npos);

  CHECK_FALSE(table.set("nope", "1").isOk());
  CHECK_FALSE(table.set("server.tls", "maybe").isOk());
}
