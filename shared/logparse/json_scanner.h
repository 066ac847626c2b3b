#pragma once

// A small, bounded JSON object scanner for log lines. It walks one object member by member
// without recursion and without allocating: keys and values come back as views into the input
// (strings without their quotes and still escaped), nested objects and arrays as their raw text,
// validated with an explicit bracket stack of at most kMaxJsonDepth levels. Decoding of escaped
// strings is separate (appendUnescapedJson) so that it only runs when escapes exist.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultline::logparse {

inline constexpr int kMaxJsonDepth = 64;

enum class JsonKind : std::uint8_t { kString, kNumber, kTrue, kFalse, kNull, kObject, kArray };

struct JsonMember {
  std::string_view key;  // between the quotes, escapes not decoded
  bool key_escaped = false;
  JsonKind kind = JsonKind::kNull;
  std::string_view value;  // strings: between the quotes, escapes not decoded; others: raw text
  bool value_escaped = false;
};

/// Reads the members of the JSON object at the start of `text` (leading whitespace allowed).
/// Usage: `while (reader.next(m)) {...}` then `reader.failed()` tells a clean end from bad input.
class JsonObjectReader {
 public:
  explicit JsonObjectReader(std::string_view text) : text_(text) {}

  /// The next member; false at the end of the object or when the input is malformed.
  bool next(JsonMember& member);
  bool failed() const { return state_ == State::kFailed; }
  /// After a clean end: true when only whitespace follows the closing brace.
  bool atEndOfInput() const;

 private:
  enum class State : std::uint8_t { kStart, kMembers, kDone, kFailed };
  bool fail() {
    state_ = State::kFailed;
    return false;
  }
  void skipWhitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  /// At an opening quote: moves past the closing one; sets the content and escape flag.
  bool scanString(std::string_view* content, bool* escaped);
  /// The rest of a string from its first backslash at `at` (rare, kept out of line).
  bool scanEscapedString(std::size_t begin, std::size_t at, std::string_view* content,
                         bool* escaped);
  bool scanNested();
  bool scanNumber();
  bool scanLiteral(std::string_view word);

  std::string_view text_;
  std::size_t pos_ = 0;
  State state_ = State::kStart;
};

/// Appends the decoded form of a JSON string body (between the quotes) to `out`. Decoding never
/// grows the text, so out needs at most raw.size() spare bytes. Lone surrogates become U+FFFD.
/// False (out unchanged) when an escape is malformed.
bool appendUnescapedJson(std::string_view raw, std::string& out);

}  // namespace faultline::logparse
