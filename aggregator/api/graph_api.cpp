#include "aggregator/api/graph_api.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "aggregator/api/replies.h"
#include "aggregator/graph/graph_import.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;

/// Audit details: invalid UTF-8 replaced, never an exception.
std::string dumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("graph-api", what, status);
}

/// The answer for a store or parser error: the client's fault or the store's.
http::Response failure(std::string_view what, const Status& status) {
  switch (status.code()) {
    case Errc::InvalidArgument: return badRequest(status.message());
    case Errc::FailedPrecondition:
      return http::Response::error(409, "limit_reached", status.message());
    case Errc::NotFound: return http::Response::error(404, "not_found", status.message());
    default: return unavailable(what, status);
  }
}

/// Path segments arrive raw: "%2F" and friends decoded here; nullopt when malformed.
std::optional<std::string> percentDecoded(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 2 >= raw.size() || !std::isxdigit(static_cast<unsigned char>(raw[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

json serviceJson(const graph::Service& service, const graph::ServiceGraph& graph) {
  json labels = json::object();
  for (const auto& [key, value] : service.labels) {
    labels[key] = value;
  }
  json depends_on = json::array();
  for (const graph::Edge& edge : graph.edges()) {
    if (edge.origin == graph::EdgeOrigin::Declared && edge.from == service.name) {
      depends_on.push_back(edge.to);
    }
  }
  return {
      {"name", service.name}, {"owner", service.owner},      {"environment", service.environment},
      {"tier", service.tier}, {"labels", std::move(labels)}, {"depends_on", std::move(depends_on)}};
}

json edgeJson(const graph::Edge& edge) {
  return {{"from", edge.from},
          {"to", edge.to},
          {"origin", store::edgeOriginName(edge.origin)},
          {"weight", edge.weight},
          {"first_seen", formatRfc3339Nanos(edge.first_seen_ns)},
          {"last_seen", formatRfc3339Nanos(edge.last_seen_ns)}};
}

json createdAt(std::int64_t at_ns) {
  return at_ns == 0 ? json(nullptr) : json(formatRfc3339Nanos(at_ns));
}

/// The service name of a /v1/services/{name} route, decoded; nullopt when unusable.
std::optional<std::string> serviceName(const http::Request& request) {
  const std::string* raw = request.pathParam("name");
  if (raw == nullptr || raw->size() > 3 * store::kMaxServiceNameBytes) {
    return std::nullopt;
  }
  std::optional<std::string> name = percentDecoded(*raw);
  if (!name || !store::validServiceName(*name)) {
    return std::nullopt;
  }
  return name;
}

}  // namespace

GraphApi::GraphApi(store::Store& store, audit::AuditRecorder* audit,
                   std::shared_ptr<graph::GraphCache> cache,
                   std::shared_ptr<graph::SpanEdgeLearner> spans)
    : store_(store), audit_(audit), cache_(std::move(cache)), spans_(std::move(spans)) {}

GraphApi::Applied GraphApi::apply(const auth::Principal& principal, const http::Request& request,
                                  const store::GraphChange& change, std::string_view action,
                                  const std::string& target, const std::string& detail_json) {
  Applied applied;
  if (!action.empty() && audit_ == nullptr) {
    log::error("graph-api", std::string(action) + ": no audit recorder configured");
    applied.error = http::Response::error(500, "internal", "the change cannot be audited");
    return applied;
  }
  auto result = store_.applyGraphChange(principal.tenant_id, change);
  if (!result) {
    applied.error = failure("change service graph", result.status());
    return applied;
  }
  applied.result = *result;
  if (!result->changed) {
    return applied;
  }
  cache_->forget(principal.tenant_id);
  if (action.empty()) {
    return applied;
  }
  json detail = json::parse(detail_json, nullptr, false);
  if (!detail.is_object()) {
    detail = json::object();
  }
  detail["version"] = result->version;
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = std::string(action);
  event.target = target;
  event.client_address = request.remote_address;
  event.detail_json = dumpJson(detail);
  event.at_ns = change.now_ns;
  if (Status recorded = audit_->record(event); !recorded.isOk()) {
    // The version exists either way (versions are history, never removed): say the change
    // may be unaudited rather than pretend it did not happen.
    applied.error = unavailable("audit service graph change", recorded);
  }
  return applied;
}

http::Response GraphApi::listServices(std::string_view tenant_id, const http::Request&) {
  auto graph = cache_->current(tenant_id);
  if (!graph) {
    return unavailable("list services", graph.status());
  }
  json services = json::array();
  for (const graph::Service& service : (*graph)->services()) {
    services.push_back(serviceJson(service, **graph));
  }
  return jsonReply(200, {{"version", (*graph)->version()}, {"services", std::move(services)}});
}

http::Response GraphApi::putService(const auth::Principal& principal, const http::Request& request,
                                    std::int64_t now_ns) {
  std::optional<std::string> name = serviceName(request);
  if (!name) {
    return badRequest("invalid service name (1-200 bytes, no control characters)");
  }
  auto declaration = graph::parseServiceJson(request.body, *name);
  if (!declaration) {
    return failure("put service", declaration.status());
  }
  store::GraphChange change;
  change.cause = "PUT /v1/services/" + *name + " by " + principal.actor();
  change.now_ns = now_ns;
  change.declare.push_back(*declaration);
  json detail = {{"owner", declaration->service.owner},
                 {"environment", declaration->service.environment},
                 {"tier", declaration->service.tier},
                 {"depends_on", declaration->depends_on}};
  Applied applied =
      apply(principal, request, change, "service.put", "service:" + *name, dumpJson(detail));
  if (applied.error) {
    return std::move(*applied.error);
  }
  detail["name"] = *name;
  json labels = json::object();
  for (const auto& [key, value] : declaration->service.labels) {
    labels[key] = value;
  }
  detail["labels"] = std::move(labels);
  return jsonReply(200, {{"service", std::move(detail)},
                         {"version", applied.result.version},
                         {"changed", applied.result.changed}});
}

http::Response GraphApi::deleteService(const auth::Principal& principal,
                                       const http::Request& request, std::int64_t now_ns) {
  std::optional<std::string> name = serviceName(request);
  auto not_found = [] { return http::Response::error(404, "not_found", "no such service"); };
  if (!name) {
    return not_found();
  }
  store::GraphChange change;
  change.cause = "DELETE /v1/services/" + *name + " by " + principal.actor();
  change.now_ns = now_ns;
  change.remove_services.push_back(*name);
  Applied applied = apply(principal, request, change, "service.delete", "service:" + *name, "{}");
  if (applied.error) {
    return std::move(*applied.error);
  }
  if (!applied.result.changed) {
    return not_found();  // not in this tenant's graph (never, or not any more)
  }
  return jsonReply(200, {{"name", *name}, {"deleted", true}, {"version", applied.result.version}});
}

http::Response GraphApi::importGraph(const auth::Principal& principal, const http::Request& request,
                                     std::int64_t now_ns) {
  if (request.body.size() > graph::kMaxGraphImportBytes) {
    return http::Response::error(413, "payload_too_large",
                                 "a service graph file holds at most " +
                                     std::to_string(graph::kMaxGraphImportBytes) + " bytes");
  }
  std::string mode = "merge";
  if (auto given = request.queryParam("mode"); given != nullptr) {
    if (*given != "merge" && *given != "replace") {
      return badRequest("mode: merge or replace");
    }
    mode = *given;
  }
  const std::string* content_type = request.header("content-type");
  std::optional<graph::GraphFileFormat> format =
      graph::graphFileFormat(content_type != nullptr ? *content_type : "", request.body);
  if (!format) {
    return http::Response::error(415, "unsupported_media_type",
                                 "send application/json, application/toml or text/plain (sniffed)");
  }
  auto services = graph::parseGraphFile(request.body, *format);
  if (!services) {
    return failure("import service graph", services.status());
  }
  store::GraphChange change;
  change.cause = "import (" + mode + ", " + std::to_string(services->size()) + " services) by " +
                 principal.actor();
  change.now_ns = now_ns;
  change.replace_declared = mode == "replace";
  change.declare = std::move(*services);
  const std::size_t count = change.declare.size();
  json detail = {{"mode", mode},
                 {"format", *format == graph::GraphFileFormat::Json ? "json" : "toml"},
                 {"services", count}};
  Applied applied =
      apply(principal, request, change, "service_graph.import", "service_graph", dumpJson(detail));
  if (applied.error) {
    return std::move(*applied.error);
  }
  return jsonReply(200, {{"mode", mode},
                         {"services", count},
                         {"version", applied.result.version},
                         {"changed", applied.result.changed}});
}

http::Response GraphApi::postSpans(const auth::Principal& principal, const http::Request& request,
                                   std::int64_t now_ns) {
  if (request.body.size() > graph::kMaxSpanBodyBytes) {
    return http::Response::error(
        413, "payload_too_large",
        "a span request holds at most " + std::to_string(graph::kMaxSpanBodyBytes) + " bytes");
  }
  auto parsed = graph::parseSpans(request.body);
  if (!parsed) {
    if (parsed.status().code() == Errc::ResourceExhausted) {
      return http::Response::error(413, "payload_too_large", parsed.status().message());
    }
    return failure("post spans", parsed.status());
  }
  store::GraphChange change;
  change.now_ns = now_ns;
  change.learned = spans_->pair(principal.tenant_id, parsed->spans, now_ns);
  std::int64_t calls = 0;
  for (const store::GraphEdge& edge : change.learned) {
    calls += edge.weight;
  }
  change.cause = "spans (" + std::to_string(calls) + " calls on " +
                 std::to_string(change.learned.size()) + " edges) from " + principal.actor();
  store::GraphChangeResult result;
  if (!change.learned.empty()) {
    Applied applied = apply(principal, request, change, "", "", "");
    if (applied.error) {
      return std::move(*applied.error);
    }
    result = applied.result;
  } else {
    auto graph = cache_->current(principal.tenant_id);
    if (!graph) {
      return unavailable("post spans", graph.status());
    }
    result.version = (*graph)->version();
  }
  return jsonReply(200, {{"spans", parsed->spans.size()},
                         {"skipped", parsed->skipped},
                         {"calls", calls},
                         {"edges", change.learned.size()},
                         {"version", result.version},
                         {"changed", result.changed}});
}

http::Response GraphApi::getGraph(std::string_view tenant_id, const http::Request& request) {
  Result<std::shared_ptr<const graph::ServiceGraph>> graph = Status(Errc::Internal, "not read");
  if (auto version = request.queryParam("version"); version != nullptr) {
    auto number = cursorNumber(*version);
    if (!number || *number < 0) {
      return badRequest("version: a non-negative integer");
    }
    graph = cache_->at(tenant_id, *number);
  } else {
    graph = cache_->current(tenant_id);
  }
  if (!graph) {
    return failure("read service graph", graph.status());
  }
  json services = json::array();
  for (const graph::Service& service : (*graph)->services()) {
    services.push_back(serviceJson(service, **graph));
  }
  json edges = json::array();
  for (const graph::Edge& edge : (*graph)->edges()) {
    edges.push_back(edgeJson(edge));
  }
  return jsonReply(200, {{"version", (*graph)->version()},
                         {"created_at", createdAt((*graph)->createdAtNs())},
                         {"services", std::move(services)},
                         {"edges", std::move(edges)}});
}

http::Response GraphApi::listVersions(std::string_view tenant_id, const http::Request& request) {
  auto limit = parseLimit(request);
  if (!limit) {
    return badRequest(limit.status().message());
  }
  std::int64_t before = INT64_MAX;
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto fields = decodeCursor(*cursor, 1);
    auto number = fields ? cursorNumber((*fields)[0]) : Result<std::int64_t>(fields.status());
    if (!number) {
      return badRequest(number.status().message());
    }
    before = *number;
  }
  auto versions = store_.listGraphVersions(tenant_id, before, *limit + 1);
  if (!versions) {
    return unavailable("list graph versions", versions.status());
  }
  const bool more = versions->size() > *limit;
  if (more) {
    versions->resize(*limit);
  }
  json list = json::array();
  for (const store::GraphVersionInfo& version : *versions) {
    list.push_back({{"version", version.version},
                    {"created_at", formatRfc3339Nanos(version.created_at_ns)},
                    {"cause", version.cause}});
  }
  json body = {{"versions", std::move(list)}, {"next_cursor", nullptr}};
  if (more) {
    body["next_cursor"] = encodeCursor({std::to_string(versions->back().version)});
  }
  return jsonReply(200, body);
}

}  // namespace faultline::aggregator::api
