#pragma once

// libcurl plumbing shared by the sender and enrollment.

#include <curl/curl.h>

#include <string>
#include <string_view>

#include "shared/util/c_deleter.h"

namespace faultline::agent {

using CurlEasy = CPtr<CURL, &curl_easy_cleanup>;
using CurlSlist = CPtr<curl_slist, &curl_slist_free_all>;

/// curl_global_init exactly once per process (thread-safe).
void ensureCurlGlobalInit();

/// "https://host:1/" + "/v1/ingest" → "https://host:1/v1/ingest".
std::string joinUrl(std::string_view base, std::string_view path);

/// The "message" (and "code") of an aggregator error body {"error":{"code","message"}}, or
/// the body itself (truncated) when it is not that shape.
std::string describeErrorBody(std::string_view body, std::string* code_out = nullptr);

}  // namespace faultline::agent
