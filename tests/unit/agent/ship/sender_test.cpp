#include "agent/ship/sender.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>

#include "agent/ship/spool.h"
#include "shared/util/fs.h"
#include "shared/util/time.h"
#include "shared/wire/batch.h"
#include "tests/unit/agent/ship/test_http_server.h"
#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using namespace std::chrono_literals;
using faultline::testing::ackFor;
using faultline::testing::runUntil;
using faultline::testing::TempDir;
using faultline::testing::TestHttpServer;
using faultline::testing::TestLoop;
using faultline::testing::TestRequest;
using faultline::testing::TestResponse;

namespace {
constexpr std::uint64_t kEpoch = 9001;

struct Fixture {
  TempDir tmp;
  TestLoop loop;
  std::unique_ptr<ship::Spool> spool;
  AgentMetrics metrics;
  std::unique_ptr<ship::Sender> sender;
  int freed = 0;

  Fixture() { spool = std::move(ship::Spool::open(fs::join(tmp.path(), "spool")).value()); }
  ~Fixture() {
    sender.reset();
    CHECK(loop.drainAndClose());
  }

  void addBatch(std::uint64_t seq, int lines = 3) {
    wire::BatchBuilder builder;
    for (int i = 0; i < lines; ++i) {
      builder.addRecord(builder.sourceIndex("/var/log/app.log"), 1000 + i,
                        "line " + std::to_string(i) + " of batch " + std::to_string(seq));
    }
    auto payload = builder.seal({"agt_1", kEpoch, seq, nowUnixNanos()});
    REQUIRE(payload.isOk());
    ship::SpoolEntry entry;
    entry.seq = seq;
    entry.epoch = kEpoch;
    entry.records = static_cast<std::uint64_t>(lines);
    entry.line_bytes = builder.lineBytes();
    entry.offsets = {{1, seq * 100}};
    auto written = ship::Spool::writeEntryFile(spool->dir(), entry, *payload);
    REQUIRE(written.isOk());
    entry.file_bytes = *written;
    spool->added(entry);
  }

  void start(const std::string& url, ship::SenderOptions options = {}) {
    options.server_url = url;
    options.agent_id = "agt_1";
    options.secret = "fas_secret";
    if (options.timeout == 30'000ms) {
      options.timeout = 5s;
    }
    sender = std::make_unique<ship::Sender>(loop.get(), options, spool.get(), &metrics);
    sender->setOnFreed([this] { ++freed; });
    sender->wake();
  }

  bool spoolEmpty() { return spool->count() == 0; }
};

std::uint64_t seqOf(const TestRequest& req) {
  auto batch = wire::decodeBatch(req.body);
  return batch ? (*batch)->header.seq : 0;
}
}  // namespace

TEST_CASE("acked batches are deleted from the spool, sent in order over one connection") {
  Fixture f;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    f.addBatch(seq);
  }
  TestHttpServer server([](const TestRequest& req) { return ackFor(req.body); });
  ship::SenderOptions options;
  options.window = 1;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  auto requests = server.requests();
  REQUIRE(requests.size() == 5);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const TestRequest& req = requests[i];
    CHECK(req.method == "POST");
    CHECK(req.path == "/v1/ingest");
    CHECK(seqOf(req) == i + 1);
    REQUIRE(req.header("authorization") != nullptr);
    CHECK(*req.header("authorization") == "Bearer fas_secret");
    CHECK(*req.header("content-type") == "application/vnd.faultline.batch+msgpack");
    CHECK(*req.header("content-encoding") == "zstd");
    CHECK(req.header("expect") == nullptr);
  }
  CHECK(server.connectionsAccepted() == 1);  // keep-alive reuse
  CHECK(f.metrics.batches_acked == 5);
  CHECK(f.metrics.lines_sent == 15);
  CHECK(f.metrics.last_ack_seq == 5);
  CHECK(f.metrics.last_ack_unix_ns > 0);
  CHECK(f.metrics.send_errors == 0);
  CHECK(f.freed == 5);
  struct stat st {};
  CHECK(::stat(f.spool->pathOf(1).c_str(), &st) != 0);
}

TEST_CASE("a window of requests in flight; out-of-order acks each delete their own entry") {
  Fixture f;
  for (std::uint64_t seq = 1; seq <= 8; ++seq) {
    f.addBatch(seq);
  }
  std::atomic<int> concurrent{0};
  std::atomic<int> max_concurrent{0};
  TestHttpServer server([&](const TestRequest& req) {
    int now = ++concurrent;
    int seen = max_concurrent.load();
    while (now > seen && !max_concurrent.compare_exchange_weak(seen, now)) {
    }
    // Earlier seqs answer later, so acks arrive out of order.
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * static_cast<int>(9 - seqOf(req))));
    --concurrent;
    return ackFor(req.body);
  });
  ship::SenderOptions options;
  options.window = 4;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  CHECK(max_concurrent.load() > 1);
  CHECK(max_concurrent.load() <= 4);
  CHECK(f.metrics.batches_acked == 8);
  CHECK(server.requestCount() == 8);
}

TEST_CASE("a duplicate ack deletes the entry like a fresh one") {
  Fixture f;
  f.addBatch(1);
  TestHttpServer server([](const TestRequest& req) { return ackFor(req.body, true); });
  f.start(server.url());
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  CHECK(f.metrics.duplicate_acks == 1);
  CHECK(f.metrics.batches_acked == 1);
}

TEST_CASE("an ack for another seq or epoch does not delete the entry") {
  Fixture f;
  f.addBatch(1);
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    if (++calls == 1) {
      return TestResponse{200, {}, R"({"agent":"agt_1","epoch":9001,"seq":2,"records":3})"};
    }
    return ackFor(req.body);
  });
  ship::SenderOptions options;
  options.initial_backoff = 20ms;
  options.max_backoff = 40ms;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  CHECK(server.requestCount() == 2);
  CHECK(f.metrics.send_errors == 1);
}

TEST_CASE("503 with Retry-After is honoured") {
  Fixture f;
  f.addBatch(1);
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    if (++calls == 1) {
      return TestResponse{
          503, {{"Retry-After", "1"}}, R"({"error":{"code":"unavailable","message":"busy"}})"};
    }
    return ackFor(req.body);
  });
  ship::SenderOptions options;
  options.initial_backoff = 10ms;  // far shorter than Retry-After: the delay must be the header's
  options.max_backoff = 20ms;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  double gap_ms =
      static_cast<double>(requests[1].received_mono_ns - requests[0].received_mono_ns) / 1e6;
  CHECK(gap_ms >= 950);
  CHECK(gap_ms < 3000);
  CHECK(f.metrics.send_errors == 1);
}

TEST_CASE("429 with an HTTP-date Retry-After is honoured") {
  Fixture f;
  f.addBatch(1);
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    if (++calls == 1) {
      // Two seconds ahead; HTTP dates have one-second resolution.
      std::int64_t when = nowUnixNanos() / 1'000'000'000 + 2;
      time_t t = static_cast<time_t>(when);
      char buf[64];
      tm utc{};
      gmtime_r(&t, &utc);
      std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &utc);
      return TestResponse{429, {{"Retry-After", buf}}, "slow down"};
    }
    return ackFor(req.body);
  });
  ship::SenderOptions options;
  options.initial_backoff = 10ms;
  options.max_backoff = 20ms;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  double gap_ms =
      static_cast<double>(requests[1].received_mono_ns - requests[0].received_mono_ns) / 1e6;
  CHECK(gap_ms >= 900);
}

TEST_CASE("500 backs off between initial and max backoff, then succeeds") {
  Fixture f;
  f.addBatch(1);
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    if (++calls <= 2) {
      return TestResponse{500, {}, R"({"error":{"code":"internal","message":"db down"}})"};
    }
    return ackFor(req.body);
  });
  ship::SenderOptions options;
  options.initial_backoff = 200ms;
  options.max_backoff = 400ms;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  for (std::size_t i = 1; i < 3; ++i) {
    double gap_ms =
        static_cast<double>(requests[i].received_mono_ns - requests[i - 1].received_mono_ns) / 1e6;
    CHECK(gap_ms >= 190);
    CHECK(gap_ms < 1500);
  }
  CHECK(f.metrics.send_errors == 2);
  CHECK(f.metrics.last_send_error.find("db down") != std::string::npos);
}

TEST_CASE("400 moves the entry to rejected/ and never retries it") {
  Fixture f;
  f.addBatch(1);
  f.addBatch(2);
  TestHttpServer server([](const TestRequest& req) {
    if (seqOf(req) == 1) {
      return TestResponse{400, {}, R"({"error":{"code":"bad_batch","message":"unknown key"}})"};
    }
    return ackFor(req.body);
  });
  f.start(server.url());
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  runUntil(
      f.loop.get(), [] { return false; }, 300ms);
  CHECK(server.requestCount() == 2);
  CHECK(f.metrics.batches_rejected == 1);
  CHECK(f.metrics.batches_acked == 1);
  struct stat st {};
  CHECK(::stat(fs::join(f.spool->dir(), "rejected/" + ship::Spool::fileName(1)).c_str(), &st) == 0);
  CHECK(f.freed == 2);
}

TEST_CASE("connection refused, then the server appears: the spool drains") {
  Fixture f;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    f.addBatch(seq);
  }
  std::uint16_t port = 0;
  {
    TestHttpServer probe([](const TestRequest&) { return TestResponse{}; });
    port = probe.port();
  }
  ship::SenderOptions options;
  options.initial_backoff = 50ms;
  options.max_backoff = 200ms;
  f.start("http://127.0.0.1:" + std::to_string(port), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.metrics.send_errors >= 3; }));
  CHECK(f.spool->count() == 3);
  CHECK(f.sender->backingOff());
  TestHttpServer server([](const TestRequest& req) { return ackFor(req.body); }, port);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.spoolEmpty(); }));
  CHECK(f.metrics.batches_acked == 3);
}

TEST_CASE("401 stops sending and keeps every batch") {
  Fixture f;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    f.addBatch(seq);
  }
  TestHttpServer server([](const TestRequest&) {
    return TestResponse{
        401, {}, R"({"error":{"code":"unauthenticated","message":"agent revoked"}})"};
  });
  ship::SenderOptions options;
  options.window = 1;
  options.initial_backoff = 10ms;
  options.max_backoff = 20ms;
  options.unauthorized_retry = 10s;
  f.start(server.url(), options);
  REQUIRE(runUntil(f.loop.get(), [&] { return f.metrics.unauthorized; }));
  runUntil(
      f.loop.get(), [] { return false; }, 500ms);
  CHECK(server.requestCount() == 1);  // no retry storm: waits unauthorized_retry
  CHECK(f.spool->count() == 3);
  CHECK(f.sender->backingOff());
  CHECK(f.metrics.last_send_error.find("agent revoked") != std::string::npos);
}

TEST_CASE("Retry-After parsing: seconds, HTTP date, garbage") {
  std::int64_t now = 1'795'000'000LL * 1'000'000'000;
  CHECK(ship::parseRetryAfter("5", now) == 5000ms);
  CHECK(ship::parseRetryAfter(" 0 ", now) == 0ms);
  CHECK(ship::parseRetryAfter("soon", now).count() < 0);
  CHECK(ship::parseRetryAfter("", now).count() < 0);
  // 1795000000 is Sun, 18 Nov 2026 ...; ten seconds later:
  time_t t = 1'795'000'010;
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  CHECK(ship::parseRetryAfter(buf, now) == 10'000ms);
  // A date in the past means "now".
  CHECK(ship::parseRetryAfter("Thu, 01 Jan 2015 00:00:00 GMT", now) == 0ms);
}
