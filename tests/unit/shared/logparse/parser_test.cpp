// Parser construction, format names, auto-detection on plain application logs (gen_log.py,
// Hadoop, glog, Python logging), custom regexes, and ParsedLine reuse.
#include "shared/logparse/parser.h"

#include <doctest/doctest.h>

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/shared/logparse/parse_test_util.h"

using faultline::logparse::EventTimeCarry;
using faultline::logparse::Format;
using faultline::logparse::formatFromName;
using faultline::logparse::formatName;
using faultline::logparse::ParsedLine;
using faultline::logparse::Parser;
using faultline::logparse::ParserOptions;
using faultline::logparse::Severity;
using faultline::logparse::testing::attr;
using faultline::logparse::testing::makeParser;
using faultline::logparse::testing::viewsAreInside;

namespace {
constexpr std::int64_t kS = 1'000'000'000;
}

TEST_CASE("parser: format names round-trip; unknown names are errors") {
  for (Format f : {Format::kAuto, Format::kPlain, Format::kJson, Format::kLogfmt, Format::kSyslog,
                   Format::kNginxAccess, Format::kNginxError, Format::kApacheError, Format::kDocker,
                   Format::kCri, Format::kRegex}) {
    auto back = formatFromName(formatName(f));
    REQUIRE(back.isOk());
    CHECK(*back == f);
  }
  CHECK(*formatFromName("apache_access") == Format::kNginxAccess);
  auto bad = formatFromName("xml");
  REQUIRE_FALSE(bad.isOk());
  CHECK(bad.status().message().find("xml") != std::string::npos);
}

TEST_CASE("parser: option validation names the problem") {
  auto error = [](const ParserOptions& options) {
    auto parser = Parser::create(options);
    REQUIRE_FALSE(parser.isOk());
    return parser.status().message();
  };
  ParserOptions o;
  o.format = Format::kRegex;
  CHECK(error(o).find("needs a regex") != std::string::npos);
  o.regex = "(?P<message>.*";
  CHECK(error(o).find("bad regex") != std::string::npos);
  o.regex = "(.*)";
  CHECK(error(o).find("no named groups") != std::string::npos);
  o = {};
  o.regex = "(?P<message>.*)";
  CHECK(error(o).find("only used with format") != std::string::npos);
  o = {};
  o.time_formats = {"%Y-%Q"};
  CHECK(error(o).find("%Y-%Q") != std::string::npos);
  o = {};
  o.level_keys = {""};
  CHECK(error(o).find("empty key") != std::string::npos);
  o = {};
  o.default_year = 99;
  CHECK(error(o).find("default_year") != std::string::npos);
  o = {};
  o.default_utc_offset_s = 90000;
  CHECK(error(o).find("default_utc_offset_s") != std::string::npos);
}

TEST_CASE("auto: gen_log.py application lines") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view line =
      "2026-08-20T00:00:00.002Z DEBUG [inventory] host=ip-10-0-1-17 pid=4242 request completed "
      "method=GET path=/api/v1/orders status=200 duration_ms=12";
  parser->parse(line, out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.ts_ns == 1787184000002000000);
  CHECK(out.severity == Severity::kDebug);
  CHECK(out.message.substr(0, 12) == "[inventory] ");
  CHECK(viewsAreInside(out, line));
  parser->parse("2026-08-20T00:00:00.310Z WARN  [auth-svc] host=x pid=1 Rate limit exceeded", out);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.message == "[auth-svc] host=x pid=1 Rate limit exceeded");
  parser->parse(
      "2026-08-20T00:00:00.310Z ERROR [billing] host=x pid=1 "
      "java.net.SocketTimeoutException: Read timed out",
      out);
  CHECK(out.severity == Severity::kError);
  // The stack-frame continuation lines gen_log.py writes.
  parser->parse("    at com.acme.billing.Handler0.process(Handler0.java:123) ~[app-1.2.jar:?]",
                out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.ts_ns == 0);
  CHECK(out.severity == Severity::kUnknown);
}

TEST_CASE("auto: other application log layouts") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  parser->parse(
      "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app."
      "MRAppMaster: Created MRAppMaster",
      out);
  CHECK(out.ts_ns == 1445191307978000000);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message.substr(0, 6) == "[main]");
  parser->parse("2024-01-02 03:04:05,123 - myapp.db - WARNING - Retrying connection (attempt 2)",
                out);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.ts_ns == 1704164645123000000);
  parser->parse("2024-01-02T03:04:05Z [ERROR] boom", out);
  CHECK(out.severity == Severity::kError);
  CHECK(out.message == "boom");
  parser->parse("2024-01-02T03:04:05Z error: boom", out);
  CHECK(out.severity == Severity::kError);
  CHECK(out.message == "boom");
  parser->parse("2024-01-02T03:04:05Z Error connecting to db", out);
  CHECK(out.message == "Error connecting to db");  // a capitalised word is not a level column
  // klog (Kubernetes components): month/day without a year, thread id, caller.
  parser->parse("E0102 15:04:05.123456   12345 controller.go:123] sync failed: timeout", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.severity == Severity::kError);
  CHECK(out.ts_ns == 1704207845123456000);
  CHECK(out.message == "sync failed: timeout");
  CHECK(attr(out, "tid") == "12345");
  CHECK(attr(out, "caller") == "controller.go:123");
  parser->parse("I0102 15:04:05.123456 1 main.go:1] up", out);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message == "up");
  parser->parse("E0102 15:04:05.123456 x main.go:1] not klog", out);
  CHECK(out.ts_ns == 0);
  CHECK(out.severity == Severity::kError);  // findSeverity still reads the prefix
  CHECK(out.attrs.empty());
  // Indented lines keep their indentation as message.
  parser->parse("  File \"/app/x.py\", line 3, in <module>", out);
  CHECK(out.message == "  File \"/app/x.py\", line 3, in <module>");
  parser->parse("1704164645 INFO started", out);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(out.severity == Severity::kInfo);
  parser->parse("17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls", out);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.ts_ns == 0);  // two-digit years need a time_formats entry
  parser->parse("", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.message.empty());
  parser->parse("   ", out);
  CHECK(out.format == Format::kPlain);
  parser->parse("\xFF\xFE\x00garbage", out);
  CHECK(out.format == Format::kPlain);
}

TEST_CASE("auto: configured time formats and default offset") {
  ParserOptions options;
  options.time_formats = {"%y/%m/%d %H:%M:%S"};
  options.default_utc_offset_s = 2 * 3600;
  auto parser = makeParser(options);
  ParsedLine out;
  parser->parse("17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls", out);
  CHECK(out.ts_ns == (1497039040 - 7200) * kS);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message == "spark.SecurityManager: Changing view acls");
}

TEST_CASE("forced formats: a line of another format comes back as plain text") {
  ParsedLine out;
  makeParser(Format::kJson)->parse("2024-01-02T03:04:05Z ERROR x", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(out.severity == Severity::kError);
  makeParser(Format::kCri)->parse(R"({"level":"info"})", out);
  CHECK(out.format == Format::kPlain);
  makeParser(Format::kDocker)->parse(R"({"level":"info"})", out);
  CHECK(out.format == Format::kPlain);
  makeParser(Format::kApacheError)->parse("x", out);
  CHECK(out.format == Format::kPlain);
  makeParser(Format::kNginxError)->parse("2024-01-02 03:04:05 [error] 1#1: x", out);
  CHECK(out.format == Format::kPlain);
  makeParser(Format::kPlain)->parse(R"({"level":"info","msg":"x"})", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.attrs.empty());
  makeParser(Format::kSyslog)->parse("<13>Jan  2 03:04:05 host app: m", out);
  CHECK(out.format == Format::kSyslog);
}

TEST_CASE("regex: named groups to fields and attributes") {
  ParserOptions options;
  options.format = Format::kRegex;
  options.regex =
      R"(^(?P<time>\S+ \S+) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>\S+) (?:\[(?P<req>[^\]]*)\] )?(?P<message>.*)$)";
  auto parser = makeParser(options);
  ParsedLine out;
  std::string_view line =
      "2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b] "
      "10.11.10.1 \"GET /v2/servers/detail HTTP/1.1\" status: 200";
  parser->parse(line, out);
  CHECK(out.format == Format::kRegex);
  CHECK(out.ts_ns == 1494892800008000000);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message == "10.11.10.1 \"GET /v2/servers/detail HTTP/1.1\" status: 200");
  CHECK(attr(out, "pid") == "25746");
  CHECK(attr(out, "logger") == "nova.osapi_compute.wsgi.server");
  CHECK(attr(out, "req") == "req-38101a0b");
  CHECK(viewsAreInside(out, line));
  // Optional group absent: no attribute.
  parser->parse("2017-05-16 00:00:00.008 25746 WARN x.y no request id", out);
  CHECK_FALSE(attr(out, "req"));
  CHECK(out.severity == Severity::kWarn);
  // No match: plain text.
  parser->parse("something else entirely ERROR", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.severity == Severity::kError);

  // Epoch in a time group; no level group: the severity is looked for in the line.
  options.regex = R"(^(?P<time>\d+) (?P<message>.*)$)";
  auto epoch = makeParser(options);
  epoch->parse("1704164645123 [WARN] disk", out);
  CHECK(out.ts_ns == 1704164645123000000);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.message == "[WARN] disk");
}

TEST_CASE("parser: a ParsedLine is reused without growing or keeping old data") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view json =
      R"({"level":"info","ts":1704164645.5,"msg":"a\tb","k1":"v","k2":"w\"x","k3":3})";
  parser->parse(json, out);
  std::size_t attrs_capacity = out.attrs.capacity();
  std::size_t scratch_capacity = out.scratch.capacity();
  const char* scratch_data = out.scratch.data();
  for (int i = 0; i < 1000; ++i) {
    parser->parse(json, out);
    parser->parse("2024-01-02T03:04:05Z INFO plain", out);
  }
  CHECK(out.attrs.empty());
  CHECK(out.inner.empty());
  CHECK(out.attrs.capacity() == attrs_capacity);
  CHECK(out.scratch.capacity() == scratch_capacity);
  CHECK(out.scratch.data() == scratch_data);
  parser->parse(json, out);
  CHECK(out.message == "a\tb");
  CHECK(attr(out, "k2") == "w\"x");
}

TEST_CASE("parser: one Parser shared by threads") {
  auto parser = makeParser(Format::kAuto);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      ParsedLine out;
      for (int i = 0; i < 2000; ++i) {
        parser->parse(R"({"level":"warn","msg":"x\"y","ts":1704164645})", out);
        if (out.severity != Severity::kWarn || out.message != "x\"y") {
          ++wrong;
        }
        parser->parse("Jan  2 03:04:05 debian sshd[1]: ok", out);
        if (out.ts_ns != 1704164645 * kS) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(wrong.load() == 0);
}

TEST_CASE("event time carry: an untimed line takes its stream's last time, advanced by reading") {
  constexpr std::int64_t kMs = 1'000'000;
  const std::int64_t event = 1'674'950'400 * kS + 123 * kMs;  // 2023-01-29T00:00:00.123Z
  const std::int64_t read = 1'796'000'000 * kS;               // read years later (a backfill)
  EventTimeCarry carry;
  CHECK(carry.resolve(0, read) == 0);  // nothing to carry yet: unknown, the arrival time wins
  CHECK(carry.resolve(event, read) == event);
  CHECK(carry.resolve(0, read) == event);  // read at once: the neighbour's time as is
  CHECK(carry.resolve(0, read + 5 * kMs + 999) == event + 5 * kMs);  // whole ms of reading
  CHECK(carry.resolve(0, read - kS) == event);  // the read clock stepped back: no advance
  CHECK(carry.resolve(event + kS, read) == event + kS);  // a timed line always wins
  CHECK(carry.resolve(0, read + 3'600 * kS) == event + kS + 3'600 * kS);  // live tail, quiet hour
  // Times near either end of the range neither overflow nor go backwards.
  EventTimeCarry late;
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  CHECK(late.resolve(max - 1, 0) == max - 1);
  const std::int64_t carried = late.resolve(0, max);
  CHECK(carried >= max - 1);
  CHECK(carried <= max);
  EventTimeCarry early;
  CHECK(early.resolve(-5 * kS, 0) == -5 * kS);
  CHECK(early.resolve(0, 2 * kS) == -3 * kS);
}
