// JSON lines and logfmt: both are key/value records whose time, level and message keys are
// recognised by name (ParserOptions keys first, then the built-in lists).
#include <climits>

#include "shared/logparse/json_scanner.h"
#include "shared/logparse/parse_internal.h"
#include "shared/logparse/text_util.h"

namespace faultline::logparse::detail {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

/// The best-ranked attribute index per role, filled while the record is scanned.
struct RoleCandidates {
  int rank[4] = {INT_MAX, INT_MAX, INT_MAX, INT_MAX};
  std::size_t index[4] = {kNone, kNone, kNone, kNone};

  void offer(const ParseContext& ctx, std::string_view key, std::size_t attr_index) {
    int r = 0;
    KeyRole role = ctx.classifyKey(key, &r);
    auto slot = static_cast<std::size_t>(role);
    if (role != KeyRole::kNone && r < rank[slot] && attr_index < kMaxAttrs) {
      rank[slot] = r;
      index[slot] = attr_index;
    }
  }
};

/// Digits only, at most `max_digits` of them; false otherwise.
bool smallInteger(std::string_view text, std::size_t max_digits, std::int64_t* value) {
  if (text.empty() || text.size() > max_digits) {
    return false;
  }
  std::int64_t v = 0;
  for (char c : text) {
    if (!text::isDigit(c)) {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  *value = v;
  return true;
}

/// Google Cloud's structured time {"seconds": 1704164645, "nanos": 1}.
bool parseSecondsNanos(std::string_view object, std::int64_t* ns) {
  JsonObjectReader reader(object);
  JsonMember m;
  std::int64_t seconds = -1;
  std::int64_t nanos = 0;
  while (reader.next(m)) {
    if (m.key == "seconds") {
      if (!smallInteger(m.value, 10, &seconds)) {
        return false;
      }
    } else if (m.key == "nanos") {
      if (!smallInteger(m.value, 9, &nanos)) {
        return false;
      }
    }
  }
  if (reader.failed() || seconds < 0) {
    return false;
  }
  *ns = seconds * 1'000'000'000 + nanos;
  return true;
}

/// Applies time, level and message from the candidates and removes the attributes that were
/// used (the others stay, in order).
void applyRoles(const RoleCandidates& roles, const ParseContext& ctx, std::size_t first_attr,
                ParsedLine& out) {
  std::size_t used[3] = {kNone, kNone, kNone};
  std::size_t ti = roles.index[static_cast<std::size_t>(KeyRole::kTime)];
  if (ti != kNone) {
    std::int64_t ns = 0;
    std::string_view value = out.attrs[ti].value;
    bool parsed = value.empty() || value[0] != '{' ? parseTimestampValue(value, ctx.time, &ns)
                                                   : parseSecondsNanos(value, &ns);
    if (parsed) {
      out.ts_ns = ns;
      used[0] = ti;
    }
  }
  std::size_t li = roles.index[static_cast<std::size_t>(KeyRole::kLevel)];
  if (li != kNone) {
    Severity s = severityFromValue(out.attrs[li].value);
    if (s != Severity::kUnknown) {
      out.severity = s;
      used[1] = li;
    }
  }
  std::size_t mi = roles.index[static_cast<std::size_t>(KeyRole::kMessage)];
  if (mi != kNone) {
    out.message = out.attrs[mi].value;
    used[2] = mi;
  }
  if (used[0] == kNone && used[1] == kNone && used[2] == kNone) {
    return;
  }
  std::size_t w = first_attr;
  for (std::size_t r = first_attr; r < out.attrs.size(); ++r) {
    if (r == used[0] || r == used[1] || r == used[2]) {
      continue;
    }
    out.attrs[w++] = out.attrs[r];
  }
  out.attrs.resize(w);
}

/// logfmt quoted values use Go's strconv.Quote escapes; only the common ones are decoded and
/// anything else is kept as written (lenient: a log line is not a program).
bool scratchUnescapeLogfmt(ParsedLine& out, std::string_view raw, std::string_view* result) {
  std::string& s = out.scratch;
  if (s.capacity() - s.size() < raw.size()) {
    return false;
  }
  std::size_t start = s.size();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\' || i + 1 >= raw.size()) {
      s.push_back(c);
      continue;
    }
    char e = raw[++i];
    switch (e) {
      case '"':
      case '\\': s.push_back(e); break;
      case 'n': s.push_back('\n'); break;
      case 't': s.push_back('\t'); break;
      case 'r': s.push_back('\r'); break;
      default:
        s.push_back('\\');
        s.push_back(e);
        break;
    }
  }
  *result = std::string_view(s.data() + start, s.size() - start);
  return true;
}

}  // namespace

bool parseJson(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  JsonObjectReader reader(line);
  JsonMember m;
  RoleCandidates roles;
  std::size_t first_attr = out.attrs.size();
  while (reader.next(m)) {
    std::string_view key = m.key;
    std::string_view value = m.value;
    if ((m.key_escaped && !scratchUnescapeJson(out, m.key, &key)) ||
        (m.value_escaped && !scratchUnescapeJson(out, m.value, &value))) {
      return false;
    }
    roles.offer(ctx, key, out.attrs.size());
    pushAttr(out, key, value);
  }
  if (reader.failed() || !reader.atEndOfInput()) {
    return false;
  }
  out.format = Format::kJson;
  out.message = line;
  applyRoles(roles, ctx, first_attr, out);
  return true;
}

bool parseLogfmt(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  RoleCandidates roles;
  std::size_t first_attr = out.attrs.size();
  std::size_t pairs = 0;
  std::size_t pos = text::skipSpaces(line, 0);
  while (pos < line.size()) {
    std::size_t key_start = pos;
    while (pos < line.size() && line[pos] != '=' && line[pos] != '"' && !text::isSpace(line[pos])) {
      ++pos;
    }
    std::string_view key = line.substr(key_start, pos - key_start);
    if (key.empty()) {
      return false;  // "=x" or a stray quote: not logfmt
    }
    std::string_view value;
    if (pos < line.size() && line[pos] == '=') {
      ++pos;
      ++pairs;
      if (pos < line.size() && line[pos] == '"') {
        std::size_t value_start = ++pos;
        bool escaped = false;
        while (pos < line.size() && line[pos] != '"') {
          if (line[pos] == '\\') {
            escaped = true;
            ++pos;
          }
          ++pos;
        }
        if (pos >= line.size()) {
          return false;  // unterminated quote
        }
        value = line.substr(value_start, pos - value_start);
        ++pos;
        if (escaped && !scratchUnescapeLogfmt(out, value, &value)) {
          return false;
        }
      } else {
        std::size_t value_start = pos;
        while (pos < line.size() && !text::isSpace(line[pos])) {
          ++pos;
        }
        value = line.substr(value_start, pos - value_start);
      }
    }
    if (pos < line.size() && !text::isSpace(line[pos])) {
      return false;  // `a="b"c`: garbage after a quoted value
    }
    roles.offer(ctx, key, out.attrs.size());
    pushAttr(out, key, value);
    pos = text::skipSpaces(line, pos);
  }
  if (pairs == 0) {
    return false;
  }
  out.format = Format::kLogfmt;
  out.message = line;
  applyRoles(roles, ctx, first_attr, out);
  return true;
}

bool parseDocker(std::string_view line, const ParseContext& ctx, ParsedLine& out) {
  JsonObjectReader reader(line);
  JsonMember m;
  JsonMember log;
  bool have_log = false;
  bool have_stream = false;
  std::int64_t wrapper_ns = 0;
  bool have_time = false;
  while (reader.next(m)) {
    if (m.key_escaped) {
      return false;  // docker writes plain keys; anything else is some other JSON
    }
    if (m.key == "log" && m.kind == JsonKind::kString) {
      log = m;
      have_log = true;
    } else if (m.key == "stream" && m.kind == JsonKind::kString && !m.value_escaped) {
      have_stream = true;
      pushAttr(out, "stream", m.value);
    } else if (m.key == "time" && m.kind == JsonKind::kString) {
      have_time = parseTimestampValue(m.value, ctx.time, &wrapper_ns);
    } else {
      std::string_view value = m.value;
      if (m.value_escaped && !scratchUnescapeJson(out, m.value, &value)) {
        return false;
      }
      pushAttr(out, m.key, value);
    }
  }
  if (reader.failed() || !reader.atEndOfInput() || !have_log || !(have_stream || have_time)) {
    return false;
  }
  std::string_view inner = log.value;
  if (log.value_escaped && !scratchUnescapeJson(out, log.value, &inner)) {
    return false;
  }
  bool complete = !inner.empty() && inner.back() == '\n';
  if (complete) {
    inner.remove_suffix(1);
    if (!inner.empty() && inner.back() == '\r') {
      inner.remove_suffix(1);
    }
  }
  parseAuto(inner, ctx, out, /*allow_container=*/false);
  out.inner_format = out.format;
  out.format = Format::kDocker;
  out.inner = inner;
  out.partial = !complete;
  if (have_time) {
    out.ts_ns = wrapper_ns;
  }
  return true;
}

}  // namespace faultline::logparse::detail
