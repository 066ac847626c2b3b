#include "aggregator/serve/routes.h"

#include "aggregator/api/agents_api.h"
#include "aggregator/api/openapi.h"
#include "shared/util/log.h"

namespace faultline::aggregator::serve {

http::Router buildServerRouter(const RouteHandlers& handlers) {
  http::Router router = ingest::buildRouter(*handlers.agent_api);
  api::addOpenApiRoute(router);
  auth::addAuthRoutes(router, *handlers.auth_api);
  auth::AuthApi& auth = *handlers.auth_api;
  store::Store& store = *handlers.store;
  router.add("GET", "/v1/agents", [&auth, &store](http::Request&& request, http::Respond respond) {
    http::Response response;
    try {
      response = auth.guarded(request, auth::Permission::ListAgents,
                              [&](const auth::Principal& principal) {
                                return api::listAgents(store, principal.tenant_id, request);
                              });
    } catch (const std::exception& e) {
      log::error("api", std::string("list agents threw: ") + e.what());
      response = http::Response::error(500, "internal", "list agents failed");
    }
    respond(std::move(response));
  });
  return router;
}

}  // namespace faultline::aggregator::serve
