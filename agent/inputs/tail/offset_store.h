#pragma once

// Durable per-file read positions of the tail input, in SQLite (WAL).
//
// Each tailed file is a stream with a durable id. The agent checkpoints a stream's offset only
// after the batch holding the lines before it is safely in the spool; `spool_seq` records which
// spooled batch the checkpoint includes, so that start-up can re-apply the offsets of batches
// spooled after it (see agent/ship/spool.h). Single-threaded (the agent's loop thread).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shared/util/status.h"

namespace faultline::agent::tail {

using StreamId = std::int64_t;

/// What the store remembers about one file.
struct StreamState {
  StreamId id = 0;
  std::string source;        // the path the file was first seen at: the records' source name
  std::string path;          // where it was seen last
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::string fingerprint;   // the file's first bytes (up to kFingerprintBytes), raw
  std::uint64_t offset = 0;  // bytes durably handled (everything before is spooled)
  bool finished = false;     // rotated away and drained; kept a while for identification
  std::int64_t discovered_ns = 0;
};

struct OffsetCheckpoint {
  StreamId stream = 0;
  std::uint64_t offset = 0;
};

class OffsetStore {
 public:
  static Result<std::unique_ptr<OffsetStore>> open(const std::string& path);
  virtual ~OffsetStore() = default;

  virtual Result<std::vector<StreamState>> loadStreams() = 0;
  /// The spool sequence number the stored offsets include (0 when none).
  virtual Result<std::uint64_t> checkpointSeq() = 0;
  /// Inserts a new stream (id assigned) or updates identity fields of an existing one.
  virtual Status upsertStream(StreamState* state) = 0;
  /// Sets offsets and the checkpoint sequence in one transaction.
  virtual Status checkpoint(const std::vector<OffsetCheckpoint>& offsets, std::uint64_t spool_seq) = 0;
  /// Removes streams (files long gone).
  virtual Status forget(const std::vector<StreamId>& streams) = 0;
};

}  // namespace faultline::agent::tail
