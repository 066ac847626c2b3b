// Streamed responses over real loopback sockets: chunks in order from another thread, a client
// that leaves is noticed, a consumer that stops reading is cut off at the bound, and shutdown
// with open streams closes them (and leaves the loop empty), in plaintext and over TLS.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "aggregator/http/server.h"
#include "tests/unit/aggregator/http/test_support.h"
#include "tests/unit/aggregator/http/tls_test_support.h"
#include "tests/unit/temp_dir.h"

using namespace std::chrono_literals;
using faultline::aggregator::http::Request;
using faultline::aggregator::http::Respond;
using faultline::aggregator::http::Response;
using faultline::aggregator::http::ResponseStream;
using faultline::aggregator::http::Router;
using faultline::aggregator::http::ServerLimits;
using faultline::aggregator::http::testing::Client;
using faultline::aggregator::http::testing::LoopServer;
using faultline::aggregator::http::testing::TestPki;
using faultline::aggregator::http::testing::TlsClient;
using faultline::aggregator::http::testing::TlsClientOptions;
using faultline::testing::TempDir;

namespace {
ServerLimits fastLimits() {
  ServerLimits limits;
  limits.header_timeout = 2000ms;
  limits.request_timeout = 2000ms;
  limits.idle_timeout = 2000ms;
  limits.worker_threads = 2;
  return limits;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
}

/// Hands the stream a handler opened to the test, with a flag the close callback sets.
struct OpenedStream {
  std::shared_ptr<ResponseStream> stream;
  std::shared_ptr<std::atomic<int>> closes = std::make_shared<std::atomic<int>>(0);
};

/// GET /stream answers with a stream of `limit` bytes and hands it over through `opened`.
Router streamRouter(std::promise<OpenedStream>* opened, std::size_t limit) {
  Router router;
  router.add("GET", "/stream", [opened, limit](Request&&, Respond respond) {
    OpenedStream out;
    out.stream = ResponseStream::create(limit);
    out.stream->onClose([closes = out.closes] { closes->fetch_add(1); });
    REQUIRE(out.stream->write("retry: 1000\n\n"));  // before the head is out: kept in order
    respond(Response::streamed(200, "text/event-stream", out.stream));
    opened->set_value(out);
  });
  router.add("GET", "/hello", [](Request&&, Respond respond) {
    Response r;
    r.body = "hello";
    respond(std::move(r));
  });
  return router;
}

/// Writes numbered chunks from a thread of its own, ends the stream, and checks the client got
/// them all, in order, after the head (no Content-Length) and before the close.
template <typename ClientType>
void chunksArriveInOrder(LoopServer& server, ClientType& client, std::future<OpenedStream> opened) {
  REQUIRE(client.send(get("/stream")));
  auto head = client.readResponse();
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->header("content-type") == "text/event-stream");
  CHECK(head->header("content-length").empty());
  CHECK(head->header("connection") == "close");
  REQUIRE(opened.wait_for(5s) == std::future_status::ready);
  OpenedStream stream = opened.get();
  CHECK(LoopServer::waitFor([&] { return server.stats().streams_open == 1; }));
  std::thread producer([&stream] {
    for (int i = 0; i < 200; ++i) {
      REQUIRE(stream.stream->write("data: " + std::to_string(i) + "\n\n"));
    }
    stream.stream->end();
  });
  producer.join();
  REQUIRE(client.readToEnd());
  std::string expected = "retry: 1000\n\n";
  for (int i = 0; i < 200; ++i) {
    expected += "data: " + std::to_string(i) + "\n\n";
  }
  CHECK(client.buffered() == expected);
  REQUIRE(LoopServer::waitFor([&] { return stream.closes->load() == 1; }));
  CHECK(stream.stream->closed());
  CHECK_FALSE(stream.stream->write("late"));
  CHECK(server.stats().streams_open == 0);
  CHECK(server.stats().streams_opened == 1);
}
}  // namespace

TEST_CASE("stream: chunks written from another thread arrive in order, then end closes") {
  std::promise<OpenedStream> opened;
  LoopServer server(streamRouter(&opened, 1 << 20), fastLimits());
  Client client(server.port());
  chunksArriveInOrder(server, client, opened.get_future());
  CHECK(server.stop() == 0);
}

TEST_CASE("stream: over TLS the same") {
  TempDir dir;
  TestPki pki(dir.path());
  std::promise<OpenedStream> opened;
  LoopServer server(streamRouter(&opened, 1 << 20), fastLimits(), pki.context());
  TlsClientOptions options;
  options.ca_file = pki.ca_file;
  TlsClient client(server.port(), options);
  REQUIRE_MESSAGE(client.handshakeOk(), client.error());
  chunksArriveInOrder(server, client, opened.get_future());
  CHECK(server.stop() == 0);
}

TEST_CASE("stream: a client that leaves is noticed, and no timeout cuts an open stream") {
  std::promise<OpenedStream> opened;
  ServerLimits limits = fastLimits();
  limits.request_timeout = 300ms;
  limits.idle_timeout = 300ms;
  LoopServer server(streamRouter(&opened, 1 << 20), limits);
  Client client(server.port());
  REQUIRE(client.send(get("/stream")));
  REQUIRE(client.readResponse());
  auto future = opened.get_future();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  OpenedStream stream = future.get();
  std::this_thread::sleep_for(700ms);  // beyond every timeout: a stream may be quiet
  REQUIRE(stream.stream->write("data: still here\n\n"));
  REQUIRE(client.readUntil("still here"));
  CHECK(stream.closes->load() == 0);
  client.close();  // FIN
  REQUIRE(LoopServer::waitFor([&] { return stream.closes->load() == 1; }));
  CHECK(stream.stream->closed());
  CHECK_FALSE(stream.stream->overflowed());
  CHECK_FALSE(stream.stream->write("data: nobody\n\n"));
  CHECK(server.stats().streams_open == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("stream: a consumer that stops reading is cut off at the bound") {
  std::promise<OpenedStream> opened;
  constexpr std::size_t kLimit = 64 * 1024;
  LoopServer server(streamRouter(&opened, kLimit), fastLimits());
  Client client(server.port(), 10s);
  int small = 4096;
  REQUIRE(::setsockopt(client.socketFd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
  REQUIRE(client.send(get("/stream")));
  auto future = opened.get_future();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  OpenedStream stream = future.get();
  // The client reads nothing: the socket buffers fill, then the stream's bound.
  const std::string chunk(8192, 'x');
  std::size_t written = 0;
  while (stream.stream->write(chunk)) {
    written += chunk.size();
    REQUIRE(written < (256u << 20));  // the kernel buffers are far smaller than this
    CHECK(stream.stream->buffered() <= kLimit);
  }
  CHECK(stream.stream->overflowed());
  REQUIRE(LoopServer::waitFor([&] { return stream.closes->load() == 1; }));
  CHECK(server.stats().streams_slow_consumers_dropped == 1);
  CHECK(server.stats().streams_open == 0);
  CHECK(client.waitClosedDiscarding());
  CHECK(server.stop() == 0);
}

TEST_CASE("stream: shutdown with open streams closes them and leaves the loop empty") {
  std::promise<OpenedStream> opened;
  LoopServer server(streamRouter(&opened, 1 << 20), fastLimits());
  Client client(server.port());
  REQUIRE(client.send(get("/stream")));
  REQUIRE(client.readResponse());
  auto future = opened.get_future();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  OpenedStream stream = future.get();
  REQUIRE(stream.stream->write("data: one\n\n"));
  REQUIRE(client.readUntil("data: one"));
  Client plain(server.port());
  REQUIRE(plain.send(get("/hello")));
  REQUIRE(plain.readResponse());
  CHECK(server.stop() == 0);
  CHECK(stream.closes->load() == 1);
  CHECK_FALSE(stream.stream->write("data: after\n\n"));
  CHECK(client.waitClosedDiscarding());
}

TEST_CASE("stream: a stream answered after the client left tells its producer at once") {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto stream = ResponseStream::create(1024);
  auto closes = std::make_shared<std::atomic<int>>(0);
  stream->onClose([closes] { closes->fetch_add(1); });
  Router router;
  router.add("GET", "/late", [&entered, released, stream](Request&&, Respond respond) {
    entered.set_value();
    released.wait();
    respond(Response::streamed(200, "text/event-stream", stream));
  });
  LoopServer server(std::move(router), fastLimits());
  {
    Client client(server.port());
    REQUIRE(client.send(get("/late")));
    REQUIRE(entered.get_future().wait_for(5s) == std::future_status::ready);
    client.reset();
  }
  REQUIRE(LoopServer::waitFor([&] { return server.stats().connections_closed == 1; }));
  release.set_value();
  REQUIRE(LoopServer::waitFor([&] { return closes->load() == 1; }));
  CHECK(stream->closed());
  CHECK(server.stats().streams_opened == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE(
    "stream: the bound holds before the stream is attached, and onClose after the end runs "
    "at once") {
  auto stream = ResponseStream::create(10);
  CHECK(stream->write("0123456789"));
  CHECK_FALSE(stream->write("x"));
  CHECK(stream->overflowed());
  CHECK(stream->closed());
  stream->finish();
  int ran = 0;
  stream->onClose([&ran] { ++ran; });
  CHECK(ran == 1);
}

TEST_CASE("stream: writes between two loop turns wake the loop once and go out as one write") {
  // A burst of events to one stream costs one wake and one socket write per loop turn, not
  // one per event: the loop takes everything queued since its last take.
  auto stream = ResponseStream::create();
  int wakes = 0;
  stream->attach([&wakes] { ++wakes; });
  for (int i = 0; i < 100; ++i) {
    REQUIRE(stream->write("data: " + std::to_string(i) + "\n\n"));
  }
  CHECK(wakes == 1);
  ResponseStream::Taken taken = stream->take();
  CHECK(taken.data.starts_with("data: 0\n\n"));
  CHECK(taken.data.ends_with("data: 99\n\n"));
  CHECK(stream->take().data.empty());
  REQUIRE(stream->write("data: next\n\n"));
  CHECK(wakes == 2);  // the next write after a take wakes the loop again
}
