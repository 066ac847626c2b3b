// Arbitrary lines through the redactor (all SIMD levels, with and without custom patterns):
// no crash, bounded growth, idempotence, identical results at every SIMD level.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "tests/fuzz/redact_fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string failure = faultline::redact::fuzz::checkInvariants(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "fuzz_redact: %s\n", failure.c_str());
    __builtin_trap();
  }
  return 0;
}
