#pragma once

// Compressors for upload tests: gzip through zlib (deflate with a gzip wrapper), zstd through
// the wire helpers.

#include <doctest/doctest.h>
#include <zlib.h>

#include <string>
#include <string_view>

#include "shared/wire/batch.h"

namespace faultline::aggregator::testing {

inline std::string gzipCompress(std::string_view data, int level = 6) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

inline std::string zstdCompress(std::string_view data, int level = 3) {
  auto compressed = wire::zstdCompress(data, level);
  REQUIRE(compressed.isOk());
  return *compressed;
}

}  // namespace faultline::aggregator::testing
