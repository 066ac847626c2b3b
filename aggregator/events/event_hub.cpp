#include "aggregator/events/event_hub.h"

#include <algorithm>
#include <mutex>

#include "shared/logparse/severity.h"

namespace faultline::aggregator::events {

std::vector<store::StoredEvent> storedEvents(const std::vector<Event>& events,
                                             const std::vector<store::EventDecision>& decisions) {
  std::vector<store::StoredEvent> out;
  const std::size_t count = std::min(events.size(), decisions.size());
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    store::StoredEvent stored;
    stored.id = decisions[i].event_id;
    stored.event = events[i];
    stored.decision = decisions[i].decision;
    stored.reason = decisions[i].reason;
    stored.rule_id = decisions[i].rule_id;
    out.push_back(std::move(stored));
  }
  return out;
}

bool matchesEventQuery(const store::EventQuery& filter, const store::StoredEvent& stored) {
  const Event& event = stored.event;
  if (!filter.service.empty() && filter.service != event.service) {
    return false;
  }
  if (!filter.severity.empty() && filter.severity != logparse::severityName(event.severity)) {
    return false;
  }
  if (!filter.status.empty() && filter.status != eventStatusName(event.status)) {
    return false;
  }
  if (!filter.source.empty() && filter.source != sourceKindName(event.source)) {
    return false;
  }
  if (!filter.text.empty() && event.title.find(filter.text) == std::string::npos &&
      event.body.find(filter.text) == std::string::npos) {
    return false;
  }
  if (!filter.decision.empty() && filter.decision != store::noiseDecisionName(stored.decision)) {
    return false;
  }
  return true;
}

EventHub::Subscription::~Subscription() {
  (void)hub_->unsubscribe(tenant_id_, id_);
}

EventHub::EventHub(EventHubLimits limits, Render render)
    : limits_(limits), render_(std::move(render)) {}

EventHub::~EventHub() = default;

Result<std::unique_ptr<EventHub::Subscription>> EventHub::subscribe(std::string tenant_id,
                                                                    store::EventQuery filter,
                                                                    Deliver deliver) {
  std::unique_lock lock(mu_);
  if (total_ >= limits_.max_total) {
    return Status(Errc::Unavailable, "this node serves at most " +
                                         std::to_string(limits_.max_total) +
                                         " open event streams (events.stream_max_per_node)");
  }
  auto& subscribers = by_tenant_[tenant_id];
  if (subscribers.size() >= limits_.max_per_tenant) {
    return Status(Errc::ResourceExhausted, "at most " + std::to_string(limits_.max_per_tenant) +
                                               " open event streams per tenant "
                                               "(events.stream_max_per_tenant)");
  }
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->id = ++next_id_;
  subscriber->filter = std::move(filter);
  subscriber->deliver = std::move(deliver);
  subscribers.push_back(subscriber);
  ++total_;
  return std::make_unique<Subscription>(this, std::move(tenant_id), subscriber->id);
}

bool EventHub::unsubscribe(const std::string& tenant_id, std::uint64_t id) {
  std::unique_lock lock(mu_);
  auto it = by_tenant_.find(tenant_id);
  if (it == by_tenant_.end()) {
    return false;
  }
  auto& subscribers = it->second;
  auto found = std::find_if(subscribers.begin(), subscribers.end(),
                            [id](const auto& subscriber) { return subscriber->id == id; });
  if (found == subscribers.end()) {
    return false;  // dropped as lagged already
  }
  subscribers.erase(found);
  --total_;
  if (subscribers.empty()) {
    by_tenant_.erase(it);
  }
  return true;
}

void EventHub::publish(std::string_view tenant_id, const std::vector<store::StoredEvent>& events) {
  published_.fetch_add(events.size(), std::memory_order_relaxed);
  std::vector<std::uint64_t> lagging;
  {
    std::shared_lock lock(mu_);
    auto it = by_tenant_.find(std::string(tenant_id));
    if (it == by_tenant_.end()) {
      return;  // nobody listens: nothing rendered
    }
    for (const store::StoredEvent& event : events) {
      std::string rendered;
      bool rendered_once = false;
      for (const auto& subscriber : it->second) {
        if (!matchesEventQuery(subscriber->filter, event) ||
            std::find(lagging.begin(), lagging.end(), subscriber->id) != lagging.end()) {
          continue;
        }
        if (!rendered_once && render_) {
          rendered = render_(event);
          rendered_once = true;
        }
        if (subscriber->deliver(event, rendered)) {
          delivered_.fetch_add(1, std::memory_order_relaxed);
        } else {
          lagging.push_back(subscriber->id);
        }
      }
    }
  }
  // A lagged subscriber leaves now; its client reconnects with Last-Event-ID.
  const std::string tenant(tenant_id);
  for (std::uint64_t id : lagging) {
    if (unsubscribe(tenant, id)) {
      lagged_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

EventSink EventHub::sink() {
  return [this](std::string_view tenant_id, const std::vector<store::StoredEvent>& events) {
    publish(tenant_id, events);
  };
}

EventHub::Stats EventHub::stats() const {
  Stats stats;
  {
    std::shared_lock lock(mu_);
    stats.subscribers = total_;
  }
  stats.published = published_.load(std::memory_order_relaxed);
  stats.delivered = delivered_.load(std::memory_order_relaxed);
  stats.lagged = lagged_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace faultline::aggregator::events
