#include "aggregator/incidents/graph_source.h"

#include <deque>

#include "shared/util/log.h"

namespace faultline::aggregator::incidents {

bool ServiceGraphView::dependsOn(const std::string& caller, const std::string& callee,
                                 int max_hops) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, fresh] = distances_.try_emplace(caller);
  std::map<std::string, int>& distance = it->second;
  if (fresh) {
    // Every service `caller` reaches through calls, with its distance (bounded: 8 hops).
    std::deque<std::string> queue = {caller};
    distance[caller] = 0;
    while (!queue.empty()) {
      std::string at = std::move(queue.front());
      queue.pop_front();
      int next = distance[at] + 1;
      if (next > 8) {
        continue;
      }
      for (std::string& called : graph_->callees(at)) {
        if (distance.emplace(called, next).second) {
          queue.push_back(std::move(called));
        }
      }
    }
  }
  auto found = distance.find(callee);
  return callee != caller && found != distance.end() && found->second <= max_hops;
}

std::shared_ptr<const GraphView> CachedGraphSource::current(const std::string& tenant_id) {
  auto graph = cache_->current(tenant_id);
  if (!graph) {
    log::warn("incidents",
              "tenant " + tenant_id + ": service graph unavailable: " + graph.status().message());
    return nullptr;
  }
  if (*graph == nullptr || (*graph)->nodeCount() == 0) {
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = views_[tenant_id];
  if (slot.first != graph->get()) {
    slot = {graph->get(), std::make_shared<ServiceGraphView>(*graph)};
  }
  return slot.second;
}

void CachedGraphSource::observe(const std::string& tenant_id, std::int64_t bucket_ns,
                                const std::vector<std::string>& services) {
  if (learner_ != nullptr) {
    learner_->observe(tenant_id, bucket_ns, services);
  }
}

}  // namespace faultline::aggregator::incidents
