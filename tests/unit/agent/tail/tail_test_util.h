#pragma once

// Shared fixtures of the tail tests: temp dirs, file writers, a recording sink that checkpoints
// like the collector does, and a loop driver with timeouts.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.h"
#include "agent/inputs/tail/offset_store.h"
#include "agent/inputs/tail/tailer.h"
#include "shared/util/time.h"

namespace faultline::agent::tail::testing {

using faultline::testing::TempDir;

inline void appendFile(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    REQUIRE(n > 0);
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

/// "<prefix>-000042 some padding so fingerprints are strong\n" for i in [from, to).
inline std::string numberedLines(const std::string& prefix, int from, int to) {
  std::string out;
  char buf[64];
  for (int i = from; i < to; ++i) {
    std::snprintf(buf, sizeof buf, "%s-%06d padding text\n", prefix.c_str(), i);
    out += buf;
  }
  return out;
}

inline std::string numberedLine(const std::string& prefix, int i) {
  std::string l = numberedLines(prefix, i, i + 1);
  l.pop_back();
  return l;
}

struct Line {
  StreamId stream;
  std::string source;
  std::string text;
  std::uint64_t end_offset;
  bool no_newline;
};

/// Records every line; optionally checkpoints after each read pass like the collector.
class RecordingSink final : public LineSink {
 public:
  void onLine(StreamId stream, std::string_view source, std::string_view line,
              std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns) override {
    CHECK(read_ts_ns > 0);
    auto& last = last_end_[stream];
    CHECK(end_offset > last);  // offsets strictly increase within a stream
    last = end_offset;
    lines.push_back(Line{stream, std::string(source), std::string(line), end_offset, no_newline});
    if (on_line) {
      on_line(lines.back());
    }
  }
  void onReadPassDone() override {
    ++passes;
    if (auto_commit && store != nullptr) {
      std::vector<OffsetCheckpoint> offsets;
      for (const auto& [stream, end] : last_end_) {
        offsets.push_back({stream, end});
      }
      REQUIRE(store->checkpoint(offsets, ++seq).isOk());
      if (tailer != nullptr) {
        tailer->markCommitted(offsets);
      }
    }
  }

  /// Forgets what was delivered (a restarted agent re-delivers from the checkpoint).
  void reset() {
    lines.clear();
    last_end_.clear();
  }

  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& l : lines) {
      out.push_back(l.text);
    }
    return out;
  }

  std::vector<Line> lines;
  std::function<void(const Line&)> on_line;
  int passes = 0;
  bool auto_commit = false;
  OffsetStore* store = nullptr;
  Tailer* tailer = nullptr;
  std::uint64_t seq = 0;

 private:
  std::map<StreamId, std::uint64_t> last_end_;
};

/// A loop, a store in a temp dir and a tailer feeding a RecordingSink.
class Harness {
 public:
  explicit Harness(const TempDir& dir) : dir_(dir) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    openStore();
  }
  ~Harness() {
    stopTailer();
    CHECK(uv_loop_close(&loop_) == 0);
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  void openStore() {
    auto store = OffsetStore::open(dir_.file("offsets.db"));
    REQUIRE(store.isOk());
    store_ = std::move(store).value();
  }

  TailerOptions options(const std::string& glob_name = "app.log*") const {
    TailerOptions o;
    o.globs = {dir_.file(glob_name)};
    o.scan_interval = std::chrono::milliseconds(20);
    o.rotate_wait = std::chrono::milliseconds(100);
    o.partial_line_flush = std::chrono::milliseconds(150);
    return o;
  }

  void startTailer(TailerOptions o) {
    tailer_ = std::make_unique<Tailer>(&loop_, std::move(o), store_.get(), &sink);
    sink.store = store_.get();
    sink.tailer = tailer_.get();
    Status st = tailer_->start();
    REQUIRE_MESSAGE(st.isOk(), st.toString());
  }

  void stopTailer() {
    if (tailer_ != nullptr) {
      tailer_->stop();
      uv_run(&loop_, UV_RUN_DEFAULT);  // lets the handles close
      tailer_.reset();
      sink.tailer = nullptr;
    }
  }

  /// Runs the loop until `done` holds or `timeout_ms` passes; returns `done()`.
  bool runUntil(const std::function<bool()>& done, int timeout_ms) {
    uv_timer_t wake;
    uv_timer_init(&loop_, &wake);
    uv_timer_start(&wake, [](uv_timer_t*) noexcept {}, 5, 5);
    const std::int64_t deadline = monotonicNanos() + std::int64_t{timeout_ms} * 1000000;
    bool ok = done();
    while (!ok && monotonicNanos() < deadline) {
      uv_run(&loop_, UV_RUN_ONCE);
      ok = done();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return ok;
  }

  /// Runs the loop for `ms` regardless.
  void runFor(int ms) { (void)runUntil([] { return false; }, ms); }

  bool waitLines(std::size_t n, int timeout_ms = 5000) {
    return runUntil([&] { return sink.lines.size() >= n; }, timeout_ms);
  }

  uv_loop_t* loop() { return &loop_; }
  OffsetStore* store() { return store_.get(); }
  Tailer* tailer() { return tailer_.get(); }

  RecordingSink sink;

 private:
  const TempDir& dir_;
  uv_loop_t loop_{};
  std::unique_ptr<OffsetStore> store_;
  std::unique_ptr<Tailer> tailer_;
};

}  // namespace faultline::agent::tail::testing
