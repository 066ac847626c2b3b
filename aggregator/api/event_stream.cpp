#include "aggregator/api/event_stream.h"

#include <algorithm>
#include <exception>
#include <unordered_set>
#include <utility>

#include "aggregator/api/events_api.h"
#include "shared/util/log.h"

namespace faultline::aggregator::api {
namespace {
constexpr std::string_view kComponent = "event-stream";
constexpr std::string_view kKeepalive = ": keepalive\n\n";
constexpr std::size_t kMaxEventIdBytes = 64;
// A replay waits this long at most, in all, for its client to take what is queued.
constexpr std::chrono::milliseconds kReplayWait{10'000};

bool looksLikeEventId(std::string_view id) {
  if (id.size() <= 4 || id.size() > kMaxEventIdBytes || !id.starts_with("evt_")) {
    return false;
  }
  return std::all_of(id.begin() + 4, id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}
}  // namespace

std::string eventStreamFrame(const store::StoredEvent& event) {
  std::string frame = "id: " + event.id + "\nevent: event\ndata: ";
  frame += eventJsonLine(event);  // one line: JSON escapes every newline
  frame += "\n\n";
  return frame;
}

/// One open stream: its subscription, and the live events held while its replay goes out.
struct EventStreams::Listener {
  std::shared_ptr<http::ResponseStream> stream;
  std::mutex mu;
  bool live = false;
  std::vector<std::pair<std::string, std::string>> held;  // (id, frame) until live
  std::unordered_set<std::string> replayed;               // ids the replay sent
  std::size_t max_held = 0;
  std::unique_ptr<events::EventHub::Subscription> subscription;

  /// From the hub, on a publisher's thread. False: lagged (the hub drops it).
  bool deliver(const store::StoredEvent& event, const std::string& frame) {
    std::lock_guard lock(mu);
    if (!live) {
      if (held.size() >= max_held) {
        stream->end();  // lagged during its replay: the client reconnects with Last-Event-ID
        return false;
      }
      held.emplace_back(event.id, frame);
      return true;
    }
    if (replayed.count(event.id) != 0) {
      return true;  // recorded before the replay read the store, published after
    }
    if (stream->write(frame)) {
      return true;
    }
    // Past the stream's bound (the server cuts it off): lagged. Merely closed (the client
    // left): the close callback unsubscribes.
    return !stream->overflowed();
  }

  /// Sends the held live events the replay did not, then delivers directly.
  void goLive() {
    std::lock_guard lock(mu);
    for (const auto& [id, frame] : held) {
      if (replayed.count(id) == 0 && !stream->write(frame)) {
        break;
      }
    }
    held.clear();
    held.shrink_to_fit();
    live = true;
  }

  /// The connection is gone: leave the hub (outside `mu`, which a delivery may hold).
  void closed() {
    std::unique_ptr<events::EventHub::Subscription> leaving;
    {
      std::lock_guard lock(mu);
      leaving = std::move(subscription);
    }
  }
};

EventStreams::EventStreams(store::Store& store, std::shared_ptr<events::EventHub> hub,
                           EventStreamOptions options)
    : store_(store), hub_(std::move(hub)), options_(options) {
  heartbeat_ = std::thread([this] { heartbeatLoop(); });
}

EventStreams::~EventStreams() {
  std::vector<std::weak_ptr<Listener>> open;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    open.swap(listeners_);
  }
  wake_.notify_all();
  heartbeat_.join();
  for (const auto& weak : open) {
    if (auto listener = weak.lock()) {
      listener->stream->end();
      listener->closed();
    }
  }
}

EventStreams::Opened EventStreams::open(std::string_view tenant_id, const http::Request& request) {
  store::EventQuery filter;
  if (auto bad = parseEventFilters(request, &filter)) {
    return {std::move(*bad), {}};
  }
  std::string after_id;
  if (const std::string* header = request.header("last-event-id"); header != nullptr) {
    after_id = *header;
  } else if (auto after = request.queryParam("after"); after != nullptr) {
    after_id = *after;
  }
  if (!after_id.empty() && !looksLikeEventId(after_id)) {
    return {http::Response::error(400, "bad_request",
                                  "Last-Event-ID / after: expected an event id (evt_...)"),
            {}};
  }

  auto listener = std::make_shared<Listener>();
  listener->stream = http::ResponseStream::create(options_.buffer_bytes);
  listener->max_held = options_.max_held_live;
  // Subscribed before the store is read for the replay: nothing falls between the two.
  auto subscription = hub_->subscribe(
      std::string(tenant_id), filter,
      [raw = listener.get()](const store::StoredEvent& event, const std::string& frame) {
        return raw->deliver(event, frame);
      });
  if (!subscription) {
    const bool tenant_limit = subscription.code() == Errc::ResourceExhausted;
    http::Response refused = http::Response::error(tenant_limit ? 429 : 503, "too_many_streams",
                                                   subscription.status().message());
    refused.headers.emplace_back("Retry-After", "5");
    return {std::move(refused), {}};
  }
  listener->subscription = std::move(*subscription);
  // The stream owns the listener until its connection is gone (the callback is dropped then).
  listener->stream->onClose([listener] { listener->closed(); });
  {
    std::lock_guard lock(mu_);
    std::erase_if(listeners_, [](const auto& weak) { return weak.expired(); });
    listeners_.push_back(listener);
  }
  (void)listener->stream->write("retry: " + std::to_string(options_.retry.count()) + "\n\n");

  http::Response response =
      http::Response::streamed(200, "text/event-stream; charset=utf-8", listener->stream);
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("X-Accel-Buffering", "no");  // nginx: do not buffer the stream
  Opened opened;
  opened.response = std::move(response);
  opened.then = [this, listener, tenant = std::string(tenant_id), filter, after_id] {
    try {
      replayThenLive(listener, tenant, filter, after_id);
    } catch (const std::exception& e) {
      log::error(kComponent, std::string("replay: ") + e.what());
      listener->stream->end();
    }
  };
  return opened;
}

void EventStreams::replayThenLive(const std::shared_ptr<Listener>& listener,
                                  const std::string& tenant_id, const store::EventQuery& filter,
                                  const std::string& after_id) {
  if (after_id.empty()) {
    listener->goLive();
    return;
  }
  store::EventQuery query = filter;
  query.limit = options_.replay_max + 1;
  auto newest = store_.queryEvents(tenant_id, query);
  if (!newest) {
    log::warn(kComponent, "replay after " + after_id + ": " + newest.status().toString());
    listener->stream->end();  // the client reconnects after `retry` and asks again
    return;
  }
  // Newest first: the events after `after_id` are the ones before it in this list.
  auto found = std::find_if(newest->begin(), newest->end(),
                            [&after_id](const store::StoredEvent& e) { return e.id == after_id; });
  std::size_t count = static_cast<std::size_t>(found - newest->begin());
  const bool truncated = found == newest->end() && count > options_.replay_max;
  count = std::min(count, options_.replay_max);
  if (truncated) {
    (void)listener->stream->write(": replay truncated to the newest " +
                                  std::to_string(options_.replay_max) +
                                  " events; list GET /v1/events for older ones\n\n");
  }
  {
    std::lock_guard lock(listener->mu);
    for (std::size_t i = 0; i < count; ++i) {
      listener->replayed.insert((*newest)[i].id);
    }
  }
  // Paced: a long replay waits for the client rather than overflowing the stream's bound, but
  // a client that does not read holds this worker thread for kReplayWait at most.
  const auto deadline = std::chrono::steady_clock::now() + kReplayWait;
  for (std::size_t i = count; i-- > 0;) {
    const std::string frame = eventStreamFrame((*newest)[i]);
    while (listener->stream->buffered() + frame.size() > options_.buffer_bytes / 2 &&
           !listener->stream->closed()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        listener->stream->end();  // it resumes from the last id it got when it reconnects
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!listener->stream->write(frame)) {
      return;  // closed or cut off: the close callback leaves the hub
    }
  }
  listener->goLive();
}

void EventStreams::heartbeatLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.heartbeat, [this] { return stopping_; });
    if (stopping_) {
      return;
    }
    std::erase_if(listeners_, [](const std::weak_ptr<Listener>& weak) {
      auto listener = weak.lock();
      if (listener == nullptr || listener->stream->closed()) {
        return true;
      }
      (void)listener->stream->write(kKeepalive);
      return false;
    });
  }
}

}  // namespace faultline::aggregator::api
