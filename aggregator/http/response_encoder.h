#pragma once

// Serializes a Response into HTTP/1.1 wire bytes: status line, the handler's headers (minus the
// ones the server owns), Content-Length, Connection and Date, then the body when one is allowed.

#include <cstdint>
#include <string>
#include <string_view>

#include "aggregator/http/server.h"

namespace faultline::aggregator::http {

/// How the connection frames this response.
struct EncodeOptions {
  bool head_request = false;       // HEAD: headers as for GET, never a body
  bool close = false;              // adds "Connection: close"
  bool keep_alive_header = false;  // HTTP/1.0 client that asked for keep-alive
  std::string_view date;           // RFC 7231 IMF-fixdate, e.g. from httpDate()
  bool streamed = false;  // the head of a streamed body: no Content-Length, no body (close ends it)
};

/// True when the status never carries a body (1xx, 204, 304).
bool statusForbidsBody(int status);

/// The reason phrase for a status ("Not Found"); "Unknown" when there is none.
std::string_view reasonPhrase(int status);

/// "Sun, 06 Nov 1994 08:49:37 GMT" for a Unix time in seconds. Locale-independent.
std::string httpDate(std::int64_t unix_seconds);

/// The full wire form. Handler headers named Content-Length, Connection, Date or
/// Transfer-Encoding are replaced by the server's; headers with CR, LF or NUL are dropped so a
/// handler cannot split the response. Thread-safe (pure function).
std::string encodeResponse(const Response& response, const EncodeOptions& options);

}  // namespace faultline::aggregator::http
