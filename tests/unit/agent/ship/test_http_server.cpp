#include "tests/unit/agent/ship/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "shared/util/time.h"
#include "shared/wire/batch.h"

namespace faultline::testing {

const std::string* TestRequest::header(const std::string& lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return &value;
    }
  }
  return nullptr;
}

TestHttpServer::TestHttpServer(Handler handler, std::uint16_t port) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    std::fprintf(stderr, "test server: bind/listen: %s\n", std::strerror(errno));
    std::abort();
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

TestHttpServer::~TestHttpServer() {
  stop();
}

void TestHttpServer::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) {
    t.join();
  }
}

std::vector<TestRequest> TestHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::size_t TestHttpServer::requestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

void TestHttpServer::acceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      continue;
    }
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    int connection = ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back([this, fd, connection] { serve(fd, connection); });
  }
}

void TestHttpServer::serve(int fd, int connection) {
  std::string buffer;
  char chunk[65536];
  // Reads more bytes; false on EOF, error or stop.
  auto fill = [&]() {
    while (!stopping_.load()) {
      pollfd p{fd, POLLIN, 0};
      int rc = ::poll(&p, 1, 20);
      if (rc == 0) {
        continue;
      }
      if (rc < 0) {
        return false;
      }
      ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n <= 0) {
        return false;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  };
  while (true) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > (1 << 20) || !fill()) {
        ::close(fd);
        return;
      }
    }
    TestRequest req;
    req.connection = connection;
    std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    std::string request_line = head.substr(0, line_end);
    std::size_t sp1 = request_line.find(' ');
    std::size_t sp2 = request_line.find(' ', sp1 + 1);
    req.method = request_line.substr(0, sp1);
    req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t content_length = 0;
    bool close_after = false;
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      std::size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) {
        next = head.size();
      }
      std::string line = head.substr(pos, next - pos);
      pos = next + 2;
      std::size_t colon = line.find(':');
      if (colon == std::string::npos) {
        continue;
      }
      std::string name = line.substr(0, colon);
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.erase(0, 1);
      }
      if (name == "content-length") {
        content_length = std::strtoull(value.c_str(), nullptr, 10);
      }
      if (name == "connection" && value == "close") {
        close_after = true;
      }
      req.headers.emplace_back(name, value);
    }
    while (buffer.size() < content_length) {
      if (!fill()) {
        ::close(fd);
        return;
      }
    }
    req.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    req.received_mono_ns = monotonicNanos();
    TestResponse resp = handler_(req);
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " Status\r\n";
    for (const auto& [name, value] : resp.headers) {
      out += name + ": " + value + "\r\n";
      if (name == "Connection" && value == "close") {
        close_after = true;
      }
    }
    out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n\r\n" + resp.body;
    std::string_view rest = out;
    while (!rest.empty()) {
      ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (close_after) {
      ::close(fd);
      return;
    }
  }
}

TestResponse ackFor(const std::string& compressed_body, bool duplicate) {
  auto batch = wire::decodeBatch(compressed_body);
  if (!batch) {
    return {400,
            {{"Content-Type", "application/json"}},
            R"({"error":{"code":"bad_batch","message":")" + batch.status().message() + "\"}}"};
  }
  const wire::BatchHeader& h = (*batch)->header;
  TestResponse resp{200,
                    {{"Content-Type", "application/json"}},
                    R"({"agent":")" + h.agent + R"(","epoch":)" + std::to_string(h.epoch) +
                        R"(,"seq":)" + std::to_string(h.seq) + R"(,"records":)" +
                        std::to_string((*batch)->records.size()) + "}"};
  if (duplicate) {
    resp.headers.emplace_back("Faultline-Duplicate", "true");
  }
  return resp;
}

}  // namespace faultline::testing
