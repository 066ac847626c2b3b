#pragma once

// The binary body of a v2 batch (shared/wire internal; batch.h is the public face).
//
//   body := varint(kStreamCount) varint(length) × kStreamCount, then the streams in order
//
//   0 slots    varint(count), then per slot: template id (8 bytes, little-endian),
//              varint(parameters)
//   1 kinds    per record, varint: 0 raw, 1 + 2·slot templated, 2 + 2·slot aggregate
//   2 flags    per record, one byte: bits 0-2 severity, 3 no_newline, 4 counted (an entry in
//              `counts`), 5 event time (an entry in `events`), 6 source (an entry in
//              `sources`), 7 read time (an entry in `times`)
//   3 sources  per record with flag 6: varint source index (others keep the previous
//              record's; the first record's default is 0)
//   4 times    per record with flag 7: zigzag varint, read time minus the previous record's
//              (others repeat it; the first record's previous is 0)
//   5 events   empty when no record has flag 5; else one byte `scale` (0..18), then per
//              record with flag 5 a zigzag varint, event_time/10^scale minus the previous such
//              record's (the first one's previous is 0). Every event time is a multiple of
//              10^scale (millisecond stamps in nanoseconds: scale 6).
//   6 counts   per record with flag 4: varint(count - 1), zigzag varint(last_ts - ts).
//              Aggregates always have flag 4 (ts = window start, last_ts = window end).
//   7 rawlen   per raw record: varint(length)
//   8 raw      raw lines, concatenated
//   9 tags     parameter tags and their operands
//  10 nums     varints: numbers and digit runs
//  11 bin      bytes of hex and UUID parameters
//  12 strs     bytes of strings and of new shapes
//
// Streams 9-12 are column-major: one column per slot and parameter position, in slot order
// then position order, each holding that position's values for every templated record of
// the slot, in record order. Zstd then sees each column's similar values together (that alone
// made the wire 6% smaller than record order). Each column's part of every stream is found by
// walking its tags (the tags and the shapes say how many bytes each value takes). Values are
// decoded in record order, because some state is shared across templates.
//
// Coding state starts empty in every batch, so each batch decodes alone. Per column:
//   - the previous unsigned number (of kDec and kZpad values) and, per digit-run index
//     r < kDeltaRuns, the previous run value of shaped strings;
//   - the last kStringMru distinct string values (kStr and kShape* values), most recently
//     used first: kStrRef repeats entry i (operand: byte i) and moves it to the front; a new
//     value goes to the front and the last entry drops out;
//   - the last kShapeMru distinct shapes, managed the same way.
// Per parameter position p < kPositions, across all templates, in record order: the previous
// unsigned number and previous run values at p (lines of one source tend to start with the
// same fields, e.g. a timestamp, whatever the template). A number is written as is (mode 0),
// as a zigzag delta from its column's previous value (mode 1) or from its position's (mode 2);
// the encoder picks per value the mode that has been cheapest so far in the column.
// A shape is a string with its digit runs replaced by markers: byte 0 then a code, 0 for a
// literal NUL byte, 1 for a run written as is ("42"), w in 2..19 for a run zero-padded to w
// digits ("007": w 3). A shaped value has one varint per run in `nums`; its modes byte gives
// the modes of runs 0..3 (two bits each, run 0 lowest); later runs are plain.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/util/status.h"
#include "shared/wire/batch.h"
#include "shared/wire/byte_buffer.h"

namespace faultline::wire::body {

inline constexpr std::size_t kStreamCount = 13;
enum Stream : std::size_t {
  kSlots,
  kKinds,
  kFlags,
  kSources,
  kTimes,
  kEvents,
  kCounts,
  kRawLengths,
  kRaw,
  kTags,
  kNums,
  kBin,
  kStrs,
};

inline constexpr std::uint8_t kFlagSeverityMask = 0x07;
inline constexpr std::uint8_t kFlagNoNewline = 0x08;
inline constexpr std::uint8_t kFlagCounted = 0x10;
inline constexpr std::uint8_t kFlagEventTime = 0x20;
inline constexpr std::uint8_t kFlagSource = 0x40;
inline constexpr std::uint8_t kFlagReadTime = 0x80;

inline constexpr std::size_t kStringMru = 8;
inline constexpr std::size_t kShapeMru = 2;
inline constexpr std::size_t kDeltaRuns = 4;
inline constexpr std::size_t kPositions = 8;
inline constexpr std::size_t kMaxRuns = 16;       // digit runs in one shaped string
inline constexpr std::size_t kMaxRunDigits = 19;  // always fits in uint64
inline constexpr std::size_t kMaxShapeBytes = 256;

/// Parameter tags and their operands (in the tags stream, after the tag).
enum Tag : std::uint8_t {
  kStr = 0,       // varint length; bytes in strs
  kStrRef = 1,    // byte i < kStringMru: a recent string of the column
  kDec = 2,       // nums: canonical unsigned decimal in mode 0 (kDec + mode: 2, 3, 4)
  kZpad = 5,      // byte width 2..20; nums: a value with fewer digits than width, zero
                  // padded, in mode 0 (kZpad + mode: 5, 6, 7)
  kNeg = 8,       // nums: varint magnitude >= 1 ("-" + canonical decimal)
  kHexLower = 9,  // varint digit count >= 1; bin: (count + 1) / 2 bytes, the first high
                  // nibble 0 when the count is odd
  kHexUpper = 10,
  kUuidLower = 11,  // bin: 16 bytes
  kUuidUpper = 12,
  kShapeNew = 13,  // varint shape length, modes byte; shape bytes in strs; runs in nums
  kShapeRef = 14,  // byte i < kShapeMru (a recent shape of the column), modes byte; runs
};

/// Delta modes of numbers and digit runs.
enum Mode : std::uint8_t { kPlain = 0, kColumnDelta = 1, kPositionDelta = 2 };

/// Previous values at one parameter position, shared by all templates of a batch.
struct PositionState {
  std::uint64_t number = 0;
  std::array<std::uint64_t, kDeltaRuns> runs{};
};

/// The column-major parameter streams a batch is sealed with.
struct ParamStreams {
  std::string tags;
  std::string nums;
  std::string bin;
  std::string strs;
  void clear() {
    tags.clear();
    nums.clear();
    bin.clear();
    strs.clear();
  }
};

/// One column's values and coding state on the encoding side (see the file comment).
class ColumnEncoder {
 public:
  /// Encodes one parameter of a record. `position` is the state of its position (null past
  /// kPositions). Returns the bytes it added before compression.
  std::size_t add(std::string_view param, PositionState* position);
  /// Appends this column's part of each stream.
  void appendTo(ParamStreams& out) const;
  void clear();
  /// clear() and give the buffers back (a template that did not occur in the last batch).
  void release();
  /// This column's part of each param stream, in ParamStreams order (tags, nums, bin, strs).
  std::string_view tags() const { return tags_.view(); }
  std::string_view nums() const { return nums_.view(); }
  std::string_view bin() const { return bin_.view(); }
  std::string_view strs() const { return strs_.view(); }

 private:
  struct Entry {
    std::uint32_t hash = 0;
    std::uint32_t offset = 0;
    std::uint32_t size = 0;  // the top bit set: bytes in strs_, else in arena_
  };
  static constexpr std::uint32_t kInStrs = 0x80000000u;
  /// Chooses a mode per value from the bytes each mode has cost this column so far.
  struct Adaptive {
    std::uint64_t prev = 0;
    std::array<std::uint32_t, 3> cost{};
    /// Appends `value` in the cheapest mode so far; updates `position_prev` (may be null);
    /// returns the mode used.
    Mode put(std::uint64_t value, std::uint64_t* position_prev, ByteBuffer& nums);
  };

  bool addShaped(std::string_view param, std::uint32_t hash, PositionState* position,
                 std::size_t* added);
  std::string_view entryBytes(const Entry& entry) const {
    const ByteBuffer& in = (entry.size & kInStrs) != 0 ? strs_ : arena_;
    return std::string_view(in.data() + entry.offset, entry.size & ~kInStrs);
  }

  ByteBuffer tags_;
  ByteBuffer nums_;
  ByteBuffer bin_;
  ByteBuffer strs_;
  ByteBuffer arena_;  // shaped values, for the string MRU (not sent)
  Adaptive number_;
  std::array<Adaptive, kDeltaRuns> runs_;
  std::array<Entry, kStringMru> strings_;
  std::array<Entry, kShapeMru> shapes_;  // in strs_
  std::uint8_t string_count_ = 0;
  std::uint8_t shape_count_ = 0;
};

/// Decodes a v2 body into `batch` (whose envelope fields are already set).
Status decode(DecodedBatch& batch, std::string_view body, std::uint64_t record_count,
              const Limits& limits);

}  // namespace faultline::wire::body
