#pragma once

// The body of fuzz_batch_decode, shared with the unit test that replays
// tests/fuzz/corpus/batch_decode/ and tests/fuzz/regressions/batch_decode/. Header-only so the
// unit tests need no fuzz build.
//
// The input is decoded both as a zstd frame and as raw msgpack. Every decoded batch must keep
// its views inside memory it owns, and every record must render (or fail cleanly) within the
// limits: a line at most the template text plus max_line_bytes of parameters.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/wire/batch.h"

namespace faultline::wire::fuzz {

inline bool inside(const DecodedBatch& batch, std::string_view view) {
  if (view.empty()) {
    return true;
  }
  const char* begin = batch.storage.get();
  if (view.data() >= begin && view.data() + view.size() <= begin + batch.storage_size) {
    return true;
  }
  for (const DecodedBatch::ArenaChunk& chunk : batch.arena) {
    if (view.data() >= chunk.data.get() &&
        view.data() + view.size() <= chunk.data.get() + chunk.size) {
      return true;
    }
  }
  return false;
}

inline void checkBatch(const DecodedBatch& batch, const Limits& limits) {
  for (const Record& record : batch.records) {
    if (!inside(batch, record.line)) {
      __builtin_trap();
    }
  }
  for (const Param& param : batch.params) {
    if (!inside(batch, param.bytes)) {
      __builtin_trap();
    }
  }
  // Ids the batch does not carry resolve to a two-hole text for odd ids, to nothing for even.
  const TemplateLookup lookup = [](std::uint64_t id) -> std::optional<std::string_view> {
    if (id % 2 == 1) {
      return std::string_view("<*> and <*>");
    }
    return std::nullopt;
  };
  std::string line;
  for (const Record& record : batch.records) {
    line.clear();
    Status status = renderRecordLine(batch, record, lookup, line);
    if (status.isOk() && line.size() > limits.max_string_bytes + limits.max_line_bytes) {
      __builtin_trap();
    }
  }
}

inline void exerciseBatchDecoder(std::string_view input) {
  Limits limits;
  limits.max_decompressed_bytes = 1 << 20;
  if (auto compressed = decodeBatch(input, limits)) {
    checkBatch(**compressed, limits);
  }
  if (auto raw = decodeBatchMsgpack(input, limits)) {
    checkBatch(**raw, limits);
  }
}

}  // namespace faultline::wire::fuzz
