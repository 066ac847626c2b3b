// JSON lines from common loggers, logfmt from Go services, and the container wrappers
// (docker json-file, CRI) whose inner line is parsed again.
#include <doctest/doctest.h>

#include <string>

#include "shared/logparse/json_scanner.h"
#include "shared/logparse/parser.h"
#include "tests/unit/shared/logparse/parse_test_util.h"

using faultline::logparse::appendUnescapedJson;
using faultline::logparse::Format;
using faultline::logparse::JsonKind;
using faultline::logparse::JsonMember;
using faultline::logparse::JsonObjectReader;
using faultline::logparse::ParsedLine;
using faultline::logparse::ParserOptions;
using faultline::logparse::Severity;
using faultline::logparse::testing::attr;
using faultline::logparse::testing::makeParser;
using faultline::logparse::testing::viewsAreInside;

namespace {
constexpr std::int64_t kS = 1'000'000'000;
}

TEST_CASE("json scanner: members, kinds, nesting, escapes") {
  JsonObjectReader reader(
      R"( { "a" : "x\"y" , "n":-1.5e3, "t":true, "f":false, "z":null, "o":{"k":[1,{"d":"}"}]},)"
      R"("arr":[], "e\u0041":"" } )");
  JsonMember m;
  REQUIRE(reader.next(m));
  CHECK(m.key == "a");
  CHECK(m.kind == JsonKind::kString);
  CHECK(m.value == R"(x\"y)");
  CHECK(m.value_escaped);
  REQUIRE(reader.next(m));
  CHECK(m.kind == JsonKind::kNumber);
  CHECK(m.value == "-1.5e3");
  REQUIRE(reader.next(m));
  CHECK(m.kind == JsonKind::kTrue);
  REQUIRE(reader.next(m));
  CHECK(m.kind == JsonKind::kFalse);
  REQUIRE(reader.next(m));
  CHECK(m.kind == JsonKind::kNull);
  REQUIRE(reader.next(m));
  CHECK(m.kind == JsonKind::kObject);
  CHECK(m.value == R"({"k":[1,{"d":"}"}]})");
  REQUIRE(reader.next(m));
  CHECK(m.kind == JsonKind::kArray);
  CHECK(m.value == "[]");
  REQUIRE(reader.next(m));
  CHECK(m.key_escaped);
  CHECK(m.value.empty());
  CHECK_FALSE(reader.next(m));
  CHECK_FALSE(reader.failed());
  CHECK(reader.atEndOfInput());
}

TEST_CASE("json scanner: malformed input and the depth limit") {
  const char* bad[] = {
      "",
      "{",
      "{\"a\"}",
      "{\"a\":}",
      "{\"a\":1,}",
      "{\"a\":1 \"b\":2}",
      "{\"a\":tru}",
      "{\"a\":\"x}",
      "{\"a\":\"\\q\"}",
      "{\"a\":\"\\u12G4\"}",
      "{\"a\":[1,2}",
      "{\"a\":{]}",
      "{\"a\":-}",
      "{\"a\":1.}",
      "[1]",
      "{a:1}",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    JsonObjectReader reader(text);
    JsonMember m;
    while (reader.next(m)) {
    }
    CHECK(reader.failed());
  }
  std::string deep = "{\"a\":";
  std::string ok_deep = deep;
  for (int i = 0; i < 62; ++i) {
    ok_deep += "[";
  }
  for (int i = 0; i < 62; ++i) {
    ok_deep += "]";
  }
  ok_deep += "}";
  JsonObjectReader ok_reader(ok_deep);
  JsonMember m;
  CHECK(ok_reader.next(m));
  CHECK_FALSE(ok_reader.next(m));
  CHECK_FALSE(ok_reader.failed());
  // 100,000 nested arrays: refused at the limit, no recursion.
  std::string too_deep = deep + std::string(100000, '[') + std::string(100000, ']') + "}";
  JsonObjectReader deep_reader(too_deep);
  CHECK_FALSE(deep_reader.next(m));
  CHECK(deep_reader.failed());
  // Trailing garbage after the object.
  JsonObjectReader trailing("{\"a\":1} x");
  while (trailing.next(m)) {
  }
  CHECK_FALSE(trailing.failed());
  CHECK_FALSE(trailing.atEndOfInput());
}

TEST_CASE("json unescape: all escapes, surrogate pairs, lone surrogates") {
  std::string out;
  REQUIRE(appendUnescapedJson(R"(a\"b\\c\/d\be\ff\ng\rh\ti)", out));
  CHECK(out == "a\"b\\c/d\be\ff\ng\rh\ti");
  out.clear();
  REQUIRE(appendUnescapedJson(R"(caf\u00e9 \ud83d\ude00 \u20ac\u0041)", out));
  CHECK(out ==
        "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC"
        "A");
  out.clear();
  REQUIRE(appendUnescapedJson(R"(\ud800x\udc00)", out));
  CHECK(out == "\xEF\xBF\xBDx\xEF\xBF\xBD");
  out = "keep";
  CHECK_FALSE(appendUnescapedJson(R"(bad\x)", out));
  CHECK(out == "keep");
  CHECK_FALSE(appendUnescapedJson("end\\", out));
  CHECK_FALSE(appendUnescapedJson(R"(\u12)", out));
  CHECK(out == "keep");
}

TEST_CASE("json lines: zap, logrus, bunyan, pino, structlog, ECS, serilog, journald") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  // zap production encoder: float seconds.
  std::string_view zap =
      R"({"level":"info","ts":1704164645.1234567,"caller":"server/main.go:42","msg":"request handled","method":"GET","status":200,"latency":0.0012})";
  parser->parse(zap, out);
  CHECK(out.format == Format::kJson);
  CHECK(out.ts_ns == 1704164645123456700);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message == "request handled");
  CHECK(out.attrs.size() == 4);  // level, ts and msg are fields, not attributes
  CHECK(attr(out, "caller") == "server/main.go:42");
  CHECK(attr(out, "status") == "200");
  CHECK(attr(out, "latency") == "0.0012");
  CHECK(out.attrs[0].key == "caller");  // order kept
  CHECK(viewsAreInside(out, zap));
  CHECK(out.scratch.empty());  // nothing escaped, nothing copied

  // zap with an escaped stack trace: unescaped into scratch.
  std::string_view zap_err =
      R"({"level":"error","ts":1704164645.5,"caller":"x.go:1","msg":"failed","error":"dial tcp: i/o timeout","stacktrace":"main.main\n\t/app/main.go:20\nruntime.main\n\t/usr/local/go/src/runtime/proc.go:250"})";
  parser->parse(zap_err, out);
  CHECK(out.severity == Severity::kError);
  CHECK(attr(out, "stacktrace") ==
        "main.main\n\t/app/main.go:20\nruntime.main\n\t/usr/local/go/src/runtime/proc.go:250");
  CHECK(viewsAreInside(out, zap_err));

  parser->parse(
      R"({"level":"warning","msg":"disk almost full","time":"2024-01-02T03:04:05+01:00","used_pct":91})",
      out);  // logrus JSONFormatter
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.ts_ns == (1704164645 - 3600) * kS);
  CHECK(out.message == "disk almost full");

  parser->parse(
      R"({"name":"myapp","hostname":"web-1","pid":4242,"level":30,"msg":"hello world","time":"2024-01-02T03:04:05.123Z","v":0})",
      out);  // bunyan
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.ts_ns == 1704164645123000000);
  CHECK(attr(out, "hostname") == "web-1");

  parser->parse(
      R"J({"level":50,"time":1704164645123,"pid":17,"hostname":"api-7d9f","msg":"request failed","err":{"type":"Error","message":"boom","stack":"Error: boom\n    at handler (/app/index.js:10:11)"}})J",
      out);  // pino: epoch ms, numeric level, nested error
  CHECK(out.severity == Severity::kError);
  CHECK(out.ts_ns == 1704164645123000000);
  CHECK(out.message == "request failed");
  CHECK(
      attr(out, "err") ==
      R"J({"type":"Error","message":"boom","stack":"Error: boom\n    at handler (/app/index.js:10:11)"})J");

  parser->parse(
      R"({"event": "user logged in", "user_id": 42, "level": "info", "timestamp": "2024-01-02T03:04:05.123456Z"})",
      out);  // structlog JSONRenderer
  CHECK(out.message == "user logged in");
  CHECK(out.ts_ns == 1704164645123456000);
  CHECK(attr(out, "user_id") == "42");

  parser->parse(
      R"({"@timestamp":"2024-01-02T03:04:05.123Z","log.level":"ERROR","message":"Connection refused","ecs.version":"1.2.0","service.name":"orders","log.logger":"com.example.Orders"})",
      out);  // Elastic ECS
  CHECK(out.severity == Severity::kError);
  CHECK(out.message == "Connection refused");
  CHECK(attr(out, "service.name") == "orders");

  parser->parse(
      R"({"@t":"2024-01-02T03:04:05.1234567Z","@mt":"Processed {Count} items","@l":"Warning","Count":5})",
      out);  // Serilog compact
  CHECK(out.ts_ns == 1704164645123456700);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.message == "Processed {Count} items");

  parser->parse(
      R"({"__REALTIME_TIMESTAMP":"1704164645123456","PRIORITY":"3","MESSAGE":"Failed to start nginx.service","_SYSTEMD_UNIT":"nginx.service"})",
      out);  // journalctl -o json
  CHECK(out.ts_ns == 1704164645123456000);
  CHECK(out.severity == Severity::kError);
  CHECK(out.message == "Failed to start nginx.service");

  // Google Cloud Logging's structured time.
  parser->parse(
      R"({"timestamp":{"seconds":1704164645,"nanos":123000001},"severity":"WARNING","message":"slow"})",
      out);
  CHECK(out.ts_ns == 1704164645123000001);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.attrs.empty());
  parser->parse(R"({"timestamp":{"nanos":1},"message":"no seconds"})", out);
  CHECK(out.ts_ns == 0);
  CHECK(attr(out, "timestamp") == R"({"nanos":1})");

  // gen_log.py's JSON lines.
  parser->parse(
      R"({"ts":"2026-08-20T00:00:00.311Z","level":"info","service":"orders","msg":"cart updated","user":"user_001234","latency_ms":12,"req_id":"0f3c","ip":"10.1.2.3"})",
      out);
  CHECK(out.ts_ns == 1787184000311000000);
  CHECK(out.message == "cart updated");
}

TEST_CASE("json lines: escapes, configured keys, no message key, bad JSON") {
  auto parser = makeParser(Format::kJson);
  ParsedLine out;
  std::string_view line = R"({"msg":"caf\u00e9 \ud83d\ude00 \"quoted\"","lvl":"WRN"})";
  parser->parse(line, out);
  CHECK(out.format == Format::kJson);
  CHECK(out.message == "caf\xC3\xA9 \xF0\x9F\x98\x80 \"quoted\"");
  CHECK(out.severity == Severity::kWarn);
  CHECK(viewsAreInside(out, line));

  // No message key: the whole line is the message; unknown level stays an attribute.
  parser->parse(R"({"level":"verbose","a":1})", out);
  CHECK(out.message == R"({"level":"verbose","a":1})");
  CHECK(out.severity == Severity::kUnknown);
  CHECK(attr(out, "level") == "verbose");

  ParserOptions options;
  options.format = Format::kJson;
  options.time_keys = {"when"};
  options.level_keys = {"sev"};
  options.message_keys = {"text"};
  options.time_formats = {"%d.%m.%Y %H:%M:%S"};
  auto custom = makeParser(options);
  custom->parse(
      R"({"msg":"not me","text":"me","sev":"crit","when":"02.01.2024 03:04:05","time":"x"})", out);
  CHECK(out.message == "me");
  CHECK(out.severity == Severity::kCritical);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(attr(out, "msg") == "not me");
  CHECK(attr(out, "time") == "x");

  // Invalid JSON and a bad escape fall back to plain text, with what findSeverity sees.
  for (const char* bad : {R"({"level":"error","msg":"cut)", R"({"msg":"bad \q"})",
                          R"({"a":1} trailing)", "{}x", R"({"a":01.})"}) {
    CAPTURE(bad);
    parser->parse(bad, out);
    CHECK(out.format == Format::kPlain);
    CHECK(out.attrs.empty());
  }
  parser->parse(R"({"level":"error","msg":"cut)", out);
  CHECK(out.severity == Severity::kError);
  parser->parse("{}", out);
  CHECK(out.format == Format::kJson);
  CHECK(out.attrs.empty());
}

TEST_CASE("json lines: invalid UTF-8 passes through, huge lines are not parsed") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string line = "{\"msg\":\"bad \xC3\x28 utf8 \xFF\",\"level\":\"info\"}";
  parser->parse(line, out);
  CHECK(out.format == Format::kJson);
  CHECK(out.message == "bad \xC3\x28 utf8 \xFF");
  std::string huge = "{\"msg\":\"" + std::string(faultline::logparse::kMaxParseBytes, 'x') + "\"}";
  parser->parse(huge, out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.message.size() == huge.size());
  CHECK(out.attrs.empty());
  // Just under the limit still parses.
  std::string big =
      "{\"msg\":\"" + std::string(faultline::logparse::kMaxParseBytes - 10, 'x') + "\"}";
  parser->parse(big, out);
  CHECK(out.format == Format::kJson);
  // More members than the attribute cap: parsed, attributes capped.
  std::string many = "{";
  for (int i = 0; i < 1000; ++i) {
    many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  }
  many += "\"msg\":\"last\"}";
  parser->parse(many, out);
  CHECK(out.format == Format::kJson);
  CHECK(out.attrs.size() == 256);
}

TEST_CASE("logfmt: go-kit, logrus text, Loki, Heroku router") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view prom =
      R"J(ts=2024-01-02T03:04:05.123Z caller=main.go:123 level=info msg="Starting Prometheus Server" mode=server version="(version=2.48.1, branch=HEAD, revision=63894216)")J";
  parser->parse(prom, out);
  CHECK(out.format == Format::kLogfmt);
  CHECK(out.ts_ns == 1704164645123000000);
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message == "Starting Prometheus Server");
  CHECK(attr(out, "caller") == "main.go:123");
  CHECK(attr(out, "version") == "(version=2.48.1, branch=HEAD, revision=63894216)");
  CHECK(out.attrs.size() == 3);
  CHECK(viewsAreInside(out, prom));

  parser->parse(
      R"(time="2024-01-02T03:04:05+01:00" level=error msg="failed to connect" error="dial tcp 10.0.0.5:5432: connect: connection refused" attempt=3)",
      out);
  CHECK(out.format == Format::kLogfmt);
  CHECK(out.severity == Severity::kError);
  CHECK(out.ts_ns == (1704164645 - 3600) * kS);
  CHECK(attr(out, "attempt") == "3");

  parser->parse(
      R"(level=info ts=2024-01-02T03:04:05.123456789Z caller=table_manager.go:136 msg="uploading tables")",
      out);
  CHECK(out.ts_ns == 1704164645123456789);

  parser->parse(
      R"(at=info method=GET path="/" host=myapp.herokuapp.com fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https)",
      out);
  CHECK(out.format == Format::kLogfmt);
  CHECK(out.severity == Severity::kUnknown);
  CHECK(attr(out, "path") == "/");

  std::string_view escaped = R"(msg="say \"hi\"\n\tnow \x" level=debug flag)";
  parser->parse(escaped, out);
  CHECK(out.format == Format::kLogfmt);
  CHECK(out.message == "say \"hi\"\n\tnow \\x");
  CHECK(attr(out, "flag") == "");  // a bare key
  CHECK(viewsAreInside(out, escaped));

  for (const char* bad : {R"(msg="unterminated)", R"(a="b"c)", "=x y=1", "just words here"}) {
    CAPTURE(bad);
    auto strict = makeParser(Format::kLogfmt);
    strict->parse(bad, out);
    CHECK(out.format == Format::kPlain);
    CHECK(out.attrs.empty());
  }
}

TEST_CASE("docker json-file: inner line parsed again") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view line =
      R"({"log":"2024-01-02T03:04:05.123Z INFO  [main] Server started on port 8080\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"})";
  parser->parse(line, out);
  CHECK(out.format == Format::kDocker);
  CHECK(out.inner_format == Format::kPlain);
  CHECK(out.inner == "2024-01-02T03:04:05.123Z INFO  [main] Server started on port 8080");
  CHECK(out.ts_ns == 1704164645123456789);  // the runtime's time wins
  CHECK(out.severity == Severity::kInfo);
  CHECK(out.message == "[main] Server started on port 8080");
  CHECK(attr(out, "stream") == "stdout");
  CHECK_FALSE(out.partial);
  CHECK(viewsAreInside(out, line));

  // zap JSON inside docker: two levels of escapes, both decoded into scratch.
  std::string_view nested =
      R"({"log":"{\"level\":\"error\",\"ts\":1704164645.123,\"caller\":\"server/main.go:42\",\"msg\":\"listen failed: \\\"addr\\\" in use\",\"error\":\"address already in use\"}\n","stream":"stderr","time":"2024-01-02T03:04:05.200000000Z"})";
  parser->parse(nested, out);
  CHECK(out.format == Format::kDocker);
  CHECK(out.inner_format == Format::kJson);
  CHECK(out.severity == Severity::kError);
  CHECK(out.message == "listen failed: \"addr\" in use");
  CHECK(out.ts_ns == 1704164645200000000);
  CHECK(attr(out, "stream") == "stderr");
  CHECK(attr(out, "caller") == "server/main.go:42");
  CHECK(viewsAreInside(out, nested));

  // Nezha train-ticket's real docker lines (Spring Boot inside).
  parser->parse(
      R"({"log":"16:48:42.424 INFO  t.s.TravelServiceImpl#532 TraceID: 49a51828322183eb20bfe4ace3060000 SpanID: 083e5d40259e7999 [getRouteByRouteId][Get Route By Id]\n","stream":"stdout","time":"2023-01-29T08:48:42.425293566Z"})",
      out);
  CHECK(out.ts_ns == 1674982122425293566);
  CHECK(out.severity == Severity::kInfo);

  // A split long line: no trailing newline means more pieces follow.
  parser->parse(
      R"({"log":"first 16k of a long line","stream":"stdout","time":"2024-01-02T03:04:05Z"})", out);
  CHECK(out.partial);
  CHECK(out.inner == "first 16k of a long line");

  // Not docker: "log" without stream/time is an ordinary JSON line with message "log".
  parser->parse(R"({"log":"hello","level":"warn"})", out);
  CHECK(out.format == Format::kJson);
  CHECK(out.message == "hello");
  CHECK(out.severity == Severity::kWarn);
  // A docker line whose inner line is itself a docker line is parsed one level only.
  parser->parse(R"({"log":"{\"log\":\"x\\n\",\"stream\":\"stdout\"}\n","stream":"stdout"})", out);
  CHECK(out.format == Format::kDocker);
  CHECK(out.inner_format == Format::kJson);
  CHECK(out.message == "x\n");
}

TEST_CASE("CRI (containerd / CRI-O): stream, full and partial lines") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view line =
      "2024-01-02T03:04:05.123456789Z stdout F 2024-01-02 03:04:05.123 WARN  c.e.App - pool low";
  parser->parse(line, out);
  CHECK(out.format == Format::kCri);
  CHECK(out.inner_format == Format::kPlain);
  CHECK(out.ts_ns == 1704164645123456789);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.inner == "2024-01-02 03:04:05.123 WARN  c.e.App - pool low");
  CHECK(out.message == "c.e.App - pool low");
  CHECK(attr(out, "stream") == "stdout");
  CHECK_FALSE(out.partial);
  CHECK(viewsAreInside(out, line));

  parser->parse("2024-01-02T03:04:05.123456789+00:00 stderr P partial line content", out);
  CHECK(out.format == Format::kCri);
  CHECK(out.partial);
  CHECK(attr(out, "stream") == "stderr");
  CHECK(out.inner == "partial line content");

  parser->parse(R"(2024-01-02T03:04:05.5Z stdout F {"level":"info","msg":"ok","k":"v"})", out);
  CHECK(out.inner_format == Format::kJson);
  CHECK(out.message == "ok");
  CHECK(out.ts_ns == 1704164645500000000);
  CHECK(out.attrs.size() == 2);

  parser->parse("2024-01-02T03:04:05.5Z stdout F ", out);
  CHECK(out.format == Format::kCri);
  CHECK(out.inner.empty());
  parser->parse("2024-01-02T03:04:05.5Z stdout F", out);
  CHECK(out.format == Format::kCri);
  CHECK(out.inner.empty());
  // Not CRI: other stream names or tags; the line is an app line with a timestamp.
  parser->parse("2024-01-02T03:04:05.5Z stdout X msg", out);
  CHECK(out.format == Format::kPlain);
  parser->parse("2024-01-02T03:04:05.5Z stdin F msg", out);
  CHECK(out.format == Format::kPlain);
}
