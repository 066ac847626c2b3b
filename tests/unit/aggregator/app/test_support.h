#pragma once

// Helpers for the aggregator application tests: temp directories, real SQLite stores, batches
// built with the real codec, and requests as the HTTP server would hand them to a handler.

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.h"
#include "aggregator/http/server.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::testing {

using faultline::testing::TempDir;

inline std::unique_ptr<store::sqlite::SqliteStore> openStore(
    const std::string& path, store::sqlite::SqliteStoreOptions options = {}) {
  options.path = path;
  auto opened = store::sqlite::SqliteStore::open(std::move(options));
  REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
  return std::move(opened).value();
}

/// Runs one query through a separate connection and returns the first column of the first row.
inline std::int64_t queryInt(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  INFO(sqlite3_errmsg(db));
  REQUIRE(rc == SQLITE_OK);
  std::int64_t value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

struct TestRecord {
  std::string source;
  std::int64_t ts_ns;
  std::string line;
  bool no_newline = false;
};

inline std::string makeBatch(const std::string& agent, std::uint64_t epoch, std::uint64_t seq,
                             const std::vector<TestRecord>& records) {
  wire::BatchBuilder builder;
  for (const TestRecord& record : records) {
    builder.addRecord(builder.sourceIndex(record.source), record.ts_ns, record.line,
                      record.no_newline);
  }
  auto sealed = builder.seal({agent, epoch, seq, nowUnixNanos()});
  REQUIRE(sealed.isOk());
  return std::move(sealed).value();
}

inline http::Request ingestRequest(const std::string& secret, std::string body) {
  http::Request request;
  request.method = "POST";
  request.path = "/v1/ingest";
  request.headers = {{"authorization", "Bearer " + secret},
                     {"content-type", std::string(wire::kBatchContentType)},
                     {"content-encoding", "zstd"}};
  request.body = std::move(body);
  request.remote_address = "127.0.0.1:40000";
  return request;
}

inline http::Request enrollRequest(std::string body,
                                   std::string content_type = "application/json") {
  http::Request request;
  request.method = "POST";
  request.path = "/v1/agents/enroll";
  request.headers = {{"content-type", std::move(content_type)}};
  request.body = std::move(body);
  return request;
}

inline std::string enrollBody(const std::string& token, const std::string& hostname = "host1") {
  return nlohmann::json{{"token", token}, {"hostname", hostname}, {"version", "0.1.0"}}.dump();
}

/// The error code of a JSON error response, or "" when it is not one.
inline std::string errorCode(const http::Response& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded() || !body.contains("error")) {
    return "";
  }
  return body["error"]["code"].get<std::string>();
}

inline const std::string* responseHeader(const http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

struct EnrolledAgent {
  std::string agent_id;
  std::string secret;
  std::string tenant_id;
};

/// Creates a token for `tenant_id` in `store` and enrolls through the real handler.
inline EnrolledAgent enrollThroughApi(store::Store& store, ingest::AgentApi& api,
                                      const std::string& tenant_id) {
  std::string token = crypto::randomToken("fet_");
  std::int64_t now = nowUnixNanos();
  REQUIRE(
      store
          .createEnrollmentToken(tenant_id, crypto::hashSecret(token), now, now + 3'600'000'000'000)
          .isOk());
  http::Response response = api.handleEnroll(enrollRequest(enrollBody(token)));
  REQUIRE_MESSAGE(response.status == 201, response.body);
  auto body = nlohmann::json::parse(response.body);
  return {body["agent_id"].get<std::string>(), body["secret"].get<std::string>(),
          body["tenant_id"].get<std::string>()};
}

}  // namespace faultline::aggregator::testing
