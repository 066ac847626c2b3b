#pragma once

// The sender: posts spooled batches to SERVER/v1/ingest with libcurl's multi interface driven
// by the libuv loop (uv_poll_t per socket, a uv timer for curl's timeouts), and deletes each
// spool entry only after the aggregator acknowledged its (epoch, seq).
//
// Entries go out in seq order with up to `window` requests in flight (acks may come back in
// any order). Outcomes:
//   200 with a matching ack       entry deleted (a duplicate ack counts the same)
//   429 / 503                     wait Retry-After (seconds or HTTP date), else backoff
//   other 5xx, network errors     exponential backoff with full jitter
//   400 / 413 / 415               entry moved to spool/rejected/, error logged with the message
//   401 / 403                     sending stops; retried every `unauthorized_retry`
//
// Threads: loop thread only. Does not own the spool or the metrics.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent/ship/spool.h"
#include "agent/status/metrics.h"
#include "shared/util/status.h"

namespace faultline::agent::ship {

struct SenderOptions {
  std::string server_url;  // "https://agg.example.com:8443"
  std::string agent_id;
  std::string secret;
  std::string ca_file;  // empty: system store
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::milliseconds unauthorized_retry{60'000};
  std::chrono::seconds max_retry_after{3600};  // cap on a server's Retry-After
  unsigned window = 4;
  std::string user_agent = "faultline-agent";
};

class Sender {
 public:
  Sender(uv_loop_t* loop, SenderOptions options, Spool* spool, AgentMetrics* metrics);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  /// Called after entries leave the spool (acked or rejected): room for the collector.
  void setOnFreed(std::function<void()> callback);
  /// New entries are in the spool: send what the window allows (unless backing off).
  void wake();
  /// Posts the agent's metrics to SERVER/v1/agents/heartbeat (JSON). Best effort: skipped
  /// while the previous one is out or credentials are refused; outcomes are only counted.
  void postHeartbeat(std::string json_body);
  /// Aborts requests in flight (their entries stay spooled) and closes every handle; the
  /// loop must run once more. Idempotent; the destructor calls it.
  void stop();

  std::size_t inFlight() const;
  /// True while waiting out a backoff, Retry-After or an authorization failure.
  bool backingOff() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Parses a Retry-After value: delta seconds or an HTTP date. Negative when unparseable.
std::chrono::milliseconds parseRetryAfter(std::string_view value, std::int64_t now_unix_ns);

}  // namespace faultline::agent::ship
