#pragma once

// Parsing a line with a known template text: the miner's fast path. Literal bytes must be
// equal, each "<*>" takes the bytes up to where the rest of the template matches again
// (leftmost), so parameters come out as views into the line. Internal to shared/logtemplate.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shared/logtemplate/tokenizer.h"

namespace faultline::logtemplate {

// A literal run of a template text between holes, for parsing lines with it.
struct Piece {
  std::uint32_t offset = 0;  // into the text
  std::uint32_t length = 0;
  bool after_hole = false;  // a hole comes right before it
};

/// `text` cut at its holes (the last piece is empty when the text ends with a hole).
void cutPieces(std::string_view text, std::vector<Piece>& pieces);

// The whitespace a template text keeps: the leading gap, the gaps between words that are not
// inside a parameter, the trailing gap. Lines whose gaps are all single spaces (and neither
// leading nor trailing) use the cluster's canonical text; others a variant keyed by this hash.
struct Gaps {
  std::uint64_t hash = 0x2545F4914F6CDD1DULL;
  bool single = true;

  void step(const char* p, std::size_t len, bool edge) {
    if (len == 0) {
      hash = hash * 0x9E3779B97F4A7C15ULL + 2;
    } else if (len == 1 && *p == ' ' && !edge) {
      hash = hash * 0x9E3779B97F4A7C15ULL + 1;
    } else {
      single = false;
      hash = hashBytes(p, len, hash);
    }
  }
};

/// Parses `line` with `text` (the canonical text or a variant) when `line` has exactly its
/// whitespace; false otherwise (then try parseLine()). Appends the parameters.
bool parseExact(std::string_view text, const std::vector<Piece>& pieces, std::string_view line,
                std::vector<std::string_view>& params);

/// Parses `line` with `text` where each ' ' of the text stands for one whitespace run of the
/// line. Appends the parameters and steps `gaps` over the line's gaps (recording them in
/// `gaps_out` when given); false when the line does not fit (`params` then holds garbage).
bool parseLine(std::string_view text, std::string_view line, std::vector<std::string_view>& params,
               Gaps& gaps, std::vector<ByteSpan>* gaps_out);

}  // namespace faultline::logtemplate
