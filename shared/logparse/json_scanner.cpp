#include "shared/logparse/json_scanner.h"

#include <cstring>

namespace faultline::logparse {
namespace {

constexpr bool isJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/// Four hex digits at text[pos]; -1 when malformed.
int hex4(std::string_view text, std::size_t pos) {
  if (text.size() < pos + 4) {
    return -1;
  }
  int value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    int h = hexValue(text[pos + i]);
    if (h < 0) {
      return -1;
    }
    value = value * 16 + h;
  }
  return value;
}

/// Checks the escape sequence starting at text[pos] == '\\'; returns its length, 0 if bad.
std::size_t escapeLength(std::string_view text, std::size_t pos) {
  if (pos + 1 >= text.size()) {
    return 0;
  }
  switch (text[pos + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': return 2;
    case 'u': return hex4(text, pos + 2) >= 0 ? 6 : 0;
    default: return 0;
  }
}

/// High bit set in each byte of `word` equal to `c`. Only the lowest flagged byte is exact
/// (a borrow can flag the byte above a match), which is the one the scanner uses.
inline std::uint64_t byteMatches(std::uint64_t word, char c) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  std::uint64_t x = word ^ (kOnes * static_cast<std::uint8_t>(c));
  return (x - kOnes) & ~x & kHighs;
}

void appendUtf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace


namespace {

/// Index of the first '"' or '\\' at or after i (n when none): eight bytes at a time (SWAR).
inline std::size_t findQuoteOrBackslash(const char* data, std::size_t i, std::size_t n) {
  while (i + 8 <= n) {
    std::uint64_t word = 0;
    std::memcpy(&word, data + i, 8);
    std::uint64_t hits = byteMatches(word, '"') | byteMatches(word, '\\');
    if (hits != 0) {
      return i + static_cast<std::size_t>(__builtin_ctzll(hits)) / 8;
    }
    i += 8;
  }
  while (i < n && data[i] != '"' && data[i] != '\\') {
    ++i;
  }
  return i;
}

}  // namespace

inline bool JsonObjectReader::scanString(std::string_view* content, bool* escaped) {
  // text_[pos_] == '"'. Most strings have no escape: one scan to the closing quote.
  const char* data = text_.data();
  std::size_t begin = pos_ + 1;
  std::size_t i = findQuoteOrBackslash(data, begin, text_.size());
  if (i < text_.size() && data[i] == '"') {
    *content = std::string_view(data + begin, i - begin);
    *escaped = false;
    pos_ = i + 1;
    return true;
  }
  return scanEscapedString(begin, i, content, escaped);
}

bool JsonObjectReader::scanEscapedString(std::size_t begin, std::size_t at,
                                         std::string_view* content, bool* escaped) {
  const char* data = text_.data();
  std::size_t n = text_.size();
  std::size_t i = at;
  while (i < n && data[i] == '\\') {
    std::size_t len = escapeLength(text_, i);
    if (len == 0) {
      return false;
    }
    i = findQuoteOrBackslash(data, i + len, n);
  }
  if (i >= n) {
    return false;
  }
  *content = std::string_view(data + begin, i - begin);
  *escaped = true;
  pos_ = i + 1;
  return true;
}

bool JsonObjectReader::scanNumber() {
  std::size_t start = pos_;
  auto digits = [&]() {
    std::size_t d = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      ++pos_;
    }
    return pos_ - d;
  };
  if (pos_ < text_.size() && text_[pos_] == '-') {
    ++pos_;
  }
  if (digits() == 0) {
    return false;
  }
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    if (digits() == 0) {
      return false;
    }
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
      ++pos_;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return pos_ > start;
}

bool JsonObjectReader::scanLiteral(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) {
    return false;
  }
  pos_ += word.size();
  return true;
}

bool JsonObjectReader::scanNested() {
  // An explicit stack instead of recursion: deep input cannot exhaust the call stack.
  char stack[kMaxJsonDepth];
  int depth = 0;
  // The member's object is one level already.
  constexpr int kNestedLimit = kMaxJsonDepth - 1;
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    switch (c) {
      case '{':
      case '[':
        if (depth >= kNestedLimit) {
          return false;
        }
        stack[depth++] = c == '{' ? '}' : ']';
        ++pos_;
        break;
      case '}':
      case ']':
        if (depth == 0 || stack[depth - 1] != c) {
          return false;
        }
        --depth;
        ++pos_;
        if (depth == 0) {
          return true;
        }
        break;
      case '"': {
        std::string_view ignored;
        bool escaped = false;
        if (!scanString(&ignored, &escaped)) {
          return false;
        }
        break;
      }
      default:
        // Scalars, commas and colons inside nested values are accepted without a full grammar
        // check: the value is kept as raw text, only its extent matters.
        ++pos_;
        break;
    }
  }
  return false;
}

bool JsonObjectReader::next(JsonMember& m) {
  if (state_ == State::kDone || state_ == State::kFailed) {
    return false;
  }
  skipWhitespace();
  if (state_ == State::kStart) {
    if (pos_ >= text_.size() || text_[pos_] != '{') {
      return fail();
    }
    ++pos_;
    skipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      state_ = State::kDone;
      return false;
    }
    state_ = State::kMembers;
  } else {
    // Between members: ',' continues, '}' ends.
    if (pos_ >= text_.size()) {
      return fail();
    }
    if (text_[pos_] == '}') {
      ++pos_;
      state_ = State::kDone;
      return false;
    }
    if (text_[pos_] != ',') {
      return fail();
    }
    ++pos_;
    skipWhitespace();
  }
  if (pos_ >= text_.size() || text_[pos_] != '"' || !scanString(&m.key, &m.key_escaped)) {
    return fail();
  }
  skipWhitespace();
  if (pos_ >= text_.size() || text_[pos_] != ':') {
    return fail();
  }
  ++pos_;
  skipWhitespace();
  if (pos_ >= text_.size()) {
    return fail();
  }
  std::size_t start = pos_;
  m.value_escaped = false;
  bool ok = false;
  switch (text_[pos_]) {
    case '"':
      m.kind = JsonKind::kString;
      ok = scanString(&m.value, &m.value_escaped);
      break;
    case '{':
    case '[':
      m.kind = text_[pos_] == '{' ? JsonKind::kObject : JsonKind::kArray;
      ok = scanNested();
      m.value = text_.substr(start, pos_ - start);
      break;
    case 't':
      m.kind = JsonKind::kTrue;
      ok = scanLiteral("true");
      m.value = text_.substr(start, pos_ - start);
      break;
    case 'f':
      m.kind = JsonKind::kFalse;
      ok = scanLiteral("false");
      m.value = text_.substr(start, pos_ - start);
      break;
    case 'n':
      m.kind = JsonKind::kNull;
      ok = scanLiteral("null");
      m.value = text_.substr(start, pos_ - start);
      break;
    default:
      m.kind = JsonKind::kNumber;
      ok = scanNumber();
      m.value = text_.substr(start, pos_ - start);
      break;
  }
  if (!ok) {
    return fail();
  }
  skipWhitespace();
  return true;
}

bool JsonObjectReader::atEndOfInput() const {
  if (state_ != State::kDone) {
    return false;
  }
  for (std::size_t i = pos_; i < text_.size(); ++i) {
    if (!isJsonSpace(text_[i])) {
      return false;
    }
  }
  return true;
}

bool appendUnescapedJson(std::string_view raw, std::string& out) {
  std::size_t mark = out.size();
  std::size_t i = 0;
  while (i < raw.size()) {
    const void* slash = std::memchr(raw.data() + i, '\\', raw.size() - i);
    std::size_t run_end =
        slash == nullptr ? raw.size()
                         : static_cast<std::size_t>(static_cast<const char*>(slash) - raw.data());
    out.append(raw.data() + i, run_end - i);
    if (run_end >= raw.size()) {
      break;
    }
    i = run_end;
    if (i + 1 >= raw.size()) {
      out.resize(mark);
      return false;
    }
    char e = raw[i + 1];
    switch (e) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        int unit = hex4(raw, i + 2);
        if (unit < 0) {
          out.resize(mark);
          return false;
        }
        i += 6;
        auto cp = static_cast<std::uint32_t>(unit);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          int low =
              (i + 1 < raw.size() && raw[i] == '\\' && raw[i + 1] == 'u') ? hex4(raw, i + 2) : -1;
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(low) - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        appendUtf8(cp, out);
        continue;
      }
      default: out.resize(mark); return false;
    }
    i += 2;
  }
  return true;
}

}  // namespace faultline::logparse
