// Replays every input under tests/fuzz/regressions/http_request/ through the RequestParser, the
// way fuzz_http_request does: what once crashed must now parse or be refused cleanly.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fuzz/http/request_parser_fuzz_driver.h"

TEST_CASE("fuzz regressions: http request parser") {
  std::filesystem::path dir = std::filesystem::path(FAULTLINE_FUZZ_REGRESSIONS) / "http_request";
  REQUIRE(std::filesystem::is_directory(dir));
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string input = ss.str();
    CAPTURE(entry.path().string());
    CHECK(faultline::aggregator::http::fuzzRequestParser(
        reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
    ++replayed;
  }
  CHECK(replayed > 0);
}
