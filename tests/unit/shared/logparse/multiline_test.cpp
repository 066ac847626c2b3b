// Multiline joining with real Java, Python and Go traces; interleaving, caps, custom start
// regex, and the lossless invariant (events joined by '\n' == the input lines).
#include "shared/logparse/multiline.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using faultline::logparse::MultilineJoiner;
using faultline::logparse::MultilineOptions;

namespace {

struct Event {
  std::string text;
  std::size_t lines;
};

std::vector<Event> join(const std::vector<std::string>& lines, MultilineOptions options = {}) {
  auto joiner = MultilineJoiner::create(options);
  REQUIRE_MESSAGE(joiner.isOk(), joiner.status().toString());
  std::vector<Event> events;
  MultilineJoiner::Emit emit = [&](std::string_view event, std::size_t n) {
    events.push_back({std::string(event), n});
  };
  for (const std::string& line : lines) {
    (*joiner)->add(line, emit);
  }
  (*joiner)->flush(emit);
  CHECK_FALSE((*joiner)->hasOpenEvent());
  // Lossless: the events, joined again, are the input.
  std::string input;
  std::string output;
  std::size_t total_lines = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    input += (i ? "\n" : "") + lines[i];
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    output += (i ? "\n" : "") + events[i].text;
    total_lines += events[i].lines;
  }
  CHECK(output == input);
  CHECK(total_lines == lines.size());
  return events;
}

MultilineOptions optionsOf(std::string mode, std::string start_regex = "",
                           std::size_t max_lines = 500, std::size_t max_bytes = 256 * 1024) {
  MultilineOptions options;
  options.mode = std::move(mode);
  options.start_regex = std::move(start_regex);
  options.max_lines = max_lines;
  options.max_bytes = max_bytes;
  return options;
}

std::string joined(const std::vector<std::string>& lines, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    out += (i > from ? "\n" : "") + lines[i];
  }
  return out;
}

const std::vector<std::string> kSpringTrace = {
    "2024-01-02 03:04:05.678 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet]"
    "    : Servlet.service() for servlet [dispatcherServlet] threw exception with root cause",
    "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null",
    "\tat com.example.demo.DemoController.hello(DemoController.java:15) ~[classes/:na]",
    "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method) ~[na:na]",
    "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883) "
    "~[spring-webmvc-5.3.31.jar:5.3.31]",
    "\t... 48 common frames omitted",
    "Caused by: java.io.IOException: Broken pipe",
    "\tat sun.nio.ch.FileDispatcherImpl.write0(Native Method)",
    "\t... 12 more",
    "\tSuppressed: java.lang.IllegalStateException: closed",
    "\t\tat com.example.Foo.close(Foo.java:10)",
    "2024-01-02 03:04:06.000  INFO 1 --- [main] c.e.demo.DemoApplication : next",
};

const std::vector<std::string> kPythonTrace = {
    "2024-01-02 03:04:05,123 ERROR [app] Unhandled exception",
    "Traceback (most recent call last):",
    "  File \"/app/server.py\", line 42, in handle",
    "    result = process(request)",
    "  File \"/app/server.py\", line 17, in process",
    "    return int(value)",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    "  File \"/app/server.py\", line 44, in handle",
    "    raise RuntimeError(\"processing failed\")",
    "RuntimeError: processing failed",
    "2024-01-02 03:04:06,000 INFO [app] next request",
};

const std::vector<std::string> kGoPanic = {
    "2024/01/02 03:04:05 handling request id=42",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a6]",
    "",
    "goroutine 1 [running]:",
    "main.(*Server).handle(0x0, {0x4c6f20, 0xc000012345})",
    "\t/app/server.go:27 +0x26",
    "main.main()",
    "\t/app/main.go:12 +0x1d",
    "",
    "goroutine 18 [chan receive]:",
    "main.worker(0xc00001c0c0)",
    "\t/app/worker.go:33 +0x5f",
    "created by main.startWorkers in goroutine 1",
    "\t/app/worker.go:20 +0x85",
    "exit status 2",
    "2024/01/02 03:04:06 server restarted",
};

}  // namespace

TEST_CASE("multiline java: a Spring Boot trace with Caused by, ... more and Suppressed") {
  for (const char* mode : {"java", "auto"}) {
    CAPTURE(mode);
    MultilineOptions options;
    options.mode = mode;
    auto events = join(kSpringTrace, options);
    REQUIRE(events.size() == 2);
    CHECK(events[0].lines == 11);
    CHECK(events[0].text == joined(kSpringTrace, 0, 11));
    CHECK(events[1].text == kSpringTrace[11]);
  }
}

TEST_CASE("multiline java: gen_log.py frames indented with spaces") {
  std::vector<std::string> lines = {
      "2026-08-20T00:00:01.000Z ERROR [billing] host=h pid=1 java.net.SocketTimeoutException: x",
      "    at com.acme.billing.Handler0.process(Handler0.java:10) ~[app-1.2.jar:?]",
      "    at com.acme.billing.Handler1.process(Handler1.java:20) ~[app-1.2.jar:?]",
      "    at com.acme.billing.Handler2.process(Handler2.java:30) ~[app-1.2.jar:?]",
      "2026-08-20T00:00:01.100Z INFO  [billing] host=h pid=1 next",
  };
  auto events = join(lines);
  REQUIRE(events.size() == 2);
  CHECK(events[0].lines == 4);
}

TEST_CASE("multiline python: chained tracebacks after logging.exception") {
  for (const char* mode : {"python", "auto"}) {
    CAPTURE(mode);
    MultilineOptions options;
    options.mode = mode;
    auto events = join(kPythonTrace, options);
    REQUIRE(events.size() == 2);
    CHECK(events[0].lines == 14);
    CHECK(events[1].text == kPythonTrace[14]);
  }
}

TEST_CASE("multiline python: a bare traceback, 3.11 carets, and one traceback after another") {
  std::vector<std::string> lines = {
      "Traceback (most recent call last):",
      "  File \"/tmp/t.py\", line 3, in <module>",
      "    print(1/0)",
      "          ~^~",
      "ZeroDivisionError: division by zero",
      "Traceback (most recent call last):",
      "  File \"/tmp/u.py\", line 1, in <module>",
      "KeyboardInterrupt",
      "done",
  };
  MultilineOptions options;
  options.mode = "python";
  auto events = join(lines, options);
  REQUIRE(events.size() == 3);
  CHECK(events[0].lines == 5);
  CHECK(events[1].lines == 3);
  CHECK(events[2].text == "done");
}

TEST_CASE("multiline go: panic with goroutine dumps and created by") {
  for (const char* mode : {"go", "auto"}) {
    CAPTURE(mode);
    MultilineOptions options;
    options.mode = mode;
    auto events = join(kGoPanic, options);
    REQUIRE(events.size() == 3);
    CHECK(events[0].text == kGoPanic[0]);  // the panic is its own event
    CHECK(events[1].lines == 15);
    CHECK(events[1].text.substr(0, 7) == "panic: ");
    CHECK(events[2].text == kGoPanic[16]);
  }
}

TEST_CASE("multiline go: debug.Stack() output after a log line joins it") {
  std::vector<std::string> lines = {
      "2024/01/02 03:04:05 recovered: boom",
      "goroutine 7 [running]:",
      "runtime/debug.Stack()",
      "\t/usr/local/go/src/runtime/debug/stack.go:24 +0x5e",
      "2024/01/02 03:04:06 ok",
  };
  MultilineOptions options;
  options.mode = "go";
  auto events = join(lines, options);
  REQUIRE(events.size() == 2);
  CHECK(events[0].lines == 4);
}

TEST_CASE("multiline: one mode does not join another language's traces") {
  MultilineOptions options;
  options.mode = "java";
  auto events = join(kPythonTrace, options);
  CHECK(events.size() > 5);  // python lines are starts for the java rules
  options.mode = "python";
  events = join(kSpringTrace, options);
  CHECK(events.size() >= 5);
}

TEST_CASE("multiline auto: traces of all three languages in one stream") {
  std::vector<std::string> lines = kSpringTrace;
  lines.insert(lines.end(), kPythonTrace.begin(), kPythonTrace.end());
  lines.insert(lines.end(), kGoPanic.begin(), kGoPanic.end());
  auto events = join(lines);
  // java: 2, python: 2, go: 3 events
  CHECK(events.size() == 7);
}

TEST_CASE("multiline: an interleaved line from another thread splits the trace, losslessly") {
  std::vector<std::string> lines = {
      "2024-01-02 03:04:05.000 ERROR [t1] failed",
      "java.lang.IllegalStateException: boom",
      "\tat a.B.c(B.java:1)",
      "2024-01-02 03:04:05.001 INFO [t2] unrelated",
      "\tat a.B.d(B.java:2)",
      "\t... 3 more",
  };
  auto events = join(lines);
  REQUIRE(events.size() == 2);
  CHECK(events[0].lines == 3);
  CHECK(events[1].lines == 3);  // the stray frames attach to the line before them
  CHECK(events[1].text.substr(0, 23) == "2024-01-02 03:04:05.001");
}

TEST_CASE("multiline: continuation lines with nothing open start an event") {
  std::vector<std::string> lines = {"\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)", "x"};
  auto events = join(lines);
  REQUIRE(events.size() == 2);
  CHECK(events[0].lines == 2);
}

TEST_CASE("multiline: max_lines and max_bytes caps") {
  std::vector<std::string> lines = {"2024-01-02 ERROR start"};
  for (int i = 0; i < 7; ++i) {
    lines.push_back("\tat a.B.m" + std::to_string(i) + "(B.java:" + std::to_string(i) + ")");
  }
  lines.push_back("2024-01-02 INFO next");
  MultilineOptions options;
  options.max_lines = 3;
  auto events = join(lines, options);
  REQUIRE(events.size() == 4);
  CHECK(events[0].lines == 3);
  CHECK(events[1].lines == 3);
  CHECK(events[2].lines == 2);
  CHECK(events[3].lines == 1);

  options = {};
  options.max_bytes = 50;  // each frame is 19-20 bytes: two fit after the start line? no
  events = join(lines, options);
  for (const Event& e : events) {
    CHECK((e.text.size() <= 50 || e.lines == 1));
  }
  CHECK(events.size() > 3);

  // A single line longer than max_bytes is emitted whole, on its own.
  std::vector<std::string> big = {"start", std::string(100, 'x'), "\tat x"};
  big[1].insert(0, "\t");
  options.max_bytes = 50;
  events = join(big, options);
  REQUIRE(events.size() == 3);
  CHECK(events[1].text.size() == 101);
}

TEST_CASE("multiline: emitted at max_lines immediately, and flush emits the rest") {
  auto joiner = MultilineJoiner::create(optionsOf("java", "", 2, 1024));
  REQUIRE(joiner.isOk());
  std::vector<std::string> events;
  MultilineJoiner::Emit emit = [&](std::string_view e, std::size_t) { events.emplace_back(e); };
  (*joiner)->add("start", emit);
  CHECK(events.empty());
  CHECK((*joiner)->hasOpenEvent());
  (*joiner)->add("\tat x", emit);
  REQUIRE(events.size() == 1);  // reached max_lines
  CHECK_FALSE((*joiner)->hasOpenEvent());
  (*joiner)->add("next", emit);
  (*joiner)->flush(emit);
  REQUIRE(events.size() == 2);
  CHECK(events[1] == "next");
  (*joiner)->flush(emit);  // nothing open: nothing emitted
  CHECK(events.size() == 2);
}

TEST_CASE("multiline regex: custom start pattern") {
  MultilineOptions options;
  options.mode = "regex";
  options.start_regex = R"(^\[\d{2}:\d{2}:\d{2}\])";
  std::vector<std::string> lines = {"[03:04:05] first",  "  detail",         "more detail",
                                    "[03:04:06] second", "[03:04:07] third", "tail"};
  auto events = join(lines, options);
  REQUIRE(events.size() == 3);
  CHECK(events[0].lines == 3);
  CHECK(events[1].lines == 1);
  CHECK(events[2].lines == 2);
}

TEST_CASE("multiline: option validation") {
  auto error = [](MultilineOptions options) {
    auto joiner = MultilineJoiner::create(options);
    REQUIRE_FALSE(joiner.isOk());
    return joiner.status().message();
  };
  CHECK(error(optionsOf("ruby")).find("ruby") != std::string::npos);
  CHECK(error(optionsOf("regex")).find("needs start_regex") != std::string::npos);
  CHECK(error(optionsOf("regex", "(")).find("bad start_regex") != std::string::npos);
  CHECK(error(optionsOf("auto", "x")).find("only used") != std::string::npos);
  CHECK(error(optionsOf("auto", "", 0)).find("at least") != std::string::npos);
  CHECK(error(optionsOf("auto", "", 1, 0)).find("at least") != std::string::npos);
}

TEST_CASE("multiline: random input stays lossless in every mode") {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"2024-01-02 INFO x",
                                           "\tat a.b(C.java:1)",
                                           "Caused by: x.Y: z",
                                           "Traceback (most recent "
                                           "call last):",
                                           "  File \"a\", line 1",
                                           "ValueError: v",
                                           "",
                                           "panic: p",
                                           "goroutine 1 "
                                           "[running]:",
                                           "main.main()",
                                           "created by x",
                                           "plain",
                                           "    ... 3 more",
                                           "During handling "
                                           "of the above exception, another exception occurred:",
                                           "exit status 2"};
  for (const char* mode : {"auto", "java", "python", "go"}) {
    std::vector<std::string> lines;
    for (int i = 0; i < 3000; ++i) {
      lines.push_back(pieces[rng() % pieces.size()]);
    }
    MultilineOptions options;
    options.mode = mode;
    options.max_lines = 1 + rng() % 20;
    options.max_bytes = 20 + rng() % 200;
    join(lines, options);  // checks the invariant
  }
}
