#include "aggregator/store/sqlite/sqlite_util.h"

#include <limits>

namespace faultline::aggregator::store::sqlite {

Status sqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status(Errc::Unavailable, message);
    case SQLITE_CONSTRAINT: return Status(Errc::AlreadyExists, message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status(Errc::DataLoss, message);
    case SQLITE_FULL: return Status(Errc::ResourceExhausted, message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY: return Status(Errc::FailedPrecondition, message);
    default: return Status(Errc::Internal, message);
  }
}

Result<DbPtr> openDatabase(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return sqliteStatus(db.get(), rc, "open database " + path);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  // synchronous=FULL: with WAL, NORMAL may lose the last commits on power loss, and an acked
  // batch must never be lost.
  // mmap_size: pages of the database file are read through a shared mapping, not one pread
  // each (syscalls are most of the writer's time under webhook load); cache_size keeps each
  // connection's hot index pages (32 MiB at most, grown on demand).
  Status status = exec(db.get(),
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                       "PRAGMA foreign_keys=ON; PRAGMA mmap_size=1073741824; "
                       "PRAGMA cache_size=-32768;");
  if (!status.isOk()) {
    return status.withContext("configure database " + path);
  }
  return db;
}

Status exec(sqlite3* db, std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    Status status = sqliteStatus(nullptr, rc, "exec");
    return Status(status.code(), "sqlite: " + message);
  }
  return Status::ok();
}

Result<Stmt> Stmt::prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return invalidArgument("sql too long");
  }
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) {
    return sqliteStatus(db, rc, "prepare '" + std::string(sql.substr(0, 60)) + "'");
  }
  Stmt stmt;
  stmt.db_ = db;
  stmt.stmt_.reset(raw);
  return stmt;
}

Stmt& Stmt::bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_.isOk()) {
    bind_error_ = sqliteStatus(db_, rc, "bind");
  }
  return *this;
}

Stmt& Stmt::bindBlobStatic(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_.get(), index, bytes.empty() ? "" : bytes.data(), bytes.size(),
                               SQLITE_STATIC);
  if (rc != SQLITE_OK && bind_error_.isOk()) {
    bind_error_ = sqliteStatus(db_, rc, "bind");
  }
  return *this;
}

Stmt& Stmt::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (rc != SQLITE_OK && bind_error_.isOk()) {
    bind_error_ = sqliteStatus(db_, rc, "bind");
  }
  return *this;
}

Stmt& Stmt::bindNull(int index) {
  int rc = sqlite3_bind_null(stmt_.get(), index);
  if (rc != SQLITE_OK && bind_error_.isOk()) {
    bind_error_ = sqliteStatus(db_, rc, "bind");
  }
  return *this;
}

Result<bool> Stmt::step() {
  if (!bind_error_.isOk()) {
    return bind_error_;
  }
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return sqliteStatus(db_, rc,
                      "step '" + std::string(sqlite3_sql(stmt_.get())).substr(0, 60) + "'");
}

Status Stmt::run() {
  FL_ASSIGN_OR_RETURN(bool row, step());
  (void)row;
  return Status::ok();
}

void Stmt::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = Status::ok();
}

std::int64_t Stmt::columnInt(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

std::string_view Stmt::columnText(int column) const {
  const void* data = sqlite3_column_blob(stmt_.get(), column);
  int size = sqlite3_column_bytes(stmt_.get(), column);
  if (data == nullptr || size <= 0) {
    return {};
  }
  return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
}

bool Stmt::columnIsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

}  // namespace faultline::aggregator::store::sqlite
