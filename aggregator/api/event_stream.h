#pragma once

// GET /v1/events/stream: the tenant's events live, as server-sent events (text/event-stream),
// with the filters of GET /v1/events (service, severity, status, source, q).
//
//   retry: <ms>                 once, first: how long a client waits before reconnecting
//   id: evt_...                 per event, then
//   event: event
//   data: <the event's JSON, one line, as GET /v1/events lists it>
//   : keepalive                 a comment every heartbeat interval, so proxies keep it open
//
// Reconnecting with Last-Event-ID (or ?after=evt_...) first replays from the store the events
// received after that one (at most replay_max, oldest first), then goes live without a gap or a
// duplicate at the boundary: the subscription opens before the store is read, live events wait
// until the replay is out, and those the replay already sent are dropped.
//
// Threads: open() and the work it returns run on HTTP worker threads; deliveries on the
// publishers' threads; the heartbeat on a thread of its own. Does not own the store.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "aggregator/events/event_hub.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

struct EventStreamOptions {
  std::chrono::milliseconds heartbeat{15'000};  // events.stream_heartbeat
  std::size_t buffer_bytes = 1u << 20;          // events.stream_buffer_bytes, per stream
  std::size_t replay_max = 1000;                // events.stream_replay_max
  std::chrono::milliseconds retry{3'000};       // the retry: hint to clients
  /// Live events held for one stream while its replay is read; beyond, it is lagged and ends.
  std::size_t max_held_live = 10'000;
};

/// The SSE frame of one event: "id: <id>\nevent: event\ndata: <JSON>\n\n". The hub's Render.
std::string eventStreamFrame(const store::StoredEvent& event);

class EventStreams {
 public:
  EventStreams(store::Store& store, std::shared_ptr<events::EventHub> hub,
               EventStreamOptions options);
  /// Stops the heartbeat and ends the streams still open.
  ~EventStreams();
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  /// What open() decided: the response to send, and (for a stream) the work to run right
  /// after sending it, on the same thread (replay from the store, then live).
  struct Opened {
    http::Response response;
    std::function<void()> then;
  };
  /// GET /v1/events/stream for an authorized caller of `tenant_id`: 400 for a bad filter or
  /// Last-Event-ID, 429 at the tenant's stream limit, 503 at the node's, else the stream.
  Opened open(std::string_view tenant_id, const http::Request& request);

  events::EventHub& hub() { return *hub_; }

 private:
  struct Listener;
  void replayThenLive(const std::shared_ptr<Listener>& listener, const std::string& tenant_id,
                      const store::EventQuery& filter, const std::string& after_id);
  void heartbeatLoop();

  store::Store& store_;
  std::shared_ptr<events::EventHub> hub_;
  const EventStreamOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::weak_ptr<Listener>> listeners_;  // for the heartbeat; pruned as they close
  std::thread heartbeat_;                           // last: started once the rest exists
};

}  // namespace faultline::aggregator::api
