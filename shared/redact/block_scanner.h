#pragma once

// The first stage of redaction: one vectorised pass over a line, 64 bytes at a time, that turns
// the bytes into a few bit masks and from them the rare positions where a detector must look.
// Internal to faultline_redact.
//
// Per 64-byte block it classifies every byte (digit; base64url "token" byte [A-Za-z0-9_-];
// space or quote; separator '=' ':'; '@' and 'B'), then derives with shifts and ANDs, carrying
// bits across blocks:
//   - starts of token runs of >= 13 bytes (JWTs, cloud keys, bearer tokens, dash-grouped and
//     plain card numbers all are such runs; almost no word in a log line is);
//   - "d d", a digit, a space and a digit (card numbers in space-separated groups);
//   - every '@' and 'B', and every '=' / ':' not right after a digit, the latter through an
//     inline hash of the four bytes before it (a key ending in a secret word), or when a quote or
//     space comes first ("key": / key = ) through a slower look past them.
// A line with nothing to redact never leaves this loop except for those few checks.
//
// Three implementations of the classification (AVX2, SSE2, portable scalar) share the rest of
// the loop; they must produce identical masks (unit-tested and fuzzed). An AVX-512BW variant
// (one vector per block, a masked load for the tail) ran 7% slower than AVX2 on the AMD EPYC
// this was measured on, so it is not here.

#include <cstdint>
#include <memory>
#include <string_view>

#include "shared/redact/detectors.h"

namespace faultline::redact {

enum class SimdLevel : std::uint8_t { kScalar, kSse2, kAvx2 };
inline constexpr SimdLevel kAllSimdLevels[] = {SimdLevel::kScalar, SimdLevel::kSse2,
                                               SimdLevel::kAvx2};

/// "scalar", "sse2", "avx2".
std::string_view simdLevelName(SimdLevel level);
/// The fastest level this CPU and build support (checked once, cached).
SimdLevel bestSimdLevel();
/// True when `level` can run here.
bool simdLevelSupported(SimdLevel level);

/// Character classes of one 64-byte block; bit i is byte i.
struct BlockMasks {
  std::uint64_t digit = 0;           // 0-9
  std::uint64_t token = 0;           // [A-Za-z0-9_-]
  std::uint64_t space_or_quote = 0;  // ' ' '"' '\''
  std::uint64_t separator = 0;       // '=' ':'
  std::uint64_t other = 0;           // '@' 'B'
  bool operator==(const BlockMasks&) const = default;
};

/// Classifies the 64 readable bytes at `p`. For tests; `level` must be supported.
BlockMasks classifyBlock(SimdLevel level, const char* p);

/// Runs the scan over scan.line and calls the detectors; `level` must be supported.
void scanLine(SimdLevel level, LineScan& scan);
using ScanFunction = void (*)(LineScan& scan);
/// The scanLine() of one level, to call without the dispatch.
ScanFunction scanFunction(SimdLevel level);

/// Redactor::create() with the given scan level instead of the best one, for tests and
/// benchmarks. Fails when `level` cannot run here.
Result<std::unique_ptr<Redactor>> createRedactorWithSimd(const RedactOptions& options,
                                                         SimdLevel level);

}  // namespace faultline::redact
