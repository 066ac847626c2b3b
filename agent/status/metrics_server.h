#pragma once

// The agent's local Prometheus endpoint: a tiny HTTP/1.0-style server on the loop that answers
// GET /metrics with the text exposition format and closes the connection. Meant for 127.0.0.1
// (scraped by a local Prometheus or node exporter textfile collector): requests over 8 KiB or
// slower than 5 s are cut off; anything but GET /metrics gets 404.
// Threads: the loop thread.

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "agent/status/status_file.h"
#include "shared/util/status.h"

namespace faultline::agent {

/// The Prometheus text format of a status snapshot (counters, gauges, lag per file).
std::string prometheusText(const StatusSnapshot& snapshot);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  /// Listens on "host:port" (port 0 picks a free one; see address()).
  static Result<std::unique_ptr<MetricsServer>> start(uv_loop_t* loop, const std::string& listen,
                                                      Render render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// "host:port" actually bound.
  std::string address() const;

 private:
  struct State;
  explicit MetricsServer(State* state) : state_(state) {}
  State* state_;  // freed by the close callbacks of its handles
};

}  // namespace faultline::agent
