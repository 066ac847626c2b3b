#pragma once

// The answers every /v1 API file gives the same way: a JSON body, the store being unavailable,
// a bad request. One place, so that every route retries and words them alike.

#include <nlohmann/json.hpp>
#include <string_view>

#include "aggregator/http/server.h"
#include "shared/util/status.h"

namespace faultline::aggregator::api {

/// `body` as JSON; invalid UTF-8 in a string is replaced, never an exception.
http::Response jsonReply(int status, const nlohmann::json& body);
/// The same with the keys in the order written (a braced list would be ambiguous between the
/// two, hence two names).
http::Response orderedJsonReply(int status, const nlohmann::ordered_json& body);

/// 503 `unavailable` with Retry-After: 1 when the store failed; logs `what` and the store's
/// error under `component` (the client sees neither).
http::Response storeUnavailable(std::string_view component, std::string_view what,
                                const Status& status);

/// 400 `bad_request` with a message fit for the client.
http::Response badRequest(std::string_view message);

}  // namespace faultline::aggregator::api
