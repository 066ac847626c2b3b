// Processor + Collector + the real spool: what lands in spooled batches, decoded and rendered
// the way the aggregator's export does.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "agent/pipeline/collector.h"
#include "agent/pipeline/processor.h"
#include "agent/ship/spool.h"
#include "shared/util/fs.h"
#include "shared/wire/batch.h"
#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using namespace std::chrono_literals;
using faultline::testing::RecordingInput;
using faultline::testing::RecordingOffsetStore;
using faultline::testing::runUntil;
using faultline::testing::TempDir;
using faultline::testing::TestLoop;

namespace {
struct Pipeline {
  TempDir tmp;
  TestLoop loop;
  std::unique_ptr<ship::Spool> spool;
  RecordingOffsetStore store;
  RecordingInput input;
  AgentMetrics metrics;
  std::unique_ptr<Collector> collector;
  std::unique_ptr<Processor> processor;
  std::uint64_t offset = 0;
  std::int64_t now_ns = 1'000'000'000;
  // What the aggregator's dictionary would hold: every text any batch carried.
  std::map<std::uint64_t, std::string> dictionary;
  std::uint64_t aggregated_lines = 0;

  explicit Pipeline(const PipelineConfig& config = {},
                    std::chrono::milliseconds dedupe_window = 10'000ms) {
    spool = std::move(ship::Spool::open(fs::join(tmp.path(), "spool")).value());
    CollectorOptions options;
    options.agent_id = "agt_test";
    options.epoch = 7;
    options.batch_max_bytes = 1 << 20;
    options.batch_max_age = 10'000ms;
    options.dedupe_window = dedupe_window;
    collector = std::make_unique<Collector>(loop.get(), options, spool.get(), &store, &metrics, 1);
    collector->setInput(&input);
    collector->setPipelineMetrics(&metrics.pipeline);
    auto created = Processor::create(loop.get(), config, collector.get(), &metrics.pipeline);
    REQUIRE_MESSAGE(created.isOk(), created.status().toString());
    processor = std::move(created).value();
  }
  ~Pipeline() {
    processor.reset();
    collector.reset();
    CHECK(loop.drainAndClose());
  }

  void feed(std::string_view line, tail::StreamId stream = 1) {
    offset += line.size() + 1;
    now_ns += 1000;
    processor->onLine(stream, "/var/log/app.log", line, offset, false, now_ns);
  }

  void flush() {
    processor->flushAll();
    bool done = false;
    collector->flush([&] { done = true; });
    REQUIRE(runUntil(loop.get(), [&] { return done; }));
  }

  /// Every spooled batch rendered like `admin logs export`: lines with '\n', duplicates
  /// expanded, aggregates counted apart.
  std::string exportAll() {
    std::string out;
    for (std::uint64_t seq = 1; seq < collector->nextSeq(); ++seq) {
      auto file = spool->read(seq);
      REQUIRE(file.isOk());
      auto decoded = wire::decodeBatch(file->payload);
      REQUIRE_MESSAGE(decoded.isOk(), decoded.status().toString());
      const wire::DecodedBatch& batch = **decoded;
      for (const wire::Template& t : batch.templates) {
        dictionary[t.id] = std::string(t.text);
      }
      wire::TemplateLookup lookup = [&](std::uint64_t id) -> std::optional<std::string_view> {
        auto it = dictionary.find(id);
        if (it == dictionary.end()) {
          return std::nullopt;
        }
        return std::string_view(it->second);
      };
      for (const wire::Record& r : batch.records) {
        if (r.kind == wire::RecordKind::Aggregate) {
          aggregated_lines += r.count;
          continue;
        }
        std::string line;
        Status rendered = wire::renderRecordLine(batch, r, lookup, line);
        REQUIRE_MESSAGE(rendered.isOk(), rendered.toString());
        for (std::uint64_t i = 0; i < r.count; ++i) {
          out += line;
          if (!r.no_newline) {
            out += '\n';
          }
        }
      }
    }
    return out;
  }
};
}  // namespace

TEST_CASE("pipeline: templated lines render back byte for byte, texts travel once per stream") {
  Pipeline p;
  std::string expected;
  for (int batch = 0; batch < 3; ++batch) {
    for (int i = 0; i < 200; ++i) {
      std::string line = "2026-08-20T00:00:0" + std::to_string(batch) + "." +
                         std::to_string(100 + i) + "Z INFO  [orders] order " +
                         std::to_string(1000 + i * 7) + " shipped to  host-" + std::to_string(i) +
                         " in " + std::to_string(i * 3) + "ms";
      p.feed(line);
      expected += line + "\n";
    }
    p.flush();
  }
  CHECK(p.exportAll() == expected);
  CHECK(p.metrics.pipeline.templated >= 590);
  // Three batches of the same few templates: each text was shipped once, not once per batch.
  CHECK(p.metrics.pipeline.templates_sent <= p.metrics.pipeline.templates_known + 4);
  CHECK(p.dictionary.size() == p.metrics.pipeline.templates_sent);
}

TEST_CASE("pipeline: identical lines within the window collapse into one record with a count") {
  Pipeline p;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    p.feed("ERROR connection refused to db-1:5432");
    expected += "ERROR connection refused to db-1:5432\n";
  }
  p.feed("INFO recovered");
  expected += "INFO recovered\n";
  p.flush();
  CHECK(p.metrics.pipeline.deduped == 49);
  CHECK(p.metrics.pipeline.records == 2);
  CHECK(p.exportAll() == expected);
  // One record carries count 50 with first and last read times.
  auto file = p.spool->read(1);
  REQUIRE(file.isOk());
  auto decoded = wire::decodeBatch(file->payload);
  REQUIRE(decoded.isOk());
  const wire::Record& first = (*decoded)->records.at(0);
  CHECK(first.count == 50);
  CHECK(first.last_ts_ns > first.ts_ns);
}

TEST_CASE("pipeline: duplicates outside the window stay separate records") {
  Pipeline p({}, 0ms);
  p.feed("WARN same");
  p.feed("WARN same");
  p.flush();
  CHECK(p.metrics.pipeline.deduped == 0);
  CHECK(p.exportAll() == "WARN same\nWARN same\n");
}

TEST_CASE("pipeline: aggregate mode folds chosen debug lines into counts, errors pass") {
  PipelineConfig probe_config;
  Pipeline probe(probe_config);
  probe.feed("DEBUG poll queue=orders depth=3");
  probe.flush();
  std::string text = std::string(probe.processor->miner().clusters().at(0).template_text);

  PipelineConfig config;
  config.aggregate_templates = {text};
  Pipeline p(config);
  for (int i = 0; i < 30; ++i) {
    p.feed("DEBUG poll queue=orders depth=" + std::to_string(i));
  }
  p.feed("ERROR poll queue=orders depth=99");
  p.flush();
  std::string exported = p.exportAll();
  CHECK(p.aggregated_lines == 30);
  CHECK(p.metrics.pipeline.aggregated == 30);
  CHECK(exported == "ERROR poll queue=orders depth=99\n");
}

TEST_CASE("pipeline: offsets of dropped lines are checkpointed even when nothing is kept") {
  PipelineConfig config;
  config.drop_patterns = {"noise"};
  Pipeline p(config);
  for (int i = 0; i < 10; ++i) {
    p.feed("noise " + std::to_string(i));
  }
  p.flush();
  CHECK(p.collector->nextSeq() == 1);  // no batch was needed
  REQUIRE_FALSE(p.store.calls.empty());
  CHECK(p.store.calls.back().offsets.at(0).offset == p.offset);
}

TEST_CASE("pipeline: multiline events hold back the checkpoint until they are batched") {
  PipelineConfig config;
  config.multiline_mode = "auto";
  Pipeline p(config);
  p.feed("ERROR failed");
  p.feed("\tat a.b.C.d(C.java:1)");
  p.feed("\tat a.b.C.e(C.java:2)");
  p.flush();
  CHECK(p.exportAll() == "ERROR failed\n\tat a.b.C.d(C.java:1)\n\tat a.b.C.e(C.java:2)\n");
  CHECK(p.metrics.pipeline.records == 1);
  REQUIRE_FALSE(p.store.calls.empty());
  CHECK(p.store.calls.back().offsets.at(0).offset == p.offset);
}
