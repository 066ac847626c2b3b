#pragma once

// Helpers for the agent's tests: temp dirs, a recording decorator around the real SQLite
// OffsetStore (checkpoint order, injected failures), an InputControl that records pause/resume, and
// a loop runner.

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/inputs/tail/offset_store.h"
#include "agent/pipeline/collector.h"
#include "shared/util/time.h"

namespace faultline::testing {

/// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/faultline-agent-test-XXXXXX";
    char* made = ::mkdtemp(tmpl);
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::string cmd = "rm -rf '" + path_ + "'";
      [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// The real SQLite OffsetStore (in its own temp dir), decorated for tests: every call is
/// delegated to it; in addition the checkpoint calls that succeeded are recorded in order,
/// `fail_next` makes the next N checkpoint calls fail without reaching the store, and
/// `on_checkpoint` runs just before a checkpoint is delegated.
///
/// The real store ignores checkpoints of streams it does not know: register every stream a
/// test feeds with addStream() (or upsertStream) and use the id it returns.
class RecordingOffsetStore final : public agent::tail::OffsetStore {
 public:
  struct Call {
    std::vector<agent::tail::OffsetCheckpoint> offsets;
    std::uint64_t seq;
  };

  RecordingOffsetStore() {
    auto opened = agent::tail::OffsetStore::open(dir_.path() + "/offsets.db");
    REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
    real_ = std::move(opened).value();
  }

  Result<std::vector<agent::tail::StreamState>> loadStreams() override {
    return real_->loadStreams();
  }
  Result<std::uint64_t> checkpointSeq() override { return real_->checkpointSeq(); }
  Status upsertStream(agent::tail::StreamState* state) override {
    return real_->upsertStream(state);
  }
  Status checkpoint(const std::vector<agent::tail::OffsetCheckpoint>& offsets,
                    std::uint64_t spool_seq) override {
    if (fail_next > 0) {
      --fail_next;
      return unavailable("injected checkpoint failure");
    }
    if (on_checkpoint) {
      on_checkpoint(spool_seq);
    }
    Status st = real_->checkpoint(offsets, spool_seq);
    if (st.isOk()) {
      calls.push_back({offsets, spool_seq});
    }
    return st;
  }
  Status forget(const std::vector<agent::tail::StreamId>& streams) override {
    return real_->forget(streams);
  }

  /// Registers a new stream seen at `path`; returns the id the store assigned.
  agent::tail::StreamId addStream(const std::string& path) {
    agent::tail::StreamState state;
    state.source = path;
    state.path = path;
    Status st = upsertStream(&state);
    REQUIRE_MESSAGE(st.isOk(), st.toString());
    return state.id;
  }
  /// The stored offset of `stream`, read back from the store (0 when unknown).
  std::uint64_t offset(agent::tail::StreamId stream) {
    auto streams = real_->loadStreams();
    REQUIRE_MESSAGE(streams.isOk(), streams.status().toString());
    for (const auto& s : *streams) {
      if (s.id == stream) {
        return s.offset;
      }
    }
    return 0;
  }
  /// Moves the stored checkpoint sequence to `seq` (no offsets), as a previous run would
  /// have; not recorded in `calls`.
  void setCheckpointSeq(std::uint64_t seq) {
    Status st = real_->checkpoint({}, seq);
    REQUIRE_MESSAGE(st.isOk(), st.toString());
  }

  std::vector<Call> calls;
  int fail_next = 0;
  std::function<void(std::uint64_t)> on_checkpoint;

 private:
  TempDir dir_;
  std::unique_ptr<agent::tail::OffsetStore> real_;
};

/// Records the collector's back-pressure and commit notices.
class RecordingInput final : public agent::InputControl {
 public:
  void pauseInput() override {
    paused = true;
    ++pauses;
  }
  void resumeInput() override {
    paused = false;
    ++resumes;
  }
  void committed(const std::vector<agent::tail::OffsetCheckpoint>& offsets) override {
    committed_calls.push_back(offsets);
  }
  bool paused = false;
  int pauses = 0;
  int resumes = 0;
  std::vector<std::vector<agent::tail::OffsetCheckpoint>> committed_calls;
};

/// Runs `loop` until `done()` or `timeout`; returns done().
inline bool runUntil(uv_loop_t* loop, const std::function<bool()>& done,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  std::int64_t deadline = monotonicNanos() + timeout.count() * 1'000'000;
  // A repeating timer keeps the loop turning while waiting on worker threads and sockets.
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) noexcept {}, 5, 5);
  while (!done() && monotonicNanos() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return done();
}

/// Owns a loop; the destructor drains it and checks it closes.
class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    closed_ok_ = uv_loop_close(&loop_) == 0;
  }
  uv_loop_t* get() { return &loop_; }
  /// Runs until all handles are closed; true when the loop then closes cleanly.
  bool drainAndClose() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    return uv_loop_alive(&loop_) == 0;
  }

 private:
  uv_loop_t loop_{};
  bool closed_ok_ = false;
};

}  // namespace faultline::testing
