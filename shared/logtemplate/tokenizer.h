#pragma once

// The template miner's tokenizer: splits a line into whitespace-separated words and marks the
// variable byte ranges ("holes") inside each word with generic masks, in one pass over the bytes.
//
// Masks (no per-data-set rules): numbers (signed, decimal, with a unit: 12ms, 5.2, -17, 0x1f),
// hex ids (>= 6 hex digits), identifiers with a numeric part (blk_123, attempt_1_0_m_2,
// host129 when >= 4 digits), versions (v1.2), IPv4 (one hole, its :port another), IPv6 and
// MAC addresses, UUIDs, absolute paths (/var/x, \x), URLs with a digit after "scheme://",
// e-mail addresses, dates and times (2017-05-16, 07:07:00, and month/weekday names next to a
// number), true/false/null. The rest of a word stays literal, so key=value keeps its key and
// "core.2275" becomes "core.<*>". Host names with a numeric label (cp-1.vm.example.com,
// msra-sa-41) are one hole.
// Thread: pure functions; TokenizedLine is reused by its owner between lines.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace faultline::logtemplate {

/// A byte range [begin, end) of the tokenized line.
struct ByteSpan {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

/// One whitespace-separated word and its holes (TokenizedLine::holes[first_hole, +hole_count)).
struct WordToken {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  std::uint32_t first_hole = 0;
  std::uint32_t hole_count = 0;
  std::uint64_t shape_hash = 0;  // the word's bytes, each hole one marker (computeWordHashes)
};

struct TokenizedLine {
  std::vector<WordToken> words;
  std::vector<ByteSpan> holes;
  std::uint64_t shape_hash = 0;  // the whole line with every hole replaced by one marker
  /// Every gap between words is exactly one ' ' and there is no leading or trailing whitespace.
  bool single_spaced = true;
  bool word_hashes = false;  // WordToken::shape_hash is filled (computeWordHashes)

  void clear() {
    words.clear();
    holes.clear();
    shape_hash = 0;
    single_spaced = true;
    word_hashes = false;
  }
};

enum class TokenizeStatus : std::uint8_t {
  Ok,
  TooManyWords,     // more than max_words words (out is incomplete)
  Unrepresentable,  // holds '\n' or a literal "<*>": no template can render it
};

/// Tokenizes `line` into `out` (cleared first). `line` must be shorter than 4 GiB.
TokenizeStatus tokenizeLine(std::string_view line, std::size_t max_words, TokenizedLine& out);

/// Fills WordToken::shape_hash of every word of `t` (tokenized from `line`); the hot path
/// does not need them.
void computeWordHashes(std::string_view line, TokenizedLine& t);

/// `text` with every hole replaced by "<*>" and whitespace kept: what a template of a single
/// line looks like. For tests and tools.
std::string maskedText(std::string_view text);

/// The hash of a word's shape: its bytes outside `holes[w.first_hole, +w.hole_count)`, each
/// hole counted as one marker (WordToken::shape_hash).
std::uint64_t wordShapeHash(const char* line, const WordToken& w, const ByteSpan* holes);

/// Fast non-cryptographic 64-bit hash (for in-memory tables only).
std::uint64_t hashBytes(const char* data, std::size_t size, std::uint64_t seed);

}  // namespace faultline::logtemplate
