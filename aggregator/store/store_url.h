#pragma once

// Where the aggregator's store lives, named by one URL:
//   ""                           SQLite at the default path (<data_dir>/faultline.db)
//   sqlite:///var/lib/x.db       SQLite at that path (sqlite:// followed by the path)
//   postgres://user@host:5432/db PostgreSQL (postgresql:// too; libpq URI syntax and parameters)
// Parsing and redaction only: no engine is opened here (see open_store.h).

#include <string>
#include <string_view>

#include "shared/util/status.h"

namespace faultline::aggregator::store {

enum class Engine : std::uint8_t { Sqlite, Postgres };

struct StoreLocation {
  Engine engine = Engine::Sqlite;
  std::string sqlite_path;   // Engine::Sqlite
  std::string postgres_url;  // Engine::Postgres, exactly as given (may hold a password)
};

/// Reads a store URL. An empty URL means SQLite at `default_sqlite_path`. InvalidArgument for
/// an unknown scheme or an empty path; the message never repeats a password.
Result<StoreLocation> parseStoreUrl(std::string_view url, std::string_view default_sqlite_path);

/// The URL with any password replaced by "***" (user:secret@host and password=... parameters),
/// for logs and error messages.
std::string redactStoreUrl(std::string_view url);

/// `text` (say, a client library's error message about `url`) with every password that `url`
/// holds, raw or percent-decoded, replaced by "***".
std::string redactPasswordsIn(std::string_view text, std::string_view url);

/// What to print about a location: "sqlite:<path>" or the redacted PostgreSQL URL.
std::string describeStoreLocation(const StoreLocation& location);

}  // namespace faultline::aggregator::store
