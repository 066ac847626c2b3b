// GET /v1/agents handler: pages that cover every agent once, heartbeats shown, bad paging
// parameters refused, and another tenant's agents never listed.
#include "aggregator/api/agents_api.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "aggregator/api/pagination.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using nlohmann::json;

namespace {

struct AgentsFixture {
  AgentsFixture() : store(openStore(dir.file("db.sqlite"), {})) {
    acme = *store->createTenant("acme", nowUnixNanos());
    beta = *store->createTenant("beta", nowUnixNanos());
  }
  std::string enroll(const store::Tenant& tenant, std::string hostname) {
    std::string token = crypto::randomToken("fet_");
    const std::int64_t now = nowUnixNanos();
    REQUIRE(store
                ->createEnrollmentToken(tenant.id, crypto::hashSecret(token), now,
                                        now + 3'600'000'000'000)
                .isOk());
    store::NewAgent agent{crypto::hashSecret(token),
                          "agt_" + crypto::randomHex(16),
                          crypto::hashSecret(crypto::randomToken("fas_")),
                          std::move(hostname),
                          "1.2.3",
                          now};
    auto enrolled = store->enrollAgent(agent);
    REQUIRE(enrolled.isOk());
    return enrolled->agent_id;
  }
  json list(const store::Tenant& tenant, const std::string& query, int expect_status = 200) {
    http::Request request;
    request.method = "GET";
    request.path = "/v1/agents";
    request.query = query;
    http::Response response = api::listAgents(*store, tenant.id, request);
    CHECK(response.status == expect_status);
    return json::parse(response.body);
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  store::Tenant acme;
  store::Tenant beta;
};

}  // namespace

TEST_CASE("GET /v1/agents: pages of `limit` cover every agent once, with the last heartbeat") {
  AgentsFixture f;
  std::set<std::string> enrolled;
  for (int i = 0; i < 5; ++i) {
    enrolled.insert(f.enroll(f.acme, "web-" + std::to_string(i)));
  }
  const std::string beta_agent = f.enroll(f.beta, "other");
  const std::string watched = *enrolled.begin();
  REQUIRE(f.store
              ->recordHeartbeat({f.acme.id, watched, "1.2.4",
                                 R"({"spool":{"batches":3},"files":[{"lag_bytes":10}]})",
                                 nowUnixNanos()})
              .isOk());

  std::set<std::string> seen;
  std::string query = "limit=2";
  int pages = 0;
  for (;;) {
    json page = f.list(f.acme, query);
    ++pages;
    REQUIRE(page["agents"].is_array());
    CHECK(page["agents"].size() <= 2);
    for (const json& agent : page["agents"]) {
      CHECK(seen.insert(agent["agent_id"].get<std::string>()).second);
      CHECK(agent["enrolled_at"].is_string());
      CHECK(agent["last_seen"].is_null());
      if (agent["agent_id"] == watched) {
        CHECK(agent["version"] == "1.2.4");
        CHECK(agent["last_heartbeat"].is_string());
        CHECK(agent["status"]["spool"]["batches"] == 3);
      } else {
        CHECK(agent["status"].is_null());
        CHECK(agent["last_heartbeat"].is_null());
      }
    }
    if (page["next_cursor"].is_null()) {
      break;
    }
    query = "limit=2&cursor=" + page["next_cursor"].get<std::string>();
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  CHECK(seen == enrolled);
  CHECK(seen.count(beta_agent) == 0);

  // Default limit takes all five in one page.
  json all = f.list(f.acme, "");
  CHECK(all["agents"].size() == 5);
  CHECK(all["next_cursor"].is_null());
}

TEST_CASE("GET /v1/agents: another tenant's cursor or ids show nothing of the first tenant") {
  AgentsFixture f;
  for (int i = 0; i < 3; ++i) {
    f.enroll(f.acme, "acme-" + std::to_string(i));
  }
  f.enroll(f.beta, "beta-0");
  json first = f.list(f.acme, "limit=1");
  REQUIRE(first["next_cursor"].is_string());
  // Beta replaying acme's cursor gets beta's agents after that key, never acme's.
  json crossed = f.list(f.beta, "cursor=" + first["next_cursor"].get<std::string>());
  for (const json& agent : crossed["agents"]) {
    CHECK(agent["hostname"] == "beta-0");
  }
  json beta = f.list(f.beta, "");
  REQUIRE(beta["agents"].size() == 1);
  CHECK(beta["agents"][0]["hostname"] == "beta-0");
}

TEST_CASE("GET /v1/agents: bad limit and cursor values are 400 with a clear message") {
  AgentsFixture f;
  for (const char* query : {"limit=0", "limit=501", "limit=abc", "limit=-1", "limit=1e3"}) {
    CAPTURE(query);
    json body = f.list(f.acme, query, 400);
    CHECK(body["error"]["code"] == "bad_request");
    CHECK(body["error"]["message"].get<std::string>().find("limit") != std::string::npos);
  }
  for (const std::string& cursor :
       {std::string("nope"), std::string("c1.zz"), std::string("c1.abc"),
        api::encodeCursor({"only-one-field"}), api::encodeCursor({"notanumber", "agt_x"}),
        std::string("c1.") + std::string(2000, 'a'), std::string("c1.%27%20OR%201%3D1--")}) {
    CAPTURE(cursor);
    json body = f.list(f.acme, "cursor=" + cursor, 400);
    CHECK(body["error"]["message"].get<std::string>().find("cursor") != std::string::npos);
  }
}

TEST_CASE("pagination: cursors round-trip any bytes") {
  // Field bytes are hex-encoded; only the separator (0x1f) may not appear inside a field.
  auto decoded = api::decodeCursor(api::encodeCursor({"123", std::string("\0\xff", 2)}), 2);
  REQUIRE(decoded.isOk());
  CHECK((*decoded)[0] == "123");
  CHECK((*decoded)[1] == std::string("\0\xff", 2));
  CHECK(api::decodeCursor(api::encodeCursor({"x"}), 2).code() == Errc::InvalidArgument);
}
