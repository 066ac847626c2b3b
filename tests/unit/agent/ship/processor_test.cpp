// The processing pipeline on its own: what reaches the sink, with which offsets, and what is
// counted. The sink records what it is given (it is the collector's interface; the collector
// itself is tested with the real spool in pipeline_test.cpp).
#include "agent/pipeline/processor.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using faultline::logparse::Severity;
using faultline::testing::runUntil;
using faultline::testing::TestLoop;

namespace {
struct Seen {
  tail::StreamId stream = 0;
  std::string line;
  std::uint64_t end_offset = 0;
  bool no_newline = false;
  Severity severity = Severity::kUnknown;
  std::int64_t event_ts_ns = 0;
  std::uint64_t template_id = 0;
  std::string template_text;
  std::vector<std::string> params;
  bool aggregate = false;
};

struct RecordingSink final : RecordSink {
  std::vector<Seen> records;
  std::vector<std::pair<tail::StreamId, std::uint64_t>> skipped;
  void onRecord(const PipelineRecord& r) override {
    Seen s;
    s.stream = r.stream;
    s.line = std::string(r.line);
    s.end_offset = r.end_offset;
    s.no_newline = r.no_newline;
    s.severity = r.severity;
    s.event_ts_ns = r.event_ts_ns;
    if (r.mined != nullptr) {
      s.template_id = r.mined->template_id;
      s.template_text = std::string(r.mined->template_text);
      for (std::string_view p : r.mined->params) {
        s.params.emplace_back(p);
      }
    }
    s.aggregate = r.aggregate;
    records.push_back(std::move(s));
  }
  void onSkipped(tail::StreamId stream, std::uint64_t end_offset) override {
    skipped.emplace_back(stream, end_offset);
  }
};

struct Fixture {
  TestLoop loop;
  RecordingSink sink;
  PipelineMetrics metrics;
  std::unique_ptr<Processor> processor;
  std::uint64_t offset = 0;

  explicit Fixture(const PipelineConfig& config = {}) {
    auto created = Processor::create(loop.get(), config, &sink, &metrics);
    REQUIRE_MESSAGE(created.isOk(), created.status().toString());
    processor = std::move(created).value();
  }
  ~Fixture() {
    processor.reset();
    CHECK(loop.drainAndClose());
  }
  void feed(std::string_view line, tail::StreamId stream = 1, std::string_view source = "/a.log") {
    offset += line.size() + 1;
    processor->onLine(stream, source, line, offset, false, 1000);
  }
};
}  // namespace

TEST_CASE("processor: every line becomes a record with severity, event time and a template") {
  Fixture f;
  f.feed("2026-08-20T00:00:00.002Z ERROR [billing] payment 123 failed after 45ms");
  f.feed("2026-08-20T00:00:01.000Z INFO  [billing] payment 124 captured");
  f.feed("plain text without anything");
  REQUIRE(f.sink.records.size() == 3);
  const Seen& first = f.sink.records[0];
  CHECK(first.severity == Severity::kError);
  CHECK(first.event_ts_ns == 1787184000002000000LL);
  CHECK(first.end_offset == 71);
  CHECK(first.template_id != 0);
  // Lossless: the template and its parameters give the line back.
  std::string rebuilt;
  std::vector<std::string_view> views(first.params.begin(), first.params.end());
  REQUIRE(logtemplate::renderLine(first.template_text, views, rebuilt).isOk());
  CHECK(rebuilt == first.line);
  CHECK(f.sink.records[1].severity == Severity::kInfo);
  CHECK(f.sink.records[2].severity == Severity::kUnknown);
  CHECK(f.metrics.lines_in == 3);
  CHECK(f.metrics.events == 3);
  CHECK(f.metrics.with_severity == 2);
}

TEST_CASE("processor: an untimed line takes the time of its stream's last timed line") {
  Fixture f;
  f.feed("late start without a time", 2, "/b.log");
  f.feed("2026-08-20T00:00:00.002Z ERROR payment failed");
  f.feed("{\"log\":\"truncated row without its time");  // a cut-off docker line
  f.feed("another untimed line", 2, "/b.log");
  f.feed("2026-08-20T00:00:07.000Z INFO recovered");
  f.feed("\tat com.example.Pay.run(Pay.java:42)");
  REQUIRE(f.sink.records.size() == 6);
  // Streams carry separately: /b.log has seen no time, so its lines stay unknown (0), and the
  // aggregator falls back to their read time.
  CHECK(f.sink.records[0].event_ts_ns == 0);
  CHECK(f.sink.records[3].event_ts_ns == 0);
  CHECK(f.sink.records[1].event_ts_ns == 1787184000002000000LL);
  CHECK(f.sink.records[2].event_ts_ns == 1787184000002000000LL);
  CHECK(f.sink.records[4].event_ts_ns == 1787184007000000000LL);
  CHECK(f.sink.records[5].event_ts_ns == 1787184007000000000LL);
  CHECK(f.metrics.with_timestamp == 2);  // the metric counts lines that had their own time
}

TEST_CASE("processor: secrets are redacted before the sink sees the line") {
  Fixture f;
  f.feed("INFO login user=bob password=hunter2hunter2 ok");
  REQUIRE(f.sink.records.size() == 1);
  CHECK(f.sink.records[0].line.find("hunter2") == std::string::npos);
  CHECK(f.sink.records[0].line.find("[REDACTED:password]") != std::string::npos);
  CHECK(f.metrics.lines_redacted == 1);
  CHECK(f.metrics.redactions[static_cast<std::size_t>(redact::Kind::kPassword)] == 1);

  PipelineConfig off;
  off.redact = false;
  Fixture g(off);
  g.feed("INFO login user=bob password=hunter2hunter2 ok");
  CHECK(g.sink.records[0].line.find("hunter2") != std::string::npos);
}

TEST_CASE("processor: filters drop by severity, pattern and source, and count each reason") {
  PipelineConfig config;
  config.min_severity = Severity::kInfo;
  config.drop_patterns = {"healthz"};
  config.drop_sources = {"/var/log/noisy/*"};
  Fixture f(config);
  f.feed("DEBUG cache warm");                       // below info
  f.feed("INFO GET /healthz 200");                  // pattern
  f.feed("INFO noisy", 2, "/var/log/noisy/x.log");  // source
  f.feed("no level at all");                        // kept: no severity
  f.feed("ERROR disk full");
  CHECK(f.sink.records.size() == 2);
  CHECK(f.metrics.dropped_severity == 1);
  CHECK(f.metrics.dropped_pattern == 1);
  CHECK(f.metrics.dropped_source == 1);
  // Dropped lines still move their stream's offset, in order.
  REQUIRE(f.sink.skipped.size() == 3);
  CHECK(f.sink.skipped[0].second < f.sink.skipped[1].second);

  PipelineConfig keep;
  keep.keep_patterns = {"^ERROR", "payment"};
  Fixture g(keep);
  g.feed("INFO payment ok");
  g.feed("INFO other");
  g.feed("ERROR boom");
  CHECK(g.sink.records.size() == 2);
  CHECK(g.metrics.dropped_pattern == 1);
}

TEST_CASE("processor: bad settings are refused with the key named") {
  TestLoop loop;
  RecordingSink sink;
  PipelineMetrics metrics;
  PipelineConfig bad_regex;
  bad_regex.drop_patterns = {"(unclosed"};
  auto r = Processor::create(loop.get(), bad_regex, &sink, &metrics);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message().find("filter.drop") != std::string::npos);
  PipelineConfig fold_errors;
  fold_errors.aggregate_max_severity = Severity::kError;
  CHECK_FALSE(Processor::create(loop.get(), fold_errors, &sink, &metrics).isOk());
  PipelineConfig bad_format;
  bad_format.source_formats = {{"/x/*", "yaml"}};
  CHECK_FALSE(Processor::create(loop.get(), bad_format, &sink, &metrics).isOk());
  CHECK(loop.drainAndClose());
}

TEST_CASE("processor: sampling keeps 1 in N per template, never errors") {
  PipelineConfig config;
  config.sample_one_in = 4;
  Fixture f(config);
  for (int i = 0; i < 100; ++i) {
    f.feed("INFO request " + std::to_string(i) + " served");
  }
  for (int i = 0; i < 10; ++i) {
    f.feed("ERROR request " + std::to_string(i) + " failed");
  }
  CHECK(f.sink.records.size() == 25 + 10);
  CHECK(f.metrics.dropped_sampled == 75);
}

TEST_CASE("processor: per-template rate limit drops the excess and counts it") {
  PipelineConfig config;
  config.template_rate_limit = 10;
  Fixture f(config);
  for (int i = 0; i < 50; ++i) {
    f.feed("INFO tick " + std::to_string(i));
  }
  f.feed("WARN other template");
  // The loop clock does not advance inside this test: the bucket holds its burst only.
  CHECK(f.sink.records.size() == 11);
  CHECK(f.metrics.dropped_rate_limited == 40);
}

TEST_CASE("processor: aggregate mode marks low-severity lines of chosen templates, never errors") {
  Fixture probe;
  probe.feed("DEBUG heartbeat from worker 1 ok");
  std::string tmpl = probe.sink.records.at(0).template_text;

  PipelineConfig config;
  config.aggregate_templates = {tmpl};
  config.aggregate_max_severity = Severity::kDebug;
  Fixture f(config);
  f.feed("DEBUG heartbeat from worker 2 ok");
  f.feed("DEBUG heartbeat from worker 3 ok");
  f.feed("INFO something else 1");
  REQUIRE(f.sink.records.size() == 3);
  CHECK(f.sink.records[0].aggregate);
  CHECK(f.sink.records[1].aggregate);
  CHECK_FALSE(f.sink.records[2].aggregate);
}

TEST_CASE("processor: multiline joins a java stack trace and reports the last line's offset") {
  PipelineConfig config;
  config.multiline_mode = "auto";
  Fixture f(config);
  f.feed("2026-08-20T00:00:00Z ERROR request failed");
  f.feed("java.lang.IllegalStateException: boom");
  f.feed("\tat com.acme.Handler.process(Handler.java:42)");
  f.feed("\tat com.acme.Server.run(Server.java:7)");
  std::uint64_t end_of_trace = f.offset;
  // The trace is held until the next event starts: nothing may be checkpointed past it.
  f.feed("2026-08-20T00:00:01Z INFO next request");
  REQUIRE(f.sink.records.size() >= 1);
  const Seen& trace = f.sink.records.back().line.find("next request") == std::string::npos
                          ? f.sink.records.back()
                          : f.sink.records[f.sink.records.size() - 2];
  CHECK(trace.line.find("\tat com.acme.Server.run(Server.java:7)") != std::string::npos);
  CHECK(trace.line.find("request failed\n") != std::string::npos);
  CHECK(trace.end_offset == end_of_trace);
  std::size_t before = f.sink.records.size();
  // The last event of a quiet file leaves on the flush timeout.
  f.processor->flushIdle(INT64_MAX / 2);
  CHECK(f.sink.records.size() == before + 1);
  CHECK(f.sink.records.back().line == "2026-08-20T00:00:01Z INFO next request");
  CHECK(f.sink.records.back().end_offset == f.offset);
  CHECK(f.metrics.multiline_joined >= 2);
  CHECK(f.metrics.lines_in == 5);
}

TEST_CASE("processor: reconfigure flushes open events and applies new filters to the next line") {
  PipelineConfig config;
  config.multiline_mode = "auto";
  Fixture f(config);
  f.feed("ERROR first");
  f.feed("\tat a.b.C.d(C.java:1)");
  PipelineConfig next;
  next.drop_patterns = {"DROPME"};
  REQUIRE(f.processor->reconfigure(next).isOk());
  REQUIRE(f.sink.records.size() == 1);
  CHECK(f.sink.records[0].line == "ERROR first\n\tat a.b.C.d(C.java:1)");
  f.feed("INFO DROPME please");
  f.feed("INFO keep me");
  CHECK(f.sink.records.size() == 2);
  CHECK(f.metrics.dropped_pattern == 1);
  PipelineConfig broken;
  broken.keep_patterns = {"(("};
  CHECK_FALSE(f.processor->reconfigure(broken).isOk());
  f.feed("INFO DROPME still dropped by the old config");
  CHECK(f.metrics.dropped_pattern == 2);
}
