// Feeds arbitrary bytes to the batch decoder, both as a zstd frame and as raw msgpack.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/wire/batch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  faultline::wire::Limits limits;
  limits.max_decompressed_bytes = 1 << 20;
  auto compressed = faultline::wire::decodeBatch(input, limits);
  auto raw = faultline::wire::decodeBatchMsgpack(input, limits);
  if (raw) {
    // Every view handed out must lie inside the owned buffer.
    const auto& batch = **raw;
    for (const auto& record : batch.records) {
      if (record.line.data() < batch.storage.get() ||
          record.line.data() + record.line.size() > batch.storage.get() + batch.storage_size) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
