#pragma once

// The body of fuzz_redact, shared with the unit test that replays tests/fuzz/corpus/redact/ and
// tests/fuzz/regressions/redact/. Header-only so the unit tests need no fuzz build.
//
// Input layout: byte 0 picks the configuration (bit 0: add custom patterns), the rest is one
// line. Invariants, for every SIMD level this CPU runs:
//   - all levels return the same result, output and counts;
//   - nothing found: `out` untouched; something found: at least one count, and the output is at
//     most 64 bytes per finding longer than the input;
//   - redacting the output again finds nothing (idempotence).

#include <array>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>

#include "shared/redact/block_scanner.h"
#include "shared/redact/redactor.h"

namespace faultline::redact::fuzz {

inline const Redactor* redactorFor(bool custom, SimdLevel level) {
  static std::array<std::array<std::unique_ptr<Redactor>, std::size(kAllSimdLevels)>, 2> cache;
  auto& slot = cache[custom ? 1 : 0][static_cast<std::size_t>(level)];
  if (!slot) {
    RedactOptions o;
    if (custom) {
      o.custom = {{"order", "ord-\\d{4,}"},
                  {"session", "sess=([a-f0-9]{8,})"},
                  {"pin", "\\bpin\\s*(\\d{4})\\b"},
                  {"digits", "\\b\\d{6}\\b"}};
    }
    auto made = createRedactorWithSimd(o, level);
    if (!made.isOk()) {
      return nullptr;
    }
    slot = std::move(made).value();
  }
  return slot.get();
}

/// Empty when every invariant holds, else what broke.
inline std::string checkInvariants(std::string_view input) {
  if (input.empty()) {
    return {};
  }
  const bool custom = (static_cast<unsigned char>(input[0]) & 1) != 0;
  const std::string_view line = input.substr(1);
  bool have_reference = false;
  bool ref_found = false;
  std::string ref_out;
  RedactStats ref_stats;
  for (SimdLevel level : kAllSimdLevels) {
    if (!simdLevelSupported(level)) {
      continue;
    }
    const Redactor* r = redactorFor(custom, level);
    if (r == nullptr) {
      return "cannot create redactor";
    }
    std::string out = "\x01untouched";
    RedactStats stats;
    const bool found = r->redact(line, out, stats);
    const std::uint64_t findings =
        std::accumulate(stats.by_kind.begin(), stats.by_kind.end(), std::uint64_t{0});
    if (!found) {
      if (out != "\x01untouched" || findings != 0 || stats.lines_redacted != 0) {
        return "nothing found but output or counts changed";
      }
    } else {
      if (findings == 0 || stats.lines_redacted != 1) {
        return "redacted without counting a finding";
      }
      if (out.size() > line.size() + 64 * findings) {
        return "output longer than input + 64 per finding";
      }
      std::string again;
      RedactStats again_stats;
      if (r->redact(out, again, again_stats)) {
        return "not idempotent: second pass changed \"" + out + "\" into \"" + again + "\"";
      }
    }
    if (!have_reference) {
      have_reference = true;
      ref_found = found;
      ref_out = out;
      ref_stats = stats;
    } else if (found != ref_found || out != ref_out || stats.by_kind != ref_stats.by_kind ||
               stats.custom != ref_stats.custom) {
      return std::string("SIMD level ") + std::string(simdLevelName(level)) +
             " disagrees with scalar: \"" + out + "\" vs \"" + ref_out + "\"";
    }
  }
  return {};
}

}  // namespace faultline::redact::fuzz
