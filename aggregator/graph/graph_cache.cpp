#include "aggregator/graph/graph_cache.h"

#include "shared/util/time.h"

namespace faultline::aggregator::graph {
namespace {
// Bounds: beyond them the cache starts over (a miss costs one indexed read per query kind).
constexpr std::size_t kMaxCurrentTenants = 10'000;
constexpr std::size_t kMaxPastVersions = 256;
}  // namespace

GraphCache::GraphCache(store::Store& store, std::chrono::milliseconds ttl)
    : store_(store), ttl_ns_(std::chrono::nanoseconds(ttl).count()) {}

Result<std::shared_ptr<const ServiceGraph>> GraphCache::current(std::string_view tenant_id) {
  const std::int64_t now = monotonicNanos();
  {
    std::lock_guard lock(mutex_);
    auto it = current_.find(tenant_id);
    if (it != current_.end() && now - it->second.loaded_at_ns < ttl_ns_) {
      return it->second.graph;
    }
  }
  // Read outside the lock: a slow store must not stall other tenants' cached reads.
  FL_ASSIGN_OR_RETURN(store::GraphSnapshotRecord snapshot,
                      store_.readGraph(tenant_id, std::nullopt));
  auto graph = std::make_shared<const ServiceGraph>(std::move(snapshot));
  std::lock_guard lock(mutex_);
  if (current_.size() >= kMaxCurrentTenants && current_.find(tenant_id) == current_.end()) {
    current_.clear();
  }
  current_.insert_or_assign(std::string(tenant_id), Current{graph, now});
  return graph;
}

Result<std::shared_ptr<const ServiceGraph>> GraphCache::at(std::string_view tenant_id,
                                                           std::int64_t version) {
  const std::string tenant(tenant_id);
  {
    std::lock_guard lock(mutex_);
    auto it = past_.find({tenant, version});
    if (it != past_.end()) {
      return it->second;
    }
    auto current = current_.find(tenant_id);
    if (current != current_.end() && current->second.graph->version() == version) {
      return current->second.graph;
    }
  }
  FL_ASSIGN_OR_RETURN(store::GraphSnapshotRecord snapshot, store_.readGraph(tenant_id, version));
  auto graph = std::make_shared<const ServiceGraph>(std::move(snapshot));
  rememberPast(tenant, graph);
  return graph;
}

void GraphCache::rememberPast(const std::string& tenant_id,
                              std::shared_ptr<const ServiceGraph> graph) {
  std::lock_guard lock(mutex_);
  if (past_.size() >= kMaxPastVersions) {
    past_.clear();
  }
  const std::int64_t version = graph->version();
  past_.insert_or_assign({tenant_id, version}, std::move(graph));
}

void GraphCache::forget(std::string_view tenant_id) {
  std::lock_guard lock(mutex_);
  auto it = current_.find(tenant_id);
  if (it != current_.end()) {
    current_.erase(it);
  }
}

}  // namespace faultline::aggregator::graph
