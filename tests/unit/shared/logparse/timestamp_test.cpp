// Timestamps: every built-in form to the exact nanosecond (expected values computed
// independently with Python's calendar.timegm), zones, fractions of 1..9+ digits, leap years,
// range limits and what must not be taken for a time.
#include "shared/logparse/timestamp.h"

#include <doctest/doctest.h>

#include <ctime>
#include <string>

#include "shared/logparse/parser.h"

using faultline::logparse::daysFromCivil;
using faultline::logparse::findTimestamp;
using faultline::logparse::parseBuiltinTimestamp;
using faultline::logparse::parseEpochNumber;
using faultline::logparse::parseLayoutTimestamp;
using faultline::logparse::ParserOptions;
using faultline::logparse::parseTimestampValue;
using faultline::logparse::TimeContext;
using faultline::logparse::validateTimeLayout;

namespace {

/// Parses `text` with the built-in forms (epoch allowed); returns ns and the consumed length.
std::int64_t builtin(std::string_view text, std::size_t* used = nullptr, TimeContext ctx = {}) {
  std::int64_t ns = 0;
  std::size_t n = parseBuiltinTimestamp(text, ctx, /*allow_epoch=*/true, &ns);
  if (used != nullptr) {
    *used = n;
  }
  return n == 0 ? -1 : ns;
}

TimeContext year2024() {
  TimeContext ctx;
  ctx.default_year = 2024;
  return ctx;
}

}  // namespace

TEST_CASE("timestamp: days from civil matches a day-by-day count, leap years included") {
  // Walk every day from 1678-01-01 to 2261-12-31 and compare with the closed formula.
  auto leap = [](int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; };
  std::int64_t day = daysFromCivil(1678, 1, 1);
  CHECK(day == -106650);
  for (int y = 1678; y <= 2261; ++y) {
    for (unsigned m = 1; m <= 12; ++m) {
      static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      unsigned days = kDays[m - 1] + (m == 2 && leap(y) ? 1 : 0);
      for (unsigned d = 1; d <= days; ++d) {
        REQUIRE(daysFromCivil(y, m, d) == day);
        ++day;
      }
    }
  }
  CHECK(daysFromCivil(1970, 1, 1) == 0);
}

TEST_CASE("timestamp: RFC 3339 forms to the nanosecond") {
  std::size_t used = 0;
  CHECK(builtin("2026-08-20T00:00:00.002Z DEBUG", &used) == 1787184000002000000);
  CHECK(used == 24);
  CHECK(builtin("2024-02-29T23:59:59.123456789+05:30", &used) == 1709231399123456789);
  CHECK(used == 35);
  CHECK(builtin("2000-10-10T13:55:36-07:00") == 971211336000000000);
  CHECK(builtin("2024-01-02T03:04:05-0830") == 1704195245000000000);
  CHECK(builtin("2024-01-02T03:04:05+01") == 1704164645000000000 - 3600'000000000);
  CHECK(builtin("2003-10-11T22:14:15.003Z") == 1065910455003000000);
  CHECK(builtin("1985-04-12T23:20:50.52Z") == 482196050520000000);
  CHECK(builtin("2023-01-29T08:48:42.425293566Z") == 1674982122425293566);
  CHECK(builtin("2024-01-02t03:04:05z") == 1704164645000000000);
  // Space separator, comma fraction (log4j / Python logging), no zone = default offset (UTC).
  CHECK(builtin("2015-10-18 18:01:47,978 INFO [main]", &used) == 1445191307978000000);
  CHECK(used == 23);
  CHECK(builtin("2017-05-16 00:00:00.008 25746 INFO") == 1494892800008000000);
  // Zone after one space: "+hhmm" and UTC/GMT words.
  CHECK(builtin("2024-01-02 03:04:05 +0100 x", &used) == 1704164645000000000 - 3600'000000000);
  CHECK(used == 25);
  CHECK(builtin("2024-01-02 03:04:05 -08:00", &used) == 1704164645000000000 + 8 * 3600'000000000);
  CHECK(used == 26);
  CHECK(builtin("2024-01-02 03:04:05 -08 items", &used) == 1704164645000000000);
  CHECK(used == 19);
  CHECK(builtin("2024-01-02 03:04:05 UTC", &used) == 1704164645000000000);
  CHECK(used == 23);
  // " - message" after the time is not a zone.
  CHECK(builtin("2024-01-02 03:04:05 - message", &used) == 1704164645000000000);
  CHECK(used == 19);
  // Leap second, kept as the next second like timegm.
  CHECK(builtin("2024-12-31T23:59:60Z") == 1735689600000000000);
}

TEST_CASE("timestamp: fractions of 1 to 9 digits and beyond are exact") {
  const std::pair<const char*, std::int64_t> cases[] = {
      {"2024-01-02T03:04:05.1Z", 100000000},
      {"2024-01-02T03:04:05.12Z", 120000000},
      {"2024-01-02T03:04:05.123Z", 123000000},
      {"2024-01-02T03:04:05.1234Z", 123400000},
      {"2024-01-02T03:04:05.12345Z", 123450000},
      {"2024-01-02T03:04:05.123456Z", 123456000},
      {"2024-01-02T03:04:05.1234567Z", 123456700},
      {"2024-01-02T03:04:05.12345678Z", 123456780},
      {"2024-01-02T03:04:05.123456789Z", 123456789},
      {"2024-01-02T03:04:05.123456789987Z", 123456789},  // beyond ns: truncated, consumed
      {"2024-01-02T03:04:05.000000001Z", 1},
  };
  for (const auto& entry : cases) {
    const char* text = entry.first;
    CAPTURE(text);
    std::size_t used = 0;
    CHECK(builtin(text, &used) == 1704164645000000000 + entry.second);
    CHECK(used == std::string_view(text).size());
  }
  // A dot without digits is not a fraction.
  std::size_t used = 0;
  CHECK(builtin("2024-01-02T03:04:05. next", &used) == 1704164645000000000);
  CHECK(used == 19);
}

TEST_CASE("timestamp: other built-in layouts") {
  std::size_t used = 0;
  CHECK(builtin("10/Oct/2000:13:55:36 -0700] \"GET", &used) == 971211336000000000);
  CHECK(used == 26);
  CHECK(builtin("2/Jan/2024:03:04:05 +0000") == 1704164645000000000);
  CHECK(builtin("2024/01/02 03:04:05 [error]", &used) == 1704164645000000000);
  CHECK(used == 19);
  CHECK(builtin("20240102T030405Z", &used) == 1704164645000000000);
  CHECK(used == 16);
  CHECK(builtin("20240102T030405.25+0100") == 1704164645250000000 - 3600'000000000);
  CHECK(builtin("Wed Oct 11 14:32:52.123456 2000] [core:error]", &used) == 971274772123456000);
  CHECK(used == 31);
  CHECK(builtin("Sun Dec 04 04:47:44 2005") == 1133671664000000000);
  // syslog, year from the context; space-padded and two-digit days; optional year after.
  CHECK(builtin("Jan  2 03:04:05 host", &used, year2024()) == 1704164645000000000);
  CHECK(used == 15);
  CHECK(builtin("Feb 29 12:00:00 host", nullptr, year2024()) == 1709208000000000000);
  CHECK(builtin("Jun 14 15:16:01 2005 combo", &used, year2024()) == 1118762161000000000);
  CHECK(used == 20);
  CHECK(builtin("Jan  2 03:04:05.123456 host", nullptr, year2024()) == 1704164645123456000);
}

TEST_CASE("timestamp: default offset applies only to zone-less times") {
  TimeContext ctx;
  ctx.default_utc_offset_s = -5 * 3600;  // US Eastern standard time
  CHECK(builtin("2024-01-02 03:04:05", nullptr, ctx) == 1704164645000000000 + 5 * 3600'000000000);
  CHECK(builtin("2024-01-02T03:04:05Z", nullptr, ctx) == 1704164645000000000);
  CHECK(builtin("2024-01-02T03:04:05+00:00", nullptr, ctx) == 1704164645000000000);
}

TEST_CASE("timestamp: year-less syslog dates use the current year, or the last one") {
  // December read in January must not land eleven months in the future.
  TimeContext ctx;  // default_year 0 = from the clock
  std::int64_t ns = 0;
  REQUIRE(parseBuiltinTimestamp("Jan  1 00:00:00", ctx, false, &ns) > 0);
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr)) * 1'000'000'000;
  CHECK(ns <= now + 40LL * 86400 * 1'000'000'000);
  CHECK(ns > now - 400LL * 86400 * 1'000'000'000);
  REQUIRE(parseBuiltinTimestamp("Dec 31 23:59:59", ctx, false, &ns) > 0);
  CHECK(ns <= now + 40LL * 86400 * 1'000'000'000);
  CHECK(ns > now - 400LL * 86400 * 1'000'000'000);
}

TEST_CASE("timestamp: invalid dates and out-of-range years are refused") {
  const char* bad[] = {
      "2023-02-29T00:00:00Z",  // not a leap year
      "1900-02-29T00:00:00Z",  // century, not a leap year
      "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z",
      "2024-04-31T00:00:00Z", "2024-01-02T24:00:00Z",
      "2024-01-02T23:60:00Z", "2024-01-02T23:59:61Z",
      "1677-12-31T23:59:59Z",  // before the int64 ns range
      "2262-01-01T00:00:00Z",  // after it
      "2024-01-02X03:04:05Z", "2024-01-0203:04:05",
      "2024-1-02T03:04:05Z",  "2024-01-02T03:04",
      "Foo  2 03:04:05",      "32/Oct/2000:13:55:36 -0700",
      "10/Oct/2000 13:55:36", "",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK(builtin(text) == -1);
  }
  CHECK(builtin("2000-02-29T00:00:00Z") == 951782400000000000);  // 400-year leap
  CHECK(builtin("1678-01-01T00:00:00Z") == -9214560000000000000);
  CHECK(builtin("2261-12-31T23:59:59.999999999Z") == 9214646399999999999);
  // An offset of 24 hours or 60 minutes is not an offset; the time stands without it.
  std::size_t used = 0;
  CHECK(builtin("2024-01-02T03:04:05+24:00", &used) == 1704164645000000000);
  CHECK(used == 19);
}

TEST_CASE("timestamp: epoch tokens only as whole 10/13/16/19-digit tokens") {
  std::size_t used = 0;
  CHECK(builtin("1700000000 msg", &used) == 1700000000000000000);
  CHECK(used == 10);
  CHECK(builtin("1700000000.5 msg", &used) == 1700000000500000000);
  CHECK(used == 12);
  CHECK(builtin("1700000000123 msg") == 1700000000123000000);
  CHECK(builtin("1700000000123456 msg") == 1700000000123456000);
  CHECK(builtin("1700000000123456789 msg") == 1700000000123456789);
  CHECK(builtin("1700000000123456789") == 1700000000123456789);
  CHECK(builtin("17000000001 msg") == -1);      // 11 digits
  CHECK(builtin("170000000 msg") == -1);        // 9 digits
  CHECK(builtin("1700000000abc") == -1);        // not a whole token
  CHECK(builtin("9999999999999999999") == -1);  // beyond int64 ns
  std::int64_t ns = 0;
  CHECK(parseBuiltinTimestamp("1700000000 msg", {}, /*allow_epoch=*/false, &ns) == 0);
}

TEST_CASE("timestamp: epoch numbers by magnitude, exact fractions") {
  std::int64_t ns = 0;
  REQUIRE(parseEpochNumber("1700000000", &ns));
  CHECK(ns == 1700000000000000000);
  REQUIRE(parseEpochNumber("1700000000.123456789", &ns));
  CHECK(ns == 1700000000123456789);
  REQUIRE(parseEpochNumber("1700000000.1234567891", &ns));  // sub-ns digits dropped
  CHECK(ns == 1700000000123456789);
  REQUIRE(parseEpochNumber("1700000000123", &ns));
  CHECK(ns == 1700000000123000000);
  REQUIRE(parseEpochNumber("1700000000123.5", &ns));
  CHECK(ns == 1700000000123500000);
  REQUIRE(parseEpochNumber("1700000000123456", &ns));
  CHECK(ns == 1700000000123456000);
  REQUIRE(parseEpochNumber("1700000000123456789", &ns));
  CHECK(ns == 1700000000123456789);
  REQUIRE(parseEpochNumber("0", &ns));
  CHECK(ns == 0);
  REQUIRE(parseEpochNumber("1.5", &ns));
  CHECK(ns == 1500000000);
  CHECK_FALSE(parseEpochNumber("-1", &ns));
  CHECK_FALSE(parseEpochNumber("1.7e9", &ns));
  CHECK_FALSE(parseEpochNumber("1700000000.", &ns));
  CHECK_FALSE(parseEpochNumber("", &ns));
  CHECK_FALSE(parseEpochNumber("12345678901234567890", &ns));
  CHECK_FALSE(parseEpochNumber("9223372036854775808", &ns));
  REQUIRE(parseEpochNumber("9223372036854775807", &ns));
  CHECK(ns == INT64_MAX);
}

TEST_CASE("timestamp: values expected to be times (JSON keys, regex groups)") {
  std::int64_t ns = 0;
  REQUIRE(parseTimestampValue("2024-01-02T03:04:05Z", {}, &ns));
  CHECK(ns == 1704164645000000000);
  REQUIRE(parseTimestampValue("1704164645", {}, &ns));
  CHECK(ns == 1704164645000000000);
  REQUIRE(parseTimestampValue("1704164645.25", {}, &ns));  // zap's float seconds
  CHECK(ns == 1704164645250000000);
  REQUIRE(parseTimestampValue("1704164645000", {}, &ns));  // pino's ms
  CHECK(ns == 1704164645000000000);
  CHECK_FALSE(parseTimestampValue("yesterday", {}, &ns));
  CHECK_FALSE(parseTimestampValue("", {}, &ns));
}

TEST_CASE("timestamp: configured layouts") {
  TimeContext ctx;
  std::int64_t ns = 0;
  CHECK(parseLayoutTimestamp("02.01.2024 03:04:05,250 rest", "%d.%m.%Y %H:%M:%S,%f", ctx, &ns) ==
        23);
  CHECK(ns == 1704164645250000000);
  CHECK(parseLayoutTimestamp("17/06/09 20:10:40 INFO", "%y/%m/%d %T", ctx, &ns) == 17);
  CHECK(ns == 1497039040000000000);
  CHECK(parseLayoutTimestamp("January 2 2024 03:04:05 +0100", "%b %e %Y %T %z", ctx, &ns) == 29);
  CHECK(ns == 1704164645000000000 - 3600'000000000);
  CHECK(parseLayoutTimestamp("Jan  2 2024 03:04:05Z", "%b %e %Y %T%z", ctx, &ns) == 21);
  CHECK(ns == 1704164645000000000);
  CHECK(parseLayoutTimestamp("@1704164645.5", "@%s.%f", ctx, &ns) == 13);
  CHECK(ns == 1704164645500000000);
  CHECK(parseLayoutTimestamp("100% 2024", "100%% %Y", ctx, &ns) == 9);
  CHECK(parseLayoutTimestamp("2024-01-02", "%Y-%m-%d %H", ctx, &ns) == 0);
  CHECK(parseLayoutTimestamp("2024-02-30", "%Y-%m-%d", ctx, &ns) == 0);
  CHECK(parseLayoutTimestamp("99999999999", "%s", ctx, &ns) == 0);  // overflows ns
  CHECK(validateTimeLayout("%Y-%m-%dT%H:%M:%S.%f%z").isOk());
  CHECK_FALSE(validateTimeLayout("%Y-%q").isOk());
  CHECK_FALSE(validateTimeLayout("%Y%").isOk());
  CHECK_FALSE(validateTimeLayout("").isOk());
}

TEST_CASE("findTimestamp: at or near the start, never deep in the text") {
  ParserOptions options;
  std::size_t consumed = 0;
  CHECK(findTimestamp("2026-08-20T00:00:00.002Z DEBUG [inventory]", options, &consumed) ==
        1787184000002000000);
  CHECK(consumed == 24);
  CHECK(findTimestamp("[2024-01-02 03:04:05] local.ERROR: boom", options, &consumed) ==
        1704164645000000000);
  CHECK(consumed == 20);  // offset past the timestamp
  CHECK(findTimestamp("nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO",
                      options, &consumed) == 1494892800008000000);
  CHECK(consumed == 58);
  CHECK(findTimestamp("time=\"2024-01-02T03:04:05Z\" level=info", options) == 1704164645000000000);
  // Epoch digits only as the first token; other numbers in text are not times.
  CHECK(findTimestamp("1704164645 started", options) == 1704164645000000000);
  CHECK(findTimestamp("processed 1704164645 records", options, &consumed) == 0);
  CHECK(consumed == 0);
  // Beyond the first 64 bytes nothing is looked for.
  std::string late(70, 'x');
  late += " 2024-01-02T03:04:05Z";
  CHECK(findTimestamp(late, options) == 0);
  CHECK(findTimestamp("", options) == 0);
  options.time_formats = {"%d.%m.%Y %H:%M:%S"};
  CHECK(findTimestamp("02.01.2024 03:04:05 msg", options, &consumed) == 1704164645000000000);
  CHECK(consumed == 19);
}
