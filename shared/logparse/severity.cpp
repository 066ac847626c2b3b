#include "shared/logparse/severity.h"

#include <cstring>

#include "shared/logparse/text_util.h"

namespace faultline::logparse {

std::string_view severityName(Severity severity) {
  switch (severity) {
    case Severity::kUnknown: return "unknown";
    case Severity::kTrace: return "trace";
    case Severity::kDebug: return "debug";
    case Severity::kInfo: return "info";
    case Severity::kNotice: return "notice";
    case Severity::kWarn: return "warn";
    case Severity::kError: return "error";
    case Severity::kCritical: return "critical";
  }
  return "unknown";
}

std::optional<Severity> severityFromText(std::string_view word) {
  // Runs once per line on the hot path: dispatch on the first letter, then compare the few
  // candidates of that letter (fixed-size memcmp compiles to plain loads).
  constexpr std::size_t kLongest = 13;  // "informational"
  std::size_t n = word.size();
  if (n == 0 || n > kLongest) {
    return std::nullopt;
  }
  char b[kLongest];
  for (std::size_t i = 0; i < n; ++i) {
    b[i] = text::toLower(word[i]);
  }
  auto is = [&](const auto& literal) {
    constexpr std::size_t kSize = sizeof(literal) - 1;
    return n == kSize && std::memcmp(b, literal, kSize) == 0;
  };
  switch (b[0]) {
    case 't':
      if (n == 1 || is("trc") || is("trace")) {
        return Severity::kTrace;
      }
      break;
    case 'd':
      if (n == 1 || is("dbg") || is("debug")) {
        return Severity::kDebug;
      }
      break;
    case 'i':
      if (n == 1 || is("inf") || is("info") || is("information") || is("informational")) {
        return Severity::kInfo;
      }
      break;
    case 'n':
      if (n == 1 || is("notice")) {
        return Severity::kNotice;
      }
      break;
    case 'w':
      if (n == 1 || is("wrn") || is("warn") || is("warning")) {
        return Severity::kWarn;
      }
      break;
    case 'e':
      if (n == 1 || is("err") || is("error") || is("eror")) {
        return Severity::kError;
      }
      if (is("emerg") || is("emergency")) {
        return Severity::kCritical;
      }
      break;
    case 'f':
      if (n == 1 || is("fatal")) {
        return Severity::kCritical;
      }
      break;
    case 'c':
      if (n == 1 || is("crit") || is("critical")) {
        return Severity::kCritical;
      }
      break;
    case 'a':
      if (is("alert")) {
        return Severity::kCritical;
      }
      break;
    case 'p':
      if (is("panic")) {
        return Severity::kCritical;
      }
      break;
    case 's':
      if (is("severe")) {
        return Severity::kCritical;
      }
      break;
    default: break;
  }
  return std::nullopt;
}

Severity severityFromSyslogPriority(int pri) {
  if (pri < 0 || pri > 191) {
    return Severity::kUnknown;
  }
  switch (pri & 7) {
    case 0:
    case 1:
    case 2: return Severity::kCritical;  // emerg, alert, crit
    case 3: return Severity::kError;
    case 4: return Severity::kWarn;
    case 5: return Severity::kNotice;
    case 6: return Severity::kInfo;
    default: return Severity::kDebug;
  }
}

}  // namespace faultline::logparse
