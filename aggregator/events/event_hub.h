#pragma once

// The in-process event hub: live subscribers per tenant, each with a filter, get every event a
// receiver recorded (with its id, noise decision and reason) right after the store accepted it.
// It feeds GET /v1/events/stream.
//
// Publishing never blocks ingest: a subscriber's delivery only queues (its own bounded queue,
// e.g. a ResponseStream); a subscriber that cannot take more is marked lagged and dropped, and
// its client reconnects with Last-Event-ID, which the store fills.
//
// One node only: with several aggregator nodes an event reaches the subscribers of the node
// that received it; the NATS bus (a later issue) carries them across nodes.
//
// Threads: every method may be called from any thread. Subscriptions must not outlive the hub.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aggregator/store/event_records.h"
#include "shared/util/status.h"

namespace faultline::aggregator::events {

/// Where a receiver hands the events of one successful Store::recordEvents call (with their
/// ids and decisions). Called on the receiver's thread; must not block.
using EventSink =
    std::function<void(std::string_view tenant_id, const std::vector<store::StoredEvent>& events)>;

/// The stored form of recorded events: `events` and `decisions` in the same order (as
/// recordEvents takes and returns them).
std::vector<store::StoredEvent> storedEvents(const std::vector<Event>& events,
                                             const std::vector<store::EventDecision>& decisions);

/// The filters of an event listing applied to one event (service, severity, status, source and
/// text exactly as Store::queryEvents applies them; the time range and paging are ignored).
bool matchesEventQuery(const store::EventQuery& filter, const store::StoredEvent& event);

struct EventHubLimits {
  std::size_t max_per_tenant = 20;  // events.stream_max_per_tenant
  std::size_t max_total = 500;      // events.stream_max_per_node
};

class EventHub {
 public:
  /// Takes one event for a subscriber; `rendered` is the hub's Render of it (made once per
  /// event for all subscribers). Runs on the publisher's thread, possibly on several at once;
  /// must not block. False: the subscriber cannot take more (lagged) and is dropped.
  using Deliver = std::function<bool(const store::StoredEvent& event, const std::string& rendered)>;
  using Render = std::function<std::string(const store::StoredEvent& event)>;

  /// A live subscription; destroying it unsubscribes (waiting for deliveries in progress).
  class Subscription {
   public:
    Subscription(EventHub* hub, std::string tenant_id, std::uint64_t id)
        : hub_(hub), tenant_id_(std::move(tenant_id)), id_(id) {}
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    EventHub* hub_;
    std::string tenant_id_;
    std::uint64_t id_;
  };

  struct Stats {
    std::uint64_t subscribers = 0;  // open now
    std::uint64_t published = 0;    // events published (matched or not)
    std::uint64_t delivered = 0;    // deliveries to subscribers
    std::uint64_t lagged = 0;       // subscribers dropped because they could not take more
  };

  EventHub(EventHubLimits limits, Render render);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  /// Subscribes to `tenant_id`'s events matching `filter`. ResourceExhausted at the tenant's
  /// limit, Unavailable at the node's; both messages name the limit.
  Result<std::unique_ptr<Subscription>> subscribe(std::string tenant_id, store::EventQuery filter,
                                                  Deliver deliver);
  /// Delivers `events` (all of `tenant_id`) to that tenant's matching subscribers.
  void publish(std::string_view tenant_id, const std::vector<store::StoredEvent>& events);
  /// A sink that publishes into this hub (which must outlive it).
  EventSink sink();
  Stats stats() const;
  const EventHubLimits& limits() const { return limits_; }

 private:
  struct Subscriber {
    std::uint64_t id = 0;
    store::EventQuery filter;
    Deliver deliver;
  };
  /// False when it was not subscribed (any more).
  bool unsubscribe(const std::string& tenant_id, std::uint64_t id);

  const EventHubLimits limits_;
  const Render render_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Subscriber>>> by_tenant_;
  std::size_t total_ = 0;  // under mu_
  std::uint64_t next_id_ = 0;
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> lagged_{0};
};

}  // namespace faultline::aggregator::events
