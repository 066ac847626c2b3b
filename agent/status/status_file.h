#pragma once

// status.json: the running agent rewrites it about once a second (and on shutdown);
// `faultline-agent status` reads it. Writer on the loop thread; reader is a separate process.

#include <cstdint>
#include <string>
#include <vector>

#include "agent/inputs/tail/tailer.h"
#include "agent/status/metrics.h"
#include "shared/util/status.h"

namespace faultline::agent {

inline constexpr const char* kStatusFile = "status.json";
/// A running agent's status older than this is reported as stale.
inline constexpr std::int64_t kStatusStaleNs = 10'000'000'000;

struct StatusSnapshot {
  int pid = 0;
  std::string state = "running";  // "running" or "stopped"
  std::int64_t started_unix_ns = 0;
  std::int64_t updated_unix_ns = 0;
  std::string version;
  std::string agent_id;
  std::string tenant;
  std::string server_url;
  std::uint64_t epoch = 0;
  std::uint64_t next_seq = 0;
  bool sender_backing_off = false;
  std::vector<tail::FileStatus> files;
  AgentMetrics metrics;
};

std::string statusToJson(const StatusSnapshot& snapshot);
/// Replaces `<state_dir>/status.json` (temp + rename; not fsync'ed: it is advisory).
Status writeStatusFile(const std::string& state_dir, const StatusSnapshot& snapshot);

/// The readable summary `faultline-agent status` prints, judged at `now_unix_ns`: whether
/// the agent is alive (pid exists, state running, updated recently), per-file offsets, spool,
/// acks, errors and counters. InvalidArgument when `json_text` is not a status document.
Result<std::string> formatStatus(const std::string& json_text, std::int64_t now_unix_ns);

/// True when a process with this pid exists.
bool processAlive(int pid);

}  // namespace faultline::agent
