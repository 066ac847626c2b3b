#include "shared/logtemplate/tokenizer.h"

#include <array>
#include <cstring>

namespace faultline::logtemplate {
namespace {

// Character classes, one table lookup per byte.
enum : std::uint8_t {
  kWs = 1,
  kDigit = 2,
  kHex = 4,     // 0-9 a-f A-F
  kLetter = 8,  // A-Z a-z and every byte >= 0x80 (UTF-8 text counts as letters)
  kUnderscore = 16,
  kOuter = 32,  // splits a word into chunks; key=value, (x), [x], "x", a:b, a/b, a,b
  kUpper = 64,
};
constexpr std::uint8_t kWordChar = kDigit | kLetter | kUnderscore;

constexpr std::array<std::uint8_t, 256> makeClasses() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
      v |= kWs;
    }
    if (c >= '0' && c <= '9') {
      v |= kDigit | kHex;
    }
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      v |= kHex;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) {
      v |= kLetter;
    }
    if (c >= 'A' && c <= 'Z') {
      v |= kUpper;
    }
    if (c == '_') {
      v |= kUnderscore;
    }
    for (char o : std::string_view(",;:=|\"'`()[]{}<>/")) {
      if (c == static_cast<unsigned char>(o)) {
        v |= kOuter;
      }
    }
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kClass = makeClasses();

inline std::uint8_t cls(char c) { return kClass[static_cast<unsigned char>(c)]; }
inline bool isDigit(char c) { return (cls(c) & kDigit) != 0; }

constexpr std::uint64_t kMul = 0x9FB21C651E98DF25ULL;
constexpr std::uint64_t kHoleMark = 0x5BD1E9955BD1E995ULL;
constexpr std::uint64_t kWordSeed = 0x243F6A8885A308D3ULL;

inline std::uint64_t mixWord(std::uint64_t h, std::uint64_t v) {
  h ^= v;
  h *= kMul;
  h ^= h >> 29;
  return h;
}

bool equalsIgnoreCase(const char* s, std::size_t n, std::string_view lower) {
  if (n != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != lower[i]) {
      return false;
    }
  }
  return true;
}

// Values that are variables whatever their position (Loghub's labelling guideline agrees).
bool isValueWord(const char* s, std::size_t n) {
  return equalsIgnoreCase(s, n, "true") || equalsIgnoreCase(s, n, "false") ||
         equalsIgnoreCase(s, n, "null");
}

constexpr std::string_view kDateNames[] = {
    "Mon",      "Tue",      "Wed",     "Thu",     "Fri",      "Sat",    "Sun",
    "Monday",   "Tuesday",  "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    "Jan",      "Feb",      "Mar",     "Apr",     "May",      "Jun",    "Jul",
    "Aug",      "Sep",      "Sept",    "Oct",     "Nov",      "Dec",    "January",
    "February", "March",    "April",   "June",    "July",     "August", "September",
    "October",  "November", "December"};

// "Jun", "JUN", "Friday," (a trailing ',' or '.' is not part of the name).
std::size_t dateNameLength(const char* s, std::size_t n) {
  while (n > 0 && (s[n - 1] == ',' || s[n - 1] == '.')) {
    --n;
  }
  if (n < 3 || n > 9) {
    return 0;
  }
  for (std::string_view name : kDateNames) {
    if (name.size() != n || s[0] != name[0]) {
      continue;
    }
    bool same = true;
    for (std::size_t i = 1; i < n && same; ++i) {
      char c = s[i];
      same = c == name[i] || c == static_cast<char>(name[i] - 'a' + 'A');
    }
    if (same) {
      return n;
    }
  }
  return 0;
}

// One chunk's alphanumeric runs ("atoms") and whether each is variable.
struct Atom {
  std::uint32_t begin;
  std::uint32_t end;
  bool variable;
  bool has_letter;
  char delimiter_before;  // the last delimiter byte before the atom inside the chunk, or 0
};
constexpr int kMaxAtoms = 48;

class WordMasker {
 public:
  WordMasker(const char* s, std::vector<ByteSpan>& holes) : s_(s), holes_(holes) {}

  void mask(std::uint32_t wb, std::uint32_t we) {
    word_first_hole_ = holes_.size();
    std::uint32_t pos = wb;
    bool after_chunk = false;
    while (pos < we) {
      char c = s_[pos];
      if ((c == '/' || c == '\\') && !after_chunk) {
        pos = maskPath(pos, we);
        after_chunk = true;
        continue;
      }
      if (c == '.' && !after_chunk && isRelativePath(pos, we)) {
        pos = maskPath(pos, we);  // ./run.sh, ../lib/x.so
        after_chunk = true;
        continue;
      }
      if (cls(c) & kOuter) {
        if (c == ':' && !after_chunk && pos + 1 < we && s_[pos + 1] == ':') {
          std::uint32_t v6 = ipv6End(pos, we);
          if (v6 != 0) {
            addHole(pos, v6);
            pos = v6;
            after_chunk = true;
            continue;
          }
        }
        ++pos;
        after_chunk = false;
        continue;
      }
      std::uint32_t ce = pos;
      while (ce < we && !(cls(s_[ce]) & kOuter)) {
        ++ce;
      }
      if (ce < we && s_[ce] == ':') {
        if (ce + 2 < we && s_[ce + 1] == '/' && s_[ce + 2] == '/' && isScheme(pos, ce)) {
          pos = maskUrl(ce + 3, we);
          after_chunk = true;
          continue;
        }
        if (cls(s_[pos]) & kHex) {
          std::uint32_t v6 = ipv6End(pos, we);
          if (v6 != 0) {
            addHole(pos, v6);
            pos = v6;
            after_chunk = true;
            continue;
          }
        }
      }
      maskChunk(pos, ce);
      pos = ce;
      after_chunk = true;
    }
  }

 private:
  void addHole(std::uint32_t b, std::uint32_t e) {
    if (holes_.size() > word_first_hole_ && holes_.back().end == b) {
      holes_.back().end = e;  // never two holes side by side: "<*><*>" is one variable
      return;
    }
    holes_.push_back({b, e});
  }

  bool isRelativePath(std::uint32_t b, std::uint32_t we) const {
    std::uint32_t j = b + 1;
    if (j < we && s_[j] == '.') {
      ++j;
    }
    return j + 1 < we && s_[j] == '/' && s_[j + 1] != '/' && !(cls(s_[j + 1]) & kOuter);
  }

  // An absolute path runs to the next outer delimiter other than '/': "/var/x", "\\srv\\x".
  std::uint32_t maskPath(std::uint32_t b, std::uint32_t we) {
    std::uint32_t j = b + 1;
    bool has_name = false;
    while (j < we) {
      char d = s_[j];
      if ((cls(d) & kOuter) && d != '/') {
        break;
      }
      has_name |= d != '/' && d != '\\';
      ++j;
    }
    if (has_name) {
      addHole(b, j);
    }
    return j;
  }

  bool isScheme(std::uint32_t b, std::uint32_t e) const {
    if (e - b > 32 || !(cls(s_[b]) & kLetter)) {
      return false;
    }
    for (std::uint32_t i = b; i < e; ++i) {
      char c = s_[i];
      if (!(cls(c) & (kLetter | kDigit)) && c != '+' && c != '.' && c != '-') {
        return false;
      }
    }
    return true;
  }

  // "scheme://rest": the scheme stays, the rest is one hole when it holds a digit (a host,
  // port or id); "http://wiki.example.org/Page" stays literal.
  std::uint32_t maskUrl(std::uint32_t b, std::uint32_t we) {
    std::uint32_t j = b;
    bool digit = false;
    while (j < we) {
      char c = s_[j];
      if (c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == '(' || c == ')' ||
          c == '[' || c == ']' || c == '{' || c == '}' || c == ',' || c == ';' || c == '|') {
        break;
      }
      digit |= isDigit(c);
      ++j;
    }
    while (j > b && (s_[j - 1] == '.' || s_[j - 1] == ':' || s_[j - 1] == '!' || s_[j - 1] == '?')) {
      --j;
    }
    if (digit && j > b) {
      addHole(b, j);
    }
    return j;
  }

  // IPv6 ("fe80::1", "2001:db8:0:0:1:0:0:1") and MAC-like ("00:1a:2b:3c:4d:5e") addresses. A
  // time (07:07:00) is not one: it has neither "::", nor 5 colons, nor a hex letter.
  std::uint32_t ipv6End(std::uint32_t b, std::uint32_t we) const {
    std::uint32_t j = b;
    int colons = 0;
    int group = 0;
    bool double_colon = false;
    bool hex_letter = false;
    bool digit = false;
    while (j < we) {
      char c = s_[j];
      if (c == ':') {
        if (j > b && s_[j - 1] == ':') {
          if (double_colon) {
            return 0;
          }
          double_colon = true;
        }
        ++colons;
        group = 0;
      } else if (cls(c) & kHex) {
        if (++group > 4) {
          return 0;
        }
        if (isDigit(c)) {
          digit = true;
        } else {
          hex_letter = true;
        }
      } else {
        break;
      }
      ++j;
    }
    if (j < we && (cls(s_[j]) & kWordChar)) {
      return 0;
    }
    if (colons < 2 || !digit || !(double_colon || colons >= 5 || (colons >= 3 && hex_letter))) {
      return 0;
    }
    if (s_[j - 1] == ':' && !(j >= b + 2 && s_[j - 2] == ':')) {
      --j;  // "...:5e:" ends a clause
    }
    return j;
  }

  bool isEmail(std::uint32_t b, std::uint32_t e, std::uint32_t at) const {
    if (at == b || at + 1 >= e) {
      return false;
    }
    for (std::uint32_t i = b; i < at; ++i) {
      char c = s_[i];
      if (!(cls(c) & kWordChar) && c != '.' && c != '-' && c != '+') {
        return false;
      }
    }
    bool dot = false;
    for (std::uint32_t i = at + 1; i < e; ++i) {
      char c = s_[i];
      if (c == '.') {
        dot = true;
      } else if (!(cls(c) & kWordChar) && c != '-') {
        return false;
      }
    }
    return dot && (cls(s_[e - 1]) & kLetter);
  }

  bool allHex(std::uint32_t b, std::uint32_t e) const {
    for (std::uint32_t i = b; i < e; ++i) {
      if (!(cls(s_[i]) & kHex)) {
        return false;
      }
    }
    return true;
  }

  bool isUuid(std::uint32_t b, std::uint32_t e) const {
    if (e - b != 36) {
      return false;
    }
    for (std::uint32_t i = 0; i < 36; ++i) {
      char c = s_[b + i];
      bool dash_place = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash_place ? c != '-' : !(cls(c) & kHex)) {
        return false;
      }
    }
    return true;
  }

  void maskChunk(std::uint32_t cb, std::uint32_t ce) {
    bool any_digit = false;
    std::uint32_t at = 0;
    bool has_at = false;
    for (std::uint32_t i = cb; i < ce; ++i) {
      char c = s_[i];
      any_digit |= isDigit(c);
      if (c == '@' && !has_at) {
        has_at = true;
        at = i;
      }
    }
    if (has_at && isEmail(cb, ce, at)) {
      addHole(cb, ce);
      return;
    }
    if (!any_digit) {
      std::uint32_t e = ce;
      while (e > cb && (s_[e - 1] == '.' || s_[e - 1] == '?' || s_[e - 1] == '!')) {
        --e;
      }
      if (e - cb >= 4 && e - cb <= 5 && isValueWord(s_ + cb, e - cb)) {
        addHole(cb, e);
      } else if (ce - cb >= 8 && allHex(cb, ce)) {
        addHole(cb, ce);  // ffffffff, deadbeef: hex without a decimal digit
      }
      return;
    }
    if (isUuid(cb, ce)) {
      addHole(cb, ce);
      return;
    }
    Atom atoms[kMaxAtoms];
    int count = 0;
    std::uint32_t p = cb;
    while (p < ce) {
      char delimiter = 0;
      while (p < ce && !(cls(s_[p]) & kWordChar)) {
        delimiter = s_[p];
        ++p;
      }
      if (p >= ce) {
        break;
      }
      if (count == kMaxAtoms) {
        addHole(cb, ce);  // a long run of numbers and names: one variable
        return;
      }
      atoms[count++] = scanAtom(cb, ce, p, delimiter);
      p = atoms[count - 1].end;
    }
    emitChunkHoles(cb, ce, atoms, count);
  }

  Atom scanAtom(std::uint32_t cb, std::uint32_t ce, std::uint32_t ab, char delimiter) const {
    std::uint32_t p = ab;
    int digits = 0;
    int letters = 0;
    int kind_changes = 0;  // digit <-> non-digit transitions: "126MB" 1, "1s0ms" 3
    bool all_hex = true;
    bool letter_underscore_digit = false;  // blk_123, attempt_1, rdd_2_0 (not x86_64)
    bool prev_digit = isDigit(s_[ab]);
    const bool first_digit = prev_digit;
    while (p < ce) {
      char c = s_[p];
      std::uint8_t k = cls(c);
      if (k & kWordChar) {
        bool d = (k & kDigit) != 0;
        if (d) {
          ++digits;
          if (p >= ab + 2 && s_[p - 1] == '_' && (cls(s_[p - 2]) & kLetter)) {
            letter_underscore_digit = true;
          }
        } else {
          letters += (k & kLetter) ? 1 : 0;
        }
        all_hex &= (k & kHex) != 0;
        kind_changes += d != prev_digit ? 1 : 0;
        prev_digit = d;
        ++p;
        continue;
      }
      // blk_-123: a sign after '_' belongs to the atom.
      if (c == '-' && p > ab && s_[p - 1] == '_' && p + 1 < ce && isDigit(s_[p + 1])) {
        if (p >= ab + 2 && (cls(s_[p - 2]) & kLetter)) {
          letter_underscore_digit = true;
        }
        ++p;
        continue;
      }
      break;
    }
    const std::uint32_t len = p - ab;
    bool variable = false;
    if (digits > 0) {
      if (first_digit) {
        if (all_hex || kind_changes > 1) {
          variable = true;
        } else if (len > 2 && s_[ab] == '0' && (s_[ab + 1] == 'x' || s_[ab + 1] == 'X')) {
          variable = true;  // 0x1f
        } else {
          variable = letters <= 3;  // 126MB, 12ms, 3rd are values; "0userId" is a glued name
        }
      } else {
        // v1.2, v7 (a version opens its chunk; "mapreduce.v2.api" is a name).
        bool version = (s_[ab] == 'v' || s_[ab] == 'V') && digits == static_cast<int>(len) - 1 &&
                       (ab == cb || (ab == cb + 1 && !(cls(s_[cb]) & kWordChar)));
        variable = letter_underscore_digit || digits >= 4 || (all_hex && len >= 6) || version;
      }
    }
    std::uint32_t begin = ab;
    // A sign that opens the chunk belongs to the number: -17, +3.5.
    if (variable && first_digit && ab == cb + 1 && (s_[cb] == '-' || s_[cb] == '+')) {
      begin = cb;
    }
    return Atom{begin, p, variable, letters > 0, delimiter};
  }

  void emitChunkHoles(std::uint32_t cb, std::uint32_t ce, const Atom* atoms, int count) {
    int first_var = -1;
    int last_var = -1;
    bool literal_after_var = false;
    for (int i = 0; i < count; ++i) {
      if (atoms[i].variable) {
        if (first_var < 0) {
          first_var = i;
        }
        last_var = i;
      } else if (first_var >= 0 && atoms[i].has_letter) {
        literal_after_var = true;
      }
    }
    if (first_var < 0) {
      return;
    }
    // A name with a numeric part in the middle is one value: cp-1.vm.example.com,
    // MSRA-SA-39.corp.example.com, 24-54-76-216.isp.net.
    if (count >= 3 && literal_after_var) {
      addHole(cb, ce);
      return;
    }
    // Host-like names "mesos-slave-07", "msra-sa-41" are one value; "jetty-6.1.26",
    // "core.2275" keep their name.
    if (last_var == count - 1 && first_var >= 2 && atoms[first_var].delimiter_before == '-') {
      bool trailing_run = true;
      for (int i = first_var; i < count; ++i) {
        trailing_run &= atoms[i].variable;
      }
      if (trailing_run) {
        addHole(cb, ce);
        return;
      }
    }
    for (int i = 0; i < count; ++i) {
      if (!atoms[i].variable) {
        continue;
      }
      int j = i;
      while (j + 1 < count && atoms[j + 1].variable) {
        ++j;
      }
      addHole(atoms[i].begin, atoms[j].end);  // 10.0.0.1, -24.0, 2017-05-16: one hole
      i = j;
    }
  }

  const char* s_;
  std::vector<ByteSpan>& holes_;
  std::size_t word_first_hole_ = 0;
};

}  // namespace

std::uint64_t wordShapeHash(const char* s, const WordToken& w, const ByteSpan* holes) {
  std::uint64_t h = kWordSeed;
  std::uint32_t cur = w.begin;
  for (std::uint32_t i = 0; i < w.hole_count; ++i) {
    const ByteSpan& hole = holes[w.first_hole + i];
    h = hashBytes(s + cur, hole.begin - cur, h);
    h = mixWord(h, kHoleMark);
    cur = hole.end;
  }
  return hashBytes(s + cur, w.end - cur, h);
}

namespace {

// Month and weekday names next to a number are part of a date: "Fri Jun 17 07:07:00 2005",
// "17 Jun 2005". Rare, so done after the main pass.
void maskDateNames(const char* s, TokenizedLine& out) {
  auto& words = out.words;
  for (std::size_t i = 0; i < words.size(); ++i) {
    WordToken& w = words[i];
    if (w.hole_count != 0 || !(cls(s[w.begin]) & kUpper)) {
      continue;
    }
    std::size_t name = dateNameLength(s + w.begin, w.end - w.begin);
    if (name == 0) {
      continue;
    }
    auto starts_with_digit = [&](std::size_t k) {
      return k < words.size() && isDigit(s[words[k].begin]);
    };
    auto is_name = [&](std::size_t k) {
      return k < words.size() && dateNameLength(s + words[k].begin, words[k].end - words[k].begin);
    };
    bool date = starts_with_digit(i + 1) || (is_name(i + 1) && starts_with_digit(i + 2)) ||
                (i > 0 && starts_with_digit(i - 1) && starts_with_digit(i + 1));
    if (!date) {
      continue;
    }
    out.holes.insert(out.holes.begin() + w.first_hole,
                     ByteSpan{w.begin, w.begin + static_cast<std::uint32_t>(name)});
    w.hole_count = 1;
    for (std::size_t k = i + 1; k < words.size(); ++k) {
      ++words[k].first_hole;
    }
    w.shape_hash = wordShapeHash(s, w, out.holes.data());
  }
}

}  // namespace

std::uint64_t hashBytes(const char* data, std::size_t size, std::uint64_t seed) {
  std::uint64_t h = mixWord(seed, size * 0x9E3779B97F4A7C15ULL);
  while (size >= 8) {
    std::uint64_t v;
    std::memcpy(&v, data, 8);
    h = mixWord(h, v);
    data += 8;
    size -= 8;
  }
  if (size > 0) {
    std::uint64_t v = 0;
    std::memcpy(&v, data, size);
    h = mixWord(h, v ^ 0xFF);
  }
  return h;
}

bool tokenizeLine(std::string_view line, std::size_t max_words, TokenizedLine& out) {
  out.clear();
  const char* s = line.data();
  const auto n = static_cast<std::uint32_t>(line.size());
  WordMasker masker(s, out.holes);
  bool date_candidate = false;
  std::uint32_t i = 0;
  while (i < n && (cls(s[i]) & kWs)) {
    ++i;
  }
  if (i != 0) {
    out.single_spaced = false;
  }
  while (i < n) {
    if (out.words.size() == max_words) {
      return false;
    }
    WordToken w;
    w.begin = i;
    while (i < n && !(cls(s[i]) & kWs)) {
      ++i;
    }
    w.end = i;
    w.first_hole = static_cast<std::uint32_t>(out.holes.size());
    masker.mask(w.begin, w.end);
    w.hole_count = static_cast<std::uint32_t>(out.holes.size()) - w.first_hole;
    w.shape_hash = wordShapeHash(s, w, out.holes.data());
    date_candidate |= w.hole_count == 0 && (cls(s[w.begin]) & kUpper) && w.end - w.begin <= 10;
    out.words.push_back(w);
    std::uint32_t gap = i;
    while (i < n && (cls(s[i]) & kWs)) {
      ++i;
    }
    if (i != gap && (i - gap != 1 || s[gap] != ' ' || i == n)) {
      out.single_spaced = false;
    }
  }
  if (date_candidate) {
    maskDateNames(s, out);
  }
  std::uint64_t h = mixWord(kWordSeed, out.words.size());
  for (const WordToken& w : out.words) {
    h = mixWord(h, w.shape_hash);
  }
  out.shape_hash = h;
  return true;
}

std::string maskedText(std::string_view text) {
  TokenizedLine tokens;
  (void)tokenizeLine(text, static_cast<std::size_t>(-1), tokens);
  std::string out;
  std::uint32_t cur = 0;
  for (const ByteSpan& hole : tokens.holes) {
    out.append(text.substr(cur, hole.begin - cur));
    out.append("<*>");
    cur = hole.end;
  }
  out.append(text.substr(cur));
  return out;
}

}  // namespace faultline::logtemplate
