#include "aggregator/store/postgres/connection_pool.h"

namespace faultline::aggregator::store::postgres {

ConnectionPool::Lease::~Lease() {
  if (connection_ != nullptr) {
    pool_->release(std::move(connection_), false);
  }
}

void ConnectionPool::Lease::discard() {
  if (connection_ != nullptr) {
    pool_->release(std::move(connection_), true);
  }
}

ConnectionPool::ConnectionPool(PoolOptions options) : options_(std::move(options)) {
  if (options_.size == 0) {
    options_.size = 1;
  }
}

ConnectionPool::~ConnectionPool() = default;

Result<ConnectionPool::Lease> ConnectionPool::acquire() {
  const auto deadline = std::chrono::steady_clock::now() + options_.checkout_timeout;
  for (;;) {
    std::unique_ptr<Connection> connection;
    {
      std::unique_lock lock(mutex_);
      bool ready = freed_.wait_until(lock, deadline,
                                     [&] { return !idle_.empty() || stats_.open < options_.size; });
      if (!ready) {
        return Status(Errc::Unavailable,
                      "database connection pool exhausted: all " + std::to_string(options_.size) +
                          " connections busy for " +
                          std::to_string(options_.checkout_timeout.count()) + " ms");
      }
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++stats_.open;  // reserve the slot; connect outside the lock
      }
    }
    if (connection != nullptr) {
      if (connection->checkIdle()) {
        return Lease(this, std::move(connection));
      }
      // The server closed it while it sat idle; the others likely went with it.
      release(std::move(connection), true);
      dropIdle();
      continue;
    }
    auto connected =
        Connection::connect(options_.url, options_.url_for_messages, options_.connect_timeout);
    std::lock_guard lock(mutex_);
    if (!connected.isOk()) {
      --stats_.open;
      freed_.notify_one();
      return connected.status();
    }
    ++stats_.opened;
    return Lease(this, std::move(connected).value());
  }
}

void ConnectionPool::release(std::unique_ptr<Connection> connection, bool discard) {
  bool keep = !discard && connection->reusable();
  if (!keep && !connection->lost()) {
    // Left inside a transaction by an error path: try to make it reusable.
    if (!discard && connection->rollback().isOk() && connection->reusable()) {
      keep = true;
    }
  }
  std::unique_ptr<Connection> closing;
  {
    std::lock_guard lock(mutex_);
    if (keep) {
      idle_.push_back(std::move(connection));
    } else {
      --stats_.open;
      ++stats_.discarded;
      closing = std::move(connection);
    }
  }
  freed_.notify_one();
  // PQfinish may block on the socket; never under the lock.
  closing.reset();
}

void ConnectionPool::dropIdle() {
  std::vector<std::unique_ptr<Connection>> closing;
  {
    std::lock_guard lock(mutex_);
    closing.swap(idle_);
    stats_.open -= closing.size();
    stats_.discarded += closing.size();
  }
  freed_.notify_all();
}

ConnectionPool::Stats ConnectionPool::stats() const {
  std::lock_guard lock(mutex_);
  Stats stats = stats_;
  stats.idle = idle_.size();
  return stats;
}

}  // namespace faultline::aggregator::store::postgres
