#include "shared/logtemplate/word_pattern.h"

#include <algorithm>

#include "shared/logtemplate/miner.h"

namespace faultline::logtemplate {
namespace {

// A generalized word keeps what all its values share up to a delimiter: "user=<*>",
// "Surface(name=<*>)", "<*>".
inline bool isBoundary(char c) {
  switch (c) {
    case ',':
    case ';':
    case ':':
    case '=':
    case '|':
    case '"':
    case '\'':
    case '`':
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case '<':
    case '>':
    case '/': return true;
    default: return false;
  }
}

}  // namespace

Literals patternLiterals(std::string_view text) {
  std::size_t first = text.find(kHole);
  if (first == std::string_view::npos) {
    return {text, text, false, false};
  }
  std::size_t last = text.rfind(kHole);
  return {text.substr(0, first), text.substr(last + kHole.size()), true, text == kHole};
}

// Whether `text` matches `pattern` with every "<*>" standing for any bytes (leftmost match of
// each literal piece); appends what each hole covered to `params` when given.
static bool hasAlnum(std::string_view s) {
  for (char c : s) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      return true;
    }
  }
  return false;
}

bool globMatch(std::string_view pattern, std::string_view text,
               std::vector<std::string_view>* params) {
  std::size_t hole = pattern.find(kHole);
  if (hole == std::string_view::npos) {
    return pattern == text;
  }
  std::size_t last = pattern.rfind(kHole);
  std::string_view head = pattern.substr(0, hole);
  std::string_view tail = pattern.substr(last + kHole.size());
  if (text.size() < head.size() + tail.size() || text.substr(0, head.size()) != head ||
      text.substr(text.size() - tail.size()) != tail) {
    return false;
  }
  const std::size_t end = text.size() - tail.size();
  std::size_t at = head.size();
  std::size_t piece_begin = hole + kHole.size();
  std::size_t first_param = params != nullptr ? params->size() : 0;
  while (piece_begin <= last) {
    std::size_t piece_end = pattern.find(kHole, piece_begin);
    std::string_view piece = pattern.substr(piece_begin, piece_end - piece_begin);
    std::size_t found = text.substr(0, end).find(piece, at);
    if (found == std::string_view::npos) {
      if (params != nullptr) {
        params->resize(first_param);
      }
      return false;
    }
    if (params != nullptr) {
      params->push_back(text.substr(at, found - at));
    }
    at = found + piece.size();
    piece_begin = piece_end + kHole.size();
  }
  if (params != nullptr) {
    params->push_back(text.substr(at, end - at));
  }
  return true;
}

// globMatch() where every hole covers a letter or digit: "<*>:<*>" fits "host-a:80" (another
// shape of the same values) but "word...<*>" does not fit "word......<*>".
bool globFits(std::string_view pattern, std::string_view text) {
  if (pattern.find(kHole) == std::string_view::npos) {
    return false;
  }
  std::vector<std::string_view> parts;
  if (!globMatch(pattern, text, &parts)) {
    return false;
  }
  for (std::string_view part : parts) {
    // A value starts like one: not with the punctuation that ends the piece before it.
    char c = part.empty() ? '\0' : part.front();
    bool sign = (c == '-' || c == '+') && part.size() > 1 && part[1] >= '0' && part[1] <= '9';
    if (!hasAlnum(part) || (!sign && (c == '.' || c == ',' || c == ':' || c == ';' || c == '=' ||
                                      c == '!' || c == '?' || c == ')' || c == ']' || c == '}' ||
                                      c == '>' || c == '-' || c == '+' || c == '*'))) {
      return false;
    }
  }
  return true;
}

static std::size_t commonPrefix(const Literals& a, const Literals& b) {
  std::size_t p = 0;
  while (p < a.prefix.size() && p < b.prefix.size() && a.prefix[p] == b.prefix[p]) {
    ++p;
  }
  while (p > 0 && !isBoundary(a.prefix[p - 1])) {
    --p;
  }
  return p;
}

static std::size_t commonSuffix(const Literals& a, const Literals& b) {
  std::size_t s = 0;
  while (s < a.suffix.size() && s < b.suffix.size() &&
         a.suffix[a.suffix.size() - 1 - s] == b.suffix[b.suffix.size() - 1 - s]) {
    ++s;
  }
  while (s > 0 && !isBoundary(a.suffix[a.suffix.size() - s])) {
    --s;
  }
  return s;
}

// A unit of measure after a number: "KB", "ms,", "s)".
bool isUnit(std::string_view word) {
  while (!word.empty() &&
         (word.back() == ',' || word.back() == ';' || word.back() == '.' || word.back() == ')')) {
    word.remove_suffix(1);
  }
  static constexpr std::string_view kUnits[] = {
      "B",  "KB", "MB", "GB", "TB", "PB",  "KiB",  "MiB", "GiB",  "TiB", "kB", "kb",  "mb",
      "gb", "ns", "us", "ms", "s",  "sec", "secs", "min", "mins", "h",   "hr", "hrs", "bytes"};
  for (std::string_view unit : kUnits) {
    if (word == unit) {
      return true;
    }
  }
  return false;
}

// `pattern` is the cluster's, `word` the line's.
Change classifyChange(const Literals& pattern, const Literals& word) {
  if (pattern.whole) {
    return Change::HoleValue;
  }
  if (word.whole) {
    // A literal word so far, a masked value now: "from localhost" vs "from 10.0.0.1".
    return pattern.has_hole ? Change::Structural : Change::LiteralWord;
  }
  bool shared_key = commonPrefix(pattern, word) > 0;
  if (pattern.has_hole) {
    return shared_key ? Change::HoleValue : Change::Structural;
  }
  if (word.has_hole) {
    // A literal value seen so far against a masked one: "tty=NODEVssh" vs "tty=:<*>".
    return shared_key ? Change::LiteralValue : Change::Structural;
  }
  return shared_key ? Change::LiteralValue : Change::LiteralWord;
}

std::string generalizeLiterals(const Literals& a, const Literals& b) {
  std::size_t p = commonPrefix(a, b);
  std::size_t s = commonSuffix(a, b);
  // Without a hole the prefix and the suffix are the same bytes: they must not overlap.
  std::size_t room = std::min(a.has_hole ? static_cast<std::size_t>(-1) : a.prefix.size(),
                              b.has_hole ? static_cast<std::size_t>(-1) : b.prefix.size());
  if (p + s > room) {
    s = 0;
    if (p > room) {
      p = 0;
    }
  }
  std::string out;
  out.reserve(p + kHole.size() + s);
  out.append(a.prefix.substr(0, p));
  out.append(kHole);
  out.append(a.suffix.substr(a.suffix.size() - s));
  return out;
}

}  // namespace faultline::logtemplate
