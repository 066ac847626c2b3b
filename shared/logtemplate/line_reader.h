#pragma once

// Reading text input for the `templates` tool in bounded memory: lines of a log file, records
// of a CSV file. Both stream from a FILE* in fixed-size chunks.
// Thread: one reader per thread; the FILE* stays owned by the caller.

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "shared/util/status.h"

namespace faultline::logtemplate {

/// Buffered bytes from a FILE*.
class ByteSource {
 public:
  explicit ByteSource(std::FILE* in) : in_(in), buffer_(64 * 1024) {}

  /// The next byte, or -1 at the end of input (or on a read error: see error()).
  int next() {
    if (pos_ == end_ && !refill()) {
      return -1;
    }
    return static_cast<unsigned char>(buffer_[pos_++]);
  }
  bool error() const { return error_; }

 private:
  bool refill();

  std::FILE* in_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool error_ = false;
};

/// Splits input into '\n'-terminated lines (the '\n' removed, a '\r' before it kept). A line
/// longer than `max_line_bytes` is cut there and reported as truncated; the rest of it is
/// skipped, so memory stays bounded.
class LineReader {
 public:
  LineReader(std::FILE* in, std::size_t max_line_bytes) : source_(in), max_(max_line_bytes) {}

  /// False at the end of input. `truncated` is set when the line was longer than the limit.
  Result<bool> next(std::string& line, bool& truncated);

 private:
  ByteSource source_;
  std::size_t max_;
};

/// RFC 4180 CSV: fields separated by ',', optionally quoted with '"' ("" inside quotes is one
/// quote), records end at "\n" or "\r\n" outside quotes. A record over `max_record_bytes` or an
/// unterminated quote is an error.
class CsvReader {
 public:
  CsvReader(std::FILE* in, std::size_t max_record_bytes) : source_(in), max_(max_record_bytes) {}

  /// Reads the next record; false at the end of input.
  Result<bool> next(std::vector<std::string>& fields);

 private:
  ByteSource source_;
  std::size_t max_;
  std::size_t record_ = 0;
};

/// `field` quoted for CSV when it needs to be (comma, quote, CR, LF, leading/trailing space).
std::string csvQuote(std::string_view field);

}  // namespace faultline::logtemplate
