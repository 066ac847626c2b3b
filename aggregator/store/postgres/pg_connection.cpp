#include "aggregator/store/postgres/pg_connection.h"

#include <algorithm>
#include <cstring>

#include "aggregator/store/store_url.h"
#include "shared/util/log.h"

namespace faultline::aggregator::store::postgres {
namespace {

// Type oids (pg_type.dat); stable across PostgreSQL versions.
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr int kBinary = 1;

constexpr Statement kSetLocal{"fl_set_local", "SELECT set_config($1, $2, true)"};
// An acked batch must survive a server crash: refuse to run with synchronous_commit=off even if
// the server or role default says so. (local, on, remote_write, remote_apply all flush locally.)
constexpr std::string_view kKeepCommitsDurable =
    "SELECT CASE WHEN current_setting('synchronous_commit') = 'off' "
    "THEN set_config('synchronous_commit', 'on', false) END";

void appendBigEndian(std::string* out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

std::string trimmed(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// Server notices go to our log instead of libpq's default (stderr): warnings as warnings, the
// chatter ("relation already exists, skipping") at debug level.
void onNotice(void* /*arg*/, const PGresult* notice) noexcept {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  std::string message = trimmed(PQresultErrorMessage(notice));
  if (severity != nullptr && std::string_view(severity) == "WARNING") {
    log::warn("postgres", message);
  } else {
    log::debug("postgres", message);
  }
}

Errc errcForSqlState(std::string_view state) {
  if (state == "23505" || state == "23503") {
    return Errc::AlreadyExists;
  }
  if (state == "42501") {
    return Errc::PermissionDenied;  // includes "new row violates row-level security policy"
  }
  if (state == "53100") {
    return Errc::ResourceExhausted;  // disk full
  }
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014" ||
      state == "57P01" || state == "57P02" || state == "57P03" || state == "53300" ||
      state == "53200") {
    return Errc::Unavailable;
  }
  if (state.substr(0, 2) == "08") {
    return Errc::Unavailable;  // connection exception
  }
  if (state.substr(0, 2) == "22" || state.substr(0, 2) == "23") {
    return Errc::InvalidArgument;  // data exception, other integrity violations
  }
  if (state == "XX001" || state == "XX002") {
    return Errc::DataLoss;
  }
  return Errc::Internal;
}

}  // namespace

Params& Params::text(std::string_view value) {
  parts_.push_back({kTextOid, value, -1});
  return *this;
}

Params& Params::bytea(std::string_view value) {
  parts_.push_back({kByteaOid, value, -1});
  return *this;
}

Params& Params::int64(std::int64_t value) {
  std::string encoded;
  appendBigEndian(&encoded, static_cast<std::uint64_t>(value), 8);
  owned_.push_back(std::move(encoded));
  parts_.push_back({kInt8Oid, {}, static_cast<int>(owned_.size() - 1)});
  return *this;
}

Params& Params::byteaArray(const std::vector<std::string>& values) {
  // Binary array format (array_recv): ndim, has-nulls flag, element type, then per dimension its
  // length and lower bound, then each element as a length and its bytes.
  std::string encoded;
  appendBigEndian(&encoded, values.empty() ? 0 : 1, 4);
  appendBigEndian(&encoded, 0, 4);
  appendBigEndian(&encoded, kByteaOid, 4);
  if (!values.empty()) {
    appendBigEndian(&encoded, values.size(), 4);
    appendBigEndian(&encoded, 1, 4);
  }
  for (const std::string& value : values) {
    appendBigEndian(&encoded, value.size(), 4);
    encoded.append(value);
  }
  owned_.push_back(std::move(encoded));
  constexpr Oid kByteaArrayOid = 1001;
  parts_.push_back({kByteaArrayOid, {}, static_cast<int>(owned_.size() - 1)});
  return *this;
}

Status Params::resolve(std::vector<Oid>* types, std::vector<const char*>* values,
                       std::vector<int>* lengths) const {
  types->clear();
  values->clear();
  lengths->clear();
  for (const Part& part : parts_) {
    std::string_view bytes = part.owned >= 0
                                 ? std::string_view(owned_[static_cast<std::size_t>(part.owned)])
                                 : part.view;
    // PostgreSQL's own limit for one value (bytea included) is 1 GB.
    if (bytes.size() > (std::size_t{1} << 30)) {
      return invalidArgument("parameter of " + std::to_string(bytes.size()) +
                             " bytes exceeds PostgreSQL's 1 GB limit for one value");
    }
    types->push_back(part.type);
    // libpq reads `length` bytes; an empty value still needs a non-null pointer (null is NULL).
    values->push_back(bytes.empty() ? "" : bytes.data());
    lengths->push_back(static_cast<int>(bytes.size()));
  }
  return Status::ok();
}

std::int64_t PgResult::int64(int row, int column) const {
  if (isNull(row, column)) {
    return 0;
  }
  const auto* bytes =
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column));
  int length = PQgetlength(result_.get(), row, column);
  std::uint64_t value = 0;
  for (int i = 0; i < length && i < 8; ++i) {
    value = (value << 8) | bytes[i];
  }
  // Sign-extend int4 and int2.
  if (length > 0 && length < 8 && (bytes[0] & 0x80) != 0) {
    value |= ~std::uint64_t{0} << (8 * length);
  }
  return static_cast<std::int64_t>(value);
}

std::string_view PgResult::bytes(int row, int column) const {
  int length = PQgetlength(result_.get(), row, column);
  if (length <= 0) {
    return {};
  }
  return {PQgetvalue(result_.get(), row, column), static_cast<std::size_t>(length)};
}

std::int64_t PgResult::affectedRows() const {
  const char* tuples = PQcmdTuples(result_.get());
  std::int64_t count = 0;
  for (const char* c = tuples; c != nullptr && *c >= '0' && *c <= '9'; ++c) {
    count = count * 10 + (*c - '0');
  }
  return count;
}

Status pgStatus(PGconn* conn, const PGresult* result, std::string_view what) {
  std::string message(what);
  message += ": ";
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (result != nullptr && PQresultErrorMessage(result)[0] != '\0') {
    message += trimmed(PQresultErrorMessage(result));
  } else if (conn != nullptr) {
    message += trimmed(PQerrorMessage(conn));
  } else {
    message += "out of memory";
  }
  if (state == nullptr) {
    // No SQLSTATE: libpq itself failed (lost connection, out of memory).
    bool lost = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
    return Status(lost ? Errc::Unavailable : Errc::Internal, message);
  }
  return Status(errcForSqlState(state), message);
}

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url,
                                                        const std::string& url_for_messages,
                                                        std::chrono::milliseconds connect_timeout) {
  // libpq counts whole seconds; round up so that a short timeout is not "no timeout" (0).
  auto seconds = std::max<std::int64_t>(1, (connect_timeout.count() + 999) / 1000);
  std::string timeout = std::to_string(seconds);
  // Defaults first: with expand_dbname, parameters in the URL override the ones before it.
  const char* keywords[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                            "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "faultline-aggregator", "UTF8", url.c_str(), nullptr};
  std::unique_ptr<Connection> connection(new Connection());
  connection->conn_.reset(PQconnectdbParams(keywords, values, 1));
  PGconn* conn = connection->conn_.get();
  if (conn == nullptr) {
    return Status(Errc::Unavailable, "connect to " + url_for_messages + ": out of memory");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq may quote parts of a malformed URL back; never a password.
    return Status(Errc::Unavailable, "connect to " + url_for_messages + ": " +
                                         redactPasswordsIn(trimmed(PQerrorMessage(conn)), url));
  }
  PQsetNoticeReceiver(conn, &onNotice, nullptr);
  FL_RETURN_IF_ERROR(connection->script(kKeepCommitsDurable)
                         .withContext("configure connection to " + url_for_messages));
  return connection;
}

Result<PgResult> Connection::run(const char* name, const Params& params, std::string_view what) {
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths;
  FL_RETURN_IF_ERROR(params.resolve(&types, &values, &lengths));
  std::vector<int> formats(values.size(), kBinary);
  ResultPtr result(PQexecPrepared(conn_.get(), name, params.size(), values.data(), lengths.data(),
                                  formats.data(), kBinary));
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    return pgStatus(conn_.get(), result.get(), what);
  }
  return PgResult(std::move(result));
}

Status Connection::prepare(const Statement& statement, const Params& params) {
  if (prepared_.count(statement.name) != 0) {
    return Status::ok();
  }
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths;
  FL_RETURN_IF_ERROR(params.resolve(&types, &values, &lengths));
  std::string name(statement.name);
  std::string sql(statement.sql);
  ResultPtr prepared(
      PQprepare(conn_.get(), name.c_str(), sql.c_str(), params.size(), types.data()));
  if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    return pgStatus(conn_.get(), prepared.get(), "prepare " + name);
  }
  prepared_.insert(statement.name);
  return Status::ok();
}

Result<PgResult> Connection::exec(const Statement& statement, const Params& params) {
  FL_RETURN_IF_ERROR(prepare(statement, params));
  // Names are string literals, so this NUL-terminated pointer is valid.
  return run(statement.name.data(), params, statement.name);
}

Result<PgResult> Connection::scopedRead(std::string_view setting, std::string_view value,
                                        const Statement& statement, const Params& params) {
  Params scope;
  scope.text(setting).text(value);
  FL_RETURN_IF_ERROR(prepare(kSetLocal, scope));
  FL_RETURN_IF_ERROR(prepare(statement, params));
  struct Bound {
    std::vector<Oid> types;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
  };
  Bound bound[2];
  const Params* params_of[2] = {&scope, &params};
  const char* names[2] = {kSetLocal.name.data(), statement.name.data()};
  for (int i = 0; i < 2; ++i) {
    FL_RETURN_IF_ERROR(params_of[i]->resolve(&bound[i].types, &bound[i].values, &bound[i].lengths));
    bound[i].formats.assign(bound[i].values.size(), kBinary);
  }
  PGconn* conn = conn_.get();
  if (PQenterPipelineMode(conn) != 1) {
    return pgStatus(conn, nullptr, statement.name);
  }
  // Both statements and the Sync go out in one write; the server runs them in one implicit
  // transaction (ended at the Sync), so the setting holds for the read and for nothing after.
  bool sent = true;
  for (int i = 0; i < 2 && sent; ++i) {
    sent = PQsendQueryPrepared(conn, names[i], params_of[i]->size(), bound[i].values.data(),
                               bound[i].lengths.data(), bound[i].formats.data(), kBinary) == 1;
  }
  sent = sent && PQpipelineSync(conn) == 1;
  Status failure;
  if (!sent) {
    failure = pgStatus(conn, nullptr, statement.name);
  }
  PgResult rows;
  // Each statement's result is followed by a null; an error aborts the rest up to the Sync.
  for (int i = 0; i < 2 && sent; ++i) {
    ResultPtr result(PQgetResult(conn));
    const bool got = result != nullptr;
    ExecStatusType status = got ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      if (i == 1) {
        rows = PgResult(std::move(result));
      }
    } else if (failure.isOk()) {
      failure =
          pgStatus(conn, status == PGRES_PIPELINE_ABORTED ? nullptr : result.get(), statement.name);
    }
    ResultPtr end(got ? PQgetResult(conn) : nullptr);
    if (!got || end) {
      sent = false;  // lost, or out of step with the pipeline: the connection is not reused
    }
  }
  if (sent) {
    ResultPtr sync(PQgetResult(conn));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      sent = false;
    }
  }
  // Leaves pipeline mode only when every result was read; otherwise reusable() says no.
  if (sent && PQexitPipelineMode(conn) != 1 && failure.isOk()) {
    failure = pgStatus(conn, nullptr, statement.name);
  }
  if (!failure.isOk()) {
    return failure;
  }
  if (!sent) {
    return Status(Errc::Unavailable, std::string(statement.name) + ": pipeline out of step");
  }
  return rows;
}

Result<PgResult> Connection::exec(const Statement& statement) {
  Params none;
  return exec(statement, none);
}

Status Connection::script(std::string_view sql) {
  std::string text(sql);
  ResultPtr result(PQexec(conn_.get(), text.c_str()));
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string head(sql.substr(0, 40));
    std::replace(head.begin(), head.end(), '\n', ' ');
    return pgStatus(conn_.get(), result.get(), "'" + head + "'");
  }
  return Status::ok();
}

Status Connection::begin() {
  local_settings_.clear();
  return script("BEGIN");
}

Status Connection::beginReadOnly() {
  local_settings_.clear();
  return script("BEGIN READ ONLY");
}

Status Connection::commit() {
  local_settings_.clear();
  return script("COMMIT");
}

Status Connection::rollback() {
  local_settings_.clear();
  return script("ROLLBACK");
}

Status Connection::setLocal(std::string_view name, std::string_view value) {
  for (const auto& [key, current] : local_settings_) {
    if (key == name && current == value) {
      return Status::ok();
    }
  }
  Params params;
  params.text(name).text(value);
  FL_ASSIGN_OR_RETURN(PgResult result, exec(kSetLocal, params));
  (void)result;
  auto it = std::find_if(local_settings_.begin(), local_settings_.end(),
                         [&](const auto& entry) { return entry.first == name; });
  if (it != local_settings_.end()) {
    it->second = std::string(value);
  } else {
    local_settings_.emplace_back(std::string(name), std::string(value));
  }
  return Status::ok();
}

bool Connection::lost() const {
  return PQstatus(conn_.get()) == CONNECTION_BAD;
}

bool Connection::reusable() const {
  return !lost() && PQpipelineStatus(conn_.get()) == PQ_PIPELINE_OFF &&
         PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
}

bool Connection::checkIdle() {
  // A server that shuts a connection down sends an error and closes the socket: the first read
  // may return the message, the second then sees the end of the stream. libpq's socket is
  // non-blocking, so on a healthy idle connection both reads return at once with nothing.
  for (int i = 0; i < 2; ++i) {
    if (PQconsumeInput(conn_.get()) == 0) {
      return false;
    }
  }
  return reusable();
}

}  // namespace faultline::aggregator::store::postgres
