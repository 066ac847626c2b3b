#include "aggregator/ingest/agent_api.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "aggregator/ingest/enroll_request.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using nlohmann::json;

namespace {
constexpr std::int64_t kHourNs = 3'600'000'000'000;

struct ApiFixture {
  explicit ApiFixture(ingest::AgentApiOptions options = {},
                      store::sqlite::SqliteStoreOptions store_options = {})
      : path(dir.file("db.sqlite")), store(openStore(path, store_options)), api(*store, options) {
    auto created = store->createTenant("acme", nowUnixNanos());
    REQUIRE(created.isOk());
    tenant = *created;
  }
  std::string token(std::int64_t ttl_ns = kHourNs) {
    std::string value = crypto::randomToken("fet_");
    std::int64_t now = nowUnixNanos();
    REQUIRE(store->createEnrollmentToken(tenant.id, crypto::hashSecret(value), now, now + ttl_ns)
                .isOk());
    return value;
  }
  std::int64_t count(const std::string& table) {
    return queryInt(path, "SELECT COUNT(*) FROM " + table);
  }

  TempDir dir;
  std::string path;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  ingest::AgentApi api;
  store::Tenant tenant;
};

std::vector<TestRecord> someRecords() {
  return {{"/var/log/app.log", 1000, "hello"}, {"/var/log/app.log", 2000, "world"}};
}
}  // namespace

TEST_CASE("healthz answers ok when the store answers") {
  ApiFixture f;
  http::Response response = f.api.handleHealth({});
  CHECK(response.status == 200);
  CHECK(response.body == R"({"status":"ok"})");
}

TEST_CASE("router: the four agent routes dispatch to the handlers and respond once") {
  ApiFixture f;
  http::Router router = ingest::buildRouter(f.api);
  REQUIRE(router.routes().size() == 4);
  int calls = 0;
  http::Response got;
  for (const auto& route : router.routes()) {
    if (route.method == "GET" && route.path == "/healthz") {
      route.handler(http::Request{}, [&](http::Response response) {
        ++calls;
        got = std::move(response);
      });
    }
  }
  CHECK(calls == 1);
  CHECK(got.status == 200);
  bool has_enroll = false;
  bool has_ingest = false;
  bool has_heartbeat = false;
  for (const auto& route : router.routes()) {
    has_enroll |= route.method == "POST" && route.path == "/v1/agents/enroll";
    has_ingest |= route.method == "POST" && route.path == "/v1/ingest";
    has_heartbeat |= route.method == "POST" && route.path == "/v1/agents/heartbeat";
  }
  CHECK(has_enroll);
  CHECK(has_ingest);
  CHECK(has_heartbeat);
}

TEST_CASE("enroll: a valid token yields an agent id and a secret stored only as a hash") {
  ApiFixture f;
  std::string token = f.token();
  http::Response response = f.api.handleEnroll(
      enrollRequest(enrollBody(token, "web-1"), "application/json; charset=utf-8"));
  REQUIRE_MESSAGE(response.status == 201, response.body);
  json body = json::parse(response.body);
  CHECK(body.size() == 4);
  std::string agent_id = body["agent_id"].get<std::string>();
  std::string secret = body["secret"].get<std::string>();
  CHECK(agent_id.rfind("agt_", 0) == 0);
  CHECK(secret.rfind("fas_", 0) == 0);
  CHECK(body["tenant"] == "acme");
  CHECK(body["tenant_id"] == f.tenant.id);
  // Field order is part of the contract the agent was written against.
  CHECK(response.body.find("{\"agent_id\":") == 0);
  CHECK(f.count("agents_agents WHERE secret_hash = '" + crypto::hashSecret(secret) +
                "' AND hostname = 'web-1'") == 1);
  CHECK(f.count("agents_agents WHERE secret_hash = '" + secret + "'") == 0);
  CHECK(f.count("agents_enrollment_tokens WHERE token_hash = '" + token + "'") == 0);
  CHECK(f.count("agents_enrollment_tokens WHERE used_at IS NOT NULL") == 1);
}

TEST_CASE("enroll: unknown, used and expired tokens and bad requests are refused") {
  ApiFixture f;
  std::string token = f.token();
  REQUIRE(f.api.handleEnroll(enrollRequest(enrollBody(token))).status == 201);
  const std::int64_t agents = f.count("agents_agents");

  auto expect = [&](const http::Request& request, int status, const std::string& code) {
    http::Response response = f.api.handleEnroll(request);
    INFO(request.body);
    CHECK(response.status == status);
    CHECK(errorCode(response) == code);
  };
  expect(enrollRequest(enrollBody(token)), 401, "token_used");
  expect(enrollRequest(enrollBody("fet_neverissued")), 401, "invalid_token");
  std::string short_lived = f.token(1'000'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  expect(enrollRequest(enrollBody(short_lived)), 401, "token_expired");

  std::string fresh = f.token();
  expect(enrollRequest(enrollBody(fresh), "text/plain"), 415, "unsupported_media_type");
  expect(enrollRequest(enrollBody(fresh), ""), 415, "unsupported_media_type");
  expect(enrollRequest("{\"token\": "), 400, "bad_request");
  expect(enrollRequest("[]"), 400, "bad_request");
  expect(enrollRequest("\"" + fresh + "\""), 400, "bad_request");
  expect(enrollRequest("{}"), 400, "bad_request");
  expect(enrollRequest(R"({"token": 5})"), 400, "bad_request");
  expect(enrollRequest(R"({"token": null})"), 400, "bad_request");
  expect(enrollRequest(R"({"token": ""})"), 400, "bad_request");
  expect(enrollRequest(json{{"token", fresh}, {"hostname", 7}}.dump()), 400, "bad_request");
  expect(enrollRequest(json{{"token", fresh}, {"hostname", {{"a", "b"}}}}.dump()), 400,
         "bad_request");
  expect(enrollRequest(json{{"token", fresh}, {"extra", "x"}}.dump()), 400, "bad_request");
  expect(enrollRequest(R"({"token":"a","token":"b"})"), 400, "bad_request");
  expect(enrollRequest(json{{"token", fresh}, {"hostname", std::string(256, 'h')}}.dump()), 400,
         "bad_request");
  expect(enrollRequest(json{{"token", fresh}, {"version", std::string(256, 'v')}}.dump()), 400,
         "bad_request");
  expect(enrollRequest(R"({"token":")" + fresh + "\"} trailing"), 400, "bad_request");
  expect(enrollRequest(std::string(70 * 1024, ' ')), 413, "payload_too_large");
  CHECK(f.count("agents_agents") == agents);
  // The fresh token survived every refused request.
  CHECK(f.api.handleEnroll(enrollRequest(enrollBody(fresh))).status == 201);
}

TEST_CASE("enroll: the parser keeps exactly the three fields and caps their sizes") {
  auto parsed =
      ingest::parseEnrollRequest(R"({"version":"1.2","token":"fet_x","hostname":"h\u00e9"})");
  REQUIRE(parsed.isOk());
  CHECK(parsed->token == "fet_x");
  CHECK(parsed->hostname == "h\xc3\xa9");
  CHECK(parsed->version == "1.2");
  auto minimal = ingest::parseEnrollRequest(R"({"token":"t"})");
  REQUIRE(minimal.isOk());
  CHECK(minimal->hostname.empty());
  CHECK(ingest::parseEnrollRequest(std::string(255 * 1024, '[')).code() == Errc::ResourceExhausted);
  CHECK(ingest::parseEnrollRequest(std::string(60 * 1024, '[')).code() == Errc::InvalidArgument);
  CHECK(ingest::parseEnrollRequest(R"({"token":"t"}{})").code() == Errc::InvalidArgument);
  CHECK(ingest::parseEnrollRequest("{\"token\":\"\xff\"}").code() == Errc::InvalidArgument);
}

TEST_CASE("enroll: two concurrent requests with one token, exactly one agent") {
  ApiFixture f;
  for (int round = 0; round < 10; ++round) {
    std::string token = f.token();
    std::atomic<bool> go{false};
    http::Response responses[2];
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) {
        }
        f.api.enroll(enrollRequest(enrollBody(token)),
                     [&, i](http::Response response) { responses[i] = std::move(response); });
      });
    }
    go.store(true);
    for (auto& thread : threads) {
      thread.join();
    }
    int created = 0;
    int used = 0;
    for (const auto& response : responses) {
      created += response.status == 201 ? 1 : 0;
      used += response.status == 401 && errorCode(response) == "token_used" ? 1 : 0;
    }
    CHECK(created == 1);
    CHECK(used == 1);
  }
  CHECK(f.count("agents_agents") == 10);
}

TEST_CASE("ingest: a batch is stored once; a resend gets the byte-identical ack") {
  ApiFixture f;
  EnrolledAgent agent = enrollThroughApi(*f.store, f.api, f.tenant.id);
  std::string batch = makeBatch(agent.agent_id, 7, 42, someRecords());
  http::Response first = f.api.handleIngest(ingestRequest(agent.secret, batch));
  REQUIRE_MESSAGE(first.status == 200, first.body);
  CHECK(first.body == R"({"agent":")" + agent.agent_id + R"(","epoch":7,"seq":42,"records":2})");
  CHECK(responseHeader(first, "Faultline-Duplicate") == nullptr);

  http::Response second = f.api.handleIngest(ingestRequest(agent.secret, batch));
  CHECK(second.status == 200);
  CHECK(second.body == first.body);
  const std::string* duplicate = responseHeader(second, "Faultline-Duplicate");
  REQUIRE(duplicate != nullptr);
  CHECK(*duplicate == "true");

  CHECK(f.count("logs_batches") == 1);
  CHECK(queryInt(f.path, "SELECT record_count FROM logs_batches") == 2);
  CHECK(queryInt(f.path, "SELECT line_bytes FROM logs_batches") == 10);
  CHECK(queryInt(f.path, "SELECT min_ts FROM logs_batches") == 1000);
  CHECK(queryInt(f.path, "SELECT max_ts FROM logs_batches") == 2000);
  CHECK(queryInt(f.path, "SELECT length(payload) FROM logs_batches") ==
        static_cast<std::int64_t>(batch.size()));
  CHECK(queryInt(f.path, "SELECT batches FROM agents_agents") == 1);
  CHECK(queryInt(f.path, "SELECT records FROM agents_agents") == 2);
  CHECK(queryInt(f.path, "SELECT last_seen FROM agents_agents") > 0);

  // Another seq, or the same seq in a new epoch, is a new batch.
  CHECK(f.api
            .handleIngest(
                ingestRequest(agent.secret, makeBatch(agent.agent_id, 7, 43, someRecords())))
            .status == 200);
  CHECK(f.api
            .handleIngest(
                ingestRequest(agent.secret, makeBatch(agent.agent_id, 8, 42, someRecords())))
            .status == 200);
  CHECK(f.count("logs_batches") == 3);
}

TEST_CASE("ingest: every bad request gets its status and code, and nothing is stored") {
  ingest::AgentApiOptions options;
  options.batch_limits.max_compressed_bytes = 64 * 1024;
  options.batch_limits.max_decompressed_bytes = 256 * 1024;
  ApiFixture f(options);
  EnrolledAgent agent = enrollThroughApi(*f.store, f.api, f.tenant.id);
  EnrolledAgent other = enrollThroughApi(*f.store, f.api, f.tenant.id);
  std::string good = makeBatch(agent.agent_id, 1, 1, someRecords());

  auto expect = [&](http::Request request, int status, const std::string& code) {
    http::Response response = f.api.handleIngest(request);
    CHECK(response.status == status);
    CHECK(errorCode(response) == code);
    return response;
  };
  SUBCASE("authentication") {
    http::Request missing = ingestRequest(agent.secret, good);
    missing.headers.erase(missing.headers.begin());
    http::Response response = expect(missing, 401, "unauthenticated");
    const std::string* challenge = responseHeader(response, "WWW-Authenticate");
    REQUIRE(challenge != nullptr);
    CHECK(*challenge == "Bearer");
    expect(ingestRequest("fas_wrong", good), 401, "unauthenticated");
    expect(ingestRequest("", good), 401, "unauthenticated");
    http::Request basic = ingestRequest(agent.secret, good);
    basic.headers[0].second = "Basic " + agent.secret;
    expect(basic, 401, "unauthenticated");
  }
  SUBCASE("media type and encoding") {
    http::Request json_type = ingestRequest(agent.secret, good);
    json_type.headers[1].second = "application/json";
    expect(json_type, 415, "unsupported_media_type");
    http::Request gzip = ingestRequest(agent.secret, good);
    gzip.headers[2].second = "gzip";
    expect(gzip, 415, "unsupported_media_type");
    http::Request no_encoding = ingestRequest(agent.secret, good);
    no_encoding.headers.pop_back();
    expect(no_encoding, 415, "unsupported_media_type");
  }
  SUBCASE("corrupt, truncated and empty batches") {
    expect(ingestRequest(agent.secret, "definitely not zstd"), 400, "bad_batch");
    expect(ingestRequest(agent.secret, good.substr(0, good.size() / 2)), 400, "bad_batch");
    expect(ingestRequest(agent.secret, ""), 400, "bad_batch");
    std::string flipped = good;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x55);
    http::Response response = f.api.handleIngest(ingestRequest(agent.secret, flipped));
    CHECK(response.status == 400);
    auto not_msgpack = wire::zstdCompress("{\"json\": true}");
    REQUIRE(not_msgpack.isOk());
    http::Response bad = expect(ingestRequest(agent.secret, *not_msgpack), 400, "bad_batch");
    CHECK(bad.body.find("message") != std::string::npos);
  }
  SUBCASE("oversized body and oversized decompressed batch") {
    std::string big(70 * 1024, 'x');
    expect(ingestRequest(agent.secret, big), 413, "payload_too_large");
    std::vector<TestRecord> many;
    for (int i = 0; i < 64; ++i) {
      many.push_back({"/var/log/app.log", i, std::string(8 * 1024, 'a')});
    }
    std::string bomb = makeBatch(agent.agent_id, 1, 2, many);
    REQUIRE(bomb.size() < 64 * 1024);  // compresses well; expands past the limit
    expect(ingestRequest(agent.secret, bomb), 413, "payload_too_large");
  }
  SUBCASE("a batch for another agent than the secret's") {
    expect(ingestRequest(other.secret, good), 403, "agent_mismatch");
  }
  CHECK(f.count("logs_batches") == 0);
  CHECK(f.count("logs_batch_sources") == 0);
  CHECK(queryInt(f.path, "SELECT SUM(batches) FROM agents_agents") == 0);
}

TEST_CASE("ingest: tenant B's agent cannot write tenant A's data") {
  ApiFixture f;
  auto b = f.store->createTenant("tenant-b", nowUnixNanos());
  REQUIRE(b.isOk());
  EnrolledAgent agent_a = enrollThroughApi(*f.store, f.api, f.tenant.id);
  EnrolledAgent agent_b = enrollThroughApi(*f.store, f.api, b->id);
  CHECK(agent_b.tenant_id == b->id);
  // B's secret with a batch naming A's agent.
  http::Response response = f.api.handleIngest(
      ingestRequest(agent_b.secret, makeBatch(agent_a.agent_id, 1, 1, someRecords())));
  CHECK(response.status == 403);
  CHECK(errorCode(response) == "agent_mismatch");
  REQUIRE(f.api
              .handleIngest(
                  ingestRequest(agent_b.secret, makeBatch(agent_b.agent_id, 1, 1, someRecords())))
              .status == 200);
  CHECK(f.count("logs_batches WHERE tenant_id = '" + f.tenant.id + "'") == 0);
  CHECK(f.count("logs_batches WHERE tenant_id = '" + b->id + "'") == 1);
}

TEST_CASE("ingest: a full write queue answers 503 overloaded with Retry-After") {
  store::sqlite::SqliteStoreOptions store_options;
  store_options.max_pending_writes = 1;
  store_options.busy_timeout_ms = 20'000;
  ApiFixture f({}, store_options);
  EnrolledAgent agent = enrollThroughApi(*f.store, f.api, f.tenant.id);

  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(f.path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  http::Response first;
  std::thread sender([&] {
    first = f.api.handleIngest(
        ingestRequest(agent.secret, makeBatch(agent.agent_id, 1, 1, someRecords())));
  });
  while (f.store->pendingWrites() < 1) {
    std::this_thread::yield();
  }
  http::Response refused = f.api.handleIngest(
      ingestRequest(agent.secret, makeBatch(agent.agent_id, 1, 2, someRecords())));
  CHECK(refused.status == 503);
  CHECK(errorCode(refused) == "overloaded");
  const std::string* retry = responseHeader(refused, "Retry-After");
  REQUIRE(retry != nullptr);
  CHECK(*retry == "1");
  REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);
  sender.join();
  CHECK(first.status == 200);
  CHECK(f.count("logs_batches") == 1);
}

namespace {
http::Request heartbeatRequest(const std::string& secret, std::string body,
                               std::string content_type = "application/json") {
  http::Request request;
  request.method = "POST";
  request.path = "/v1/agents/heartbeat";
  request.headers = {{"authorization", "Bearer " + secret}, {"content-type", content_type}};
  request.body = std::move(body);
  request.remote_address = "127.0.0.1:40000";
  return request;
}
}  // namespace

TEST_CASE("heartbeat: stored for the authenticated agent only; bad ones refused, nothing stored") {
  ApiFixture f;
  EnrolledAgent agent = enrollThroughApi(*f.store, f.api, f.tenant.id);
  auto stored_json = [&] {
    auto agents = f.store->listAgents(f.tenant.id);
    REQUIRE(agents.isOk());
    return agents->at(0).heartbeat_json;
  };
  CHECK(f.api.handleHeartbeat(heartbeatRequest("fas_wrong", "{}")).status == 401);
  CHECK(f.api.handleHeartbeat(heartbeatRequest(agent.secret, "{}", "text/plain")).status == 415);
  http::Response bad = f.api.handleHeartbeat(heartbeatRequest(agent.secret, "[1,2]"));
  CHECK(bad.status == 400);
  CHECK(errorCode(bad) == "bad_heartbeat");
  CHECK(f.api.handleHeartbeat(heartbeatRequest(agent.secret, "{\"v\": tru")).status == 400);
  CHECK(
      f.api.handleHeartbeat(heartbeatRequest(agent.secret, std::string(300 * 1024, ' '))).status ==
      413);
  CHECK(stored_json().empty());

  http::Response ok = f.api.handleHeartbeat(
      heartbeatRequest(agent.secret, R"({"version":"1.2.3","spool":{"batches":2}})"));
  CHECK(ok.status == 200);
  CHECK(json::parse(stored_json())["spool"]["batches"] == 2);
  auto agents = f.store->listAgents(f.tenant.id);
  REQUIRE(agents.isOk());
  CHECK(agents->at(0).version == "1.2.3");
  CHECK(agents->at(0).last_heartbeat_ns > 0);
}

TEST_CASE("rate limits: per agent, per tenant and per address, answered 429 with Retry-After") {
  http::RateLimits limits =
      http::RateLimits::create({.per_second = 1e-3, .burst = 3}, {.per_second = 1e-3, .burst = 2},
                               {.per_second = 1e-3, .burst = 3});
  ingest::AgentApiOptions options;
  options.rate_limits = &limits;
  ApiFixture f(options);
  // These enrollment requests carry no client address, so only the later ones are limited.
  EnrolledAgent first = enrollThroughApi(*f.store, f.api, f.tenant.id);
  EnrolledAgent second = enrollThroughApi(*f.store, f.api, f.tenant.id);
  http::Request ingest_first =
      ingestRequest(first.secret, makeBatch(first.agent_id, 1, 1, someRecords()));
  ingest_first.remote_address = "10.0.0.1:4000";
  http::Request ingest_second =
      ingestRequest(second.secret, makeBatch(second.agent_id, 1, 1, someRecords()));
  ingest_second.remote_address = "10.0.0.2:4000";

  // The first agent's burst is 2: its third request is refused, naming the principal limit.
  CHECK(f.api.handleIngest(ingest_first).status == 200);
  CHECK(f.api.handleIngest(ingest_first).status == 200);  // a resend: same answer, no new row
  http::Response refused = f.api.handleIngest(ingest_first);
  CHECK(refused.status == 429);
  CHECK(errorCode(refused) == "rate_limited");
  CHECK(json::parse(refused.body)["error"]["limit"] == "principal");
  const std::string* retry_after = responseHeader(refused, "Retry-After");
  REQUIRE(retry_after != nullptr);
  CHECK(std::stoll(*retry_after) >= 1);
  // The second agent has its own bucket, but the tenant's (3) runs out on its second request.
  CHECK(f.api.handleIngest(ingest_second).status == 200);
  http::Response tenant_refused = f.api.handleIngest(ingest_second);
  CHECK(tenant_refused.status == 429);
  CHECK(json::parse(tenant_refused.body)["error"]["limit"] == "tenant");
  CHECK(f.count("logs_batches") == 2);

  // The address limit applies before authentication: a flood of bad secrets from one address
  // is cut off without reaching the store.
  http::Request guess = ingestRequest("fas_wrong", makeBatch(first.agent_id, 9, 1, someRecords()));
  guess.remote_address = "10.9.9.9:5000";
  int unauthenticated = 0;
  int limited = 0;
  for (int i = 0; i < 6; ++i) {
    const int status = f.api.handleIngest(guess).status;
    unauthenticated += status == 401;
    limited += status == 429;
  }
  CHECK(unauthenticated == 3);
  CHECK(limited == 3);
}
