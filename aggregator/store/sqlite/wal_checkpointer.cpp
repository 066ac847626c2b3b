#include "aggregator/store/sqlite/wal_checkpointer.h"

#include <chrono>

#include "shared/util/log.h"

namespace faultline::aggregator::store::sqlite {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::start(sqlite3* writer_db,
                                                                const std::string& path,
                                                                Options options) {
  std::unique_ptr<WalCheckpointer> checkpointer(new WalCheckpointer(writer_db, options));
  FL_ASSIGN_OR_RETURN(checkpointer->db_, openDatabase(path, options.busy_timeout_ms));
  // The hook replaces the writer's autocheckpoint (both are the one WAL hook of a connection).
  sqlite3_wal_hook(writer_db, &WalCheckpointer::onCommit, checkpointer.get());
  WalCheckpointer* self = checkpointer.get();
  checkpointer->thread_ = std::thread([self] { self->loop(); });
  return checkpointer;
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_hook(writer_db_, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

int WalCheckpointer::onCommit(void* self_ptr, sqlite3* db, const char* schema, int wal_pages) {
  auto* self = static_cast<WalCheckpointer*>(self_ptr);
  if (wal_pages >= self->options_.fallback_pages) {
    // The thread fell far behind (or a reader pins an old snapshot): bound the WAL here.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    self->inline_.fetch_add(1, std::memory_order_relaxed);
    return SQLITE_OK;
  }
  if (wal_pages >= self->options_.background_pages) {
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->wanted_ = true;
    }
    self->cv_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return wanted_ || stopping_; });
      if (stopping_) {
        return;
      }
      wanted_ = false;
    }
    int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                       nullptr);
    if (rc == SQLITE_OK) {
      background_.fetch_add(1, std::memory_order_relaxed);
    } else if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      log::warn("store", std::string("sqlite: background checkpoint failed: ") +
                             sqlite3_errmsg(db_.get()));
    }
    // Commits keep signalling while the WAL is long (until it restarts): one checkpoint per
    // few milliseconds at most, not one per commit.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(5), [&] { return stopping_; });
  }
}

WalCheckpointer::Stats WalCheckpointer::stats() const {
  return {background_.load(std::memory_order_relaxed), inline_.load(std::memory_order_relaxed)};
}

}  // namespace faultline::aggregator::store::sqlite
