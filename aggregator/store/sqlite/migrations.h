#pragma once

// Versioned, ordered schema migrations for the SQLite engine. Each migration runs once, in its
// own transaction, and is recorded in `schema_migrations`; a database whose schema is newer
// than this binary knows is refused rather than written to.

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::aggregator::store::sqlite {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

/// The migrations this binary knows, in ascending version order.
const std::vector<Migration>& migrations();

/// The newest schema version this binary knows.
int latestSchemaVersion();

/// Brings `db` up to latestSchemaVersion(). Safe against another process migrating the same
/// file at the same time (the version is re-read inside each write transaction).
/// FailedPrecondition when the database is newer than this binary. `path` is for messages.
Status migrate(sqlite3* db, const std::string& path);

}  // namespace faultline::aggregator::store::sqlite
