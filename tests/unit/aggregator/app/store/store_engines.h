#pragma once

// The store test suite runs the same test bodies against every engine: TEST_CASE_TEMPLATE over
// SqliteEngine and PostgresEngine. Each engine object is one fresh, empty database (a temp file;
// a PostgreSQL schema of its own, dropped afterwards) plus raw access for assertions.
//
// PostgreSQL tests need FAULTLINE_TEST_PG_URL (installers/pg_cluster.sh start prints one). When
// it is unset they are skipped with a message (CTest reports them as skipped), unless CI is set:
// then they fail, so that CI can never skip them silently.

#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aggregator/store/postgres/migrations.h"
#include "aggregator/store/postgres/postgres_store.h"
#include "aggregator/store/sqlite/migrations.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/c_deleter.h"
#include "shared/util/crypto.h"
#include "tests/unit/temp_dir.h"

namespace faultline::aggregator::testing {

inline constexpr const char* kPgSkipMessage =
    "skipped: FAULTLINE_TEST_PG_URL is not set (installers/pg_cluster.sh start prints one)";

/// The PostgreSQL test URL, or nullopt after a skip message (a failure when CI is set).
inline std::optional<std::string> pgTestUrl() {
  const char* url = std::getenv("FAULTLINE_TEST_PG_URL");
  if (url != nullptr && *url != '\0') {
    return std::string(url);
  }
  const char* ci = std::getenv("CI");
  std::string ci_value = ci != nullptr ? ci : "";
  if (!ci_value.empty() && ci_value != "0" && ci_value != "false") {
    FAIL(
        "FAULTLINE_TEST_PG_URL is not set but CI is: the PostgreSQL store tests must run in "
        "CI (installers/test.sh starts a throwaway cluster with installers/pg_cluster.sh)");
  }
  MESSAGE(std::string(kPgSkipMessage));
  return std::nullopt;
}

/// `url` with one more libpq URI parameter.
inline std::string withUrlParam(const std::string& url, const std::string& param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

/// A raw libpq connection for test setup and assertions (text protocol, parameters bound).
class PgRaw {
 public:
  explicit PgRaw(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    REQUIRE_MESSAGE(PQstatus(conn_.get()) == CONNECTION_OK, PQerrorMessage(conn_.get()));
    PQsetNoticeProcessor(
        conn_.get(), [](void*, const char*) {}, nullptr);
  }
  /// Runs SQL; returns the first column of the first row as text ("" without rows), or the
  /// error message prefixed by "ERROR " (with its SQLSTATE) when `may_fail`.
  std::string exec(const std::string& sql, const std::vector<std::string>& params = {},
                   bool may_fail = false) {
    std::vector<const char*> values;
    for (const std::string& param : params) {
      values.push_back(param.c_str());
    }
    CPtr<PGresult, &PQclear> result(PQexecParams(conn_.get(), sql.c_str(),
                                                 static_cast<int>(values.size()), nullptr,
                                                 values.data(), nullptr, nullptr, 0));
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      std::string error = PQresultErrorMessage(result.get());
      const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
      std::string text = "ERROR " + std::string(state != nullptr ? state : "") + " " + error;
      if (!may_fail) {
        FAIL_CHECK(sql << ": " << text);
      }
      return text;
    }
    if (PQntuples(result.get()) == 0 || PQnfields(result.get()) == 0) {
      return "";
    }
    return PQgetvalue(result.get(), 0, 0);
  }
  std::int64_t queryInt(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::string text = exec(sql, params);
    return text.empty() ? -1 : std::stoll(text);
  }
  PGconn* get() { return conn_.get(); }

 private:
  CPtr<PGconn, &PQfinish> conn_;
};

/// A schema of its own in the test database, reached through url(); dropped on destruction.
class PgTestSchema {
 public:
  explicit PgTestSchema(const std::string& base_url)
      : base_url_(base_url), name_("fl_test_" + crypto::randomHex(6)) {
    PgRaw admin(base_url_);
    admin.exec("CREATE SCHEMA " + name_);
    // application_name lets a test find (and terminate) exactly this store's connections.
    url_ = withUrlParam(withUrlParam(base_url_, "options=-csearch_path%3D" + name_),
                        "application_name=" + name_);
  }
  ~PgTestSchema() {
    PGconn* conn = PQconnectdb(base_url_.c_str());
    if (PQstatus(conn) == CONNECTION_OK) {
      PQsetNoticeProcessor(
          conn, [](void*, const char*) {}, nullptr);
      std::string drop = "DROP SCHEMA " + name_ + " CASCADE";
      PQclear(PQexec(conn, drop.c_str()));
    }
    PQfinish(conn);
  }
  PgTestSchema(const PgTestSchema&) = delete;
  PgTestSchema& operator=(const PgTestSchema&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string base_url_;
  std::string name_;
  std::string url_;
};

/// Settings both engines understand.
struct TestStoreOptions {
  std::size_t max_pending_writes = 1024;
};

struct SqliteEngine {
  static constexpr const char* kName = "sqlite";

  bool ready() const { return true; }
  std::string path() const { return dir.file("db.sqlite"); }

  std::unique_ptr<store::sqlite::SqliteStore> open(TestStoreOptions test_options = {}) const {
    store::sqlite::SqliteStoreOptions options;
    options.path = path();
    options.max_pending_writes = test_options.max_pending_writes;
    auto opened = store::sqlite::SqliteStore::open(std::move(options));
    REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
    return std::move(opened).value();
  }

  /// Runs `sql` (its $1, if any, is `tenant_id`) on a separate connection and returns the first
  /// column of the first row, -1 without rows. For PostgreSQL the query runs as that tenant.
  std::int64_t queryInt(const std::string& sql, const std::string& tenant_id = "") const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
    INFO(sqlite3_errmsg(db));
    REQUIRE(rc == SQLITE_OK);
    if (sqlite3_bind_parameter_count(stmt) > 0) {
      sqlite3_bind_text(stmt, 1, tenant_id.c_str(), -1, SQLITE_TRANSIENT);
    }
    std::int64_t value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  static std::int64_t migrationCount() {
    return static_cast<std::int64_t>(store::sqlite::migrations().size());
  }
  static std::int64_t latestVersion() { return store::sqlite::latestSchemaVersion(); }

  faultline::testing::TempDir dir;
};

struct PostgresEngine {
  static constexpr const char* kName = "postgres";

  PostgresEngine() : base_url(pgTestUrl()) {
    if (base_url) {
      schema = std::make_unique<PgTestSchema>(*base_url);
    }
  }
  bool ready() const { return schema != nullptr; }
  std::string url() const { return schema->url(); }

  store::postgres::PostgresStoreOptions options(TestStoreOptions test_options = {}) const {
    store::postgres::PostgresStoreOptions options;
    options.url = url();
    options.max_pending_writes = test_options.max_pending_writes;
    return options;
  }
  std::unique_ptr<store::postgres::PostgresStore> open(TestStoreOptions test_options = {}) const {
    return open(options(test_options));
  }
  std::unique_ptr<store::postgres::PostgresStore> open(
      store::postgres::PostgresStoreOptions store_options) const {
    auto opened = store::postgres::PostgresStore::open(std::move(store_options));
    REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
    return std::move(opened).value();
  }

  std::int64_t queryInt(const std::string& sql, const std::string& tenant_id = "") const {
    PgRaw raw(url());
    raw.exec("BEGIN");
    raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {tenant_id});
    std::string text =
        sql.find("$1") != std::string::npos ? raw.exec(sql, {tenant_id}) : raw.exec(sql);
    raw.exec("COMMIT");
    return text.empty() ? -1 : std::stoll(text);
  }

  static std::int64_t migrationCount() {
    return static_cast<std::int64_t>(store::postgres::migrations().size());
  }
  static std::int64_t latestVersion() { return store::postgres::latestSchemaVersion(); }

  std::optional<std::string> base_url;
  std::unique_ptr<PgTestSchema> schema;
};

}  // namespace faultline::aggregator::testing

TYPE_TO_STRING_AS("sqlite", faultline::aggregator::testing::SqliteEngine);
TYPE_TO_STRING_AS("postgres", faultline::aggregator::testing::PostgresEngine);

/// Declares `engine` (a fresh TestType) and returns from the test when its database is not
/// available (PostgreSQL without FAULTLINE_TEST_PG_URL, outside CI).
#define STORE_ENGINE_OR_SKIP(engine) \
  TestType engine;                   \
  if (!engine.ready()) {             \
    return;                          \
  }
