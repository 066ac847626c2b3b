#pragma once

// The collector: the tail input's LineSink. It fills a batch, seals it on size or age, writes
// it to the spool on a worker thread, and only then checkpoints the offsets it covers.
//
//   onLine ──► open BatchBuilder ──(size | age | flush)──► uv_queue_work: seal (zstd) + spool
//   write (fsync) ──► loop: Spool::added, OffsetStore::checkpoint(offsets, seq),
//   InputControl::committed(offsets), wake the sender.
//
// One seal/write is in flight at a time, so spool entries and checkpoints are strictly in seq
// order. While it runs the next batch keeps filling; if that one is full too, the input is
// paused until the write completes. When the spool holds spool_max_bytes or more the input is
// paused (never dropped) until acks free space.
//
// Threads: all methods on the loop thread. Owns its builders; does not own the spool, the
// offset store, the input or the metrics (they must outlive it).

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/inputs/tail/offset_store.h"
#include "agent/inputs/tail/tailer.h"
#include "agent/pipeline/processor.h"
#include "agent/pipeline/uv_timer.h"
#include "agent/ship/spool.h"
#include "agent/status/metrics.h"
#include "shared/wire/batch.h"

namespace faultline::agent {

/// What the collector needs from its input: back-pressure and commit notices. The agent
/// adapts tail::Tailer to it.
class InputControl {
 public:
  virtual ~InputControl() = default;
  virtual void pauseInput() = 0;
  virtual void resumeInput() = 0;
  /// Called after OffsetStore::checkpoint succeeded for these offsets.
  virtual void committed(const std::vector<tail::OffsetCheckpoint>& offsets) = 0;
};

struct CollectorOptions {
  std::string agent_id;
  std::uint64_t epoch = 0;
  std::size_t batch_max_bytes = 1 << 20;
  std::chrono::milliseconds batch_max_age{1000};
  int compression_level = 1;
  std::uint64_t spool_max_bytes = 256ULL << 20;
  /// Delay before retrying a failed spool write (disk full, I/O error).
  std::chrono::milliseconds write_retry{1000};
  /// Identical lines of one source within this window (and one batch) collapse into a count.
  std::chrono::milliseconds dedupe_window{10'000};
};

/// Receives processed records (RecordSink, from the Processor) or plain lines (LineSink: the
/// line goes into the batch as it is; tests and tools).
class Collector final : public tail::LineSink, public RecordSink {
 public:
  /// `next_seq` comes from Spool::recover.
  Collector(uv_loop_t* loop, CollectorOptions options, ship::Spool* spool, tail::OffsetStore* store,
            AgentMetrics* metrics, std::uint64_t next_seq);
  ~Collector() override;
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  void setInput(InputControl* input) { input_ = input; }
  /// Called on the loop after each new spool entry (the sender's wake-up).
  void setOnSpooled(std::function<void()> callback) { on_spooled_ = std::move(callback); }

  void onLine(tail::StreamId stream, std::string_view source, std::string_view line,
              std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns) override;
  void onReadPassDone() override;
  void onRecord(const PipelineRecord& record) override;
  void onSkipped(tail::StreamId stream, std::uint64_t end_offset) override;

  /// The sender freed spool space (ack or reject): may lift the spool-full pause.
  void onSpoolFreed();

  /// Seals the open batch regardless of the spool cap and calls `done` once every batch is
  /// spooled and checkpointed (or its write has failed; its lines were not checkpointed, so
  /// they are read again on the next start). No lines are expected afterwards.
  void flush(std::function<void()> done);

  /// Drops the buffers kept for the next batches when nothing is open or in flight (the
  /// agent went idle after a burst); they are allocated again with the next line.
  void releaseIdleMemory();

  bool pausedForSpoolFull() const { return (pause_reasons_ & kSpoolFull) != 0; }
  bool inputPaused() const { return input_paused_; }
  std::uint64_t nextSeq() const { return next_seq_; }
  bool sealInFlight() const { return job_ != nullptr; }
  void setPipelineMetrics(PipelineMetrics* metrics) { pipeline_metrics_ = metrics; }
  void setDedupeWindow(std::chrono::milliseconds window) { options_.dedupe_window = window; }
  std::size_t openLineBytes() const { return open_->lineBytes(); }
  std::size_t openRecords() const { return open_->recordCount(); }

 private:
  struct Job;
  static constexpr unsigned kSpoolFull = 1;
  static constexpr unsigned kSealBacklog = 2;
  static constexpr unsigned kSpoolError = 4;

  struct DedupeEntry {
    std::size_t record = 0;  // index in the open batch of the source's previous record
    std::string line;        // its bytes
    std::int64_t first_ts_ns = 0;
  };
  struct AggregateEntry {
    std::uint32_t source = 0;
    std::uint64_t template_id = 0;
    std::string template_text;
    std::uint8_t severity = 0;
    std::uint64_t count = 0;
    std::int64_t first_ts_ns = 0;
    std::int64_t last_ts_ns = 0;
  };

  void maybeSeal();
  void noteActivity();
  bool openHasContent() const;
  bool sendText(std::uint64_t template_id);
  void moveAggregatesIntoBatch();
  void checkpointSkippedOffsets();
  void startJob(std::unique_ptr<Job> job);
  void onJobDone(std::unique_ptr<Job> job);
  void setPause(unsigned reason, bool on);
  void checkFlushDone();
  bool spoolFull() const;

  uv_loop_t* loop_;
  CollectorOptions options_;
  ship::Spool* spool_;
  tail::OffsetStore* store_;
  AgentMetrics* metrics_;
  InputControl* input_ = nullptr;
  std::function<void()> on_spooled_;

  std::unique_ptr<wire::BatchBuilder> open_;
  std::unique_ptr<wire::BatchBuilder> spare_;
  std::map<tail::StreamId, std::uint64_t> open_offsets_;
  std::uint64_t next_seq_;
  UvTimer age_timer_;
  UvTimer retry_timer_;
  Job* job_ = nullptr;               // the seal/write in flight; owned by its uv_work_t
  std::unique_ptr<Job> failed_job_;  // a write that failed, retried after write_retry
  std::map<tail::StreamId, std::uint64_t> uncommitted_;  // offsets whose checkpoint failed
  bool seal_requested_ = false;
  unsigned pause_reasons_ = 0;
  bool input_paused_ = false;
  bool flushing_ = false;
  std::function<void()> flush_done_;

  PipelineMetrics* pipeline_metrics_ = nullptr;
  // Reduction state of the open batch; cleared when it is sealed.
  std::unordered_map<std::uint32_t, DedupeEntry> dedupe_;  // by source index
  std::unordered_map<std::uint64_t, AggregateEntry> aggregates_;  // by template id ^ source
  // Template texts this stream (epoch) has put into a batch: each travels once.
  std::unordered_set<std::uint64_t> sent_templates_;
  std::size_t skipped_since_seal_ = 0;
};

}  // namespace faultline::agent
