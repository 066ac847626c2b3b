#include "shared/util/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>

#include "shared/util/time.h"
#include "shared/util/utf8.h"

namespace faultline::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<int> g_format{static_cast<int>(Format::Text)};

std::string_view levelName(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "?";
}

}  // namespace

void setLevel(Level new_level) {
  g_level.store(static_cast<int>(new_level));
}
Level level() {
  return static_cast<Level>(g_level.load(std::memory_order_relaxed));
}

bool parseLevel(std::string_view text, Level* out) {
  if (text == "debug") {
    *out = Level::Debug;
  } else if (text == "info") {
    *out = Level::Info;
  } else if (text == "warn" || text == "warning") {
    *out = Level::Warn;
  } else if (text == "error") {
    *out = Level::Error;
  } else {
    return false;
  }
  return true;
}

void setFormat(Format new_format) {
  g_format.store(static_cast<int>(new_format));
}
Format format() {
  return static_cast<Format>(g_format.load(std::memory_order_relaxed));
}

bool parseFormat(std::string_view text, Format* out) {
  if (text == "text") {
    *out = Format::Text;
  } else if (text == "json") {
    *out = Format::Json;
  } else {
    return false;
  }
  return true;
}

void appendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t length = utf8SequenceLength(text, i);
      if (length == 0) {
        out += "\xef\xbf\xbd";  // U+FFFD for a byte that is not part of valid UTF-8
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

std::string formatLine(Format line_format, std::int64_t unix_ns, Level msg_level,
                       std::string_view component, std::string_view message,
                       std::initializer_list<Field> fields) {
  std::string line;
  if (line_format == Format::Json) {
    line += "{\"ts\":\"";
    line += formatRfc3339Millis(unix_ns);
    line += "\",\"level\":\"";
    line += levelName(msg_level);
    line += "\",\"component\":\"";
    appendJsonEscaped(line, component);
    line += "\",\"msg\":\"";
    appendJsonEscaped(line, message);
    line += "\",\"fields\":{";
    bool first = true;
    for (const Field& field : fields) {
      line += first ? "\"" : ",\"";
      first = false;
      appendJsonEscaped(line, field.key);
      line += "\":\"";
      appendJsonEscaped(line, field.value);
      line += '"';
    }
    line += "}}\n";
    return line;
  }
  line += formatRfc3339Millis(unix_ns);
  line += ' ';
  std::string_view name = levelName(msg_level);
  line += name;
  line.append(5 - std::min<std::size_t>(5, name.size()), ' ');  // columns line up
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  for (const Field& field : fields) {
    line += ' ';
    line += field.key;
    line += '=';
    line += field.value;
  }
  line += '\n';
  return line;
}

void write(Level msg_level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields) {
  if (static_cast<int>(msg_level) < g_level.load(std::memory_order_relaxed)) {
    return;
  }
  std::string line = formatLine(format(), nowUnixNanos(), msg_level, component, message, fields);
  // One write per line; a short write on stderr is not worth retrying.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace faultline::log
