// The Notifier against a real SQLite store and a real HTTP receiver on loopback: retries with
// the same Idempotency-Key and a valid signature, final refusals, Retry-After, giving up,
// deleted channels, and the dispatcher thread end to end.
#include "aggregator/notify/notifier.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "shared/util/time.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

struct Received {
  std::string request_line;
  std::string headers;  // raw, lower-cased names kept as sent
  std::string body;
  std::string header(const std::string& name) const {
    std::string lower_headers = headers;
    for (char& c : lower_headers)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string key = "\r\n" + name + ": ";
    std::size_t at = lower_headers.find(key);
    if (at == std::string::npos) return "";
    std::size_t start = at + key.size();
    return headers.substr(start, headers.find("\r\n", start) - start);
  }
};

/// A blocking HTTP receiver on 127.0.0.1: answers each request with the next scripted
/// response (then 200), and records what it got.
class Receiver {
 public:
  Receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path = "/hook?token=abc") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void script(std::string response) {
    std::lock_guard lock(mu_);
    responses_.push_back(std::move(response));
  }
  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void serve() {
    for (;;) {
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        return;
      }
      std::string raw;
      char buf[4096];
      std::size_t need = std::string::npos;
      while (need == std::string::npos || raw.size() < need) {
        ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
        std::size_t end = raw.find("\r\n\r\n");
        if (end != std::string::npos && need == std::string::npos) {
          Received head;
          head.headers = raw.substr(0, end + 2);
          std::string length = head.header("content-length");
          need = end + 4 + (length.empty() ? 0 : std::stoul(length));
        }
      }
      Received got;
      std::size_t end = raw.find("\r\n\r\n");
      got.request_line = raw.substr(0, raw.find("\r\n"));
      got.headers = raw.substr(0, end + 2);
      got.body = end == std::string::npos ? "" : raw.substr(end + 4);
      std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      {
        std::lock_guard lock(mu_);
        received_.push_back(got);
        if (!responses_.empty()) {
          response = responses_.front();
          responses_.pop_front();
        }
      }
      ::send(client, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::deque<std::string> responses_;
  std::vector<Received> received_;
};

constexpr const char* k503 = "HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\n\r\nbusy";

struct Fixture {
  Fixture() : store(openStore(dir.file("db.sqlite"), {})) {
    tenant = store->createTenant("acme", nowUnixNanos()).value();
  }
  store::NotificationChannel addChannel(const std::string& url, const std::string& kind = "webhook",
                                        const std::string& secret = "0123456789abcdef") {
    store::NotificationChannel channel;
    channel.id = "nch_" + std::to_string(++channels);
    channel.tenant_id = tenant.id;
    channel.name = "ops";
    channel.kind = kind;
    channel.url = url;
    channel.secret = kind == "webhook" ? secret : "";
    channel.events = "opened,acknowledged";
    channel.min_severity = "unknown";
    channel.created_at_ns = nowUnixNanos();
    REQUIRE(store->createNotificationChannel(channel).isOk());
    return channel;
  }
  incidents::IncidentNotice notice(const std::string& change = "opened") const {
    incidents::IncidentNotice n;
    n.tenant_id = tenant.id;
    n.incident_id = "inc_1";
    n.change = change;
    n.status = "triggered";
    n.severity = "error";
    n.title = "checkout errors";
    n.actor = "system";
    n.services = {"checkout"};
    n.at_ns = 1'700'000'000'000'000'000;
    return n;
  }
  std::unique_ptr<notify::Notifier> notifier(notify::NotifierOptions options = fastOptions()) {
    return notify::Notifier::create(*store, options).value();
  }
  static notify::NotifierOptions fastOptions() {
    notify::NotifierOptions options;
    options.retry.base_delay = std::chrono::milliseconds(20);
    options.retry.max_delay = std::chrono::milliseconds(100);
    options.request_timeout = std::chrono::milliseconds(2000);
    options.poll_interval = std::chrono::milliseconds(20);
    return options;
  }
  std::vector<store::NotificationDelivery> deliveries(const std::string& channel_id) {
    return store->listNotifications(tenant.id, channel_id, 100).value();
  }
  /// Runs dispatch passes until the channel's newest delivery is no longer pending.
  store::NotificationDelivery settle(notify::Notifier& notifier, const std::string& channel_id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      REQUIRE(notifier.dispatchDue(nowUnixNanos()).isOk());
      auto rows = deliveries(channel_id);
      REQUIRE(!rows.empty());
      if (rows.front().state != "pending" || std::chrono::steady_clock::now() > deadline) {
        return rows.front();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  faultline::testing::TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  store::Tenant tenant;
  int channels = 0;
};

}  // namespace

TEST_CASE("notifier: 503 twice then accepted, the same key and a valid signature each time") {
  Fixture f;
  Receiver receiver;
  receiver.script(k503);
  receiver.script(k503);
  store::NotificationChannel channel = f.addChannel(receiver.url());
  auto notifier = f.notifier();
  REQUIRE(notifier->enqueue(f.notice(), nowUnixNanos()).isOk());
  REQUIRE(notifier->enqueue(f.notice(), nowUnixNanos()).isOk());  // the same notice: one row
  REQUIRE(f.deliveries(channel.id).size() == 1);
  store::NotificationDelivery done = f.settle(*notifier, channel.id);
  CHECK(done.state == "delivered");
  CHECK(done.attempts == 3);
  CHECK(done.last_status == 200);
  CHECK(done.last_error.empty());
  CHECK(done.delivered_at_ns > 0);
  auto got = receiver.received();
  REQUIRE(got.size() == 3);
  const std::string key = notify::idempotencyKey(channel.id, "inc_1", "opened", f.notice().at_ns);
  for (const Received& request : got) {
    CHECK(request.request_line == "POST /hook?token=abc HTTP/1.1");
    CHECK(request.header("idempotency-key") == key);
    CHECK(request.header("content-type") == "application/json");
    CHECK(request.header("x-faultline-signature") ==
          notify::signatureHeader(channel.secret, request.body));
    CHECK(request.body == got[0].body);
  }
  auto doc = nlohmann::json::parse(got[0].body);
  CHECK(doc["type"] == "incident.opened");
  CHECK(doc["id"] == key);
  notify::NotifierStats stats = notifier->stats();
  CHECK(stats.enqueued == 2);  // offered twice, stored once
  CHECK(stats.retried == 2);
  CHECK(stats.delivered == 1);
  CHECK(stats.failed == 0);
}

TEST_CASE("notifier: a 4xx other than 429 is final; 429's Retry-After is honoured") {
  Fixture f;
  Receiver receiver;
  receiver.script("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  store::NotificationChannel refused = f.addChannel(receiver.url());
  auto notifier = f.notifier();
  REQUIRE(notifier->enqueue(f.notice(), nowUnixNanos()).isOk());
  store::NotificationDelivery done = f.settle(*notifier, refused.id);
  CHECK(done.state == "failed");
  CHECK(done.attempts == 1);
  CHECK(done.last_status == 404);
  CHECK(done.last_error.find("HTTP 404") != std::string::npos);

  REQUIRE(f.store->deleteNotificationChannel(f.tenant.id, refused.id, nowUnixNanos()).isOk());
  receiver.script("HTTP/1.1 429 Slow Down\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n");
  store::NotificationChannel limited = f.addChannel(receiver.url());
  REQUIRE(notifier->enqueue(f.notice("acknowledged"), nowUnixNanos()).isOk());
  const std::int64_t before = nowUnixNanos();
  REQUIRE(notifier->dispatchDue(nowUnixNanos()).isOk());
  auto rows = f.deliveries(limited.id);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == "pending");
  CHECK(rows[0].last_status == 429);
  CHECK(rows[0].next_attempt_at_ns >= before + 2'000'000'000);  // not the 20 ms backoff
}

TEST_CASE("notifier: gives up after the attempts; no receiver is a retry; deleted channels fail") {
  Fixture f;
  auto options = Fixture::fastOptions();
  options.retry.max_attempts = 2;
  auto notifier = f.notifier(options);
  // Nothing listens on this port once the receiver is gone: connection refused.
  std::string dead_url;
  {
    Receiver gone;
    dead_url = gone.url();
  }
  store::NotificationChannel dead = f.addChannel(dead_url);
  REQUIRE(notifier->enqueue(f.notice(), nowUnixNanos()).isOk());
  store::NotificationDelivery done = f.settle(*notifier, dead.id);
  CHECK(done.state == "failed");
  CHECK(done.attempts == 2);
  CHECK(done.last_status == 0);
  CHECK(done.last_error.find("gave up after 2 attempts") != std::string::npos);
  CHECK(done.last_error.find("token") == std::string::npos);  // the URL's query stays out

  Receiver receiver;
  store::NotificationChannel deleted = f.addChannel(receiver.url());
  REQUIRE(notifier->enqueue(f.notice("acknowledged"), nowUnixNanos()).isOk());
  REQUIRE(f.store->deleteNotificationChannel(f.tenant.id, deleted.id, nowUnixNanos()).isOk());
  done = f.settle(*notifier, deleted.id);
  CHECK(done.state == "failed");
  CHECK(done.attempts == 0);
  CHECK(receiver.received().empty());
  CHECK(notifier->stats().failed == 2);
}

TEST_CASE("notifier: the dispatcher thread sends queued notices; Slack bodies; test sends") {
  Fixture f;
  Receiver receiver;
  store::NotificationChannel slack = f.addChannel(receiver.url("/services/T/B/X"), "slack");
  auto notifier = f.notifier();
  notifier->start();
  notifier->notice(f.notice());
  notifier->notice(f.notice("resolved"));  // not subscribed
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (notifier->stats().delivered < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  notifier->stop();
  CHECK(notifier->stats().delivered == 1);
  auto got = receiver.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].header("x-faultline-signature").empty());
  auto doc = nlohmann::json::parse(got[0].body);
  CHECK(doc["text"].is_string());
  CHECK(doc["blocks"][0]["type"] == "header");

  notify::TestResult sent = notifier->sendTest(slack, nowUnixNanos());
  CHECK(sent.delivered);
  CHECK(sent.status == 200);
  receiver.script(k503);
  sent = notifier->sendTest(slack, nowUnixNanos());
  CHECK_FALSE(sent.delivered);
  CHECK(sent.status == 503);
  CHECK(sent.error.find("HTTP 503") != std::string::npos);
}
