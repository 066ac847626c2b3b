#pragma once

// The versioned agent→aggregator batch: a msgpack map, zstd-compressed.
//
//   { "v": 1, "agent": str, "epoch": uint, "seq": uint, "sent_at": int (unix ns),
//     "sources": [str...], "templates": [{"id": uint, "text": str}...],
//     "records": [{"l": bin, "s": uint, "t": int, "n": true}...] }
//
// A record: "l" the line's bytes (required); "s" the index into sources and "t" the read time
// (unix ns), each omitted when equal to the previous record's (the first record's "t" is
// required, its "s" defaults to 0); "n" (optional, true) when no '\n' followed these bytes in
// the file. Keys are short and repeated values omitted because a batch holds thousands of
// records: the record envelope is 5 bytes instead of ~25, which is ~10% less for zstd to chew.
// Lines travel as msgpack bin (raw bytes, not necessarily UTF-8) without their '\n', so the
// aggregator can reconstruct the file byte for byte. Decoding is strict: unknown keys, wrong
// types, out-of-range indexes, trailing bytes and anything over the Limits are errors.
// HTTP: Content-Type application/vnd.faultline.batch+msgpack, Content-Encoding zstd.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::wire {

inline constexpr std::uint32_t kBatchVersion = 1;
inline constexpr std::string_view kBatchContentType = "application/vnd.faultline.batch+msgpack";
inline constexpr std::string_view kBatchContentEncoding = "zstd";

/// Bounds on what a decoder accepts. Defaults suit the aggregator's ingest endpoint.
struct Limits {
  std::size_t max_compressed_bytes = 16u << 20;
  std::size_t max_decompressed_bytes = 64u << 20;
  std::size_t max_records = 1u << 20;
  std::size_t max_sources = 4096;
  std::size_t max_templates = 1u << 16;
  std::size_t max_line_bytes = 1u << 20;
  std::size_t max_string_bytes = 4096;  // agent id, source path, template text
};

/// Identifies one batch of one agent stream; the aggregator is idempotent on it.
struct BatchHeader {
  std::string agent;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::int64_t sent_at_ns = 0;
};

struct Template {
  std::uint64_t id = 0;
  std::string_view text;
};

/// One log record. Views point into the owning DecodedBatch.
struct Record {
  std::uint32_t source = 0;  // index into DecodedBatch::sources
  std::int64_t ts_ns = 0;    // when the agent read the line (unix ns)
  std::string_view line;     // the line's bytes without the terminating '\n'
  /// True when no '\n' followed these bytes in the file: a piece of a line longer than the
  /// agent's limit (the next record of the same source continues it), or a last line that
  /// never got its newline. Export writes '\n' only after records where this is false.
  bool no_newline = false;
};

/// A decoded batch. Owns the decompressed bytes that its views point into; not copyable.
struct DecodedBatch {
  DecodedBatch() = default;
  DecodedBatch(const DecodedBatch&) = delete;
  DecodedBatch& operator=(const DecodedBatch&) = delete;

  std::uint32_t version = 0;
  BatchHeader header;
  std::vector<std::string_view> sources;
  std::vector<Template> templates;
  std::vector<Record> records;
  std::uint64_t line_bytes = 0;  // sum of record line sizes
  std::int64_t min_ts_ns = 0;    // 0 when there are no records
  std::int64_t max_ts_ns = 0;

  std::unique_ptr<char[]> storage;  // the decompressed msgpack
  std::size_t storage_size = 0;
};

/// Decompresses (one complete zstd frame, bounded) and decodes a batch.
Result<std::unique_ptr<DecodedBatch>> decodeBatch(std::string_view compressed,
                                                  const Limits& limits = {});
/// Decodes an uncompressed msgpack batch (copied into the result).
Result<std::unique_ptr<DecodedBatch>> decodeBatchMsgpack(std::string_view msgpack,
                                                         const Limits& limits = {});

/// Builds one batch incrementally: records are msgpack-encoded as they are added, so sealing
/// costs one compression pass. Reusable after reset(). Single-threaded.
class BatchBuilder {
 public:
  BatchBuilder();
  ~BatchBuilder();
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;

  /// Index of `path` in this batch's source table, adding it on first use.
  std::uint32_t sourceIndex(std::string_view path);
  void addRecord(std::uint32_t source, std::int64_t ts_ns, std::string_view line,
                 bool no_newline = false);

  std::size_t recordCount() const { return record_count_; }
  /// Bytes of line content added so far (the raw log bytes this batch covers, minus '\n').
  std::size_t lineBytes() const { return line_bytes_; }
  /// Bytes of encoded records so far (what sealing will compress, roughly).
  std::size_t encodedBytes() const { return records_.size(); }

  /// Encodes the whole batch as msgpack (uncompressed); for tests and tools.
  std::string encodeMsgpack(const BatchHeader& header) const;
  /// Encodes and zstd-compresses the batch. `level` is the zstd level (1 is fast).
  Result<std::string> seal(const BatchHeader& header, int level = 1);

  void reset();

 private:
  std::string encodePreamble(const BatchHeader& header) const;

  std::vector<std::string> sources_;
  std::string records_;  // concatenated msgpack-encoded records
  std::size_t record_count_ = 0;
  std::size_t line_bytes_ = 0;
  std::string sealed_;  // compression output buffer, reused
  std::uint32_t last_source_ = 0;  // previous record's values: equal ones are omitted
  std::int64_t last_ts_ = 0;
  struct Compressor;
  std::unique_ptr<Compressor> compressor_;
};

/// Compresses arbitrary bytes as one zstd frame (tests, tools).
Result<std::string> zstdCompress(std::string_view data, int level = 1);
/// Decompresses one complete zstd frame, refusing output over `max_output` bytes.
Result<std::string> zstdDecompress(std::string_view data, std::size_t max_output);

}  // namespace faultline::wire
