#pragma once

// The agent's declared options (one table: validation, defaults, --help-config) and the typed
// settings built from them. Start-up code, single-threaded.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/pipeline/pipeline_config.h"
#include "shared/config/option_table.h"
#include "shared/util/status.h"

namespace faultline::agent {

inline constexpr const char* kDefaultStateDir = "/var/lib/faultline-agent";

/// A fresh table with every agent option at its default.
config::OptionTable makeAgentOptionTable();

/// Typed, validated settings. Build with `agentConfigFromTable`.
struct AgentConfig {
  std::string state_dir = kDefaultStateDir;
  std::string log_level = "info";
  std::string server_url;  // empty: use the enrolled URL
  std::string ca_file;
  std::chrono::milliseconds server_timeout{30'000};
  std::vector<std::string> paths;
  bool start_at_beginning = false;
  std::chrono::milliseconds scan_interval{1000};
  std::size_t max_line_bytes = 1 << 20;
  std::size_t batch_max_bytes = 1 << 20;
  std::chrono::milliseconds batch_max_age{1000};
  int compression_level = 1;
  std::uint64_t spool_max_bytes = 256ULL << 20;
  std::chrono::milliseconds retry_initial_backoff{500};
  std::chrono::milliseconds retry_max_backoff{30'000};
  PipelineConfig pipeline;
  std::string metrics_listen;  // "host:port" of the local Prometheus endpoint; empty = off
  std::chrono::milliseconds heartbeat_interval{30'000};
};

/// Checks the cross-field and range rules the table cannot express. `source` names the config
/// file (may be empty) so errors read "agent.toml:7: inputs.start_at must be ...".
Result<AgentConfig> agentConfigFromTable(const config::OptionTable& table,
                                         const std::string& source = "");

/// Loads `path` (when not empty) into `table` and builds the config.
Result<AgentConfig> loadAgentConfig(config::OptionTable& table, const std::string& path);

}  // namespace faultline::agent
