#include "aggregator/serve/routes.h"

#include "aggregator/api/openapi.h"

namespace faultline::aggregator::serve {

http::Router buildServerRouter(const RouteHandlers& handlers) {
  http::Router router = ingest::buildRouter(*handlers.agent_api);
  api::addOpenApiRoute(router);
  auth::addAuthRoutes(router, *handlers.auth_api);
  return router;
}

}  // namespace faultline::aggregator::serve
