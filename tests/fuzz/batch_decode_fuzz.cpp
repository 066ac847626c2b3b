// Feeds arbitrary bytes to the batch decoder (v1 and v2), as a zstd frame and as raw msgpack,
// and renders every record it accepts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/batch_decode_fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  faultline::wire::fuzz::exerciseBatchDecoder(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
