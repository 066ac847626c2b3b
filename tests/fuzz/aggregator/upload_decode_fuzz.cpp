// Feeds arbitrary bytes to the log upload decoder: compression detection, bounded streamed
// decompression and line splitting. Whatever comes in, the output stays within the caps, every
// piece fits the line limit, and for plain input the lines give the bytes back exactly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aggregator/ingest/upload_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline::aggregator::ingest;
  constexpr std::size_t kMaxOut = 4u << 20;
  constexpr std::size_t kMaxLine = 256;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks the Content-Encoding header (none, gzip, zstd, identity).
  std::string_view encoding;
  if (!input.empty()) {
    static constexpr std::string_view kEncodings[] = {"", "gzip", "zstd", "identity"};
    encoding = kEncodings[static_cast<std::uint8_t>(input[0]) % 4];
    input.remove_prefix(1);
  }
  auto compression = detectCompression(input, encoding);
  if (!compression) {
    return 0;
  }
  std::size_t out_bytes = 0;
  std::string rebuilt;
  LineSplitter lines(kMaxLine, [&](std::string_view line, bool no_newline) {
    if (line.size() > kMaxLine) {
      __builtin_trap();
    }
    rebuilt.append(line);
    if (!no_newline) {
      rebuilt += '\n';
    }
    return faultline::Status::ok();
  });
  faultline::Status status = decompressUpload(
      input, *compression, kMaxOut,
      [&](std::string_view chunk) {
        out_bytes += chunk.size();
        if (out_bytes > kMaxOut || chunk.size() > 4096) {
          __builtin_trap();
        }
        return lines.feed(chunk);
      },
      4096);
  if (status.isOk()) {
    status = lines.finish();
    if (*compression == UploadCompression::None && rebuilt != input) {
      __builtin_trap();
    }
    if (rebuilt.size() != out_bytes) {
      __builtin_trap();
    }
  }
  return 0;
}
