#pragma once

// Line parsers: turn one log line (or one joined multiline event) into its timestamp, severity,
// message and attributes. Shared by the agent and the aggregator's log upload.
//
// Parsers never copy: every string_view in a ParsedLine points into the input line, except
// attribute values that needed unescaping (JSON strings with escapes), which live in the
// ParsedLine's own scratch storage. Attribute keys of fixed-schema formats ("remote_addr",
// "host"...) are static strings; keys of kRegex groups belong to the Parser, which must outlive
// the ParsedLine's use. A parser that does not recognise a line returns false and
// leaves the line untouched (the caller keeps it as plain text); it never throws and never reads
// outside the input. Input longer than kMaxParseBytes is not parsed (kept as plain text).
//
// Threads: a Parser is immutable after construction and may be shared between threads; a
// ParsedLine is per-thread scratch, reused line after line.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/logparse/severity.h"
#include "shared/util/status.h"

namespace faultline::logparse {

inline constexpr std::size_t kMaxParseBytes = 64 * 1024;

enum class Format : std::uint8_t {
  kAuto,       // detect per line from the built-in formats below, cheapest first
  kPlain,      // no structure: timestamp and severity are still looked for in the text
  kJson,       // one JSON object per line
  kLogfmt,     // key=value pairs
  kSyslog,     // RFC 5424 or RFC 3164 (with or without <PRI>)
  kNginxAccess,   // nginx "combined" (also Apache combined/common: same grammar)
  kNginxError,    // "2024/01/02 03:04:05 [error] 123#0: *4 message"
  kApacheError,   // "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1:tid 2] message"
  kDocker,     // docker json-file wrapper {"log":"...","stream":"stdout","time":"..."}
  kCri,        // CRI-O/containerd "2024-01-02T03:04:05.123Z stdout F message"
  kRegex,      // custom RE2 pattern with named groups (time, level, message, others → attrs)
};

/// "auto", "plain", "json", "logfmt", "syslog", "nginx_access", "nginx_error", "apache_error",
/// "docker", "cri", "regex".
std::string_view formatName(Format format);
Result<Format> formatFromName(std::string_view name);

struct Attribute {
  std::string_view key;
  std::string_view value;
};

struct ParsedLine {
  Format format = Format::kPlain;   // what actually matched
  std::int64_t ts_ns = 0;           // event time, unix ns; 0 when none found
  Severity severity = Severity::kUnknown;
  std::string_view message;         // the human message (whole line when nothing better)
  std::vector<Attribute> attrs;     // structured fields (json, logfmt, syslog SD, regex groups)
  /// For container wrappers: the inner line (unescaped), which is then parsed again by the
  /// inner format; `message` etc. describe the inner line.
  std::string_view inner;
  /// For container wrappers: the format the inner line was parsed as. ts_ns is the wrapper's
  /// time (runtime-stamped, zoned, ns-exact) when it has one, else the inner line's.
  Format inner_format = Format::kPlain;
  /// For container wrappers: the runtime split a long line and this is not its last piece
  /// (CRI tag "P", docker "log" without a trailing newline). `inner` has no newline either way.
  bool partial = false;
  std::string scratch;              // owns unescaped values; reserved, reused between lines

  void clear();
};

struct ParserOptions {
  Format format = Format::kAuto;
  /// kRegex: the RE2 pattern. Named groups "time", "level" and "message" are special; other
  /// named groups become attributes.
  std::string regex;
  /// Extra timestamp layouts tried before the built-in ones, strftime-like: %Y %m %d %H %M %S
  /// %f (fraction, any digits) %b (month abbrev) %z (+hh:mm / +hhmm / Z) %s (epoch seconds).
  std::vector<std::string> time_formats;
  /// JSON/logfmt keys that hold the timestamp / severity / message, tried in order before the
  /// built-in lists (time, timestamp, ts, @timestamp / level, severity, lvl / msg, message, log).
  std::vector<std::string> time_keys;
  std::vector<std::string> level_keys;
  std::vector<std::string> message_keys;
  /// Year assumed for timestamps without one (RFC 3164, "Jan  2 03:04:05"); 0 = current year.
  int default_year = 0;
  /// Offset applied to timestamps without a zone, in seconds east of UTC.
  int default_utc_offset_s = 0;
};

class Parser {
 public:
  /// Validates options (bad regex, unknown format strings) with a clear error.
  static Result<std::unique_ptr<Parser>> create(const ParserOptions& options);
  virtual ~Parser() = default;
  /// Parses `line` into `out` (cleared first). Always succeeds: unrecognised lines come back
  /// as kPlain with timestamp/severity found in the text where possible.
  virtual void parse(std::string_view line, ParsedLine& out) const = 0;
};

/// The event time of lines that carry none, taken from their stream's last line that had one.
/// An untimed line in a timestamped log (a row truncated mid-line, a stack frame outside any
/// multiline rule, a bare "Caused by") happened next to its neighbours; the arrival time, which
/// is what the aggregator uses for an unknown time, can be days later for a backfilled file or
/// an upload, and would put the line into the wrong incident. Promtail's timestamp stage does
/// the same by default ("fudge"). The carried time advances by the reading time that passed
/// since that line (whole milliseconds, so second- and millisecond-scaled batches stay compact):
/// a live tail's untimed line after a quiet hour is not placed an hour back, while a file read
/// in one go (or an upload, read at one instant) carries its neighbour's time as is.
/// One per stream (file or upload); a stream's first lines, before any time, stay unknown (0).
class EventTimeCarry {
 public:
  /// `parsed_ts_ns`: the line's own time, 0 when it has none; `read_ts_ns`: when it was read.
  /// Returns the line's own time, else the carried time, else 0.
  std::int64_t resolve(std::int64_t parsed_ts_ns, std::int64_t read_ts_ns);

 private:
  std::int64_t last_event_ns_ = 0;
  std::int64_t last_read_ns_ = 0;
};

/// Timestamp found at or near the start of `text` (within its first ~64 bytes): RFC 3339/ISO
/// 8601 (T or space, fraction, Z or offset, or none), syslog "Jan  2 03:04:05", common-log
/// "10/Oct/2000:13:55:36 -0700", "2024/01/02 03:04:05", epoch s/ms/us/ns (10/13/16/19 digits,
/// only when the whole token is digits and starts the text). Returns unix ns, 0 when none.
/// `consumed` (optional) receives the offset just past the timestamp in `text`, which is the
/// timestamp's byte length when it starts the text; 0 when none.
std::int64_t findTimestamp(std::string_view text, const ParserOptions& options,
                           std::size_t* consumed = nullptr);

/// Severity found in free text: a level word standing alone or in brackets in the first ~80
/// bytes ("ERROR", "[warn]", "level=error", "<3>"); kUnknown when none. Standing alone means an
/// upper-case word ("ERROR", "WARN"); lower-case words count only in brackets, after a level
/// key, or as the first word followed by ':' ("error: ..."), so prose ("no error") does not.
/// Also a syslog "<PRI>" and a glog/klog "E0102 " prefix at the start.
Severity findSeverity(std::string_view text);

}  // namespace faultline::logparse
