#include "shared/logtemplate/tokenizer.h"

#include <algorithm>
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
  kOuter = 32,  // splits a word into chunks: key=value, (x), [x], "x", a:b, a/b, a,b
  kUpper = 64,
  kWord = 128,  // digit, letter or '_'
};
constexpr std::uint8_t kWordChar = kDigit | kLetter | kUnderscore;
constexpr std::uint8_t kStop = kWs | kOuter;

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
    if (v & (kDigit | kLetter | kUnderscore)) {
      v |= kWord;
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

constexpr std::array<bool, 256> makeGlue() {
  std::array<bool, 256> t{};
  for (char c : std::string_view("<>*?~^`")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}
constexpr std::array<bool, 256> kGlue = makeGlue();

inline std::uint8_t cls(char c) {
  return kClass[static_cast<unsigned char>(c)];
}
inline bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

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
    "Mon",     "Tue",       "Wed",       "Thu",     "Fri",      "Sat",     "Sun",   "Monday",
    "Tuesday", "Wednesday", "Thursday",  "Friday",  "Saturday", "Sunday",  "Jan",   "Feb",
    "Mar",     "Apr",       "May",       "Jun",     "Jul",      "Aug",     "Sep",   "Sept",
    "Oct",     "Nov",       "Dec",       "January", "February", "March",   "April", "June",
    "July",    "August",    "September", "October", "November", "December"};

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

// An alphanumeric run of a chunk. Statistics beyond "which classes occur" are computed only
// for the few atoms that mix digits and letters.
struct Atom {
  std::uint32_t begin;  // a sign that opens the chunk is included: -17
  std::uint32_t end;
  std::uint8_t any;       // OR of the classes of its bytes
  std::uint8_t all;       // AND of the classes of its bytes
  char delimiter_before;  // the last delimiter byte before it inside the chunk, or 0
  bool signed_number;
  bool variable;
};
constexpr int kMaxAtoms = 48;

// Splits one line into words and holes in a single pass over its bytes.
class LineScanner {
 public:
  LineScanner(std::string_view line, TokenizedLine& out)
      : s_(line.data()), n_(static_cast<std::uint32_t>(line.size())), out_(out) {}

  TokenizeStatus run(std::size_t max_words) {
    std::uint32_t i = 0;
    while (i < n_ && (cls(s_[i]) & kWs)) {
      ++i;
    }
    out_.single_spaced = i == 0;
    bool date_candidate = false;
    while (i < n_) {
      if (out_.words.size() == max_words) {
        return TokenizeStatus::TooManyWords;
      }
      WordToken w;
      w.begin = i;
      w.first_hole = static_cast<std::uint32_t>(out_.holes.size());
      scanWord(i);
      w.end = i;
      w.hole_count = static_cast<std::uint32_t>(out_.holes.size()) - w.first_hole;
      date_candidate |= w.hole_count == 0 && (cls(s_[w.begin]) & kUpper) && w.end - w.begin <= 10;
      out_.words.push_back(w);
      std::uint32_t gap = i;
      while (i < n_ && (cls(s_[i]) & kWs)) {
        ++i;
      }
      if (i - gap != 1 || s_[gap] != ' ' || i == n_) {
        out_.single_spaced &= i == gap;
      }
    }
    if (date_candidate) {
      maskDateNames();
    }
    std::uint64_t h = mixWord(kWordSeed, out_.words.size());
    std::uint32_t cur = 0;
    for (const ByteSpan& hole : out_.holes) {
      h = mixWord(hashBytes(s_ + cur, hole.begin - cur, h), kHoleMark);
      cur = hole.end;
    }
    out_.shape_hash = hashBytes(s_ + cur, n_ - cur, h);
    return TokenizeStatus::Ok;
  }

 private:
  // Scans the word that starts at `p` (advanced to its end) and adds its holes. Works chunk
  // by chunk (runs between outer delimiters): one tight loop collects which character classes
  // a chunk holds, which settles most chunks (words, numbers, addresses) without a second look.
  void scanWord(std::uint32_t& p) {
    word_begin_ = p;
    word_end_ = 0;
    word_first_hole_ = out_.holes.size();
    const char* const s = s_;
    const std::uint32_t n = n_;
    for (;;) {
      if (p < n) {
        const char c0 = s[p];
        if ((c0 == '/' || c0 == '\\' || (c0 == '.' && isRelativePath(p))) && atBoundary(p)) {
          p = maskPath(p);  // /var/x, \\srv\x, ./run.sh
        }
      }
      const std::uint32_t cb = p;
      std::uint8_t any = 0;
      std::uint8_t all = 0xFF;
      while (p < n) {
        const std::uint8_t k = cls(s[p]);
        if (k & kStop) {
          break;
        }
        any |= k;
        all &= k;
        ++p;
      }
      const char stop = p < n ? s[p] : ' ';
      if (p > cb) {
        // "07:07:00" is a time: not worth the IPv6 test.
        if (stop == ':' && (all & kHex) && p - cb <= 4 &&
            !(p + 3 < n && s[p + 3] == ':' && (p + 6 >= n || s[p + 6] != ':'))) {
          std::uint32_t v6 = ipv6End(cb);
          if (v6 != 0) {
            addHole(cb, v6);
            p = v6;
            continue;
          }
        } else if (stop == '/' && !(any & kDigit) && p + 1 < n_ && isDigit(s_[p + 1])) {
          std::uint32_t product_end = productVersionEnd(cb, p);
          if (product_end != 0) {
            addHole(cb, product_end);  // HTTP/1.1, curl/8.5.0: one value
            p = product_end;
            continue;
          }
        }
        handleChunk(cb, p, any, all);
      }
      if (cls(stop) & kWs) {
        return;
      }
      if (stop == ':') {
        if (p > cb && p + 2 < n_ && s_[p + 1] == '/' && s_[p + 2] == '/' && isScheme(cb, p)) {
          p = maskUrl(p + 3);
          continue;
        }
        if (p == cb && p + 1 < n_ && s_[p + 1] == ':' && atBoundary(p)) {
          std::uint32_t v6 = ipv6End(p);  // ::1
          if (v6 != 0) {
            addHole(p, v6);
            p = v6;
            continue;
          }
        }
      }
      ++p;
    }
  }

  bool atBoundary(std::uint32_t p) const { return p == word_begin_ || (cls(s_[p - 1]) & kOuter); }

  // One chunk [cb, ce) whose bytes have the classes `any` (some byte) and `all` (every byte).
  void handleChunk(std::uint32_t cb, std::uint32_t ce, std::uint8_t any, std::uint8_t all) {
    const std::uint32_t len = ce - cb;
    if (!(any & kDigit)) {
      std::uint32_t e = ce;
      if (!(all & kWord)) {
        if (len >= 5 && std::memchr(s_ + cb, '@', len) != nullptr && isEmail(cb, ce)) {
          addHole(cb, ce);
          return;
        }
        while (e > cb && (s_[e - 1] == '.' || s_[e - 1] == '?' || s_[e - 1] == '!')) {
          --e;  // "true." ends a sentence
        }
      }
      if ((e - cb == 4 || e - cb == 5) && isValueWord(s_ + cb, e - cb)) {
        addHole(cb, e);  // true, false, null
      } else if (len >= 8 && (all & kHex)) {
        addHole(cb, ce);  // ffffffff, deadbeef: hex without a decimal digit
      }
      return;
    }
    if (all & kDigit) {
      addHole(cb, ce);  // 42
      return;
    }
    if (all & kHex) {
      if (isDigit(s_[cb]) || len >= 6) {
        addHole(cb, ce);  // 0a1b2c3d, e204f60 (but "e820" is a name)
      }
      return;
    }
    if (!(any & (kLetter | kUnderscore))) {
      // Digits and delimiters only: 10.0.0.1, -24.0, 2017-05-16, ...0
      std::uint32_t f = cb;
      while (!isDigit(s_[f])) {
        ++f;
      }
      if (f == cb + 1 && (s_[cb] == '-' || s_[cb] == '+')) {
        f = cb;
      }
      std::uint32_t l = ce;
      while (!isDigit(s_[l - 1])) {
        --l;
      }
      addHole(f, l);
      return;
    }
    analyzeAtoms(cb, ce);
  }

  // A chunk that mixes letters and digits: split it into atoms (alphanumeric runs) and decide
  // each one.
  void analyzeAtoms(std::uint32_t cb, std::uint32_t ce) {
    int count = 0;
    bool overflow = false;
    char delimiter = 0;
    std::uint32_t p = cb;
    while (p < ce) {
      std::uint8_t k = cls(s_[p]);
      if (!(k & kWord)) {
        delimiter = s_[p];
        ++p;
        continue;
      }
      const std::uint32_t ab = p;
      std::uint8_t any = k;
      std::uint8_t all = k;
      ++p;
      for (;;) {
        while (p < ce) {
          k = cls(s_[p]);
          if (!(k & kWord)) {
            break;
          }
          any |= k;
          all &= k;
          ++p;
        }
        // blk_-123: a sign after '_' belongs to the atom.
        if (p + 1 < ce && s_[p] == '-' && s_[p - 1] == '_' && isDigit(s_[p + 1])) {
          all = 0;
          ++p;
          continue;
        }
        break;
      }
      if (count == kMaxAtoms) {
        overflow = true;
        break;
      }
      const bool sign = ab == cb + 1 && (s_[cb] == '-' || s_[cb] == '+') && isDigit(s_[ab]);
      atoms_[count++] = Atom{ab, p, any, all, delimiter, sign, false};
      delimiter = 0;
    }
    if (overflow) {
      addHole(cb, ce);  // a long run of numbers and names: one variable
      return;
    }
    finishChunk(cb, ce, count);
  }

  // The special cases look ahead inside the word; its end is found once, when first needed.
  void ensureWordEnd(std::uint32_t p) {
    if (word_end_ == 0) {
      while (p < n_ && !(cls(s_[p]) & kWs)) {
        ++p;
      }
      word_end_ = p;
    }
  }

  // Brackets and wildcards glued to a value belong to it: "vCores:-17>" is "vCores:<*>".
  static bool isGlue(char c) { return kGlue[static_cast<unsigned char>(c)]; }

  void addHole(std::uint32_t b, std::uint32_t e) {
    auto& holes = out_.holes;
    const bool has_prev = holes.size() > word_first_hole_;
    const std::uint32_t floor = has_prev ? holes.back().end : word_begin_;
    while (b > floor && isGlue(s_[b - 1])) {
      --b;
    }
    while (e < n_ && isGlue(s_[e])) {
      ++e;
    }
    if (has_prev && holes.back().end >= b) {
      holes.back().end = std::max(holes.back().end, e);  // "<*><*>" is one variable
      return;
    }
    holes.push_back({b, e});
  }

  bool isRelativePath(std::uint32_t b) const {
    std::uint32_t j = b + 1;
    if (j < n_ && s_[j] == '.') {
      ++j;
    }
    return j + 1 < n_ && s_[j] == '/' && s_[j + 1] != '/' && !(cls(s_[j + 1]) & (kOuter | kWs));
  }

  // A path runs to the next outer delimiter other than '/': "/var/x", "\\srv\x", "./x".
  std::uint32_t maskPath(std::uint32_t b) {
    ensureWordEnd(b);
    std::uint32_t j = b + 1;
    bool has_name = false;
    while (j < word_end_) {
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
  std::uint32_t maskUrl(std::uint32_t b) {
    ensureWordEnd(b);
    std::uint32_t j = b;
    bool digit = false;
    while (j < word_end_) {
      char c = s_[j];
      if (c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == '(' || c == ')' ||
          c == '[' || c == ']' || c == '{' || c == '}' || c == ',' || c == ';' || c == '|') {
        break;
      }
      digit |= isDigit(c);
      ++j;
    }
    while (j > b &&
           (s_[j - 1] == '.' || s_[j - 1] == ':' || s_[j - 1] == '!' || s_[j - 1] == '?')) {
      --j;
    }
    if (digit && j > b) {
      addHole(b, j);
    }
    return j;
  }

  // IPv6 ("fe80::1", "2001:db8:0:0:1:0:0:1") and MAC-like ("00:1a:2b:3c:4d:5e") addresses. A
  // time (07:07:00) is not one: it has neither "::", nor 5 colons, nor a hex letter.
  std::uint32_t ipv6End(std::uint32_t b) {
    ensureWordEnd(b);
    std::uint32_t j = b;
    int colons = 0;
    int group = 0;
    bool double_colon = false;
    bool hex_letter = false;
    bool digit = false;
    while (j < word_end_) {
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
    if (j < word_end_ && (cls(s_[j]) & kWordChar)) {
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

  // "name/1.2.3" (RFC 9110 product token) at '/' p: the end of the version, or 0.
  std::uint32_t productVersionEnd(std::uint32_t cb, std::uint32_t p) {
    ensureWordEnd(p);
    if (p + 1 >= word_end_ || !isDigit(s_[p + 1]) || !(cls(s_[cb]) & kLetter)) {
      return 0;
    }
    for (std::uint32_t i = cb; i < p; ++i) {
      char c = s_[i];
      if (!(cls(c) & (kLetter | kUnderscore)) && c != '-' && c != '.') {
        return 0;  // "host-41/10.0.0.1" is a host and an address
      }
    }
    std::uint32_t j = p + 1;
    int dots = 0;
    while (j < word_end_ &&
           (isDigit(s_[j]) || (s_[j] == '.' && j + 1 < word_end_ && isDigit(s_[j + 1])))) {
      dots += s_[j] == '.' ? 1 : 0;
      ++j;
    }
    if (dots > 2 || (j < word_end_ && !(cls(s_[j]) & kOuter) && s_[j] != '.')) {
      return 0;  // "name/10.0.0.1", "PS/2x": not a version
    }
    return j;
  }

  bool isEmail(std::uint32_t b, std::uint32_t e) const {
    std::uint32_t at = b;
    while (at < e && s_[at] != '@') {
      ++at;
    }
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

  bool isUuid(int count) const {
    static constexpr std::uint32_t kGroups[5] = {8, 4, 4, 4, 12};
    if (count != 5) {
      return false;
    }
    for (int i = 0; i < 5; ++i) {
      const Atom& a = atoms_[i];
      if (a.end - a.begin != kGroups[i] || !(a.all & kHex) ||
          (i > 0 && a.delimiter_before != '-') || (i > 0 && a.begin != atoms_[i - 1].end + 1)) {
        return false;
      }
    }
    return true;
  }

  bool atomIsVariable(const Atom& a, std::uint32_t cb) const {
    if (!(a.any & kDigit)) {
      return false;
    }
    const std::uint32_t ab = a.begin;
    const bool first_digit = isDigit(s_[ab]);
    if (first_digit && (a.all & kHex)) {
      return true;  // 42, 0123abcd
    }
    // Mixed digits and letters: look closer (rare enough to scan again).
    int digits = 0;
    int run = 0;
    int longest_run = 0;  // "x86_64" has 4 digits in runs of 2: an architecture, not an id
    int letters = 0;
    int kind_changes = 0;                  // digit <-> non-digit transitions: "126MB" 1, "1s0ms" 3
    bool letter_underscore_digit = false;  // blk_123, attempt_1, rdd_2_0 (not x86_64)
    bool prev_digit = first_digit;
    for (std::uint32_t p = ab; p < a.end; ++p) {
      char c = s_[p];
      bool d = isDigit(c);
      run = d ? run + 1 : 0;
      longest_run = std::max(longest_run, run);
      if (d) {
        ++digits;
        if (p >= ab + 2 && (s_[p - 1] == '_' || s_[p - 1] == '-') &&
            ((cls(s_[p - 2]) & kLetter) != 0 || (s_[p - 1] == '-' && s_[p - 2] == '_'))) {
          letter_underscore_digit = true;
        }
      } else {
        letters += (cls(c) & kLetter) ? 1 : 0;
      }
      kind_changes += d != prev_digit ? 1 : 0;
      prev_digit = d;
    }
    const std::uint32_t len = a.end - ab;
    if (first_digit) {
      if (kind_changes > 1) {
        return true;  // 1s0ms, 04DN8IQ, 20T00
      }
      if (len > 2 && s_[ab] == '0' && (s_[ab + 1] == 'x' || s_[ab + 1] == 'X')) {
        return true;  // 0x1f
      }
      return letters <= 3;  // 126MB, 12ms, 3rd are values; "0userId" is a glued name
    }
    // v1.2, v7 (a version opens its chunk; "mapreduce.v2.api" is a name).
    bool version =
        (s_[ab] == 'v' || s_[ab] == 'V') && digits == static_cast<int>(len) - 1 && ab == cb;
    return letter_underscore_digit || (digits >= 4 && longest_run >= 3) ||
           ((a.all & kHex) && len >= 6) || version;
  }

  void finishChunk(std::uint32_t cb, std::uint32_t ce, int count) {
    if (count == 0) {
      return;
    }
    bool at_sign = false;
    for (int i = 0; i < count; ++i) {
      at_sign |= atoms_[i].delimiter_before == '@';
    }
    if (at_sign && isEmail(cb, ce)) {
      addHole(cb, ce);
      return;
    }
    if (isUuid(count)) {
      addHole(atoms_[0].begin, atoms_[4].end);
      return;
    }
    int first_var = -1;
    int last_var = -1;
    bool literal_after_var = false;
    for (int i = 0; i < count; ++i) {
      Atom& a = atoms_[i];
      a.variable = atomIsVariable(a, cb);
      if (a.variable) {
        if (first_var < 0) {
          first_var = i;
        }
        last_var = i;
      } else if (first_var >= 0 && (a.any & kLetter)) {
        literal_after_var = true;
      }
    }
    if (first_var < 0) {
      return;
    }
    // A name with a numeric part in the middle is one value: cp-1.vm.example.com,
    // MSRA-SA-39.corp.example.com, 24-54-76-216.isp.net.
    if (count >= 3 && literal_after_var) {
      addHole(atoms_[0].begin, atoms_[count - 1].end);
      return;
    }
    // Host-like names "mesos-slave-07", "msra-sa-41" are one value; "jetty-6.1.26",
    // "core.2275" keep their name.
    if (last_var == count - 1 && first_var >= 2 && atoms_[first_var].delimiter_before == '-') {
      bool trailing_run = true;
      for (int i = first_var; i < count; ++i) {
        trailing_run &= atoms_[i].variable;
      }
      if (trailing_run) {
        addHole(atoms_[0].begin, atoms_[count - 1].end);
        return;
      }
    }
    for (int i = 0; i < count; ++i) {
      if (!atoms_[i].variable) {
        continue;
      }
      int j = i;
      while (j + 1 < count && atoms_[j + 1].variable) {
        ++j;
      }
      addHole(atoms_[i].signed_number ? atoms_[i].begin - 1 : atoms_[i].begin,
              atoms_[j].end);  // 10.0.0.1, -24.0, 2017-05-16: one hole
      i = j;
    }
  }

  // Month and weekday names next to a number are part of a date: "Fri Jun 17 07:07:00 2005",
  // "17 Jun 2005". Rare, so done after the main pass.
  void maskDateNames() {
    auto& words = out_.words;
    auto starts_with_digit = [&](std::size_t k) {
      return k < words.size() && isDigit(s_[words[k].begin]);
    };
    auto is_name = [&](std::size_t k) {
      return k < words.size() &&
             dateNameLength(s_ + words[k].begin, words[k].end - words[k].begin) != 0;
    };
    for (std::size_t i = 0; i < words.size(); ++i) {
      WordToken& w = words[i];
      if (w.hole_count != 0 || !(cls(s_[w.begin]) & kUpper)) {
        continue;
      }
      const bool next_digit = starts_with_digit(i + 1);
      if (!next_digit && !starts_with_digit(i + 2)) {
        continue;  // cheap test first: a date name is followed by a number soon
      }
      std::size_t name = dateNameLength(s_ + w.begin, w.end - w.begin);
      if (name == 0 || !(next_digit || is_name(i + 1))) {
        continue;
      }
      out_.holes.insert(out_.holes.begin() + w.first_hole,
                        ByteSpan{w.begin, w.begin + static_cast<std::uint32_t>(name)});
      w.hole_count = 1;
      for (std::size_t k = i + 1; k < words.size(); ++k) {
        ++words[k].first_hole;
      }
    }
  }

  const char* s_;
  const std::uint32_t n_;
  TokenizedLine& out_;
  std::uint32_t word_begin_ = 0;
  std::uint32_t word_end_ = 0;  // 0 until ensureWordEnd()
  std::size_t word_first_hole_ = 0;
  Atom atoms_[kMaxAtoms];
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
    for (std::size_t i = 0; i < size; ++i) {
      v = (v << 8) | static_cast<unsigned char>(data[i]);
    }
    h = mixWord(h, v ^ 0xFF);
  }
  return h;
}

TokenizeStatus tokenizeLine(std::string_view line, std::size_t max_words, TokenizedLine& out) {
  out.clear();
  if (std::memchr(line.data(), '\n', line.size()) != nullptr ||
      line.find("<*>") != std::string_view::npos) {
    return TokenizeStatus::Unrepresentable;  // a literal "<*>" could not be told from a hole
  }
  return LineScanner(line, out).run(max_words);
}

void computeWordHashes(std::string_view line, TokenizedLine& t) {
  for (WordToken& w : t.words) {
    w.shape_hash = wordShapeHash(line.data(), w, t.holes.data());
  }
  t.word_hashes = true;
}

std::string maskedText(std::string_view text) {
  TokenizedLine tokens;
  if (tokenizeLine(text, static_cast<std::size_t>(-1), tokens) != TokenizeStatus::Ok) {
    return std::string(text);
  }
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
