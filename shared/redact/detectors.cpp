#include "shared/redact/detectors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace faultline::redact {
namespace {

// ---------------------------------------------------------------------------------------------
// Character classes

constexpr std::uint16_t kAlpha = 1 << 0;
constexpr std::uint16_t kDigit = 1 << 1;
constexpr std::uint16_t kUpper = 1 << 2;
constexpr std::uint16_t kLower = 1 << 3;
constexpr std::uint16_t kB64Url = 1 << 4;     // [A-Za-z0-9_-]
constexpr std::uint16_t kKeyChar = 1 << 5;    // key names: [A-Za-z0-9_.-]
constexpr std::uint16_t kLocalChar = 1 << 6;  // e-mail local part: [A-Za-z0-9._%+-]
constexpr std::uint16_t kToken68 = 1 << 7;    // RFC 7235 token68: [A-Za-z0-9-._~+/]
constexpr std::uint16_t kValueEnd = 1 << 8;   // ends an unquoted value
constexpr std::uint16_t kUrlStop = 1 << 9;    // cannot be inside a URL authority
constexpr std::uint16_t kAlnum = kAlpha | kDigit;

constexpr std::array<std::uint16_t, 256> makeCharTable() {
  std::array<std::uint16_t, 256> t{};
  auto set = [&t](std::string_view chars, std::uint16_t flags) {
    for (char c : chars) {
      t[static_cast<unsigned char>(c)] |= flags;
    }
  };
  const std::uint16_t word = kAlpha | kB64Url | kKeyChar | kLocalChar | kToken68;
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] |= word | kLower;
    t[static_cast<std::size_t>(c - 'a' + 'A')] |= word | kUpper;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] |= kDigit | kB64Url | kKeyChar | kLocalChar | kToken68;
  }
  set("_-", kB64Url | kKeyChar | kLocalChar);
  set("-", kToken68);
  set(".", kKeyChar | kLocalChar | kToken68);
  set("%+", kLocalChar);
  set("_~+/", kToken68);
  // Whitespace, control bytes, quotes and the punctuation that separates fields in logs,
  // query strings and structured dumps; a backslash so JSON escapes stay whole.
  for (int c = 0; c <= ' '; ++c) {
    t[static_cast<std::size_t>(c)] |= kValueEnd | kUrlStop;
  }
  t[0x7f] |= kValueEnd | kUrlStop;
  set(",;&\"'<>)}]|\\", kValueEnd);
  set("\"'<>\\`", kUrlStop);
  return t;
}
constexpr std::array<std::uint16_t, 256> kChars = makeCharTable();

inline bool is(char c, std::uint16_t flags) {
  return (kChars[static_cast<unsigned char>(c)] & flags) != 0;
}
inline bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// Bytes of s from `from` while they have `flags`, up to `limit`.
inline std::size_t runEnd(std::string_view s, std::size_t from, std::uint16_t flags,
                          std::size_t limit = std::string_view::npos) {
  const std::size_t stop = std::min(s.size(), limit);
  while (from < stop && is(s[from], flags)) {
    ++from;
  }
  return from;
}

inline bool startsWith(std::string_view s, std::size_t pos, std::string_view prefix) {
  return pos <= s.size() && s.size() - pos >= prefix.size() &&
         s.compare(pos, prefix.size(), prefix) == 0;
}

// Case-insensitive; `lower_prefix` is lower case.
inline bool startsWithNoCase(std::string_view s, std::size_t pos, std::string_view lower_prefix) {
  if (pos > s.size() || s.size() - pos < lower_prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    if (lower(s[pos + i]) != lower_prefix[i]) {
      return false;
    }
  }
  return true;
}

bool placeholderAt(std::string_view s, std::size_t pos);

// A placeholder ends right before pos ("[REDACTED:x]" then pos).
bool placeholderEndsAt(std::string_view s, std::size_t pos) {
  if (pos == 0 || s[pos - 1] != ']') {
    return false;
  }
  const std::size_t floor = pos >= 44 ? pos - 44 : 0;
  for (std::size_t q = pos - 1; q-- > floor;) {
    if (s[q] == '[') {
      return placeholderLengthAt(s, q) == pos - q;
    }
  }
  return false;
}

// A detector whose decision rests on the byte before `begin` or at `end` (a token boundary)
// must not fire when that byte belongs to a placeholder: on the first pass the neighbour was
// other text, so the second pass would find something new.
bool nextToPlaceholder(std::string_view s, std::size_t begin, std::size_t end) {
  return placeholderEndsAt(s, begin) || (end < s.size() && s[end] == '[' && placeholderAt(s, end));
}

bool placeholderAt(std::string_view s, std::size_t pos) {
  return placeholderLengthAt(s, pos) != 0;
}

// ---------------------------------------------------------------------------------------------
// Secret-named keys

// Keys are looked at from their end; longer ones are cut to their last 64 bytes.
constexpr std::size_t kMaxKeyBytes = 64;

struct KeyClass {
  bool secret = false;
  Kind kind = Kind::kPassword;
  bool header = false;  // Authorization / Cookie: a "Name: value" header runs to the line end
  bool pwd = false;     // "pwd": also the working directory when its value is a path
};

// Decides from the key's ending: "db_password", "PGPASSWORD", "X-Api-Key", "client_secret" and
// "aws_secret_access_key" name secrets; "key", "token_count", "max_tokens", "bypass" do not.
// Runs only for keys whose last letters passed separatorMayFollowSecretKey(), so most calls are
// near misses ("partition", "key") and return after a compare or two.
KeyClass classifyKey(std::string_view key) {
  KeyClass out;
  auto ends = [&key](std::string_view lower_word) {
    return key.size() >= lower_word.size() &&
           startsWithNoCase(key, key.size() - lower_word.size(), lower_word);
  };
  // Short words must start a word of the key: after '_', '-', '.', or a camelCase hump.
  auto ends_word = [&key, &ends](std::string_view lower_word) {
    if (!ends(lower_word)) {
      return false;
    }
    const std::size_t j = key.size() - lower_word.size();
    if (j == 0) {
      return true;
    }
    const char before = key[j - 1];
    return before == '_' || before == '-' || before == '.' ||
           (is(key[j], kUpper) && is(before, kLower));
  };
  switch (lower(key.back())) {
    case 'd':
      out.pwd = ends_word("pwd");
      out.secret = out.pwd || ends("password") || ends("passwd");
      break;
    case 'e':
      out.header = ends("cookie");
      out.secret = out.header || ends("passphrase");
      break;
    case 't': out.secret = ends("secret"); break;
    case 'n':
      out.header = ends("authorization");
      out.secret = out.header || ends("token");
      break;
    case 'l': out.secret = ends("credential"); break;
    case 's': out.secret = ends("credentials") || ends_word("pass"); break;
    case 'h': out.secret = ends_word("auth"); break;
    case 'y': {
      if (!ends("key")) {
        break;
      }
      // "apikey", "api_key", "X-Api-Key", "access_key", "private-key", "signing.key"...
      std::string_view rest = key.substr(0, key.size() - 3);
      if (!rest.empty() && (rest.back() == '_' || rest.back() == '-' || rest.back() == '.')) {
        rest.remove_suffix(1);
      }
      static constexpr std::array<std::string_view, 7> kKeyQualifiers = {
          "api", "access", "secret", "private", "signing", "encryption", "master"};
      for (std::string_view q : kKeyQualifiers) {
        if (rest.size() >= q.size() && startsWithNoCase(rest, rest.size() - q.size(), q)) {
          out.secret = true;
          break;
        }
      }
      if (out.secret &&
          (ends("secret_access_key") || ends("secretaccesskey") || ends("secret-access-key"))) {
        out.kind = Kind::kCloudKey;
      }
      break;
    }
    default: break;
  }
  out.header = out.header && out.secret;
  return out;
}

// Closing quote of a value opened by `quote` at from-1; JSON-style backslash escapes are
// skipped. The line end when unterminated.
std::size_t closingQuote(std::string_view s, std::size_t from, char quote) {
  for (std::size_t i = from; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == quote) {
      return i;
    }
  }
  return s.size();
}

struct Scheme {
  std::string_view name;
  Kind kind;
};
constexpr std::array<Scheme, 3> kSchemes = {{
    {"bearer", Kind::kBearer},
    {"basic", Kind::kPassword},
    {"token", Kind::kPassword},
}};

// "Bearer <token68>" / "Basic <token68>" at pos: redacts only the credentials.
bool schemeCredentials(LineScan& scan, std::size_t pos, std::size_t limit) {
  const std::string_view s = scan.line;
  for (const Scheme& scheme : kSchemes) {
    std::size_t i = pos + scheme.name.size();
    if (i < limit && s[i] == ' ' && startsWithNoCase(s, pos, scheme.name)) {
      while (i < limit && s[i] == ' ') {
        ++i;
      }
      std::size_t end = runEnd(s, i, kToken68, limit);
      while (end > i && end < limit && s[end] == '=') {
        ++end;
      }
      if (end > i) {
        scan.add(i, end, scheme.kind);
        scan.key_resume = end;
      }
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Card numbers

// Whole groups [0, groups) are a valid card layout: fours with a shorter last group
// ("dddd dddd dddd d" .. 19 digits), or Amex/Diners 4-6-5 / 4-6-4.
bool cardLayout(const std::array<std::uint8_t, 6>& len, std::size_t groups) {
  if (groups == 3 && len[0] == 4 && len[1] == 6 && (len[2] == 5 || len[2] == 4)) {
    return true;
  }
  for (std::size_t g = 0; g + 1 < groups; ++g) {
    if (len[g] != 4) {
      return false;
    }
  }
  return len[groups - 1] <= 4;
}

// A card number starting at `start`: one run of 13-19 digits, or groups separated by single
// spaces or single dashes. Not part of a longer token: ids, versions, UUIDs, IPs stay.
// Returns the end of the card found, 0 if none.
std::size_t cardAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  if (start > 0) {
    const char before = s[start - 1];
    if (is(before, kB64Url)) {
      return 0;
    }
    if ((before == '.' || before == '-') && start > 1 &&
        (is(s[start - 2], kB64Url) || placeholderEndsAt(s, start - 1))) {
      return 0;  // "id-4111...", "v1.4111..."
    }
  }
  char digits[19];
  std::size_t count = 0;
  std::array<std::size_t, 6> group_end;    // byte offset after each group; only [0, groups) read
  std::array<std::size_t, 6> digits_upto;  // digits up to and including each group
  std::array<std::uint8_t, 6> group_len;
  std::size_t groups = 0;
  const std::size_t first_end = runEnd(s, start, kDigit, start + 20);
  const std::size_t first_len = first_end - start;
  char sep = 0;
  if (first_len >= 13 && first_len <= 19) {
    std::memcpy(digits, s.data() + start, first_len);
    count = first_len;
    group_end[0] = first_end;
    digits_upto[0] = count;
    group_len[0] = 4;  // a single run is laid out like one group
    groups = 1;
  } else if (first_len == 4 && first_end < s.size() &&
             (s[first_end] == ' ' || s[first_end] == '-')) {
    // Cheap exit for dates and versions ("2026-08-20", "1.2.3-4"): the second group of a card
    // has four digits, or six (Amex, Diners).
    const std::size_t second_len = runEnd(s, first_end + 1, kDigit, first_end + 8) - first_end - 1;
    if (second_len != 4 && second_len != 6) {
      return 0;
    }
    sep = s[first_end];
    for (std::size_t i = start; groups < group_end.size();) {
      const std::size_t end = runEnd(s, i, kDigit, i + 7);
      const std::size_t len = end - i;
      if (len == 0 || len > 6 || count + len > 19) {
        break;
      }
      std::memcpy(digits + count, s.data() + i, len);
      count += len;
      group_end[groups] = end;
      digits_upto[groups] = count;
      group_len[groups] = static_cast<std::uint8_t>(len);
      ++groups;
      if (end + 1 >= s.size() || s[end] != sep || !isDigit(s[end + 1])) {
        break;
      }
      i = end + 1;
    }
  } else {
    return 0;
  }
  // The longest run of whole groups that is a card number and ends cleanly.
  for (std::size_t g = groups; g > 0; --g) {
    const std::size_t n = digits_upto[g - 1];
    const std::size_t end = group_end[g - 1];
    if (n < 13) {
      break;
    }
    if (sep != 0 && !cardLayout(group_len, g)) {
      continue;
    }
    if (end < s.size()) {
      const char after = s[end];
      const bool joined_next =
          end + 1 < s.size() && (is(s[end + 1], kB64Url) || placeholderAt(s, end + 1));
      if (is(after, kAlnum) || after == '_' || (after == '.' && joined_next) ||
          (after == '-' && sep != '-' && joined_next)) {
        continue;
      }
    }
    if (isCardNumber(digits, n) && !nextToPlaceholder(s, start, end)) {
      scan.add(start, end, Kind::kCard);
      return end;
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Tokens that start a long base64url run

// A JWT/JWS/JWE: "eyJ" + base64url segments joined by '.', at least three.
void jwtAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  std::size_t end = runEnd(s, start, kB64Url);
  std::size_t segments = 1;
  while (segments < 5 && end < s.size() && s[end] == '.') {
    const std::size_t next = runEnd(s, end + 1, kB64Url);
    if (next == end + 1 && segments != 2) {
      break;  // only the signature of an unsigned token may be empty
    }
    end = next;
    ++segments;
  }
  if (segments >= 3) {
    scan.add(start, end, Kind::kJwt);
    scan.run_resume = end;
  }
}

// `prefix` at start, then at least `min_body` bytes of `body` class (optionally also '_' or
// '-'), the match ending where the class ends.
bool prefixedToken(LineScan& scan, std::size_t start, std::string_view prefix, std::size_t min_body,
                   std::uint16_t body, std::string_view extra = {}) {
  const std::string_view s = scan.line;
  if (!startsWith(s, start, prefix)) {
    return false;
  }
  std::size_t end = start + prefix.size();
  while (end < s.size() && (is(s[end], body) || extra.find(s[end]) != std::string_view::npos)) {
    ++end;
  }
  if (end - start - prefix.size() < min_body) {
    return false;
  }
  scan.add(start, end, Kind::kCloudKey);
  scan.run_resume = end;
  return true;
}

void awsOrGcpAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  // GCP API key: "AIza" + 35 base64url.
  if (startsWith(s, start, "AIza")) {
    const std::size_t end = runEnd(s, start, kB64Url);
    if (end - start == 39 && !nextToPlaceholder(s, start, end)) {
      scan.add(start, end, Kind::kCloudKey);
      scan.run_resume = end;
    }
    return;
  }
  // AWS access key id: a four-letter resource prefix + 16 upper-case letters and digits.
  static constexpr std::array<std::string_view, 11> kAwsPrefixes = {
      "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA", "APKA"};
  if (start + 20 > s.size()) {
    return;
  }
  const std::string_view head = s.substr(start, 4);
  if (std::find(kAwsPrefixes.begin(), kAwsPrefixes.end(), head) == kAwsPrefixes.end()) {
    return;
  }
  for (std::size_t i = start + 4; i < start + 20; ++i) {
    if (!is(s[i], kUpper | kDigit)) {
      return;
    }
  }
  if ((start + 20 < s.size() && is(s[start + 20], kAlnum)) ||
      nextToPlaceholder(s, start, start + 20)) {
    return;
  }
  scan.add(start, start + 20, Kind::kCloudKey);
  scan.run_resume = start + 20;
}

void githubOrGitlabAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  if (startsWith(s, start, "gh") && start + 3 < s.size() && s[start + 3] == '_' &&
      std::string_view("pousr").find(s[start + 2]) != std::string_view::npos) {
    prefixedToken(scan, start, s.substr(start, 4), 30, kAlnum);
    return;
  }
  if (prefixedToken(scan, start, "github_pat_", 40, kAlnum, "_")) {
    return;
  }
  prefixedToken(scan, start, "glpat-", 20, kAlnum, "_-");
}

void slackAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  if (startsWith(s, start, "xox") && start + 4 < s.size() && s[start + 4] == '-' &&
      std::string_view("abposr").find(s[start + 3]) != std::string_view::npos) {
    prefixedToken(scan, start, s.substr(start, 5), 10, kAlnum, "-");
  }
}

void stripeOrOpenAiAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  if (prefixedToken(scan, start, "sk_live_", 16, kAlnum) ||
      prefixedToken(scan, start, "rk_live_", 16, kAlnum)) {
    return;
  }
  // "sk-..." API keys (OpenAI "sk-proj-", Anthropic "sk-ant-"): long, with letters and digits.
  if (startsWith(s, start, "sk-")) {
    const std::size_t end = runEnd(s, start, kB64Url);
    bool digit = false, alpha = false;
    for (std::size_t i = start + 3; i < end; ++i) {
      digit = digit || isDigit(s[i]);
      alpha = alpha || is(s[i], kAlpha);
    }
    if (end - start >= 3 + 32 && digit && alpha) {
      scan.add(start, end, Kind::kCloudKey);
      scan.run_resume = end;
    }
  }
}

// "Bearer <token>" outside a secret-named key: the token must be long (>= 13 bytes before its
// first '.', which the run that triggered this guarantees) so "a Bearer token" in prose stays.
bool bearerAt(LineScan& scan, std::size_t start) {
  const std::string_view s = scan.line;
  if (start < 7 || s[start - 1] != ' ' || !startsWithNoCase(s, start - 7, "bearer") ||
      (start > 7 && is(s[start - 8], kAlpha))) {
    return false;
  }
  std::size_t end = runEnd(s, start, kToken68);
  while (end < s.size() && s[end] == '=') {
    ++end;
  }
  scan.add(start, end, Kind::kBearer);
  scan.run_resume = end;
  return true;
}

// ---------------------------------------------------------------------------------------------
// '@': URL userinfo and e-mail addresses

constexpr std::size_t kMaxAuthorityBytes = 512;

// Returns true when the '@' ends the userinfo of "scheme://user:password@host" (then it is not
// an e-mail address), and redacts the password if there is one.
bool urlUserinfoAt(LineScan& scan, std::size_t at) {
  const std::string_view s = scan.line;
  std::size_t i = at;
  while (i > 0 && at - i < kMaxAuthorityBytes) {
    const char c = s[i - 1];
    if (c == '/') {
      break;
    }
    if (is(c, kUrlStop)) {
      return false;
    }
    --i;
  }
  // s[i-3..i) must be "://" after a scheme.
  if (i < 4 || s[i - 1] != '/' || s[i - 2] != '/' || s[i - 3] != ':' || !is(s[i - 4], kAlnum)) {
    return false;
  }
  // The first ':' of the userinfo, not counting the one inside a placeholder.
  std::size_t colon = i;
  while (colon < at && s[colon] != ':') {
    const std::size_t placeholder = s[colon] == '[' ? placeholderLengthAt(s, colon) : 0;
    colon += placeholder != 0 ? placeholder : 1;
  }
  if (colon + 1 < at && !placeholderAt(s, colon + 1)) {
    scan.add(colon + 1, at, Kind::kUrlPassword);
  }
  return true;
}

constexpr std::size_t kMaxLocalBytes = 64;
constexpr std::size_t kMaxDomainBytes = 253;

void emailAt(LineScan& scan, std::size_t at) {
  const std::string_view s = scan.line;
  std::size_t begin = at;
  while (begin > 0 && is(s[begin - 1], kLocalChar)) {
    if (at - begin == kMaxLocalBytes) {
      return;  // longer than any real local part
    }
    --begin;
  }
  while (begin < at && s[begin] == '.') {
    ++begin;
  }
  if (begin == at) {
    return;
  }
  // Domain: labels of [A-Za-z0-9-] joined by single dots; the last one alphabetic (a TLD).
  std::size_t i = at + 1;
  std::size_t labels = 0;
  std::size_t end = i;
  bool tld_alpha = false;
  const std::size_t limit = std::min(s.size(), at + 1 + kMaxDomainBytes);
  while (i < limit && is(s[i], kAlnum)) {
    const std::size_t label_end = runEnd(s, i, kAlnum | kB64Url, limit);
    std::size_t trimmed = label_end;
    while (trimmed > i && s[trimmed - 1] == '-') {
      --trimmed;
    }
    // '_' is not allowed in host names; a label containing one ends the domain.
    bool underscore = false;
    bool alpha = true;
    for (std::size_t k = i; k < trimmed; ++k) {
      underscore = underscore || s[k] == '_';
      alpha = alpha && is(s[k], kAlpha);
    }
    if (underscore) {
      break;
    }
    ++labels;
    end = trimmed;
    tld_alpha = alpha && trimmed - i >= 2 && trimmed - i <= 24;
    if (trimmed != label_end || label_end + 1 >= limit || s[label_end] != '.' ||
        !is(s[label_end + 1], kAlnum)) {
      break;
    }
    i = label_end + 1;
  }
  // A domain cut short by a placeholder or ending in '-' was something else on the first pass.
  if (labels >= 2 && tld_alpha && (end >= s.size() || s[end] != '-') &&
      !nextToPlaceholder(s, begin, end)) {
    scan.add(begin, end, Kind::kEmail);
  }
}

// ---------------------------------------------------------------------------------------------
// PEM private key blocks

constexpr std::size_t kMaxPemLabel = 64;

// A PEM label ("RSA PRIVATE KEY") at pos, then "-----": returns the offset after the dashes, or
// npos. Labels are upper-case letters, digits and single spaces.
std::size_t pemLabelEnd(std::string_view s, std::size_t pos, std::string_view* label) {
  std::size_t i = pos;
  while (i < s.size() && i - pos <= kMaxPemLabel &&
         ((s[i] >= 'A' && s[i] <= 'Z') || isDigit(s[i]) || s[i] == ' ')) {
    ++i;
  }
  if (i - pos > kMaxPemLabel || !startsWith(s, i, "-----")) {
    return std::string_view::npos;
  }
  *label = s.substr(pos, i - pos);
  return i + 5;
}

}  // namespace

std::size_t placeholderLengthAt(std::string_view s, std::size_t pos) {
  constexpr std::string_view kOpen = "[REDACTED:";
  constexpr std::size_t kMaxName = 32;
  if (!startsWith(s, pos, kOpen)) {
    return 0;
  }
  const std::size_t name = pos + kOpen.size();
  std::size_t i = name;
  while (i < s.size() && i - name <= kMaxName &&
         ((s[i] >= 'a' && s[i] <= 'z') || isDigit(s[i]) || s[i] == '_')) {
    ++i;
  }
  if (i == name || i - name > kMaxName || i >= s.size() || s[i] != ']') {
    return 0;
  }
  return i + 1 - pos;
}

bool isCardNumber(const char* digits, std::size_t count) {
  if (count < 13 || count > 19) {
    return false;
  }
  auto prefix = [digits](std::size_t n) {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v = v * 10 + (digits[i] - '0');
    }
    return v;
  };
  const int p1 = prefix(1), p2 = prefix(2), p3 = prefix(3), p4 = prefix(4), p6 = prefix(6);
  bool issuer = false;
  if (p1 == 4) {
    issuer = count == 13 || count == 16 || count == 19;  // Visa
  } else if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) {
    issuer = count == 16;  // Mastercard
  } else if (p2 == 34 || p2 == 37) {
    issuer = count == 15;  // American Express
  } else if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) {
    issuer = count >= 14;  // Diners Club
  } else if (p4 >= 3528 && p4 <= 3589) {
    issuer = count >= 16;  // JCB
  } else if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925) ||
             p2 == 62) {
    issuer = count >= 16;  // Discover, UnionPay
  } else if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67) {
    issuer = true;  // Maestro
  }
  if (!issuer) {
    return false;
  }
  int sum = 0;
  for (std::size_t i = 0; i < count; ++i) {
    int d = digits[count - 1 - i] - '0';
    if (i % 2 == 1) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
  }
  return sum % 10 == 0;
}

void checkSeparator(LineScan& scan, std::size_t sep) {
  const std::string_view s = scan.line;
  std::size_t key_end = sep;
  if (key_end > 0 && s[key_end - 1] == ' ') {
    --key_end;
  }
  if (key_end > 0 && (s[key_end - 1] == '"' || s[key_end - 1] == '\'')) {
    --key_end;
    if (key_end > 0 && s[key_end - 1] == '\\') {
      --key_end;
    }
  }
  std::size_t key_begin = key_end;
  while (key_begin > 0 && key_end - key_begin < kMaxKeyBytes && is(s[key_begin - 1], kKeyChar)) {
    --key_begin;
  }
  if (key_begin == key_end || placeholderEndsAt(s, key_begin)) {
    return;
  }
  // "scheme://user:password@host" belongs to the URL detector.
  if (s[sep] == ':' && key_begin >= 2 && s[key_begin - 1] == '/' && s[key_begin - 2] == '/') {
    return;
  }
  const KeyClass key = classifyKey(s.substr(key_begin, key_end - key_begin));
  if (!key.secret) {
    return;
  }

  std::size_t v = sep + 1;
  if (v < s.size() && ((s[sep] == '=' && s[v] == '>') || (s[sep] == ':' && s[v] == '='))) {
    ++v;  // "key" => value, key := value
  }
  // "key: value" and "key = value", but "token= next=1" has an empty token.
  if (s[sep] == ':' || (sep > 0 && s[sep - 1] == ' ')) {
    for (std::size_t blanks = 0; v < s.size() && (s[v] == ' ' || s[v] == '\t') && blanks < 16;
         ++blanks) {
      ++v;
    }
  }
  if (v >= s.size()) {
    return;
  }
  std::size_t begin = v;
  std::size_t end = 0;
  bool quoted = true;
  if (s[v] == '"' || s[v] == '\'') {
    begin = v + 1;
    end = closingQuote(s, begin, s[v]);
  } else if (s[v] == '\\' && v + 1 < s.size() && s[v + 1] == '"') {
    begin = v + 2;  // \"value\" inside a JSON string
    end = std::min(s.find("\\\"", begin), s.size());
  } else if (s[v] == '{') {
    return;  // a nested object: its own keys are checked on their own
  } else {
    quoted = false;
  }
  if (schemeCredentials(scan, begin, quoted ? end : s.size())) {
    return;
  }
  if (!quoted) {
    if (key.header && s[sep] == ':') {
      // "Cookie: a=1; b=2", "Authorization: Negotiate ...": the whole header value.
      end = begin;
      while (end < s.size() && s[end] != '\r' && s[end] != '\n' && s[end] != '"' &&
             s[end] != '\\') {
        ++end;
      }
    } else {
      end = begin;
      while (end < s.size() && !is(s[end], kValueEnd)) {
        ++end;
      }
    }
  }
  if (end <= begin || placeholderAt(s, begin)) {
    return;
  }
  const std::string_view value = s.substr(begin, end - begin);
  if (value == "null" || value == "true" || value == "false") {
    return;
  }
  if (key.pwd && (value[0] == '/' || value[0] == '~')) {
    return;  // PWD=/home/app is the working directory
  }
  scan.add(begin, end, key.kind);
  scan.key_resume = end;
}

void checkAt(LineScan& scan, std::size_t at) {
  if (urlUserinfoAt(scan, at)) {
    return;
  }
  if (scan.on(Kind::kEmail)) {
    emailAt(scan, at);
  }
}

void checkPemBegin(LineScan& scan, std::size_t b) {
  const std::string_view s = scan.line;
  const std::size_t start = b - 5;
  if (!startsWith(s, start, "-----BEGIN ")) {
    return;
  }
  std::string_view label;
  const std::size_t header_end = pemLabelEnd(s, b + 6, &label);
  if (header_end == std::string_view::npos ||
      (!label.ends_with("PRIVATE KEY") && !label.ends_with("PRIVATE KEY BLOCK"))) {
    return;
  }
  std::size_t end = s.size();
  const std::size_t footer =
      scan.pem_no_footer ? std::string_view::npos : s.find("-----END ", header_end);
  if (footer != std::string_view::npos) {
    std::string_view footer_label;
    const std::size_t footer_end = pemLabelEnd(s, footer + 9, &footer_label);
    end = footer_end != std::string_view::npos ? footer_end : footer + 9;
  } else {
    scan.pem_no_footer = true;  // no later block can find one either
    // Unterminated: to the end of the text, or of the JSON string that carries it.
    const std::size_t quote = s.find('"', header_end);
    if (quote != std::string_view::npos) {
      end = (s[quote - 1] == '\\') ? quote - 1 : quote;
    }
  }
  scan.add(start, end, Kind::kPrivateKey);
  // Only this family's resume: runs and separators before 'B' in the same block are still to be
  // looked at; findings inside the block merge into it.
  scan.pem_resume = end;
}

void checkLongRun(LineScan& scan, std::size_t start) {
  // After a placeholder the run may have begun earlier on the first pass.
  if (start < scan.run_resume || placeholderEndsAt(scan.line, start)) {
    return;
  }
  if (scan.on(Kind::kBearer)) {
    bearerAt(scan, start);
  }
  const char c = scan.line[start];
  if (isDigit(c)) {
    if (scan.on(Kind::kCard)) {
      scan.run_resume = std::max(scan.run_resume, cardAt(scan, start));
    }
    return;
  }
  if (c == 'e') {
    if (scan.on(Kind::kJwt) && startsWith(scan.line, start, "eyJ")) {
      jwtAt(scan, start);
    }
    return;
  }
  if (!scan.on(Kind::kCloudKey)) {
    return;
  }
  switch (c) {
    case 'A': awsOrGcpAt(scan, start); break;
    case 'g': githubOrGitlabAt(scan, start); break;
    case 'x': slackAt(scan, start); break;
    case 's':
    case 'r': stripeOrOpenAiAt(scan, start); break;
    default: break;
  }
}

void checkSpacedDigits(LineScan& scan, std::size_t digit) {
  const std::string_view s = scan.line;
  // "dddd dddd": four digits before the space (and no fifth), four from `digit` on.
  if (digit < 5 || s[digit - 1] != ' ' || digit + 4 > s.size()) {
    return;
  }
  const std::size_t start = digit - 5;
  if (start < scan.card_resume || (start > 0 && isDigit(s[start - 1])) ||
      runEnd(s, start, kDigit, digit - 1) != digit - 1 ||
      runEnd(s, digit, kDigit, digit + 4) != digit + 4) {
    return;
  }
  scan.card_resume = std::max(scan.card_resume, cardAt(scan, start));
}

}  // namespace faultline::redact
