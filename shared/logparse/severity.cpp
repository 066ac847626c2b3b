#include "shared/logparse/severity.h"

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
  struct LevelWord {
    std::string_view word;  // lower case
    Severity severity;
  };
  static constexpr LevelWord kWords[] = {
      {"t", Severity::kTrace},
      {"d", Severity::kDebug},
      {"i", Severity::kInfo},
      {"n", Severity::kNotice},
      {"w", Severity::kWarn},
      {"e", Severity::kError},
      {"f", Severity::kCritical},
      {"c", Severity::kCritical},
      {"trc", Severity::kTrace},
      {"dbg", Severity::kDebug},
      {"inf", Severity::kInfo},
      {"wrn", Severity::kWarn},
      {"err", Severity::kError},
      {"info", Severity::kInfo},
      {"warn", Severity::kWarn},
      {"eror", Severity::kError},
      {"crit", Severity::kCritical},
      {"trace", Severity::kTrace},
      {"debug", Severity::kDebug},
      {"error", Severity::kError},
      {"alert", Severity::kCritical},
      {"emerg", Severity::kCritical},
      {"fatal", Severity::kCritical},
      {"panic", Severity::kCritical},
      {"notice", Severity::kNotice},
      {"severe", Severity::kCritical},
      {"warning", Severity::kWarn},
      {"critical", Severity::kCritical},
      {"emergency", Severity::kCritical},
      {"information", Severity::kInfo},
      {"informational", Severity::kInfo},
  };
  constexpr std::size_t kLongest = 13;  // "informational"
  if (word.empty() || word.size() > kLongest) {
    return std::nullopt;
  }
  char buf[kLongest];
  for (std::size_t i = 0; i < word.size(); ++i) {
    buf[i] = text::toLower(word[i]);
  }
  std::string_view lower(buf, word.size());
  for (const LevelWord& entry : kWords) {
    if (entry.word == lower) {
      return entry.severity;
    }
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
