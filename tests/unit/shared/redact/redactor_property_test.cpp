// Property: in random log lines with planted secrets of every kind, no byte run of a planted
// secret survives, redaction is idempotent and every SIMD level agrees. Also replays the fuzz
// corpus and regressions through the fuzz target's invariants.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "shared/redact/block_scanner.h"
#include "shared/redact/redactor.h"
#include "tests/fuzz/redact_fuzz_driver.h"

using namespace faultline::redact;

namespace {

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
  std::string from(std::string_view alphabet, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      s += alphabet[below(alphabet.size())];
    }
    return s;
  }
  std::string alnum(std::size_t n) {
    return from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n);
  }
  std::string b64url(std::size_t n) {
    return from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", n);
  }
  std::string hex(std::size_t n) { return from("0123456789abcdef", n); }
  std::string digits(std::size_t n) { return from("0123456789", n); }

  // A Luhn-valid number for a random issuer, in one run, spaced or dashed groups.
  std::string card() {
    static const std::pair<std::string_view, std::size_t> kIssuers[] = {
        {"4", 16},    {"51", 16}, {"55", 16},   {"2221", 16}, {"34", 15}, {"37", 15},
        {"6011", 16}, {"65", 16}, {"3530", 16}, {"4", 13},    {"4", 19}};
    const auto& [prefix, length] = kIssuers[below(std::size(kIssuers))];
    std::string d = std::string(prefix) + digits(length - prefix.size() - 1);
    int sum = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
      int v = d[d.size() - 1 - i] - '0';
      if (i % 2 == 0) {
        v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      }
      sum += v;
    }
    d += static_cast<char>('0' + (10 - sum % 10) % 10);
    const std::size_t style = below(3);
    if (style == 0 || length != 16) {
      return d;
    }
    const char sep = style == 1 ? ' ' : '-';
    return d.substr(0, 4) + sep + d.substr(4, 4) + sep + d.substr(8, 4) + sep + d.substr(12);
  }

  // Ordinary log fields: many look like secrets to a careless detector.
  std::string filler() {
    switch (below(12)) {
      case 0: return "2026-08-20T12:34:" + digits(2) + "." + digits(3) + "Z";
      case 1: return "trace_id=" + hex(32);
      case 2:
        return "session=" + hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12);
      case 3:
        return "client_ip=" + std::to_string(below(256)) + ".10.2." + std::to_string(below(256));
      case 4: return "key=product:" + digits(6);
      case 5: return "token_count=" + digits(2);
      case 6: return "id=1" + digits(15);  // no card issuer starts with 1
      case 7: return "status=200";
      case 8: return "{\"msg\":\"cart updated\",\"latency_ms\":" + digits(3) + "}";
      case 9: return "[" + std::string(below(2) ? "INFO" : "WARN") + "]";
      case 10: return "path=/api/v1/orders/" + digits(7);
      default: return "conn_id=" + hex(16);
    }
  }

  struct Planted {
    std::string text;    // what goes into the line
    std::string secret;  // the bytes that must not survive
  };

  Planted secret() {
    static const char* kKeys[] = {"password", "db_password", "PGPASSWORD",   "client_secret",
                                  "api_key",  "X-Api-Key",   "access_token", "auth",
                                  "passwd",   "secret_key"};
    const std::string value = "Pw" + alnum(12);
    switch (below(14)) {
      case 0: return {std::string(kKeys[below(std::size(kKeys))]) + "=" + value, value};
      case 1:
        return {"\"" + std::string(kKeys[below(std::size(kKeys))]) + "\":\"" + value + "\"", value};
      case 2: return {std::string(kKeys[below(std::size(kKeys))]) + ": " + value, value};
      case 3: {
        const std::string t =
            from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/", 24);
        return {"Authorization: Bearer " + t, t};
      }
      case 4: {
        const std::string t = "eyJ" + b64url(30) + "." + b64url(40) + "." + b64url(43);
        return {t, t};
      }
      case 5: {
        const std::string t = "AKIA" + from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
        return {t, t};
      }
      case 6: {
        const std::string t = "AIza" + b64url(35);
        return {t, t};
      }
      case 7: {
        const std::string t = "ghp_" + alnum(36);
        return {t, t};
      }
      case 8: {
        const std::string t = "xoxb-" + digits(10) + "-" + alnum(24);
        return {t, t};
      }
      case 9: {
        const std::string t = "sk_live_" + alnum(24);
        return {t, t};
      }
      case 10: return {"https://app:" + value + "@db.example.com/x", value};
      case 11: {
        const std::string t = "u" + alnum(8) + "@mail" + alnum(4) + ".example.com";
        return {"to=" + t, t};
      }
      case 12: {
        const std::string t = card();
        return {"card " + t, t};
      }
      default: {
        const std::string t = "-----BEGIN PRIVATE KEY-----\n" + alnum(40) + "\n" + alnum(30) +
                              "==\n-----END PRIVATE KEY-----";
        return {t, t};
      }
    }
  }

 private:
  std::mt19937_64 rng_;
};

std::vector<std::unique_ptr<Redactor>> allLevels() {
  std::vector<std::unique_ptr<Redactor>> out;
  for (SimdLevel l : kAllSimdLevels) {
    if (simdLevelSupported(l)) {
      auto r = createRedactorWithSimd({}, l);
      REQUIRE(r.isOk());
      out.push_back(std::move(r).value());
    }
  }
  return out;
}

std::vector<std::string> filesUnder(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) {
    return out;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

}  // namespace

TEST_CASE("redact: planted secrets never survive in random lines") {
  const auto redactors = allLevels();
  Gen gen(20261126);
  int redacted_lines = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<Gen::Planted> planted;
    std::string line;
    const std::size_t fields = 2 + gen.below(12);
    for (std::size_t i = 0; i < fields; ++i) {
      if (!line.empty()) {
        line += ' ';
      }
      if (gen.below(4) == 0) {
        planted.push_back(gen.secret());
        line += planted.back().text;
      } else {
        line += gen.filler();
      }
    }
    CAPTURE(line);
    std::string reference;
    for (std::size_t k = 0; k < redactors.size(); ++k) {
      std::string out;
      RedactStats stats;
      const bool found = redactors[k]->redact(line, out, stats);
      if (!found) {
        out = line;
      }
      CHECK(found == !planted.empty());
      for (const auto& p : planted) {
        CAPTURE(p.secret);
        CHECK(out.find(p.secret) == std::string::npos);
      }
      std::string again;
      CHECK_FALSE(redactors[k]->redact(out, again, stats));
      if (k == 0) {
        reference = out;
        redacted_lines += found ? 1 : 0;
      } else {
        CHECK(out == reference);
      }
    }
  }
  CHECK(redacted_lines > 10000);
}

TEST_CASE("redact: fuzz corpus and regressions still hold the fuzz invariants") {
  const std::filesystem::path root = FAULTLINE_FUZZ_DIR;
  std::size_t replayed = 0;
  for (const char* dir : {"corpus/redact", "regressions/redact"}) {
    for (const std::string& input : filesUnder(root / dir)) {
      CAPTURE(input);
      CHECK(fuzz::checkInvariants(input) == "");
      ++replayed;
    }
  }
  CHECK(replayed > 0);
}
