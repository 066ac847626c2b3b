#pragma once

// Versioned, ordered schema migrations for the PostgreSQL engine. Each migration runs once, in
// its own transaction, and is recorded in `schema_migrations`; a database whose schema is newer
// than this binary knows is refused rather than written to. A session advisory lock serializes
// aggregators that start at the same time against the same database.

#include <string>
#include <string_view>
#include <vector>

#include "aggregator/store/postgres/pg_connection.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::postgres {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;  // may hold several statements; no parameters
};

/// The migrations this binary knows, in ascending version order. New tables join here, each
/// with tenant_id and the row-level security policy (see the v1 SQL).
const std::vector<Migration>& migrations();

/// The newest schema version this binary knows.
int latestSchemaVersion();

/// Key of the advisory lock held while migrating (pg_advisory_lock).
constexpr std::int64_t kMigrationLockKey = 0x46'4c'54'4d'49'47'52'54;  // "FLTMIGRT"

/// Brings the database `connection` points at up to latestSchemaVersion(). FailedPrecondition
/// when the database is newer than this binary. `where` (the redacted URL) is for messages.
Status migrate(Connection& connection, const std::string& where);

}  // namespace faultline::aggregator::store::postgres
