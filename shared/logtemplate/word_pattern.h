#pragma once

// Word patterns of a cluster template and how they generalize: a pattern is a word with
// "<*>" holes ("user=<*>", "<*>:<*>"). Internal to shared/logtemplate (the miner).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace faultline::logtemplate {

/// A word or pattern reduced to what generalization needs.
struct Literals {
  std::string_view prefix;  // bytes before the first hole (everything when no hole)
  std::string_view suffix;  // bytes after the last hole (everything when no hole)
  bool has_hole;
  bool whole;  // the word is a single hole
};

Literals patternLiterals(std::string_view text);

/// Whether `text` matches `pattern` with every "<*>" standing for any bytes (leftmost match of
/// each literal piece); appends what each hole covered to `params` when given.
bool globMatch(std::string_view pattern, std::string_view text,
               std::vector<std::string_view>* params);

/// globMatch() where every hole covers a value: a letter or digit, not starting with the
/// punctuation that ends the piece before it. "<*>:<*>" fits "host-a:80" (another shape of the
/// same values) but "word...<*>" does not fit "word......<*>".
bool globFits(std::string_view pattern, std::string_view text);

/// A unit of measure after a number: "KB", "ms,", "s)".
bool isUnit(std::string_view word);

/// How a line's word differs from the cluster's pattern at the same position.
enum class Change : std::uint8_t {
  HoleValue,     // a variable slot takes another value: "<*>" vs "x", "rhost=<*>" vs "rhost=x"
  LiteralValue,  // two literal values of one key: "user=root" vs "user=guest"
  LiteralWord,   // two different literal words: "Started" vs "Stopped"
  Structural,    // different shapes: "setLightsOn(<*>)" vs "index:<*>"
};

/// `pattern` is the cluster's, `word` the line's.
Change classifyChange(const Literals& pattern, const Literals& word);

/// The pattern both match: what they share up to a delimiter around one hole ("user=<*>",
/// "Surface(name=<*>)", "<*>").
std::string generalizeLiterals(const Literals& a, const Literals& b);

}  // namespace faultline::logtemplate
