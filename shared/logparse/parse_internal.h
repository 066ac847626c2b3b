#pragma once

// Internals shared by the format parsers (not part of the public API): the per-parser context,
// scratch handling that never reallocates under live views, roll-back of a half-parsed line, and
// one entry point per format. Each parseX() returns false when the line is not that format; the
// caller rolls the ParsedLine back (see Mark) and tries the next format or plain text.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/logparse/parser.h"
#include "shared/logparse/timestamp.h"

namespace faultline::logparse::detail {

/// Attributes kept per line; members beyond it are still validated but not stored, so a
/// pathological line cannot grow the attrs vector without bound.
inline constexpr std::size_t kMaxAttrs = 256;

enum class KeyRole : std::uint8_t { kNone, kTime, kLevel, kMessage };

/// Immutable per-Parser state the format functions read.
struct ParseContext {
  const ParserOptions* options = nullptr;
  TimeContext time;

  /// Role of a JSON/logfmt key; `rank` orders candidates (lower wins; configured keys first).
  KeyRole classifyKey(std::string_view key, int* rank) const;
};

/// The resettable part of a ParsedLine, so that a format that fails half way leaves no trace.
struct Mark {
  std::size_t attrs = 0;
  std::size_t scratch = 0;
  Format format = Format::kPlain;
  std::int64_t ts_ns = 0;
  Severity severity = Severity::kUnknown;
  std::string_view message;
  std::string_view inner;
  Format inner_format = Format::kPlain;
  bool partial = false;
};
Mark markOf(const ParsedLine& out);
void rollBack(ParsedLine& out, const Mark& mark);

/// Makes sure scratch can take what parsing `line_size` bytes may need (decoded strings are
/// never longer than their source, and at most two levels decode: wrapper and inner line).
void reserveScratch(ParsedLine& out, std::size_t line_size);
/// Appends to scratch only when it fits the reserved capacity (so earlier views stay valid).
bool scratchAppend(ParsedLine& out, std::string_view a, std::string_view b, std::string_view c,
                   std::string_view* result);
/// Decodes a JSON-escaped string body into scratch.
bool scratchUnescapeJson(ParsedLine& out, std::string_view raw, std::string_view* result);

inline void pushAttr(ParsedLine& out, std::string_view key, std::string_view value) {
  if (out.attrs.size() < kMaxAttrs) {
    out.attrs.push_back({key, value});
  }
}

/// Severity of a level value: a word (severityFromText, blanks trimmed) or a number (bunyan/
/// pino 10..60, syslog 0..7). kUnknown when neither.
Severity severityFromValue(std::string_view value);

/// A level token at text[pos]: "ERROR", "[warn]", "INFO:", any case, followed by a blank or the
/// end. Returns the offset past it (0 when none) and the severity.
std::size_t levelTokenAt(std::string_view text, std::size_t pos, Severity* severity);

/// findTimestamp with a prepared context: `start`/`end` bound the timestamp (both 0 if none).
std::int64_t findTimestampIn(std::string_view text, const TimeContext& ctx, std::size_t* start,
                             std::size_t* end);

// One function per format; see parser.h for what each accepts.
bool parseJson(std::string_view line, const ParseContext& ctx, ParsedLine& out);
bool parseLogfmt(std::string_view line, const ParseContext& ctx, ParsedLine& out);
bool parseSyslog(std::string_view line, const ParseContext& ctx, ParsedLine& out);
/// RFC 3164 host/tag header after a timestamp that ends at `pos` (Debian's rsyslog files).
bool parseSyslogAfterTimestamp(std::string_view line, std::size_t pos, std::int64_t ts_ns,
                               ParsedLine& out);
bool parseAccessLog(std::string_view line, const ParseContext& ctx, ParsedLine& out);
bool parseNginxError(std::string_view line, const ParseContext& ctx, ParsedLine& out);
bool parseApacheError(std::string_view line, const ParseContext& ctx, ParsedLine& out);
bool parseDocker(std::string_view line, const ParseContext& ctx, ParsedLine& out);
bool parseCri(std::string_view line, const ParseContext& ctx, ParsedLine& out);
void parsePlain(std::string_view line, const ParseContext& ctx, ParsedLine& out);
/// glog/klog "E0102 15:04:05.123456 12345 file.go:12] msg" (kPlain with time, tid, caller).
bool parseGlog(std::string_view line, const ParseContext& ctx, ParsedLine& out);
/// Detection per line; container wrappers are only recognised when `allow_container` (their
/// inner line is parsed again with it false, so nesting stops at one level).
void parseAuto(std::string_view line, const ParseContext& ctx, ParsedLine& out,
               bool allow_container);

}  // namespace faultline::logparse::detail
