#pragma once

// A libuv HTTP/1.1 server: keep-alive, Debian's http-parser, limits on header size, body size
// and time (slow clients are cut off), handlers that never run on the loop thread, and optional
// TLS (OpenSSL over memory BIOs: libuv still does every read and write).
//
// Threads: the Server and its Router are created, started and closed on the loop thread.
// Handlers run on the server's worker threads; the Respond callback they get may be called
// from any thread, exactly once.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aggregator/http/response_stream.h"
#include "shared/util/status.h"

namespace faultline::aggregator::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded of nothing: the raw path without the query string
  std::string query;   // raw query string without '?', may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // "127.0.0.1:53422"
  /// Values of the route's {param} segments, raw (not percent-decoded), set by the router.
  std::vector<std::pair<std::string, std::string>> path_params;

  /// The first header with this lower-case name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
  /// The value of one query parameter (percent-decoded), or nullptr when absent.
  std::unique_ptr<std::string> queryParam(std::string_view name) const;
  /// The value of a {name} path segment of the matched route, or nullptr.
  const std::string* pathParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added
  std::string body;
  /// Set: a streamed response. The head (status, headers; no Content-Length) goes out first,
  /// then whatever the producer writes to the stream until it ends or the connection closes.
  /// `body` is ignored. The connection is not reused afterwards.
  std::shared_ptr<ResponseStream> stream;

  /// A JSON response; sets Content-Type: application/json.
  static Response json(int status, std::string body);
  /// {"error":{"code":"<code>","message":"<message>"}} with the given status.
  static Response error(int status, std::string_view code, std::string_view message);
  /// A streamed response with `content_type` (see `stream`).
  static Response streamed(int status, std::string content_type,
                           std::shared_ptr<ResponseStream> stream);
};

/// Call exactly once, from any thread, to send the response.
using Respond = std::function<void(Response)>;
/// Runs on a worker thread. May block (database, disk); must not throw.
using Handler = std::function<void(Request&& request, Respond respond)>;

/// Routes on (method, path). A path is exact ("/v1/ingest") or has {name} segments that match
/// one non-empty segment ("/v1/api-keys/{id}"); exact routes win and are found by one hash
/// lookup. Unknown path: 404 JSON error; known path with another method: 405 with an Allow
/// header; HEAD falls back to GET.
class Router {
 public:
  void add(std::string method, std::string path, Handler handler);

  struct Route {
    std::string method;
    std::string path;
    Handler handler;
    std::vector<std::string> segments;  // of a path with {params}; empty for exact paths
  };
  const std::vector<Route>& routes() const { return routes_; }

  struct Match {
    const Handler* handler = nullptr;  // null: 404 when `allowed` is empty, else 405
    std::vector<std::string> allowed;  // methods the path accepts (sorted, with HEAD for GET)
    std::vector<std::pair<std::string, std::string>> params;
  };
  Match match(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
  std::unordered_map<std::string, std::vector<std::size_t>> exact_;  // path → routes_ indexes
  std::vector<std::size_t> patterns_;                                // routes with {params}
};

struct ServerLimits {
  std::size_t max_header_bytes = 16 * 1024;           // request line + headers
  std::size_t max_body_bytes = 16 * 1024 * 1024;      // larger: 413 before reading the body
  std::chrono::milliseconds header_timeout{10'000};   // first byte to end of headers
  std::chrono::milliseconds request_timeout{60'000};  // first byte to end of body
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive connection with no request
  std::size_t max_connections = 1024;                 // beyond: accept and close at once
  unsigned worker_threads = 4;
  std::size_t max_pending_requests = 1024;  // waiting for a worker; beyond: 503
};

/// Counters readable from any thread.
struct ServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_rejected = 0;
  std::uint64_t requests = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t responses_dropped = 0;  // the connection was gone when the handler responded
  // TLS connections closed before their handshake completed: protocol errors (no shared version
  // or cipher, not TLS at all, plain HTTP) and handshakes cut off by header_timeout.
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t streams_open = 0;    // streamed responses now open
  std::uint64_t streams_opened = 0;  // since start
  // Streams cut off because their consumer fell behind (the outgoing buffer reached its bound).
  std::uint64_t streams_slow_consumers_dropped = 0;
};

class TlsContext;

class Server {
 public:
  Server(uv_loop_t* loop, Router router, ServerLimits limits);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens. `host` is an IPv4 or IPv6 literal; port 0 picks a free port.
  /// Ignores SIGPIPE process-wide: libuv writes with write(2), and a reset peer must not kill
  /// the process.
  Status listen(const std::string& host, int port);
  /// The bound port (after listen).
  int port() const;
  /// Serves HTTPS with `tls` (not null) to connections accepted from now on. Before listen():
  /// turns TLS on. After listen(): only replaces the context of a server that already speaks
  /// TLS (certificate reload; open connections keep the context they started with), else
  /// FailedPrecondition. Loop thread.
  Status setTls(std::unique_ptr<TlsContext> tls);
  /// True once setTls() succeeded.
  bool tlsEnabled() const;
  /// Stops accepting, closes every connection and joins the workers. The loop must run until
  /// the handles are closed (uv_run after close() returns once they are).
  void close();
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Splits "host:port" or "[v6]:port".
Result<std::pair<std::string, int>> parseListenAddress(std::string_view text);

}  // namespace faultline::aggregator::http
