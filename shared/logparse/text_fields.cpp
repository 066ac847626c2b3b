// Free-text field finders (findTimestamp, findSeverity, level tokens), the plain-text format and
// the small helpers every format shares (key roles, scratch, roll-back).
#include <climits>
#include <cstring>

#include "shared/logparse/json_scanner.h"
#include "shared/logparse/parse_internal.h"
#include "shared/logparse/text_util.h"

namespace faultline::logparse {
namespace detail {
namespace {

/// How far into a line findTimestamp / findSeverity look: a prefix, never the whole line.
constexpr std::size_t kTimestampWindow = 64;
constexpr std::size_t kSeverityWindow = 80;

/// Keys after which findSeverity reads a level value ("level=warn", "\"severity\":\"ERROR\"").
bool isLevelKeyWord(std::string_view word) {
  return text::equalsLower(word, "level") || text::equalsLower(word, "severity") ||
         text::equalsLower(word, "lvl") || text::equalsLower(word, "loglevel");
}

bool isWordByte(char c) {
  return text::isAlnum(c) || c == '_';
}

/// Value after a key ending at `pos`: `=v`, `: v`, `":"v"`, `="v"`; empty when none.
std::string_view valueAfterKey(std::string_view text, std::size_t pos) {
  if (pos < text.size() && text[pos] == '"') {
    ++pos;
  }
  if (pos >= text.size() || (text[pos] != '=' && text[pos] != ':')) {
    return {};
  }
  pos = text::skipSpaces(text, pos + 1);
  if (pos < text.size() && text[pos] == '"') {
    ++pos;
  }
  std::size_t start = pos;
  while (pos < text.size() && text::isAlnum(text[pos])) {
    ++pos;
  }
  return text.substr(start, pos - start);
}

}  // namespace

KeyRole ParseContext::classifyKey(std::string_view key, int* rank) const {
  int i = 0;
  for (const std::string& k : options->time_keys) {
    if (key == k) {
      *rank = i;
      return KeyRole::kTime;
    }
    ++i;
  }
  for (const std::string& k : options->level_keys) {
    if (key == k) {
      *rank = i;
      return KeyRole::kLevel;
    }
    ++i;
  }
  for (const std::string& k : options->message_keys) {
    if (key == k) {
      *rank = i;
      return KeyRole::kMessage;
    }
    ++i;
  }
  // Built-in names, case-insensitive; the rank orders them when a record has several.
  constexpr std::size_t kLongest = 20;  // "__realtime_timestamp" (journalctl -o json)
  std::size_t n = key.size();
  if (n == 0 || n > kLongest) {
    return KeyRole::kNone;
  }
  // Compared in place (no lower-cased copy): only keys of a candidate's length get this far.
  auto is = [&](const auto& literal) {
    constexpr std::size_t kSize = sizeof(literal) - 1;
    return n == kSize && text::equalsLower(key, std::string_view(literal, kSize));
  };
  auto role = [&](KeyRole r, int builtin_rank) {
    *rank = 1000 + builtin_rank;
    return r;
  };
  switch (n) {
    case 2:
      if (is("ts")) {
        return role(KeyRole::kTime, 2);
      }
      if (is("@t")) {
        return role(KeyRole::kTime, 4);
      }
      if (is("@l")) {
        return role(KeyRole::kLevel, 7);
      }
      if (is("@m")) {
        return role(KeyRole::kMessage, 3);
      }
      break;
    case 3:
      if (is("msg")) {
        return role(KeyRole::kMessage, 0);
      }
      if (is("lvl")) {
        return role(KeyRole::kLevel, 2);
      }
      if (is("log")) {
        return role(KeyRole::kMessage, 2);
      }
      if (is("@mt")) {
        return role(KeyRole::kMessage, 4);
      }
      break;
    case 4:
      if (is("time")) {
        return role(KeyRole::kTime, 0);
      }
      break;
    case 5:
      if (is("level")) {
        return role(KeyRole::kLevel, 0);
      }
      if (is("event")) {  // structlog
        return role(KeyRole::kMessage, 5);
      }
      break;
    case 7:
      if (is("message")) {
        return role(KeyRole::kMessage, 1);
      }
      break;
    case 8:
      if (is("severity")) {
        return role(KeyRole::kLevel, 1);
      }
      if (is("loglevel")) {
        return role(KeyRole::kLevel, 3);
      }
      if (is("datetime")) {
        return role(KeyRole::kTime, 5);
      }
      if (is("priority")) {  // journald PRIORITY, syslog 0..7
        return role(KeyRole::kLevel, 8);
      }
      break;
    case 9:
      if (is("timestamp")) {
        return role(KeyRole::kTime, 1);
      }
      if (is("log.level")) {
        return role(KeyRole::kLevel, 4);
      }
      if (is("levelname")) {
        return role(KeyRole::kLevel, 5);
      }
      if (is("log_level")) {
        return role(KeyRole::kLevel, 6);
      }
      break;
    case 10:
      if (is("@timestamp")) {
        return role(KeyRole::kTime, 3);
      }
      break;
    case 20:
      if (is("__realtime_timestamp")) {
        return role(KeyRole::kTime, 6);
      }
      break;
    default: break;
  }
  return KeyRole::kNone;
}

Mark markOf(const ParsedLine& out) {
  return Mark{out.attrs.size(), out.scratch.size(), out.format,       out.ts_ns,  out.severity,
              out.message,      out.inner,          out.inner_format, out.partial};
}

void rollBack(ParsedLine& out, const Mark& mark) {
  out.attrs.resize(mark.attrs);
  out.scratch.resize(mark.scratch);
  out.format = mark.format;
  out.ts_ns = mark.ts_ns;
  out.severity = mark.severity;
  out.message = mark.message;
  out.inner = mark.inner;
  out.inner_format = mark.inner_format;
  out.partial = mark.partial;
}

void reserveScratch(ParsedLine& out, std::size_t line_size) {
  std::size_t need = 2 * line_size + 64;
  if (out.scratch.capacity() < need) {
    out.scratch.reserve(need);
  }
}

bool scratchAppend(ParsedLine& out, std::string_view a, std::string_view b, std::string_view c,
                   std::string_view* result) {
  std::string& s = out.scratch;
  std::size_t n = a.size() + b.size() + c.size();
  if (s.capacity() - s.size() < n) {
    return false;
  }
  std::size_t start = s.size();
  s.append(a).append(b).append(c);
  *result = std::string_view(s.data() + start, n);
  return true;
}

bool scratchUnescapeJson(ParsedLine& out, std::string_view raw, std::string_view* result) {
  std::string& s = out.scratch;
  if (s.capacity() - s.size() < raw.size()) {
    return false;
  }
  std::size_t start = s.size();
  if (!appendUnescapedJson(raw, s)) {
    return false;
  }
  *result = std::string_view(s.data() + start, s.size() - start);
  return true;
}

Severity severityFromValue(std::string_view value) {
  while (!value.empty() && text::isSpace(value.front())) {
    value.remove_prefix(1);
  }
  while (!value.empty() && text::isSpace(value.back())) {
    value.remove_suffix(1);
  }
  if (value.empty()) {
    return Severity::kUnknown;
  }
  if (text::isDigit(value[0])) {
    if (value.size() > 3) {
      return Severity::kUnknown;
    }
    int n = 0;
    for (char c : value) {
      if (!text::isDigit(c)) {
        return Severity::kUnknown;
      }
      n = n * 10 + (c - '0');
    }
    if (n <= 7) {
      return severityFromSyslogPriority(n);
    }
    // bunyan / pino: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    if (n < 10) {
      return Severity::kUnknown;
    }
    if (n < 20) {
      return Severity::kTrace;
    }
    if (n < 30) {
      return Severity::kDebug;
    }
    if (n < 40) {
      return Severity::kInfo;
    }
    if (n < 50) {
      return Severity::kWarn;
    }
    return n < 60 ? Severity::kError : Severity::kCritical;
  }
  return severityFromText(value).value_or(Severity::kUnknown);
}

std::size_t levelTokenAt(std::string_view text, std::size_t pos, Severity* severity) {
  std::size_t p = pos;
  bool bracketed = p < text.size() && text[p] == '[';
  if (bracketed) {
    ++p;
  }
  std::size_t start = p;
  bool has_upper = false;
  bool has_lower = false;
  while (p < text.size() && text::isAlpha(text[p])) {
    has_upper = has_upper || text::isUpper(text[p]);
    has_lower = has_lower || text::isLower(text[p]);
    ++p;
  }
  std::size_t len = p - start;
  if (len == 0 || len > 13) {
    return 0;
  }
  if (bracketed) {
    if (p >= text.size() || text[p] != ']') {
      return 0;
    }
    ++p;
  } else if (len < 3 || (has_upper && has_lower)) {
    // "Error connecting..." is a message that starts with a word, not a level column.
    return 0;
  }
  if (p < text.size() && text[p] == ':') {
    ++p;
  }
  if (p < text.size() && !text::isSpace(text[p])) {
    return 0;
  }
  std::optional<Severity> s = severityFromText(text.substr(start, len));
  if (!s) {
    return 0;
  }
  *severity = *s;
  return p;
}

std::int64_t findTimestampIn(std::string_view text, const TimeContext& ctx, std::size_t* start,
                             std::size_t* end) {
  std::size_t limit = text.size() < kTimestampWindow ? text.size() : kTimestampWindow;
  for (std::size_t pos = 0; pos < limit; ++pos) {
    char c = text[pos];
    if (pos > 0) {
      char prev = text[pos - 1];
      bool boundary = prev == ' ' || prev == '\t' || prev == '[' || prev == '(' || prev == '"' ||
                      prev == '=' || prev == ',';
      if (!boundary || !(text::isDigit(c) || text::isUpper(c))) {
        continue;
      }
    }
    std::int64_t ns = 0;
    std::size_t used = parseTimestampPrefix(text.substr(pos), ctx, pos == 0, &ns);
    if (used > 0) {
      *start = pos;
      *end = pos + used;
      return ns;
    }
  }
  *start = 0;
  *end = 0;
  return 0;
}

void parsePlain(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  out.format = Format::kPlain;
  out.message = line;
  std::size_t ts_start = 0;
  std::size_t ts_end = 0;
  out.ts_ns = findTimestampIn(line, ctx.time, &ts_start, &ts_end);
  std::size_t msg_start = 0;
  if (ts_end > 0) {
    if (ts_start == 0) {
      msg_start = ts_end;
    } else if (ts_start == 1 && line[0] == '[' && ts_end < line.size() && line[ts_end] == ']') {
      msg_start = ts_end + 1;
    }
  }
  if (msg_start > 0) {
    msg_start = text::skipSpaces(line, msg_start);
  }
  Severity severity = Severity::kUnknown;
  if (std::size_t level_end = levelTokenAt(line, msg_start, &severity); level_end > 0) {
    msg_start = text::skipSpaces(line, level_end);
  } else {
    severity = findSeverity(line);
  }
  out.severity = severity;
  out.message = line.substr(msg_start);
}

bool parseGlog(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  // glog / klog: "E0102 15:04:05.123456   12345 controller.go:123] message" (no year).
  Severity severity = Severity::kUnknown;
  switch (line.empty() ? '\0' : line[0]) {
    case 'I': severity = Severity::kInfo; break;
    case 'W': severity = Severity::kWarn; break;
    case 'E': severity = Severity::kError; break;
    case 'F': severity = Severity::kCritical; break;
    default: return false;
  }
  // Reuse the layout parser for "mmdd hh:mm:ss.ffffff".
  std::int64_t ns = 0;
  std::size_t used = parseLayoutTimestamp(line.substr(1), "%m%d %H:%M:%S.%f", ctx.time, &ns);
  if (used < 14 || 1 + used >= line.size() || line[1 + used] != ' ') {
    return false;
  }
  std::size_t pos = text::skipSpaces(line, 1 + used);
  std::size_t tid_start = pos;
  while (pos < line.size() && text::isDigit(line[pos])) {
    ++pos;
  }
  if (pos == tid_start || pos >= line.size() || line[pos] != ' ') {
    return false;
  }
  std::string_view tid = line.substr(tid_start, pos - tid_start);
  std::size_t caller_start = pos + 1;
  std::size_t close = line.find("] ", caller_start);
  if (close == std::string_view::npos || close == caller_start ||
      line.substr(caller_start, close - caller_start).find(' ') != std::string_view::npos) {
    return false;
  }
  out.format = Format::kPlain;
  out.ts_ns = ns;
  out.severity = severity;
  out.message = line.substr(close + 2);
  pushAttr(out, "tid", tid);
  pushAttr(out, "caller", line.substr(caller_start, close - caller_start));
  return true;
}

}  // namespace detail

std::int64_t findTimestamp(std::string_view text, const ParserOptions& options,
                           std::size_t* consumed) {
  TimeContext ctx{options.default_year, options.default_utc_offset_s, &options.time_formats};
  std::size_t start = 0;
  std::size_t end = 0;
  std::int64_t ns = detail::findTimestampIn(text, ctx, &start, &end);
  if (consumed != nullptr) {
    *consumed = end;
  }
  return ns;
}

Severity findSeverity(std::string_view text) {
  using detail::isWordByte;
  if (text.empty()) {
    return Severity::kUnknown;
  }
  if (text[0] == '<') {  // syslog "<PRI>"
    int pri = 0;
    std::size_t i = 1;
    while (i < text.size() && i <= 3 && text::isDigit(text[i])) {
      pri = pri * 10 + (text[i] - '0');
      ++i;
    }
    if (i > 1 && i < text.size() && text[i] == '>') {
      return severityFromSyslogPriority(pri);
    }
  }
  // glog / klog: "E0102 15:04:05.123456 ..."
  if (text.size() > 6 && text::digitsAt(text, 1, 4) >= 0 && text[5] == ' ') {
    switch (text[0]) {
      case 'I': return Severity::kInfo;
      case 'W': return Severity::kWarn;
      case 'E': return Severity::kError;
      case 'F': return Severity::kCritical;
      default: break;
    }
  }
  std::size_t limit = text.size() < detail::kSeverityWindow ? text.size() : detail::kSeverityWindow;
  std::size_t i = 0;
  while (i < limit) {
    if (!text::isAlpha(text[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    bool upper = true;
    while (i < text.size() && text::isAlpha(text[i])) {
      upper = upper && text::isUpper(text[i]);
      ++i;
    }
    char prev = start > 0 ? text[start - 1] : ' ';
    char next = i < text.size() ? text[i] : ' ';
    if (isWordByte(prev) || isWordByte(next)) {
      while (i < text.size() && isWordByte(text[i])) {
        ++i;
      }
      continue;
    }
    std::string_view word = text.substr(start, i - start);
    if (detail::isLevelKeyWord(word)) {
      Severity s = detail::severityFromValue(detail::valueAfterKey(text, i));
      if (s != Severity::kUnknown) {
        return s;
      }
      continue;
    }
    bool bracketed =
        (prev == '[' || prev == '<' || prev == '(') && (next == ']' || next == '>' || next == ')');
    bool leading = start == 0 && next == ':';
    if ((upper && word.size() >= 3) || bracketed || leading) {
      if (std::optional<Severity> s = severityFromText(word)) {
        return *s;
      }
    }
  }
  return Severity::kUnknown;
}

}  // namespace faultline::logparse
