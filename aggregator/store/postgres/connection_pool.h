#pragma once

// A fixed-size pool of PostgreSQL connections. Connections are opened on demand up to the size,
// handed out one caller at a time, checked before reuse, and closed (then replaced on demand)
// when they are lost or left inside a transaction.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aggregator/store/postgres/pg_connection.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::postgres {

struct PoolOptions {
  std::string url;               // libpq URI (may hold a password)
  std::string url_for_messages;  // the same, redacted
  std::size_t size = 8;          // connections at most
  std::chrono::milliseconds checkout_timeout{5000};
  std::chrono::milliseconds connect_timeout{5000};
};

/// Thread-safe. Must outlive every Lease it hands out.
class ConnectionPool {
 public:
  /// A borrowed connection; goes back to the pool (or is closed when unusable) on destruction.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Connection* operator->() { return connection_.get(); }
    Connection& operator*() { return *connection_; }
    /// Closes the connection instead of returning it.
    void discard();

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  struct Stats {
    std::size_t open = 0;  // connections open or being opened
    std::size_t idle = 0;
    std::uint64_t opened = 0;     // connections opened since start
    std::uint64_t discarded = 0;  // closed because lost or unusable
  };

  explicit ConnectionPool(PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// An idle connection, a new one when fewer than `size` are open, or, when all are busy, the
  /// first one returned within checkout_timeout. Unavailable when none frees up in time or the
  /// server cannot be reached.
  Result<Lease> acquire();

  /// Closes every idle connection: called when one turned out dead, since the others most
  /// likely died with it (server restart).
  void dropIdle();

  Stats stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  void release(std::unique_ptr<Connection> connection, bool discard);

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  Stats stats_;
};

}  // namespace faultline::aggregator::store::postgres
