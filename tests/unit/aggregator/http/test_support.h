#pragma once

// Test helpers for the HTTP server: the server's loop on a background thread, and a tiny
// blocking client on plain sockets that can send exact, partial and slow bytes.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "aggregator/http/server.h"
#include "aggregator/http/tls_context.h"

namespace faultline::aggregator::http::testing {

/// Runs a Server on its own loop in a background thread. stop() closes the server from the
/// loop thread, waits for the loop to finish and records uv_loop_close()'s result.
class LoopServer {
 public:
  /// With `tls`, the server speaks HTTPS only.
  LoopServer(Router router, ServerLimits limits, std::unique_ptr<TlsContext> tls = nullptr) {
    std::promise<int> port;
    auto port_future = port.get_future();
    thread_ = std::thread(
        [this, router = std::move(router), limits, &port, tls = std::move(tls)]() mutable {
          run(std::move(router), limits, std::move(tls), port);
        });
    port_ = port_future.get();
  }
  ~LoopServer() { stop(); }
  LoopServer(const LoopServer&) = delete;
  LoopServer& operator=(const LoopServer&) = delete;

  int port() const { return port_; }
  std::thread::id loopThread() const { return loop_thread_; }
  ServerStats stats() const { return server_->stats(); }

  /// Runs `call` on the loop thread and returns its result.
  Status onLoop(std::function<Status(Server&)> call) {
    std::promise<Status> done;
    auto result = done.get_future();
    {
      std::lock_guard lock(call_mu_);
      call_ = [&call, &done](Server& server) { done.set_value(call(server)); };
    }
    uv_async_send(&call_async_);
    return result.get();
  }

  /// Idempotent. Returns uv_loop_close()'s result (0 when every handle was closed).
  int stop() {
    if (thread_.joinable()) {
      uv_async_send(&stop_async_);
      thread_.join();
    }
    return loop_close_rc_;
  }

  /// Polls `condition` every 5 ms for up to `timeout`.
  static bool waitFor(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return condition();
  }

 private:
  void run(Router router, ServerLimits limits, std::unique_ptr<TlsContext> tls,
           std::promise<int>& port) {
    loop_thread_ = std::this_thread::get_id();
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_async_, [](uv_async_t* handle) noexcept {
      auto* self = static_cast<LoopServer*>(handle->data);
      self->server_->close();
      uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&self->call_async_), nullptr);
    });
    stop_async_.data = this;
    uv_async_init(&loop_, &call_async_, [](uv_async_t* handle) noexcept {
      auto* self = static_cast<LoopServer*>(handle->data);
      std::function<void(Server&)> call;
      {
        std::lock_guard lock(self->call_mu_);
        call.swap(self->call_);
      }
      if (call) {
        call(*self->server_);
      }
    });
    call_async_.data = this;
    server_ = std::make_unique<Server>(&loop_, std::move(router), limits);
    Status status = tls != nullptr ? server_->setTls(std::move(tls)) : Status::ok();
    if (status.isOk()) {
      status = server_->listen("127.0.0.1", 0);
    }
    port.set_value(status.isOk() ? server_->port() : -1);
    uv_run(&loop_, UV_RUN_DEFAULT);
    loop_close_rc_ = uv_loop_close(&loop_);
  }

  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  uv_async_t call_async_{};
  std::mutex call_mu_;
  std::function<void(Server&)> call_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::thread::id loop_thread_;
  int port_ = -1;
  int loop_close_rc_ = -1;
};

/// A parsed response as the test client saw it.
struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// A blocking TCP client with a receive timeout, for exact bytes on the wire. TlsClient
/// (tls_test_support.h) overrides the two raw I/O calls.
class Client {
 public:
  explicit Client(int port, std::chrono::milliseconds recv_timeout = std::chrono::seconds(5)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(recv_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((recv_timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  virtual ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  /// The socket, for options a test sets itself (e.g. a small SO_RCVBUF).
  int socketFd() const { return fd_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = rawSend(bytes.data(), bytes.size());
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Sends one byte at a time with `gap` between bytes; stops early if the peer closes.
  bool sendSlowly(std::string_view bytes, std::chrono::milliseconds gap) {
    for (char c : bytes) {
      if (!send(std::string_view(&c, 1))) {
        return false;
      }
      std::this_thread::sleep_for(gap);
    }
    return true;
  }

  /// Reads one response (no body for HEAD or 1xx/204/304). nullopt on timeout or EOF.
  std::optional<ClientResponse> readResponse(bool head = false) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        return std::nullopt;
      }
    }
    ClientResponse response;
    std::string head_text = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t line_end = head_text.find("\r\n");
    std::string status_line = head_text.substr(0, line_end);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0 || status_line.size() < 12) {
      return std::nullopt;
    }
    response.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
    while (pos < head_text.size()) {
      std::size_t next = head_text.find("\r\n", pos);
      if (next == std::string::npos) {
        next = head_text.size();
      }
      std::string line = head_text.substr(pos, next - pos);
      std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') {
          ++v;
        }
        response.headers[name] = line.substr(v);
      }
      pos = next + 2;
    }
    const bool no_body = head || (response.status >= 100 && response.status < 200) ||
                         response.status == 204 || response.status == 304;
    if (!no_body && response.headers.count("content-length") != 0) {
      std::size_t length = std::stoul(response.headers["content-length"]);
      while (buffer_.size() < length) {
        if (!fill()) {
          return std::nullopt;
        }
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    }
    return response;
  }

  /// True when the server closes the connection (EOF or reset) within the receive timeout
  /// and sent nothing more before that.
  bool waitClosed() {
    if (!buffer_.empty()) {
      return false;
    }
    char c;
    ssize_t n = rawRecv(&c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  /// True when the server closes the connection within the receive timeout, whatever it sent
  /// before (discarded).
  bool waitClosedDiscarding() {
    buffer_.clear();
    char buf[4096];
    while (true) {
      ssize_t n = rawRecv(buf, sizeof(buf));
      if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        return true;
      }
      if (n < 0) {
        return false;
      }
    }
  }

  /// Reads until the unconsumed bytes contain `marker` (a streamed body arriving); false on
  /// timeout or EOF first.
  bool readUntil(std::string_view marker) {
    while (buffer_.find(marker) == std::string::npos) {
      if (!fill()) {
        return false;
      }
    }
    return true;
  }

  /// Reads once more (blocking up to the receive timeout); false on timeout or EOF.
  bool readMore() { return fill(); }

  /// Reads until EOF (or the receive timeout); true on EOF. What arrived stays in buffered().
  bool readToEnd() {
    while (fill()) {
    }
    return last_fill_eof_;
  }

  /// Bytes received but not yet consumed by readResponse().
  const std::string& buffered() const { return buffer_; }

  /// Closes with a reset (SO_LINGER 0) so the server sees the disconnect at once.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close();
  }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 protected:
  /// send(2)/recv(2) semantics: bytes moved, 0 at the end of the stream, -1 with errno.
  virtual ssize_t rawSend(const char* data, std::size_t size) {
    return ::send(fd_, data, size, MSG_NOSIGNAL);
  }
  virtual ssize_t rawRecv(char* data, std::size_t size) { return ::recv(fd_, data, size, 0); }
  int fd() const { return fd_; }

 private:
  bool fill() {
    char buf[16384];
    errno = 0;
    ssize_t n = rawRecv(buf, sizeof(buf));
    last_fill_eof_ = n == 0;
    if (n <= 0) {
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool last_fill_eof_ = false;
  std::string buffer_;
};

}  // namespace faultline::aggregator::http::testing
