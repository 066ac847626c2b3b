// The libuv side of the HTTP server: accepting, reading, timers, writing, and the hand-off of
// requests to the worker pool and of responses back to the loop. With TLS, each connection
// has a TlsSession between the socket and the HTTP code: reads are decrypted into the same
// pending buffer plaintext reads go to, and every write is encrypted first.
#include "aggregator/http/server.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <ctime>
#include <exception>
#include <mutex>
#include <unordered_map>

#include "aggregator/http/request_parser.h"
#include "aggregator/http/response_encoder.h"
#include "aggregator/http/tls_context.h"
#include "aggregator/http/tls_session.h"
#include "aggregator/http/worker_pool.h"
#include "shared/util/log.h"

namespace faultline::aggregator::http {
namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;
// After a response that closes the connection, keep reading (and discarding) this long so the
// client sees the response rather than a reset caused by its unread request bytes.
constexpr std::uint64_t kLingerMs = 2000;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kComponent = "http";
// The first byte of every TLS connection: a record of content type "handshake".
constexpr unsigned char kTlsHandshakeRecord = 0x16;

/// A response finished by a handler, on its way to the loop thread.
struct Completion {
  std::uint64_t connection_id = 0;
  std::uint64_t request_seq = 0;
  Response response;
};

/// Hands completions (and wake-ups of streamed responses) from any thread to the loop through
/// one uv_async_t. Shared with every Respond callback and stream so a handler may respond or
/// write after the server is gone (the response is dropped).
class CompletionQueue {
 public:
  explicit CompletionQueue(uv_async_t* async) : async_(async) {}

  /// False when the server is closed (the completion is dropped).
  bool post(Completion completion) {
    std::lock_guard lock(mu_);
    if (async_ == nullptr) {
      return false;
    }
    items_.push_back(std::move(completion));
    // Under the lock: close() clears async_ before uv_close, so the handle is alive here.
    uv_async_send(async_);
    return true;
  }

  /// The stream of connection `connection_id` has something to send (or was cut off).
  void wakeStream(std::uint64_t connection_id) {
    std::lock_guard lock(mu_);
    if (async_ == nullptr) {
      return;
    }
    stream_wakes_.push_back(connection_id);
    uv_async_send(async_);
  }

  std::vector<Completion> drain() {
    std::lock_guard lock(mu_);
    std::vector<Completion> out;
    out.swap(items_);
    return out;
  }

  std::vector<std::uint64_t> drainStreamWakes() {
    std::lock_guard lock(mu_);
    std::vector<std::uint64_t> out;
    out.swap(stream_wakes_);
    return out;
  }

  void close() {
    std::vector<Completion> dropped;
    {
      std::lock_guard lock(mu_);
      async_ = nullptr;
      dropped.swap(items_);
      stream_wakes_.clear();
    }
    // Streams that never reached their connection still tell their producer (outside the
    // lock: the close callback may write, which wakes into this queue).
    for (Completion& completion : dropped) {
      if (completion.response.stream != nullptr) {
        completion.response.stream->finish();
      }
    }
  }

 private:
  std::mutex mu_;
  uv_async_t* async_;
  std::vector<Completion> items_;
  std::vector<std::uint64_t> stream_wakes_;
};

/// The state behind one Respond callback: called at most once; if the last copy of the
/// callback is destroyed uncalled (a handler dropped it or threw), a 500 is sent instead so
/// the connection never hangs.
class RespondState {
 public:
  RespondState(std::shared_ptr<CompletionQueue> queue, std::uint64_t connection_id,
               std::uint64_t seq)
      : queue_(std::move(queue)), connection_id_(connection_id), seq_(seq) {}
  RespondState(const RespondState&) = delete;
  RespondState& operator=(const RespondState&) = delete;

  ~RespondState() {
    if (!done_.load()) {
      try {
        send(Response::error(500, "internal", "the handler did not respond"));
      } catch (...) {  // NOLINT(bugprone-empty-catch): nothing left to tell anyone
      }
    }
  }

  void respond(Response response) {
    if (done_.exchange(true)) {
      log::warn(kComponent, "a handler responded twice; the second response is ignored");
      return;
    }
    send(std::move(response));
  }

  /// Marks the request as answered without sending (the loop answered it itself).
  void cancel() { done_.store(true); }

 private:
  void send(Response response) {
    done_.store(true);
    (void)queue_->post({connection_id_, seq_, std::move(response)});
  }

  std::shared_ptr<CompletionQueue> queue_;
  std::uint64_t connection_id_;
  std::uint64_t seq_;
  std::atomic<bool> done_{false};
};

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

/// A handler may ask for the connection to be closed after its response.
bool headerSaysClose(const Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (lowered(name) == "connection" && lowered(value).find("close") != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string peerName(const uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof(addr);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return "";
  }
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    uv_ip4_name(in, host, sizeof(host));
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    uv_ip6_name(in6, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "";
}

void ignoreSigpipe() {
  // libuv writes with write(2): a peer that reset the connection would raise SIGPIPE and kill
  // the process. Every libuv server must ignore it.
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}
}  // namespace

namespace {
void freeTcpOnClose(uv_handle_t* handle) noexcept {
  delete reinterpret_cast<uv_tcp_t*>(handle);
}
void freeAsyncOnClose(uv_handle_t* handle) noexcept {
  delete reinterpret_cast<uv_async_t*>(handle);
}
}  // namespace

struct Server::Impl {
  /// One client connection. Lives on the loop thread; owned by the Impl's map until closing
  /// starts, then by its two handles (freed in the last close callback).
  struct Connection {
    Connection(Impl* s, std::uint64_t connection_id, ParserLimits limits)
        : server(s), id(connection_id), parser(limits) {}

    Impl* server;  // valid only while !closing
    std::uint64_t id;
    uv_tcp_t tcp{};
    uv_timer_t timer{};
    int open_handles = 0;
    RequestParser parser;
    std::string pending;  // received (decrypted) but not yet parsed (pipelined or read while busy)
    std::string remote;
    std::unique_ptr<TlsSession> tls;         // null on a plaintext server
    std::shared_ptr<ResponseStream> stream;  // set while a streamed response is open

    bool closing = false;
    bool reading = false;
    bool tls_bytes_seen = false;  // the first byte (TLS or not?) has been checked
    bool peer_eof = false;
    bool lingering = false;
    bool request_active = false;  // bytes of a request arrived; its response is not written yet
    bool in_flight = false;       // request handed over; parsing waits for its response
    bool continue_sent = false;
    bool head_request = false;
    bool keep_alive = false;
    bool close_after_response = false;
    unsigned http_minor = 1;
    std::uint64_t request_seq = 0;
    std::uint64_t request_start_ms = 0;
    std::uint64_t idle_since_ms = 0;
  };

  struct WriteReq {
    uv_write_t req{};
    std::string data;
    Connection* conn = nullptr;
    bool is_response = false;
    std::size_t stream_bytes = 0;  // plaintext bytes of the connection's stream in `data`
  };

  struct ShutdownReq {
    uv_shutdown_t req{};
  };

  static void connectionHandleClosed(uv_handle_t* handle) noexcept {
    auto* conn = static_cast<Connection*>(handle->data);
    if (--conn->open_handles == 0) {
      delete conn;
    }
  }

  Impl(uv_loop_t* l, Router r, ServerLimits lim)
      : loop(l),
        router(std::move(r)),
        limits(lim),
        read_buffer(new char[kReadBufferSize]),
        pool(lim.worker_threads, lim.max_pending_requests) {
    async = new uv_async_t{};
    uv_async_init(loop, async, &Impl::onAsync);
    async->data = this;
    completions = std::make_shared<CompletionQueue>(async);
  }

  ~Impl() { close(); }

  // --- lifecycle -------------------------------------------------------------------------
  Status listen(const std::string& host, int port_number) {
    if (closed) {
      return Status(Errc::FailedPrecondition, "http server is closed");
    }
    if (listener != nullptr) {
      return Status(Errc::FailedPrecondition, "http server is already listening");
    }
    ignoreSigpipe();
    sockaddr_storage addr{};
    int rc = uv_ip4_addr(host.c_str(), port_number, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc != 0) {
      rc = uv_ip6_addr(host.c_str(), port_number, reinterpret_cast<sockaddr_in6*>(&addr));
    }
    if (rc != 0) {
      return invalidArgument("listen address '" + host + "' is not an IPv4 or IPv6 literal");
    }
    auto* tcp = new uv_tcp_t{};
    uv_tcp_init(loop, tcp);
    tcp->data = this;
    const std::string where = host + ":" + std::to_string(port_number);
    rc = uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 511, &Impl::onConnection);
    }
    if (rc != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(tcp), freeTcpOnClose);
      return Status(rc == UV_EADDRINUSE || rc == UV_EACCES ? Errc::Unavailable : Errc::Internal,
                    "listen on " + where + ": " + uv_strerror(rc));
    }
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &len);
    bound_port = bound.ss_family == AF_INET6
                     ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    listener = tcp;
    return Status::ok();
  }

  void close() {
    if (closed) {
      return;
    }
    closed = true;
    // No completion reaches the loop from now on; handlers still running respond into nothing.
    completions->close();
    uv_close(reinterpret_cast<uv_handle_t*>(async), freeAsyncOnClose);
    async = nullptr;
    if (listener != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(listener), freeTcpOnClose);
      listener = nullptr;
    }
    std::vector<Connection*> open;
    open.reserve(connections.size());
    for (auto& [id, conn] : connections) {
      open.push_back(conn);
    }
    for (Connection* conn : open) {
      closeConnection(conn);
    }
    pool.stop();
  }

  // --- accepting -------------------------------------------------------------------------
  static void onConnection(uv_stream_t* listen_stream, int status) noexcept {
    auto* self = static_cast<Impl*>(listen_stream->data);
    if (status < 0) {
      log::warn(kComponent, std::string("accept failed: ") + uv_strerror(status));
      return;
    }
    try {
      self->accept(listen_stream);
    } catch (const std::exception& e) {
      log::error(kComponent, std::string("accept: ") + e.what());
    }
  }

  void accept(uv_stream_t* listen_stream) {
    if (connections.size() >= limits.max_connections) {
      // Accept and close at once: the client learns immediately instead of waiting in the
      // backlog, and the kernel queue does not fill up.
      auto* reject = new uv_tcp_t{};
      uv_tcp_init(loop, reject);
      if (uv_accept(listen_stream, reinterpret_cast<uv_stream_t*>(reject)) == 0) {
        connections_rejected.fetch_add(1);
      }
      uv_close(reinterpret_cast<uv_handle_t*>(reject), freeTcpOnClose);
      return;
    }
    auto* conn = new Connection(this, ++next_connection_id,
                                ParserLimits{limits.max_header_bytes, limits.max_body_bytes});
    uv_tcp_init(loop, &conn->tcp);
    uv_timer_init(loop, &conn->timer);
    conn->tcp.data = conn;
    conn->timer.data = conn;
    conn->open_handles = 2;
    int rc = uv_accept(listen_stream, reinterpret_cast<uv_stream_t*>(&conn->tcp));
    if (rc != 0) {
      conn->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), connectionHandleClosed);
      uv_close(reinterpret_cast<uv_handle_t*>(&conn->timer), connectionHandleClosed);
      return;
    }
    connections.emplace(conn->id, conn);
    connections_accepted.fetch_add(1);
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->remote = peerName(&conn->tcp);
    if (tls_context != nullptr) {
      conn->tls = TlsSession::create(tls_context->get());
      if (conn->tls == nullptr) {
        log::warn(kComponent, "cannot create a TLS session for " + conn->remote);
        closeConnection(conn);
        return;
      }
    }
    conn->idle_since_ms = uv_now(loop);
    startReading(conn);
    armTimer(conn);
  }

  // --- reading and parsing ---------------------------------------------------------------
  void startReading(Connection* conn) {
    if (conn->reading || conn->closing || conn->peer_eof) {
      return;
    }
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), &Impl::onAlloc, &Impl::onRead) ==
        0) {
      conn->reading = true;
    } else {
      closeConnection(conn);
    }
  }

  void stopReading(Connection* conn) {
    if (conn->reading) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn->tcp));
      conn->reading = false;
    }
  }

  static void onAlloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
    auto* conn = static_cast<Connection*>(handle->data);
    // One buffer per server: libuv calls alloc and read back to back on this thread, and
    // onRead copies what it keeps.
    buf->base = conn->server->read_buffer.get();
    buf->len = kReadBufferSize;
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
    auto* conn = static_cast<Connection*>(stream->data);
    if (conn->closing) {
      return;
    }
    Impl* self = conn->server;
    try {
      self->handleRead(conn, nread, buf);
    } catch (const std::exception& e) {
      log::error(kComponent, std::string("connection ") + conn->remote + ": " + e.what());
      self->closeConnection(conn);
    }
  }

  void handleRead(Connection* conn, ssize_t nread, const uv_buf_t* buf) {
    if (nread == 0) {
      return;  // EAGAIN
    }
    if (nread < 0) {
      peerEnded(conn, nread == UV_EOF);
      return;
    }
    if (conn->lingering) {
      return;  // discarded: the response is out and the connection is closing
    }
    if (conn->tls == nullptr) {
      conn->pending.append(buf->base, static_cast<std::size_t>(nread));
    } else if (!receiveTls(conn, std::string_view(buf->base, static_cast<std::size_t>(nread)))) {
      return;
    }
    if (conn->stream != nullptr) {
      // A streamed response owns the connection: what the client sends now is ignored; reading
      // goes on only to notice when it leaves.
      conn->pending.clear();
      if (conn->tls != nullptr && conn->tls->peerClosed()) {
        closeConnection(conn);
      }
      return;
    }
    if (conn->in_flight) {
      // Pipelined bytes wait for the response; stop reading if they pile up.
      if (conn->pending.size() > std::max<std::size_t>(kReadBufferSize, limits.max_header_bytes)) {
        stopReading(conn);
      }
    } else {
      processPending(conn);
    }
    if (conn->tls != nullptr && !conn->closing && conn->tls->peerClosed()) {
      peerEnded(conn, /*clean=*/true);  // close_notify: the TLS form of a half-close
    }
  }

  /// The peer ended its side: cleanly (EOF, close_notify) or with an error.
  void peerEnded(Connection* conn, bool clean) {
    if (!clean || conn->lingering || !conn->in_flight || conn->stream != nullptr) {
      // Reset, or a clean end with nothing owed to the client.
      closeConnection(conn);
      return;
    }
    // Half-close after a request: answer it, then close.
    conn->peer_eof = true;
    stopReading(conn);
  }

  // --- TLS -------------------------------------------------------------------------------
  /// Decrypts `ciphertext` into conn->pending, driving the handshake, and sends what TLS has to
  /// send. False when the connection is closing (or refusing a client that does not speak TLS).
  bool receiveTls(Connection* conn, std::string_view ciphertext) {
    TlsSession& tls = *conn->tls;
    if (!conn->tls_bytes_seen) {
      conn->tls_bytes_seen = true;
      if (static_cast<unsigned char>(ciphertext.front()) != kTlsHandshakeRecord) {
        refuseNonTls(conn, ciphertext.front());
        return false;
      }
    }
    const bool handshake_was_done = tls.handshakeDone();
    const bool ok = tls.receive(ciphertext, &conn->pending);
    flushTls(conn);  // handshake flights, session tickets, or the alert of a failure
    if (!ok) {
      if (!tls.handshakeDone()) {
        tls_handshake_failures.fetch_add(1);
      }
      log::debug(kComponent, "TLS from " + conn->remote + " failed: " + tls.error());
      closeConnection(conn);
      return false;
    }
    if (!handshake_was_done && tls.handshakeDone()) {
      log::debug(kComponent,
                 "TLS from " + conn->remote + ": " + tls.protocol() + " " + tls.cipher());
    }
    return !conn->closing;
  }

  /// The first byte is not a TLS handshake record. Plain HTTP (it starts with a method) gets a
  /// plain 400 that says what to do; anything else is closed at once.
  void refuseNonTls(Connection* conn, char first_byte) {
    tls_handshake_failures.fetch_add(1);
    if (first_byte < 'A' || first_byte > 'Z') {
      log::debug(kComponent, "not TLS from " + conn->remote + ": closed");
      closeConnection(conn);
      return;
    }
    log::debug(kComponent, "plain HTTP from " + conn->remote + " on the HTTPS port: refused");
    conn->in_flight = true;
    conn->close_after_response = true;
    responses_4xx.fetch_add(1);
    EncodeOptions options;
    options.close = true;
    options.date = currentDate();
    writeRaw(conn,
             encodeResponse(
                 Response::error(400, "tls_required", "this port speaks HTTPS only: use https://"),
                 options),
             true);
  }

  /// Writes whatever ciphertext the TLS session has produced.
  void flushTls(Connection* conn) {
    std::string out = conn->tls->takeOutput();
    if (!out.empty()) {
      writeRaw(conn, std::move(out), false);
    }
  }

  void processPending(Connection* conn) {
    std::size_t offset = 0;
    while (!conn->closing && !conn->in_flight && offset < conn->pending.size()) {
      if (!conn->request_active) {
        conn->request_active = true;
        conn->request_start_ms = uv_now(loop);
      }
      auto result = conn->parser.feed(std::string_view(conn->pending).substr(offset));
      offset += result.consumed;
      if (result.event == ParseEvent::NeedMore) {
        break;
      }
      if (result.event == ParseEvent::ContinueExpected) {
        conn->continue_sent = true;
        write(conn, std::string(kContinue), false);
        continue;
      }
      if (result.event == ParseEvent::RequestReady) {
        dispatch(conn, conn->parser.takeRequest());
        break;
      }
      const ParseError& error = conn->parser.error();
      conn->in_flight = true;
      conn->keep_alive = false;
      conn->head_request = false;
      sendResponse(conn, Response::error(error.status, error.code, error.message));
      break;
    }
    if (!conn->closing) {
      conn->pending.erase(0, offset);
      armTimer(conn);
    }
  }

  // --- dispatching -----------------------------------------------------------------------
  void dispatch(Connection* conn, ParsedRequest parsed) {
    requests.fetch_add(1);
    conn->in_flight = true;
    conn->keep_alive = parsed.keep_alive;
    conn->http_minor = parsed.http_minor;
    conn->head_request = parsed.request.method == "HEAD";
    const std::uint64_t seq = ++conn->request_seq;
    uv_timer_stop(&conn->timer);

    Request& request = parsed.request;
    request.remote_address = conn->remote;
    Router::Match match = router.match(request.method, request.path);
    const Handler* handler = match.handler;
    request.path_params = std::move(match.params);
    if (handler == nullptr) {
      if (match.allowed.empty()) {
        sendResponse(conn, Response::error(404, "not_found", "no route for " + request.path));
        return;
      }
      const std::vector<std::string>& allowed = match.allowed;
      std::string allow;
      for (const std::string& method : allowed) {
        allow += allow.empty() ? method : ", " + method;
      }
      Response response = Response::error(405, "method_not_allowed",
                                          request.method + " is not allowed on " + request.path);
      response.headers.emplace_back("Allow", allow);
      sendResponse(conn, std::move(response));
      return;
    }

    auto state = std::make_shared<RespondState>(completions, conn->id, seq);
    Respond respond = [state](Response response) { state->respond(std::move(response)); };
    std::function<void()> job = [handler, req = std::move(request),
                                 done = std::move(respond)]() mutable {
      (*handler)(std::move(req), std::move(done));
    };
    if (!pool.trySubmit(std::move(job))) {
      state->cancel();
      Response response =
          Response::error(503, "overloaded", "too many requests are waiting; retry shortly");
      response.headers.emplace_back("Retry-After", "1");
      sendResponse(conn, std::move(response));
    }
  }

  static void onAsync(uv_async_t* handle) noexcept {
    auto* self = static_cast<Impl*>(handle->data);
    try {
      for (Completion& completion : self->completions->drain()) {
        self->complete(std::move(completion));
      }
      for (std::uint64_t connection_id : self->completions->drainStreamWakes()) {
        self->flushStream(connection_id);
      }
    } catch (const std::exception& e) {
      log::error(kComponent, std::string("delivering responses: ") + e.what());
    }
  }

  void complete(Completion completion) {
    auto it = connections.find(completion.connection_id);
    if (it == connections.end() || it->second->closing || !it->second->in_flight ||
        it->second->request_seq != completion.request_seq) {
      responses_dropped.fetch_add(1);
      if (completion.response.stream != nullptr) {
        completion.response.stream->finish();  // the producer learns nobody is listening
      }
      return;
    }
    sendResponse(it->second, std::move(completion.response));
  }

  // --- writing ---------------------------------------------------------------------------
  /// Sends the final response to the current request; precondition: conn->in_flight.
  void sendResponse(Connection* conn, Response response) {
    if (response.stream != nullptr) {
      startStream(conn, std::move(response));
      return;
    }
    const bool close = !conn->keep_alive || conn->peer_eof || closed || headerSaysClose(response);
    conn->close_after_response = close;
    if (response.status >= 500) {
      responses_5xx.fetch_add(1);
    } else if (response.status >= 400) {
      responses_4xx.fetch_add(1);
    }
    EncodeOptions options;
    options.head_request = conn->head_request;
    options.close = close;
    options.keep_alive_header = !close && conn->http_minor == 0;
    options.date = currentDate();
    write(conn, encodeResponse(response, options), true);
  }

  // --- streamed responses ----------------------------------------------------------------
  /// Sends the head of a streamed response and connects its stream to the connection. The
  /// request stays in flight (no timeouts; nothing else is parsed) until the connection closes.
  void startStream(Connection* conn, Response response) {
    std::shared_ptr<ResponseStream> stream = std::move(response.stream);
    conn->close_after_response = true;
    if (response.status >= 500) {
      responses_5xx.fetch_add(1);
    } else if (response.status >= 400) {
      responses_4xx.fetch_add(1);
    }
    EncodeOptions options;
    options.close = true;
    options.date = currentDate();
    if (conn->head_request || closed) {
      // HEAD (or shutting down): the head alone, then close.
      options.head_request = true;
      write(conn, encodeResponse(response, options), true);
      stream->finish();
      return;
    }
    options.streamed = true;
    write(conn, encodeResponse(response, options), false);
    if (conn->closing) {
      stream->finish();
      return;
    }
    conn->stream = stream;
    streams_open.fetch_add(1);
    streams_opened.fetch_add(1);
    const std::uint64_t connection_id = conn->id;
    std::weak_ptr<CompletionQueue> queue = completions;
    stream->attach([queue, connection_id] {
      if (auto alive = queue.lock()) {
        alive->wakeStream(connection_id);
      }
    });
  }

  /// Sends what the producer queued; closes a stream that ended or was cut off.
  void flushStream(std::uint64_t connection_id) {
    auto it = connections.find(connection_id);
    if (it == connections.end() || it->second->closing || it->second->stream == nullptr) {
      return;
    }
    Connection* conn = it->second;
    ResponseStream::Taken taken = conn->stream->take();
    if (taken.overflowed) {
      streams_slow_consumers_dropped.fetch_add(1);
      log::debug(kComponent, "stream to " + conn->remote + " fell behind: reset");
      // Reset, not closed: a graceful close would keep the megabytes the kernel already holds
      // for a client that does not read until they trickle out.
      closeConnection(conn, /*reset=*/true);
      return;
    }
    if (!taken.data.empty()) {
      const std::size_t bytes = taken.data.size();
      std::string data = std::move(taken.data);
      if (conn->tls != nullptr) {
        if (!conn->tls->send(data)) {
          closeConnection(conn);
          return;
        }
        data = conn->tls->takeOutput();
      }
      if (!writeRaw(conn, std::move(data), false, bytes)) {
        return;
      }
    }
    if (taken.ended) {
      // The producer is done: the FIN follows the queued writes.
      conn->in_flight = false;
      startLingeringClose(conn);
    }
  }

  std::string_view currentDate() {
    std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    if (now != date_second) {
      date_second = now;
      date_text = httpDate(now);
    }
    return date_text;
  }

  /// Sends `data` (plaintext HTTP) on the connection, encrypted when it speaks TLS.
  void write(Connection* conn, std::string data, bool is_response) {
    if (conn->tls != nullptr) {
      if (!conn->tls->send(data)) {
        log::debug(kComponent, "TLS to " + conn->remote + " failed: " + conn->tls->error());
        closeConnection(conn);
        return;
      }
      data = conn->tls->takeOutput();
    }
    writeRaw(conn, std::move(data), is_response);
  }

  /// Sends bytes exactly as given (ciphertext on a TLS connection). False when the write
  /// failed and the connection is closing.
  bool writeRaw(Connection* conn, std::string data, bool is_response,
                std::size_t stream_bytes = 0) {
    auto* req = new WriteReq;
    req->data = std::move(data);
    req->conn = conn;
    req->is_response = is_response;
    req->stream_bytes = stream_bytes;
    uv_buf_t buf = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
    int rc =
        uv_write(&req->req, reinterpret_cast<uv_stream_t*>(&conn->tcp), &buf, 1, &Impl::onWrite);
    if (rc != 0) {
      delete req;
      closeConnection(conn);
      return false;
    }
    return true;
  }

  static void onWrite(uv_write_t* req, int status) noexcept {
    std::unique_ptr<WriteReq> write_req(reinterpret_cast<WriteReq*>(req));
    Connection* conn = write_req->conn;
    if (conn->closing) {
      return;
    }
    Impl* self = conn->server;
    if (status < 0) {
      self->closeConnection(conn);
      return;
    }
    if (write_req->stream_bytes > 0 && conn->stream != nullptr) {
      conn->stream->written(write_req->stream_bytes);
    }
    if (write_req->is_response) {
      try {
        self->responseWritten(conn);
      } catch (const std::exception& e) {
        log::error(kComponent, std::string("after response: ") + e.what());
        self->closeConnection(conn);
      }
    }
  }

  void responseWritten(Connection* conn) {
    conn->in_flight = false;
    conn->request_active = false;
    conn->continue_sent = false;
    if (conn->close_after_response) {
      startLingeringClose(conn);
      return;
    }
    conn->idle_since_ms = uv_now(loop);
    startReading(conn);
    processPending(conn);
  }

  void startLingeringClose(Connection* conn) {
    if (conn->peer_eof) {
      closeConnection(conn);
      return;
    }
    conn->lingering = true;
    if (conn->tls != nullptr) {
      conn->tls->shutdown();  // close_notify, ahead of the TCP FIN
      flushTls(conn);
      if (conn->closing) {
        return;
      }
    }
    auto* req = new ShutdownReq;
    req->req.data = conn;
    int rc = uv_shutdown(&req->req, reinterpret_cast<uv_stream_t*>(&conn->tcp),
                         [](uv_shutdown_t* r, int /*status*/) noexcept {
                           delete reinterpret_cast<ShutdownReq*>(r);
                         });
    if (rc != 0) {
      delete req;
      closeConnection(conn);
      return;
    }
    startReading(conn);
    uv_timer_start(&conn->timer, &Impl::onTimer, kLingerMs, 0);
  }

  // --- timers ----------------------------------------------------------------------------
  void armTimer(Connection* conn) {
    if (conn->closing || conn->lingering) {
      return;
    }
    if (conn->in_flight) {
      uv_timer_stop(&conn->timer);
      return;
    }
    const std::uint64_t header_ms = static_cast<std::uint64_t>(limits.header_timeout.count());
    const std::uint64_t request_ms = static_cast<std::uint64_t>(limits.request_timeout.count());
    const std::uint64_t idle_ms = static_cast<std::uint64_t>(limits.idle_timeout.count());
    std::uint64_t deadline = 0;
    if (!conn->request_active) {
      // A fresh connection gets the header timeout for its first byte: connecting and sending
      // nothing is the cheapest slowloris.
      deadline = conn->idle_since_ms + (conn->request_seq == 0 ? header_ms : idle_ms);
    } else if (!conn->parser.readingBody()) {
      deadline = conn->request_start_ms + std::min(header_ms, request_ms);
    } else {
      deadline = conn->request_start_ms + request_ms;
    }
    const std::uint64_t now = uv_now(loop);
    uv_timer_start(&conn->timer, &Impl::onTimer, deadline > now ? deadline - now : 0, 0);
  }

  static void onTimer(uv_timer_t* timer) noexcept {
    auto* conn = static_cast<Connection*>(timer->data);
    if (conn->closing) {
      return;
    }
    Impl* self = conn->server;
    if (conn->lingering) {
      self->closeConnection(conn);
      return;
    }
    self->timeouts.fetch_add(1);
    if (conn->tls != nullptr && !conn->tls->handshakeDone() && !conn->in_flight) {
      self->tls_handshake_failures.fetch_add(1);  // a handshake slowloris
    }
    if (conn->request_active && !conn->in_flight && !conn->continue_sent) {
      try {
        conn->in_flight = true;
        conn->keep_alive = false;
        conn->head_request = false;
        self->sendResponse(
            conn, Response::error(408, "request_timeout", "the request was not received in time"));
        return;
      } catch (const std::exception& e) {
        log::error(kComponent, std::string("timeout response: ") + e.what());
      }
    }
    self->closeConnection(conn);
  }

  // --- closing ---------------------------------------------------------------------------
  /// `reset`: abort with a RST and drop what the socket still holds (a cut-off slow consumer).
  void closeConnection(Connection* conn, bool reset = false) {
    if (conn->closing) {
      return;
    }
    conn->closing = true;
    if (conn->tls != nullptr && !reset) {
      // close_notify, best effort: libuv writes at once when the socket takes it, and uv_close
      // below cancels what it did not take.
      conn->tls->shutdown();
      std::string out = conn->tls->takeOutput();
      if (!out.empty()) {
        auto* req = new WriteReq;
        req->data = std::move(out);
        req->conn = conn;
        uv_buf_t buf = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
        if (uv_write(&req->req, reinterpret_cast<uv_stream_t*>(&conn->tcp), &buf, 1,
                     &Impl::onWrite) != 0) {
          delete req;
        }
      }
    }
    connections.erase(conn->id);
    connections_closed.fetch_add(1);
    if (conn->stream != nullptr) {
      streams_open.fetch_sub(1);
      std::shared_ptr<ResponseStream> stream = std::move(conn->stream);
      stream->finish();  // the producer learns the client is gone
    }
    uv_timer_stop(&conn->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&conn->timer), connectionHandleClosed);
    if (!reset || uv_tcp_close_reset(&conn->tcp, connectionHandleClosed) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), connectionHandleClosed);
    }
  }

  uv_loop_t* loop;
  Router router;
  ServerLimits limits;
  std::unique_ptr<char[]> read_buffer;
  uv_async_t* async = nullptr;  // freed in its close callback
  std::shared_ptr<CompletionQueue> completions;
  uv_tcp_t* listener = nullptr;  // freed in its close callback
  int bound_port = 0;
  bool closed = false;
  std::uint64_t next_connection_id = 0;
  std::unordered_map<std::uint64_t, Connection*> connections;
  std::unique_ptr<TlsContext> tls_context;  // null: plaintext; replaced by a reload
  std::int64_t date_second = -1;
  std::string date_text;

  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> connections_closed{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> responses_4xx{0};
  std::atomic<std::uint64_t> responses_5xx{0};
  std::atomic<std::uint64_t> responses_dropped{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> streams_open{0};
  std::atomic<std::uint64_t> streams_opened{0};
  std::atomic<std::uint64_t> streams_slow_consumers_dropped{0};

  // Last: its threads are joined (by close()) before anything above is destroyed.
  WorkerPool pool;
};

Server::Server(uv_loop_t* loop, Router router, ServerLimits limits)
    : impl_(std::make_unique<Impl>(loop, std::move(router), limits)) {}

Server::~Server() = default;

Status Server::listen(const std::string& host, int port) {
  return impl_->listen(host, port);
}

int Server::port() const {
  return impl_->bound_port;
}

Status Server::setTls(std::unique_ptr<TlsContext> tls) {
  if (tls == nullptr) {
    return invalidArgument("setTls: no TLS context given");
  }
  if (impl_->closed) {
    return Status(Errc::FailedPrecondition, "http server is closed");
  }
  if (impl_->listener != nullptr && impl_->tls_context == nullptr) {
    return Status(Errc::FailedPrecondition,
                  "http server already listens without TLS; set TLS before listen()");
  }
  impl_->tls_context = std::move(tls);
  return Status::ok();
}

bool Server::tlsEnabled() const {
  return impl_->tls_context != nullptr;
}

void Server::close() {
  impl_->close();
}

ServerStats Server::stats() const {
  ServerStats s;
  s.connections_accepted = impl_->connections_accepted.load();
  s.connections_rejected = impl_->connections_rejected.load();
  s.connections_closed = impl_->connections_closed.load();
  s.requests = impl_->requests.load();
  s.responses_4xx = impl_->responses_4xx.load();
  s.responses_5xx = impl_->responses_5xx.load();
  s.responses_dropped = impl_->responses_dropped.load();
  s.timeouts = impl_->timeouts.load();
  s.tls_handshake_failures = impl_->tls_handshake_failures.load();
  s.streams_open = impl_->streams_open.load();
  s.streams_opened = impl_->streams_opened.load();
  s.streams_slow_consumers_dropped = impl_->streams_slow_consumers_dropped.load();
  return s;
}

}  // namespace faultline::aggregator::http
