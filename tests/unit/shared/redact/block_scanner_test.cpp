// The three classifiers (scalar, SSE2, AVX2) agree byte for byte, and the scan finds candidates
// wherever they fall relative to the 64-byte blocks and the line end.
#include "shared/redact/block_scanner.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace faultline::redact;

namespace {

std::vector<SimdLevel> supportedLevels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : kAllSimdLevels) {
    if (simdLevelSupported(l)) {
      out.push_back(l);
    }
  }
  return out;
}

std::vector<Finding> scan(SimdLevel level, std::string_view line) {
  std::vector<Finding> findings;
  LineScan s;
  s.line = line;
  s.enabled = ~0u;
  s.findings = &findings;
  scanLine(level, s);
  return findings;
}

bool same(const std::vector<Finding>& a, const std::vector<Finding>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].begin != b[i].begin || a[i].end != b[i].end || a[i].kind != b[i].kind) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("redact: scalar is always supported and the best level is supported") {
  CHECK(simdLevelSupported(SimdLevel::kScalar));
  CHECK(simdLevelSupported(bestSimdLevel()));
  MESSAGE("best SIMD level here: " << simdLevelName(bestSimdLevel()));
}

TEST_CASE("redact: classifiers agree on every byte value") {
  // All 256 byte values in 4 blocks, then random blocks.
  std::string bytes(256, '\0');
  for (int i = 0; i < 256; ++i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<char>(i);
  }
  const BlockMasks m = classifyBlock(SimdLevel::kScalar, bytes.data());  // bytes 0..63
  CHECK(m.digit == (0x3ffull << '0'));
  CHECK(m.space_or_quote == ((1ull << ' ') | (1ull << '"') | (1ull << '\'')));
  CHECK(m.separator == ((1ull << ':') | (1ull << '=')));
  CHECK(m.other == 0);
  CHECK(m.token == ((0x3ffull << '0') | (1ull << '-')));
  const BlockMasks high = classifyBlock(SimdLevel::kScalar, bytes.data() + 64);  // 64..127
  CHECK(high.other == ((1ull << ('@' - 64)) | (1ull << ('B' - 64))));
  CHECK(high.separator == 0);
  CHECK(high.digit == 0);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    if (round >= 4) {
      for (std::size_t i = 0; i < 64; ++i) {
        bytes[i] = static_cast<char>(rng() & 0xff);
      }
    }
    const char* block = bytes.data() + (round < 4 ? 64 * round : 0);
    const BlockMasks want = classifyBlock(SimdLevel::kScalar, block);
    for (SimdLevel l : supportedLevels()) {
      CAPTURE(simdLevelName(l));
      CHECK(classifyBlock(l, block) == want);
    }
  }
}

TEST_CASE("redact: a token is found at every offset across block boundaries and line ends") {
  const std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
  for (std::size_t offset = 0; offset < 140; ++offset) {
    for (std::size_t trailing : {0, 1, 7, 63, 64, 65}) {
      const std::string line = std::string(offset, ' ') + jwt + std::string(trailing, '.');
      CAPTURE(offset);
      CAPTURE(trailing);
      for (SimdLevel l : supportedLevels()) {
        const auto f = scan(l, line);
        REQUIRE(f.size() == 1);
        CHECK(f[0].begin == offset);
        CHECK(f[0].end == offset + jwt.size());
        CHECK(f[0].kind == Kind::kJwt);
      }
    }
  }
}

TEST_CASE("redact: spaced card groups and separators are found across block boundaries") {
  for (std::size_t offset = 0; offset < 130; ++offset) {
    const std::string line = std::string(offset, 'x') + " 4111 1111 1111 1111 password=pw ";
    CAPTURE(offset);
    for (SimdLevel l : supportedLevels()) {
      auto f = scan(l, line);
      REQUIRE(f.size() == 2);
      if (f[0].begin > f[1].begin) {
        std::swap(f[0], f[1]);
      }
      CHECK(f[0].kind == Kind::kCard);
      CHECK(f[0].begin == offset + 1);
      CHECK(f[1].kind == Kind::kPassword);
    }
  }
}

TEST_CASE("redact: all SIMD levels find the same things in random lines") {
  std::mt19937_64 rng(11);
  const std::vector<std::string> pieces = {"password=",
                                           "x@example.com",
                                           "4111111111111111",
                                           "4111 1111 1111 1111",
                                           " ",
                                           "=",
                                           ":",
                                           "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.sig",
                                           "AKIAIOSFODNN7EXAMPLE",
                                           "Bearer ",
                                           "abcdefghijklmnop",
                                           "-----BEGIN PRIVATE KEY-----",
                                           "https://u:p@h/",
                                           "\"",
                                           "token\":\"",
                                           "0123456789",
                                           "-",
                                           "_",
                                           "B",
                                           "@"};
  for (int round = 0; round < 3000; ++round) {
    std::string line;
    const std::size_t parts = rng() % 40;
    for (std::size_t i = 0; i < parts; ++i) {
      if (rng() % 3 == 0) {
        line += static_cast<char>(rng() & 0xff);
      } else {
        line += pieces[rng() % pieces.size()];
      }
    }
    CAPTURE(line);
    const auto want = scan(SimdLevel::kScalar, line);
    for (SimdLevel l : supportedLevels()) {
      CHECK(same(scan(l, line), want));
    }
  }
}
