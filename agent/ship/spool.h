#pragma once

// The disk spool: one file per sealed batch, named by its sequence number, holding the
// compressed payload exactly as it will be sent plus the file offsets the batch covers.
//
// Durability contract (see agent/pipeline/collector.h): an entry is durable (temp file,
// fsync, rename, directory fsync) before the offsets it covers are checkpointed, and start-up
// re-applies the offsets of entries spooled after the last checkpoint. Together this means a
// SIGKILL at any moment neither loses nor duplicates a line.
//
// File layout (little-endian):
//   "FLSPOOL1" | u32 version | u32 offset_count | u64 epoch | u64 seq | u64 records |
//   u64 line_bytes | u64 payload_bytes | offset_count x (i64 stream, u64 offset) |
//   payload | u32 crc32 of everything before it
//
// Threads: `writeEntryFile` and `readEntryFile` touch no shared state and may run on a worker
// thread; everything else runs on the loop thread.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/inputs/tail/offset_store.h"
#include "shared/util/status.h"

namespace faultline::agent::ship {

/// What the spool knows about one entry without reading its payload.
struct SpoolEntry {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::uint64_t records = 0;
  std::uint64_t line_bytes = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t file_bytes = 0;  // size on disk
  std::vector<tail::OffsetCheckpoint> offsets;
};

/// An entry read back from disk.
struct SpoolFile {
  SpoolEntry entry;
  std::string payload;
};

/// What start-up recovery found and did.
struct SpoolRecovery {
  /// Valid entries spooled after the last checkpoint, in seq order: their offsets must be
  /// re-applied (OffsetStore::checkpoint(offsets, seq)) before the tailer starts.
  std::vector<SpoolEntry> reapply;
  std::uint64_t next_seq = 1;
  std::size_t temp_files_removed = 0;
  /// Corrupt entries moved to corrupt/. Those at or below the checkpoint are lost lines;
  /// those above it are re-read from the files (their offsets were never checkpointed).
  std::size_t corrupt_lost = 0;
  std::size_t corrupt_reread = 0;
  /// Valid entries after a corrupt uncheckpointed one: deleted, their lines are re-read too.
  std::size_t discarded_reread = 0;
};

class Spool {
 public:
  static constexpr std::uint64_t kMaxPayloadBytes = 64ULL << 20;

  /// Opens (creating) the spool directory `dir` with its rejected/ and corrupt/ subdirectories.
  static Result<std::unique_ptr<Spool>> open(const std::string& dir);

  /// Scans the directory: removes temp files, quarantines corrupt entries, indexes the rest.
  /// `checkpoint_seq` is OffsetStore::checkpointSeq(). Call once, before anything else.
  Result<SpoolRecovery> recover(std::uint64_t checkpoint_seq);

  /// Durably writes an entry (temp, fsync, rename, dir fsync). Returns the file size.
  /// Thread-safe (no shared state); `entry.file_bytes` is ignored.
  static Result<std::uint64_t> writeEntryFile(const std::string& dir, const SpoolEntry& entry,
                                              std::string_view payload);
  /// Reads and verifies one entry file. DataLoss when it is corrupt. Thread-safe.
  static Result<SpoolFile> readEntryFile(const std::string& path);

  /// Indexes an entry that writeEntryFile put in this spool's directory.
  void added(const SpoolEntry& entry);
  /// Reads and verifies the payload of an indexed entry.
  Result<SpoolFile> read(std::uint64_t seq) const;
  /// Deletes an acknowledged entry.
  Status remove(std::uint64_t seq);
  /// Moves an entry the server will never accept to rejected/ (kept for an operator).
  Status reject(std::uint64_t seq);

  const std::map<std::uint64_t, SpoolEntry>& entries() const { return entries_; }
  std::size_t count() const { return entries_.size(); }
  std::uint64_t bytes() const { return bytes_; }
  const std::string& dir() const { return dir_; }
  std::string pathOf(std::uint64_t seq) const;
  static std::string fileName(std::uint64_t seq);

 private:
  explicit Spool(std::string dir) : dir_(std::move(dir)) {}
  Status moveTo(std::uint64_t seq, const char* subdir);

  std::string dir_;
  std::map<std::uint64_t, SpoolEntry> entries_;
  std::uint64_t bytes_ = 0;
};

}  // namespace faultline::agent::ship
