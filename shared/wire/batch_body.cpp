#include "shared/wire/batch_body.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "shared/wire/varint.h"

namespace faultline::wire::body {
namespace {

constexpr std::uint8_t kDigit = 1;
constexpr std::uint8_t kLowerHex = 2;
constexpr std::uint8_t kUpperHex = 4;
constexpr std::uint8_t kDash = 8;
constexpr std::uint8_t kOther = 16;

constexpr std::array<std::uint8_t, 256> makeClasses() {
  std::array<std::uint8_t, 256> classes{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t cls = kOther;
    if (c >= '0' && c <= '9') {
      cls = kDigit;
    } else if (c >= 'a' && c <= 'f') {
      cls = kLowerHex;
    } else if (c >= 'A' && c <= 'F') {
      cls = kUpperHex;
    } else if (c == '-') {
      cls = kDash;
    }
    classes[static_cast<std::size_t>(c)] = cls;
  }
  return classes;
}
constexpr std::array<std::uint8_t, 256> kClass = makeClasses();

constexpr std::uint8_t nibble(char c) {
  return c <= '9' ? static_cast<std::uint8_t>(c - '0')
                  : static_cast<std::uint8_t>((c | 0x20) - 'a' + 10);
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

/// Value of an all-digit string of at most 20 digits; false on uint64 overflow.
bool parseDigits(std::string_view digits, std::uint64_t* out) {
  std::uint64_t value = 0;
  const std::size_t safe = digits.size() < 19 ? digits.size() : 19;  // 19 digits always fit
  for (std::size_t i = 0; i < safe; ++i) {
    value = value * 10 + static_cast<std::uint64_t>(digits[i] - '0');
  }
  for (std::size_t i = safe; i < digits.size(); ++i) {
    const auto d = static_cast<std::uint64_t>(digits[i] - '0');
    if (value > (UINT64_MAX - d) / 10) {
      return false;
    }
    value = value * 10 + d;
  }
  *out = value;
  return true;
}

std::size_t decimalDigits(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 10) {
    value /= 10;
    ++n;
  }
  return n;
}

/// Appends hex digits as bytes; an odd count puts the first digit alone in the first byte.
void putHex(ByteBuffer& out, std::string_view hex) {
  std::size_t i = 0;
  if (hex.size() % 2 == 1) {
    out.push(static_cast<char>(nibble(hex[0])));
    i = 1;
  }
  for (; i < hex.size(); i += 2) {
    out.push(static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1])));
  }
}

bool isUuid(std::string_view p) {
  if (p.size() != 36 || p[8] != '-' || p[13] != '-' || p[18] != '-' || p[23] != '-') {
    return false;
  }
  for (std::size_t i = 0; i < 36; ++i) {
    if (i != 8 && i != 13 && i != 18 && i != 23 && p[i] == '-') {
      return false;
    }
  }
  return true;
}

/// A cheap hash for MRU lookups: length and the first and last 8 bytes.
std::uint32_t quickHash(std::string_view s) {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  if (s.size() >= 8) {
    std::memcpy(&a, s.data(), 8);
    std::memcpy(&b, s.data() + s.size() - 8, 8);
  } else {
    for (std::size_t i = 0; i < s.size(); ++i) {
      a = (a << 8) | static_cast<std::uint8_t>(s[i]);
    }
  }
  std::uint64_t h = (a ^ (s.size() * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
  h ^= (b + (h >> 29)) * 0x94D049BB133111EBull;
  return static_cast<std::uint32_t>(h >> 32);
}

std::uint32_t varintBytes(std::uint64_t value) {
  // 1 + floor(bit length / 7), without a loop.
  return static_cast<std::uint32_t>((63 - __builtin_clzll(value | 1)) * 37 / 256 + 1);
}

template <typename T, std::size_t N>
void moveToFront(std::array<T, N>& entries, std::size_t i) {
  const T hit = entries[i];
  for (; i > 0; --i) {
    entries[i] = entries[i - 1];
  }
  entries[0] = hit;
}

template <typename T, std::size_t N>
void pushFront(std::array<T, N>& entries, std::uint8_t& count, const T& value) {
  if (count < N) {
    ++count;
  }
  for (std::size_t i = count - 1; i > 0; --i) {
    entries[i] = entries[i - 1];
  }
  entries[0] = value;
}

}  // namespace

Mode ColumnEncoder::Adaptive::put(std::uint64_t value, std::uint64_t* position_prev,
                                  ByteBuffer& nums) {
  const std::uint64_t column_delta = zigzag(static_cast<std::int64_t>(value - prev));
  Mode mode = cost[kColumnDelta] < cost[kPlain] ? kColumnDelta : kPlain;
  std::uint64_t written = mode == kColumnDelta ? column_delta : value;
  cost[kPlain] += varintBytes(value);
  cost[kColumnDelta] += varintBytes(column_delta);
  if (position_prev != nullptr) {
    // Compared after the others have counted this value: ties (and near ties) go to the
    // position, whose context is shared by all templates (measured: 1.5% smaller wire).
    const std::uint64_t position_delta = zigzag(static_cast<std::int64_t>(value - *position_prev));
    if (cost[kPositionDelta] < cost[mode]) {
      mode = kPositionDelta;
      written = position_delta;
    }
    cost[kPositionDelta] += varintBytes(position_delta);
    *position_prev = value;
  }
  nums.putVarint(written);
  prev = value;
  return mode;
}

namespace {

/// Matches `p` against a shape without building one: true (with the run values) when `p` has
/// exactly the shape's literal bytes and, in place of each marker, a digit run the encoder
/// would write with that marker. Fails fast at the first difference.
bool matchShape(std::string_view shape, std::string_view p,
                std::array<std::uint64_t, kMaxRuns>& values, std::size_t* runs) {
  std::size_t i = 0;
  std::size_t run = 0;
  for (std::size_t j = 0; j < shape.size(); ++j) {
    if (shape[j] != '\0') {
      if (i == p.size() || p[i] != shape[j]) {
        return false;
      }
      ++i;
      continue;
    }
    const auto code = static_cast<std::uint8_t>(shape[++j]);
    if (code == 0) {
      if (i == p.size() || p[i] != '\0') {
        return false;
      }
      ++i;
      continue;
    }
    const std::size_t start = i;
    std::uint64_t value = 0;
    while (i < p.size() && isDigit(p[i])) {
      value = value * 10 + static_cast<std::uint64_t>(p[i] - '0');
      ++i;
    }
    const std::size_t length = i - start;
    if (length == 0 || length > kMaxRunDigits ||
        (p[start] == '0' && length > 1 ? length : 1) != code) {
      return false;
    }
    values[run++] = value;  // a stored shape has at most kMaxRuns markers
  }
  *runs = run;
  return i == p.size();
}

}  // namespace

bool ColumnEncoder::addShaped(std::string_view p, std::uint32_t hash, PositionState* position,
                              std::size_t* added) {
  std::array<std::uint64_t, kMaxRuns> values;
  std::size_t runs = 0;
  std::size_t found = kShapeMru;
  for (std::size_t i = 0; i < shape_count_; ++i) {
    if (matchShape(entryBytes(shapes_[i]), p, values, &runs)) {
      found = i;
      break;
    }
  }
  char shape[kMaxShapeBytes];
  std::size_t shape_size = 0;
  if (found == kShapeMru) {
    // A new shape costs its bytes: worth it only when digits make up most of the value.
    std::size_t digits = 0;
    for (char c : p) {
      digits += isDigit(c) ? 1 : 0;
    }
    if (digits * 2 < p.size()) {
      return false;
    }
    runs = 0;
    for (std::size_t i = 0; i < p.size();) {
      if (shape_size + 2 > sizeof shape) {
        return false;
      }
      if (!isDigit(p[i])) {
        if (p[i] == '\0') {
          shape[shape_size++] = '\0';
        }
        shape[shape_size++] = p[i++];
        continue;
      }
      const std::size_t start = i;
      std::uint64_t value = 0;
      while (i < p.size() && isDigit(p[i])) {
        value = value * 10 + static_cast<std::uint64_t>(p[i] - '0');  // fits: length checked
        ++i;
      }
      const std::size_t length = i - start;
      if (runs == kMaxRuns || length > kMaxRunDigits) {
        return false;
      }
      values[runs++] = value;
      shape[shape_size++] = '\0';
      shape[shape_size++] = static_cast<char>(p[start] == '0' && length > 1 ? length : 1);
    }
  }
  const std::size_t before = tags_.size() + nums_.size() + strs_.size();
  if (found == kShapeMru) {
    tags_.push(static_cast<char>(kShapeNew));
    tags_.putVarint(shape_size);
    pushFront(shapes_, shape_count_,
              Entry{0, static_cast<std::uint32_t>(strs_.size()),
                    static_cast<std::uint32_t>(shape_size) | kInStrs});
    strs_.append(std::string_view(shape, shape_size));
  } else {
    tags_.push(static_cast<char>(kShapeRef));
    tags_.push(static_cast<char>(found));
    moveToFront(shapes_, found);
  }
  const std::size_t modes_at = tags_.size();
  tags_.push('\0');
  std::uint8_t modes = 0;
  for (std::size_t r = 0; r < runs; ++r) {
    if (r < kDeltaRuns) {
      const Mode mode =
          runs_[r].put(values[r], position != nullptr ? &position->runs[r] : nullptr, nums_);
      modes |= static_cast<std::uint8_t>(mode << (2 * r));
    } else {
      nums_.putVarint(values[r]);
    }
  }
  tags_[modes_at] = static_cast<char>(modes);
  // The whole value joins the string MRU, so an exact repeat costs two tag bytes.
  pushFront(
      strings_, string_count_,
      Entry{hash, static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(p.size())});
  arena_.append(p);
  *added = tags_.size() + nums_.size() + strs_.size() - before;
  return true;
}

std::size_t ColumnEncoder::add(std::string_view p, PositionState* position) {
  const std::size_t n = p.size();
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(p.data());
  std::uint8_t mask = 0;
  std::size_t at = 0;
  for (; at + 4 <= n; at += 4) {
    mask |=
        kClass[bytes[at]] | kClass[bytes[at + 1]] | kClass[bytes[at + 2]] | kClass[bytes[at + 3]];
  }
  for (; at < n; ++at) {
    mask |= kClass[bytes[at]];
  }
  if (n > 0 && (mask & kOther) == 0) {
    std::uint64_t value = 0;
    if (mask == kDigit && n <= 20 && parseDigits(p, &value)) {
      const bool padded = p[0] == '0' && n > 1;
      const std::size_t before = nums_.size();
      const Mode mode =
          number_.put(value, position != nullptr ? &position->number : nullptr, nums_);
      tags_.push(static_cast<char>((padded ? kZpad : kDec) + static_cast<int>(mode)));
      if (padded) {
        tags_.push(static_cast<char>(n));
      }
      return (padded ? 2 : 1) + nums_.size() - before;
    }
    if (mask == (kDigit | kDash) && p[0] == '-' && n >= 2 && n <= 21 && p[1] != '0' &&
        p.find('-', 1) == std::string_view::npos && parseDigits(p.substr(1), &value)) {
      tags_.push(static_cast<char>(kNeg));
      nums_.putVarint(value);
      return 1 + varintBytes(value);
    }
    // Digit strings too long for uint64 land here too: hex digits render them exactly.
    if ((mask & ~(kDigit | kLowerHex)) == 0 || (mask & ~(kDigit | kUpperHex)) == 0) {
      tags_.push(static_cast<char>((mask & kUpperHex) != 0 ? kHexUpper : kHexLower));
      tags_.putVarint(n);
      putHex(bin_, p);
      return 1 + varintBytes(n) + (n + 1) / 2;
    }
    if ((mask & (kLowerHex | kUpperHex)) != (kLowerHex | kUpperHex) && isUuid(p)) {
      tags_.push(static_cast<char>((mask & kUpperHex) != 0 ? kUuidUpper : kUuidLower));
      putHex(bin_, p.substr(0, 8));
      putHex(bin_, p.substr(9, 4));
      putHex(bin_, p.substr(14, 4));
      putHex(bin_, p.substr(19, 4));
      putHex(bin_, p.substr(24, 12));
      return 17;
    }
  }
  // A string: a recent value of this column, a shape with digit runs, or the bytes.
  const std::uint32_t hash = quickHash(p);
  for (std::size_t i = 0; i < string_count_; ++i) {
    if (strings_[i].hash == hash && entryBytes(strings_[i]) == p) {
      tags_.push(static_cast<char>(kStrRef));
      tags_.push(static_cast<char>(i));
      moveToFront(strings_, i);
      return 2;
    }
  }
  std::size_t added = 0;
  if ((mask & kDigit) != 0 && addShaped(p, hash, position, &added)) {
    return added;
  }
  tags_.push(static_cast<char>(kStr));
  tags_.putVarint(n);
  pushFront(strings_, string_count_,
            Entry{hash, static_cast<std::uint32_t>(strs_.size()),
                  static_cast<std::uint32_t>(n) | kInStrs});
  strs_.append(p);
  return 1 + varintBytes(n) + n;
}

void ColumnEncoder::appendTo(ParamStreams& out) const {
  out.tags.append(tags_.view());
  out.nums.append(nums_.view());
  out.bin.append(bin_.view());
  out.strs.append(strs_.view());
}

void ColumnEncoder::clear() {
  tags_.clear();
  nums_.clear();
  bin_.clear();
  strs_.clear();
  arena_.clear();
  number_ = {};
  runs_ = {};
  string_count_ = 0;
  shape_count_ = 0;
}

void ColumnEncoder::release() {
  clear();
  tags_.release();
  nums_.release();
  bin_.release();
  strs_.release();
  arena_.release();
}

// ---------------------------------------------------------------------------------------------

namespace {

Status bad(const std::string& what) {
  return invalidArgument("bad batch body: " + what);
}

constexpr std::array<std::uint64_t, 19> kPow10 = [] {
  std::array<std::uint64_t, 19> p{};
  std::uint64_t v = 1;
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = v;
    v = i + 1 < p.size() ? v * 10 : v;
  }
  return p;
}();

/// Stable storage for strings the decoder rebuilds (shaped values): chunks never move.
class Arena {
 public:
  Arena(DecodedBatch& batch, std::size_t limit) : batch_(batch), limit_(limit) {}
  /// Copies `bytes` in; nullptr once the total would pass the limit.
  const char* store(std::string_view bytes) {
    if (bytes.size() > limit_ - used_) {
      return nullptr;
    }
    used_ += bytes.size();
    if (bytes.size() > chunk_size_ - chunk_used_) {
      chunk_size_ = std::max<std::size_t>(bytes.size(), 64 * 1024);
      batch_.arena.push_back({std::unique_ptr<char[]>(new char[chunk_size_]), chunk_size_});
      chunk_used_ = 0;
    }
    char* at = batch_.arena.back().data.get() + chunk_used_;
    std::memcpy(at, bytes.data(), bytes.size());
    chunk_used_ += bytes.size();
    return at;
  }

 private:
  DecodedBatch& batch_;
  std::size_t limit_;
  std::size_t used_ = 0;
  std::size_t chunk_size_ = 0;
  std::size_t chunk_used_ = 0;
};

/// One column on the decoding side: its part of each stream and its coding state.
struct ColumnState {
  StreamReader tags, nums, bin, strs;
  std::uint64_t prev = 0;
  std::array<std::uint64_t, kDeltaRuns> runs{};
  std::array<std::string_view, kStringMru> strings;
  std::array<std::string_view, kShapeMru> shapes;
  std::uint8_t string_count = 0;
  std::uint8_t shape_count = 0;
};

/// Digit runs in a shape; -1 when the shape is malformed.
int countRuns(std::string_view shape) {
  int runs = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != '\0') {
      continue;
    }
    if (++i == shape.size()) {
      return -1;
    }
    const auto code = static_cast<std::uint8_t>(shape[i]);
    if (code > kMaxRunDigits) {
      return -1;
    }
    runs += code != 0 ? 1 : 0;
  }
  return runs == 0 || runs > static_cast<int>(kMaxRuns) ? -1 : runs;
}

/// Steps over one value of a column in all four streams, tracking the column's recent shapes
/// (which say how many runs a kShapeRef value has). False when the value is malformed.
bool skipValue(StreamReader& tags, StreamReader& nums, StreamReader& bin, StreamReader& strs,
               std::array<std::string_view, kShapeMru>& shapes, std::uint8_t& shape_count) {
  std::uint8_t tag = 0;
  std::uint8_t byte = 0;
  std::uint64_t value = 0;
  std::string_view bytes;
  if (!tags.byte(&tag)) {
    return false;
  }
  int varints = 0;
  switch (tag) {
    case kStr:
      if (!tags.varint(&value) || !strs.bytes(value, &bytes)) {
        return false;
      }
      break;
    case kStrRef:
      if (!tags.byte(&byte)) {
        return false;
      }
      break;
    case kDec:
    case kDec + 1:
    case kDec + 2:
    case kNeg: varints = 1; break;
    case kZpad:
    case kZpad + 1:
    case kZpad + 2:
      if (!tags.byte(&byte)) {
        return false;
      }
      varints = 1;
      break;
    case kHexLower:
    case kHexUpper:
      if (!tags.varint(&value) || value == 0 || value > (1u << 30) ||
          !bin.bytes((value + 1) / 2, &bytes)) {
        return false;
      }
      break;
    case kUuidLower:
    case kUuidUpper:
      if (!bin.bytes(16, &bytes)) {
        return false;
      }
      break;
    case kShapeNew:
      if (!tags.varint(&value) || value > kMaxShapeBytes || !strs.bytes(value, &bytes) ||
          !tags.byte(&byte)) {
        return false;
      }
      pushFront(shapes, shape_count, bytes);
      varints = countRuns(bytes);
      break;
    case kShapeRef: {
      std::uint8_t modes = 0;
      if (!tags.byte(&byte) || byte >= shape_count || !tags.byte(&modes)) {
        return false;
      }
      moveToFront(shapes, byte);
      varints = countRuns(shapes[0]);
      break;
    }
    default: return false;
  }
  if (varints < 0) {
    return false;
  }
  for (int i = 0; i < varints; ++i) {
    if (!nums.varint(&value)) {
      return false;
    }
  }
  return true;
}

std::size_t renderedSize(const Param& param) {
  switch (param.kind) {
    case ParamKind::String: return param.bytes.size();
    case ParamKind::Decimal: return decimalDigits(param.number);
    case ParamKind::Negative: return 1 + decimalDigits(param.number);
    case ParamKind::ZeroPadded: return param.width;
    case ParamKind::HexLower:
    case ParamKind::HexUpper: return param.bytes.size() * 2 - (param.odd ? 1 : 0);
    case ParamKind::UuidLower:
    case ParamKind::UuidUpper: return 36;
  }
  return 0;
}

void appendDigits(std::uint64_t value, std::size_t width, std::string& out) {
  char buf[20];
  std::size_t n = 0;
  do {
    buf[sizeof buf - 1 - n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  if (width > n) {
    out.append(width - n, '0');
  }
  out.append(buf + sizeof buf - n, n);
}

/// Reads a number written in `mode` and updates the column's and the position's previous
/// values; false when the nums stream fails or the mode is invalid.
bool readNumber(StreamReader& nums, std::uint8_t mode, std::uint64_t& column_prev,
                std::uint64_t* position_prev, std::uint64_t* out) {
  std::uint64_t value = 0;
  if (!nums.varint(&value)) {
    return false;
  }
  if (mode == kColumnDelta) {
    value = column_prev + static_cast<std::uint64_t>(unzigzag(value));
  } else if (mode == kPositionDelta) {
    if (position_prev == nullptr) {
      return false;
    }
    value = *position_prev + static_cast<std::uint64_t>(unzigzag(value));
  } else if (mode != kPlain) {
    return false;
  }
  column_prev = value;
  if (position_prev != nullptr) {
    *position_prev = value;
  }
  *out = value;
  return true;
}

/// Renders a shaped value into `out`; an error message on failure.
const char* renderShape(std::string_view shape, std::uint8_t modes, ColumnState& column,
                        PositionState* position, std::string& out) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != '\0') {
      out.push_back(shape[i]);
      continue;
    }
    const auto code = static_cast<std::uint8_t>(shape[++i]);  // countRuns checked the shape
    if (code == 0) {
      out.push_back('\0');
      continue;
    }
    std::uint64_t value = 0;
    if (run < kDeltaRuns) {
      const auto mode = static_cast<std::uint8_t>((modes >> (2 * run)) & 3);
      if (!readNumber(column.nums, mode, column.runs[run],
                      position != nullptr ? &position->runs[run] : nullptr, &value)) {
        return "digit run with a bad mode";
      }
    } else if (!column.nums.varint(&value)) {
      return "digit run missing";
    }
    const std::size_t digits = decimalDigits(value);
    if (digits > kMaxRunDigits || (code > 1 && digits >= code)) {
      return "digit run does not fit its marker";
    }
    appendDigits(value, code, out);
    ++run;
  }
  if (run < kDeltaRuns && (modes >> (2 * run)) != 0) {
    return "modes byte names runs the shape does not have";
  }
  return nullptr;
}

/// Decodes one parameter of a column; an error message on failure. The column's streams were
/// bounded by the pre-pass, so reads here fail only on malformed values.
const char* decodeParam(ColumnState& column, PositionState* position, Arena& arena,
                        std::string& scratch, Param& out) {
  std::uint8_t tag = 0;
  std::uint8_t byte = 0;
  std::uint64_t value = 0;
  if (!column.tags.byte(&tag)) {
    return "tags end early";
  }
  switch (tag) {
    case kStr:
      if (!column.tags.varint(&value) || !column.strs.bytes(value, &out.bytes)) {
        return "string past its stream";
      }
      out.kind = ParamKind::String;
      pushFront(column.strings, column.string_count, out.bytes);
      return nullptr;
    case kStrRef:
      if (!column.tags.byte(&byte) || byte >= column.string_count) {
        return "repeat of a string the column has not had";
      }
      out.kind = ParamKind::String;
      out.bytes = column.strings[byte];
      moveToFront(column.strings, byte);
      return nullptr;
    case kShapeNew:
    case kShapeRef: {
      std::string_view shape;
      if (tag == kShapeNew) {
        if (!column.tags.varint(&value) || !column.strs.bytes(value, &shape)) {
          return "shape past its stream";
        }
        pushFront(column.shapes, column.shape_count, shape);
      } else {
        if (!column.tags.byte(&byte) || byte >= column.shape_count) {
          return "repeat of a shape the column has not had";
        }
        shape = column.shapes[byte];
        moveToFront(column.shapes, byte);
      }
      std::uint8_t modes = 0;
      if (!column.tags.byte(&modes) || countRuns(shape) < 0) {
        return "malformed shape";
      }
      scratch.clear();
      if (const char* error = renderShape(shape, modes, column, position, scratch)) {
        return error;
      }
      const char* stored = arena.store(scratch);
      if (stored == nullptr) {
        return "shaped strings expand past the decompressed size limit";
      }
      out.kind = ParamKind::String;
      out.bytes = std::string_view(stored, scratch.size());
      pushFront(column.strings, column.string_count, out.bytes);
      return nullptr;
    }
    case kDec:
    case kDec + 1:
    case kDec + 2:
    case kZpad:
    case kZpad + 1:
    case kZpad + 2: {
      const bool zpad = tag >= kZpad;
      if (zpad && !column.tags.byte(&byte)) {
        return "tags end early";
      }
      const auto mode = static_cast<std::uint8_t>(tag - (zpad ? kZpad : kDec));
      if (!readNumber(column.nums, mode, column.prev,
                      position != nullptr ? &position->number : nullptr, &out.number)) {
        return "number missing or with a bad mode";
      }
      if (zpad) {
        if (byte < 2 || byte > 20 || decimalDigits(out.number) >= byte) {
          return "zero-padded number with a bad width";
        }
        out.kind = ParamKind::ZeroPadded;
        out.width = byte;
      } else {
        out.kind = ParamKind::Decimal;
      }
      return nullptr;
    }
    case kNeg:
      if (!column.nums.varint(&value) || value == 0) {
        return "negative number missing or zero";
      }
      out.kind = ParamKind::Negative;
      out.number = value;
      return nullptr;
    case kHexLower:
    case kHexUpper:
      if (!column.tags.varint(&value) || value == 0 || value > (1u << 30) ||
          !column.bin.bytes((value + 1) / 2, &out.bytes)) {
        return "hex run missing, empty or past its stream";
      }
      out.odd = value % 2 == 1;
      if (out.odd && static_cast<std::uint8_t>(out.bytes[0]) > 0x0f) {
        return "odd hex run with a non-zero pad nibble";
      }
      out.kind = tag == kHexLower ? ParamKind::HexLower : ParamKind::HexUpper;
      return nullptr;
    case kUuidLower:
    case kUuidUpper:
      if (!column.bin.bytes(16, &out.bytes)) {
        return "uuid past its stream";
      }
      out.kind = tag == kUuidLower ? ParamKind::UuidLower : ParamKind::UuidUpper;
      return nullptr;
    default: return "unknown parameter tag";
  }
}

}  // namespace

Status decode(DecodedBatch& batch, std::string_view body, std::uint64_t record_count,
              const Limits& limits) {
  StreamReader header(body);
  std::uint64_t stream_count = 0;
  if (!header.varint(&stream_count) || stream_count != kStreamCount) {
    return bad("expected " + std::to_string(kStreamCount) + " streams");
  }
  std::array<std::uint64_t, kStreamCount> lengths{};
  std::uint64_t total = 0;
  for (auto& length : lengths) {
    if (!header.varint(&length) || length > body.size()) {
      return bad("stream length missing or too large");
    }
    total += length;
  }
  if (total != header.remaining()) {
    return bad("stream lengths do not add up to the body");
  }
  std::array<StreamReader, kStreamCount> s;
  {
    std::size_t offset = body.size() - header.remaining();
    for (std::size_t i = 0; i < kStreamCount; ++i) {
      s[i] = StreamReader(body.substr(offset, lengths[i]));
      offset += lengths[i];
    }
  }

  // Template slots, and where each slot's columns start.
  std::uint64_t slot_count = 0;
  if (!s[kSlots].varint(&slot_count) || slot_count > limits.max_templates ||
      slot_count > s[kSlots].remaining() / 9) {
    return bad("template slot count missing or over the limit");
  }
  batch.template_ids.reserve(slot_count);
  batch.template_params.reserve(slot_count);
  std::vector<std::uint32_t> first_column;
  first_column.reserve(slot_count);
  std::uint64_t columns = 0;
  std::unordered_set<std::uint64_t> seen_ids;
  for (std::uint64_t i = 0; i < slot_count; ++i) {
    std::uint64_t id = 0;
    std::uint64_t params = 0;
    if (!s[kSlots].fixed64(&id) || !s[kSlots].varint(&params)) {
      return bad("template slot " + std::to_string(i) + " truncated");
    }
    if (params > limits.max_template_params) {
      return bad("template slot " + std::to_string(i) + " has " + std::to_string(params) +
                 " parameters, over the limit");
    }
    if (!seen_ids.insert(id).second) {
      return bad("template id " + templateIdText(id) + " has two slots");
    }
    first_column.push_back(static_cast<std::uint32_t>(columns));
    columns += params;
    if (columns > limits.max_columns) {
      return bad("template slots declare more than " + std::to_string(limits.max_columns) +
                 " parameter columns");
    }
    batch.template_ids.push_back(id);
    batch.template_params.push_back(static_cast<std::uint32_t>(params));
  }
  if (!s[kSlots].atEnd()) {
    return bad("trailing bytes in the slots stream");
  }

  // Pre-pass: each column's part of the parameter streams, from the number of templated
  // records of its slot and the values' own structure.
  std::vector<ColumnState> column_state(columns);
  {
    std::vector<std::uint64_t> per_slot(slot_count, 0);
    StreamReader kinds = s[kKinds];
    for (std::uint64_t i = 0; i < record_count; ++i) {
      std::uint64_t kind = 0;
      if (!kinds.varint(&kind)) {
        return bad("record " + std::to_string(i) + ": kinds stream ends early");
      }
      if (kind != 0 && (kind - 1) / 2 >= slot_count) {
        return bad("record " + std::to_string(i) + " names template slot " +
                   std::to_string((kind - 1) / 2) + " of " + std::to_string(slot_count));
      }
      if (kind % 2 == 1) {
        ++per_slot[(kind - 1) / 2];
      }
    }
    StreamReader tags = s[kTags], nums = s[kNums], bin = s[kBin], strs = s[kStrs];
    std::size_t column = 0;
    for (std::uint64_t slot = 0; slot < slot_count; ++slot) {
      for (std::uint32_t p = 0; p < batch.template_params[slot]; ++p, ++column) {
        const std::size_t tags_at = tags.position(), nums_at = nums.position(),
                          bin_at = bin.position(), strs_at = strs.position();
        std::array<std::string_view, kShapeMru> shapes;
        std::uint8_t shape_count = 0;
        for (std::uint64_t k = 0; k < per_slot[slot]; ++k) {
          if (!skipValue(tags, nums, bin, strs, shapes, shape_count)) {
            return bad("slot " + std::to_string(slot) + " parameter " + std::to_string(p) +
                       ": value " + std::to_string(k) + " malformed or past its stream");
          }
        }
        ColumnState& state = column_state[column];
        state.tags = StreamReader(tags.view(tags_at, tags.position()));
        state.nums = StreamReader(nums.view(nums_at, nums.position()));
        state.bin = StreamReader(bin.view(bin_at, bin.position()));
        state.strs = StreamReader(strs.view(strs_at, strs.position()));
      }
    }
    if (!tags.atEnd() || !nums.atEnd() || !bin.atEnd() || !strs.atEnd()) {
      return bad("trailing bytes in the parameter streams");
    }
  }

  // Records, and the parameters of templated ones in record order.
  batch.records.reserve(record_count);
  Arena arena(batch, limits.max_decompressed_bytes);
  std::string scratch;
  std::array<PositionState, kPositions> positions{};
  std::uint64_t source = 0;
  std::int64_t ts = 0;
  std::uint64_t event_scaled = 0;
  std::uint8_t scale = 0;
  bool seen_event = false;
  std::uint64_t expanded_lines = 0;
  for (std::uint64_t i = 0; i < record_count; ++i) {
    auto fail = [&](const std::string& what) {
      return bad("record " + std::to_string(i) + ": " + what);
    };
    Record record;
    std::uint64_t kind = 0;
    std::uint8_t flags = 0;
    if (!s[kKinds].varint(&kind) || !s[kFlags].byte(&flags)) {
      return fail("kinds or flags stream ends early");
    }
    std::uint64_t slot = 0;
    if (kind == 0) {
      record.kind = RecordKind::Raw;
    } else {
      slot = (kind - 1) / 2;
      if (slot >= slot_count) {
        return fail("names template slot " + std::to_string(slot) + " of " +
                    std::to_string(slot_count));
      }
      record.kind = kind % 2 == 1 ? RecordKind::Templated : RecordKind::Aggregate;
      record.template_slot = static_cast<std::uint32_t>(slot);
    }
    record.severity = flags & kFlagSeverityMask;
    record.no_newline = (flags & kFlagNoNewline) != 0;
    if ((flags & kFlagSource) != 0) {
      if (!s[kSources].varint(&source) || source > UINT32_MAX) {
        return fail("source index missing or too large");
      }
    }
    record.source = static_cast<std::uint32_t>(source);
    if ((flags & kFlagReadTime) != 0) {
      std::uint64_t delta = 0;
      if (!s[kTimes].varint(&delta)) {
        return fail("read time missing");
      }
      ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) +
                                     static_cast<std::uint64_t>(unzigzag(delta)));
    }
    record.ts_ns = ts;
    record.last_ts_ns = ts;
    if ((flags & kFlagEventTime) != 0) {
      if (!seen_event) {
        if (!s[kEvents].byte(&scale) || scale >= kPow10.size()) {
          return fail("event time scale missing or too large");
        }
        seen_event = true;
      }
      std::uint64_t delta = 0;
      if (!s[kEvents].varint(&delta)) {
        return fail("event time missing");
      }
      event_scaled += static_cast<std::uint64_t>(unzigzag(delta));
      record.event_ts_ns = static_cast<std::int64_t>(event_scaled * kPow10[scale]);
    }
    if ((flags & kFlagCounted) != 0) {
      std::uint64_t extra = 0;
      std::uint64_t span = 0;
      if (!s[kCounts].varint(&extra) || !s[kCounts].varint(&span) || extra == UINT64_MAX) {
        return fail("count missing or too large");
      }
      record.count = extra + 1;
      record.last_ts_ns = static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) +
                                                    static_cast<std::uint64_t>(unzigzag(span)));
    } else if (record.kind == RecordKind::Aggregate) {
      return fail("aggregate without count and window");
    }
    if (record.kind != RecordKind::Aggregate) {
      // Export writes a deduped line `count` times: bound what a batch can expand to.
      if (record.count > limits.max_expanded_lines - expanded_lines) {
        return fail("duplicate counts expand the batch past " +
                    std::to_string(limits.max_expanded_lines) + " lines");
      }
      expanded_lines += record.count;
    }
    if (record.kind == RecordKind::Raw) {
      std::uint64_t size = 0;
      if (!s[kRawLengths].varint(&size) || size > limits.max_line_bytes ||
          !s[kRaw].bytes(size, &record.line)) {
        return fail("raw line missing or longer than " + std::to_string(limits.max_line_bytes) +
                    " bytes");
      }
    } else if (record.kind == RecordKind::Templated) {
      const std::uint32_t params = batch.template_params[slot];
      if (batch.params.size() + params > limits.max_params) {
        return fail("more than " + std::to_string(limits.max_params) + " parameters in the batch");
      }
      record.first_param = static_cast<std::uint32_t>(batch.params.size());
      record.param_count = params;
      std::size_t line_size = 0;
      for (std::uint32_t p = 0; p < params; ++p) {
        Param& param = batch.params.emplace_back();
        if (const char* error =
                decodeParam(column_state[first_column[slot] + p],
                            p < kPositions ? &positions[p] : nullptr, arena, scratch, param)) {
          return fail("parameter " + std::to_string(p) + ": " + error);
        }
        line_size += renderedSize(param);
      }
      // Parameters are bounded like a raw line (a repeated string costs two tag bytes).
      if (line_size > limits.max_line_bytes) {
        return fail("parameters longer than " + std::to_string(limits.max_line_bytes) + " bytes");
      }
    }
    batch.records.push_back(record);
  }
  for (std::size_t i = kKinds; i < kTags; ++i) {
    if (!s[i].atEnd()) {
      return bad("trailing bytes in record stream " + std::to_string(i));
    }
  }
  for (const ColumnState& column : column_state) {
    if (!column.tags.atEnd() || !column.nums.atEnd() || !column.bin.atEnd() ||
        !column.strs.atEnd()) {
      return bad("a parameter column holds more than its records use");
    }
  }
  return Status::ok();
}

}  // namespace faultline::wire::body
