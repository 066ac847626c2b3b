// Replays every input under tests/fuzz/regressions/<target>/ through the code its fuzz target
// exercises: what once crashed must now be refused cleanly (or decoded).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "shared/config/option_table.h"
#include "shared/wire/batch.h"

namespace {
std::vector<std::string> inputsFor(const std::string& target) {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(FAULTLINE_FUZZ_REGRESSIONS) / target;
  if (!std::filesystem::exists(dir)) {
    return out;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}
}  // namespace

TEST_CASE("fuzz regressions: batch decoder") {
  for (const std::string& input : inputsFor("batch_decode")) {
    (void)faultline::wire::decodeBatch(input);
    (void)faultline::wire::decodeBatchMsgpack(input);
  }
}

TEST_CASE("fuzz regressions: config loader") {
  for (const std::string& input : inputsFor("config")) {
    faultline::config::OptionTable table({{"a.b", faultline::config::OptionType::String, "", ""}});
    (void)table.loadString(input, "regression.toml");
  }
}
