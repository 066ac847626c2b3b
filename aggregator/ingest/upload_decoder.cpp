#include "aggregator/ingest/upload_decoder.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <utility>

#include "shared/util/c_deleter.h"

namespace faultline::aggregator::ingest {
namespace {

constexpr unsigned char kGzipMagic[] = {0x1f, 0x8b};
constexpr unsigned char kZstdMagic[] = {0x28, 0xb5, 0x2f, 0xfd};
// A frame asking for a larger window is refused: 16 MiB covers every zstd level without
// --long, and bounds what one request can make us allocate.
constexpr int kZstdWindowLogMax = 24;

bool startsWith(std::string_view body, const unsigned char* magic, std::size_t size) {
  return body.size() >= size && std::equal(magic, magic + size, body.begin(), [](auto a, char b) {
           return a == static_cast<unsigned char>(b);
         });
}

std::string lowerTrim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

/// Counts output against the cap and hands it to the sink.
class CappedSink {
 public:
  CappedSink(std::size_t max, const ChunkSink& sink) : max_(max), sink_(sink) {}
  Status put(std::string_view chunk) {
    if (chunk.empty()) {
      return Status::ok();
    }
    total_ += chunk.size();
    if (total_ > max_) {
      return Status(Errc::ResourceExhausted,
                    "upload decompresses to more than " + std::to_string(max_) + " bytes");
    }
    return sink_(chunk);
  }

 private:
  std::size_t max_;
  const ChunkSink& sink_;
  std::size_t total_ = 0;
};

void endInflate(z_stream* stream) {
  inflateEnd(stream);
  delete stream;
}

Status gunzip(std::string_view body, CappedSink& out, std::size_t chunk_bytes) {
  CPtr<z_stream, &endInflate> zs(new z_stream{});
  if (inflateInit2(zs.get(), 16 + MAX_WBITS) != Z_OK) {
    return internalError("gzip: inflateInit2 failed");
  }
  std::string buffer(chunk_bytes, '\0');
  std::size_t offset = 0;
  while (offset < body.size()) {
    // A member starts here (the first, or one after a complete member: `cat a.gz b.gz`).
    if (!startsWith(body.substr(offset), kGzipMagic, sizeof kGzipMagic)) {
      return invalidArgument("gzip: unexpected bytes after member at offset " +
                             std::to_string(offset));
    }
    inflateReset(zs.get());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      // zlib takes uInt lengths: feed at most 1 GiB at a time.
      const std::size_t avail = std::min<std::size_t>(body.size() - offset, 1u << 30);
      zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data() + offset));
      zs->avail_in = static_cast<uInt>(avail);
      zs->next_out = reinterpret_cast<Bytef*>(buffer.data());
      zs->avail_out = static_cast<uInt>(buffer.size());
      rc = inflate(zs.get(), Z_NO_FLUSH);
      offset += avail - zs->avail_in;
      const std::size_t produced = buffer.size() - zs->avail_out;
      if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && produced > 0)) {
        if (rc == Z_BUF_ERROR) {
          return invalidArgument("gzip: truncated stream");
        }
        return invalidArgument(std::string("gzip: corrupt stream: ") +
                               (zs->msg != nullptr ? zs->msg : "inflate failed"));
      }
      FL_RETURN_IF_ERROR(out.put(std::string_view(buffer.data(), produced)));
      if (rc != Z_STREAM_END && offset == body.size() && produced == 0) {
        return invalidArgument("gzip: truncated stream");
      }
    }
  }
  return Status::ok();
}

Status unzstd(std::string_view body, CappedSink& out, std::size_t chunk_bytes) {
  CPtr<ZSTD_DCtx, &ZSTD_freeDCtx> dctx(ZSTD_createDCtx());
  if (dctx == nullptr ||
      ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
    return internalError("zstd: cannot create a decompression context");
  }
  std::string buffer(chunk_bytes, '\0');
  ZSTD_inBuffer in{body.data(), body.size(), 0};
  std::size_t last = 0;
  for (;;) {
    ZSTD_outBuffer chunk{buffer.data(), buffer.size(), 0};
    last = ZSTD_decompressStream(dctx.get(), &chunk, &in);
    if (ZSTD_isError(last)) {
      return invalidArgument(std::string("zstd: corrupt stream: ") + ZSTD_getErrorName(last));
    }
    FL_RETURN_IF_ERROR(out.put(std::string_view(buffer.data(), chunk.pos)));
    // Done when all input is consumed and the decoder holds nothing back (a full output
    // buffer may mean more is pending).
    if (in.pos == in.size && chunk.pos < chunk.size) {
      break;
    }
  }
  if (last != 0) {
    return invalidArgument("zstd: truncated stream");
  }
  return Status::ok();
}

}  // namespace

std::string_view compressionName(UploadCompression compression) {
  switch (compression) {
    case UploadCompression::None: return "none";
    case UploadCompression::Gzip: return "gzip";
    case UploadCompression::Zstd: return "zstd";
  }
  return "none";
}

Result<UploadCompression> detectCompression(std::string_view body,
                                            std::string_view content_encoding) {
  UploadCompression sniffed = UploadCompression::None;
  if (startsWith(body, kGzipMagic, sizeof kGzipMagic)) {
    sniffed = UploadCompression::Gzip;
  } else if (startsWith(body, kZstdMagic, sizeof kZstdMagic)) {
    sniffed = UploadCompression::Zstd;
  }
  const std::string encoding = lowerTrim(content_encoding);
  if (encoding.empty()) {
    return sniffed;
  }
  UploadCompression declared = UploadCompression::None;
  if (encoding == "gzip" || encoding == "x-gzip") {
    declared = UploadCompression::Gzip;
  } else if (encoding == "zstd") {
    declared = UploadCompression::Zstd;
  } else if (encoding != "identity") {
    return invalidArgument("Content-Encoding " + encoding.substr(0, 64) +
                           " is not supported (gzip, zstd or identity)");
  }
  if (declared != sniffed && !(declared == UploadCompression::None && body.empty())) {
    return invalidArgument("Content-Encoding " + encoding + " but the body looks like " +
                           std::string(compressionName(sniffed)));
  }
  return declared;
}

Status decompressUpload(std::string_view body, UploadCompression compression,
                        std::size_t max_decompressed, const ChunkSink& sink,
                        std::size_t chunk_bytes) {
  chunk_bytes = std::max<std::size_t>(chunk_bytes, 64);
  CappedSink out(max_decompressed, sink);
  switch (compression) {
    case UploadCompression::Gzip: return gunzip(body, out, chunk_bytes);
    case UploadCompression::Zstd: return unzstd(body, out, chunk_bytes);
    case UploadCompression::None: break;
  }
  while (!body.empty()) {
    const std::size_t n = std::min(body.size(), chunk_bytes);
    FL_RETURN_IF_ERROR(out.put(body.substr(0, n)));
    body.remove_prefix(n);
  }
  return Status::ok();
}

LineSplitter::LineSplitter(std::size_t max_line_bytes, LineSink sink)
    : max_line_bytes_(std::max<std::size_t>(max_line_bytes, 1)), sink_(std::move(sink)) {}

Status LineSplitter::emit(std::string_view line, bool no_newline) {
  if (!no_newline) {
    ++lines_;
  }
  return sink_(line, no_newline);
}

Status LineSplitter::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const std::size_t room = max_line_bytes_ - partial_.size();
    const std::size_t newline = chunk.substr(0, room + 1).find('\n');
    if (newline != std::string_view::npos) {
      if (partial_.empty()) {
        FL_RETURN_IF_ERROR(emit(chunk.substr(0, newline), false));
      } else {
        partial_.append(chunk.substr(0, newline));
        FL_RETURN_IF_ERROR(emit(partial_, false));
        partial_.clear();
      }
      chunk.remove_prefix(newline + 1);
      continue;
    }
    if (chunk.size() <= room) {
      // Held even when exactly full: a '\n' may come next, and then this is a whole line.
      partial_.append(chunk);
      return Status::ok();
    }
    // No '\n' within the limit: a full piece leaves now, the line continues in the next one.
    partial_.append(chunk.substr(0, room));
    chunk.remove_prefix(room);
    FL_RETURN_IF_ERROR(emit(partial_, true));
    partial_.clear();
  }
  return Status::ok();
}

Status LineSplitter::finish() {
  if (partial_.empty()) {
    return Status::ok();
  }
  ++lines_;
  Status status = sink_(partial_, true);
  partial_.clear();
  return status;
}

}  // namespace faultline::aggregator::ingest
