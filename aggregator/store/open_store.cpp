#include "aggregator/store/open_store.h"

#include "aggregator/store/postgres/postgres_store.h"
#include "aggregator/store/sqlite/sqlite_store.h"

namespace faultline::aggregator::store {

Result<std::unique_ptr<Store>> openStore(const StoreLocation& location,
                                         const StoreOptions& options) {
  switch (location.engine) {
    case Engine::Sqlite: {
      sqlite::SqliteStoreOptions sqlite_options;
      sqlite_options.path = location.sqlite_path;
      sqlite_options.max_idle_readers = options.sqlite_idle_readers;
      FL_ASSIGN_OR_RETURN(auto opened, sqlite::SqliteStore::open(std::move(sqlite_options)));
      return std::unique_ptr<Store>(std::move(opened));
    }
    case Engine::Postgres: {
      postgres::PostgresStoreOptions postgres_options;
      postgres_options.url = location.postgres_url;
      postgres_options.pool_size = options.pool_size;
      postgres_options.pool_timeout = options.pool_timeout;
      postgres_options.connect_timeout = options.connect_timeout;
      FL_ASSIGN_OR_RETURN(auto opened, postgres::PostgresStore::open(std::move(postgres_options)));
      return std::unique_ptr<Store>(std::move(opened));
    }
  }
  return internalError("unknown store engine");
}

}  // namespace faultline::aggregator::store
