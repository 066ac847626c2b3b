// Log upload into a real store (SQLite and PostgreSQL): lines come back byte for byte through
// the log export, redacted like agent data; re-uploads are duplicates; corrupt or oversized
// uploads store nothing; another tenant sees none of it.
#include "aggregator/ingest/log_upload.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "aggregator/admin/admin.h"
#include "aggregator/audit/store_audit_recorder.h"
#include "shared/wire/batch.h"
#include "tests/unit/aggregator/app/auth/auth_test_support.h"
#include "tests/unit/aggregator/app/ingest/upload_test_support.h"
#include "tests/unit/aggregator/app/store/store_engines.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using ingest::LogUploader;
using ingest::LogUploadOptions;
using ingest::UploadRequest;

namespace {

std::string sampleLog(int lines) {
  std::string text;
  for (int i = 0; i < lines; ++i) {
    switch (i % 4) {
      case 0:
        text += "2026-11-26T10:00:00." + std::to_string(100 + i % 900) +
                "Z INFO request id=" + std::to_string(i) + " took " + std::to_string(i % 97) +
                "ms\n";
        break;
      case 1:
        text += R"({"ts":"2026-11-26T10:00:01Z","level":"error","msg":"db timeout","n":)" +
                std::to_string(i) + "}\n";
        break;
      case 2: text += "level=warn msg=\"slow disk\" dev=sda" + std::to_string(i % 3) + "\n"; break;
      default: text += "plain line number " + std::to_string(i) + " with trailing space \n";
    }
  }
  return text + "last line without newline";
}

/// Everything the tenant's log export prints.
std::string exportAll(store::Store& store, const std::string& tenant_name,
                      const std::string& source_glob = "*") {
  std::string out;
  admin::ExportFilter filter;
  filter.source_glob = source_glob;
  auto stats = admin::exportLogs(store, tenant_name, filter, {}, [&](std::string_view chunk) {
    out.append(chunk);
    return Status::ok();
  });
  REQUIRE_MESSAGE(stats.isOk(), stats.status().toString());
  return out;
}

UploadRequest request(const std::string& tenant_id, std::string_view body,
                      const std::string& source = "uploads/app.log") {
  UploadRequest r;
  r.tenant_id = tenant_id;
  r.source = source;
  r.body = body;
  return r;
}

LogUploadOptions smallBatches() {
  LogUploadOptions options;
  options.batch_line_bytes = 16 * 1024;  // several batches from a small file
  return options;
}

}  // namespace

TEST_CASE_TEMPLATE("log upload: plain, gzip and zstd come back byte for byte, as batches", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  auto uploader = LogUploader::create(*store, smallBatches());
  REQUIRE(uploader.isOk());
  const std::string text = sampleLog(3000);

  const std::pair<std::string, std::string> bodies[] = {
      {"plain.log", text}, {"gz.log", gzipCompress(text)}, {"zst.log", zstdCompress(text)}};
  for (const auto& [source, body] : bodies) {
    const std::string& name = source;  // a plain local: CAPTURE is a lambda
    CAPTURE(name);
    auto result = (*uploader)->upload(request(tenant->id, body, source));
    REQUIRE_MESSAGE(result.isOk(), result.status().toString());
    CHECK(result->lines == 3001);
    CHECK(result->bytes == text.size());
    CHECK(result->compressed_bytes == body.size());
    CHECK(result->batches > 1);
    CHECK_FALSE(result->duplicate);
    CHECK(exportAll(*store, "acme", source) == text);
  }
  // The tenant's upload agent holds the batches, and has no usable secret.
  auto agents = store->listAgents(tenant->id);
  REQUIRE(agents.isOk());
  REQUIRE(agents->size() == 1);
  CHECK(agents->front().agent_id == LogUploader::uploadAgentId(tenant->id));
  CHECK(agents->front().hostname == "faultline-upload");
  CHECK(agents->front().records > 3 * 3000);
}

TEST_CASE("log upload: an untimed line takes the time of the line before it, not the upload's") {
  SqliteEngine engine;
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  auto uploader = LogUploader::create(*store, LogUploadOptions{});
  REQUIRE(uploader.isOk());
  // A backfilled file from 2023: its second line is a row cut off before its time.
  const std::string text =
      "untimed first line\n"
      "2023-01-29T08:00:00.250Z ERROR payment failed\n"
      "{\"log\":\"ERROR truncated row without its time\n"
      "2023-01-29T08:00:03Z INFO recovered\n"
      "\tat com.example.Pay.run(Pay.java:42)\n";
  auto result = (*uploader)->upload(request(tenant->id, text));
  REQUIRE_MESSAGE(result.isOk(), result.status().toString());
  std::vector<std::int64_t> event_times;
  Status read = store->forEachBatch(tenant->id, {}, [&](std::string_view payload) {
    auto batch = wire::decodeBatch(payload);
    REQUIRE_MESSAGE(batch.isOk(), batch.status().toString());
    for (const wire::Record& record : (*batch)->records) {
      event_times.push_back(record.event_ts_ns);
    }
    return Status::ok();
  });
  REQUIRE_MESSAGE(read.isOk(), read.toString());
  const std::int64_t first = 1'674'979'200'250'000'000;  // 2023-01-29T08:00:00.250Z
  const std::int64_t later = 1'674'979'203'000'000'000;
  CHECK(event_times == std::vector<std::int64_t>{0, first, first, later, later});
}

TEST_CASE_TEMPLATE("log upload: the same bytes again are a duplicate; other bytes are not",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  auto uploader = LogUploader::create(*store, smallBatches());
  REQUIRE(uploader.isOk());
  const std::string text = sampleLog(1000);
  const std::string gz = gzipCompress(text);
  auto first = (*uploader)->upload(request(tenant->id, gz));
  REQUIRE(first.isOk());
  CHECK_FALSE(first->duplicate);
  // A second uploader (another aggregator node, or after a restart) finds the same batches.
  auto other_node = LogUploader::create(*store, smallBatches());
  REQUIRE(other_node.isOk());
  auto again = (*other_node)->upload(request(tenant->id, gz));
  REQUIRE(again.isOk());
  CHECK(again->duplicate);
  CHECK(again->batches == first->batches);
  CHECK(exportAll(*store, "acme") == text);

  auto changed = (*uploader)->upload(request(tenant->id, text + "\none more"));
  REQUIRE(changed.isOk());
  CHECK_FALSE(changed->duplicate);
  auto renamed = (*uploader)->upload(request(tenant->id, gz, "uploads/other.log"));
  REQUIRE(renamed.isOk());
  CHECK_FALSE(renamed->duplicate);
}

TEST_CASE_TEMPLATE("log upload: corrupt, truncated and oversized uploads store nothing", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  LogUploadOptions options = smallBatches();
  options.max_decompressed_bytes = 256 * 1024;
  auto uploader = LogUploader::create(*store, options);
  REQUIRE(uploader.isOk());
  const std::string text = sampleLog(2000);  // ~100 KiB
  const std::string gz = gzipCompress(text);
  const std::string zs = zstdCompress(text);
  std::string corrupt_gz = gz;
  corrupt_gz[gz.size() * 3 / 4] ^= 0x5a;
  std::string corrupt_zs = zs;
  corrupt_zs[zs.size() * 3 / 4] ^= 0x5a;
  for (const std::string& bad :
       {gz.substr(0, gz.size() - 10), corrupt_gz, zs.substr(0, zs.size() - 10), corrupt_zs}) {
    auto result = (*uploader)->upload(request(tenant->id, bad));
    CHECK(result.code() == Errc::InvalidArgument);
  }
  const std::string bomb = gzipCompress(std::string(4 << 20, 'A'), 9);
  auto result = (*uploader)->upload(request(tenant->id, bomb));
  CHECK(result.code() == Errc::ResourceExhausted);
  CHECK(exportAll(*store, "acme").empty());
  // Nothing at all: not even the upload agent was created.
  CHECK(store->listAgents(tenant->id)->empty());

  CHECK((*uploader)->upload(request(tenant->id, text, "")).code() == Errc::InvalidArgument);
  CHECK((*uploader)->upload(request(tenant->id, text, std::string("a\nb"))).code() ==
        Errc::InvalidArgument);
  UploadRequest bad_format = request(tenant->id, text);
  bad_format.format = "klingon";
  CHECK((*uploader)->upload(bad_format).code() == Errc::InvalidArgument);
  UploadRequest bad_encoding = request(tenant->id, text);
  bad_encoding.content_encoding = "gzip";
  CHECK((*uploader)->upload(bad_encoding).code() == Errc::InvalidArgument);
}

TEST_CASE_TEMPLATE("log upload: redacted like agent data, and invisible to another tenant",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  auto acme = store->createTenant("acme", 1);
  auto globex = store->createTenant("globex", 1);
  REQUIRE(acme.isOk());
  REQUIRE(globex.isOk());
  auto uploader = LogUploader::create(*store, {});
  REQUIRE(uploader.isOk());
  const std::string text = "login ok user=alice password=hunter2\nmail from bob@example.com\n";
  auto result = (*uploader)->upload(request(acme->id, text));
  REQUIRE(result.isOk());
  const std::string stored = exportAll(*store, "acme");
  CHECK(stored.find("hunter2") == std::string::npos);
  CHECK(stored.find("password=[REDACTED:password]") != std::string::npos);
  CHECK(stored.find("bob@example.com") == std::string::npos);

  // Globex sees nothing of it, and its own identical upload is its own (not a duplicate).
  CHECK(exportAll(*store, "globex").empty());
  auto theirs = (*uploader)->upload(request(globex->id, text));
  REQUIRE(theirs.isOk());
  CHECK_FALSE(theirs->duplicate);
  CHECK(LogUploader::uploadAgentId(acme->id) != LogUploader::uploadAgentId(globex->id));
  CHECK(store->listAgents(globex->id)->size() == 1);
  CHECK(store->listAgents(acme->id)->size() == 1);
  // Acme's upload agent cannot store into globex.
  store::NewBatch cross;
  cross.tenant_id = globex->id;
  cross.agent_id = LogUploader::uploadAgentId(acme->id);
  cross.epoch = 1;
  cross.seq = 1;
  const std::string payload = makeBatch(cross.agent_id, 1, 1, {{"x.log", 1, "x"}});
  cross.payload = payload;
  CHECK(store->storeBatch(cross).code() == Errc::PermissionDenied);
}

TEST_CASE("log upload: the HTTP handler answers with counts and clear error statuses") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  audit::StoreAuditRecorder recorder(*store);
  LogUploadOptions options;
  options.audit = &recorder;
  auto uploader = LogUploader::create(*store, options);
  REQUIRE(uploader.isOk());
  const ingest::UploadCaller caller{tenant->id, "user:u1", "127.0.0.1:4000"};
  http::Request req;
  req.method = "POST";
  req.path = "/v1/logs/upload";
  req.query = "source=app.log&format=logfmt";
  req.body = zstdCompress("level=info msg=a\nlevel=info msg=b\n");
  http::Response response = (*uploader)->handle(caller, req);
  REQUIRE(response.status == 200);
  auto body = nlohmann::json::parse(response.body);
  CHECK(body["lines"] == 2);
  CHECK(body["batches"] == 1);
  CHECK(body["duplicate"] == false);
  CHECK(body["compression"] == "zstd");
  response = (*uploader)->handle(caller, req);
  CHECK(nlohmann::json::parse(response.body)["duplicate"] == true);

  req.query = "format=logfmt";
  CHECK((*uploader)->handle(caller, req).status == 400);
  req.query = "source=app.log";
  req.body = req.body.substr(0, req.body.size() - 3);
  response = (*uploader)->handle(caller, req);
  CHECK(response.status == 400);
  CHECK(errorCode(response) == "bad_upload");

  // Each upload is in the tenant's audit log, who and what, failures too.
  store::AuditQuery query;
  query.action = "logs.upload";
  auto page = store->queryAudit(tenant->id, query);
  REQUIRE(page.isOk());
  REQUIRE(page->entries.size() == 4);
  const store::AuditEntry& first = page->entries[0];
  CHECK(first.actor == "user:u1");
  CHECK(first.target == "source:app.log");
  CHECK(first.outcome == "success");
  CHECK(first.client_address == "127.0.0.1:4000");
  auto detail = nlohmann::json::parse(first.detail_json);
  CHECK(detail["lines"] == 2);
  CHECK(detail["format"] == "logfmt");
  CHECK(nlohmann::json::parse(page->entries[1].detail_json)["duplicate"] == true);
  CHECK(page->entries[2].outcome == "failure");
  CHECK(page->entries[3].outcome == "failure");
  CHECK(nlohmann::json::parse(page->entries[3].detail_json)["error"] != "");
}

TEST_CASE("log upload: at most max_concurrent uploads at once, the rest are told to retry") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  audit::StoreAuditRecorder recorder(*store);
  LogUploadOptions options;
  options.audit = &recorder;
  options.max_concurrent = 2;
  auto uploader = LogUploader::create(*store, options);
  REQUIRE(uploader.isOk());
  http::Request req;
  req.method = "POST";
  req.path = "/v1/logs/upload";
  req.query = "source=app.log&format=plain";
  req.body = "one line\n";
  const ingest::UploadCaller caller{tenant->id, "api_key:k1", ""};
  {
    LogUploader::Slot first = (*uploader)->tryAcquireSlot();
    LogUploader::Slot second = (*uploader)->tryAcquireSlot();
    REQUIRE(first);
    REQUIRE(second);
    CHECK_FALSE((*uploader)->tryAcquireSlot());
    http::Response busy = (*uploader)->handle(caller, req);
    CHECK(busy.status == 503);
    CHECK(errorCode(busy) == "busy");
    bool retry_after = false;
    for (const auto& header : busy.headers) {
      retry_after = retry_after || header.first == "Retry-After";
    }
    CHECK(retry_after);
  }
  // The places come back when their holders are done.
  CHECK((*uploader)->handle(caller, req).status == 200);
  CHECK((*uploader)->handle(caller, req).status == 200);
}

TEST_CASE("log upload: an upload that cannot be audited is not reported as done") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  RecordingAudit audit;
  LogUploadOptions options;
  options.audit = &audit;
  auto uploader = LogUploader::create(*store, options);
  REQUIRE(uploader.isOk());
  http::Request req;
  req.method = "POST";
  req.path = "/v1/logs/upload";
  req.query = "source=app.log&format=plain";
  req.body = "one line\n";
  const ingest::UploadCaller caller{tenant->id, "user:u1", ""};
  audit.fail = true;
  CHECK((*uploader)->handle(caller, req).status == 503);
  audit.fail = false;
  http::Response again = (*uploader)->handle(caller, req);
  REQUIRE(again.status == 200);
  CHECK(nlohmann::json::parse(again.body)["duplicate"] == true);
  CHECK(audit.count("logs.upload", "success") == 1);
}
