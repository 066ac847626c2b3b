#pragma once

// One tenant's service graph at one version, as the correlator and RCA read it: an immutable
// snapshot with adjacency lists, so that distance and path queries cost a BFS bounded by the
// hops asked for, never a store read.
//
// Directions: an edge goes from the caller to the callee (`from` depends on `to`). Declared
// and span edges are directed; co-occurrence edges only say that two services fail together,
// so callers()/callees()/downstreamOf() ignore them while hops()/path() use every edge.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/store/graph_records.h"

namespace faultline::aggregator::graph {

using Service = store::GraphService;
using Edge = store::GraphEdge;
using EdgeOrigin = store::EdgeOrigin;

/// Immutable after construction: any thread may query it. Services named only by an edge are
/// nodes too (spans teach services nobody declared); names never seen are simply absent.
class ServiceGraph {
 public:
  /// The empty graph (version 0).
  ServiceGraph() = default;
  explicit ServiceGraph(store::GraphSnapshotRecord snapshot);

  std::int64_t version() const { return version_; }
  std::int64_t createdAtNs() const { return created_at_ns_; }
  /// Declared services, by name.
  const std::vector<Service>& services() const { return services_; }
  /// Every edge, by (from, to, origin).
  const std::vector<Edge>& edges() const { return edges_; }
  /// The declared service of this name, or null.
  const Service* service(std::string_view name) const;
  /// True when the name is a node (declared or on an edge).
  bool contains(std::string_view name) const { return indexOf(name).has_value(); }
  std::size_t nodeCount() const { return names_.size(); }

  /// Shortest distance between a and b ignoring direction (0 for a == b when known), or
  /// nullopt when either is unknown or they are more than `max_hops` apart.
  std::optional<int> hops(std::string_view a, std::string_view b, int max_hops) const;
  /// A shortest undirected path from a to b (both included; ties broken by name), or empty
  /// when hops() is nullopt. Shows why two services' events were joined.
  std::vector<std::string> path(std::string_view a, std::string_view b, int max_hops) const;
  /// Services `a` calls directly (declared or span edges), by name.
  std::vector<std::string> callees(std::string_view a) const;
  /// Services that call `a` directly, by name.
  std::vector<std::string> callers(std::string_view a) const;
  /// Services that depend on `a`, transitively (callers of callers...), without `a`, by name:
  /// where a failure of `a` shows up as symptoms.
  std::vector<std::string> downstreamOf(std::string_view a) const;

 private:
  std::optional<int> indexOf(std::string_view name) const;
  /// BFS over undirected edges from a towards b, at most max_hops deep; the parent of each
  /// node reached (for path()), or nullopt when b is not reached.
  std::optional<std::vector<int>> search(int a, int b, int max_hops) const;
  std::vector<std::string> namesOf(const std::vector<int>& ids) const;

  std::int64_t version_ = 0;
  std::int64_t created_at_ns_ = 0;
  std::vector<Service> services_;
  std::vector<Edge> edges_;
  std::vector<std::string> names_;  // node id -> name, sorted by name
  std::map<std::string, int, std::less<>> ids_;
  std::map<std::string, std::size_t, std::less<>> service_index_;
  std::vector<std::vector<int>> neighbours_;  // undirected, sorted, distinct
  std::vector<std::vector<int>> callees_;     // directed edges only
  std::vector<std::vector<int>> callers_;
};

}  // namespace faultline::aggregator::graph
