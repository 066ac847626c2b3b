#pragma once

// The service graph over the API (handlers run after AuthApi::guarded; they get the caller's
// tenant and principal).
//
//   GET    /v1/services                      graph.read     the declared services in force
//   PUT    /v1/services/{name}               graph.manage   {owner, environment, tier, labels,
//                                                           depends_on} (replaces the service)
//   DELETE /v1/services/{name}               graph.manage   the service and its edges
//   POST   /v1/service-graph/import          graph.manage   ?mode=merge|replace; JSON or TOML
//   POST   /v1/service-graph/spans           graph.manage   OTLP/JSON traces or compact spans
//   GET    /v1/service-graph                 graph.read     ?version=N (default: in force)
//   GET    /v1/service-graph/versions        graph.read     limit, cursor; newest first
//
// Every change that makes a new version answers with it; declarations (PUT, DELETE, import)
// are audited like noise rules. Span-learned changes are data, not configuration: their
// versions carry their cause but they are not audited one by one.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/graph/graph_cache.h"
#include "aggregator/graph/span_edges.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

/// Thread-safe (its parts are). Does not own the store or the audit recorder; without a
/// recorder, audited changes answer 500 (never an unaudited declaration).
class GraphApi {
 public:
  GraphApi(store::Store& store, audit::AuditRecorder* audit,
           std::shared_ptr<graph::GraphCache> cache, std::shared_ptr<graph::SpanEdgeLearner> spans);

  http::Response listServices(std::string_view tenant_id, const http::Request& request);
  http::Response putService(const auth::Principal& principal, const http::Request& request,
                            std::int64_t now_ns);
  http::Response deleteService(const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns);
  http::Response importGraph(const auth::Principal& principal, const http::Request& request,
                             std::int64_t now_ns);
  http::Response postSpans(const auth::Principal& principal, const http::Request& request,
                           std::int64_t now_ns);
  http::Response getGraph(std::string_view tenant_id, const http::Request& request);
  http::Response listVersions(std::string_view tenant_id, const http::Request& request);

 private:
  struct Applied {
    std::optional<http::Response> error;  // set: answer this instead
    store::GraphChangeResult result;
  };
  /// Applies `change`, forgets the cached graph, and, when `action` is not empty and the
  /// change made a version, audits it (`detail_json` plus the version).
  Applied apply(const auth::Principal& principal, const http::Request& request,
                const store::GraphChange& change, std::string_view action,
                const std::string& target, const std::string& detail_json);

  store::Store& store_;
  audit::AuditRecorder* audit_;
  std::shared_ptr<graph::GraphCache> cache_;
  std::shared_ptr<graph::SpanEdgeLearner> spans_;
};

}  // namespace faultline::aggregator::api
