#pragma once

// Timestamp recognition for the line parsers. Pure date arithmetic (days-from-civil), no libc
// time-zone calls: fast, allocation-free and thread-safe. Times without a zone are taken to be
// at TimeContext::default_utc_offset_s; years outside 1678..2261 (the int64 nanosecond range)
// are refused.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::logparse {

/// Days since 1970-01-01 of the proleptic Gregorian date y-m-d (Howard Hinnant's algorithm).
constexpr std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr bool isLeapYear(std::int64_t y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/// What timestamp parsing needs from ParserOptions.
struct TimeContext {
  /// Year for forms without one; 0 = the current year, or the previous one when the month lies
  /// more than a month ahead (December lines read in January).
  int default_year = 0;
  int default_utc_offset_s = 0;
  /// ParserOptions::time_formats, tried before the built-in forms; may be null.
  const std::vector<std::string>* layouts = nullptr;
};

/// Calendar fields of a timestamp being assembled by one of the parsers below.
struct TimeFields {
  int year = 0;  // 0 = not given
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;
  int second = 0;
  std::int64_t nanos = 0;
  bool has_zone = false;
  int offset_s = 0;  // east of UTC, when has_zone
};

/// Converts fields to unix ns. False when a field is out of range (Feb 30, hour 24...) or the
/// year is outside 1678..2261.
bool fieldsToUnixNanos(const TimeFields& fields, const TimeContext& ctx, std::int64_t* ns);

/// The built-in forms at the very start of `text`: RFC 3339 / ISO 8601 ("T" or space, "." or ","
/// fraction of any length, "Z", "+hh:mm", "+hhmm", "+hh", " +hhmm", " UTC"), "2024/01/02
/// 03:04:05", basic "20240102T030405Z", syslog "Jan  2 03:04:05[.ffffff][ 2024]", ctime/apache
/// "Wed Oct 11 14:32:52[.123456] 2000", common-log "10/Oct/2000:13:55:36 -0700" and, when
/// allow_epoch, an epoch token of exactly 10 (s, optional ".fraction"), 13 (ms), 16 (us) or 19
/// (ns) digits. Returns the bytes consumed, 0 when none matched.
std::size_t parseBuiltinTimestamp(std::string_view text, const TimeContext& ctx, bool allow_epoch,
                                  std::int64_t* ns);

/// One strftime-like layout at the start of `text` (%Y %y %m %d %e %H %M %S %T %f %b %z %s %%;
/// a space matches one or more blanks). Returns the bytes consumed, 0 when it does not match.
std::size_t parseLayoutTimestamp(std::string_view text, std::string_view layout,
                                 const TimeContext& ctx, std::int64_t* ns);

/// ctx.layouts first, then the built-in forms, at the start of `text`.
std::size_t parseTimestampPrefix(std::string_view text, const TimeContext& ctx, bool allow_epoch,
                                 std::int64_t* ns);

/// A value that is known to hold a time (JSON time key, regex "time" group): an epoch number of
/// any magnitude (see parseEpochNumber), or a timestamp at its start as parseTimestampPrefix.
bool parseTimestampValue(std::string_view value, const TimeContext& ctx, std::int64_t* ns);

/// "1700000000", "1700000000.123", "1700000000123" (JSON numbers included): the unit follows
/// the number of integer digits: up to 11 seconds, up to 14 ms, up to 17 us, else ns; the
/// fraction is kept exactly down to the nanosecond. False for anything else (signs, exponents).
bool parseEpochNumber(std::string_view value, std::int64_t* ns);

/// Checks a ParserOptions::time_formats entry: non-empty, only the specifiers listed above.
Status validateTimeLayout(std::string_view layout);

}  // namespace faultline::logparse
