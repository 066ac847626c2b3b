#pragma once

// The processing pipeline between the tail input and the collector:
//
//   line ─► multiline join (per stream) ─► parse (format per source) ─► redact ─► filter
//        (source, severity, pattern) ─► mine template ─► sample / rate-limit per template
//        ─► collector (record, or fold into an aggregate count)
//
// Offsets: a line held by the multiline joiner is not reported until its event leaves, so the
// collector never checkpoints past a line that is not in a batch. An event that is dropped still
// advances its stream's offset (RecordSink::onSkipped), in order, because every earlier event
// of that stream has already left the joiner.
//
// Redaction happens here, before the collector sees the line: nothing unredacted reaches a
// batch, the spool or the network.
//
// Threads: the loop thread only. reconfigure() swaps the settings between two lines (SIGHUP):
// open multiline events are flushed first, the template miner and its learnt clusters stay.

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/inputs/tail/tailer.h"
#include "agent/pipeline/pipeline_config.h"
#include "agent/pipeline/uv_timer.h"
#include "agent/status/metrics.h"
#include "shared/logparse/parser.h"
#include "shared/logparse/severity.h"
#include "shared/logtemplate/miner.h"
#include "shared/redact/redactor.h"
#include "shared/util/status.h"

namespace faultline::agent {

/// One processed event on its way into a batch. Views are valid for the call only.
struct PipelineRecord {
  tail::StreamId stream = 0;
  std::string_view source;
  std::uint64_t end_offset = 0;  // stream offset just past the event's last line
  bool no_newline = false;
  std::int64_t read_ts_ns = 0;
  std::string_view line;  // after redaction; may hold '\n' (a joined multiline event)
  logparse::Severity severity = logparse::Severity::kUnknown;
  std::int64_t event_ts_ns = 0;  // 0 when the line had no recognisable time
  /// The template (id 0: send the line raw). Params are views into `line`.
  const logtemplate::MinedLine* mined = nullptr;
  bool dedupe = false;     // may collapse into an identical earlier record of this batch
  bool aggregate = false;  // fold into the template's count instead of a record
};

/// Where processed events go: the collector.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void onRecord(const PipelineRecord& record) = 0;
  /// An event that was dropped: only its stream offset moves.
  virtual void onSkipped(tail::StreamId stream, std::uint64_t end_offset) = 0;
  virtual void onReadPassDone() {}
};

class Processor final : public tail::LineSink {
 public:
  /// Validates everything in `config` (formats, regexes, detectors, template names).
  static Result<std::unique_ptr<Processor>> create(uv_loop_t* loop, const PipelineConfig& config,
                                                   RecordSink* sink, PipelineMetrics* metrics);
  ~Processor() override;
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  void onLine(tail::StreamId stream, std::string_view source, std::string_view line,
              std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns) override;
  void onReadPassDone() override;

  /// Emits every open multiline event now (shutdown, reload).
  void flushAll();
  /// Emits multiline events that have waited flush_timeout (called by the internal timer;
  /// public for tests). `now_ns` is the loop's clock (uv_now) in ns.
  void flushIdle(std::int64_t now_ns);

  /// New settings from a reloaded config. On error nothing changes.
  Status reconfigure(const PipelineConfig& config);

  const logtemplate::TemplateMiner& miner() const { return miner_; }

 private:
  struct Settings;
  struct SourceSettings;
  struct StreamState;
  struct TemplateState;

  Processor(uv_loop_t* loop, RecordSink* sink, PipelineMetrics* metrics);
  static Result<std::unique_ptr<Settings>> buildSettings(const PipelineConfig& config);
  const SourceSettings& sourceSettings(std::string_view source);
  StreamState& streamState(tail::StreamId stream, std::string_view source);
  std::unique_ptr<StreamState> newStreamState(std::string_view source);
  void processEvent(tail::StreamId stream, StreamState& state, std::string_view event,
                    std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns);
  void flushStream(tail::StreamId stream, StreamState& state);
  void armFlushTimer();
  std::int64_t loopNowNs() const;

  uv_loop_t* loop_;
  RecordSink* sink_;
  PipelineMetrics* metrics_;
  std::unique_ptr<Settings> settings_;
  std::unordered_map<std::string, std::unique_ptr<SourceSettings>> sources_;
  std::unordered_map<tail::StreamId, std::unique_ptr<StreamState>> streams_;
  tail::StreamId last_stream_id_ = 0;
  StreamState* last_stream_ = nullptr;  // the last streams_ entry used; null after a clear
  std::unordered_map<std::uint64_t, TemplateState> template_state_;
  logtemplate::TemplateMiner miner_;
  logtemplate::MinedLine mined_;
  logparse::ParsedLine parsed_;
  redact::RedactStats redact_stats_;
  std::string redacted_;
  UvTimer flush_timer_;
};

}  // namespace faultline::agent
