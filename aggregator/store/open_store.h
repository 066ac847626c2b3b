#pragma once

// Opens the store engine a StoreLocation names (see store_url.h): the one place that knows
// every engine.

#include <chrono>
#include <memory>

#include "aggregator/store/store.h"
#include "aggregator/store/store_url.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store {

/// Engine settings that are not part of the URL. SQLite ignores the pool settings.
struct StoreOptions {
  std::size_t pool_size = 8;                     // PostgreSQL connections at most
  std::chrono::milliseconds pool_timeout{5000};  // wait for a free connection this long
  std::chrono::milliseconds connect_timeout{5000};
  /// SQLite read connections kept open between uses. One closed on release costs an open and
  /// some 20 statement prepares when it is next needed, so the server keeps one per request
  /// worker plus its background readers (aggregator_config.cpp).
  std::size_t sqlite_idle_readers = 8;
};

/// Opens (creating and migrating as needed) the store. For SQLite the file's directory must
/// exist. Errors name the location with any password redacted.
Result<std::unique_ptr<Store>> openStore(const StoreLocation& location,
                                         const StoreOptions& options);

}  // namespace faultline::aggregator::store
