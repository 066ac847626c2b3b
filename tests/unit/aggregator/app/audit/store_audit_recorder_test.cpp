// What the aggregator records in the audit log today: tenant and enrollment token creation by
// the admin commands, agent enrollment, and failed agent authentication (throttled, in the
// system chain), never one entry per ingested batch.
#include "aggregator/audit/store_audit_recorder.h"

#include <doctest/doctest.h>

#include "aggregator/admin/admin.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

struct Fixture {
  Fixture() : store(openStore(dir.file("db.sqlite"))), recorder(*store), api(*store, options()) {}

  ingest::AgentApiOptions options() {
    ingest::AgentApiOptions api_options;
    api_options.audit = &recorder;
    return api_options;
  }
  std::vector<store::AuditEntry> entries(const std::string& chain) {
    auto page = store->queryAudit(chain, {});
    REQUIRE_MESSAGE(page.isOk(), page.status().toString());
    return page->entries;
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  audit::StoreAuditRecorder recorder;
  ingest::AgentApi api;
};

}  // namespace

TEST_CASE("audit recorder: stamps the time when the event has none") {
  Fixture f;
  audit::AuditEvent event;
  event.actor = "admin-cli";
  event.action = "test.stamp";
  std::int64_t before = nowUnixNanos();
  REQUIRE(f.recorder.record(event).isOk());
  auto stored = f.entries("");
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].at_ns >= before);
  CHECK(stored[0].at_ns <= nowUnixNanos());
  event.outcome = "perhaps";
  CHECK(f.recorder.record(event).code() == Errc::InvalidArgument);
}

TEST_CASE("audit recorder: admin commands record tenant and token creation") {
  Fixture f;
  auto tenant = admin::createTenant(*f.store, f.recorder, "acme");
  REQUIRE(tenant.isOk());
  auto token = admin::createEnrollmentToken(*f.store, f.recorder, "acme", std::chrono::hours(1));
  REQUIRE(token.isOk());

  auto system = f.entries("");
  REQUIRE(system.size() == 1);
  CHECK(system[0].action == "tenant.create");
  CHECK(system[0].actor == "admin-cli");
  CHECK(system[0].target == "tenant:" + tenant->id);
  CHECK(system[0].detail_json.find("\"acme\"") != std::string::npos);

  auto tenant_chain = f.entries(tenant->id);
  REQUIRE(tenant_chain.size() == 1);
  CHECK(tenant_chain[0].action == "enrollment_token.create");
  CHECK(tenant_chain[0].actor == "admin-cli");
  // The token itself never reaches the log; a prefix of its hash names it.
  CHECK(tenant_chain[0].target == "enrollment_token:" + crypto::hashSecret(*token).substr(0, 12));
  for (const store::AuditEntry& entry : tenant_chain) {
    CHECK(entry.detail_json.find(*token) == std::string::npos);
    CHECK(entry.target.find(*token) == std::string::npos);
  }

  auto verified = admin::verifyAudit(*f.store, "acme");
  REQUIRE(verified.isOk());
  CHECK(verified->intact);
  CHECK(verified->entries == 1);
  CHECK(admin::verifyAudit(*f.store, "nobody").code() == Errc::NotFound);
}

TEST_CASE("audit recorder: enrollment and failed agent auth are recorded, batches are not") {
  Fixture f;
  auto tenant = admin::createTenant(*f.store, f.recorder, "acme");
  REQUIRE(tenant.isOk());
  auto token = admin::createEnrollmentToken(*f.store, f.recorder, "acme", std::chrono::hours(1));
  REQUIRE(token.isOk());
  http::Request enroll = enrollRequest(enrollBody(*token, "web-1"));
  enroll.remote_address = "10.0.0.7:5000";
  http::Response enrolled = f.api.handleEnroll(enroll);
  REQUIRE_MESSAGE(enrolled.status == 201, enrolled.body);
  auto body = nlohmann::json::parse(enrolled.body);
  const std::string agent_id = body["agent_id"].get<std::string>();
  const std::string secret = body["secret"].get<std::string>();

  auto chain = f.entries(tenant->id);
  REQUIRE(chain.size() == 2);
  CHECK(chain[1].action == "agent.enroll");
  CHECK(chain[1].actor == "agent:" + agent_id);
  CHECK(chain[1].target == "agent:" + agent_id);
  CHECK(chain[1].client_address == "10.0.0.7:5000");
  CHECK(chain[1].detail_json.find("web-1") != std::string::npos);
  CHECK(chain[1].detail_json.find(secret) == std::string::npos);

  // Ten batches: counted, not audited.
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    http::Response stored = f.api.handleIngest(
        ingestRequest(secret, makeBatch(agent_id, 1, seq, {{"/var/log/a", 1, "line"}})));
    REQUIRE(stored.status == 200);
  }
  CHECK(f.entries(tenant->id).size() == 2);
  CHECK(f.api.stats().batches == 10);
  CHECK(f.api.stats().records == 10);

  // A reused token and bad secrets: failures in the system chain, one per client and minute.
  http::Response reused = f.api.handleEnroll(enroll);
  CHECK(reused.status == 401);
  for (int i = 0; i < 20; ++i) {
    http::Response refused = f.api.handleIngest(
        ingestRequest("fas_wrong", makeBatch(agent_id, 1, 99, {{"/var/log/a", 1, "x"}})));
    CHECK(refused.status == 401);
  }
  http::Request other_client =
      ingestRequest("fas_wrong", makeBatch(agent_id, 1, 99, {{"/var/log/a", 1, "x"}}));
  other_client.remote_address = "192.0.2.9:1234";
  CHECK(f.api.handleIngest(other_client).status == 401);
  CHECK(f.api.stats().auth_failures == 22);

  std::vector<store::AuditEntry> failures;
  for (const store::AuditEntry& entry : f.entries("")) {
    if (entry.outcome == "failure") {
      failures.push_back(entry);
    }
  }
  REQUIRE(failures.size() == 3);
  CHECK(failures[0].action == "agent.enroll");
  CHECK(failures[0].detail_json.find("token_used") != std::string::npos);
  CHECK(failures[1].action == "agent.auth_failed");
  CHECK(failures[1].actor == "anonymous");
  CHECK(failures[1].client_address == "127.0.0.1:40000");
  CHECK(failures[2].client_address == "192.0.2.9:1234");
  CHECK(f.entries(tenant->id).size() == 2);
}

TEST_CASE("audit throttle: one per key per window, with the count suppressed in between") {
  audit::AuditThrottle throttle({1000, 3, 100});
  std::uint64_t suppressed = 99;
  CHECK(throttle.admit("a", 0, &suppressed));
  CHECK(suppressed == 0);
  CHECK_FALSE(throttle.admit("a", 10, &suppressed));
  CHECK_FALSE(throttle.admit("a", 999, &suppressed));
  CHECK(throttle.admit("b", 10, &suppressed));
  CHECK(throttle.admit("a", 1000, &suppressed));
  CHECK(suppressed == 2);
  CHECK_FALSE(throttle.admit("a", 1500, &suppressed));
  // Bounded: a fourth key forgets the others, so "a" is admitted again at once.
  CHECK(throttle.admit("c", 1500, &suppressed));
  CHECK(throttle.admit("d", 1500, &suppressed));
  CHECK(throttle.admit("a", 1501, &suppressed));
}

TEST_CASE("audit throttle: a cap over all keys per window") {
  audit::AuditThrottle throttle({1000, 100, 2});
  std::uint64_t suppressed = 0;
  CHECK(throttle.admit("a", 0, &suppressed));
  CHECK(throttle.admit("b", 1, &suppressed));
  CHECK_FALSE(throttle.admit("c", 2, &suppressed));  // over the cap: suppressed, not lost
  CHECK_FALSE(throttle.admit("c", 3, &suppressed));
  CHECK(throttle.admit("c", 1000, &suppressed));  // next window
  CHECK(suppressed == 2);
}

TEST_CASE("audit: clientHost strips the port") {
  CHECK(audit::clientHost("127.0.0.1:53422") == "127.0.0.1");
  CHECK(audit::clientHost("[::1]:80") == "::1");
  CHECK(audit::clientHost("::1") == "::1");
  CHECK(audit::clientHost("") == "");
  CHECK(audit::clientHost("host") == "host");
}

TEST_CASE("admin audit export: JSON Lines and CSV, in seq order, from a time on") {
  Fixture f;
  REQUIRE(admin::createTenant(*f.store, f.recorder, "acme").isOk());
  auto tenant = f.store->findTenantByName("acme");
  REQUIRE(tenant.isOk());
  for (int i = 1; i <= 1205; ++i) {  // more than one store page
    audit::AuditEvent event;
    event.tenant_id = tenant->id;
    event.actor = i == 7 ? "=cmd|' /C calc'!A0" : "admin-cli";
    event.action = "test.export";
    event.detail_json = R"({"i":)" + std::to_string(i) + R"(,"q":"a\"b"})";
    event.at_ns = i * 1000;
    REQUIRE(f.recorder.record(event).isOk());
  }
  std::string jsonl;
  REQUIRE(admin::exportAudit(*f.store, "acme", 0, audit::ExportFormat::Jsonl,
                             [&](std::string_view chunk) {
                               jsonl.append(chunk);
                               return Status::ok();
                             })
              .isOk());
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  while (start < jsonl.size()) {
    std::size_t end = jsonl.find('\n', start);
    REQUIRE(end != std::string::npos);
    lines.push_back(nlohmann::json::parse(jsonl.substr(start, end - start)));
    start = end + 1;
  }
  REQUIRE(lines.size() == 1205);
  CHECK(lines[0]["seq"] == 1);
  CHECK(lines[1204]["seq"] == 1205);
  CHECK(lines[4]["detail"]["i"] == 5);
  CHECK(lines[4]["detail"]["q"] == "a\"b");

  std::string csv;
  REQUIRE(admin::exportAudit(*f.store, "acme", 1200 * 1000, audit::ExportFormat::Csv,
                             [&](std::string_view chunk) {
                               csv.append(chunk);
                               return Status::ok();
                             })
              .isOk());
  CHECK(csv.rfind(audit::csvHeader(), 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 6);
  CHECK(csv.find("\"{\"\"i\"\":1200,\"\"q\"\":\"\"a\\\"\"b\"\"}\"") != std::string::npos);

  std::string formula;
  REQUIRE(admin::exportAudit(*f.store, "acme", 7000, audit::ExportFormat::Csv,
                             [&](std::string_view chunk) {
                               formula.append(chunk);
                               return Status::ok();
                             })
              .isOk());
  // A cell a spreadsheet would run is defused with a leading quote.
  CHECK(formula.find("\"'=cmd|' /C calc'!A0\"") != std::string::npos);
}
