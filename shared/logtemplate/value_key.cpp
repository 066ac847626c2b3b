#include "shared/logtemplate/value_key.h"

#include <array>
#include <cstring>

#include "shared/logtemplate/miner.h"
#include "shared/logtemplate/tokenizer.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FL_HAVE_SSSE3_KEY 1
#else
#define FL_HAVE_SSSE3_KEY 0
#endif

namespace faultline::logtemplate {
namespace {

constexpr std::array<bool, 256> makeHexDigits() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<std::size_t>(c)] =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  return t;
}
constexpr std::array<bool, 256> kHexDigit = makeHexDigits();

constexpr std::array<std::uint8_t, 256> makeKeep() {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t c = 0; c < 256; ++c) {
    t[c] = kHexDigit[c] ? 0 : 1;
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kKeep = makeKeep();  // 1 for bytes the key keeps

// The bytes of in[0, n) that are not hex digits, to out (which has n + 16 bytes); returns
// how many. The value-free key hashes them.
std::size_t compactScalar(const char* in, std::size_t n, char* out) {
  std::size_t k = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const char c0 = in[i], c1 = in[i + 1], c2 = in[i + 2], c3 = in[i + 3];
    out[k] = c0;  // written always, kept when not a hex digit: no branch to mispredict
    k += kKeep[static_cast<unsigned char>(c0)];
    out[k] = c1;
    k += kKeep[static_cast<unsigned char>(c1)];
    out[k] = c2;
    k += kKeep[static_cast<unsigned char>(c2)];
    out[k] = c3;
    k += kKeep[static_cast<unsigned char>(c3)];
  }
  for (; i < n; ++i) {
    out[k] = in[i];
    k += kKeep[static_cast<unsigned char>(in[i])];
  }
  return k;
}

#if FL_HAVE_SSSE3_KEY
// For each 8-bit mask, the byte indices of its set bits first: the pshufb control that packs
// the kept bytes of 8.
struct PackTable {
  std::uint64_t control[256];
  constexpr PackTable() : control() {
    for (unsigned m = 0; m < 256; ++m) {
      std::uint64_t c = 0;
      unsigned out = 0;
      for (unsigned bit = 0; bit < 8; ++bit) {
        if (m & (1u << bit)) {
          c |= static_cast<std::uint64_t>(bit) << (8 * out++);
        }
      }
      for (; out < 8; ++out) {
        c |= std::uint64_t{0x80} << (8 * out);  // zero the rest
      }
      control[m] = c;
    }
  }
};
constexpr PackTable kPack;

// compactScalar() 16 bytes at a time, and the check for '\n' and "<*>" on the way (false when
// the line holds one). x86 with SSSE3 and POPCNT only (checked at run time).
__attribute__((target("ssse3,popcnt"))) bool compactSsse3(const char* in, std::size_t n, char* out,
                                                          std::size_t& count) {
  const __m128i below_0 = _mm_set1_epi8('0' - 1);
  const __m128i above_9 = _mm_set1_epi8('9' + 1);
  const __m128i below_a = _mm_set1_epi8('a' - 1);
  const __m128i above_f = _mm_set1_epi8('f' + 1);
  const __m128i lower = _mm_set1_epi8(0x20);
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i open = _mm_set1_epi8('<');
  const __m128i high_half = _mm_set1_epi8(8);
  std::size_t k = 0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i l = _mm_or_si128(v, lower);  // bytes >= 0x80 stay negative: not hex
    const __m128i hex =
        _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(v, below_0), _mm_cmpgt_epi8(above_9, v)),
                     _mm_and_si128(_mm_cmpgt_epi8(l, below_a), _mm_cmpgt_epi8(above_f, l)));
    unsigned special = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, newline), _mm_cmpeq_epi8(v, open))));
    while (special != 0) {
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(special));
      special &= special - 1;
      if (in[at] == '\n' || (at + 2 < n && in[at + 1] == '*' && in[at + 2] == '>')) {
        return false;
      }
    }
    const unsigned keep = ~static_cast<unsigned>(_mm_movemask_epi8(hex)) & 0xFFFFu;
    const unsigned lo = keep & 0xFFu;
    const unsigned hi = keep >> 8;
    const __m128i packed_lo =
        _mm_shuffle_epi8(v, _mm_cvtsi64_si128(static_cast<long long>(kPack.control[lo])));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + k), packed_lo);
    k += static_cast<std::size_t>(__builtin_popcount(lo));
    const __m128i control_hi =
        _mm_add_epi8(_mm_cvtsi64_si128(static_cast<long long>(kPack.control[hi])), high_half);
    const __m128i packed_hi = _mm_shuffle_epi8(v, control_hi);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + k), packed_hi);
    k += static_cast<std::size_t>(__builtin_popcount(hi));
  }
  for (; i < n; ++i) {
    const char c = in[i];
    if (c == '\n' || (c == '<' && i + 2 < n && in[i + 1] == '*' && in[i + 2] == '>')) {
      return false;
    }
    out[k] = c;
    k += kKeep[static_cast<unsigned char>(c)];
  }
  count = k;
  return true;
}
#endif

}  // namespace

bool valueFreeKey(std::string_view line, std::string& scratch, std::uint64_t& key, KeyCode code) {
  constexpr std::uint64_t kSeed = 0x8F1BBCDCCA62C1D6ULL;
  const std::size_t n = line.size();
  if (scratch.size() < n + 16) {
    scratch.resize(n + 16);
  }
  std::size_t k = 0;
#if FL_HAVE_SSSE3_KEY
  static const bool ssse3 = __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("popcnt");
  if (ssse3 && code == KeyCode::Best) {
    if (!compactSsse3(line.data(), n, scratch.data(), k)) {
      return false;
    }
    key = hashBytes(scratch.data(), k, kSeed);
    return true;
  }
#else
  (void)code;
#endif
  if (std::memchr(line.data(), '\n', n) != nullptr || line.find(kHole) != std::string_view::npos) {
    return false;
  }
  k = compactScalar(line.data(), n, scratch.data());
  key = hashBytes(scratch.data(), k, kSeed);
  return true;
}

}  // namespace faultline::logtemplate
