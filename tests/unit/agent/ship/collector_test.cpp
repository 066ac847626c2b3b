#include "agent/pipeline/collector.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "agent/ship/spool.h"
#include "shared/util/crypto.h"
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
struct Fixture {
  TempDir tmp;
  TestLoop loop;
  std::unique_ptr<ship::Spool> spool;
  RecordingOffsetStore store;
  RecordingInput input;
  AgentMetrics metrics;
  std::unique_ptr<Collector> collector;
  int spooled_notices = 0;

  explicit Fixture(CollectorOptions options, std::uint64_t next_seq = 1) {
    spool = std::move(ship::Spool::open(fs::join(tmp.path(), "spool")).value());
    options.agent_id = "agt_test";
    options.epoch = 42;
    collector =
        std::make_unique<Collector>(loop.get(), options, spool.get(), &store, &metrics, next_seq);
    collector->setInput(&input);
    collector->setOnSpooled([this] { ++spooled_notices; });
  }
  ~Fixture() {
    collector.reset();
    CHECK(loop.drainAndClose());
  }

  std::unique_ptr<wire::DecodedBatch> decode(std::uint64_t seq) {
    auto file = spool->read(seq);
    REQUIRE(file.isOk());
    auto batch = wire::decodeBatch(file->payload);
    REQUIRE(batch.isOk());
    return std::move(batch).value();
  }

  void flush() {
    bool done = false;
    collector->flush([&] { done = true; });
    REQUIRE(runUntil(loop.get(), [&] { return done; }));
  }
};

CollectorOptions opts(std::size_t max_bytes, std::chrono::milliseconds age,
                      std::uint64_t spool_max = 1ULL << 30) {
  CollectorOptions o;
  o.batch_max_bytes = max_bytes;
  o.batch_max_age = age;
  o.spool_max_bytes = spool_max;
  return o;
}
}  // namespace

TEST_CASE("a batch is sealed when its line bytes reach batch.max_bytes") {
  Fixture f(opts(1000, 60s));
  const tail::StreamId a = f.store.addStream("/var/log/a.log");
  std::string line(100, 'a');
  for (int i = 0; i < 25; ++i) {
    line[0] = static_cast<char>('A' + i);
    f.collector->onLine(a, "/var/log/a.log", line, static_cast<std::uint64_t>(101 * (i + 1)), false,
                        1000 + i);
  }
  // Lines 1..10 fill batch 1, which is sealed at once. While it is being written the rest
  // keeps arriving (the tailer's current chunk): the next batch overfills, so the input is
  // paused until the write finishes, and that batch is sealed right after.
  CHECK(f.input.paused);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.store.calls.size() == 2; }));
  CHECK_FALSE(f.input.paused);
  CHECK(f.input.pauses == 1);
  CHECK(f.spool->count() == 2);
  CHECK(f.collector->openRecords() == 0);
  auto first = f.decode(1);
  CHECK(first->header.agent == "agt_test");
  CHECK(first->header.epoch == 42);
  CHECK(first->header.seq == 1);
  REQUIRE(first->records.size() == 10);
  CHECK(first->records[0].line.substr(0, 1) == "A");
  CHECK(first->records[0].ts_ns == 1000);
  CHECK(first->sources[first->records[0].source] == "/var/log/a.log");
  CHECK(f.decode(2)->records.size() == 15);
  CHECK(f.store.calls[0].seq == 1);
  REQUIRE(f.store.calls[0].offsets.size() == 1);
  CHECK(f.store.calls[0].offsets[0].stream == a);
  CHECK(f.store.calls[0].offsets[0].offset == 1010);
  CHECK(f.store.calls[1].offsets[0].offset == 2525);
  CHECK(f.input.committed_calls.size() == 2);
  CHECK(f.spooled_notices == 2);
  CHECK(f.metrics.batches_sealed == 2);
  CHECK(f.metrics.lines_read == 25);
  CHECK(f.metrics.lines_spooled == 25);

  // Under the size limit, lines wait for age or shutdown.
  f.collector->onLine(a, "/var/log/a.log", "tail", 2530, false, 5000);
  runUntil(
      f.loop.get(), [] { return false; }, 100ms);
  CHECK(f.spool->count() == 2);
  f.flush();
  CHECK(f.spool->count() == 3);
  CHECK(f.decode(3)->records.size() == 1);
  CHECK(f.store.calls.back().offsets[0].offset == 2530);
  CHECK(f.collector->nextSeq() == 4);
}

TEST_CASE("releasing idle memory between batches keeps sealing exact batches") {
  Fixture f(opts(1000, 60s));
  const tail::StreamId a = f.store.addStream("/var/log/a.log");
  std::string line(100, 'a');
  std::uint64_t offset = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 10; ++i) {
      line[0] = static_cast<char>('A' + round * 10 + i);
      offset += 101;
      f.collector->onLine(a, "/var/log/a.log", line, offset, false, 1000 + i);
    }
    const std::size_t batches = static_cast<std::size_t>(round) + 1;
    REQUIRE(runUntil(f.loop.get(), [&] { return f.store.calls.size() == batches; }));
    // Idle: the builders and the shared compression context are dropped, then rebuilt.
    f.collector->releaseIdleMemory();
  }
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    auto batch = f.decode(seq);
    REQUIRE(batch->records.size() == 10);
    CHECK(batch->records[0].line.substr(0, 1) ==
          std::string(1, static_cast<char>('A' + (seq - 1) * 10)));
  }
  CHECK(f.store.calls.back().offsets[0].offset == offset);
}

TEST_CASE("a batch is sealed when its age reaches batch.max_age") {
  Fixture f(opts(1 << 20, 150ms));
  const tail::StreamId a = f.store.addStream("/a");
  const tail::StreamId b = f.store.addStream("/b");
  REQUIRE(a < b);
  // The age timer counts from the loop's cached time; opening the store and registering the
  // streams took a while since the loop last ran, so bring that time up to date first.
  uv_update_time(f.loop.get());
  std::int64_t start = monotonicNanos();
  f.collector->onLine(a, "/a", "first", 6, false, 1);
  f.collector->onLine(b, "/b", "partial", 7, true, 2);
  REQUIRE(runUntil(
      f.loop.get(), [&] { return f.store.calls.size() == 1; }, 5s));
  double elapsed_ms = static_cast<double>(monotonicNanos() - start) / 1e6;
  CHECK(elapsed_ms >= 140);
  CHECK(elapsed_ms < 2000);
  auto batch = f.decode(1);
  REQUIRE(batch->records.size() == 2);
  CHECK(batch->records[1].no_newline);
  CHECK_FALSE(batch->records[0].no_newline);
  CHECK(batch->sources.size() == 2);
  // Offsets of both streams are checkpointed, in stream order.
  REQUIRE(f.store.calls[0].offsets.size() == 2);
  CHECK(f.store.calls[0].offsets[0].stream == a);
  CHECK(f.store.calls[0].offsets[1].offset == 7);
}

TEST_CASE("the checkpoint happens only after the spool entry is durable on disk") {
  Fixture f(opts(1024, 60s));
  const tail::StreamId a = f.store.addStream("/a");
  std::vector<bool> file_present;
  f.store.on_checkpoint = [&](std::uint64_t seq) {
    struct stat st {};
    file_present.push_back(::stat(f.spool->pathOf(seq).c_str(), &st) == 0);
  };
  std::string line(600, 'x');
  for (int i = 0; i < 6; ++i) {
    f.collector->onLine(a, "/a", line, static_cast<std::uint64_t>(601 * (i + 1)), false, i);
    REQUIRE(runUntil(f.loop.get(), [&] { return !f.collector->sealInFlight(); }));
  }
  f.flush();
  REQUIRE(file_present.size() == 3);
  for (bool present : file_present) {
    CHECK(present);
  }
  for (std::size_t i = 0; i < f.store.calls.size(); ++i) {
    CHECK(f.store.calls[i].seq == i + 1);  // strictly in order
  }
}

TEST_CASE("a full spool pauses the input, nothing is dropped, and acks resume it") {
  Fixture f(opts(1024, 60s, 3000));
  const tail::StreamId a = f.store.addStream("/a");
  std::uint64_t offset = 0;
  int fed = 0;
  auto feed = [&](int n) {
    for (int i = 0; i < n; ++i) {
      // Random hex: distinct lines that compress only about 2:1, so batches stay large.
      std::string line = crypto::randomHex(256);
      offset += line.size() + 1;
      f.collector->onLine(a, "/a", line, offset, false, fed);
      ++fed;
    }
  };
  for (int round = 0; round < 100 && !f.input.paused; ++round) {
    feed(2);
    REQUIRE(runUntil(f.loop.get(), [&] { return !f.collector->sealInFlight(); }));
  }
  REQUIRE(f.input.paused);
  CHECK(f.collector->pausedForSpoolFull());
  CHECK(f.metrics.paused_spool_full);
  CHECK(f.spool->bytes() >= 3000);
  std::size_t entries_when_full = f.spool->count();

  // The tailer may still hand over the rest of its chunk: kept, but not sealed while full.
  feed(6);
  runUntil(
      f.loop.get(), [] { return false; }, 200ms);
  CHECK(f.spool->count() == entries_when_full);
  CHECK(f.collector->openRecords() == 6);
  CHECK(f.input.pauses == 1);

  // Acks free the spool: reading resumes and the waiting batch is sealed.
  std::vector<std::uint64_t> seqs;
  for (const auto& [seq, entry] : f.spool->entries()) {
    seqs.push_back(seq);
  }
  for (std::uint64_t seq : seqs) {
    REQUIRE(f.spool->remove(seq).isOk());
  }
  f.collector->onSpoolFreed();
  CHECK_FALSE(f.input.paused);
  CHECK_FALSE(f.metrics.paused_spool_full);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spool->count() > 0; }));
  f.flush();
  CHECK(f.metrics.lines_spooled == static_cast<std::uint64_t>(fed));
  CHECK(f.store.calls.back().offsets[0].offset == offset);
}

TEST_CASE("shutdown flush spools a full batch even when the spool is over its cap") {
  Fixture f(opts(1024, 60s, 2048));
  const tail::StreamId a = f.store.addStream("/a");
  for (int i = 0; i < 8; ++i) {
    f.collector->onLine(a, "/a", crypto::randomHex(200), static_cast<std::uint64_t>(401 * (i + 1)),
                        false, i);
  }
  f.flush();
  CHECK(f.metrics.lines_spooled == 8);
  CHECK(f.store.calls.back().offsets[0].offset == 401 * 8);
}

TEST_CASE("a failed checkpoint is carried into the next one") {
  Fixture f(opts(1024, 60s));
  const tail::StreamId a = f.store.addStream("/a");
  const tail::StreamId b = f.store.addStream("/b");
  f.store.fail_next = 1;
  std::string line(600, 'q');
  f.collector->onLine(a, "/a", line, 601, false, 1);
  f.collector->onLine(a, "/a", line, 1202, false, 2);
  REQUIRE(runUntil(f.loop.get(), [&] { return !f.collector->sealInFlight(); }));
  CHECK(f.store.calls.empty());
  CHECK(f.metrics.checkpoint_errors == 1);
  CHECK(f.input.committed_calls.empty());
  f.collector->onLine(b, "/b", line, 601, false, 3);
  f.flush();
  REQUIRE(f.store.calls.size() == 1);
  CHECK(f.store.calls[0].seq == 2);
  REQUIRE(f.store.calls[0].offsets.size() == 2);
  CHECK(f.store.offset(a) == 1202);
  CHECK(f.store.offset(b) == 601);
}

TEST_CASE("a spool write failure keeps the batch, pauses input, and retries it") {
  Fixture f([] {
    CollectorOptions o = opts(1024, 60s);
    o.write_retry = 100ms;
    return o;
  }());
  const tail::StreamId a = f.store.addStream("/a");
  std::string spool_dir = f.spool->dir();
  // Make the directory unwritable by swapping it for a file.
  std::string moved = spool_dir + ".away";
  REQUIRE(::rename(spool_dir.c_str(), moved.c_str()) == 0);
  REQUIRE(fs::writeFileAtomic(spool_dir, "not a directory").isOk());
  std::string line(700, 'z');
  f.collector->onLine(a, "/a", line, 701, false, 1);
  f.collector->onLine(a, "/a", line, 1402, false, 2);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.metrics.spool_write_errors >= 1; }));
  CHECK(f.input.paused);
  CHECK(f.store.calls.empty());
  REQUIRE(::unlink(spool_dir.c_str()) == 0);
  REQUIRE(::rename(moved.c_str(), spool_dir.c_str()) == 0);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.store.calls.size() == 1; }));
  CHECK_FALSE(f.input.paused);
  CHECK(f.store.calls[0].seq == 1);
  CHECK(f.decode(1)->records.size() == 2);
  f.flush();
}
