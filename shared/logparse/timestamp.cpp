#include "shared/logparse/timestamp.h"

#include <ctime>

#include "shared/logparse/text_util.h"

namespace faultline::logparse {
namespace {

using text::digitsAt;
using text::isDigit;

constexpr int kMinYear = 1678;  // int64 nanoseconds cover 1677-09-21 .. 2262-04-11
constexpr int kMaxYear = 2261;
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

constexpr int daysInMonth(int year, int month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && isLeapYear(year) ? 29 : kDays[month - 1];
}

/// 1..12 for a three-letter English month abbreviation (any case), 0 otherwise.
int monthFromAbbrev(std::string_view text, std::size_t pos) {
  if (text.size() < pos + 3) {
    return 0;
  }
  char a = text::toLower(text[pos]);
  char b = text::toLower(text[pos + 1]);
  char c = text::toLower(text[pos + 2]);
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  for (int i = 0; i < 12; ++i) {
    if (kMonths[i][0] == a && kMonths[i][1] == b && kMonths[i][2] == c) {
      return i + 1;
    }
  }
  return 0;
}

bool isWeekdayAbbrev(std::string_view text, std::size_t pos) {
  if (text.size() < pos + 3) {
    return false;
  }
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (std::string_view day : kDays) {
    if (text::toLower(text[pos]) == day[0] && text::toLower(text[pos + 1]) == day[1] &&
        text::toLower(text[pos + 2]) == day[2]) {
      return true;
    }
  }
  return false;
}

/// Current year and month (UTC) from the wall clock, for year-less timestamps.
void currentYearMonth(int* year, int* month) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);  // a year needs no precision; this is cheaper
  // civil_from_days (Howard Hinnant), inverse of daysFromCivil.
  std::int64_t z = now.tv_sec / 86400 + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
  *month = static_cast<int>(m);
}

/// Two digits at p (the caller checked the length); -1 when either is not a digit.
inline int twoDigits(const char* p) {
  auto a = static_cast<unsigned>(p[0] - '0');
  auto b = static_cast<unsigned>(p[1] - '0');
  return a > 9 || b > 9 ? -1 : static_cast<int>(a * 10 + b);
}

/// "HH:MM:SS" at pos; returns false when malformed.
bool parseClock(std::string_view t, std::size_t pos, TimeFields* f) {
  if (t.size() < pos + 8) {
    return false;
  }
  const char* p = t.data() + pos;
  f->hour = twoDigits(p);
  f->minute = twoDigits(p + 3);
  f->second = twoDigits(p + 6);
  return (f->hour | f->minute | f->second) >= 0 && p[2] == ':' && p[5] == ':';
}

/// Digits at pos as a fraction of a second; digits beyond the ninth are consumed and dropped.
std::size_t parseFractionDigits(std::string_view t, std::size_t pos, std::int64_t* nanos) {
  static constexpr std::int64_t kScale[] = {1000000000, 100000000, 10000000, 1000000, 100000,
                                            10000,      1000,      100,      10,      1};
  std::size_t i = pos;
  std::int64_t value = 0;
  std::size_t end = t.size() - pos > 9 ? pos + 9 : t.size();
  while (i < end && isDigit(t[i])) {
    value = value * 10 + (t[i] - '0');
    ++i;
  }
  *nanos = value * kScale[i - pos];
  while (i < t.size() && isDigit(t[i])) {
    ++i;
  }
  return i - pos;
}

/// Optional "." or "," fraction at pos; returns the bytes consumed.
std::size_t parseOptionalFraction(std::string_view t, std::size_t pos, TimeFields* f) {
  if (pos + 1 < t.size() && (t[pos] == '.' || t[pos] == ',') && isDigit(t[pos + 1])) {
    return 1 + parseFractionDigits(t, pos + 1, &f->nanos);
  }
  return 0;
}

/// "+hh:mm", "+hhmm", "+hh" (or '-') at pos. Returns the bytes consumed, 0 when none.
std::size_t parseNumericOffset(std::string_view t, std::size_t pos, TimeFields* f) {
  if (pos >= t.size() || (t[pos] != '+' && t[pos] != '-')) {
    return 0;
  }
  int hours = digitsAt(t, pos + 1, 2);
  if (hours < 0 || hours > 23) {
    return 0;
  }
  std::size_t used = 3;
  int minutes = 0;
  if (pos + 3 < t.size() && t[pos + 3] == ':') {
    minutes = digitsAt(t, pos + 4, 2);
    if (minutes < 0) {
      return 0;
    }
    used = 6;
  } else if (int m = digitsAt(t, pos + 3, 2); m >= 0) {
    minutes = m;
    used = 5;
  }
  if (minutes > 59 || (pos + used < t.size() && isDigit(t[pos + used]))) {
    return 0;
  }
  int offset = hours * 3600 + minutes * 60;
  f->offset_s = t[pos] == '-' ? -offset : offset;
  f->has_zone = true;
  return used;
}

/// A zone designator right after a time: "Z", a numeric offset, or " +hhmm" / " UTC" / " GMT"
/// after one space. Returns the bytes consumed (0 when there is none).
std::size_t parseZone(std::string_view t, std::size_t pos, TimeFields* f) {
  if (pos >= t.size()) {
    return 0;
  }
  char c = t[pos];
  if (c == 'Z' || c == 'z') {
    f->has_zone = true;
    f->offset_s = 0;
    return 1;
  }
  if (c == '+' || c == '-') {
    return parseNumericOffset(t, pos, f);
  }
  if (c == ' ' && pos + 1 < t.size()) {
    char d = t[pos + 1];
    if ((d == '+' || d == '-') && pos + 5 < t.size()) {
      // Only the unambiguous "+hhmm" / "+hh:mm" after a space, not "+hh" ("- 12 items").
      std::size_t used = parseNumericOffset(t, pos + 1, f);
      if (used < 5) {
        f->has_zone = false;
        f->offset_s = 0;
        return 0;
      }
      return used + 1;
    }
    if ((d == 'U' || d == 'G') && pos + 4 <= t.size()) {
      std::string_view word = t.substr(pos + 1, 3);
      bool ends = pos + 4 == t.size() || !text::isAlnum(t[pos + 4]);
      if ((word == "UTC" || word == "GMT") && ends) {
        f->has_zone = true;
        f->offset_s = 0;
        return 4;
      }
    }
  }
  return 0;
}

/// "YYYY-MM-DD[T ]HH:MM:SS[.f][zone]" and "YYYY/MM/DD HH:MM:SS".
std::size_t parseIsoLike(std::string_view t, const TimeContext& ctx, std::int64_t* ns) {
  if (t.size() < 19) {
    return 0;
  }
  char sep = t[4];
  TimeFields f;
  const char* p = t.data();
  int century = twoDigits(p);
  int year = twoDigits(p + 2);
  f.year = (century | year) < 0 ? -1 : century * 100 + year;
  f.month = twoDigits(p + 5);
  f.day = twoDigits(p + 8);
  char mid = t[10];
  if ((f.year | f.month | f.day) < 0 || t[7] != sep ||
      !(mid == 'T' || mid == ' ' || (mid == 't' && sep == '-')) || !parseClock(t, 11, &f)) {
    return 0;
  }
  std::size_t pos = 19;
  pos += parseOptionalFraction(t, pos, &f);
  pos += parseZone(t, pos, &f);
  return fieldsToUnixNanos(f, ctx, ns) ? pos : 0;
}

/// Basic ISO 8601: "20240102T030405[.f][Z|+hhmm]".
std::size_t parseIsoBasic(std::string_view t, const TimeContext& ctx, std::int64_t* ns) {
  if (t.size() < 15 || (t[8] != 'T' && t[8] != 't')) {
    return 0;
  }
  TimeFields f;
  f.year = digitsAt(t, 0, 4);
  f.month = digitsAt(t, 4, 2);
  f.day = digitsAt(t, 6, 2);
  f.hour = digitsAt(t, 9, 2);
  f.minute = digitsAt(t, 11, 2);
  f.second = digitsAt(t, 13, 2);
  if (f.year < 0 || f.month < 0 || f.day < 0 || f.hour < 0 || f.minute < 0 || f.second < 0) {
    return 0;
  }
  std::size_t pos = 15;
  pos += parseOptionalFraction(t, pos, &f);
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z' || t[pos] == '+' || t[pos] == '-')) {
    pos += parseZone(t, pos, &f);
  }
  if (pos < t.size() && text::isAlnum(t[pos])) {
    return 0;
  }
  return fieldsToUnixNanos(f, ctx, ns) ? pos : 0;
}

/// Common log format: "10/Oct/2000:13:55:36 -0700" (zone optional).
std::size_t parseCommonLog(std::string_view t, const TimeContext& ctx, std::int64_t* ns) {
  std::size_t day_len = t.size() > 1 && t[1] == '/' ? 1 : 2;
  TimeFields f;
  f.day = digitsAt(t, 0, day_len);
  std::size_t pos = day_len;
  if (f.day < 0 || t.size() < pos + 18 || t[pos] != '/' || t[pos + 4] != '/' || t[pos + 9] != ':') {
    return 0;
  }
  f.month = monthFromAbbrev(t, pos + 1);
  f.year = digitsAt(t, pos + 5, 4);
  if (f.month == 0 || f.year < 0 || !parseClock(t, pos + 10, &f)) {
    return 0;
  }
  pos += 18;
  pos += parseOptionalFraction(t, pos, &f);
  if (pos + 5 < t.size() && t[pos] == ' ') {
    std::size_t used = parseNumericOffset(t, pos + 1, &f);
    if (used > 0) {
      pos += 1 + used;
    }
  }
  return fieldsToUnixNanos(f, ctx, ns) ? pos : 0;
}

/// "Jan  2 03:04:05[.f][ 2024]" starting at pos (the month). With `need_year` (ctime form) the
/// year is required.
std::size_t parseMonthDayTime(std::string_view t, std::size_t pos, bool need_year,
                              const TimeContext& ctx, std::int64_t* ns) {
  TimeFields f;
  f.month = monthFromAbbrev(t, pos);
  if (f.month == 0 || pos + 4 >= t.size() || t[pos + 3] != ' ') {
    return 0;
  }
  pos += 4;
  if (t[pos] == ' ') {  // space-padded day "Jan  2"
    ++pos;
  }
  std::size_t day_len = pos + 1 < t.size() && isDigit(t[pos + 1]) ? 2 : 1;
  f.day = digitsAt(t, pos, day_len);
  pos += day_len;
  if (f.day < 0 || pos + 9 > t.size() || t[pos] != ' ' || !parseClock(t, pos + 1, &f)) {
    return 0;
  }
  pos += 9;
  pos += parseOptionalFraction(t, pos, &f);
  int year = -1;
  if (pos + 5 <= t.size() && t[pos] == ' ') {
    year = digitsAt(t, pos + 1, 4);
    if (year >= 0 && (pos + 5 == t.size() || !text::isAlnum(t[pos + 5]))) {
      f.year = year;
      pos += 5;
    } else {
      year = -1;
    }
  }
  if (need_year && year < 0) {
    return 0;
  }
  return fieldsToUnixNanos(f, ctx, ns) ? pos : 0;
}

/// A whole digit token of 10 (optionally ".fraction"), 13, 16 or 19 digits.
std::size_t parseEpochToken(std::string_view t, std::int64_t* ns) {
  std::size_t n = 0;
  while (n < t.size() && n < 20 && isDigit(t[n])) {
    ++n;
  }
  std::size_t end = n;
  if (n == 10 && end + 1 < t.size() && t[end] == '.' && isDigit(t[end + 1])) {
    ++end;
    while (end < t.size() && isDigit(t[end])) {
      ++end;
    }
  } else if (n != 10 && n != 13 && n != 16 && n != 19) {
    return 0;
  }
  if (end < t.size()) {
    char c = t[end];
    bool token_end =
        text::isSpace(c) || c == ']' || c == ',' || c == '|' || c == ')' || c == '"' || c == ';';
    if (!token_end) {
      return 0;
    }
  }
  return parseEpochNumber(t.substr(0, end), ns) ? end : 0;
}

}  // namespace

bool fieldsToUnixNanos(const TimeFields& f, const TimeContext& ctx, std::int64_t* ns) {
  int year = f.year;
  if (year == 0) {
    if (ctx.default_year != 0) {
      year = ctx.default_year;
    } else {
      int now_month = 0;
      currentYearMonth(&year, &now_month);
      if (f.month > now_month + 1) {
        --year;
      }
    }
  }
  if (year < kMinYear || year > kMaxYear || f.month < 1 || f.month > 12 || f.day < 1 ||
      f.day > daysInMonth(year, f.month) || f.hour > 23 || f.minute > 59 || f.second > 60 ||
      f.hour < 0 || f.minute < 0 || f.second < 0) {
    return false;
  }
  // Consecutive lines almost always share a date: remember the last conversion per thread.
  struct DayCache {
    int key = -1;
    std::int64_t days = 0;
  };
  thread_local DayCache cache;
  const int key = (year * 16 + f.month) * 32 + f.day;
  if (cache.key != key) {
    cache.days = daysFromCivil(year, static_cast<unsigned>(f.month), static_cast<unsigned>(f.day));
    cache.key = key;
  }
  std::int64_t days = cache.days;
  std::int64_t offset = f.has_zone ? f.offset_s : ctx.default_utc_offset_s;
  std::int64_t seconds = days * 86400 + f.hour * 3600 + f.minute * 60 + f.second - offset;
  *ns = seconds * kNanosPerSecond + f.nanos;
  return true;
}

std::size_t parseBuiltinTimestamp(std::string_view t, const TimeContext& ctx, bool allow_epoch,
                                  std::int64_t* ns) {
  if (t.empty()) {
    return 0;
  }
  char c = t[0];
  if (isDigit(c)) {
    if (t.size() >= 19 && (t[4] == '-' || t[4] == '/')) {
      return parseIsoLike(t, ctx, ns);
    }
    if (t.size() >= 15 && (t[8] == 'T' || t[8] == 't')) {
      return parseIsoBasic(t, ctx, ns);
    }
    if (t.size() >= 20 && (t[1] == '/' || t[2] == '/')) {
      return parseCommonLog(t, ctx, ns);
    }
    return allow_epoch ? parseEpochToken(t, ns) : 0;
  }
  if (text::isAlpha(c) && t.size() >= 15) {
    if (t[3] == ' ' && isWeekdayAbbrev(t, 0)) {
      return parseMonthDayTime(t, 4, /*need_year=*/true, ctx, ns);
    }
    return parseMonthDayTime(t, 0, /*need_year=*/false, ctx, ns);
  }
  return 0;
}

std::size_t parseLayoutTimestamp(std::string_view t, std::string_view layout,
                                 const TimeContext& ctx, std::int64_t* ns) {
  TimeFields f;
  bool have_epoch = false;
  std::int64_t epoch_seconds = 0;
  std::size_t pos = 0;
  // Up to `max` digits (at least one) at pos; -1 when there is none.
  auto number = [&](std::size_t max) -> int {
    std::size_t n = 0;
    int value = 0;
    while (n < max && pos < t.size() && isDigit(t[pos])) {
      value = value * 10 + (t[pos] - '0');
      ++pos;
      ++n;
    }
    return n == 0 ? -1 : value;
  };
  for (std::size_t i = 0; i < layout.size(); ++i) {
    char lc = layout[i];
    if (lc == ' ') {
      if (pos >= t.size() || !text::isSpace(t[pos])) {
        return 0;
      }
      pos = text::skipSpaces(t, pos);
      continue;
    }
    if (lc != '%' || i + 1 >= layout.size()) {
      if (pos >= t.size() || t[pos] != lc) {
        return 0;
      }
      ++pos;
      continue;
    }
    char spec = layout[++i];
    switch (spec) {
      case 'Y':
        if ((f.year = digitsAt(t, pos, 4)) < 0) {
          return 0;
        }
        pos += 4;
        break;
      case 'y': {
        int yy = digitsAt(t, pos, 2);
        if (yy < 0) {
          return 0;
        }
        f.year = yy < 69 ? 2000 + yy : 1900 + yy;  // POSIX strptime's pivot
        pos += 2;
        break;
      }
      case 'm':
        if ((f.month = number(2)) < 0) {
          return 0;
        }
        break;
      case 'e':
        if (pos < t.size() && t[pos] == ' ') {
          ++pos;
        }
        [[fallthrough]];
      case 'd':
        if ((f.day = number(2)) < 0) {
          return 0;
        }
        break;
      case 'H':
        if ((f.hour = number(2)) < 0) {
          return 0;
        }
        break;
      case 'M':
        if ((f.minute = number(2)) < 0) {
          return 0;
        }
        break;
      case 'S':
        if ((f.second = number(2)) < 0) {
          return 0;
        }
        break;
      case 'T':
        if (pos + 8 > t.size() || !parseClock(t, pos, &f)) {
          return 0;
        }
        pos += 8;
        break;
      case 'f': {
        std::size_t used = parseFractionDigits(t, pos, &f.nanos);
        if (used == 0) {
          return 0;
        }
        pos += used;
        break;
      }
      case 'b': {
        static constexpr std::string_view kFullNames[] = {
            "january", "february", "march",     "april",   "may",      "june",
            "july",    "august",   "september", "october", "november", "december"};
        if ((f.month = monthFromAbbrev(t, pos)) == 0) {
          return 0;
        }
        std::string_view full = kFullNames[f.month - 1];
        std::size_t n = 3;
        while (n < full.size() && pos + n < t.size() && text::toLower(t[pos + n]) == full[n]) {
          ++n;
        }
        pos += n == full.size() ? n : 3;
        break;
      }
      case 'z': {
        std::size_t used = 0;
        if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
          f.has_zone = true;
          used = 1;
        } else {
          used = parseNumericOffset(t, pos, &f);
        }
        if (used == 0) {
          return 0;
        }
        pos += used;
        break;
      }
      case 's': {
        std::size_t start = pos;
        while (pos < t.size() && pos - start < 11 && isDigit(t[pos])) {
          epoch_seconds = epoch_seconds * 10 + (t[pos] - '0');
          ++pos;
        }
        if (pos == start || epoch_seconds > INT64_MAX / kNanosPerSecond - 1) {
          return 0;
        }
        have_epoch = true;
        break;
      }
      case '%':
        if (pos >= t.size() || t[pos] != '%') {
          return 0;
        }
        ++pos;
        break;
      default: return 0;
    }
  }
  if (pos == 0) {
    return 0;
  }
  if (have_epoch) {
    *ns = epoch_seconds * kNanosPerSecond + f.nanos;
    return pos;
  }
  return fieldsToUnixNanos(f, ctx, ns) ? pos : 0;
}

std::size_t parseTimestampPrefix(std::string_view text, const TimeContext& ctx, bool allow_epoch,
                                 std::int64_t* ns) {
  if (ctx.layouts != nullptr) {
    for (const std::string& layout : *ctx.layouts) {
      if (std::size_t used = parseLayoutTimestamp(text, layout, ctx, ns); used > 0) {
        return used;
      }
    }
  }
  return parseBuiltinTimestamp(text, ctx, allow_epoch, ns);
}

bool parseTimestampValue(std::string_view value, const TimeContext& ctx, std::int64_t* ns) {
  if (parseEpochNumber(value, ns)) {
    return true;
  }
  return parseTimestampPrefix(value, ctx, /*allow_epoch=*/false, ns) > 0;
}

bool parseEpochNumber(std::string_view value, std::int64_t* ns) {
  std::size_t int_digits = 0;
  while (int_digits < value.size() && isDigit(value[int_digits])) {
    ++int_digits;
  }
  if (int_digits == 0 || int_digits > 19) {
    return false;
  }
  std::size_t frac_begin = int_digits;
  std::size_t frac_digits = 0;
  if (int_digits < value.size()) {
    if (value[int_digits] != '.') {
      return false;
    }
    frac_begin = int_digits + 1;
    while (frac_begin + frac_digits < value.size() && isDigit(value[frac_begin + frac_digits])) {
      ++frac_digits;
    }
    if (frac_digits == 0 || frac_begin + frac_digits != value.size()) {
      return false;
    }
  }
  // Unit exponent: how many decimal digits of nanoseconds one integer unit holds.
  int unit_digits = int_digits <= 11 ? 9 : int_digits <= 14 ? 6 : int_digits <= 17 ? 3 : 0;
  std::uint64_t whole = 0;
  for (std::size_t i = 0; i < int_digits; ++i) {
    whole = whole * 10 + static_cast<std::uint64_t>(value[i] - '0');
  }
  std::uint64_t scale = 1;
  for (int i = 0; i < unit_digits; ++i) {
    scale *= 10;
  }
  constexpr auto kMax = static_cast<std::uint64_t>(INT64_MAX);
  if (whole > kMax / scale) {
    return false;
  }
  std::uint64_t total = whole * scale;
  std::uint64_t frac = 0;
  std::uint64_t frac_scale = scale;
  for (std::size_t i = 0; i < frac_digits && frac_scale > 1; ++i) {
    frac_scale /= 10;
    frac += static_cast<std::uint64_t>(value[frac_begin + i] - '0') * frac_scale;
  }
  if (total > kMax - frac) {
    return false;
  }
  *ns = static_cast<std::int64_t>(total + frac);
  return true;
}

Status validateTimeLayout(std::string_view layout) {
  if (layout.empty()) {
    return invalidArgument("time format is empty");
  }
  constexpr std::string_view kSpecs = "YymdeHMSTfbzs%";
  for (std::size_t i = 0; i < layout.size(); ++i) {
    if (layout[i] != '%') {
      continue;
    }
    if (i + 1 >= layout.size() || kSpecs.find(layout[i + 1]) == std::string_view::npos) {
      return invalidArgument("time format \"" + std::string(layout) +
                             "\": unsupported specifier at offset " + std::to_string(i) +
                             " (use %Y %y %m %d %e %H %M %S %T %f %b %z %s %%)");
    }
    ++i;
  }
  return Status::ok();
}

}  // namespace faultline::logparse
