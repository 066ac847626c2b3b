#pragma once

// The running agent: wires the tail input, the collector, the spool, the sender and the
// status file on one libuv loop, recovers the spool before reading, and shuts down cleanly on
// SIGTERM/SIGINT (the open batch is spooled and checkpointed first).
//
// Start-up order matters for the delivery guarantee:
//   1. open the offset store and the spool;
//   2. Spool::recover(checkpointSeq) and re-apply the offsets of entries spooled after the
//      last checkpoint, in seq order;
//   3. only then Tailer::start(), which reads from those offsets.
//
// Threads: the loop thread; seal+spool writes run on libuv's worker pool.

#include <uv.h>

#include <functional>
#include <memory>

#include "agent/config/agent_config.h"
#include "agent/enroll/identity.h"
#include "shared/util/status.h"

namespace faultline::agent {

/// Reads the config again (SIGHUP). Null: reload is not possible (no config source).
using ConfigLoader = std::function<Result<AgentConfig>()>;

class AgentRunner {
 public:
  /// Opens state (taking the state dir's lock), recovers the spool and builds the pipeline.
  static Result<std::unique_ptr<AgentRunner>> create(uv_loop_t* loop, const AgentConfig& config,
                                                     const Identity& identity,
                                                     ConfigLoader reload = nullptr);
  ~AgentRunner();
  AgentRunner(const AgentRunner&) = delete;
  AgentRunner& operator=(const AgentRunner&) = delete;

  /// Starts reading, sending, the status file and the signal handlers.
  Status start();
  /// Flushes the open batch to the spool, checkpoints, stops everything and closes every
  /// handle; `done` runs once that is finished (the loop then ends by itself).
  void shutdown(std::function<void()> done = nullptr);
  /// Re-reads the config and applies what can change while running: the processing pipeline
  /// (parse, multiline, redact, filter, reduce), the file globs and the log level. Settings
  /// that need a restart (state dir, server, spool, batch) are logged when they differ. Between
  /// two lines on the loop thread, so no line is lost or repeated. On error the old config stays.
  Status reload();

 private:
  struct Impl;
  explicit AgentRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Runs the agent until SIGTERM/SIGINT on a loop of its own (SIGHUP reloads through `reload`).
/// Returns when it has stopped.
Status runAgent(const AgentConfig& config, const Identity& identity,
                ConfigLoader reload = nullptr);

}  // namespace faultline::agent
