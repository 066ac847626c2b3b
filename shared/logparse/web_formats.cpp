// Web server logs: access logs in the NCSA common/combined grammar (nginx and Apache share it),
// nginx's error log and Apache's error log (2.2 and 2.4 layouts).
#include "shared/logparse/parse_internal.h"
#include "shared/logparse/text_util.h"

namespace faultline::logparse::detail {
namespace {

bool isNil(std::string_view v) {
  return v.empty() || v == "-";
}

/// A double-quoted field at pos (pos at the opening quote); backslash escapes are skipped over
/// (Apache writes \" inside the request). Sets the content and moves past the closing quote.
bool quoted(std::string_view line, std::size_t* pos, std::string_view* content) {
  std::size_t p = *pos;
  if (p >= line.size() || line[p] != '"') {
    return false;
  }
  std::size_t start = ++p;
  while (p < line.size() && line[p] != '"') {
    p += line[p] == '\\' ? 2 : 1;
  }
  if (p >= line.size()) {
    return false;
  }
  *content = line.substr(start, p - start);
  *pos = p + 1;
  return true;
}

/// A space-delimited token at pos; moves past the following space (which must exist).
bool token(std::string_view line, std::size_t* pos, std::string_view* value) {
  std::size_t end = text::findSpace(line, *pos);
  if (end == *pos || end >= line.size()) {
    return false;
  }
  *value = line.substr(*pos, end - *pos);
  *pos = end + 1;
  return true;
}

Severity severityFromStatus(int status) {
  if (status >= 500) {
    return Severity::kError;
  }
  return status >= 400 ? Severity::kWarn : Severity::kInfo;
}

/// Apache 2.4 levels include trace1..trace8.
std::optional<Severity> apacheLevel(std::string_view level) {
  if (level.size() == 6 && text::startsWith(level, "trace") && text::isDigit(level[5])) {
    return Severity::kTrace;
  }
  return severityFromText(level);
}

/// nginx's error-log context: ", client: 1.2.3.4, server: x, request: \"GET / HTTP/1.1\"...".
/// Pairs become attributes; returns where the context starts (message end).
std::size_t nginxContext(std::string_view msg, std::size_t msg_offset, std::string_view line,
                         ParsedLine& out) {
  constexpr std::string_view kMarker = ", client: ";
  std::size_t at = msg.find(kMarker);
  if (at == std::string_view::npos) {
    return msg.size();
  }
  std::size_t p = msg_offset + at + 2;  // at "client: "
  while (p < line.size()) {
    std::size_t key_start = p;
    while (p < line.size() && (text::isAlnum(line[p]) || line[p] == '_')) {
      ++p;
    }
    if (p == key_start || p + 1 >= line.size() || line[p] != ':' || line[p + 1] != ' ') {
      break;
    }
    std::string_view key = line.substr(key_start, p - key_start);
    p += 2;
    std::string_view value;
    if (p < line.size() && line[p] == '"') {
      std::size_t q = p;
      if (!quoted(line, &q, &value)) {
        break;
      }
      p = q;
    } else {
      std::size_t end = line.find(", ", p);
      end = end == std::string_view::npos ? line.size() : end;
      value = line.substr(p, end - p);
      p = end;
    }
    pushAttr(out, key, value);
    if (p + 1 < line.size() && line[p] == ',' && line[p + 1] == ' ') {
      p += 2;
    } else {
      break;
    }
  }
  return at;
}

}  // namespace

bool parseAccessLog(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  std::size_t pos = 0;
  std::string_view remote;
  std::string_view ident;
  std::string_view user;
  if (!token(line, &pos, &remote) || !token(line, &pos, &ident) || !token(line, &pos, &user) ||
      pos >= line.size() || line[pos] != '[') {
    return false;
  }
  std::int64_t ns = 0;
  std::size_t used = parseTimestampPrefix(line.substr(pos + 1), ctx.time, false, &ns);
  pos += 1 + used;
  if (used == 0 || pos + 2 >= line.size() || line[pos] != ']' || line[pos + 1] != ' ') {
    return false;
  }
  pos += 2;
  std::size_t request_at = pos;
  std::string_view request;
  if (!quoted(line, &pos, &request) || pos >= line.size() || line[pos] != ' ') {
    return false;
  }
  ++pos;
  int status = text::digitsAt(line, pos, 3);
  if (status < 100 || (pos + 3 < line.size() && line[pos + 3] != ' ')) {
    return false;
  }
  std::string_view status_text = line.substr(pos, 3);
  pos += 3;
  std::string_view bytes;
  if (pos < line.size()) {
    std::size_t end = text::findSpace(line, ++pos);
    bytes = line.substr(pos, end - pos);
    for (char c : bytes) {
      if (!text::isDigit(c) && bytes != "-") {
        return false;
      }
    }
    pos = end;
  }
  std::string_view referer;
  std::string_view agent;
  if (pos + 1 < line.size() && line[pos + 1] == '"') {
    std::size_t p = pos + 1;
    if (quoted(line, &p, &referer)) {
      pos = p;
      if (pos + 1 < line.size() && line[pos + 1] == '"') {
        p = pos + 1;
        if (quoted(line, &p, &agent)) {
          pos = p;
        }
      }
    }
  }
  out.format = Format::kNginxAccess;
  out.ts_ns = ns;
  out.severity = severityFromStatus(status);
  out.message = line.substr(request_at);
  pushAttr(out, "remote_addr", remote);
  if (!isNil(user)) {
    pushAttr(out, "user", user);
  }
  // "GET /path HTTP/1.1"; anything else (a TLS handshake sent to a plain port) stays whole.
  std::size_t s1 = request.find(' ');
  std::size_t s2 = s1 == std::string_view::npos ? s1 : request.find(' ', s1 + 1);
  if (s2 != std::string_view::npos && request.find(' ', s2 + 1) == std::string_view::npos) {
    pushAttr(out, "method", request.substr(0, s1));
    pushAttr(out, "path", request.substr(s1 + 1, s2 - s1 - 1));
    pushAttr(out, "protocol", request.substr(s2 + 1));
  } else if (!isNil(request)) {
    pushAttr(out, "request", request);
  }
  pushAttr(out, "status", status_text);
  if (!isNil(bytes)) {
    pushAttr(out, "bytes", bytes);
  }
  if (!isNil(referer)) {
    pushAttr(out, "referer", referer);
  }
  if (!isNil(agent)) {
    pushAttr(out, "user_agent", agent);
  }
  return true;
}

bool parseNginxError(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  // "2024/01/02 03:04:05 [error] 1234#5678: *9 message, client: ..."
  if (line.size() < 22 || line[4] != '/') {
    return false;
  }
  std::int64_t ns = 0;
  std::size_t pos = parseBuiltinTimestamp(line, ctx.time, false, &ns);
  if (pos != 19 || pos + 2 >= line.size() || line[pos] != ' ' || line[pos + 1] != '[') {
    return false;
  }
  std::size_t level_start = pos + 2;
  std::size_t level_end = line.find(']', level_start);
  if (level_end == std::string_view::npos || level_end - level_start > 8) {
    return false;
  }
  std::optional<Severity> severity =
      severityFromText(line.substr(level_start, level_end - level_start));
  if (!severity) {
    return false;
  }
  pos = level_end + 1;
  if (pos >= line.size() || line[pos] != ' ') {
    return false;
  }
  ++pos;
  std::size_t pid_start = pos;
  while (pos < line.size() && text::isDigit(line[pos])) {
    ++pos;
  }
  if (pos == pid_start || pos >= line.size() || line[pos] != '#') {
    return false;
  }
  std::string_view pid = line.substr(pid_start, pos - pid_start);
  std::size_t tid_start = ++pos;
  while (pos < line.size() && text::isDigit(line[pos])) {
    ++pos;
  }
  if (pos == tid_start || pos >= line.size() || line[pos] != ':') {
    return false;
  }
  std::string_view tid = line.substr(tid_start, pos - tid_start);
  pos = text::skipSpaces(line, pos + 1);
  out.format = Format::kNginxError;
  out.ts_ns = ns;
  out.severity = *severity;
  pushAttr(out, "pid", pid);
  pushAttr(out, "tid", tid);
  if (pos < line.size() && line[pos] == '*') {
    std::size_t cid_start = pos + 1;
    std::size_t p = cid_start;
    while (p < line.size() && text::isDigit(line[p])) {
      ++p;
    }
    if (p > cid_start && (p == line.size() || line[p] == ' ')) {
      pushAttr(out, "connection", line.substr(cid_start, p - cid_start));
      pos = text::skipSpaces(line, p);
    }
  }
  std::string_view message = line.substr(pos);
  out.message = message.substr(0, nginxContext(message, pos, line, out));
  return true;
}

bool parseApacheError(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  // 2.4: "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1:tid 2] [client 1.2.3.4:5] msg"
  // 2.2: "[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] msg"
  if (line.size() < 30 || line[0] != '[') {
    return false;
  }
  std::int64_t ns = 0;
  std::size_t pos = 1 + parseBuiltinTimestamp(line.substr(1), ctx.time, false, &ns);
  if (pos == 1 || pos + 2 >= line.size() || line[pos] != ']' || line[pos + 1] != ' ' ||
      line[pos + 2] != '[') {
    return false;
  }
  std::size_t tag_start = pos + 3;
  std::size_t tag_end = line.find(']', tag_start);
  if (tag_end == std::string_view::npos || tag_end - tag_start > 64) {
    return false;
  }
  std::string_view tag = line.substr(tag_start, tag_end - tag_start);
  std::string_view module;
  std::string_view level = tag;
  if (std::size_t colon = tag.rfind(':'); colon != std::string_view::npos) {
    module = tag.substr(0, colon);
    level = tag.substr(colon + 1);
  }
  std::optional<Severity> severity = apacheLevel(level);
  if (!severity) {
    return false;
  }
  out.format = Format::kApacheError;
  out.ts_ns = ns;
  out.severity = *severity;
  if (!module.empty()) {
    pushAttr(out, "module", module);
  }
  pos = tag_end + 1;
  // Known bracketed context fields; the first other bracket belongs to the message.
  while (pos + 1 < line.size() && line[pos] == ' ' && line[pos + 1] == '[') {
    std::size_t close = line.find(']', pos + 2);
    if (close == std::string_view::npos) {
      break;
    }
    std::string_view field = line.substr(pos + 2, close - pos - 2);
    if (text::startsWith(field, "pid ")) {
      std::string_view rest = field.substr(4);
      std::size_t tid_at = rest.find(":tid ");
      pushAttr(out, "pid", rest.substr(0, tid_at));
      if (tid_at != std::string_view::npos) {
        pushAttr(out, "tid", rest.substr(tid_at + 5));
      }
    } else if (text::startsWith(field, "client ")) {
      pushAttr(out, "client", field.substr(7));
    } else if (text::startsWith(field, "remote ")) {
      pushAttr(out, "remote", field.substr(7));
    } else {
      break;
    }
    pos = close + 1;
  }
  out.message = line.substr(text::skipSpaces(line, pos));
  return true;
}

}  // namespace faultline::logparse::detail
