#pragma once

// Joins continuation lines (stack traces, wrapped messages) onto the line that started the
// event. A line that matches a start rule opens a new event; other lines are appended (with
// their '\n') to the open one. An event is emitted when the next start line arrives, when it
// reaches max_lines / max_bytes, or when flush() is called after the flush timeout (the caller
// owns the timer). Lossless: the emitted event is the original lines joined by '\n'.
//
// Built-in rules:
//   java   start = not (whitespace + "at " | "Caused by:" | "... N more" | "Suppressed:" | tab)
//   python start = not continuation of "Traceback (most recent call last):" blocks (indented
//          lines, and the final "ExceptionType: message" line after a traceback)
//   go     "panic: " / "goroutine N [running]:" blocks: indented lines, "created by", file:line
//   auto   the three above combined (the default when multiline is enabled)
//   regex  a custom RE2 start pattern.
// Threads: one Joiner per stream, used on one thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "shared/util/status.h"

namespace faultline::logparse {

struct MultilineOptions {
  std::string mode = "auto";   // "auto", "java", "python", "go", "regex"
  std::string start_regex;     // mode "regex": lines matching this start an event
  std::size_t max_lines = 500;
  std::size_t max_bytes = 256 * 1024;
};

class MultilineJoiner {
 public:
  /// `line` is one event (lines joined by '\n'); `lines` how many input lines it holds.
  using Emit = std::function<void(std::string_view event, std::size_t lines)>;

  static Result<std::unique_ptr<MultilineJoiner>> create(const MultilineOptions& options);
  virtual ~MultilineJoiner() = default;

  /// Feeds one line (without '\n'). May emit the previously open event first.
  virtual void add(std::string_view line, const Emit& emit) = 0;
  /// Emits the open event, if any.
  virtual void flush(const Emit& emit) = 0;
  virtual bool hasOpenEvent() const = 0;
};

}  // namespace faultline::logparse
