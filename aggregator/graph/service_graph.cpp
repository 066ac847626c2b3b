#include "aggregator/graph/service_graph.h"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

namespace faultline::aggregator::graph {
namespace {

void sortUnique(std::vector<int>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

}  // namespace

ServiceGraph::ServiceGraph(store::GraphSnapshotRecord snapshot)
    : version_(snapshot.version),
      created_at_ns_(snapshot.created_at_ns),
      services_(std::move(snapshot.services)),
      edges_(std::move(snapshot.edges)) {
  std::sort(services_.begin(), services_.end(),
            [](const Service& a, const Service& b) { return a.name < b.name; });
  std::set<std::string> names;
  for (std::size_t i = 0; i < services_.size(); ++i) {
    names.insert(services_[i].name);
    service_index_.emplace(services_[i].name, i);
  }
  for (const Edge& edge : edges_) {
    names.insert(edge.from);
    names.insert(edge.to);
  }
  names_.assign(names.begin(), names.end());  // ids in name order: BFS ties break by name
  for (std::size_t i = 0; i < names_.size(); ++i) {
    ids_.emplace(names_[i], static_cast<int>(i));
  }
  neighbours_.resize(names_.size());
  callees_.resize(names_.size());
  callers_.resize(names_.size());
  for (const Edge& edge : edges_) {
    const int from = ids_.find(edge.from)->second;
    const int to = ids_.find(edge.to)->second;
    if (from == to) {
      continue;
    }
    neighbours_[from].push_back(to);
    neighbours_[to].push_back(from);
    if (edge.origin != EdgeOrigin::Cooccurrence) {
      callees_[from].push_back(to);
      callers_[to].push_back(from);
    }
  }
  for (std::size_t i = 0; i < names_.size(); ++i) {
    sortUnique(neighbours_[i]);
    sortUnique(callees_[i]);
    sortUnique(callers_[i]);
  }
}

std::optional<int> ServiceGraph::indexOf(std::string_view name) const {
  auto it = ids_.find(name);
  if (it == ids_.end()) {
    return std::nullopt;
  }
  return it->second;
}

const Service* ServiceGraph::service(std::string_view name) const {
  auto it = service_index_.find(name);
  return it == service_index_.end() ? nullptr : &services_[it->second];
}

std::optional<std::vector<int>> ServiceGraph::search(int a, int b, int max_hops) const {
  // Parents of the nodes reached; only visited nodes are touched, so a query near `a` stays
  // cheap in a large graph.
  std::unordered_map<int, int> parent;
  parent.emplace(a, -1);
  std::vector<int> frontier{a};
  for (int depth = 0; depth < max_hops && !frontier.empty(); ++depth) {
    std::vector<int> next;
    for (int node : frontier) {
      for (int neighbour : neighbours_[static_cast<std::size_t>(node)]) {
        if (!parent.emplace(neighbour, node).second) {
          continue;
        }
        if (neighbour == b) {
          std::vector<int> route{b};
          for (int at = node; at != -1; at = parent.at(at)) {
            route.push_back(at);
          }
          std::reverse(route.begin(), route.end());
          return route;
        }
        next.push_back(neighbour);
      }
    }
    frontier = std::move(next);
  }
  return std::nullopt;
}

std::optional<int> ServiceGraph::hops(std::string_view a, std::string_view b, int max_hops) const {
  std::optional<int> from = indexOf(a);
  std::optional<int> to = indexOf(b);
  if (!from || !to || max_hops < 0) {
    return std::nullopt;
  }
  if (*from == *to) {
    return 0;
  }
  std::optional<std::vector<int>> route = search(*from, *to, max_hops);
  if (!route) {
    return std::nullopt;
  }
  return static_cast<int>(route->size()) - 1;
}

std::vector<std::string> ServiceGraph::path(std::string_view a, std::string_view b,
                                            int max_hops) const {
  std::optional<int> from = indexOf(a);
  std::optional<int> to = indexOf(b);
  if (!from || !to || max_hops < 0) {
    return {};
  }
  if (*from == *to) {
    return {names_[static_cast<std::size_t>(*from)]};
  }
  std::optional<std::vector<int>> route = search(*from, *to, max_hops);
  return route ? namesOf(*route) : std::vector<std::string>{};
}

std::vector<std::string> ServiceGraph::namesOf(const std::vector<int>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int id : ids) {
    out.push_back(names_[static_cast<std::size_t>(id)]);
  }
  return out;
}

std::vector<std::string> ServiceGraph::callees(std::string_view a) const {
  std::optional<int> id = indexOf(a);
  return id ? namesOf(callees_[static_cast<std::size_t>(*id)]) : std::vector<std::string>{};
}

std::vector<std::string> ServiceGraph::callers(std::string_view a) const {
  std::optional<int> id = indexOf(a);
  return id ? namesOf(callers_[static_cast<std::size_t>(*id)]) : std::vector<std::string>{};
}

std::vector<std::string> ServiceGraph::downstreamOf(std::string_view a) const {
  std::optional<int> start = indexOf(a);
  if (!start) {
    return {};
  }
  std::vector<bool> seen(names_.size(), false);
  seen[static_cast<std::size_t>(*start)] = true;
  std::deque<int> queue{*start};
  std::vector<int> found;
  while (!queue.empty()) {
    const int node = queue.front();
    queue.pop_front();
    for (int caller : callers_[static_cast<std::size_t>(node)]) {
      if (!seen[static_cast<std::size_t>(caller)]) {
        seen[static_cast<std::size_t>(caller)] = true;
        found.push_back(caller);
        queue.push_back(caller);
      }
    }
  }
  std::sort(found.begin(), found.end());
  return namesOf(found);
}

}  // namespace faultline::aggregator::graph
