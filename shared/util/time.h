#pragma once

// Clocks, timestamps and durations.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/util/status.h"

namespace faultline {

/// Wall clock, nanoseconds since the Unix epoch.
std::int64_t nowUnixNanos();
/// Monotonic clock in nanoseconds, for timeouts and intervals.
std::int64_t monotonicNanos();

/// "2026-11-26T12:00:00.123Z" (UTC, millisecond precision).
std::string formatRfc3339Millis(std::int64_t unix_nanos);
/// "2026-11-26T12:00:00.123456789Z" (UTC, nanosecond precision).
std::string formatRfc3339Nanos(std::int64_t unix_nanos);

/// Parses an RFC 3339 time ("2026-11-26T12:00:00Z", fractional seconds and offsets allowed),
/// a date ("2026-11-26", midnight UTC) or a Unix time in seconds ("1795000000", "1795000000.5").
Result<std::int64_t> parseTimestamp(std::string_view text);

/// Parses durations like "500ms", "30s", "15m", "24h", "7d", "1h30m". Zero or negative is an error.
Result<std::chrono::nanoseconds> parseDuration(std::string_view text);

/// Parses sizes like "1048576", "64KiB", "16MiB", "1GiB", "10MB". Returns bytes.
Result<std::uint64_t> parseByteSize(std::string_view text);

}  // namespace faultline
