// Batch v2 through the aggregator: ingest fills the per-tenant template dictionary, export
// renders templated records (texts from the batch or the dictionary), expands duplicates and
// skips aggregates; v1 batches keep working beside them.
#include <doctest/doctest.h>

#include "aggregator/admin/admin.h"
#include "aggregator/store/sqlite/migrations.h"
#include "shared/logtemplate/miner.h"
#include "shared/wire/batch_v1_builder.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using logtemplate::templateId;

namespace {

const std::string kLogin = "user <*> logged in from <*>";
const std::string kCheck = "health check <*> took <*>ms";

struct Fixture {
  Fixture() : store(openStore(dir.file("db.sqlite"))), api(*store, {}) {
    REQUIRE(admin::createTenant(*store, *audit, "acme").isOk());
    REQUIRE(admin::createTenant(*store, *audit, "other").isOk());
  }

  EnrolledAgent agentFor(const std::string& tenant_name) {
    auto token = admin::createEnrollmentToken(*store, *audit, tenant_name, std::chrono::hours(1));
    REQUIRE(token.isOk());
    http::Response response = api.handleEnroll(enrollRequest(enrollBody(*token)));
    REQUIRE_MESSAGE(response.status == 201, response.body);
    auto body = nlohmann::json::parse(response.body);
    return {body["agent_id"].get<std::string>(), body["secret"].get<std::string>(),
            body["tenant_id"].get<std::string>()};
  }

  http::Response send(const EnrolledAgent& agent, const std::string& body) {
    return api.handleIngest(ingestRequest(agent.secret, body));
  }

  Result<admin::ExportStats> exportTo(const std::string& tenant, std::string& out) {
    out.clear();
    return admin::exportLogs(*store, tenant, {}, wire::Limits{}, [&](std::string_view chunk) {
      out.append(chunk);
      return Status::ok();
    });
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  std::unique_ptr<audit::StoreAuditRecorder> audit =
      std::make_unique<audit::StoreAuditRecorder>(*store);
  ingest::AgentApi api;
};

std::string seal(wire::BatchBuilder& builder, const EnrolledAgent& agent, std::uint64_t seq) {
  auto sealed = builder.seal({agent.agent_id, 1, seq, nowUnixNanos()});
  REQUIRE(sealed.isOk());
  builder.reset();
  return std::move(sealed).value();
}

}  // namespace

TEST_CASE("export: v2 lines come back byte for byte, texts sent in earlier batches included") {
  Fixture f;
  EnrolledAgent agent = f.agentFor("acme");
  wire::BatchBuilder builder;
  std::string expected;

  // Batch 1 carries both texts; batch 2 references them only; batch 3 is a v1 batch of an
  // older agent version in the same stream.
  std::uint32_t src = builder.sourceIndex("/var/log/app.log");
  builder.addTemplated({src, 100, false, 3, 0}, templateId(kLogin), kLogin, true,
                       {"alice", "10.0.0.1"});
  builder.addRecord({src, 101, false, 0, 0}, std::string("raw \x01\xfe line", 11));
  builder.addTemplated({src, 102, false, 6, 0}, templateId(kCheck), kCheck, true, {"db", "0042"});
  expected += "user alice logged in from 10.0.0.1\n" + std::string("raw \x01\xfe line", 11) +
              "\nhealth check db took 0042ms\n";
  REQUIRE(f.send(agent, seal(builder, agent, 1)).status == 200);

  src = builder.sourceIndex("/var/log/app.log");
  builder.addTemplated({src, 200, false, 3, 0}, templateId(kCheck), kCheck, false, {"s3", "7"});
  builder.addTemplated({src, 201, true, 3, 0}, templateId(kLogin), kLogin, false,
                       {"bob", "192.168.1.20"});
  expected += "health check s3 took 7ms\nuser bob logged in from 192.168.1.20";  // no '\n'
  std::string second = seal(builder, agent, 2);
  {
    auto decoded = wire::decodeBatch(second);
    REQUIRE(decoded.isOk());
    CHECK((*decoded)->templates.empty());
  }
  REQUIRE(f.send(agent, second).status == 200);

  wire::V1BatchBuilder v1;
  v1.addRecord(v1.sourceIndex("/var/log/app.log"), 300, "from an old agent");
  auto old = v1.seal({agent.agent_id, 1, 3, nowUnixNanos()});
  REQUIRE(old.isOk());
  REQUIRE(f.send(agent, *old).status == 200);
  expected += "from an old agent\n";

  std::string out;
  auto stats = f.exportTo("acme", out);
  REQUIRE_MESSAGE(stats.isOk(), stats.status().toString());
  CHECK(out == expected);
  CHECK(stats->batches == 3);
  CHECK(stats->records == 6);
  CHECK(stats->lines == 6);
  CHECK(stats->aggregates == 0);
  CHECK(queryInt(f.dir.file("db.sqlite"), "SELECT COUNT(*) FROM logs_templates") == 2);
  CHECK(queryInt(f.dir.file("db.sqlite"), "SELECT MAX(version) FROM schema_migrations") ==
        aggregator::store::sqlite::latestSchemaVersion());
}

TEST_CASE("export: deduped records are expanded in place, aggregates are counted, not printed") {
  Fixture f;
  EnrolledAgent agent = f.agentFor("acme");
  wire::BatchBuilder builder;
  const std::uint32_t src = builder.sourceIndex("/s");
  builder.addRecord({src, 1, false, 0, 0}, "before");
  const std::size_t repeated =
      builder.addTemplated({src, 2, false, 5, 0}, templateId(kCheck), kCheck, true, {"x", "1"});
  for (int i = 0; i < 40'000; ++i) {  // more than one export chunk of copies
    builder.markDuplicate(repeated, 3 + i);
  }
  builder.addAggregate(src, templateId(kLogin), kLogin, true, 2, 500, 10, 20);
  const std::size_t raw_repeat = builder.addRecord({src, 4, true, 0, 0}, "nl-less");
  builder.markDuplicate(raw_repeat, 5);
  builder.addRecord({src, 6, false, 0, 0}, "after");
  REQUIRE(f.send(agent, seal(builder, agent, 1)).status == 200);

  std::string expected = "before\n";
  for (int i = 0; i < 40'001; ++i) {
    expected += "health check x took 1ms\n";
  }
  expected += "nl-lessnl-lessafter\n";
  std::string out;
  auto stats = f.exportTo("acme", out);
  REQUIRE_MESSAGE(stats.isOk(), stats.status().toString());
  CHECK(out == expected);
  CHECK(stats->records == 4);
  CHECK(stats->lines == 1 + 40'001 + 2 + 1);
  CHECK(stats->aggregates == 1);
  CHECK(stats->aggregated_lines == 500);
  CHECK(stats->bytes == expected.size());
}

TEST_CASE("export: a template the dictionary does not have stops it, naming id, batch, record") {
  Fixture f;
  EnrolledAgent agent = f.agentFor("acme");
  wire::BatchBuilder builder;
  const std::uint32_t src = builder.sourceIndex("/s");
  builder.addRecord({src, 1, false, 0, 0}, "fine");
  // The text would have come with a batch that has not arrived (yet).
  builder.addTemplated({src, 2, false, 0, 0}, templateId(kLogin), kLogin, false, {"a", "b"});
  REQUIRE(f.send(agent, seal(builder, agent, 7)).status == 200);

  std::string out;
  auto stats = f.exportTo("acme", out);
  REQUIRE_FALSE(stats.isOk());
  CHECK(stats.code() == Errc::FailedPrecondition);
  const std::string message = stats.status().message();
  CHECK(message.find(wire::templateIdText(templateId(kLogin))) != std::string::npos);
  CHECK(message.find("seq 7") != std::string::npos);
  CHECK(message.find("record 1") != std::string::npos);
  CHECK(message.find(agent.agent_id) != std::string::npos);

  // Once the text arrives (here in a later batch of the stream), the same export succeeds.
  builder.addTemplated({builder.sourceIndex("/s"), 3, false, 0, 0}, templateId(kLogin), kLogin,
                       true, {"c", "d"});
  REQUIRE(f.send(agent, seal(builder, agent, 8)).status == 200);
  stats = f.exportTo("acme", out);
  REQUIRE_MESSAGE(stats.isOk(), stats.status().toString());
  CHECK(out == "fine\nuser a logged in from b\nuser c logged in from d\n");
}

TEST_CASE("templates are per tenant: another tenant cannot resolve them, ids must match texts") {
  Fixture f;
  EnrolledAgent a = f.agentFor("acme");
  EnrolledAgent b = f.agentFor("other");
  wire::BatchBuilder builder;
  builder.addTemplated({builder.sourceIndex("/a"), 1, false, 0, 0}, templateId(kLogin), kLogin,
                       true, {"secret-user", "10.9.9.9"});
  REQUIRE(f.send(a, seal(builder, a, 1)).status == 200);

  // Tenant B references A's template id without sending the text: accepted (the aggregator
  // cannot know B never had it), but B's export cannot resolve it, and the store refuses too.
  builder.addTemplated({builder.sourceIndex("/b"), 1, false, 0, 0}, templateId(kLogin), kLogin,
                       false, {"x", "y"});
  REQUIRE(f.send(b, seal(builder, b, 1)).status == 200);
  std::string out;
  auto stats = f.exportTo("other", out);
  REQUIRE_FALSE(stats.isOk());
  CHECK(stats.status().message().find(wire::templateIdText(templateId(kLogin))) !=
        std::string::npos);
  CHECK(f.store->findTemplate(b.tenant_id, templateId(kLogin)).code() == Errc::NotFound);
  auto own = f.store->findTemplate(a.tenant_id, templateId(kLogin));
  REQUIRE(own.isOk());
  CHECK(*own == kLogin);

  // B cannot plant a different text under A's id either: the id is the text's hash.
  store::NewBatch forged;
  forged.tenant_id = b.tenant_id;
  forged.agent_id = b.agent_id;
  forged.seq = 99;
  forged.payload = "x";
  const std::string evil = "user <*> logged in from <*> (evil)";
  forged.templates = {{templateId(kLogin), evil}};
  CHECK(f.store->storeBatch(forged).code() == Errc::InvalidArgument);
  auto still = f.store->findTemplate(a.tenant_id, templateId(kLogin));
  REQUIRE(still.isOk());
  CHECK(*still == kLogin);
}

TEST_CASE("ingest: a v2 batch whose carried text does not match its id is refused") {
  Fixture f;
  EnrolledAgent agent = f.agentFor("acme");
  wire::BatchBuilder builder;
  // The builder trusts the caller's id; the aggregator does not.
  builder.addTemplated({builder.sourceIndex("/s"), 1, false, 0, 0}, templateId("other <*> <*>"),
                       kLogin, true, {"a", "b"});
  http::Response response = f.send(agent, seal(builder, agent, 1));
  CHECK(response.status == 400);
  CHECK(errorCode(response) == "bad_batch");
  CHECK(response.body.find("does not match") != std::string::npos);
  CHECK(queryInt(f.dir.file("db.sqlite"), "SELECT COUNT(*) FROM logs_batches") == 0);
}

TEST_CASE("ingest: a resent v2 batch gets the identical ack and stores nothing twice") {
  Fixture f;
  EnrolledAgent agent = f.agentFor("acme");
  wire::BatchBuilder builder;
  const std::uint32_t src = builder.sourceIndex("/s");
  for (int i = 0; i < 100; ++i) {
    builder.addTemplated({src, i, false, 3, 0}, templateId(kCheck), kCheck, i == 0,
                         {"db", std::to_string(i)});
  }
  const std::string body = seal(builder, agent, 1);
  http::Response first = f.send(agent, body);
  http::Response again = f.send(agent, body);
  REQUIRE(first.status == 200);
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  CHECK(responseHeader(again, "Faultline-Duplicate") != nullptr);
  const std::string db = f.dir.file("db.sqlite");
  CHECK(queryInt(db, "SELECT COUNT(*) FROM logs_batches") == 1);
  CHECK(queryInt(db, "SELECT COUNT(*) FROM logs_templates") == 1);
  CHECK(queryInt(db, "SELECT records FROM agents_agents") == 100);
}
