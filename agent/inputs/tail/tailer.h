#pragma once

// The tail input: follows files matching globs, rotation-safe, from durable offsets.
//
// A file is a stream identified by device+inode plus a fingerprint of its first bytes, so
// rename-and-create rotation, copytruncate and inode reuse are told apart. Lines are handed to
// a LineSink with the offset just past them; the owner checkpoints offsets (OffsetStore) only
// after the lines are durably spooled. Runs on one libuv loop; not thread-safe.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/inputs/tail/offset_store.h"
#include "shared/util/status.h"

namespace faultline::agent::tail {

inline constexpr std::size_t kFingerprintBytes = 256;

/// Receives lines in file order. Called on the loop thread.
class LineSink {
 public:
  virtual ~LineSink() = default;
  /// One line of `source` without its '\n'. `end_offset` is the stream offset just past the
  /// '\n' (or past the piece when `no_newline`: a piece of an overlong line, or a final line
  /// that never got its newline). `read_ts_ns` is when it was read (unix ns).
  virtual void onLine(StreamId stream, std::string_view source, std::string_view line,
                      std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns) = 0;
  /// Called after each read pass that delivered lines: a natural point to close a batch.
  virtual void onReadPassDone() {}
};

struct TailerOptions {
  std::vector<std::string> globs;
  /// Files already present the first time the agent runs (empty offset store) start at their
  /// end unless this is true. Files that appear later always start at byte 0.
  bool start_at_beginning = false;
  std::chrono::milliseconds scan_interval{1000};  // glob re-scan and stat when idle
  std::size_t read_chunk_bytes = 256 * 1024;
  std::size_t max_line_bytes = 1024 * 1024;  // longer lines are split (no_newline pieces)
  /// How long a rotated-away file is watched for late writes after it reached EOF.
  std::chrono::milliseconds rotate_wait{5000};
  /// A line without '\n' at EOF is emitted (no_newline) after the file stays unchanged this long.
  std::chrono::milliseconds partial_line_flush{5000};
};

/// What `faultline-agent status` shows per file.
struct FileStatus {
  StreamId stream = 0;
  std::string source;
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t read_offset = 0;       // bytes handed to the sink
  std::uint64_t committed_offset = 0;  // bytes checkpointed
  bool rotated = false;
};

struct TailerStats {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::uint64_t files_opened = 0;
  std::uint64_t rotations = 0;
  std::uint64_t truncations = 0;
  std::uint64_t truncated_bytes_lost = 0;  // unread bytes cut by copytruncate with no copy found
  std::uint64_t long_line_splits = 0;
};

class Tailer {
 public:
  Tailer(uv_loop_t* loop, TailerOptions options, OffsetStore* store, LineSink* sink);
  ~Tailer();
  Tailer(const Tailer&) = delete;
  Tailer& operator=(const Tailer&) = delete;

  /// Loads streams from the store and starts scanning and reading.
  Status start();
  /// Stops delivering lines (back-pressure: the spool is full) / starts again.
  void pause();
  void resume();
  bool paused() const;
  /// Record that these offsets are now checkpointed (after OffsetStore::checkpoint).
  void markCommitted(const std::vector<OffsetCheckpoint>& offsets);
  /// Closes handles; the loop must run once more for them to close.
  void stop();
  /// Replaces the globs (config reload). Files that no longer match are read to their end
  /// and then let go like rotated-away files; new matches are picked up by the next scan.
  void setGlobs(std::vector<std::string> globs);
  /// Frees the read buffer (max_line_bytes + read_chunk_bytes); the next read allocates it
  /// again. For an agent gone idle.
  void releaseIdleMemory();

  std::vector<FileStatus> fileStatus() const;
  TailerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::agent::tail
