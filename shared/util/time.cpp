#include "shared/util/time.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace faultline {

std::int64_t nowUnixNanos() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t monotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {
std::string formatRfc3339(std::int64_t unix_nanos, int digits) {
  std::int64_t secs = unix_nanos / 1'000'000'000;
  std::int64_t frac = unix_nanos % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    secs -= 1;
  }
  time_t t = static_cast<time_t>(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
                        utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  std::string out(buf, static_cast<size_t>(n));
  if (digits == 3) {
    std::snprintf(buf, sizeof(buf), ".%03lldZ", static_cast<long long>(frac / 1'000'000));
  } else {
    std::snprintf(buf, sizeof(buf), ".%09lldZ", static_cast<long long>(frac));
  }
  out += buf;
  return out;
}

bool parseDigits(std::string_view text, size_t pos, size_t count, int* out) {
  if (pos + count > text.size()) {
    return false;
  }
  int value = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
}  // namespace

std::string formatRfc3339Millis(std::int64_t unix_nanos) {
  return formatRfc3339(unix_nanos, 3);
}
std::string formatRfc3339Nanos(std::int64_t unix_nanos) {
  return formatRfc3339(unix_nanos, 9);
}

Result<std::int64_t> parseTimestamp(std::string_view text) {
  auto bad = [&] {
    return Status(Errc::InvalidArgument,
                  "invalid time '" + std::string(text) +
                      "': expected RFC 3339 (2026-11-26T12:00:00Z), a date or Unix seconds");
  };
  if (text.empty()) {
    return bad();
  }
  // Unix seconds, optionally fractional.
  if (text.find('-') == std::string_view::npos || text.front() == '-') {
    double seconds = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return bad();
    }
    return static_cast<std::int64_t>(seconds * 1e9);
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!parseDigits(text, 0, 4, &year) || text.size() < 10 || text[4] != '-' ||
      !parseDigits(text, 5, 2, &month) || text[7] != '-' || !parseDigits(text, 8, 2, &day)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) {
    return bad();
  }
  std::int64_t nanos = 0;
  std::int64_t offset_seconds = 0;
  size_t pos = 10;
  if (pos < text.size()) {
    if ((text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') ||
        !parseDigits(text, pos + 1, 2, &hour) || text.size() < pos + 9 || text[pos + 3] != ':' ||
        !parseDigits(text, pos + 4, 2, &minute) || text[pos + 6] != ':' ||
        !parseDigits(text, pos + 7, 2, &second)) {
      return bad();
    }
    if (hour > 23 || minute > 59 || second > 60) {
      return bad();
    }
    pos += 9;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      std::int64_t scale = 100'000'000;
      size_t digits = 0;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (digits < 9) {
          nanos += (text[pos] - '0') * scale;
          scale /= 10;
        }
        ++digits;
        ++pos;
      }
      if (digits == 0) {
        return bad();
      }
    }
    if (pos == text.size()) {
      return bad();  // RFC 3339 needs a zone
    }
    if (text[pos] == 'Z' || text[pos] == 'z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      int oh = 0, om = 0;
      if (!parseDigits(text, pos + 1, 2, &oh) || text.size() < pos + 6 || text[pos + 3] != ':' ||
          !parseDigits(text, pos + 4, 2, &om)) {
        return bad();
      }
      offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
      pos += 6;
    } else {
      return bad();
    }
    if (pos != text.size()) {
      return bad();
    }
  }
  std::int64_t days = daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  // Nanoseconds since 1970 in int64 reach from 1677 to 2262; anything beyond is refused rather
  // than wrapped.
  constexpr std::int64_t kMaxSeconds = INT64_MAX / 1'000'000'000 - 1;
  if (secs > kMaxSeconds || secs < -kMaxSeconds) {
    return Status(Errc::InvalidArgument,
                  "timestamp '" + std::string(text) + "' is outside 1677..2262");
  }
  return secs * 1'000'000'000 + nanos;
}

Result<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  auto bad = [&] {
    return Status(Errc::InvalidArgument, "invalid duration '" + std::string(text) +
                                             "': expected e.g. 500ms, 30s, 15m, 24h, 7d, 1h30m");
  };
  if (text.empty()) {
    return bad();
  }
  std::int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
    if (ec != std::errc() || value < 0) {
      return bad();
    }
    pos = static_cast<size_t>(ptr - text.data());
    size_t unit_start = pos;
    while (pos < text.size() && (text[pos] < '0' || text[pos] > '9')) {
      ++pos;
    }
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    std::int64_t scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us") {
      scale = 1'000;
    } else if (unit == "ms") {
      scale = 1'000'000;
    } else if (unit == "s") {
      scale = 1'000'000'000;
    } else if (unit == "m") {
      scale = 60'000'000'000;
    } else if (unit == "h") {
      scale = 3'600'000'000'000;
    } else if (unit == "d") {
      scale = 86'400'000'000'000;
    } else {
      return bad();
    }
    if (value > INT64_MAX / scale || total > INT64_MAX - value * scale) {
      return bad();
    }
    total += value * scale;
  }
  if (total <= 0) {
    return bad();
  }
  return std::chrono::nanoseconds(total);
}

Result<std::uint64_t> parseByteSize(std::string_view text) {
  auto bad = [&] {
    return Status(Errc::InvalidArgument, "invalid size '" + std::string(text) +
                                             "': expected e.g. 65536, 64KiB, 16MiB, 1GiB");
  };
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) {
    return bad();
  }
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB" || unit == "K") {
    scale = 1ULL << 10;
  } else if (unit == "MiB" || unit == "M") {
    scale = 1ULL << 20;
  } else if (unit == "GiB" || unit == "G") {
    scale = 1ULL << 30;
  } else if (unit == "KB") {
    scale = 1000;
  } else if (unit == "MB") {
    scale = 1000 * 1000;
  } else if (unit == "GB") {
    scale = 1000 * 1000 * 1000;
  } else {
    return bad();
  }
  if (value > UINT64_MAX / scale) {
    return bad();
  }
  return value * scale;
}

}  // namespace faultline
