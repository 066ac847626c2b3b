// Severity words, syslog priorities, and findSeverity on free text (what counts, what must not).
#include "shared/logparse/severity.h"

#include <doctest/doctest.h>

#include <string>

#include "shared/logparse/parser.h"

using faultline::logparse::findSeverity;
using faultline::logparse::Severity;
using faultline::logparse::severityFromSyslogPriority;
using faultline::logparse::severityFromText;
using faultline::logparse::severityName;

TEST_CASE("severity: every documented word, any case") {
  const std::pair<const char*, Severity> words[] = {
      {"trace", Severity::kTrace},       {"TRC", Severity::kTrace},
      {"debug", Severity::kDebug},       {"DBG", Severity::kDebug},
      {"Info", Severity::kInfo},         {"inf", Severity::kInfo},
      {"information", Severity::kInfo},  {"INFORMATIONAL", Severity::kInfo},
      {"notice", Severity::kNotice},     {"warn", Severity::kWarn},
      {"WARNING", Severity::kWarn},      {"wrn", Severity::kWarn},
      {"err", Severity::kError},         {"Error", Severity::kError},
      {"eror", Severity::kError},        {"crit", Severity::kCritical},
      {"CRITICAL", Severity::kCritical}, {"alert", Severity::kCritical},
      {"emerg", Severity::kCritical},    {"emergency", Severity::kCritical},
      {"FATAL", Severity::kCritical},    {"panic", Severity::kCritical},
      {"SEVERE", Severity::kCritical},   {"T", Severity::kTrace},
      {"D", Severity::kDebug},           {"I", Severity::kInfo},
      {"N", Severity::kNotice},          {"W", Severity::kWarn},
      {"E", Severity::kError},           {"F", Severity::kCritical},
      {"C", Severity::kCritical},
  };
  for (const auto& entry : words) {
    const char* word = entry.first;
    CAPTURE(word);
    REQUIRE(severityFromText(word).has_value());
    CHECK(*severityFromText(word) == entry.second);
  }
  for (const char* word : {"", "x", "errors", "informationally", "warn ", "debugger", "ok", "1"}) {
    CAPTURE(word);
    CHECK_FALSE(severityFromText(word).has_value());
  }
  CHECK(severityName(Severity::kWarn) == "warn");
  CHECK(severityName(Severity::kUnknown) == "unknown");
  CHECK(severityName(Severity::kCritical) == "critical");
  CHECK(Severity::kWarn > Severity::kInfo);  // filters compare
}

TEST_CASE("severity: syslog priorities use their low three bits") {
  CHECK(severityFromSyslogPriority(0) == Severity::kCritical);  // kern.emerg
  CHECK(severityFromSyslogPriority(1) == Severity::kCritical);  // alert
  CHECK(severityFromSyslogPriority(2) == Severity::kCritical);  // crit
  CHECK(severityFromSyslogPriority(3) == Severity::kError);
  CHECK(severityFromSyslogPriority(34) == Severity::kCritical);  // auth.crit (RFC 3164 example)
  CHECK(severityFromSyslogPriority(165) == Severity::kNotice);   // local4.notice (RFC 5424)
  CHECK(severityFromSyslogPriority(14) == Severity::kInfo);      // user.info
  CHECK(severityFromSyslogPriority(12) == Severity::kWarn);
  CHECK(severityFromSyslogPriority(191) == Severity::kDebug);
  CHECK(severityFromSyslogPriority(192) == Severity::kUnknown);
  CHECK(severityFromSyslogPriority(-1) == Severity::kUnknown);
}

TEST_CASE("findSeverity: level columns, brackets, keys, PRI and glog prefixes") {
  CHECK(findSeverity("2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute") == Severity::kInfo);
  CHECK(findSeverity("[Sun Dec 04 04:47:44 2005] [error] mod_jk child") == Severity::kError);
  CHECK(findSeverity("081109 203615 148 WARN dfs.DataNode: x") == Severity::kWarn);
  CHECK(findSeverity("ts=2024 caller=main.go:12 level=warn msg=x") == Severity::kWarn);
  CHECK(findSeverity("{\"level\":\"error\",\"msg\":\"truncated") == Severity::kError);
  CHECK(findSeverity("{\"severity\": \"CRITICAL\"") == Severity::kCritical);
  CHECK(findSeverity("lvl=dbg msg=x") == Severity::kDebug);
  CHECK(findSeverity("<11>something") == Severity::kError);
  CHECK(findSeverity("E0102 15:04:05.123456   12345 controller.go:12] sync failed") ==
        Severity::kError);
  CHECK(findSeverity("W0102 15:04:05.123456 1 reflector.go:324] watch") == Severity::kWarn);
  CHECK(findSeverity("I0102 15:04:05.123456 1 main.go:1] up") == Severity::kInfo);
  CHECK(findSeverity("error: could not open file") == Severity::kError);
  CHECK(findSeverity("17/06/09 20:10:40 INFO spark.SecurityManager: x") == Severity::kInfo);
  CHECK(findSeverity("main (warn) low disk") == Severity::kWarn);
  CHECK(findSeverity("<debug> x") == Severity::kDebug);
}

TEST_CASE("findSeverity: prose and identifiers are not levels") {
  CHECK(findSeverity("no error was found in the input") == Severity::kUnknown);
  CHECK(findSeverity("errors=0 warnings=0") == Severity::kUnknown);
  CHECK(findSeverity("ERROR_CODE=12 ok") == Severity::kUnknown);
  CHECK(findSeverity("user info updated") == Severity::kUnknown);
  CHECK(findSeverity("WARNINGS: none") == Severity::kUnknown);
  CHECK(findSeverity("") == Severity::kUnknown);
  CHECK(findSeverity("<>") == Severity::kUnknown);
  CHECK(findSeverity("level=verbose x") == Severity::kUnknown);
  // Only the first ~80 bytes are looked at.
  std::string late(90, 'x');
  late += " ERROR";
  CHECK(findSeverity(late) == Severity::kUnknown);
}
