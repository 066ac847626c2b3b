#pragma once

// Each tenant's service graph as the correlator reads it: the version in force served from
// memory (reloaded after a TTL, or at once when a change goes through this node) and past
// versions, which never change, kept in a small bounded cache. Changes made through another
// node reach this one within the TTL, like noise rules (events/noise_policies.h).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "aggregator/graph/service_graph.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::graph {

/// Thread-safe. Does not own the store. The graphs it hands out are immutable and shared.
class GraphCache {
 public:
  GraphCache(store::Store& store, std::chrono::milliseconds ttl);

  /// The tenant's graph in force (from memory when loaded less than a TTL ago).
  Result<std::shared_ptr<const ServiceGraph>> current(std::string_view tenant_id);
  /// The tenant's graph at `version` (0: empty); NotFound for a version it never had.
  Result<std::shared_ptr<const ServiceGraph>> at(std::string_view tenant_id, std::int64_t version);
  /// Drops the tenant's graph in force: call after a change through this node.
  void forget(std::string_view tenant_id);

 private:
  struct Current {
    std::shared_ptr<const ServiceGraph> graph;
    std::int64_t loaded_at_ns = 0;  // monotonic
  };
  void rememberPast(const std::string& tenant_id, std::shared_ptr<const ServiceGraph> graph);

  store::Store& store_;
  std::int64_t ttl_ns_;
  std::mutex mutex_;
  std::map<std::string, Current, std::less<>> current_;
  std::map<std::pair<std::string, std::int64_t>, std::shared_ptr<const ServiceGraph>> past_;
};

}  // namespace faultline::aggregator::graph
