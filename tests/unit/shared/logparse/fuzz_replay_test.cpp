// Replays the logparse fuzz seeds (tests/fuzz/corpus/logparse_*) and any committed crash inputs
// (tests/fuzz/regressions/logparse_*) through the fuzz targets' own checks.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fuzz/logparse/logparse_fuzz_driver.h"

namespace fs = std::filesystem;
using faultline::logparse::fuzz::Family;

TEST_CASE("fuzz replay: logparse corpus and regressions keep their invariants") {
  std::size_t replayed = 0;
  for (Family family :
       {Family::kAuto, Family::kJson, Family::kLogfmt, Family::kSyslog, Family::kWebLog,
        Family::kContainer, Family::kRegex, Family::kTimestamp, Family::kMultiline}) {
    for (const char* kind : {"corpus", "regressions"}) {
      fs::path dir = fs::path(FAULTLINE_FUZZ_DIR) / kind /
                     std::string(faultline::logparse::fuzz::familyName(family));
      if (!fs::exists(dir)) {
        continue;
      }
      for (const auto& entry : fs::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string input = ss.str();
        CAPTURE(entry.path().string());
        CHECK(faultline::logparse::fuzz::run(
            family, reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
        ++replayed;
      }
    }
  }
  CHECK(replayed >= 9);  // at least one seed per family is committed
}
