// Parser construction, per-line format detection, the CRI wrapper and the custom-regex parser.
#include "shared/logparse/parser.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <limits>

#include "shared/logparse/parse_internal.h"
#include "shared/logparse/text_util.h"

namespace faultline::logparse {
namespace detail {
namespace {

constexpr std::pair<Format, std::string_view> kFormatNames[] = {
    {Format::kAuto, "auto"},
    {Format::kPlain, "plain"},
    {Format::kJson, "json"},
    {Format::kLogfmt, "logfmt"},
    {Format::kSyslog, "syslog"},
    {Format::kNginxAccess, "nginx_access"},
    {Format::kNginxError, "nginx_error"},
    {Format::kApacheError, "apache_error"},
    {Format::kDocker, "docker"},
    {Format::kCri, "cri"},
    {Format::kRegex, "regex"},
};

using FormatFn = bool (*)(std::string_view, const ParseContext&, ParsedLine&);

/// Runs one format; when it does not match, undoes its partial output.
bool attempt(FormatFn fn, std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  Mark mark = markOf(out);
  if (fn(line, ctx, out)) {
    return true;
  }
  rollBack(out, mark);
  return false;
}

/// "key=" at the start of a line, the cheap test for logfmt.
bool startsLikeLogfmt(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && i < 32 &&
         (text::isAlnum(line[i]) || line[i] == '_' || line[i] == '.' || line[i] == '-' ||
          line[i] == '@')) {
    ++i;
  }
  return i > 0 && i < line.size() && line[i] == '=';
}

/// Lines that start with a timestamp: app logs ("2024-... ERROR msg"), CRI, nginx error,
/// rsyslog files with RFC 3339 times. `used` bytes of timestamp have been read.
void parseTimestampLed(std::string_view line, std::size_t used, std::int64_t ns,
                       const ParseContext& ctx, ParsedLine& out, bool allow_container) {
  if (used < line.size() && line[used] == ' ') {
    std::string_view rest = line.substr(used + 1);
    if (allow_container &&
        (text::startsWith(rest, "stdout ") || text::startsWith(rest, "stderr ")) &&
        attempt(parseCri, line, ctx, out)) {
      return;
    }
    if (line.size() > 4 && line[4] == '/' && !rest.empty() && rest[0] == '[' &&
        attempt(parseNginxError, line, ctx, out)) {
      return;
    }
  }
  std::size_t pos = text::skipSpaces(line, used);
  Severity severity = Severity::kUnknown;
  if (std::size_t level_end = levelTokenAt(line, pos, &severity); level_end > 0) {
    out.format = Format::kPlain;
    out.ts_ns = ns;
    out.severity = severity;
    out.message = line.substr(text::skipSpaces(line, level_end));
    return;
  }
  Mark mark = markOf(out);
  if (parseSyslogAfterTimestamp(line, pos, ns, out)) {
    return;
  }
  rollBack(out, mark);
  out.format = Format::kPlain;
  out.ts_ns = ns;
  out.severity = findSeverity(line);
  out.message = line.substr(pos);
}

}  // namespace

bool parseCri(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  // "2024-01-02T03:04:05.123456789Z stdout F message" (F = full line, P = partial).
  std::int64_t ns = 0;
  std::size_t pos = parseBuiltinTimestamp(line, ctx.time, false, &ns);
  if (pos == 0 || pos + 9 > line.size() || line[pos] != ' ') {
    return false;
  }
  std::string_view stream = line.substr(pos + 1, 6);
  if ((stream != "stdout" && stream != "stderr") || line[pos + 7] != ' ') {
    return false;
  }
  pos += 8;
  std::size_t tag_end = text::findSpace(line, pos);
  std::string_view tag = line.substr(pos, tag_end - pos);
  if (tag.empty() || (tag[0] != 'F' && tag[0] != 'P') || (tag.size() > 1 && tag[1] != ':')) {
    return false;
  }
  std::string_view inner = tag_end < line.size() ? line.substr(tag_end + 1) : std::string_view();
  pushAttr(out, "stream", stream);
  parseAuto(inner, ctx, out, /*allow_container=*/false);
  out.inner_format = out.format;
  out.format = Format::kCri;
  out.inner = inner;
  out.partial = tag[0] == 'P';
  out.ts_ns = ns;
  return true;
}

void parseAuto(std::string_view line, const ParseContext& ctx, ParsedLine& out,
               bool allow_container) {
  if (line.empty()) {
    parsePlain(line, ctx, out);
    return;
  }
  char c = line[0];
  if (c == '{') {
    if (allow_container && text::startsWith(line, "{\"log\":") &&
        attempt(parseDocker, line, ctx, out)) {
      return;
    }
    if (attempt(parseJson, line, ctx, out)) {
      return;
    }
  } else if (c == '<') {
    if (attempt(parseSyslog, line, ctx, out)) {
      return;
    }
  } else if (c == '[') {
    if (attempt(parseApacheError, line, ctx, out)) {
      return;
    }
  } else if (text::isDigit(c)) {
    std::int64_t ns = 0;
    std::size_t used = parseTimestampPrefix(line, ctx.time, /*allow_epoch=*/true, &ns);
    if (used > 0) {
      parseTimestampLed(line, used, ns, ctx, out, allow_container);
      return;
    }
    if (attempt(parseAccessLog, line, ctx, out)) {
      return;
    }
  } else if (text::isAlpha(c)) {
    // "Jan  2 03:04:05 host tag:" (RFC 3164 without PRI), then logfmt, then an access log
    // whose client is a host name.
    if (line.size() > 15 && line[3] == ' ' && attempt(parseSyslog, line, ctx, out)) {
      return;
    }
    if (line.size() > 22 && line[5] == ' ' && text::isDigit(line[1]) &&
        attempt(parseGlog, line, ctx, out)) {
      return;
    }
    if (startsLikeLogfmt(line)) {
      if (attempt(parseLogfmt, line, ctx, out)) {
        return;
      }
    } else if (attempt(parseAccessLog, line, ctx, out)) {
      return;
    }
  } else if (c == ':') {  // "::1 - - [..." (IPv6 loopback client)
    if (attempt(parseAccessLog, line, ctx, out)) {
      return;
    }
  }
  parsePlain(line, ctx, out);
}

namespace {

/// Every format but kRegex.
class FormatParser final : public Parser {
 public:
  FormatParser(const ParserOptions& options) : options_(options) {
    ctx_.options = &options_;
    ctx_.time = TimeContext{options_.default_year, options_.default_utc_offset_s,
                            options_.time_formats.empty() ? nullptr : &options_.time_formats};
  }

  void parse(std::string_view line, ParsedLine& out) const override {
    out.clear();
    if (line.size() > kMaxParseBytes) {
      out.message = line;
      return;
    }
    reserveScratch(out, line.size());
    FormatFn fn = nullptr;
    switch (options_.format) {
      case Format::kAuto: parseAuto(line, ctx_, out, /*allow_container=*/true); return;
      case Format::kPlain:
      case Format::kRegex: parsePlain(line, ctx_, out); return;
      case Format::kJson: fn = parseJson; break;
      case Format::kLogfmt: fn = parseLogfmt; break;
      case Format::kSyslog: fn = parseSyslog; break;
      case Format::kNginxAccess: fn = parseAccessLog; break;
      case Format::kNginxError: fn = parseNginxError; break;
      case Format::kApacheError: fn = parseApacheError; break;
      case Format::kDocker: fn = parseDocker; break;
      case Format::kCri: fn = parseCri; break;
    }
    if (!attempt(fn, line, ctx_, out)) {
      parsePlain(line, ctx_, out);
    }
  }

 private:
  ParserOptions options_;
  ParseContext ctx_;
};

/// ParserOptions::regex with named groups: "time", "level", "message" fill those fields, other
/// names become attributes (keys owned by this parser). Lines that do not match are plain text.
class RegexParser final : public Parser {
 public:
  static constexpr int kMaxGroups = 32;

  RegexParser(const ParserOptions& options, std::unique_ptr<re2::RE2> re)
      : options_(options), re_(std::move(re)) {
    ctx_.options = &options_;
    ctx_.time = TimeContext{options_.default_year, options_.default_utc_offset_s,
                            options_.time_formats.empty() ? nullptr : &options_.time_formats};
    groups_ = re_->NumberOfCapturingGroups();
    names_.resize(static_cast<std::size_t>(groups_) + 1);
    for (const auto& [name, index] : re_->NamedCapturingGroups()) {
      names_[static_cast<std::size_t>(index)] = name;
    }
  }

  void parse(std::string_view line, ParsedLine& out) const override {
    out.clear();
    if (line.size() > kMaxParseBytes) {
      out.message = line;
      return;
    }
    reserveScratch(out, line.size());
    std::array<re2::StringPiece, kMaxGroups + 1> pieces;
    re2::StringPiece input(line.data(), line.size());
    if (!re_->Match(input, 0, line.size(), re2::RE2::UNANCHORED, pieces.data(), groups_ + 1)) {
      parsePlain(line, ctx_, out);
      return;
    }
    out.format = Format::kRegex;
    out.message = line;
    bool have_time = false;
    bool have_level = false;
    for (int i = 1; i <= groups_; ++i) {
      const std::string& name = names_[static_cast<std::size_t>(i)];
      const re2::StringPiece& piece = pieces[static_cast<std::size_t>(i)];
      if (name.empty() || piece.data() == nullptr) {
        continue;
      }
      std::string_view value(piece.data(), piece.size());
      if (name == "time") {
        have_time = parseTimestampValue(value, ctx_.time, &out.ts_ns);
      } else if (name == "level") {
        out.severity = severityFromValue(value);
        have_level = out.severity != Severity::kUnknown;
      } else if (name == "message") {
        out.message = value;
      } else {
        pushAttr(out, name, value);
      }
    }
    if (!have_time) {
      std::size_t start = 0;
      std::size_t end = 0;
      out.ts_ns = findTimestampIn(line, ctx_.time, &start, &end);
    }
    if (!have_level) {
      out.severity = findSeverity(line);
    }
  }

 private:
  ParserOptions options_;
  ParseContext ctx_;
  std::unique_ptr<re2::RE2> re_;
  int groups_ = 0;
  std::vector<std::string> names_;  // by group index; empty for unnamed groups
};

}  // namespace
}  // namespace detail

std::string_view formatName(Format format) {
  for (const auto& [f, name] : detail::kFormatNames) {
    if (f == format) {
      return name;
    }
  }
  return "unknown";
}

Result<Format> formatFromName(std::string_view name) {
  for (const auto& [f, n] : detail::kFormatNames) {
    if (n == name) {
      return f;
    }
  }
  if (name == "apache_access") {  // same grammar as nginx's combined format
    return Format::kNginxAccess;
  }
  return invalidArgument("unknown log format \"" + std::string(name) +
                         "\" (auto, plain, json, logfmt, syslog, nginx_access, nginx_error, "
                         "apache_error, docker, cri, regex)");
}

void ParsedLine::clear() {
  format = Format::kPlain;
  ts_ns = 0;
  severity = Severity::kUnknown;
  message = {};
  attrs.clear();
  inner = {};
  inner_format = Format::kPlain;
  partial = false;
  scratch.clear();
}

std::int64_t EventTimeCarry::resolve(std::int64_t parsed_ts_ns, std::int64_t read_ts_ns) {
  if (parsed_ts_ns != 0) {
    last_event_ns_ = parsed_ts_ns;
    last_read_ns_ = read_ts_ns;
    return parsed_ts_ns;
  }
  if (last_event_ns_ == 0) {
    return 0;
  }
  constexpr std::int64_t kNsPerMs = 1'000'000;
  // A clock stepped back reads as no time passed.
  const std::int64_t elapsed_ms =
      read_ts_ns > last_read_ns_ ? (read_ts_ns - last_read_ns_) / kNsPerMs : 0;
  const std::int64_t room_ms =
      last_event_ns_ < 0 ? elapsed_ms
                         : (std::numeric_limits<std::int64_t>::max() - last_event_ns_) / kNsPerMs;
  return last_event_ns_ + std::min(elapsed_ms, room_ms) * kNsPerMs;
}

Result<std::unique_ptr<Parser>> Parser::create(const ParserOptions& options) {
  for (const std::string& layout : options.time_formats) {
    FL_RETURN_IF_ERROR(validateTimeLayout(layout));
  }
  for (const auto* keys : {&options.time_keys, &options.level_keys, &options.message_keys}) {
    for (const std::string& key : *keys) {
      if (key.empty()) {
        return invalidArgument("parser: empty key in time_keys/level_keys/message_keys");
      }
    }
  }
  if (options.default_year != 0 && (options.default_year < 1678 || options.default_year > 2261)) {
    return invalidArgument("parser: default_year " + std::to_string(options.default_year) +
                           " is outside 1678..2261");
  }
  if (options.default_utc_offset_s <= -86400 || options.default_utc_offset_s >= 86400) {
    return invalidArgument("parser: default_utc_offset_s must be within one day");
  }
  if (options.format != Format::kRegex) {
    if (!options.regex.empty()) {
      return invalidArgument("parser: a regex is only used with format \"regex\" (format is \"" +
                             std::string(formatName(options.format)) + "\")");
    }
    return std::unique_ptr<Parser>(new detail::FormatParser(options));
  }
  if (options.regex.empty()) {
    return invalidArgument("parser: format \"regex\" needs a regex");
  }
  re2::RE2::Options re_options;
  re_options.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(options.regex, re_options);
  if (!re->ok()) {
    return invalidArgument("parser: bad regex \"" + options.regex + "\": " + re->error());
  }
  if (re->NumberOfCapturingGroups() > detail::RegexParser::kMaxGroups) {
    return invalidArgument("parser: regex has more than 32 capturing groups");
  }
  if (re->NamedCapturingGroups().empty()) {
    return invalidArgument("parser: regex has no named groups (use (?P<message>...) etc.)");
  }
  return std::unique_ptr<Parser>(new detail::RegexParser(options, std::move(re)));
}

}  // namespace faultline::logparse
