#include "shared/redact/block_scanner.h"

#include <array>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace faultline::redact {
namespace {

// Character classes for the portable classifier.
constexpr std::uint8_t kDigitClass = 1;
constexpr std::uint8_t kTokenClass = 2;
constexpr std::uint8_t kSpaceClass = 4;
constexpr std::uint8_t kSeparatorClass = 8;
constexpr std::uint8_t kOtherClass = 16;

constexpr std::array<std::uint8_t, 256> makeClassTable() {
  std::array<std::uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = kDigitClass | kTokenClass;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] = kTokenClass;
    t[static_cast<std::size_t>(c - 'a' + 'A')] = kTokenClass;
  }
  t['_'] = kTokenClass;
  t['-'] = kTokenClass;
  t[' '] = kSpaceClass;
  t['"'] = kSpaceClass;
  t['\''] = kSpaceClass;
  t['@'] = kOtherClass;
  t['='] = kSeparatorClass;
  t[':'] = kSeparatorClass;
  t['B'] |= kOtherClass;
  return t;
}
constexpr std::array<std::uint8_t, 256> kClassTable = makeClassTable();

// Nibble lookup: each class is a set of (high nibble, low nibble) rectangles, one bit each:
//   bit 0 digits (3, 0-9)           bit 4 '-' (2, 13)
//   bit 1 letters (4|6, 1-15)       bit 5 ' ' '"' '\'' (2, 0|2|7)
//   bit 2 letters (5|7, 0-10)       bit 6 '@' 'B' (4, 0|2)
//   bit 3 '_' (5, 15)               bit 7 '=' ':' (3, 10|13)
// class(byte) = kLow[low nibble] & kHigh[high nibble]; bytes >= 0x80 have no class.
constexpr std::array<std::uint8_t, 16> kLowNibble = [] {
  std::array<std::uint8_t, 16> t{};
  for (int lo = 0; lo < 16; ++lo) {
    std::uint8_t b = 0;
    b |= lo <= 9 ? 0x01 : 0;
    b |= lo >= 1 ? 0x02 : 0;
    b |= lo <= 10 ? 0x04 : 0;
    b |= lo == 15 ? 0x08 : 0;
    b |= lo == 13 ? 0x10 : 0;
    b |= (lo == 0 || lo == 2 || lo == 7) ? 0x20 : 0;
    b |= (lo == 0 || lo == 2) ? 0x40 : 0;
    b |= (lo == 10 || lo == 13) ? 0x80 : 0;
    t[static_cast<std::size_t>(lo)] = b;
  }
  return t;
}();
constexpr std::array<std::uint8_t, 16> kHighNibble = {0, 0, 0x30, 0x81, 0x42, 0x0c, 0x02, 0x04,
                                                      0, 0, 0,    0,    0,    0,    0,    0};

}  // namespace

namespace scalar {
namespace {
[[gnu::always_inline]] inline BlockMasks classify64(const char* p) {
  BlockMasks m;
  for (unsigned i = 0; i < 64; ++i) {
    const std::uint64_t c = kClassTable[static_cast<unsigned char>(p[i])];
    m.digit |= (c & 1) << i;
    m.token |= ((c >> 1) & 1) << i;
    m.space_or_quote |= ((c >> 2) & 1) << i;
    m.separator |= ((c >> 3) & 1) << i;
    m.other |= ((c >> 4) & 1) << i;
  }
  return m;
}
#include "shared/redact/block_scan_loop.inc"
// Out of line, for classifyBlock(): the always-inline classifier cannot be inlined into a
// caller compiled for a lesser instruction set.
[[maybe_unused]] BlockMasks classifyOutOfLine(const char* p) {
  return classify64(p);
}
}  // namespace
}  // namespace scalar

#if defined(__x86_64__)
namespace sse2 {
namespace {
// SSE2 is part of x86-64, so this needs no target attribute.
[[gnu::always_inline]] inline std::uint64_t movemask(__m128i x, unsigned shift) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(x))) << shift;
}

[[gnu::always_inline]] inline BlockMasks classify64(const char* p) {
  const __m128i lower_bit = _mm_set1_epi8(0x20);
  const __m128i a = _mm_set1_epi8('a');
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i letters = _mm_set1_epi8(25);
  const __m128i digits = _mm_set1_epi8(9);
  BlockMasks m;
  for (unsigned k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    // Unsigned range checks: x - lo <= hi - lo  <=>  min(x - lo, hi - lo) == x - lo.
    const __m128i from_a = _mm_sub_epi8(_mm_or_si128(v, lower_bit), a);
    const __m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(from_a, letters), from_a);
    const __m128i from_0 = _mm_sub_epi8(v, zero);
    const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(from_0, digits), from_0);
    const __m128i token = _mm_or_si128(
        _mm_or_si128(letter, digit),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-'))));
    const __m128i space = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\''))));
    const __m128i separator =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')), _mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
    const __m128i other =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('@')), _mm_cmpeq_epi8(v, _mm_set1_epi8('B')));
    const unsigned shift = 16 * k;
    m.digit |= movemask(digit, shift);
    m.token |= movemask(token, shift);
    m.space_or_quote |= movemask(space, shift);
    m.separator |= movemask(separator, shift);
    m.other |= movemask(other, shift);
  }
  return m;
}
#include "shared/redact/block_scan_loop.inc"
// Out of line, for classifyBlock(): the always-inline classifier cannot be inlined into a
// caller compiled for a lesser instruction set.
[[maybe_unused]] BlockMasks classifyOutOfLine(const char* p) {
  return classify64(p);
}
}  // namespace
}  // namespace sse2

// Everything in this region is compiled for AVX2 + BMI; it runs only after the CPU check in
// bestSimdLevel(). Only functions defined here get the target; inline functions from headers
// included above keep the baseline target, so no AVX2 copy of them can reach other callers.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,bmi,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,bmi,bmi2")
#endif
namespace avx2 {
namespace {
[[gnu::always_inline]] inline __m256i nibbleTable(const std::array<std::uint8_t, 16>& t) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t.data())));
}

// Bit 7 of every byte of lo (bits 0-31) and hi (bits 32-63).
[[gnu::always_inline]] inline std::uint64_t movemask(__m256i lo, __m256i hi) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(lo))) |
         static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(hi))) << 32;
}

[[gnu::always_inline]] inline __m256i classBits(__m256i v, __m256i low_table, __m256i high_table,
                                                __m256i nibble) {
  const __m256i high = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
  return _mm256_and_si256(_mm256_shuffle_epi8(low_table, v), _mm256_shuffle_epi8(high_table, high));
}

[[gnu::always_inline]] inline BlockMasks classify64(const char* p) {
  const __m256i low_table = nibbleTable(kLowNibble);
  const __m256i high_table = nibbleTable(kHighNibble);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i token_bits = _mm256_set1_epi8(0x1f);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i c0 = classBits(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), low_table,
                               high_table, nibble);
  const __m256i c1 = classBits(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)),
                               low_table, high_table, nibble);
  BlockMasks m;
  // movemask reads bit 7 of every byte; adds and word shifts bring the wanted bit there.
  m.separator = movemask(c0, c1);
  m.other = movemask(_mm256_add_epi8(c0, c0), _mm256_add_epi8(c1, c1));
  m.space_or_quote = movemask(_mm256_slli_epi16(c0, 2), _mm256_slli_epi16(c1, 2));
  m.digit = movemask(_mm256_slli_epi16(c0, 7), _mm256_slli_epi16(c1, 7));
  m.token = ~movemask(_mm256_cmpeq_epi8(_mm256_and_si256(c0, token_bits), zero),
                      _mm256_cmpeq_epi8(_mm256_and_si256(c1, token_bits), zero));
  return m;
}
#include "shared/redact/block_scan_loop.inc"
// Out of line, for classifyBlock(): the always-inline classifier cannot be inlined into a
// caller compiled for a lesser instruction set.
[[maybe_unused]] BlockMasks classifyOutOfLine(const char* p) {
  return classify64(p);
}
}  // namespace
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__

std::string_view simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kSse2: return "sse2";
    case SimdLevel::kAvx2: return "avx2";
  }
  return "unknown";
}

bool simdLevelSupported(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return true;
#if defined(__x86_64__)
    case SimdLevel::kSse2: return true;
    case SimdLevel::kAvx2: {
      // Checked once: the builtin also asks the OS whether it saves the AVX registers.
      static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
                               __builtin_cpu_supports("bmi2");
      return avx2;
    }
#else
    default: return false;
#endif
  }
  return false;
}

SimdLevel bestSimdLevel() {
  if (simdLevelSupported(SimdLevel::kAvx2)) {
    return SimdLevel::kAvx2;
  }
  if (simdLevelSupported(SimdLevel::kSse2)) {
    return SimdLevel::kSse2;
  }
  return SimdLevel::kScalar;
}

BlockMasks classifyBlock(SimdLevel level, const char* p) {
  switch (level) {
#if defined(__x86_64__)
    case SimdLevel::kAvx2: return avx2::classifyOutOfLine(p);
    case SimdLevel::kSse2: return sse2::classifyOutOfLine(p);
#endif
    default: return scalar::classifyOutOfLine(p);
  }
}

ScanFunction scanFunction(SimdLevel level) {
  switch (level) {
#if defined(__x86_64__)
    case SimdLevel::kAvx2: return avx2::scanLoop;
    case SimdLevel::kSse2: return sse2::scanLoop;
#endif
    default: return scalar::scanLoop;
  }
}

void scanLine(SimdLevel level, LineScan& scan) {
  scanFunction(level)(scan);
}

}  // namespace faultline::redact
