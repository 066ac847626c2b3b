#include "aggregator/graph/graph_admin.h"

#include <nlohmann/json.hpp>

namespace faultline::aggregator::graph {

GraphFileFormat graphFileFormatForPath(std::string_view path, std::string_view text) {
  if (path.ends_with(".json")) {
    return GraphFileFormat::Json;
  }
  if (path.ends_with(".toml")) {
    return GraphFileFormat::Toml;
  }
  return *graphFileFormat("text/plain", text);  // text/plain always sniffs to one of them
}

Result<store::GraphChangeResult> importGraphFile(store::Store& store, audit::AuditRecorder& audit,
                                                 std::string_view tenant_name,
                                                 std::string_view text, GraphFileFormat format,
                                                 bool replace, std::string_view actor,
                                                 std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  FL_ASSIGN_OR_RETURN(std::vector<store::ServiceDeclaration> services,
                      parseGraphFile(text, format));
  const std::string mode = replace ? "replace" : "merge";
  store::GraphChange change;
  change.cause = "import (" + mode + ", " + std::to_string(services.size()) + " services) by " +
                 std::string(actor);
  change.now_ns = now_ns;
  change.replace_declared = replace;
  change.declare = std::move(services);
  FL_ASSIGN_OR_RETURN(store::GraphChangeResult result, store.applyGraphChange(tenant.id, change));
  if (!result.changed) {
    return result;
  }
  audit::AuditEvent event;
  event.tenant_id = tenant.id;
  event.actor = std::string(actor);
  event.action = "service_graph.import";
  event.target = "service_graph";
  event.detail_json = nlohmann::json{
      {"mode", mode},
      {"format", format == GraphFileFormat::Json ? "json" : "toml"},
      {"services", change.declare.size()},
      {"version",
       result.version}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  event.at_ns = now_ns;
  FL_RETURN_IF_ERROR(audit.record(event).withContext(
      "service graph version " + std::to_string(result.version) + " was made but not audited"));
  return result;
}

}  // namespace faultline::aggregator::graph
