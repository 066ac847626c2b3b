#include "aggregator/api/replies.h"

#include <string>

#include "shared/util/log.h"

namespace faultline::aggregator::api {

http::Response jsonReply(int status, const nlohmann::json& body) {
  return http::Response::json(status,
                              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

http::Response orderedJsonReply(int status, const nlohmann::ordered_json& body) {
  return http::Response::json(status,
                              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

http::Response storeUnavailable(std::string_view component, std::string_view what,
                                const Status& status) {
  log::warn(component, std::string(what) + ": " + status.toString());
  http::Response response =
      http::Response::error(503, "unavailable", "the store did not answer; retry later");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

http::Response badRequest(std::string_view message) {
  return http::Response::error(400, "bad_request", message);
}

}  // namespace faultline::aggregator::api
