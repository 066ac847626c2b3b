// Replays every input under tests/fuzz/regressions/<target>/ through the code its fuzz target
// exercises: what once crashed must now be refused cleanly (or decoded).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "shared/config/option_table.h"
#include "shared/wire/batch.h"
#include "tests/fuzz/batch_decode_fuzz_driver.h"

namespace {
std::vector<std::string> inputsFor(const std::string& target,
                                   const char* root = FAULTLINE_FUZZ_REGRESSIONS) {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(root) / target;
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

TEST_CASE("fuzz regressions and seeds: batch decoder and render") {
  std::size_t decoded = 0;
  for (const char* root : {FAULTLINE_FUZZ_REGRESSIONS, FAULTLINE_FUZZ_CORPUS}) {
    for (const std::string& input : inputsFor("batch_decode", root)) {
      faultline::wire::fuzz::exerciseBatchDecoder(input);
      decoded += faultline::wire::decodeBatch(input).isOk() ? 1 : 0;
    }
  }
  CHECK(decoded >= 4);  // the seeds include valid v1 and v2 batches
}

TEST_CASE("fuzz regressions: config loader") {
  for (const std::string& input : inputsFor("config")) {
    faultline::config::OptionTable table({{"a.b", faultline::config::OptionType::String, "", ""}});
    (void)table.loadString(input, "regression.toml");
  }
}
