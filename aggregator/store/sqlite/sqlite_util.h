#pragma once

// Thin RAII helpers over the SQLite C API: connections, prepared statements, errors as Status.

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "shared/util/c_deleter.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::sqlite {

using DbPtr = CPtr<sqlite3, &sqlite3_close_v2>;
using StmtPtr = CPtr<sqlite3_stmt, &sqlite3_finalize>;

/// Maps a SQLite result code to a Status: BUSY/LOCKED → Unavailable, CONSTRAINT →
/// AlreadyExists, CORRUPT/NOTADB → DataLoss, FULL → ResourceExhausted, else Internal.
Status sqliteStatus(sqlite3* db, int rc, std::string_view what);

/// Opens (creating if needed) a database with the connection settings every Faultline
/// connection uses: WAL, synchronous=FULL, foreign keys, busy timeout.
Result<DbPtr> openDatabase(const std::string& path, int busy_timeout_ms);

/// Runs SQL text that returns no rows (may hold several statements).
Status exec(sqlite3* db, std::string_view sql);

/// A prepared statement, reset and cleared when each use ends. Owned by one thread at a time.
class Stmt {
 public:
  Stmt() = default;
  static Result<Stmt> prepare(sqlite3* db, std::string_view sql);

  /// Binds by 1-based index. Text and blobs are copied by SQLite (SQLITE_TRANSIENT) unless
  /// bound with the *Static variants, whose bytes must outlive the step.
  Stmt& bind(int index, std::string_view text);
  Stmt& bindBlobStatic(int index, std::string_view bytes);
  Stmt& bind(int index, std::int64_t value);
  Stmt& bindNull(int index);

  /// Steps once: true with a row, false when done; errors become a Status.
  Result<bool> step();
  /// Steps a statement that returns no rows.
  Status run();
  void reset();

  std::int64_t columnInt(int column) const;
  std::string_view columnText(int column) const;
  bool columnIsNull(int column) const;

  sqlite3_stmt* get() const { return stmt_.get(); }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  sqlite3* db_ = nullptr;
  StmtPtr stmt_;
  Status bind_error_;
};

/// Resets a statement at scope exit so that it releases its read snapshot and bindings.
class StmtUse {
 public:
  explicit StmtUse(Stmt& stmt) : stmt_(stmt) {}
  ~StmtUse() { stmt_.reset(); }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  Stmt* operator->() { return &stmt_; }
  Stmt& operator*() { return stmt_; }

 private:
  Stmt& stmt_;
};

}  // namespace faultline::aggregator::store::sqlite
