#pragma once

// Normalized severity, shared by the agent's parsers, filters and the aggregator's events.
// Ordered so that filters can compare ("at least warn"). Names follow syslog where they overlap.

#include <cstdint>
#include <optional>
#include <string_view>

namespace faultline::logparse {

enum class Severity : std::uint8_t {
  kUnknown = 0,
  kTrace = 1,
  kDebug = 2,
  kInfo = 3,
  kNotice = 4,
  kWarn = 5,
  kError = 6,
  kCritical = 7,  // crit, alert, emerg, fatal, panic
};

/// "trace", "debug", ... "critical"; "unknown" for kUnknown.
std::string_view severityName(Severity severity);

/// Case-insensitive: trace/trc, debug/dbg, info/inf/information/informational, notice, warn/
/// warning/wrn, err/error/eror, crit/critical/alert/emerg/emergency/fatal/panic/severe, and the
/// single letters T D I N W E F C used by glog/klog style prefixes. nullopt when not a level.
std::optional<Severity> severityFromText(std::string_view word);

/// Syslog PRI (0..191) → severity of its low three bits.
Severity severityFromSyslogPriority(int pri);

}  // namespace faultline::logparse
