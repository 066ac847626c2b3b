// Feeds arbitrary bytes to the HTTP RequestParser, whole and in pieces (see the driver).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/http/request_parser_fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!faultline::aggregator::http::fuzzRequestParser(data, size)) {
    __builtin_trap();
  }
  return 0;
}
