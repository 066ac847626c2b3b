#pragma once

// The agent's self-metrics. Plain counters owned by the agent and updated on the loop thread;
// written into status.json about once a second.

#include <cstdint>
#include <string>

namespace faultline::agent {

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
};

}  // namespace faultline::agent
