#include "shared/util/time.h"

#include <doctest/doctest.h>

using namespace faultline;

TEST_CASE("parseTimestamp reads RFC 3339, dates and Unix seconds") {
  CHECK(*parseTimestamp("1970-01-01T00:00:00Z") == 0);
  CHECK(*parseTimestamp("2026-11-26T12:00:00Z") == 1795694400LL * 1'000'000'000);
  CHECK(*parseTimestamp("2026-11-26T13:00:00+01:00") == 1795694400LL * 1'000'000'000);
  CHECK(*parseTimestamp("2026-11-26T12:00:00.5Z") == 1795694400LL * 1'000'000'000 + 500'000'000);
  CHECK(*parseTimestamp("2026-11-26") == 1795651200LL * 1'000'000'000);
  CHECK(*parseTimestamp("1795694400") == 1795694400LL * 1'000'000'000);
  CHECK_FALSE(parseTimestamp("").isOk());
  CHECK_FALSE(parseTimestamp("2026-13-01").isOk());
  CHECK_FALSE(parseTimestamp("2026-11-26T12:00:00").isOk());  // no zone
  CHECK_FALSE(parseTimestamp("yesterday").isOk());
}

TEST_CASE("parseTimestamp refuses times int64 nanoseconds cannot hold instead of wrapping") {
  CHECK(parseTimestamp("2262-04-11T00:00:00Z").isOk());
  CHECK(parseTimestamp("2263-01-01T00:00:00Z").code() == Errc::InvalidArgument);
  CHECK(parseTimestamp("4050-01-01T00:00:00Z").code() == Errc::InvalidArgument);
  CHECK(parseTimestamp("1600-01-01T00:00:00Z").code() == Errc::InvalidArgument);
  CHECK(parseTimestamp("1700-01-01T00:00:00Z").isOk());
}

TEST_CASE("formatRfc3339 round-trips through parseTimestamp") {
  std::int64_t t = 1795694400LL * 1'000'000'000 + 123'456'789;
  CHECK(formatRfc3339Nanos(t) == "2026-11-26T12:00:00.123456789Z");
  CHECK(*parseTimestamp(formatRfc3339Nanos(t)) == t);
  CHECK(formatRfc3339Millis(t) == "2026-11-26T12:00:00.123Z");
}

TEST_CASE("parseDuration and parseByteSize") {
  CHECK(parseDuration("500ms")->count() == 500'000'000);
  CHECK(parseDuration("1h30m")->count() == 5'400'000'000'000);
  CHECK(parseDuration("7d")->count() == 7LL * 86'400'000'000'000);
  CHECK_FALSE(parseDuration("0s").isOk());
  CHECK_FALSE(parseDuration("10").isOk());
  CHECK_FALSE(parseDuration("-5s").isOk());
  CHECK_FALSE(parseDuration("5 weeks").isOk());
  CHECK(*parseByteSize("64MiB") == 64ULL << 20);
  CHECK(*parseByteSize("4096") == 4096);
  CHECK(*parseByteSize("10MB") == 10'000'000);
  CHECK_FALSE(parseByteSize("lots").isOk());
  CHECK_FALSE(parseByteSize("99999999999999999999GiB").isOk());
}
