#include "aggregator/http/server.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "tests/unit/aggregator/http/test_support.h"

using namespace std::chrono_literals;
using faultline::aggregator::http::Request;
using faultline::aggregator::http::Respond;
using faultline::aggregator::http::Response;
using faultline::aggregator::http::Router;
using faultline::aggregator::http::ServerLimits;
using faultline::aggregator::http::testing::Client;
using faultline::aggregator::http::testing::LoopServer;

namespace {
Router basicRouter() {
  Router router;
  router.add("GET", "/hello", [](Request&&, Respond respond) {
    Response r;
    r.headers.emplace_back("Content-Type", "text/plain");
    r.body = "hello";
    respond(std::move(r));
  });
  router.add("POST", "/echo", [](Request&& request, Respond respond) {
    Response r;
    r.body = request.body;
    if (const std::string* q = request.header("x-echo")) {
      r.headers.emplace_back("X-Echo", *q);
    }
    respond(std::move(r));
  });
  router.add("GET", "/bye", [](Request&&, Respond respond) {
    Response r;
    r.headers.emplace_back("CONNECTION", "Close");
    r.body = "bye";
    respond(std::move(r));
  });
  router.add("GET", "/sleep", [](Request&& request, Respond respond) {
    auto ms = request.queryParam("ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms ? std::stoi(*ms) : 0));
    Response r;
    r.body = request.query;
    respond(std::move(r));
  });
  return router;
}

ServerLimits fastLimits() {
  ServerLimits limits;
  limits.header_timeout = 2000ms;
  limits.request_timeout = 4000ms;
  limits.idle_timeout = 4000ms;
  limits.worker_threads = 2;
  return limits;
}

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}
}  // namespace

TEST_CASE("server: GET and POST with a body") {
  LoopServer server(basicRouter(), fastLimits());
  REQUIRE(server.port() > 0);
  Client client(server.port());
  REQUIRE(client.connected());
  REQUIRE(client.send(get("/hello")));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  CHECK(r->header("content-length") == "5");
  CHECK(r->header("content-type") == "text/plain");
  CHECK(r->header("date").size() == 29);
  CHECK(r->header("connection").empty());

  const std::string body(100'000, 'x');
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nX-Echo: e1\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body));
  r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == body);
  CHECK(r->header("x-echo") == "e1");
  CHECK(server.stop() == 0);
  CHECK(server.stats().requests == 2);
}

TEST_CASE("server: keep-alive serves several requests on one connection") {
  LoopServer server(basicRouter(), fastLimits());
  Client client(server.port());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(client.send(get("/sleep?i=" + std::to_string(i))));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->body == "i=" + std::to_string(i));
  }
  CHECK(server.stats().connections_accepted == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: pipelined requests are answered in order") {
  LoopServer server(basicRouter(), fastLimits());
  Client client(server.port());
  // The first is the slowest: with two workers, answering out of order would be easy.
  REQUIRE(client.send(get("/sleep?ms=150&n=1") + get("/sleep?ms=0&n=2") +
                      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nthr" +
                      get("/sleep?n=4", "Connection: close\r\n")));
  auto r1 = client.readResponse();
  auto r2 = client.readResponse();
  auto r3 = client.readResponse();
  auto r4 = client.readResponse();
  REQUIRE(r1);
  REQUIRE(r2);
  REQUIRE(r3);
  REQUIRE(r4);
  CHECK(r1->body == "ms=150&n=1");
  CHECK(r2->body == "ms=0&n=2");
  CHECK(r3->body == "thr");
  CHECK(r4->body == "n=4");
  CHECK(r4->header("connection") == "close");
  CHECK(client.waitClosed());
  CHECK(server.stop() == 0);
}

TEST_CASE("server: chunked request body") {
  LoopServer server(basicRouter(), fastLimits());
  Client client(server.port());
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::this_thread::sleep_for(20ms);
  REQUIRE(client.send("6\r\nchunk-\r\n"));
  std::this_thread::sleep_for(20ms);
  REQUIRE(client.send("4\r\ned!!\r\n0\r\n\r\n"));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "chunk-ed!!");
  CHECK(server.stop() == 0);
}

TEST_CASE("server: unknown path is 404, wrong method is 405 with Allow, HEAD uses GET") {
  LoopServer server(basicRouter(), fastLimits());
  Client client(server.port());
  REQUIRE(client.send(get("/nope")));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(r->header("content-type") == "application/json");
  CHECK(r->body.find("\"not_found\"") != std::string::npos);

  REQUIRE(client.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->header("allow") == "GET, HEAD");
  CHECK(r->body.find("\"method_not_allowed\"") != std::string::npos);

  REQUIRE(client.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + get("/hello")));
  r = client.readResponse(/*head=*/true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-length") == "5");
  CHECK(r->body.empty());
  // The next response starts right after HEAD's headers: no body bytes were sent for HEAD.
  r = client.readResponse();
  REQUIRE(r);
  CHECK(r->body == "hello");
  CHECK(server.stats().responses_4xx == 2);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: malformed request gets 400 and the connection is closed") {
  LoopServer server(basicRouter(), fastLimits());
  Client client(server.port());
  REQUIRE(client.send("GET /hello HTTP/1.1\r\nBad Header Line\r\n\r\n" + get("/hello")));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->header("connection") == "close");
  CHECK(r->body.find("\"bad_request\"") != std::string::npos);
  CHECK(client.waitClosed());
  CHECK(server.stop() == 0);
}

TEST_CASE("server: headers over the limit get 431 and close") {
  ServerLimits limits = fastLimits();
  limits.max_header_bytes = 1024;
  LoopServer server(basicRouter(), limits);
  Client client(server.port());
  REQUIRE(client.send(get("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n")));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 431);
  CHECK(r->body.find("\"header_too_large\"") != std::string::npos);
  CHECK(client.waitClosed());
  CHECK(server.stop() == 0);
}

TEST_CASE("server: Content-Length over the limit gets 413 before any body byte is sent") {
  ServerLimits limits = fastLimits();
  limits.max_body_bytes = 1000;
  LoopServer server(basicRouter(), limits);
  Client client(server.port());
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n"));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(r->body.find("\"payload_too_large\"") != std::string::npos);
  CHECK(r->header("connection") == "close");
  CHECK(client.waitClosed());
  CHECK(server.stats().requests == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: a chunked body growing past the limit gets 413 as it arrives; 501 for gzip") {
  ServerLimits limits = fastLimits();
  limits.max_body_bytes = 1000;
  LoopServer server(basicRouter(), limits);
  {
    Client client(server.port());
    REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    REQUIRE(client.send("258\r\n" + std::string(600, 'a') + "\r\n"));
    REQUIRE(client.send("258\r\n" + std::string(600, 'b') + "\r\n"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(client.waitClosed());
  }
  {
    Client client(server.port());
    REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 501);
    CHECK(client.waitClosed());
  }
  CHECK(server.stats().requests == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: Expect 100-continue gets 100 then the final answer, or the error at once") {
  ServerLimits limits = fastLimits();
  limits.max_body_bytes = 1000;
  LoopServer server(basicRouter(), limits);
  {
    Client client(server.port());
    REQUIRE(client.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = client.readResponse();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    REQUIRE(client.send("body"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "body");
  }
  {
    Client client(server.port());
    REQUIRE(client.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\nExpect: 100-continue\r\n\r\n"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(client.waitClosed());
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("server: a slow client is cut off by the header timeout with 408") {
  ServerLimits limits = fastLimits();
  limits.header_timeout = 200ms;
  LoopServer server(basicRouter(), limits);
  Client client(server.port());
  auto start = std::chrono::steady_clock::now();
  // 40 bytes at 30 ms each would take 1.2 s; the server gives up after 200 ms.
  client.sendSlowly("GET /hello HTTP/1.1\r\nHost: slow\r\nX-A: b\r\n", 30ms);
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(r->body.find("\"request_timeout\"") != std::string::npos);
  CHECK(r->header("connection") == "close");
  CHECK(client.waitClosed());
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < 1500ms);
  CHECK(server.stats().timeouts == 1);

  // Connecting and sending nothing is cut off too, silently.
  Client silent(server.port());
  start = std::chrono::steady_clock::now();
  CHECK(silent.waitClosed());
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: a slow body is cut off by the request timeout") {
  ServerLimits limits = fastLimits();
  limits.request_timeout = 300ms;
  LoopServer server(basicRouter(), limits);
  Client client(server.port());
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(client.waitClosed());
  CHECK(server.stop() == 0);
}

TEST_CASE("server: an idle keep-alive connection is closed after idle_timeout") {
  ServerLimits limits = fastLimits();
  limits.idle_timeout = 200ms;
  LoopServer server(basicRouter(), limits);
  Client client(server.port());
  REQUIRE(client.send(get("/hello")));
  REQUIRE(client.readResponse());
  auto start = std::chrono::steady_clock::now();
  CHECK(client.waitClosed());
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 150ms);
  CHECK(elapsed < 2000ms);
  CHECK(server.stats().timeouts == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: HTTP/1.0 and Connection: close end the connection after the response") {
  LoopServer server(basicRouter(), fastLimits());
  {
    Client client(server.port());
    REQUIRE(client.send("GET /hello HTTP/1.0\r\n\r\n"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->body == "hello");
    CHECK(r->header("connection") == "close");
    CHECK(client.waitClosed());
  }
  {
    Client client(server.port());
    REQUIRE(client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->header("connection") == "keep-alive");
    REQUIRE(client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(client.readResponse());
  }
  {
    Client client(server.port());
    REQUIRE(client.send(get("/hello", "Connection: close\r\n")));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->header("connection") == "close");
    CHECK(client.waitClosed());
  }
  {
    // A handler can close the connection too.
    Client client(server.port());
    REQUIRE(client.send(get("/bye")));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->body == "bye");
    CHECK(r->header("connection") == "close");
    CHECK(client.waitClosed());
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("server: connections over max_connections are accepted and closed at once") {
  ServerLimits limits = fastLimits();
  limits.max_connections = 2;
  LoopServer server(basicRouter(), limits);
  Client a(server.port());
  Client b(server.port());
  REQUIRE(a.send(get("/hello")));
  REQUIRE(b.send(get("/hello")));
  REQUIRE(a.readResponse());
  REQUIRE(b.readResponse());
  Client c(server.port(), 2000ms);
  CHECK(c.waitClosed());
  CHECK(server.stats().connections_rejected == 1);
  CHECK(server.stats().connections_accepted == 2);
  // A slot frees up once a connection closes.
  a.close();
  REQUIRE(LoopServer::waitFor([&] { return server.stats().connections_closed == 1; }));
  Client d(server.port());
  REQUIRE(d.send(get("/hello")));
  auto r = d.readResponse();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: handlers run on worker threads, never on the loop thread") {
  std::mutex mu;
  std::vector<std::thread::id> seen;
  Router router;
  router.add("GET", "/tid", [&](Request&&, Respond respond) {
    {
      std::lock_guard lock(mu);
      seen.push_back(std::this_thread::get_id());
    }
    respond(Response::json(200, "{}"));
  });
  LoopServer server(std::move(router), fastLimits());
  Client client(server.port());
  for (int i = 0; i < 4; ++i) {
    REQUIRE(client.send(get("/tid")));
    REQUIRE(client.readResponse());
  }
  REQUIRE(server.stop() == 0);
  REQUIRE(seen.size() == 4);
  for (const auto& id : seen) {
    CHECK(id != server.loopThread());
    CHECK(id != std::this_thread::get_id());
  }
}

TEST_CASE("server: a response for a client that disconnected is dropped safely") {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Router router;
  router.add("GET", "/wait", [&entered, released](Request&&, Respond respond) {
    entered.set_value();
    released.wait();
    respond(Response::json(200, "{\"late\":true}"));
  });
  LoopServer server(std::move(router), fastLimits());
  {
    Client client(server.port());
    REQUIRE(client.send(get("/wait")));
    REQUIRE(entered.get_future().wait_for(5s) == std::future_status::ready);
    client.reset();
  }
  REQUIRE(LoopServer::waitFor([&] { return server.stats().connections_closed == 1; }));
  release.set_value();
  REQUIRE(LoopServer::waitFor([&] { return server.stats().responses_dropped == 1; }));
  // The server is still fine.
  Client other(server.port());
  REQUIRE(other.send(get("/nope")));
  auto r = other.readResponse();
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: a handler that responds after close() does no harm") {
  std::promise<Respond> kept;
  Router router;
  router.add("GET", "/keep",
             [&kept](Request&&, Respond respond) { kept.set_value(std::move(respond)); });
  LoopServer server(std::move(router), fastLimits());
  Client client(server.port());
  REQUIRE(client.send(get("/keep")));
  auto future = kept.get_future();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  Respond respond = future.get();
  CHECK(server.stop() == 0);
  respond(Response::json(200, "{}"));  // the server and its loop are gone: dropped
  respond(Response::json(200, "{}"));  // and a second call is ignored
}

TEST_CASE("server: a handler that throws or never responds yields 500") {
  Router router;
  router.add("GET", "/throw", [](Request&&, Respond) { throw std::runtime_error("boom"); });
  router.add("GET", "/drop", [](Request&&, Respond) {});
  LoopServer server(std::move(router), fastLimits());
  Client client(server.port());
  for (const char* path : {"/throw", "/drop"}) {
    REQUIRE(client.send(get(path)));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 500);
  }
  CHECK(server.stats().responses_5xx == 2);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: over max_pending_requests the answer is 503 with Retry-After") {
  std::atomic<int> entered{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Router router;
  router.add("GET", "/block", [&entered, released](Request&&, Respond respond) {
    ++entered;
    released.wait();
    respond(Response::json(200, "{}"));
  });
  ServerLimits limits = fastLimits();
  limits.worker_threads = 1;
  limits.max_pending_requests = 1;
  LoopServer server(std::move(router), limits);
  Client busy(server.port());
  REQUIRE(busy.send(get("/block")));
  REQUIRE(LoopServer::waitFor([&] { return entered.load() == 1; }));
  Client queued(server.port());
  REQUIRE(queued.send(get("/block")));
  REQUIRE(LoopServer::waitFor([&] { return server.stats().requests == 2; }));
  Client refused(server.port());
  REQUIRE(refused.send(get("/block")));
  auto r = refused.readResponse();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("retry-after") == "1");
  CHECK(r->body.find("\"overloaded\"") != std::string::npos);
  release.set_value();
  auto r1 = busy.readResponse();
  auto r2 = queued.readResponse();
  REQUIRE(r1);
  REQUIRE(r2);
  CHECK(r1->status == 200);
  CHECK(r2->status == 200);
  CHECK(server.stats().responses_5xx == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("server: close() with open, half-sent and busy connections leaves the loop empty") {
  std::promise<void> entered;
  Router router = basicRouter();
  router.add("GET", "/busy", [&entered](Request&&, Respond respond) {
    entered.set_value();
    std::this_thread::sleep_for(100ms);
    respond(Response::json(200, "{}"));
  });
  LoopServer server(std::move(router), fastLimits());
  Client idle(server.port());
  REQUIRE(idle.send(get("/hello")));
  REQUIRE(idle.readResponse());
  Client partial(server.port());
  REQUIRE(partial.send("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  Client busy(server.port());
  REQUIRE(busy.send(get("/busy")));
  REQUIRE(entered.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(server.stop() == 0);
  CHECK(idle.waitClosed());
  CHECK(partial.waitClosed());
  CHECK(busy.waitClosed());
}

TEST_CASE("server: listen reports a bad address and a port in use") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    faultline::aggregator::http::Server a(&loop, Router(), ServerLimits{});
    CHECK_FALSE(a.listen("not-an-ip", 0).isOk());
    REQUIRE(a.listen("127.0.0.1", 0).isOk());
    faultline::aggregator::http::Server b(&loop, Router(), ServerLimits{});
    auto status = b.listen("127.0.0.1", a.port());
    CHECK_FALSE(status.isOk());
    CHECK(status.message().find("127.0.0.1") != std::string::npos);
    a.close();
    b.close();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
