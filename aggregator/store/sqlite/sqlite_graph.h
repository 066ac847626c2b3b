#pragma once

// The SQLite engine's service graph tables (migration 9): the write statements that run on the
// store's writer thread and a read connection of their own, kept apart from sqlite_store.cpp so
// that the two grow without stepping on each other.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/store/graph_records.h"
#include "aggregator/store/sqlite/sqlite_util.h"

namespace faultline::aggregator::store::sqlite {

/// Owned by SqliteStore, which must destroy it before the write connection it was opened on.
class SqliteGraphTables {
 public:
  static Result<std::unique_ptr<SqliteGraphTables>> open(sqlite3* write_db, const std::string& path,
                                                         int busy_timeout_ms);

  /// The body of applyGraphChange. Writer thread only, inside the writer's savepoint.
  Result<GraphChangeResult> applyOnWriter(std::string_view tenant_id, const GraphChange& change);
  /// Any thread (one read at a time on the graph's read connection).
  Result<GraphSnapshotRecord> read(std::string_view tenant_id, std::optional<std::int64_t> version);
  Result<std::vector<GraphVersionInfo>> versions(std::string_view tenant_id,
                                                 std::int64_t before_version, std::size_t limit);

  /// The statements that read one snapshot; one set per connection.
  struct SnapshotStatements {
    Stmt current_version;
    Stmt version_at;
    Stmt services_at;
    Stmt edges_at;
    static Result<SnapshotStatements> prepare(sqlite3* db);
    Result<GraphSnapshotRecord> read(std::string_view tenant_id,
                                     std::optional<std::int64_t> version);
  };

 private:
  SqliteGraphTables() = default;

  sqlite3* write_db_ = nullptr;
  SnapshotStatements write_snapshot_;
  Stmt insert_version_;
  Stmt close_service_;
  Stmt open_service_;
  Stmt close_edge_;
  Stmt open_edge_;

  std::mutex read_mutex_;
  DbPtr read_db_;  // before its statements: they are finalized first
  SnapshotStatements read_snapshot_;
  Stmt list_versions_;
};

}  // namespace faultline::aggregator::store::sqlite
