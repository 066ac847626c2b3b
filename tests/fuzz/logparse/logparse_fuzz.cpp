// One libFuzzer source for every logparse family; CMake compiles it once per family with
// -DLOGPARSE_FUZZ_FAMILY=<Family enumerator>. See logparse_fuzz_driver.h for the invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/logparse/logparse_fuzz_driver.h"

#ifndef LOGPARSE_FUZZ_FAMILY
#error "define LOGPARSE_FUZZ_FAMILY (kAuto, kJson, ...)"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using faultline::logparse::fuzz::Family;
  if (!faultline::logparse::fuzz::run(Family::LOGPARSE_FUZZ_FAMILY, data, size)) {
    std::abort();
  }
  return 0;
}
