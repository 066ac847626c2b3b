#pragma once

// A small real HTTP/1.1 server for the agent's tests: a listening socket on 127.0.0.1, one
// thread per connection, requests parsed with Content-Length, keep-alive, and a scripted
// handler deciding each response. A real peer for libcurl, not a mock of it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace faultline::testing {

struct TestRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::int64_t received_mono_ns = 0;
  int connection = 0;  // which accepted connection carried it

  const std::string* header(const std::string& lower_name) const;
};

struct TestResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;

  /// Listens on 127.0.0.1:`port` (0: any free port). Aborts the test process if it cannot.
  explicit TestHttpServer(Handler handler, std::uint16_t port = 0);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<TestRequest> requests() const;
  std::size_t requestCount() const;
  int connectionsAccepted() const { return connections_.load(); }
  void stop();

 private:
  void acceptLoop();
  void serve(int fd, int connection);

  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<TestRequest> requests_;
};

/// A JSON ack for a decoded batch body, as the aggregator sends it.
TestResponse ackFor(const std::string& compressed_body, bool duplicate = false);

}  // namespace faultline::testing
