#include "aggregator/store/graph_records.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

namespace faultline::aggregator::store {
namespace {

using EdgeKey = std::tuple<std::string, std::string, EdgeOrigin>;

EdgeKey keyOf(const GraphEdge& edge) {
  return {edge.from, edge.to, edge.origin};
}

bool hasControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

Status checkField(std::string_view service, std::string_view what, std::string_view value) {
  if (value.size() > kMaxServiceFieldBytes || hasControl(value)) {
    return invalidArgument("service '" + std::string(service) + "': " + std::string(what) +
                           " must be at most " + std::to_string(kMaxServiceFieldBytes) +
                           " bytes without control characters");
  }
  return Status::ok();
}

Status checkName(std::string_view where, std::string_view name) {
  if (!validServiceName(name)) {
    return invalidArgument(std::string(where) + ": invalid service name '" +
                           std::string(name.substr(0, 64)) + "' (1-" +
                           std::to_string(kMaxServiceNameBytes) +
                           " bytes, no control characters, no surrounding spaces)");
  }
  return Status::ok();
}

Status checkLearned(const GraphEdge& edge) {
  FL_RETURN_IF_ERROR(checkName("learned edge", edge.from));
  FL_RETURN_IF_ERROR(checkName("learned edge", edge.to));
  if (edge.origin == EdgeOrigin::Declared) {
    return invalidArgument("a learned edge cannot have origin 'declared'");
  }
  if (edge.from == edge.to) {
    return invalidArgument("a learned edge joins two different services");
  }
  if (edge.weight < 0) {
    return invalidArgument("a learned edge's weight is not negative");
  }
  return Status::ok();
}

}  // namespace

std::string_view edgeOriginName(EdgeOrigin origin) {
  switch (origin) {
    case EdgeOrigin::Declared: return "declared";
    case EdgeOrigin::Spans: return "spans";
    case EdgeOrigin::Cooccurrence: return "cooccurrence";
  }
  return "declared";
}

std::optional<EdgeOrigin> edgeOriginFromName(std::string_view name) {
  for (EdgeOrigin origin : {EdgeOrigin::Declared, EdgeOrigin::Spans, EdgeOrigin::Cooccurrence}) {
    if (edgeOriginName(origin) == name) {
      return origin;
    }
  }
  return std::nullopt;
}

Status checkServiceDeclaration(const ServiceDeclaration& declaration) {
  const GraphService& service = declaration.service;
  FL_RETURN_IF_ERROR(checkName("service", service.name));
  FL_RETURN_IF_ERROR(checkField(service.name, "owner", service.owner));
  FL_RETURN_IF_ERROR(checkField(service.name, "environment", service.environment));
  FL_RETURN_IF_ERROR(checkField(service.name, "tier", service.tier));
  if (service.labels.size() > kMaxServiceLabels) {
    return invalidArgument("service '" + service.name + "': at most " +
                           std::to_string(kMaxServiceLabels) + " labels");
  }
  for (const auto& [key, value] : service.labels) {
    if (key.empty()) {
      return invalidArgument("service '" + service.name + "': a label needs a name");
    }
    FL_RETURN_IF_ERROR(checkField(service.name, "label name", key));
    FL_RETURN_IF_ERROR(checkField(service.name, "label '" + key.substr(0, 64) + "'", value));
  }
  if (declaration.depends_on.size() > kMaxDependencies) {
    return invalidArgument("service '" + service.name + "': at most " +
                           std::to_string(kMaxDependencies) + " dependencies");
  }
  for (const std::string& callee : declaration.depends_on) {
    FL_RETURN_IF_ERROR(checkName("service '" + service.name + "' depends_on", callee));
    if (callee == service.name) {
      return invalidArgument("service '" + service.name + "' cannot depend on itself");
    }
  }
  return Status::ok();
}

bool validServiceName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxServiceNameBytes && !hasControl(name) &&
         name.front() != ' ' && name.back() != ' ';
}

Result<GraphPlan> planGraphChange(const GraphSnapshotRecord& current, const GraphChange& change) {
  std::set<std::string> declared_names;
  for (const ServiceDeclaration& declaration : change.declare) {
    FL_RETURN_IF_ERROR(checkServiceDeclaration(declaration));
    if (!declared_names.insert(declaration.service.name).second) {
      return invalidArgument("service '" + declaration.service.name + "' is declared twice");
    }
  }
  for (const std::string& name : change.remove_services) {
    FL_RETURN_IF_ERROR(checkName("remove", name));
  }
  for (const GraphEdge& edge : change.learned) {
    FL_RETURN_IF_ERROR(checkLearned(edge));
  }

  std::map<std::string, GraphService> services;
  for (const GraphService& service : current.services) {
    services.emplace(service.name, service);
  }
  std::map<EdgeKey, GraphEdge> edges;
  for (const GraphEdge& edge : current.edges) {
    edges.emplace(keyOf(edge), edge);
  }
  const std::map<EdgeKey, GraphEdge> before = edges;

  if (change.replace_declared) {
    services.clear();
    std::erase_if(edges,
                  [](const auto& entry) { return entry.second.origin == EdgeOrigin::Declared; });
  }
  for (const ServiceDeclaration& declaration : change.declare) {
    const std::string& name = declaration.service.name;
    services.insert_or_assign(name, declaration.service);
    std::erase_if(edges, [&](const auto& entry) {
      return entry.second.origin == EdgeOrigin::Declared && entry.second.from == name;
    });
    for (const std::string& callee : declaration.depends_on) {
      EdgeKey key{name, callee, EdgeOrigin::Declared};
      // An edge declared again keeps its row (and its first_seen): no change, no new version.
      auto kept = before.find(key);
      edges.insert_or_assign(key, kept != before.end()
                                      ? kept->second
                                      : GraphEdge{name, callee, EdgeOrigin::Declared, 0,
                                                  change.now_ns, change.now_ns});
    }
  }
  for (const std::string& name : change.remove_services) {
    services.erase(name);
    std::erase_if(edges, [&](const auto& entry) {
      return entry.second.from == name || entry.second.to == name;
    });
  }
  for (const GraphEdge& learned : change.learned) {
    auto [it, inserted] = edges.try_emplace(keyOf(learned), learned);
    if (!inserted) {
      GraphEdge& edge = it->second;
      edge.weight += learned.weight;
      edge.first_seen_ns = std::min(edge.first_seen_ns, learned.first_seen_ns);
      edge.last_seen_ns = std::max(edge.last_seen_ns, learned.last_seen_ns);
    }
  }
  if (services.size() > kMaxGraphServices || edges.size() > kMaxGraphEdges) {
    return Status(Errc::FailedPrecondition,
                  "a tenant's service graph holds at most " + std::to_string(kMaxGraphServices) +
                      " services and " + std::to_string(kMaxGraphEdges) + " edges");
  }

  GraphPlan plan;
  for (const GraphService& service : current.services) {
    auto it = services.find(service.name);
    if (it == services.end() || !(it->second == service)) {
      plan.close_services.push_back(service.name);
    }
  }
  std::map<std::string, const GraphService*> old_services;
  for (const GraphService& service : current.services) {
    old_services.emplace(service.name, &service);
  }
  for (const auto& [name, service] : services) {
    auto it = old_services.find(name);
    if (it == old_services.end() || !(*it->second == service)) {
      plan.open_services.push_back(service);
    }
  }
  for (const auto& [key, edge] : before) {
    auto it = edges.find(key);
    if (it == edges.end() || !(it->second == edge)) {
      plan.close_edges.push_back(edge);
    }
  }
  for (const auto& [key, edge] : edges) {
    auto it = before.find(key);
    if (it == before.end() || !(it->second == edge)) {
      plan.open_edges.push_back(edge);
    }
  }
  return plan;
}

std::string encodeServiceLabels(const std::map<std::string, std::string>& labels) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : labels) {
    out[key] = value;
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::map<std::string, std::string> decodeServiceLabels(std::string_view json) {
  std::map<std::string, std::string> labels;
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  if (!parsed.is_object()) {
    return labels;
  }
  for (const auto& [key, value] : parsed.items()) {
    if (value.is_string()) {
      labels.emplace(key, value.get<std::string>());
    }
  }
  return labels;
}

}  // namespace faultline::aggregator::store
