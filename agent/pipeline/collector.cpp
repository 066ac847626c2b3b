#include "agent/pipeline/collector.h"

#include <algorithm>
#include <cstring>

#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::agent {
namespace {
constexpr std::string_view kLog = "collector";
// Empty or tiny lines add little to lineBytes(); these keep such a batch within what the
// aggregator's decoder accepts (wire::Limits: 1Mi records, 64 MiB decoded).
constexpr std::size_t kMaxRecordsPerBatch = 256 * 1024;
constexpr std::size_t kMaxEncodedBytes = 32u << 20;
// Bound on remembered template ids; past it the set restarts and texts are simply sent again.
constexpr std::size_t kMaxSentTemplates = 256 * 1024;

}  // namespace

/// One seal+write on a worker thread. Owned through its uv_work_t while in flight.
struct Collector::Job {
  uv_work_t req{};
  Collector* owner = nullptr;  // null once the collector is gone: the job just frees itself
  std::unique_ptr<wire::BatchBuilder> builder;
  wire::BatchHeader header;
  int level = 1;
  std::string dir;
  ship::SpoolEntry entry;
  Status status;
};

Collector::Collector(uv_loop_t* loop, CollectorOptions options, ship::Spool* spool,
                     tail::OffsetStore* store, AgentMetrics* metrics, std::uint64_t next_seq)
    : loop_(loop),
      options_(std::move(options)),
      spool_(spool),
      store_(store),
      metrics_(metrics),
      open_(std::make_unique<wire::BatchBuilder>()),
      spare_(std::make_unique<wire::BatchBuilder>()),
      next_seq_(next_seq),
      age_timer_(loop,
                 [this] {
                   seal_requested_ = true;
                   maybeSeal();
                 }),
      retry_timer_(loop, [this] {
        if (failed_job_ != nullptr && job_ == nullptr) {
          startJob(std::move(failed_job_));
        }
      }) {}

Collector::~Collector() {
  if (job_ != nullptr) {
    job_->owner = nullptr;
  }
}

bool Collector::spoolFull() const {
  return spool_->bytes() >= options_.spool_max_bytes;
}

void Collector::onLine(tail::StreamId stream, std::string_view source, std::string_view line,
                       std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns) {
  noteActivity();
  wire::RecordMeta meta;
  meta.source = open_->sourceIndex(source);
  meta.read_ts_ns = read_ts_ns;
  meta.no_newline = no_newline;
  open_->addRecord(meta, line);
  std::uint64_t& offset = open_offsets_[stream];
  offset = std::max(offset, end_offset);
  ++metrics_->lines_read;
  metrics_->bytes_read += line.size();
  if (open_->lineBytes() >= options_.batch_max_bytes ||
      open_->recordCount() >= kMaxRecordsPerBatch || open_->encodedBytes() >= kMaxEncodedBytes) {
    seal_requested_ = true;
    maybeSeal();
  }
}

void Collector::onReadPassDone() {}

void Collector::noteActivity() {
  if (!flushing_ && !age_timer_.active()) {
    age_timer_.start(options_.batch_max_age);
  }
}

bool Collector::openHasContent() const {
  return open_->recordCount() > 0 || !aggregates_.empty();
}

bool Collector::sendText(std::uint64_t template_id) {
  if (sent_templates_.size() >= kMaxSentTemplates) {
    sent_templates_.clear();
  }
  bool first = sent_templates_.insert(template_id).second;
  if (first && pipeline_metrics_ != nullptr) {
    ++pipeline_metrics_->templates_sent;
  }
  return first;
}

void Collector::onRecord(const PipelineRecord& r) {
  noteActivity();
  std::uint64_t& offset = open_offsets_[r.stream];
  offset = std::max(offset, r.end_offset);
  PipelineMetrics* pm = pipeline_metrics_;
  const std::uint32_t source = open_->sourceIndex(r.source);
  const auto severity = static_cast<std::uint8_t>(r.severity);
  const bool templated = r.mined != nullptr && r.mined->template_id != 0;

  if (r.aggregate && templated) {
    AggregateEntry& agg = aggregates_[r.mined->template_id ^ (std::uint64_t{source} << 48)];
    if (agg.count == 0) {
      agg.source = source;
      agg.template_id = r.mined->template_id;
      agg.template_text.assign(r.mined->template_text);
      agg.first_ts_ns = r.read_ts_ns;
    }
    ++agg.count;
    agg.severity = std::max(agg.severity, severity);
    agg.last_ts_ns = r.read_ts_ns;
    if (pm != nullptr) {
      ++pm->aggregated;
    }
    return;
  }

  if (r.dedupe && !r.no_newline) {
    // Only a repeat of the source's previous record folds into it: expanding the count in
    // place then gives the file back exactly ("message repeated N times" without the loss).
    auto [it, inserted] = dedupe_.try_emplace(source);
    DedupeEntry& entry = it->second;
    if (!inserted && entry.line == r.line &&
        r.read_ts_ns - entry.first_ts_ns <=
            std::chrono::duration_cast<std::chrono::nanoseconds>(options_.dedupe_window).count()) {
      open_->markDuplicate(entry.record, r.read_ts_ns);
      if (pm != nullptr) {
        ++pm->deduped;
      }
      return;
    }
    entry.record = open_->recordCount();
    entry.line.assign(r.line);
    entry.first_ts_ns = r.read_ts_ns;
  } else {
    dedupe_.erase(source);
  }

  wire::RecordMeta meta;
  meta.source = source;
  meta.read_ts_ns = r.read_ts_ns;
  meta.no_newline = r.no_newline;
  meta.severity = severity;
  meta.event_ts_ns = r.event_ts_ns;
  if (templated) {
    open_->addTemplated(meta, r.mined->template_id, r.mined->template_text,
                        sendText(r.mined->template_id), r.mined->params);
  } else {
    open_->addRecord(meta, r.line);
  }
  if (pm != nullptr) {
    ++pm->records;
    if (templated) {
      ++pm->templated;
    }
  }
  if (open_->lineBytes() >= options_.batch_max_bytes ||
      open_->recordCount() >= kMaxRecordsPerBatch || open_->encodedBytes() >= kMaxEncodedBytes) {
    seal_requested_ = true;
    maybeSeal();
  }
}

void Collector::releaseIdleMemory() {
  if (openHasContent() || job_ != nullptr || failed_job_ != nullptr) {
    return;
  }
  open_ = std::make_unique<wire::BatchBuilder>();
  spare_.reset();
  dedupe_ = {};
  wire::BatchBuilder::releaseCompressionMemory();
}

void Collector::onSkipped(tail::StreamId stream, std::uint64_t end_offset) {
  noteActivity();
  std::uint64_t& offset = open_offsets_[stream];
  offset = std::max(offset, end_offset);
  ++skipped_since_seal_;
}

void Collector::moveAggregatesIntoBatch() {
  for (auto& [key, agg] : aggregates_) {
    open_->addAggregate(agg.source, agg.template_id, agg.template_text, sendText(agg.template_id),
                        agg.severity, agg.count, agg.first_ts_ns, agg.last_ts_ns);
  }
  aggregates_.clear();
}

// Offsets of dropped lines when nothing else is pending: with no batch open, in flight or
// failed, every earlier line is already spooled and checkpointed, so these may be too.
void Collector::checkpointSkippedOffsets() {
  if (open_offsets_.empty() || job_ != nullptr || failed_job_ != nullptr) {
    return;
  }
  std::vector<tail::OffsetCheckpoint> offsets;
  for (const auto& [stream, offset] : open_offsets_) {
    offsets.push_back({stream, offset});
  }
  Status checkpointed = store_->checkpoint(offsets, next_seq_ - 1);
  if (!checkpointed.isOk()) {
    ++metrics_->checkpoint_errors;
    return;  // kept in open_offsets_: they ride along with the next batch
  }
  open_offsets_.clear();
  skipped_since_seal_ = 0;
  if (input_ != nullptr) {
    input_->committed(offsets);
  }
}

void Collector::onSpoolFreed() {
  if ((pause_reasons_ & kSpoolFull) != 0 && !spoolFull()) {
    log::info(kLog, "spool has room again (" + std::to_string(spool_->bytes()) +
                        " bytes); reading resumes");
    setPause(kSpoolFull, false);
  }
  maybeSeal();
}

void Collector::flush(std::function<void()> done) {
  flushing_ = true;
  flush_done_ = std::move(done);
  age_timer_.stop();
  if (openHasContent() || !open_offsets_.empty()) {
    seal_requested_ = true;
  }
  if (failed_job_ != nullptr && job_ == nullptr) {
    retry_timer_.stop();
    startJob(std::move(failed_job_));  // one last attempt
  }
  maybeSeal();
  checkFlushDone();
}

void Collector::checkFlushDone() {
  if (!flushing_ || !flush_done_ || job_ != nullptr ||
      (seal_requested_ && failed_job_ == nullptr)) {
    return;
  }
  if (failed_job_ != nullptr) {
    log::error(kLog, "batch " + std::to_string(failed_job_->entry.seq) +
                         " could not be spooled before shutdown; its lines were not "
                         "checkpointed and will be read again on the next start");
    failed_job_.reset();
    retry_timer_.stop();
  }
  auto done = std::move(flush_done_);
  flush_done_ = nullptr;
  done();
}

void Collector::setPause(unsigned reason, bool on) {
  pause_reasons_ = on ? (pause_reasons_ | reason) : (pause_reasons_ & ~reason);
  metrics_->paused_spool_full = (pause_reasons_ & kSpoolFull) != 0;
  bool want = pause_reasons_ != 0;
  if (want == input_paused_ || input_ == nullptr) {
    input_paused_ = want && input_ != nullptr;
    return;
  }
  input_paused_ = want;
  if (want) {
    input_->pauseInput();
  } else {
    input_->resumeInput();
  }
}

void Collector::maybeSeal() {
  bool full = open_->lineBytes() >= options_.batch_max_bytes ||
              open_->recordCount() >= kMaxRecordsPerBatch ||
              open_->encodedBytes() >= kMaxEncodedBytes;
  if (!seal_requested_) {
    return;
  }
  if (!openHasContent()) {
    seal_requested_ = false;
    age_timer_.stop();
    checkpointSkippedOffsets();
    return;
  }
  if (job_ != nullptr || failed_job_ != nullptr) {
    // One write at a time keeps entries and checkpoints in seq order; a full batch waiting
    // behind it stops the input so memory stays bounded.
    if (full) {
      setPause(kSealBacklog, true);
    }
    return;
  }
  if (spoolFull() && !flushing_) {
    if ((pause_reasons_ & kSpoolFull) == 0) {
      log::warn(kLog, "spool is full (" + std::to_string(spool_->bytes()) + " of " +
                          std::to_string(options_.spool_max_bytes) +
                          " bytes); reading is paused until the aggregator acks batches");
      setPause(kSpoolFull, true);
    }
    return;
  }
  seal_requested_ = false;
  age_timer_.stop();
  moveAggregatesIntoBatch();
  dedupe_.clear();
  skipped_since_seal_ = 0;
  auto job = std::make_unique<Job>();
  job->builder = std::move(open_);
  open_ = spare_ != nullptr ? std::move(spare_) : std::make_unique<wire::BatchBuilder>();
  job->header.agent = options_.agent_id;
  job->header.epoch = options_.epoch;
  job->header.seq = next_seq_++;
  job->level = options_.compression_level;
  job->dir = spool_->dir();
  job->entry.seq = job->header.seq;
  job->entry.epoch = options_.epoch;
  job->entry.records = job->builder->recordCount();
  job->entry.line_bytes = job->builder->lineBytes();
  job->entry.offsets.reserve(open_offsets_.size());
  for (const auto& [stream, offset] : open_offsets_) {
    job->entry.offsets.push_back({stream, offset});
  }
  open_offsets_.clear();
  setPause(kSealBacklog, false);
  startJob(std::move(job));
}

void Collector::startJob(std::unique_ptr<Job> job) {
  job->owner = this;
  job->status = Status::ok();
  job->req.data = job.get();
  int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) noexcept {
        auto* j = static_cast<Job*>(req->data);
        j->header.sent_at_ns = nowUnixNanos();
        auto sealed = j->builder->seal(j->header, j->level);
        if (!sealed) {
          j->status = sealed.status().withContext("seal batch " + std::to_string(j->entry.seq));
          return;
        }
        j->entry.payload_bytes = sealed->size();
        auto written = ship::Spool::writeEntryFile(j->dir, j->entry, *sealed);
        if (!written) {
          j->status = written.status();
          return;
        }
        j->entry.file_bytes = *written;
      },
      [](uv_work_t* req, int status) noexcept {
        std::unique_ptr<Job> j(static_cast<Job*>(req->data));
        if (status != 0) {
          j->status = internalError("seal work cancelled");
        }
        if (j->owner != nullptr) {
          j->owner->onJobDone(std::move(j));
        }
      });
  if (rc != 0) {
    // libuv's contract: no callback will come. Keep the batch and retry.
    job->status = internalError(std::string("uv_queue_work: ") + uv_strerror(rc));
    failed_job_ = std::move(job);
    retry_timer_.start(options_.write_retry);
    return;
  }
  job_ = job.release();
}

void Collector::onJobDone(std::unique_ptr<Job> job) {
  job_ = nullptr;
  if (!job->status.isOk()) {
    ++metrics_->spool_write_errors;
    log::error(kLog, "spool write of batch " + std::to_string(job->entry.seq) +
                         " failed: " + job->status.toString() + "; retrying in " +
                         std::to_string(options_.write_retry.count()) + "ms, reading paused");
    failed_job_ = std::move(job);
    setPause(kSpoolError, true);
    if (!flushing_) {
      retry_timer_.start(options_.write_retry);
    }
    checkFlushDone();
    return;
  }
  setPause(kSpoolError, false);
  spool_->added(job->entry);
  ++metrics_->batches_sealed;
  metrics_->lines_spooled += job->entry.records;
  metrics_->bytes_compressed += job->entry.payload_bytes;
  metrics_->spool_batches = spool_->count();
  metrics_->spool_bytes = spool_->bytes();

  // Offsets whose earlier checkpoint failed ride along with this one.
  std::vector<tail::OffsetCheckpoint> offsets = job->entry.offsets;
  if (!uncommitted_.empty()) {
    for (const tail::OffsetCheckpoint& cp : offsets) {
      auto it = uncommitted_.find(cp.stream);
      if (it != uncommitted_.end() && it->second <= cp.offset) {
        uncommitted_.erase(it);
      }
    }
    for (const auto& [stream, offset] : uncommitted_) {
      offsets.push_back({stream, offset});
    }
  }
  Status checkpointed = store_->checkpoint(offsets, job->entry.seq);
  if (checkpointed.isOk()) {
    uncommitted_.clear();
    if (input_ != nullptr) {
      input_->committed(offsets);
    }
  } else {
    // Not fatal for the guarantee: start-up re-applies spooled offsets after the last good
    // checkpoint. Remember them so the next checkpoint carries them.
    ++metrics_->checkpoint_errors;
    log::error(kLog, "checkpoint after batch " + std::to_string(job->entry.seq) +
                         " failed: " + checkpointed.toString());
    for (const tail::OffsetCheckpoint& cp : offsets) {
      std::uint64_t& kept = uncommitted_[cp.stream];
      kept = std::max(kept, cp.offset);
    }
  }

  job->builder->reset();
  if (spare_ == nullptr) {
    spare_ = std::move(job->builder);
  }
  if (spoolFull() && !flushing_ && (pause_reasons_ & kSpoolFull) == 0) {
    log::warn(kLog, "spool is full (" + std::to_string(spool_->bytes()) + " of " +
                        std::to_string(options_.spool_max_bytes) +
                        " bytes); reading is paused until the aggregator acks batches");
    setPause(kSpoolFull, true);
  }
  if (on_spooled_) {
    on_spooled_();
  }
  if (open_->lineBytes() >= options_.batch_max_bytes ||
      open_->recordCount() >= kMaxRecordsPerBatch || open_->encodedBytes() >= kMaxEncodedBytes ||
      (flushing_ && (openHasContent() || !open_offsets_.empty()))) {
    seal_requested_ = true;
  }
  maybeSeal();
  if (!open_offsets_.empty()) {
    noteActivity();  // offsets of skipped lines still wait for a checkpoint
  }
  checkFlushDone();
}

}  // namespace faultline::agent
