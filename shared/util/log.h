#pragma once

// A small leveled logger: one line per call, written with a single write(2) so lines from
// different threads never interleave. Thread-safe.

#include <string_view>

namespace faultline::log {

enum class Level : int { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLevel(Level level);
Level level();
/// Parses "debug", "info", "warn", "error"; false when unknown.
bool parseLevel(std::string_view text, Level* out);

/// Writes "2026-11-26T12:00:00.123Z info  component: message\n" to stderr.
void write(Level level, std::string_view component, std::string_view message);

inline void debug(std::string_view component, std::string_view message) {
  if (level() <= Level::Debug) {
    write(Level::Debug, component, message);
  }
}
inline void info(std::string_view component, std::string_view message) {
  write(Level::Info, component, message);
}
inline void warn(std::string_view component, std::string_view message) {
  write(Level::Warn, component, message);
}
inline void error(std::string_view component, std::string_view message) {
  write(Level::Error, component, message);
}

}  // namespace faultline::log
