#include "shared/logtemplate/template_parse.h"

#include "shared/logtemplate/byte_ops.h"
#include "shared/logtemplate/miner.h"

namespace faultline::logtemplate {
namespace {

bool isWs(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

void cutPieces(std::string_view t, std::vector<Piece>& pieces) {
  pieces.clear();
  std::size_t cur = 0;
  bool after_hole = false;
  for (;;) {
    std::size_t hole = t.find(kHole, cur);
    std::size_t end = hole == std::string_view::npos ? t.size() : hole;
    pieces.push_back(
        Piece{static_cast<std::uint32_t>(cur), static_cast<std::uint32_t>(end - cur), after_hole});
    if (hole == std::string_view::npos) {
      return;
    }
    cur = hole + kHole.size();
    after_hole = true;
  }
}

// Whether the literal piece that starts at `t` (up to the next hole) matches `s` at `at`.
static bool pieceAt(const char* t, std::size_t tn, const char* s, std::size_t n, std::size_t at) {
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  if (t[0] == ' ' ? !is_ws(s[at]) : s[at] != t[0]) {
    return false;
  }
  std::size_t j = at;
  for (std::size_t i = 0; i < tn; ++i) {
    const char c = t[i];
    if (c == '<' && i + 2 < tn && t[i + 1] == '*' && t[i + 2] == '>') {
      return true;
    }
    if (c == ' ') {
      if (j >= n || !is_ws(s[j])) {
        return false;
      }
      while (j < n && is_ws(s[j])) {
        ++j;
      }
    } else if (j >= n || s[j++] != c) {
      return false;
    }
  }
  return true;
}

// parseLine() for the common case, fast: `line` has exactly the whitespace of `text` (the
// canonical text or a variant). False when it does not fit that way: try parseLine().
bool parseExact(std::string_view text, const std::vector<Piece>& pieces, std::string_view line,
                std::vector<std::string_view>& params) {
  const char* t = text.data();
  const char* s = line.data();
  const std::size_t n = line.size();
  std::size_t j = 0;
  for (const Piece& piece : pieces) {
    const char* p = t + piece.offset;
    const std::size_t len = piece.length;
    std::size_t e = j;
    if (!piece.after_hole) {
      if (j + len > n || !sameBytes(p, s + j, len)) {
        return false;
      }
    } else {
      if (len == 0) {
        e = n;  // the last hole takes the rest of the line
      } else {
        // The hole ends where the piece matches next (leftmost).
        if (len > n) {
          return false;
        }
        const std::size_t limit = n - len;
        const char first = p[0];
        for (;; ++e) {
          e = findByte(s, e, limit, first);
          if (e > limit) {
            return false;
          }
          if (sameBytes(p, s + e, len)) {
            break;
          }
        }
      }
      // Whitespace at a parameter's edge belongs to a gap: leave such lines to parseLine().
      if (e > j && (isWs(s[j]) || isWs(s[e - 1]))) {
        return false;
      }
      params.emplace_back(s + j, e - j);
    }
    j = e + len;
  }
  return j == n;
}

// Parses `line` as an instance of the template `text`: literal bytes equal, each ' ' of the
// template standing for one whitespace run, each "<*>" for the bytes up to the leftmost place
// where the rest of the template matches again. Appends the parameters; false when the line
// does not fit (then `params` holds garbage). Records the gaps when `gaps_out` is given.
bool parseLine(std::string_view text, std::string_view line, std::vector<std::string_view>& params,
               Gaps& gaps, std::vector<ByteSpan>* gaps_out) {
  const char* t = text.data();
  const std::size_t tn = text.size();
  const char* s = line.data();
  const std::size_t n = line.size();
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  auto gap = [&](std::size_t b, std::size_t e, bool edge) {
    gaps.step(s + b, e - b, edge);
    if (gaps_out != nullptr) {
      gaps_out->push_back({static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)});
    }
  };
  std::size_t j = 0;
  while (j < n && is_ws(s[j])) {
    ++j;
  }
  gap(0, j, true);
  std::size_t i = 0;
  while (i < tn) {
    if (t[i] == '<' && i + 2 < tn && t[i + 1] == '*' && t[i + 2] == '>') {
      i += 3;
      if (i == tn) {  // the last hole takes the rest but the trailing whitespace
        std::size_t e = n;
        while (e > j && is_ws(s[e - 1])) {
          --e;
        }
        params.emplace_back(s + j, e - j);
        gap(e, n, true);
        return true;
      }
      std::size_t e = j;
      while (!pieceAt(t + i, tn - i, s, n, e)) {
        if (++e >= n) {
          return false;
        }
      }
      params.emplace_back(s + j, e - j);
      j = e;
      continue;
    }
    const char c = t[i++];
    if (c == ' ') {
      std::size_t b = j;
      while (j < n && is_ws(s[j])) {
        ++j;
      }
      if (j == b) {
        return false;
      }
      gap(b, j, false);
    } else if (j >= n || s[j++] != c) {
      return false;
    }
  }
  std::size_t b = j;
  while (j < n && is_ws(s[j])) {
    ++j;
  }
  if (j != n) {
    return false;
  }
  gap(b, n, true);
  return true;
}

}  // namespace faultline::logtemplate
