#pragma once

// The versioned agent→aggregator batch: a msgpack map, zstd-compressed as one frame.
// HTTP: Content-Type application/vnd.faultline.batch+msgpack, Content-Encoding zstd.
//
// Version 2 (written by BatchBuilder):
//
//   { "v": 2, "agent": str, "epoch": uint, "seq": uint, "sent_at": int (unix ns),
//     "sources": [str...], "templates": [{"id": uint, "text": str}...],
//     "n": uint (records), "lb": uint (line bytes the records represent), "body": bin }
//
// "templates" carries only the texts the sender chose to send (the agent sends each text once
// per stream); records reference templates by id, and the aggregator resolves ids it has not
// been sent in this batch from its per-tenant dictionary. A text is accepted only when
// id == logtemplate::templateId(text): ids are content addresses, so no agent can poison the
// text another agent's id stands for. The body is binary; batch_body.h specifies it. In short:
// per-record streams (kind and template slot, flags with severity, source changes, read-time
// deltas, event-time deltas, dedupe counts), raw lines in their own stream, and template
// parameters column-major, one column per (template, position), so that zstd at a fast level
// sees similar values side by side. Parameters are typed: canonical decimals as varints (plain
// or delta-coded against the column or the line position), zero-padded digit strings with
// their width, lower- or upper-case hex runs and UUIDs as raw bytes, repeats of a column's
// recent strings as an index, strings with digit runs as a shape plus numbers, anything else
// as bytes. Typing is lossless by construction: a parameter is typed only when its typed form
// renders back to exactly the same bytes ("+5", "0x1f", "aBc" stay strings).
//
// Version 1 (still decoded: spool entries of older agents must ingest):
//
//   { "v": 1, "agent": str, "epoch": uint, "seq": uint, "sent_at": int (unix ns),
//     "sources": [str...], "templates": [{"id": uint, "text": str}...],
//     "records": [{"l": bin, "s": uint, "t": int, "n": true}...] }
//
// A v1 record: "l" the line's bytes (required); "s" the index into sources and "t" the read
// time (unix ns), each omitted when equal to the previous record's (the first record's "t" is
// required, its "s" defaults to 0); "n" (optional, true) when no '\n' followed these bytes.
//
// Lines travel without their '\n' as raw bytes (not necessarily UTF-8), so the aggregator can
// reconstruct the file byte for byte. Decoding is strict: unknown keys, wrong types,
// out-of-range indexes, trailing bytes and anything over the Limits are errors.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::wire {

inline constexpr std::uint32_t kBatchVersion = 2;    // what BatchBuilder writes
inline constexpr std::uint32_t kBatchVersionV1 = 1;  // still decoded
inline constexpr std::string_view kBatchContentType = "application/vnd.faultline.batch+msgpack";
inline constexpr std::string_view kBatchContentEncoding = "zstd";

/// Bounds on what a decoder accepts. Defaults suit the aggregator's ingest endpoint.
struct Limits {
  std::size_t max_compressed_bytes = 16u << 20;
  std::size_t max_decompressed_bytes = 64u << 20;
  std::size_t max_records = 1u << 20;
  std::size_t max_sources = 4096;
  std::size_t max_templates = 1u << 16;  // template slots and texts per batch, each
  std::size_t max_line_bytes = 1u << 20;
  std::size_t max_string_bytes = 4096;          // agent id, source path, template text
  std::size_t max_template_params = 1024;       // parameters of one template
  std::size_t max_columns = 1u << 18;           // parameters of all template slots of a batch
  std::size_t max_params = 1u << 22;            // parameters in one batch, all records
  std::uint64_t max_expanded_lines = 1u << 26;  // lines a batch stands for, duplicates counted
};

/// Identifies one batch of one agent stream; the aggregator is idempotent on it.
struct BatchHeader {
  std::string agent;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::int64_t sent_at_ns = 0;
};

/// A template text carried in the batch (its id verified against the text).
struct Template {
  std::uint64_t id = 0;
  std::string_view text;
};

enum class RecordKind : std::uint8_t {
  Raw,        // the line's bytes
  Templated,  // a template id and one parameter per hole
  Aggregate,  // `count` lines of a template folded into one record per window; not a line
};

/// How a parameter travels; render it with renderParam().
enum class ParamKind : std::uint8_t {
  String,      // bytes: the text as is (also what repeats and shaped strings decode to)
  Decimal,     // number: canonical unsigned decimal ("0", "42", no leading zero)
  Negative,    // number: magnitude (>= 1) of "-<canonical decimal>"
  ZeroPadded,  // number and width: a digit string with leading zeros ("007": 7, width 3)
  HexLower,    // bytes: the hex digits as bytes (odd: the first nibble is omitted), [0-9a-f]
  HexUpper,    // same, [0-9A-F]
  UuidLower,   // bytes: 16 bytes of xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lower case
  UuidUpper,   // same, upper case
};

/// One decoded parameter. Views point into the owning DecodedBatch.
struct Param {
  ParamKind kind = ParamKind::String;
  std::uint8_t width = 0;  // ZeroPadded: total digits (2..20)
  bool odd = false;        // HexLower/HexUpper: odd number of hex digits
  std::uint64_t number = 0;
  std::string_view bytes;
};

/// One log record. Views point into the owning DecodedBatch.
struct Record {
  RecordKind kind = RecordKind::Raw;
  std::uint8_t severity = 0;  // shared/logparse/severity.h values (0 unknown .. 7 critical)
  /// True when no '\n' followed these bytes in the file: a piece of a line longer than the
  /// agent's limit (the next record of the same source continues it), or a last line that
  /// never got its newline. Export writes '\n' only after records where this is false.
  bool no_newline = false;
  std::uint32_t source = 0;      // index into DecodedBatch::sources
  std::int64_t ts_ns = 0;        // read time (unix ns); the first occurrence of a deduped line;
                                 // the window start of an aggregate
  std::int64_t event_ts_ns = 0;  // parsed event time (unix ns); 0 when unknown
  std::uint64_t count = 1;       // occurrences: > 1 for a deduped line, the folded lines of an
                                 // aggregate
  std::int64_t last_ts_ns = 0;   // read time of the last occurrence; the window end of an aggregate
  std::string_view line;         // Raw: the line's bytes without the terminating '\n'
  std::uint32_t template_slot = 0;  // Templated/Aggregate: index into DecodedBatch::template_ids
  std::uint32_t first_param = 0;    // Templated: index into DecodedBatch::params
  std::uint32_t param_count = 0;
};

/// A decoded batch. Owns the decompressed bytes that its views point into; not copyable.
struct DecodedBatch {
  DecodedBatch() = default;
  DecodedBatch(const DecodedBatch&) = delete;
  DecodedBatch& operator=(const DecodedBatch&) = delete;

  std::uint32_t version = 0;
  BatchHeader header;
  std::vector<std::string_view> sources;
  std::vector<Template> templates;          // texts sent in this batch (verified against their ids)
  std::vector<std::uint64_t> template_ids;  // v2: the templates records use, by slot
  std::vector<std::uint32_t> template_params;  // v2: parameters per slot (holes of its text)
  std::vector<std::int32_t> template_text;     // v2: by slot, index into templates or -1
  std::vector<Record> records;
  std::vector<Param> params;
  /// v1: sum of record line sizes. v2: the line bytes the records represent, as declared by
  /// the sender (statistics only).
  std::uint64_t line_bytes = 0;
  std::int64_t min_ts_ns = 0;  // over ts_ns and last_ts_ns; 0 when there are no records
  std::int64_t max_ts_ns = 0;

  std::unique_ptr<char[]> storage;  // the decompressed msgpack
  std::size_t storage_size = 0;
  /// Parameter strings rebuilt while decoding (shaped values); views point into these too.
  struct ArenaChunk {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  std::vector<ArenaChunk> arena;
};

/// Decompresses (one complete zstd frame, bounded) and decodes a batch (v1 or v2).
Result<std::unique_ptr<DecodedBatch>> decodeBatch(std::string_view compressed,
                                                  const Limits& limits = {});
/// Decodes an uncompressed msgpack batch (copied into the result).
Result<std::unique_ptr<DecodedBatch>> decodeBatchMsgpack(std::string_view msgpack,
                                                         const Limits& limits = {});

/// Resolves a template id the batch does not carry to its text (e.g. the aggregator's tenant
/// dictionary); nullopt when unknown. The view must stay valid until the render returns.
using TemplateLookup = std::function<std::optional<std::string_view>(std::uint64_t template_id)>;

/// The text of a slot: the batch's own table first, then `lookup` (may be empty). NotFound
/// (naming the id) when neither knows it.
Result<std::string_view> resolveTemplate(const DecodedBatch& batch, std::uint32_t slot,
                                         const TemplateLookup& lookup);

/// Appends one copy of the record's line (without '\n') to `out`: a Raw record's bytes, or a
/// Templated record's template with each "<*>" replaced by its parameter. NotFound when the
/// template is unknown, InvalidArgument when its holes do not match the parameters or for an
/// Aggregate (which is not a line). `out` may be left with a partial line on error.
Status renderRecordLine(const DecodedBatch& batch, const Record& record,
                        const TemplateLookup& lookup, std::string& out);

/// Same, with the template text already resolved.
Status renderTemplatedLine(const DecodedBatch& batch, const Record& record,
                           std::string_view template_text, std::string& out);

/// Appends the parameter's text.
void renderParam(const Param& param, std::string& out);

/// How messages name a template id: "0x" and 16 hex digits.
std::string templateIdText(std::uint64_t template_id);

/// Number of "<*>" holes in a template text (scanned left to right, not overlapping).
std::size_t countHoles(std::string_view template_text);

/// What the sender knows about one record besides its content.
struct RecordMeta {
  std::uint32_t source = 0;  // from BatchBuilder::sourceIndex
  std::int64_t read_ts_ns = 0;
  bool no_newline = false;
  std::uint8_t severity = 0;     // 0..7 (shared/logparse/severity.h); higher values are clamped
  std::int64_t event_ts_ns = 0;  // 0: unknown
};

/// Builds one batch (v2) incrementally. Each parameter is typed and appended to its column's
/// buffers as it is added; seal() lays the columns out and compresses everything in one zstd
/// pass. All buffers keep their capacity across reset(), so a reused builder does not allocate
/// per record once warm. Whatever is added, the sealed batch decodes with the default Limits
/// (records the Limits would refuse as templated travel raw), as long as the caller keeps
/// lines within max_line_bytes and seals on recordCount()/encodedBytes() as the collector
/// does. Single-threaded; may move between threads between calls (the collector seals on a
/// worker thread).
///
///   std::uint32_t src = builder.sourceIndex(path);
///   size_t i = builder.addTemplated({src, read_ts, false, sev, event_ts}, id, text,
///                                   /*send_text=*/first_time_in_stream, params);
///   builder.markDuplicate(i, later_read_ts);  // same line again: count 2
///   auto sealed = builder.seal(header, /*level=*/1);
class BatchBuilder {
 public:
  BatchBuilder();
  ~BatchBuilder();
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;

  /// Index of `path` in this batch's source table, adding it on first use.
  std::uint32_t sourceIndex(std::string_view path);

  /// Adds a raw line (no '\n' inside expected; any bytes are carried). Returns the record's
  /// index (for markDuplicate).
  std::size_t addRecord(const RecordMeta& meta, std::string_view line);
  /// Shorthand for a raw line with severity and event time unknown.
  std::size_t addRecord(std::uint32_t source, std::int64_t ts_ns, std::string_view line,
                        bool no_newline = false) {
    return addRecord(RecordMeta{source, ts_ns, no_newline, 0, 0}, line);
  }

  /// Adds a line as a template and its parameters, one per "<*>" in `template_text`, in
  /// order. `template_id` must be logtemplate::templateId(template_text) (the aggregator
  /// refuses a batch whose carried text does not match its id). The text is put in the
  /// batch's template table when `send_text` is true for any record of that template in this
  /// batch; otherwise the receiver must already have it (the agent sends each text once per
  /// stream). Precondition (asserted in debug builds): params.size() == countHoles(text); in
  /// release builds a mismatch, or anything over the default Limits (a text over 4096 bytes,
  /// too many parameters), goes as a raw line instead, rendered here, so nothing is lost.
  /// The views are copied; they need not outlive the call.
  std::size_t addTemplated(const RecordMeta& meta, std::uint64_t template_id,
                           std::string_view template_text, bool send_text,
                           const std::vector<std::string_view>& params);

  /// The record at `record_index` (from addRecord/addTemplated of this batch) occurred once
  /// more, read at `ts_ns`: count += 1, last_ts = ts_ns (first_ts stays its read time).
  /// Adds the line's size to lineBytes() and one byte to encodedBytes().
  void markDuplicate(std::size_t record_index, std::int64_t ts_ns);

  /// Adds an aggregate record: `count` (>= 1) lines of a template seen in
  /// [window_start_ns, window_end_ns] that are not sent one by one. Export does not print it.
  void addAggregate(std::uint32_t source, std::uint64_t template_id, std::string_view template_text,
                    bool send_text, std::uint8_t severity, std::uint64_t count,
                    std::int64_t window_start_ns, std::int64_t window_end_ns);

  /// Records (all kinds) added since the last reset().
  std::size_t recordCount() const { return records_.size(); }
  /// Bytes of line content the records represent (the raw log bytes this batch covers, minus
  /// '\n'): raw lines, rendered templated lines, and their duplicates; aggregates add nothing.
  std::size_t lineBytes() const { return line_bytes_; }
  /// Bytes of encoded content so far (what sealing will compress, roughly).
  std::size_t encodedBytes() const { return encoded_bytes_; }

  /// Encodes the whole batch as msgpack (uncompressed); for tests and tools.
  std::string encodeMsgpack(const BatchHeader& header);
  /// Encodes and zstd-compresses the batch. `level` is the zstd level (1 is fast).
  Result<std::string> seal(const BatchHeader& header, int level = 1);

  void reset();

  /// Frees the compression context all builders share (allocated again by the next seal);
  /// for an agent going idle. Thread-safe.
  static void releaseCompressionMemory();

 private:
  struct Slot;  // one template of this batch and its parameter columns
  /// What seal() needs of one record besides its content.
  struct RecordInfo {
    std::int64_t read_ts = 0;
    std::int64_t event_ts = 0;
    std::int64_t last_ts = 0;
    std::uint64_t count = 1;
    std::uint32_t source = 0;
    std::uint32_t kind = 0;       // as in the body's kinds stream: 0 raw, 1 + 2·slot, 2 + 2·slot
    std::uint32_t line_size = 0;  // bytes one occurrence represents
    std::uint8_t severity = 0;
    bool no_newline = false;
  };

  std::uint32_t slotFor(std::uint64_t template_id, std::string_view template_text, bool send_text,
                        std::size_t params);
  void encodeBody();
  std::size_t streamSize(std::size_t index) const;
  /// Calls fn(std::string_view) with the body stream's bytes, in one or more pieces.
  template <typename Fn>
  void forEachPiece(std::size_t index, Fn&& fn) const;
  std::string encodePreamble(const BatchHeader& header) const;

  std::vector<std::string> sources_;
  std::vector<RecordInfo> records_;
  Slot& batchSlot(std::size_t wire_index);
  const Slot& batchSlot(std::size_t wire_index) const;

  std::vector<Slot> slots_;                 // templates seen recently, with their column buffers
  std::vector<std::uint32_t> batch_slots_;  // this batch's slots (wire index) → index in slots_
  std::uint64_t generation_ = 1;            // counts batches; Slot::batch refers to it
  std::size_t slot_count_ = 0;
  std::size_t column_count_ = 0;                // parameters of all slots (the decoder bounds it)
  std::size_t param_count_ = 0;                 // parameters of all records (likewise)
  std::vector<std::uint64_t> slot_index_keys_;  // open addressing: template id → slots_ index
  std::vector<std::uint32_t> slot_index_values_;
  std::string raw_lengths_;
  std::string raw_bytes_;
  std::size_t line_bytes_ = 0;
  std::size_t encoded_bytes_ = 0;
  std::array<std::size_t, 4> param_sizes_{};  // tags, nums, bin, strs bytes (set at encode)
  struct Compressor;
  std::unique_ptr<Compressor> compressor_;
};

/// Compresses arbitrary bytes as one zstd frame (tests, tools).
Result<std::string> zstdCompress(std::string_view data, int level = 1);
/// Decompresses one complete zstd frame, refusing output over `max_output` bytes.
Result<std::string> zstdDecompress(std::string_view data, std::size_t max_output);

}  // namespace faultline::wire
