#include "aggregator/admin/admin.h"

#include <doctest/doctest.h>

#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

struct AdminFixture {
  AdminFixture() : store(openStore(dir.file("db.sqlite"))), api(*store, {}) {}

  /// Enrolls an agent for `tenant_name` with a token made by the admin command.
  EnrolledAgent agentFor(const std::string& tenant_name) {
    auto token = admin::createEnrollmentToken(*store, *audit, tenant_name, std::chrono::hours(1));
    REQUIRE(token.isOk());
    http::Response response = api.handleEnroll(enrollRequest(enrollBody(*token)));
    REQUIRE_MESSAGE(response.status == 201, response.body);
    auto body = nlohmann::json::parse(response.body);
    return {body["agent_id"].get<std::string>(), body["secret"].get<std::string>(),
            body["tenant_id"].get<std::string>()};
  }
  void send(const EnrolledAgent& agent, std::uint64_t seq, const std::vector<TestRecord>& records) {
    http::Response response =
        api.handleIngest(ingestRequest(agent.secret, makeBatch(agent.agent_id, 1, seq, records)));
    REQUIRE_MESSAGE(response.status == 200, response.body);
  }
  std::string exportText(const std::string& tenant, const admin::ExportFilter& filter = {}) {
    std::string out;
    auto stats =
        admin::exportLogs(*store, tenant, filter, wire::Limits{}, [&](std::string_view chunk) {
          out.append(chunk);
          return Status::ok();
        });
    REQUIRE_MESSAGE(stats.isOk(), stats.status().toString());
    CHECK(stats->bytes == out.size());
    return out;
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  std::unique_ptr<audit::StoreAuditRecorder> audit =
      std::make_unique<audit::StoreAuditRecorder>(*store);
  ingest::AgentApi api;
};

}  // namespace

TEST_CASE("admin: tenant names are checked and duplicates refused") {
  AdminFixture f;
  auto created = admin::createTenant(*f.store, *f.audit, "acme");
  REQUIRE(created.isOk());
  CHECK(admin::createTenant(*f.store, *f.audit, "acme").code() == Errc::AlreadyExists);
  CHECK(admin::createTenant(*f.store, *f.audit, "Bad Name").code() == Errc::InvalidArgument);
  CHECK(admin::createEnrollmentToken(*f.store, *f.audit, "nobody", std::chrono::hours(1)).code() ==
        Errc::NotFound);
  auto token = admin::createEnrollmentToken(*f.store, *f.audit, "acme", std::chrono::hours(1));
  REQUIRE(token.isOk());
  CHECK(token->rfind("fet_", 0) == 0);
  CHECK(queryInt(f.dir.file("db.sqlite"),
                 "SELECT COUNT(*) FROM agents_enrollment_tokens "
                 "WHERE token_hash = '" +
                     crypto::hashSecret(*token) + "'") == 1);
}

TEST_CASE("export: lines come back byte for byte, CR, empty, non-UTF-8 and split pieces") {
  AdminFixture f;
  REQUIRE(admin::createTenant(*f.store, *f.audit, "acme").isOk());
  EnrolledAgent agent = f.agentFor("acme");
  const std::string binary("\x00\xff\xfe bin\xc3\x28", 10);
  f.send(agent, 1,
         {{"/var/log/a.log", 10, "first\r"},
          {"/var/log/a.log", 11, ""},
          {"/var/log/a.log", 12, binary},
          {"/var/log/a.log", 13, "long-line-part-1|", true},
          {"/var/log/a.log", 14, "part-2"}});
  f.send(agent, 2, {{"/var/log/a.log", 20, "no newline at end of file", true}});
  std::string expected =
      "first\r\n\n" + binary + "\nlong-line-part-1|part-2\n" + "no newline at end of file";
  CHECK(f.exportText("acme") == expected);
}

TEST_CASE("export: each agent stream in seq order, then record order, and filters apply") {
  AdminFixture f;
  REQUIRE(admin::createTenant(*f.store, *f.audit, "acme").isOk());
  EnrolledAgent agent = f.agentFor("acme");
  f.send(agent, 2, {{"/srv/a.log", 300, "a3"}, {"/srv/b.log", 100, "b1"}});
  f.send(agent, 1, {{"/srv/a.log", 200, "a2"}, {"/srv/b.log", 400, "b4"}});
  f.send(agent, 3, {{"/srv/c.txt", 500, "c5"}});
  // seq 2 arrived first (pipelined or retried batches commit out of order), but an agent's
  // stream is exported in its own order: seq 1, 2, 3.
  CHECK(f.exportText("acme") == "a2\nb4\na3\nb1\nc5\n");

  admin::ExportFilter only_a;
  only_a.source_glob = "*/a.log";
  CHECK(f.exportText("acme", only_a) == "a2\na3\n");
  admin::ExportFilter logs;
  logs.source_glob = "/srv/*.log";
  CHECK(f.exportText("acme", logs) == "a2\nb4\na3\nb1\n");
  admin::ExportFilter none;
  none.source_glob = "/nowhere/*";
  CHECK(f.exportText("acme", none).empty());

  admin::ExportFilter window;
  window.since_ns = 200;  // inclusive
  window.until_ns = 400;  // exclusive
  CHECK(f.exportText("acme", window) == "a2\na3\n");
  admin::ExportFilter since;
  since.since_ns = 400;
  CHECK(f.exportText("acme", since) == "b4\nc5\n");
  admin::ExportFilter both = only_a;
  both.until_ns = 250;
  CHECK(f.exportText("acme", both) == "a2\n");
}

TEST_CASE("export: agent streams come in the order they first arrived") {
  AdminFixture f;
  REQUIRE(admin::createTenant(*f.store, *f.audit, "acme").isOk());
  EnrolledAgent x = f.agentFor("acme");
  EnrolledAgent y = f.agentFor("acme");
  f.send(y, 1, {{"/srv/y.log", 1, "y1"}});
  f.send(x, 2, {{"/srv/x.log", 2, "x2"}});
  f.send(y, 2, {{"/srv/y.log", 3, "y2"}});
  f.send(x, 1, {{"/srv/x.log", 1, "x1"}});
  CHECK(f.exportText("acme") == "y1\ny2\nx1\nx2\n");
}

TEST_CASE("export: a tenant never sees another tenant's lines") {
  AdminFixture f;
  REQUIRE(admin::createTenant(*f.store, *f.audit, "tenant-a").isOk());
  REQUIRE(admin::createTenant(*f.store, *f.audit, "tenant-b").isOk());
  EnrolledAgent a = f.agentFor("tenant-a");
  EnrolledAgent b = f.agentFor("tenant-b");
  f.send(a, 1, {{"/var/log/shared.log", 1, "secret of a"}});
  f.send(b, 1, {{"/var/log/shared.log", 1, "secret of b"}});
  f.send(a, 2, {{"/var/log/shared.log", 2, "more of a"}});
  CHECK(f.exportText("tenant-a") == "secret of a\nmore of a\n");
  CHECK(f.exportText("tenant-b") == "secret of b\n");
  admin::ExportFilter glob;
  glob.source_glob = "*";
  CHECK(f.exportText("tenant-b", glob) == "secret of b\n");
  auto missing = admin::exportLogs(*f.store, "tenant-c", {}, wire::Limits{},
                                   [](std::string_view) { return Status::ok(); });
  CHECK(missing.code() == Errc::NotFound);
}

TEST_CASE("export: streams in bounded chunks and stops at the first write error") {
  AdminFixture f;
  REQUIRE(admin::createTenant(*f.store, *f.audit, "acme").isOk());
  EnrolledAgent agent = f.agentFor("acme");
  std::string expected;
  for (std::uint64_t seq = 1; seq <= 4; ++seq) {
    std::vector<TestRecord> records;
    for (int i = 0; i < 500; ++i) {
      std::string line = "batch " + std::to_string(seq) + " line " + std::to_string(i) + " " +
                         std::string(200, 'x');
      records.push_back({"/var/log/app.log", i, line});
      expected += line + "\n";
    }
    f.send(agent, seq, records);
  }
  std::size_t largest = 0;
  std::size_t chunks = 0;
  std::string out;
  auto stats = admin::exportLogs(*f.store, "acme", {}, wire::Limits{}, [&](std::string_view c) {
    largest = std::max(largest, c.size());
    ++chunks;
    out.append(c);
    return Status::ok();
  });
  REQUIRE(stats.isOk());
  CHECK(out == expected);
  CHECK(stats->records == 2000);
  CHECK(stats->batches == 4);
  CHECK(chunks > 4);
  CHECK(largest < 64 * 1024 + 512);

  int calls = 0;
  auto failed = admin::exportLogs(*f.store, "acme", {}, wire::Limits{}, [&](std::string_view) {
    ++calls;
    return Status(Errc::Unavailable, "broken pipe");
  });
  CHECK(failed.code() == Errc::Unavailable);
  CHECK(calls == 1);
}

TEST_CASE("admin: agents list shows each agent's counters and last contact") {
  AdminFixture f;
  REQUIRE(admin::createTenant(*f.store, *f.audit, "acme").isOk());
  REQUIRE(admin::createTenant(*f.store, *f.audit, "other").isOk());
  EnrolledAgent agent = f.agentFor("acme");
  EnrolledAgent idle = f.agentFor("acme");
  EnrolledAgent foreign = f.agentFor("other");
  f.send(agent, 1, {{"/a", 1, "x"}, {"/a", 2, "y"}});
  f.send(agent, 2, {{"/a", 3, "z"}});
  auto listed = admin::listAgents(*f.store, "acme");
  REQUIRE(listed.isOk());
  CHECK(listed->rfind("AGENT_ID\tHOSTNAME\tVERSION\tENROLLED_AT\tLAST_SEEN\tLAST_HEARTBEAT\t"
                      "BATCHES\tRECORDS\tSPOOL_BATCHES\tLAG_BYTES\n",
                      0) == 0);
  CHECK(listed->find(agent.agent_id + "\thost1\t") != std::string::npos);
  CHECK(listed->find("\tnever\t2\t3\t-\t-\n") != std::string::npos);
  CHECK(listed->find(idle.agent_id) != std::string::npos);
  CHECK(listed->find("\t-\tnever\t0\t0\t-\t-\n") != std::string::npos);
  CHECK(listed->find(foreign.agent_id) == std::string::npos);
  CHECK(admin::listAgents(*f.store, "ghost").code() == Errc::NotFound);

  // A heartbeat: spool depth and lag summed over files come from the status document.
  auto acme = f.store->findTenantByName("acme");
  REQUIRE(acme.isOk());
  store::AgentHeartbeat beat;
  beat.tenant_id = acme->id;
  beat.agent_id = agent.agent_id;
  beat.version = "9.9.9";
  beat.status_json = R"({"version":"9.9.9","spool":{"batches":4},)"
                     R"("files":[{"size":100,"read_offset":40},{"size":7,"read_offset":7}]})";
  beat.received_at_ns = 1'800'000'000'000'000'000;
  REQUIRE(f.store->recordHeartbeat(beat).isOk());
  listed = admin::listAgents(*f.store, "acme");
  REQUIRE(listed.isOk());
  CHECK(listed->find(agent.agent_id + "\thost1\t9.9.9\t") != std::string::npos);
  CHECK(listed->find("\t2\t3\t4\t60\n") != std::string::npos);
  // Another tenant's agent id cannot be written through this tenant.
  beat.agent_id = foreign.agent_id;
  CHECK(f.store->recordHeartbeat(beat).code() == Errc::NotFound);
}
