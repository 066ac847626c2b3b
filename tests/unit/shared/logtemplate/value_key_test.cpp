// The fast-path key: blind to hex digits, sensitive to everything else, the same from the
// vectorized and the portable code, and refusing what cannot be templated.
#include "shared/logtemplate/value_key.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

using faultline::logtemplate::KeyCode;
using faultline::logtemplate::valueFreeKey;

namespace {
std::uint64_t keyOf(const std::string& line, KeyCode code = KeyCode::Best) {
  std::string scratch;
  std::uint64_t key = 0;
  REQUIRE(valueFreeKey(line, scratch, key, code));
  return key;
}
}  // namespace

TEST_CASE("value-free key: numbers and hex ids do not count, other bytes do") {
  CHECK(keyOf("took 12 ms, id=abc123") == keyOf("took 4567 ms, id=ff00ee99dd"));
  CHECK(keyOf("took 12 ms") != keyOf("took 12 us"));
  CHECK(keyOf("took 12 ms") != keyOf("took  12 ms"));
  CHECK(keyOf("user=bob") != keyOf("user=tom"));
}

TEST_CASE("value-free key: the vectorized and the portable code agree") {
  std::mt19937 rng(7);
  const std::string alphabet = "0123456789abcdefABCDEFxyzXYZ _-=:/.<>*\t\x80\xff";
  std::string scratch;
  for (int i = 0; i < 20000; ++i) {
    std::string line(rng() % 100, ' ');
    for (char& c : line) {
      c = alphabet[rng() % alphabet.size()];
    }
    std::uint64_t best = 0;
    std::uint64_t scalar = 0;
    const bool ok_best = valueFreeKey(line, scratch, best, KeyCode::Best);
    const bool ok_scalar = valueFreeKey(line, scratch, scalar, KeyCode::Scalar);
    CAPTURE(line);
    REQUIRE(ok_best == ok_scalar);
    if (ok_best) {
      REQUIRE(best == scalar);
    }
  }
}

TEST_CASE("value-free key: refuses '\\n' and a literal <*> anywhere") {
  std::string scratch;
  std::uint64_t key = 0;
  for (std::size_t at = 0; at < 40; ++at) {
    std::string line(40, 'x');
    line[at] = '\n';
    CHECK_FALSE(valueFreeKey(line, scratch, key));
    CHECK_FALSE(valueFreeKey(line, scratch, key, KeyCode::Scalar));
    if (at + 3 <= 40) {
      std::string hole(40, 'y');
      hole.replace(at, 3, "<*>");
      CHECK_FALSE(valueFreeKey(hole, scratch, key));
      CHECK_FALSE(valueFreeKey(hole, scratch, key, KeyCode::Scalar));
    }
  }
  CHECK(valueFreeKey("a <* b *> <> <", scratch, key));
  CHECK(valueFreeKey("", scratch, key));
}
