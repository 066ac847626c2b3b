#include "agent/inputs/tail/offset_store.h"

#include <sqlite3.h>

#include <array>
#include <limits>
#include <string_view>
#include <utility>

#include "shared/util/c_deleter.h"

namespace faultline::agent::tail {
namespace {

using Db = CPtr<sqlite3, &sqlite3_close_v2>;
using Stmt = CPtr<sqlite3_stmt, &sqlite3_finalize>;

// Ordered migrations: index i brings the schema from user_version i to i + 1. Never edit a
// shipped entry; append a new one.
constexpr std::array<std::string_view, 1> kMigrations = {
    R"sql(
CREATE TABLE tail_streams (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  source        TEXT    NOT NULL,
  path          TEXT    NOT NULL,
  dev           INTEGER NOT NULL,
  ino           INTEGER NOT NULL,
  fingerprint   BLOB    NOT NULL,
  offset        INTEGER NOT NULL CHECK (offset >= 0),
  finished      INTEGER NOT NULL DEFAULT 0,
  discovered_ns INTEGER NOT NULL
);
CREATE TABLE tail_checkpoint (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  spool_seq INTEGER NOT NULL
);
INSERT INTO tail_checkpoint (id, spool_seq) VALUES (1, 0);
)sql",
};

constexpr std::string_view kLoadStreams =
    "SELECT id, source, path, dev, ino, fingerprint, offset, finished, discovered_ns "
    "FROM tail_streams ORDER BY id";
constexpr std::string_view kCheckpointSeq = "SELECT spool_seq FROM tail_checkpoint WHERE id = 1";
constexpr std::string_view kInsertStream =
    "INSERT INTO tail_streams (source, path, dev, ino, fingerprint, offset, finished, "
    "discovered_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr std::string_view kUpdateStream =
    "UPDATE tail_streams SET source = ?1, path = ?2, dev = ?3, ino = ?4, fingerprint = ?5, "
    "finished = ?6 WHERE id = ?7";
constexpr std::string_view kSetOffset = "UPDATE tail_streams SET offset = ?1 WHERE id = ?2";
constexpr std::string_view kSetSeq = "UPDATE tail_checkpoint SET spool_seq = ?1 WHERE id = 1";
constexpr std::string_view kDeleteStream = "DELETE FROM tail_streams WHERE id = ?1";
constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";

constexpr auto kMaxSqlInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

/// Resets a statement when a use of it ends, whatever the outcome.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StmtUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

class SqliteOffsetStore final : public OffsetStore {
 public:
  static Result<std::unique_ptr<OffsetStore>> open(const std::string& path);

  Result<std::vector<StreamState>> loadStreams() override;
  Result<std::uint64_t> checkpointSeq() override;
  Status upsertStream(StreamState* state) override;
  Status checkpoint(const std::vector<OffsetCheckpoint>& offsets, std::uint64_t spool_seq) override;
  Status forget(const std::vector<StreamId>& streams) override;

 private:
  Status error(std::string_view what) const {
    return {Errc::Unavailable, "offset store " + path_ + ": " + std::string(what) + ": " +
                                   sqlite3_errmsg(db_.get())};
  }
  Status exec(std::string_view sql);
  Status migrate();
  Result<Stmt> prepare(std::string_view sql);
  Status prepareAll();
  Status stepDone(sqlite3_stmt* stmt, std::string_view what);
  /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on failure.
  template <typename Body>
  Status transaction(Body&& body);

  std::string path_;
  Db db_;  // declared before the statements so they are finalized first
  Stmt load_;
  Stmt seq_;
  Stmt insert_;
  Stmt update_;
  Stmt set_offset_;
  Stmt set_seq_;
  Stmt delete_;
  Stmt begin_;
  Stmt commit_;
  Stmt rollback_;
};

Result<std::unique_ptr<OffsetStore>> SqliteOffsetStore::open(const std::string& path) {
  auto store = std::make_unique<SqliteOffsetStore>();
  store->path_ = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  store->db_.reset(raw);
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return Status(Errc::Unavailable, "open offset store " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  FL_RETURN_IF_ERROR(store->exec("PRAGMA journal_mode=WAL"));
  // The spool also carries the offsets it covers, so losing the last commits on power loss is
  // repaired at start-up; NORMAL avoids an fsync per checkpoint.
  FL_RETURN_IF_ERROR(store->exec("PRAGMA synchronous=NORMAL"));
  FL_RETURN_IF_ERROR(store->migrate());
  FL_RETURN_IF_ERROR(store->prepareAll());
  return std::unique_ptr<OffsetStore>(std::move(store));
}

Status SqliteOffsetStore::exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return {Errc::Unavailable, "offset store " + path_ + ": " + msg};
  }
  return Status::ok();
}

Status SqliteOffsetStore::migrate() {
  FL_ASSIGN_OR_RETURN(Stmt version_stmt, prepare("PRAGMA user_version"));
  if (sqlite3_step(version_stmt.get()) != SQLITE_ROW) {
    return error("read schema version");
  }
  const auto version = static_cast<std::size_t>(sqlite3_column_int64(version_stmt.get(), 0));
  version_stmt.reset();
  if (version > kMigrations.size()) {
    return {Errc::FailedPrecondition, "offset store " + path_ + ": schema version " +
                                          std::to_string(version) +
                                          " is newer than this agent understands"};
  }
  for (std::size_t v = version; v < kMigrations.size(); ++v) {
    std::string sql = "BEGIN IMMEDIATE;";
    sql += kMigrations[v];
    sql += "PRAGMA user_version = " + std::to_string(v + 1) + "; COMMIT;";
    Status st = exec(sql);
    if (!st.isOk()) {
      (void)exec("ROLLBACK");
      return st.withContext("migration " + std::to_string(v + 1));
    }
  }
  return Status::ok();
}

Result<Stmt> SqliteOffsetStore::prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    return error("prepare '" + std::string(sql) + "'");
  }
  return Stmt(raw);
}

Status SqliteOffsetStore::prepareAll() {
  const std::pair<Stmt*, std::string_view> all[] = {
      {&load_, kLoadStreams}, {&seq_, kCheckpointSeq}, {&insert_, kInsertStream},
      {&update_, kUpdateStream}, {&set_offset_, kSetOffset}, {&set_seq_, kSetSeq},
      {&delete_, kDeleteStream}, {&begin_, kBegin}, {&commit_, kCommit},
      {&rollback_, kRollback}};
  for (const auto& [slot, sql] : all) {
    FL_ASSIGN_OR_RETURN(*slot, prepare(sql));
  }
  return Status::ok();
}

Status SqliteOffsetStore::stepDone(sqlite3_stmt* stmt, std::string_view what) {
  StmtUse use(stmt);
  if (sqlite3_step(stmt) != SQLITE_DONE) {
    return error(what);
  }
  return Status::ok();
}

template <typename Body>
Status SqliteOffsetStore::transaction(Body&& body) {
  FL_RETURN_IF_ERROR(stepDone(begin_.get(), "begin"));
  Status st = body();
  if (st.isOk()) {
    st = stepDone(commit_.get(), "commit");
  }
  if (!st.isOk()) {
    (void)stepDone(rollback_.get(), "rollback");
  }
  return st;
}

Result<std::vector<StreamState>> SqliteOffsetStore::loadStreams() {
  std::vector<StreamState> out;
  sqlite3_stmt* stmt = load_.get();
  StmtUse use(stmt);
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    StreamState s;
    s.id = sqlite3_column_int64(stmt, 0);
    s.source = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    s.path = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2));
    s.dev = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 3));
    s.ino = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 4));
    const void* blob = sqlite3_column_blob(stmt, 5);
    const int blob_len = sqlite3_column_bytes(stmt, 5);
    if (blob != nullptr && blob_len > 0) {
      s.fingerprint.assign(static_cast<const char*>(blob), static_cast<std::size_t>(blob_len));
    }
    s.offset = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 6));
    s.finished = sqlite3_column_int64(stmt, 7) != 0;
    s.discovered_ns = sqlite3_column_int64(stmt, 8);
    out.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) {
    return error("load streams");
  }
  return out;
}

Result<std::uint64_t> SqliteOffsetStore::checkpointSeq() {
  StmtUse use(seq_.get());
  if (sqlite3_step(seq_.get()) != SQLITE_ROW) {
    return error("read checkpoint sequence");
  }
  return static_cast<std::uint64_t>(sqlite3_column_int64(seq_.get(), 0));
}

Status SqliteOffsetStore::upsertStream(StreamState* state) {
  if (state == nullptr) {
    return invalidArgument("upsertStream: null state");
  }
  if (state->offset > kMaxSqlInt || state->dev > kMaxSqlInt || state->ino > kMaxSqlInt) {
    return invalidArgument("upsertStream " + state->path + ": value out of range");
  }
  const auto bindIdentity = [&](sqlite3_stmt* stmt) {
    sqlite3_bind_text(stmt, 1, state->source.data(), static_cast<int>(state->source.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, state->path.data(), static_cast<int>(state->path.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 3, static_cast<std::int64_t>(state->dev));
    sqlite3_bind_int64(stmt, 4, static_cast<std::int64_t>(state->ino));
    sqlite3_bind_blob(stmt, 5, state->fingerprint.data(),
                      static_cast<int>(state->fingerprint.size()), SQLITE_TRANSIENT);
  };
  if (state->id == 0) {
    sqlite3_stmt* stmt = insert_.get();
    bindIdentity(stmt);
    sqlite3_bind_int64(stmt, 6, static_cast<std::int64_t>(state->offset));
    sqlite3_bind_int(stmt, 7, state->finished ? 1 : 0);
    sqlite3_bind_int64(stmt, 8, state->discovered_ns);
    FL_RETURN_IF_ERROR(stepDone(stmt, "insert stream " + state->path));
    state->id = sqlite3_last_insert_rowid(db_.get());
    return Status::ok();
  }
  sqlite3_stmt* stmt = update_.get();
  bindIdentity(stmt);
  sqlite3_bind_int(stmt, 6, state->finished ? 1 : 0);
  sqlite3_bind_int64(stmt, 7, state->id);
  FL_RETURN_IF_ERROR(stepDone(stmt, "update stream " + std::to_string(state->id)));
  if (sqlite3_changes(db_.get()) == 0) {
    return notFound("offset store " + path_ + ": no stream " + std::to_string(state->id));
  }
  return Status::ok();
}

Status SqliteOffsetStore::checkpoint(const std::vector<OffsetCheckpoint>& offsets,
                                     std::uint64_t spool_seq) {
  if (spool_seq > kMaxSqlInt) {
    return invalidArgument("checkpoint: spool sequence out of range");
  }
  for (const auto& c : offsets) {
    if (c.offset > kMaxSqlInt) {
      return invalidArgument("checkpoint: offset out of range for stream " +
                             std::to_string(c.stream));
    }
  }
  return transaction([&]() -> Status {
    for (const auto& c : offsets) {
      sqlite3_bind_int64(set_offset_.get(), 1, static_cast<std::int64_t>(c.offset));
      sqlite3_bind_int64(set_offset_.get(), 2, c.stream);
      // A stream forgotten meanwhile updates no row: its offset no longer matters.
      FL_RETURN_IF_ERROR(stepDone(set_offset_.get(), "set offset"));
    }
    sqlite3_bind_int64(set_seq_.get(), 1, static_cast<std::int64_t>(spool_seq));
    return stepDone(set_seq_.get(), "set checkpoint sequence");
  });
}

Status SqliteOffsetStore::forget(const std::vector<StreamId>& streams) {
  if (streams.empty()) {
    return Status::ok();
  }
  return transaction([&]() -> Status {
    for (StreamId id : streams) {
      sqlite3_bind_int64(delete_.get(), 1, id);
      FL_RETURN_IF_ERROR(stepDone(delete_.get(), "forget stream"));
    }
    return Status::ok();
  });
}

}  // namespace

Result<std::unique_ptr<OffsetStore>> OffsetStore::open(const std::string& path) {
  return SqliteOffsetStore::open(path);
}

}  // namespace faultline::agent::tail
