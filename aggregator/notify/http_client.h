#pragma once

// A small blocking HTTP/1.1 client for the aggregator's outbound requests (SNS certificate
// fetches, incident notifications). http and https (OpenSSL on a socket: the aggregator never
// links libcurl, see the test build.aggregator_has_no_libcurl), Connection: close, one overall
// deadline per request, a cap on the response size. It reports the status and Retry-After; it
// never follows redirects.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::notify {

/// A parsed http(s) URL. Credentials (user:pass@) are refused by parseHttpUrl.
struct HttpUrl {
  bool tls = true;
  std::string host;  // lower-cased; an IPv6 literal without brackets
  std::string port;  // "443" / "80" when absent
  std::string path_and_query = "/";
};

/// Splits an http:// or https:// URL. InvalidArgument names the rule broken (scheme,
/// credentials, port, control characters); the message never repeats the URL's query.
Result<HttpUrl> parseHttpUrl(std::string_view url);

/// The URL's origin only ("https://hooks.slack.com/..."): what logs, audit records and API
/// answers may show. A webhook URL's path or query often is the credential (Slack's are), and
/// user:password@ is dropped too.
std::string redactedUrl(std::string_view url);

/// The newest OpenSSL error of this thread as text (`fallback` when there is none), and the
/// thread's error queue cleared.
std::string opensslError(std::string_view fallback);

/// ASCII lower case (schemes, hosts, header names).
std::string asciiLower(std::string_view text);

struct HttpClientOptions {
  /// PEM file of CAs trusted in addition to the system store (empty: system store only).
  std::string extra_ca_file;
};

struct HttpRequest {
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host, Content-Length
  std::string body;
  std::chrono::milliseconds timeout{5000};  // whole request: connect, TLS, send, response
  std::size_t max_response_bytes = 64 * 1024;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  /// Retry-After in seconds (delta-seconds or an HTTP date relative to now), when given.
  std::optional<std::int64_t> retry_after_seconds;
};

/// Thread-safe: one instance may serve many threads (each request has its own socket).
class HttpClient {
 public:
  /// InvalidArgument for an unreadable extra CA file.
  static Result<std::unique_ptr<HttpClient>> create(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Any HTTP status is a response. Unavailable: name resolution, connect, TLS (including an
  /// untrusted certificate), a timeout or a malformed response; ResourceExhausted: larger than
  /// max_response_bytes. `what` prefixes messages.
  Result<HttpResponse> send(const HttpUrl& url, const HttpRequest& request,
                            std::string_view what) const;

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Parses a raw HTTP/1.x response (status line, headers, body plain, sized or chunked).
/// Exposed for tests and the fuzz target; `raw` is what the server sent until it closed.
Result<HttpResponse> parseHttpResponse(std::string_view raw, std::size_t max_body,
                                       std::string_view what);

}  // namespace faultline::aggregator::notify
