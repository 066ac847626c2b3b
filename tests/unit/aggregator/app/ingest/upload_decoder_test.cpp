// Upload decoding: compression told apart by magic bytes, streamed decompression with a cap,
// clear errors for truncated and corrupt streams, and the line splitter's byte-exact output.
#include "aggregator/ingest/upload_decoder.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/aggregator/app/ingest/upload_test_support.h"

using faultline::Errc;
using faultline::Status;
using faultline::aggregator::ingest::decompressUpload;
using faultline::aggregator::ingest::detectCompression;
using faultline::aggregator::ingest::LineSplitter;
using faultline::aggregator::ingest::UploadCompression;
using faultline::aggregator::testing::gzipCompress;
using faultline::aggregator::testing::zstdCompress;

namespace {

std::string sampleText(int lines) {
  std::string text;
  for (int i = 0; i < lines; ++i) {
    text += "2026-11-26T10:00:" + std::to_string(10 + i % 50) + "Z INFO worker " +
            std::to_string(i) + " finished job in " + std::to_string(i * 7 % 1000) + "ms\n";
  }
  return text;
}

/// Decompresses everything into a string; the status of the whole run.
Status decodeAll(std::string_view body, UploadCompression c, std::size_t cap, std::string& out,
                 std::size_t chunk = 4096) {
  out.clear();
  return decompressUpload(
      body, c, cap,
      [&](std::string_view piece) {
        CHECK(piece.size() <= chunk);
        out.append(piece);
        return Status::ok();
      },
      chunk);
}

}  // namespace

TEST_CASE("upload decode: magic bytes pick the decompressor; Content-Encoding must agree") {
  const std::string text = sampleText(10);
  const std::string gz = gzipCompress(text);
  const std::string zs = zstdCompress(text);
  CHECK(*detectCompression(text, "") == UploadCompression::None);
  CHECK(*detectCompression(gz, "") == UploadCompression::Gzip);
  CHECK(*detectCompression(zs, "") == UploadCompression::Zstd);
  CHECK(*detectCompression(gz, " GZIP ") == UploadCompression::Gzip);
  CHECK(*detectCompression(gz, "x-gzip") == UploadCompression::Gzip);
  CHECK(*detectCompression(zs, "zstd") == UploadCompression::Zstd);
  CHECK(*detectCompression(text, "identity") == UploadCompression::None);
  CHECK(detectCompression(text, "gzip").code() == Errc::InvalidArgument);
  CHECK(detectCompression(gz, "zstd").code() == Errc::InvalidArgument);
  CHECK(detectCompression(zs, "identity").code() == Errc::InvalidArgument);
  auto br = detectCompression(text, "br");
  CHECK(br.code() == Errc::InvalidArgument);
  CHECK(br.status().message().find("not supported") != std::string::npos);
}

TEST_CASE("upload decode: plain, gzip (one or two members) and zstd round-trip in chunks") {
  const std::string text = sampleText(3000);
  std::string out;
  for (const auto& [body, c] : std::vector<std::pair<std::string, UploadCompression>>{
           {text, UploadCompression::None},
           {gzipCompress(text), UploadCompression::Gzip},
           {zstdCompress(text), UploadCompression::Zstd},
           {gzipCompress(text.substr(0, 1000)) + gzipCompress(text.substr(1000)),
            UploadCompression::Gzip},
           {zstdCompress(text.substr(0, 1000)) + zstdCompress(text.substr(1000)),
            UploadCompression::Zstd}}) {
    const int compression = static_cast<int>(c);  // a plain local: CAPTURE is a lambda
    CAPTURE(compression);
    Status status = decodeAll(body, c, text.size(), out);
    REQUIRE_MESSAGE(status.isOk(), status.toString());
    CHECK(out == text);
  }
}

TEST_CASE("upload decode: truncated and corrupt gzip and zstd are clear InvalidArguments") {
  const std::string text = sampleText(2000);
  std::string out;
  const std::string gz = gzipCompress(text);
  const std::string zs = zstdCompress(text);

  for (std::size_t cut : {gz.size() - 1, gz.size() - 8, gz.size() / 2, std::size_t{12}}) {
    CAPTURE(cut);
    Status status = decodeAll(gz.substr(0, cut), UploadCompression::Gzip, 1 << 30, out);
    CHECK(status.code() == Errc::InvalidArgument);
    CHECK_MESSAGE(status.message().find("gzip") != std::string::npos, status.message());
  }
  std::string corrupt = gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  Status status = decodeAll(corrupt, UploadCompression::Gzip, 1 << 30, out);
  CHECK(status.code() == Errc::InvalidArgument);
  CHECK(status.message().find("gzip") != std::string::npos);
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x01;  // the CRC32 in the trailer
  CHECK(decodeAll(bad_crc, UploadCompression::Gzip, 1 << 30, out).code() == Errc::InvalidArgument);
  CHECK(decodeAll(gz + "trailing junk", UploadCompression::Gzip, 1 << 30, out).code() ==
        Errc::InvalidArgument);

  for (std::size_t cut : {zs.size() - 1, zs.size() / 2, std::size_t{6}}) {
    CAPTURE(cut);
    status = decodeAll(zs.substr(0, cut), UploadCompression::Zstd, 1 << 30, out);
    CHECK(status.code() == Errc::InvalidArgument);
    CHECK_MESSAGE(status.message().find("zstd") != std::string::npos, status.message());
  }
  corrupt = zs;
  corrupt[corrupt.size() / 2] ^= 0x55;
  CHECK(decodeAll(corrupt, UploadCompression::Zstd, 1 << 30, out).code() == Errc::InvalidArgument);
  CHECK(decodeAll(zs + "junk", UploadCompression::Zstd, 1 << 30, out).code() ==
        Errc::InvalidArgument);
}

TEST_CASE("upload decode: a decompression bomb stops at the cap with ResourceExhausted") {
  const std::string zeros(8 << 20, '\0');
  const std::size_t cap = 1 << 20;
  for (const auto& [body, c] : std::vector<std::pair<std::string, UploadCompression>>{
           {gzipCompress(zeros, 9), UploadCompression::Gzip},
           {zstdCompress(zeros, 19), UploadCompression::Zstd},
           {std::string(cap + 1, 'x'), UploadCompression::None}}) {
    const int compression = static_cast<int>(c);  // a plain local: CAPTURE is a lambda
    CAPTURE(compression);
    std::size_t seen = 0;
    Status status = decompressUpload(body, c, cap, [&](std::string_view piece) {
      seen += piece.size();
      return Status::ok();
    });
    CHECK(status.code() == Errc::ResourceExhausted);
    CHECK(seen <= cap);  // nothing past the cap reached the sink
  }
  // Exactly at the cap is fine.
  std::string out;
  CHECK(decodeAll(gzipCompress(zeros.substr(0, cap)), UploadCompression::Gzip, cap, out).isOk());
  CHECK(out.size() == cap);
}

TEST_CASE("upload decode: a sink error stops decoding and is returned as is") {
  const std::string text = sampleText(500);
  int calls = 0;
  Status status = decompressUpload(
      zstdCompress(text), UploadCompression::Zstd, 1 << 30,
      [&](std::string_view) {
        ++calls;
        return Status(Errc::Unavailable, "store busy");
      },
      1024);
  CHECK(status.code() == Errc::Unavailable);
  CHECK(calls == 1);
}

TEST_CASE("line splitter: lines, pieces of long lines and the last line give the bytes back") {
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{4096}}) {
    CAPTURE(chunk);
    const std::string text = "short\n\nexactly8\r\n" + std::string(20, 'L') +
                             "\nabcdefgh\nabcdefghij\nno newline at end";
    std::string rebuilt;
    std::vector<std::string> records;
    LineSplitter splitter(8, [&](std::string_view line, bool no_newline) {
      CHECK(line.size() <= 8);
      records.emplace_back(line);
      rebuilt.append(line);
      if (!no_newline) {
        rebuilt += '\n';
      }
      return Status::ok();
    });
    for (std::size_t at = 0; at < text.size(); at += chunk) {
      REQUIRE(splitter.feed(std::string_view(text).substr(at, chunk)).isOk());
    }
    REQUIRE(splitter.finish().isOk());
    CHECK(rebuilt == text);
    CHECK(records.front() == "short");
    CHECK(records[1].empty());
    // short, "", exactly8\r, LLL.., abcdefgh (whole, at any chunking), abcdefghij, no newline...
    CHECK(splitter.lines() == 7);
    CHECK(std::find(records.begin(), records.end(), "abcdefgh") != records.end());
  }
}
