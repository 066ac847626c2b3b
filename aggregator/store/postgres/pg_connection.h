#pragma once

// Thin RAII helpers over libpq: one connection with its prepared statements, parameters that are
// always bound (binary format, never spliced into SQL text), results, errors as Status.

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "shared/util/c_deleter.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::postgres {

using ConnPtr = CPtr<PGconn, &PQfinish>;
using ResultPtr = CPtr<PGresult, &PQclear>;

/// A named SQL statement, declared once as a constexpr at the top of the file that runs it.
/// Prepared on each connection the first time it runs there.
struct Statement {
  std::string_view name;
  std::string_view sql;
};

/// Values for $1, $2, ... in order, all sent in binary format with their type declared. Text and
/// bytea values are views: their bytes must stay valid until the statement has run.
class Params {
 public:
  Params() = default;
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;

  Params& text(std::string_view value);
  Params& bytea(std::string_view value);
  Params& int64(std::int64_t value);
  Params& byteaArray(const std::vector<std::string>& values);

  int size() const { return static_cast<int>(parts_.size()); }

 private:
  friend class Connection;
  struct Part {
    Oid type;
    std::string_view view;  // when owned < 0
    int owned = -1;         // index into owned_
  };
  // Builds the arrays libpq takes; pointers are valid until the next change to *this.
  // InvalidArgument when a value is larger than the protocol can carry.
  Status resolve(std::vector<Oid>* types, std::vector<const char*>* values,
                 std::vector<int>* lengths) const;

  std::vector<Part> parts_;
  std::vector<std::string> owned_;  // encoded integers and arrays
};

/// A statement's result; rows and values are read in binary format.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(ResultPtr result) : result_(std::move(result)) {}

  int rows() const { return PQntuples(result_.get()); }
  bool isNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  /// An int8, int4 or int2 column (NULL reads as 0).
  std::int64_t int64(int row, int column) const;
  /// A text or bytea column's bytes, valid while this result lives.
  std::string_view bytes(int row, int column) const;
  /// Rows an INSERT/UPDATE/DELETE touched.
  std::int64_t affectedRows() const;

 private:
  ResultPtr result_;
};

/// Maps a failed statement to a Status by its SQLSTATE: unique/foreign key violations →
/// AlreadyExists, RLS or privilege → PermissionDenied, connection loss, shutdown, deadlock,
/// serialization failure, lock or statement timeout, too many connections → Unavailable, disk
/// full → ResourceExhausted, bad data → InvalidArgument, corruption → DataLoss, else Internal.
/// `result` may be null (then the connection's error is used).
Status pgStatus(PGconn* conn, const PGresult* result, std::string_view what);

/// One server connection. Owned by one thread at a time (the pool hands it out).
class Connection {
 public:
  /// Connects with the URL (libpq URI syntax; its own parameters win over these defaults:
  /// connect_timeout, application_name faultline-aggregator, client_encoding UTF8), and makes
  /// sure synchronous_commit is not off for this session. `url_for_messages` is the redacted
  /// URL. Unavailable when the server cannot be reached or refuses the login.
  static Result<std::unique_ptr<Connection>> connect(const std::string& url,
                                                     const std::string& url_for_messages,
                                                     std::chrono::milliseconds connect_timeout);

  /// Runs a statement, preparing it on this connection first if needed.
  Result<PgResult> exec(const Statement& statement, const Params& params);
  Result<PgResult> exec(const Statement& statement);
  /// One read in one round trip: set_config(setting, value, true) and `statement` are sent
  /// together in pipeline mode and run in one implicit transaction, so row-level security sees
  /// the setting. For single-statement reads on the hot path; outside any transaction only.
  Result<PgResult> scopedRead(std::string_view setting, std::string_view value,
                              const Statement& statement, const Params& params);
  /// Runs SQL without parameters that may hold several statements (migrations, BEGIN...).
  Status script(std::string_view sql);

  /// Transaction control. `setLocal` sets a custom setting for the rest of the transaction
  /// (set_config(name, value, true)), skipping the round trip when it already holds `value`.
  Status begin();
  Status beginReadOnly();
  Status commit();
  Status rollback();
  Status setLocal(std::string_view name, std::string_view value);

  /// True once the connection to the server is gone.
  bool lost() const;
  /// Whether the pool may hand it out again: connected and outside any transaction.
  bool reusable() const;
  /// Reads whatever the server sent while the connection sat idle, without blocking, and
  /// returns false when the server has closed it (restart, administrator command): checked
  /// before a pooled connection is handed out, so that a dead one is replaced, not used.
  bool checkIdle();

  PGconn* get() const { return conn_.get(); }

 private:
  Connection() = default;
  Result<PgResult> run(const char* name, const Params& params, std::string_view what);
  Status prepare(const Statement& statement, const Params& params);

  ConnPtr conn_;
  std::unordered_set<std::string_view> prepared_;  // statement names (static strings)
  std::vector<std::pair<std::string, std::string>> local_settings_;  // this transaction's
};

}  // namespace faultline::aggregator::store::postgres
