#pragma once

// Built-in detectors, called by the block scanner at the few positions its masks point at.
// Internal to faultline_redact.
//
// Each detector looks at the bytes around one candidate position, decides, and appends findings
// (byte spans of the secret part only) to the LineScan. Detectors never allocate beyond the
// findings vector and never read outside the line. Every look-back and look-ahead is bounded or
// recorded in a resume position, so a line costs O(length) whatever its content.
//
// Decisions (what counts as a secret):
//  - Secret-named keys are judged by how the key ends, case-insensitively: "password",
//    "passwd", "passphrase", "secret", "token", "apikey", "credential(s)", "cookie",
//    "authorization" anywhere at the end ("PGPASSWORD", "client_secret", "Set-Cookie"); "pass",
//    "pwd", "auth" only as a whole word ("DB_PASS", "basicAuth", not "bypass", "oauth");
//    "key" only after api/access/secret/private/signing/encryption/master ("X-Api-Key",
//    "aws_secret_access_key"; not "key=product:1", "monkey"). So "token_count", "max_tokens",
//    "tokens", "password_hash" are not secret names: the value is never needed to decide, and
//    a secret-named key with a short number ("token=5", an OTP) is still redacted.
//  - Values: quoted ("..."/'...', JSON escapes honoured, \"...\" inside JSON strings) to the
//    closing quote, or the line end when unterminated; unquoted to whitespace or one of
//    , ; & " ' < > ) } ] | \ ; "Cookie:" / "Authorization:" headers to the line end. Empty
//    values, null/true/false, a nested object "{", and "PWD=/path" (the working directory) are
//    left alone. "Bearer x" / "Basic x" / "Token x" values: only x is replaced.
//  - Placeholders "[REDACTED:...]" are never secrets, and a detector that decides on a token
//    boundary does not fire when that boundary is a placeholder: on the first pass the
//    neighbour was other text. This is what keeps redact(redact(x)) finding nothing.
//  - Known false positives, accepted because they fail safe: Message-IDs ("<id@host.tld>") are
//    e-mail addresses to this detector; a 13-19 digit id that happens to be Luhn-valid with a
//    card prefix is a card; "auth: failed" redacts "failed".

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "shared/redact/redactor.h"

namespace faultline::redact {

/// One secret found in a line: bytes [begin, end) are replaced by the placeholder of `kind`
/// (or of custom pattern `custom` when kind is kCustom).
struct Finding {
  std::size_t begin = 0;
  std::size_t end = 0;
  Kind kind = Kind::kCount_;
  std::uint16_t custom = 0;
};

constexpr std::uint32_t kindBit(Kind kind) {
  return 1u << static_cast<unsigned>(kind);
}

/// The state of one line's scan. Lives on the caller's stack; not shared between threads.
struct LineScan {
  std::string_view line;
  std::uint32_t enabled = 0;  // kindBit() of the enabled built-in detectors
  std::vector<Finding>* findings = nullptr;
  // Candidates before these positions were already covered by a finding of the same family.
  std::size_t key_resume = 0;   // separators inside a redacted value
  std::size_t run_resume = 0;   // token runs inside a redacted token
  std::size_t card_resume = 0;  // spaced digit groups inside a redacted card number
  std::size_t pem_resume = 0;   // "-----BEGIN" inside a redacted key block
  bool pem_no_footer = false;   // a search for "-----END " already reached the line end

  bool on(Kind kind) const { return (enabled & kindBit(kind)) != 0; }
  void add(std::size_t begin, std::size_t end, Kind kind) {
    if (end > begin && on(kind)) {
      findings->push_back({begin, end, kind, 0});
    }
  }
};

/// The detectors that look at '=' / ':' separators (secret-named keys, Authorization headers,
/// aws_secret_access_key).
constexpr std::uint32_t kKeyValueKinds =
    kindBit(Kind::kPassword) | kindBit(Kind::kBearer) | kindBit(Kind::kCloudKey);

/// '=' or ':' at `sep`: redacts the value when the key before it names a secret.
/// Call only when separatorMayFollowSecretKey() said yes.
void checkSeparator(LineScan& scan, std::size_t sep);
/// '@' at `at`: the password of a URL's userinfo, or else an e-mail address.
void checkAt(LineScan& scan, std::size_t at);
/// 'B' at `b`: a "-----BEGIN ... PRIVATE KEY-----" block when preceded by five dashes.
void checkPemBegin(LineScan& scan, std::size_t b);
/// `start` begins a run of >= 13 base64url bytes ([A-Za-z0-9_-]) preceded by none: a token
/// (JWT, cloud key, bearer token after "Bearer ") or a card number (digit runs, dash groups).
/// Call only when longRunMayBeSecret() said yes.
void checkLongRun(LineScan& scan, std::size_t start);
/// "d d" ends at `digit` (a digit after a space after a digit): a card number written in
/// space-separated groups when it is the middle of "dddd dddd".
void checkSpacedDigits(LineScan& scan, std::size_t digit);

/// Length of the placeholder "[REDACTED:name]" (name [a-z0-9_]{1,32}) starting at `pos`, or 0.
/// Placeholders are never secrets: that keeps redaction idempotent.
std::size_t placeholderLengthAt(std::string_view s, std::size_t pos);

/// True when the 13-19 digits are a plausible card number: a known issuer prefix for that
/// length and a valid Luhn check digit.
bool isCardNumber(const char* digits, std::size_t count);

namespace key_tail {
// Perfect hashes of the case-folded last four (and last three) letters of every secret word;
// a key ending in anything else cannot name a secret. Multipliers found by a brute-force search;
// makeTable() refuses to compile if two tails ever share a slot.
constexpr std::uint32_t pack(const char* s, int n) {
  std::uint32_t w = 0;
  for (int i = 0; i < n; ++i) {
    w |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[i])) << (8 * i);
  }
  return w;
}
constexpr std::uint32_t kMul4 = 0xfbb230bbu;  // 16 slots
constexpr std::uint32_t kMul3 = 0x97dae38du;  // 4 slots
constexpr unsigned slot4(std::uint32_t w) {
  return (w * kMul4) >> 28;
}
constexpr unsigned slot3(std::uint32_t w) {
  return (w * kMul3) >> 30;
}

template <std::size_t N, std::size_t K>
constexpr std::array<std::uint32_t, N> makeTable(const char* const (&tails)[K], int length,
                                                 unsigned (*slot)(std::uint32_t)) {
  std::array<std::uint32_t, N> t{};  // 0 never equals a folded word (every byte has 0x20 set)
  for (const char* tail : tails) {
    const std::uint32_t w = pack(tail, length);
    if (t[slot(w)] != 0) {
      throw "two key tails share a hash slot: pick another multiplier";
    }
    t[slot(w)] = w;
  }
  return t;
}
constexpr const char* kTails4[] = {"word", "rase", "cret", "oken", "tial",
                                   "ials", "okie", "tion", "pass", "auth"};
constexpr const char* kTails3[] = {"key", "pwd", "swd"};
constexpr std::array<std::uint32_t, 16> kTable4 = makeTable<16>(kTails4, 4, slot4);
constexpr std::array<std::uint32_t, 4> kTable3 = makeTable<4>(kTails3, 3, slot3);

// `word`: the four bytes before the separator, the last one in the high byte.
[[gnu::always_inline]] inline bool matches(std::uint32_t word) {
  // ASCII letters fold to lower case; other bytes change too but then equal no tail.
  word |= 0x20202020u;
  const std::uint32_t last3 = word >> 8;
  return kTable4[slot4(word)] == word || kTable3[slot3(last3)] == last3;
}
}  // namespace key_tail

/// The cheap filter in front of checkSeparator(), inlined into the scan loop: looks only at the
/// last three or four letters of the key (case-folded) and says no to almost every key that
/// cannot end in a secret word (password, passwd, pwd, pass, passphrase, secret, token, key,
/// auth, authorization, credential(s), cookie).
[[gnu::always_inline]] inline bool separatorMayFollowSecretKey(const char* data, std::size_t sep) {
  if (sep < 3) {
    return false;
  }
  std::size_t end = sep;
  const char last = data[end - 1];
  if (static_cast<unsigned char>((last | 0x20) - 'a') >= 26) {
    // "key" : value, "key"=value, \"key\":value (JSON inside a JSON string).
    if (last != ' ' && last != '"' && last != '\'') {
      return false;
    }
    if (data[end - 1] == ' ') {
      --end;
    }
    if (end > 0 && (data[end - 1] == '"' || data[end - 1] == '\'')) {
      --end;
      if (end > 0 && data[end - 1] == '\\') {
        --end;
      }
    }
    if (end < 3) {
      return false;
    }
  }
  std::uint32_t word = 0;
  if (end >= 4) {
    std::memcpy(&word, data + end - 4, 4);
  } else {
    std::memcpy(reinterpret_cast<char*>(&word) + 1, data + end - 3, 3);
  }
  return key_tail::matches(word);
}

/// separatorMayFollowSecretKey() for the common case, the key's last byte right before the
/// separator at `sep_ptr` and at least four bytes before it.
[[gnu::always_inline]] inline bool keyTailMayBeSecret(const char* sep_ptr) {
  std::uint32_t word;
  std::memcpy(&word, sep_ptr - 4, 4);
  return key_tail::matches(word);
}

namespace run_head {
// True when each of the low `bytes` bytes of x is an ASCII digit. The +6 cannot carry between
// the bytes tested: the first test already bounds them to 0x30-0x3f.
[[gnu::always_inline]] inline bool digits(std::uint64_t x, unsigned bytes) {
  const std::uint64_t mask = bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
  constexpr std::uint64_t kHigh = 0xf0f0f0f0f0f0f0f0ull;
  constexpr std::uint64_t kThree = 0x3030303030303030ull;
  return (x & kHigh & mask) == (kThree & mask) &&
         ((x + 0x0606060606060606ull) & kHigh & mask) == (kThree & mask);
}
}  // namespace run_head

/// The cheap filter in front of checkLongRun(), inlined into the scan loop. `start` begins a run
/// of >= 13 token bytes, so data[start .. start+12] are readable.
[[gnu::always_inline]] inline bool longRunMayBeSecret(const char* data, std::size_t start) {
  const char* d = data + start;
  // "Bearer <token>": checked in full by the detector.
  if (start >= 7 && d[-1] == ' ' && (d[-7] | 0x20) == 'b') {
    return true;
  }
  switch (d[0]) {
    case 'e': return d[1] == 'y' && d[2] == 'J';                 // JWT
    case 'A': return d[1] >= 'A' && d[1] <= 'Z';                 // AKIA..., AIza...
    case 'g': return d[1] == 'h' || d[1] == 'i' || d[1] == 'l';  // ghp_, github_pat_, glpat-
    case 'x': return d[1] == 'o';                                // xoxb-
    case 's':
    case 'r': return d[1] == 'k';  // sk_live_, rk_live_, sk-...
    default: break;
  }
  if (d[0] < '0' || d[0] > '9') {
    return false;
  }
  // Cards: 13+ digits, or "dddd-dddd..." (a token run holds no spaces).
  std::uint64_t head = 0, next = 0;
  std::memcpy(&head, d, 8);
  std::memcpy(&next, d + 5, 8);
  if (!run_head::digits(head, 4)) {
    return false;
  }
  if (d[4] >= '0' && d[4] <= '9') {
    return run_head::digits(next, 8);
  }
  return d[4] == '-' && run_head::digits(next, 4);
}

}  // namespace faultline::redact
