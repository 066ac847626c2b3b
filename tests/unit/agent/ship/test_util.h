#pragma once

// Helpers for the agent's tests: temp dirs, an in-memory OffsetStore that records the order
// of checkpoints, an InputControl that records pause/resume, and a loop runner.

#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
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

/// An OffsetStore kept in memory: it remembers every checkpoint call in order.
class MemoryOffsetStore final : public agent::tail::OffsetStore {
 public:
  struct Call {
    std::vector<agent::tail::OffsetCheckpoint> offsets;
    std::uint64_t seq;
  };

  Result<std::vector<agent::tail::StreamState>> loadStreams() override { return streams_; }
  Result<std::uint64_t> checkpointSeq() override { return seq_; }
  Status upsertStream(agent::tail::StreamState* state) override {
    if (state->id == 0) {
      state->id = static_cast<agent::tail::StreamId>(streams_.size() + 1);
    }
    streams_.push_back(*state);
    return Status::ok();
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
    calls.push_back({offsets, spool_seq});
    for (const auto& cp : offsets) {
      offsets_[cp.stream] = cp.offset;
    }
    seq_ = spool_seq;
    return Status::ok();
  }
  Status forget(const std::vector<agent::tail::StreamId>&) override { return Status::ok(); }

  std::uint64_t offset(agent::tail::StreamId stream) const {
    auto it = offsets_.find(stream);
    return it == offsets_.end() ? 0 : it->second;
  }
  void setCheckpointSeq(std::uint64_t seq) { seq_ = seq; }

  std::vector<Call> calls;
  int fail_next = 0;
  std::function<void(std::uint64_t)> on_checkpoint;

 private:
  std::vector<agent::tail::StreamState> streams_;
  std::map<agent::tail::StreamId, std::uint64_t> offsets_;
  std::uint64_t seq_ = 0;
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
