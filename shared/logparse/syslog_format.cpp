// Syslog: RFC 5424 ("<165>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg") and
// RFC 3164 / BSD ("<34>Oct 11 22:14:15 host tag[pid]: msg", also without <PRI>, and with an
// RFC 3339 time as rsyslog writes Debian's /var/log/syslog).
#include "shared/logparse/parse_internal.h"
#include "shared/logparse/text_util.h"

namespace faultline::logparse::detail {
namespace {

constexpr std::size_t kMaxTagBytes = 64;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

/// A 5424 header field: a run of non-space bytes. '-' (nil) yields an empty view.
bool headerField(std::string_view line, std::size_t* pos, std::string_view* field) {
  std::size_t start = *pos;
  std::size_t end = text::findSpace(line, start);
  if (end == start || end >= line.size()) {
    return false;
  }
  *field = line.substr(start, end - start);
  if (*field == "-") {
    *field = {};
  }
  *pos = end + 1;
  return true;
}

/// "tag: " or "tag[pid]: " at pos. On success sets app, pid and the message start.
bool tagAt(std::string_view line, std::size_t pos, std::string_view* app, std::string_view* pid,
           std::size_t* msg_start) {
  std::size_t p = pos;
  while (p < line.size() && p - pos <= kMaxTagBytes && line[p] != '[' && line[p] != ':' &&
         line[p] != ' ') {
    ++p;
  }
  if (p == pos || p >= line.size() || p - pos > kMaxTagBytes) {
    return false;
  }
  *app = line.substr(pos, p - pos);
  *pid = {};
  if (line[p] == '[') {
    std::size_t pid_start = ++p;
    while (p < line.size() && line[p] != ']' && line[p] != ' ') {
      ++p;
    }
    if (p >= line.size() || line[p] != ']' || p == pid_start) {
      return false;
    }
    *pid = line.substr(pid_start, p - pid_start);
    ++p;
  }
  if (p >= line.size() || line[p] != ':') {
    return false;
  }
  ++p;
  if (p < line.size() && line[p] != ' ') {
    return false;
  }
  *msg_start = p < line.size() ? p + 1 : p;
  return true;
}

/// Host names and addresses: letters, digits, '.', '-', '_' and ':' (IPv6).
bool isHostToken(std::string_view token) {
  for (char c : token) {
    if (!text::isAlnum(c) && c != '.' && c != '-' && c != '_' && c != ':') {
      return false;
    }
  }
  return !token.empty();
}

/// The 3164 "host tag[pid]: msg" part at pos. The host is optional (some senders omit it).
/// Without a tag the line still counts when `require_tag` is false (message after the host).
bool hostAndTag(std::string_view line, std::size_t pos, bool require_tag, ParsedLine& out) {
  std::string_view app;
  std::string_view pid;
  std::size_t msg_start = 0;
  std::size_t token_end = text::findSpace(line, pos);
  if (token_end == pos) {
    return false;
  }
  std::string_view host = line.substr(pos, token_end - pos);
  if (tagAt(line, pos, &app, &pid, &msg_start) && msg_start <= token_end + 1) {
    // The first token is the tag itself: no host.
  } else if (!isHostToken(host)) {
    return false;
  } else if (token_end < line.size() && tagAt(line, token_end + 1, &app, &pid, &msg_start)) {
    pushAttr(out, "host", host);
  } else if (!require_tag) {
    pushAttr(out, "host", host);
    app = {};
    pid = {};
    msg_start = token_end < line.size() ? token_end + 1 : token_end;
  } else {
    return false;
  }
  if (!app.empty()) {
    pushAttr(out, "app", app);
  }
  if (!pid.empty()) {
    pushAttr(out, "pid", pid);
  }
  out.message = line.substr(msg_start);
  return true;
}

/// SD-PARAM values escape only '"', '\\' and ']'.
bool sdValue(ParsedLine& out, std::string_view raw, bool escaped, std::string_view* value) {
  if (!escaped) {
    *value = raw;
    return true;
  }
  std::string& s = out.scratch;
  if (s.capacity() - s.size() < raw.size()) {
    return false;
  }
  std::size_t start = s.size();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size() &&
        (raw[i + 1] == '"' || raw[i + 1] == '\\' || raw[i + 1] == ']')) {
      ++i;
    }
    s.push_back(raw[i]);
  }
  *value = std::string_view(s.data() + start, s.size() - start);
  return true;
}

/// STRUCTURED-DATA at pos: "-" or one or more "[id name="value" ...]". Params become
/// attributes "id.name" (or "name" when scratch is short).
bool structuredData(std::string_view line, std::size_t* pos, ParsedLine& out) {
  std::size_t p = *pos;
  if (p < line.size() && line[p] == '-') {
    *pos = p + 1;
    return true;
  }
  if (p >= line.size() || line[p] != '[') {
    return false;
  }
  while (p < line.size() && line[p] == '[') {
    std::size_t id_start = ++p;
    while (p < line.size() && line[p] != ' ' && line[p] != ']' && line[p] != '=' &&
           line[p] != '"') {
      ++p;
    }
    if (p == id_start || p >= line.size()) {
      return false;
    }
    std::string_view id = line.substr(id_start, p - id_start);
    while (p < line.size() && line[p] == ' ') {
      std::size_t name_start = ++p;
      while (p < line.size() && line[p] != '=' && line[p] != ' ' && line[p] != ']' &&
             line[p] != '"') {
        ++p;
      }
      if (p == name_start || p + 1 >= line.size() || line[p] != '=' || line[p + 1] != '"') {
        return false;
      }
      std::string_view name = line.substr(name_start, p - name_start);
      std::size_t value_start = p + 2;
      p = value_start;
      bool escaped = false;
      while (p < line.size() && line[p] != '"') {
        if (line[p] == '\\') {
          escaped = true;
          ++p;
        }
        ++p;
      }
      if (p >= line.size()) {
        return false;
      }
      std::string_view value;
      if (!sdValue(out, line.substr(value_start, p - value_start), escaped, &value)) {
        return false;
      }
      ++p;
      std::string_view key;
      if (!scratchAppend(out, id, ".", name, &key)) {
        key = name;
      }
      pushAttr(out, key, value);
    }
    if (p >= line.size() || line[p] != ']') {
      return false;
    }
    ++p;
  }
  *pos = p;
  return true;
}

bool parse5424(std::string_view line, std::size_t pos, const ParseContext& ctx, ParsedLine& out) {
  // pos is at the space after VERSION.
  ++pos;
  if (pos >= line.size()) {
    return false;
  }
  if (line[pos] == '-') {
    ++pos;
  } else {
    std::int64_t ns = 0;
    std::size_t used = parseBuiltinTimestamp(line.substr(pos), ctx.time, false, &ns);
    if (used == 0) {
      return false;
    }
    out.ts_ns = ns;
    pos += used;
  }
  if (pos >= line.size() || line[pos] != ' ') {
    return false;
  }
  ++pos;
  std::string_view host;
  std::string_view app;
  std::string_view procid;
  std::string_view msgid;
  if (!headerField(line, &pos, &host) || !headerField(line, &pos, &app) ||
      !headerField(line, &pos, &procid) || !headerField(line, &pos, &msgid)) {
    return false;
  }
  const std::pair<std::string_view, std::string_view> fields[] = {
      {"host", host}, {"app", app}, {"pid", procid}, {"msgid", msgid}};
  for (const auto& [key, value] : fields) {
    if (!value.empty()) {
      pushAttr(out, key, value);
    }
  }
  if (!structuredData(line, &pos, out)) {
    return false;
  }
  if (pos < line.size()) {
    if (line[pos] != ' ') {
      return false;
    }
    ++pos;
  }
  std::string_view message = line.substr(pos);
  if (text::startsWith(message, kUtf8Bom)) {
    message.remove_prefix(kUtf8Bom.size());
  }
  out.message = message;
  return true;
}

}  // namespace

bool parseSyslog(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  std::size_t pos = 0;
  int pri = -1;
  if (!line.empty() && line[0] == '<') {
    std::size_t p = 1;
    int value = 0;
    while (p < line.size() && p <= 3 && text::isDigit(line[p])) {
      value = value * 10 + (line[p] - '0');
      ++p;
    }
    if (p == 1 || p >= line.size() || line[p] != '>' || value > 191) {
      return false;
    }
    pri = value;
    pos = p + 1;
  }
  out.format = Format::kSyslog;
  out.severity = severityFromSyslogPriority(pri);
  if (pri >= 0 && pos < line.size() && line[pos] >= '1' && line[pos] <= '9') {
    std::size_t v = pos;
    while (v < line.size() && v - pos < 3 && text::isDigit(line[v])) {
      ++v;
    }
    if (v < line.size() && line[v] == ' ') {
      return parse5424(line, v, ctx, out);
    }
  }
  std::int64_t ns = 0;
  std::size_t used = parseTimestampPrefix(line.substr(pos), ctx.time, false, &ns);
  if (used == 0 && pri < 0) {
    return false;
  }
  if (used > 0) {
    out.ts_ns = ns;
    pos += used;
    if (pos >= line.size() || line[pos] != ' ') {
      return false;
    }
    ++pos;
  }
  if (!hostAndTag(line, pos, /*require_tag=*/pri < 0, out)) {
    if (pri < 0) {
      return false;
    }
    out.message = line.substr(pos);
  }
  if (pri < 0) {
    out.severity = findSeverity(out.message);
  }
  return true;
}

bool parseSyslogAfterTimestamp(std::string_view line, std::size_t pos, std::int64_t ts_ns,
                               ParsedLine& out) {
  if (!hostAndTag(line, pos, /*require_tag=*/true, out)) {
    return false;
  }
  out.format = Format::kSyslog;
  out.ts_ns = ts_ns;
  out.severity = findSeverity(out.message);
  return true;
}

}  // namespace faultline::logparse::detail
