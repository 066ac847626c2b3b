// Webhook bodies of every receiver through the normalizer: see webhook_fuzz_driver.h.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "tests/fuzz/webhook_fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string failure = faultline::aggregator::events::fuzz::checkInvariants(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "fuzz_webhook: %s\n", failure.c_str());
    __builtin_trap();
  }
  return 0;
}
