#pragma once

// A small leveled logger: one line per call, written with a single write(2) so lines from
// different threads never interleave. Thread-safe.
//
// Two formats: text for people ("2026-11-26T12:00:00.123Z info  component: message"), and JSON
// for log pipelines, one object per line:
//   {"ts":"2026-11-26T12:00:00.123Z","level":"info","component":"serve","msg":"...",
//    "fields":{"key":"value"}}
// Strings are JSON-escaped (control characters as \u00XX, invalid UTF-8 as U+FFFD), so any
// bytes a message carries give a line that parses.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace faultline::log {

enum class Level : int { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class Format : int { Text = 0, Json = 1 };

/// A structured key/value pair carried with a message (text format: appended as key=value).
struct Field {
  std::string_view key;
  std::string_view value;
};

void setLevel(Level level);
Level level();
/// Parses "debug", "info", "warn", "error"; false when unknown.
bool parseLevel(std::string_view text, Level* out);

void setFormat(Format format);
Format format();
/// Parses "text", "json"; false when unknown.
bool parseFormat(std::string_view text, Format* out);

/// Writes one line to stderr in the current format.
void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {});

/// The line write() would produce, with its final '\n' (exposed for tests).
std::string formatLine(Format format, std::int64_t unix_ns, Level level, std::string_view component,
                       std::string_view message, std::initializer_list<Field> fields);

/// `text` as the inside of a JSON string (no quotes): ", \ and control characters escaped,
/// invalid UTF-8 replaced by U+FFFD.
void appendJsonEscaped(std::string& out, std::string_view text);

inline void debug(std::string_view component, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  if (level() <= Level::Debug) {
    write(Level::Debug, component, message, fields);
  }
}
inline void info(std::string_view component, std::string_view message,
                 std::initializer_list<Field> fields = {}) {
  write(Level::Info, component, message, fields);
}
inline void warn(std::string_view component, std::string_view message,
                 std::initializer_list<Field> fields = {}) {
  write(Level::Warn, component, message, fields);
}
inline void error(std::string_view component, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  write(Level::Error, component, message, fields);
}

}  // namespace faultline::log
