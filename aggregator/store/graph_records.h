#pragma once

// What the store keeps of a tenant's service graph (migration 9): versioned rows. Every change
// that changes something makes a new version (1, 2, ... per tenant); each service and edge row
// is valid from the version that opened it until the version that closed it, so any past
// version reads back exactly. planGraphChange() decides, from the rows in force, which rows a
// change closes and opens; both engines run the plan it returns, so they cannot disagree.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::store {

/// Where an edge came from. Declared edges are the tenant's own statement (PUT, import);
/// learned ones accumulate (spans: calls; co-occurrence: buckets in which both fired).
enum class EdgeOrigin : std::uint8_t { Declared, Spans, Cooccurrence };
std::string_view edgeOriginName(EdgeOrigin origin);
std::optional<EdgeOrigin> edgeOriginFromName(std::string_view name);

/// Limits that keep one tenant's graph (and every read of it) bounded.
inline constexpr std::size_t kMaxGraphServices = 10'000;
inline constexpr std::size_t kMaxGraphEdges = 100'000;
inline constexpr std::size_t kMaxServiceNameBytes = 200;
inline constexpr std::size_t kMaxServiceFieldBytes = 200;  // owner, environment, tier
inline constexpr std::size_t kMaxServiceLabels = 32;
inline constexpr std::size_t kMaxDependencies = 1'000;  // depends_on of one service

/// 1-200 bytes, no control characters, no leading or trailing space.
bool validServiceName(std::string_view name);

struct GraphService {
  std::string name;
  std::string owner;
  std::string environment;
  std::string tier;
  std::map<std::string, std::string> labels;
  bool operator==(const GraphService&) const = default;
};

struct GraphEdge {
  std::string from;  // caller (for co-occurrence: the smaller name)
  std::string to;    // callee
  EdgeOrigin origin = EdgeOrigin::Declared;
  std::int64_t weight = 0;  // calls, co-occurring buckets; 0 for declared edges
  std::int64_t first_seen_ns = 0;
  std::int64_t last_seen_ns = 0;
  bool operator==(const GraphEdge&) const = default;
};

struct GraphVersionInfo {
  std::int64_t version = 0;
  std::int64_t created_at_ns = 0;
  std::string cause;
};

/// The graph of one tenant as it was at `version` (0: nothing ever declared or learned).
/// Services by name, edges by (from, to, origin).
struct GraphSnapshotRecord {
  std::int64_t version = 0;
  std::int64_t created_at_ns = 0;
  std::vector<GraphService> services;
  std::vector<GraphEdge> edges;
};

/// A declared service as PUT or imported: its fields and the services it calls.
struct ServiceDeclaration {
  GraphService service;
  std::vector<std::string> depends_on;  // replaces the service's declared edges
};

/// InvalidArgument naming the field when a declaration breaks the limits above or depends on
/// itself.
Status checkServiceDeclaration(const ServiceDeclaration& declaration);

/// One change to a tenant's graph, applied atomically against the version in force.
struct GraphChange {
  std::string cause;  // shown in the version list ("PUT /v1/services/web by user:...")
  std::int64_t now_ns = 0;
  /// Closes every declared service and declared edge that `declare` does not name again
  /// (an import in replace mode). Learned edges stay.
  bool replace_declared = false;
  std::vector<ServiceDeclaration> declare;
  /// Closes these services and every edge (any origin) that touches them.
  std::vector<std::string> remove_services;
  /// Learned edges to add: weight is added to the edge in force with the same (from, to,
  /// origin), seen times widen; new edges open. Origin must not be Declared.
  std::vector<GraphEdge> learned;
};

/// The rows a change closes and opens. Closing and reopening the same key is how a row changes.
struct GraphPlan {
  std::vector<std::string> close_services;  // names
  std::vector<GraphService> open_services;
  std::vector<GraphEdge> close_edges;  // keys (from, to, origin) of edges in force
  std::vector<GraphEdge> open_edges;
  bool empty() const {
    return close_services.empty() && open_services.empty() && close_edges.empty() &&
           open_edges.empty();
  }
};

/// Validates `change` and diffs it against the rows in force. InvalidArgument for bad names,
/// fields or a declared learned edge; FailedPrecondition when the graph would outgrow the limits.
Result<GraphPlan> planGraphChange(const GraphSnapshotRecord& current, const GraphChange& change);

/// What applyGraphChange did: the version in force afterwards and whether this change made it.
struct GraphChangeResult {
  std::int64_t version = 0;
  bool changed = false;
};

/// Labels as stored (a JSON object of strings) and back; a bad stored value reads as empty.
std::string encodeServiceLabels(const std::map<std::string, std::string>& labels);
std::map<std::string, std::string> decodeServiceLabels(std::string_view json);

}  // namespace faultline::aggregator::store
