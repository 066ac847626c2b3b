#pragma once

// The batch v1 encoder, kept for tests, benchmarks and fuzz seeds: agents older than v2 wrote
// it, so the aggregator must keep ingesting it (their spools may still hold such batches).
// Products use BatchBuilder (v2).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"
#include "shared/wire/batch.h"

namespace faultline::wire {

/// Builds one v1 batch incrementally (records are msgpack-encoded as they are added).
/// Single-threaded; reusable after reset().
class V1BatchBuilder {
 public:
  V1BatchBuilder();
  ~V1BatchBuilder();
  V1BatchBuilder(const V1BatchBuilder&) = delete;
  V1BatchBuilder& operator=(const V1BatchBuilder&) = delete;

  std::uint32_t sourceIndex(std::string_view path);
  void addRecord(std::uint32_t source, std::int64_t ts_ns, std::string_view line,
                 bool no_newline = false);

  std::size_t recordCount() const { return record_count_; }
  std::size_t lineBytes() const { return line_bytes_; }
  std::size_t encodedBytes() const { return records_.size(); }

  std::string encodeMsgpack(const BatchHeader& header) const;
  Result<std::string> seal(const BatchHeader& header, int level = 1);
  void reset();

 private:
  std::string encodePreamble(const BatchHeader& header) const;

  std::vector<std::string> sources_;
  std::string records_;  // concatenated msgpack-encoded records
  std::size_t record_count_ = 0;
  std::size_t line_bytes_ = 0;
  std::uint32_t last_source_ = 0;  // previous record's values: equal ones are omitted
  std::int64_t last_ts_ = 0;
  std::string sealed_;
  struct Compressor;
  std::unique_ptr<Compressor> compressor_;
};

}  // namespace faultline::wire
