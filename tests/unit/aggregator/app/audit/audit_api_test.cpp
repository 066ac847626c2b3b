// GET /v1/audit called directly with an authorized tenant: filters, cursor pages, JSON Lines,
// refused parameters, and the admin-token guard that stands in front of it for now.
#include "aggregator/audit/audit_api.h"

#include <doctest/doctest.h>

#include <fstream>

#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {


struct Fixture {
  Fixture() : store(openStore(dir.file("db.sqlite"))), recorder(*store) {
    auto a = store->createTenant("tenant-a", 1);
    auto b = store->createTenant("tenant-b", 1);
    REQUIRE(a.isOk());
    REQUIRE(b.isOk());
    tenant_a = a->id;
    tenant_b = b->id;
    for (int i = 1; i <= 12; ++i) {
      audit::AuditEvent event;
      event.tenant_id = tenant_a;
      event.actor = i % 4 == 0 ? "agent:agt_1" : "admin-cli";
      event.action = i % 2 == 0 ? "agent.enroll" : "enrollment_token.create";
      event.outcome = i == 5 ? "failure" : "success";
      event.at_ns = 1'700'000'000'000'000'000 + i * 1'000'000'000LL;  // one per second
      REQUIRE(recorder.record(event).isOk());
    }
    audit::AuditEvent other;
    other.tenant_id = tenant_b;
    other.actor = "agent:agt_b";
    other.action = "agent.enroll";
    other.at_ns = 1'700'000'005'000'000'000;
    REQUIRE(recorder.record(other).isOk());
  }

  http::Response get(const std::string& tenant_id, const std::string& query,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request request;
    request.method = "GET";
    request.path = "/v1/audit";
    request.query = query;
    request.headers = std::move(headers);
    return audit::handleAuditQuery(*store, tenant_id, request);
  }
  nlohmann::json getJson(const std::string& tenant_id, const std::string& query) {
    http::Response response = get(tenant_id, query);
    REQUIRE_MESSAGE(response.status == 200, response.body);
    return nlohmann::json::parse(response.body);
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  audit::StoreAuditRecorder recorder;
  std::string tenant_a;
  std::string tenant_b;
};

}  // namespace

TEST_CASE("audit api: entries, filters and the tenant boundary") {
  Fixture f;
  auto all = f.getJson(f.tenant_a, "");
  REQUIRE(all["entries"].size() == 12);
  CHECK(all["next_cursor"].is_null());
  const auto& first = all["entries"][0];
  CHECK(first["seq"] == 1);
  CHECK(first["tenant_id"] == f.tenant_a);
  CHECK(first["at"] == "2023-11-14T22:13:21.000Z");
  CHECK(first["detail"].is_object());
  CHECK(first["hash"].get<std::string>().size() == 64);
  CHECK(all["entries"][1]["prev_hash"] == first["hash"]);

  CHECK(f.getJson(f.tenant_a, "action=agent.enroll")["entries"].size() == 6);
  CHECK(f.getJson(f.tenant_a, "actor=agent%3Aagt_1")["entries"].size() == 3);
  CHECK(f.getJson(f.tenant_a, "outcome=failure")["entries"].size() == 1);
  auto timed = f.getJson(f.tenant_a, "since=2023-11-14T22:13:23Z&until=1700000006");
  REQUIRE(timed["entries"].size() == 3);
  CHECK(timed["entries"][0]["seq"] == 3);
  CHECK(timed["entries"][2]["seq"] == 5);

  // Tenant B's entries are never visible through A, whatever the filter.
  CHECK(f.getJson(f.tenant_a, "actor=agent%3Aagt_b")["entries"].empty());
  auto b = f.getJson(f.tenant_b, "");
  REQUIRE(b["entries"].size() == 1);
  CHECK(b["entries"][0]["tenant_id"] == f.tenant_b);
  // SQL metacharacters are values.
  CHECK(f.getJson(f.tenant_a, "actor=%27%20OR%20%271%27%3D%271")["entries"].empty());
  CHECK(f.getJson(f.tenant_a, "action=agent.enroll%27--")["entries"].empty());
}

TEST_CASE("audit api: cursor pages cover every entry once") {
  Fixture f;
  std::vector<int> seqs;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = f.getJson(f.tenant_a, "limit=5" + (cursor.empty() ? "" : "&cursor=" + cursor));
    for (const auto& entry : page["entries"]) {
      seqs.push_back(entry["seq"].get<int>());
    }
    if (page["next_cursor"].is_null()) {
      break;
    }
    cursor = page["next_cursor"].get<std::string>();
  }
  CHECK(seqs == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST_CASE("audit api: JSON Lines by format or Accept header") {
  Fixture f;
  for (auto [query, headers] :
       {std::pair<std::string, std::vector<std::pair<std::string, std::string>>>{"format=jsonl",
                                                                                 {}},
        {"", {{"accept", "application/x-ndjson"}}}}) {
    http::Response response =
        f.get(f.tenant_a, query + (query.empty() ? "" : "&") + "limit=10", headers);
    REQUIRE(response.status == 200);
    CHECK(*responseHeader(response, "Content-Type") == "application/x-ndjson");
    REQUIRE(responseHeader(response, "Faultline-Next-Cursor") != nullptr);
    CHECK(*responseHeader(response, "Faultline-Next-Cursor") == "10");
    int lines = 0;
    std::size_t start = 0;
    while (start < response.body.size()) {
      std::size_t end = response.body.find('\n', start);
      REQUIRE(end != std::string::npos);
      auto entry = nlohmann::json::parse(response.body.substr(start, end - start));
      CHECK(entry["seq"] == ++lines);
      start = end + 1;
    }
    CHECK(lines == 10);
  }
}

TEST_CASE("audit api: bad parameters are refused with the parameter named") {
  Fixture f;
  for (const char* query : {"limit=0", "limit=1001", "limit=abc", "limit=-1", "cursor=x",
                            "cursor=-5", "since=yesterday", "until=2023-13-45", "outcome=maybe",
                            "format=xml", "tenant_id=x", "tenant=other", "actor=a&drop=1"}) {
    INFO(query);
    http::Response response = f.get(f.tenant_a, query);
    CHECK(response.status == 400);
    CHECK(errorCode(response) == "bad_request");
  }
  http::Response response = f.get(f.tenant_a, "bogus=1");
  CHECK(response.body.find("bogus") != std::string::npos);
  response = f.get(f.tenant_a, "limit=0");
  CHECK(response.body.find("limit") != std::string::npos);
}
