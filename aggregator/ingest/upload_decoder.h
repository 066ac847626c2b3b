#pragma once

// The bytes of a log upload → lines. Untrusted input: the body may be plain text, gzip or zstd
// (told apart by magic bytes; Content-Encoding must agree when given), is decompressed in
// fixed-size chunks (never the whole file in memory) with a hard cap on the decompressed size,
// and split into lines that never exceed a maximum length (longer ones go as pieces, like the
// agent's tailer does).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "shared/util/status.h"

namespace faultline::aggregator::ingest {

enum class UploadCompression : std::uint8_t { None, Gzip, Zstd };

std::string_view compressionName(UploadCompression compression);

/// From the body's first bytes and the Content-Encoding header (empty when absent):
/// "gzip"/"x-gzip", "zstd", "identity". InvalidArgument for another encoding or when the
/// header contradicts the magic bytes.
Result<UploadCompression> detectCompression(std::string_view body,
                                            std::string_view content_encoding);

/// Receives decompressed bytes, a chunk at a time; a non-ok Status stops decoding.
using ChunkSink = std::function<Status(std::string_view chunk)>;

/// Decompresses `body` in chunks of at most `chunk_bytes` into `sink`. InvalidArgument for a
/// corrupt or truncated stream (naming the format), ResourceExhausted as soon as more than
/// `max_decompressed` bytes come out. Gzip may hold several members (as `cat a.gz b.gz`);
/// zstd several frames. Errors from `sink` are returned as they are.
Status decompressUpload(std::string_view body, UploadCompression compression,
                        std::size_t max_decompressed, const ChunkSink& sink,
                        std::size_t chunk_bytes = 64 * 1024);

/// Splits a byte stream into lines. A line is handed over without its '\n' (a "\r\n" keeps its
/// '\r': the bytes are the file's). A line longer than max_line_bytes goes as pieces of that
/// size with no_newline = true on all but the last, and the last line of a stream without a
/// final '\n' has no_newline = true: rendering line + (no_newline ? "" : "\n") gives the file
/// back byte for byte.
class LineSplitter {
 public:
  using LineSink = std::function<Status(std::string_view line, bool no_newline)>;

  LineSplitter(std::size_t max_line_bytes, LineSink sink);

  Status feed(std::string_view chunk);
  /// Emits the unterminated tail, if any. Call once at the end.
  Status finish();

  std::uint64_t lines() const { return lines_; }

 private:
  Status emit(std::string_view line, bool no_newline);

  std::size_t max_line_bytes_;
  LineSink sink_;
  std::string partial_;  // an unterminated line carried across chunks (< max_line_bytes)
  std::uint64_t lines_ = 0;
};

}  // namespace faultline::aggregator::ingest
