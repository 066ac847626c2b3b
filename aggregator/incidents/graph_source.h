#pragma once

// The service graph (aggregator/graph) as correlation and RCA read it: a GraphView over one
// ServiceGraph snapshot, and a GraphSource over the shared GraphCache that also feeds the
// co-occurrence learner with the services that fired together.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "aggregator/graph/cooccurrence_learner.h"
#include "aggregator/graph/graph_cache.h"
#include "aggregator/graph/service_graph.h"
#include "aggregator/incidents/incident_engine.h"

namespace faultline::aggregator::incidents {

class ServiceGraphView : public GraphView {
 public:
  explicit ServiceGraphView(std::shared_ptr<const graph::ServiceGraph> graph)
      : graph_(std::move(graph)) {}
  std::int64_t version() const override { return graph_->version(); }
  std::vector<std::string> path(const std::string& from, const std::string& to,
                                int max_hops) const override {
    return graph_->path(from, to, max_hops);
  }
  /// Along call edges (declared or from spans) only: co-occurrence has no direction.
  bool dependsOn(const std::string& caller, const std::string& callee, int max_hops) const override;
  std::vector<std::string> callees(const std::string& service) const override {
    return graph_->callees(service);
  }

 private:
  std::shared_ptr<const graph::ServiceGraph> graph_;
  mutable std::mutex mu_;
  /// Call distances from each service asked about (breadth first over callees), memoized: RCA
  /// asks about every pair of an incident's services.
  mutable std::map<std::string, std::map<std::string, int>> distances_;
};

class CachedGraphSource : public GraphSource {
 public:
  /// `learner` may be null (no co-occurrence learning).
  CachedGraphSource(std::shared_ptr<graph::GraphCache> cache,
                    std::shared_ptr<graph::CooccurrenceLearner> learner)
      : cache_(std::move(cache)), learner_(std::move(learner)) {}
  std::shared_ptr<const GraphView> current(const std::string& tenant_id) override;
  void observe(const std::string& tenant_id, std::int64_t bucket_ns,
               const std::vector<std::string>& services) override;

 private:
  std::shared_ptr<graph::GraphCache> cache_;
  std::shared_ptr<graph::CooccurrenceLearner> learner_;
  std::mutex mu_;
  /// The view of each tenant's graph, remade when the cache hands out another snapshot.
  std::map<std::string, std::pair<const graph::ServiceGraph*, std::shared_ptr<const GraphView>>>
      views_;
};

}  // namespace faultline::aggregator::incidents
