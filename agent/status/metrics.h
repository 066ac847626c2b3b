#pragma once

// The agent's self-metrics. Plain counters owned by the agent and updated on the loop thread;
// written into status.json about once a second.

#include <array>
#include <cstdint>
#include <string>

namespace faultline::agent {

/// What the processing pipeline did to the lines it was handed. Every line that does not
/// become a record of its own is counted under exactly one reason (joined, dropped_*, deduped,
/// aggregated), so lines_in = events + multiline_joined and
/// events = records + dropped + deduped + aggregated.
struct PipelineMetrics {
  std::uint64_t lines_in = 0;          // lines (pieces) from the inputs
  std::uint64_t bytes_in = 0;          // their bytes, without '\n'
  std::uint64_t events = 0;            // after multiline joining
  std::uint64_t multiline_joined = 0;  // lines appended to the event before them
  std::uint64_t parsed_structured = 0; // events a structured parser recognised (not plain)
  std::uint64_t with_timestamp = 0;    // events with an event time found
  std::uint64_t with_severity = 0;     // events with a severity found
  std::uint64_t lines_redacted = 0;    // events with at least one redaction
  std::array<std::uint64_t, 9> redactions{};  // per redact::Kind
  std::uint64_t dropped_severity = 0;
  std::uint64_t dropped_pattern = 0;
  std::uint64_t dropped_source = 0;
  std::uint64_t dropped_sampled = 0;
  std::uint64_t dropped_rate_limited = 0;
  std::uint64_t deduped = 0;      // events folded into an earlier record's count
  std::uint64_t aggregated = 0;   // events folded into an aggregate count
  std::uint64_t records = 0;      // records added to batches
  std::uint64_t templated = 0;    // of those, sent as template id + parameters
  std::uint64_t templates_sent = 0;   // template texts shipped
  std::uint64_t templates_known = 0;  // clusters the miner holds
  std::uint64_t miner_bytes = 0;      // the miner's approximate memory

  std::uint64_t dropped() const {
    return dropped_severity + dropped_pattern + dropped_source + dropped_sampled +
           dropped_rate_limited;
  }
};

struct AgentMetrics {
  std::uint64_t lines_read = 0;  // lines (pieces) handed over by the tail input
  std::uint64_t bytes_read = 0;  // their bytes, without '\n'
  std::uint64_t batches_sealed = 0;
  std::uint64_t lines_spooled = 0;
  std::uint64_t bytes_compressed = 0;  // payload bytes written to the spool
  std::uint64_t batches_sent = 0;      // POSTs started (including retries)
  std::uint64_t batches_acked = 0;
  std::uint64_t duplicate_acks = 0;
  std::uint64_t lines_sent = 0;  // records of acked batches
  std::uint64_t bytes_sent = 0;  // line bytes of acked batches
  std::uint64_t send_errors = 0;
  std::uint64_t batches_rejected = 0;
  std::uint64_t spool_write_errors = 0;
  std::uint64_t checkpoint_errors = 0;
  std::uint64_t last_ack_seq = 0;
  std::int64_t last_ack_unix_ns = 0;
  std::uint64_t spool_batches = 0;
  std::uint64_t spool_bytes = 0;
  bool paused_spool_full = false;
  bool unauthorized = false;
  std::string last_send_error;
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t heartbeat_errors = 0;
  std::uint64_t config_reloads = 0;
  std::uint64_t config_reload_errors = 0;
  PipelineMetrics pipeline;
};

}  // namespace faultline::agent
