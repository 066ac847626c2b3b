#pragma once

// Small byte-range helpers for the miner's hot paths (no library calls for short ranges).
// Internal to shared/logtemplate.

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace faultline::logtemplate {

inline std::uint64_t load64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline std::uint32_t load32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Equality of two byte ranges without a library call: template pieces are mostly short.
inline bool sameBytes(const char* a, const char* b, std::size_t n) {
  if (n >= 8) {
    for (; n > 8; n -= 8, a += 8, b += 8) {
      if (load64(a) != load64(b)) {
        return false;
      }
    }
    return load64(a + n - 8) == load64(b + n - 8);  // the last 8 bytes, overlapping
  }
  if (n >= 4) {
    return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      return false;
    }
  }
  return true;
}

inline bool isHoleAt(const char* p) {
  return p[0] == '<' && p[1] == '*' && p[2] == '>';
}

// The first e in [from, last] with s[e] == c, or last + 1. Eight bytes at a time (SWAR).
inline std::size_t findByte(const char* s, std::size_t from, std::size_t last, char c) {
  std::size_t e = from;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  const std::uint64_t pattern = kOnes * static_cast<unsigned char>(c);
  for (; e + 7 <= last; e += 8) {
    const std::uint64_t x = load64(s + e) ^ pattern;
    const std::uint64_t zero = (x - kOnes) & ~x & kHighs;  // exact for the lowest zero byte
    if (zero != 0) {
      return e + static_cast<std::size_t>(__builtin_ctzll(zero) >> 3);
    }
  }
#endif
  while (e <= last && s[e] != c) {
    ++e;
  }
  return e;
}

}  // namespace faultline::logtemplate
