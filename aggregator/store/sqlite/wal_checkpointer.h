#pragma once

// Checkpoints a database's write-ahead log on a thread and connection of its own. SQLite's
// default runs the checkpoint inside the commit that takes the WAL past 1,000 pages, on the
// one writer thread: under steady ingest that was ~15% of the writer's time (copying pages
// back into the database file and syncing it), during which no event could commit. Here the
// writer's commit only signals; a PASSIVE checkpoint on another connection copies the pages
// while the writer goes on (WAL allows one checkpointer beside one writer), and the WAL
// restarts from its beginning once a checkpoint has caught up. If the background thread ever
// falls far behind (fallback_pages), the writer checkpoints inline as before, so the WAL
// stays bounded.

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "aggregator/store/sqlite/sqlite_util.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::sqlite {

class WalCheckpointer {
 public:
  struct Options {
    int background_pages = 1000;  // SQLite's own autocheckpoint threshold
    int fallback_pages = 16000;   // 64 MiB of 4 KiB pages: the writer checkpoints itself
    int busy_timeout_ms = 5000;
  };
  struct Stats {
    std::uint64_t background = 0;  // checkpoints run by the thread
    std::uint64_t inline_ = 0;     // fallback checkpoints run by the writer's commit
  };

  /// Installs the commit hook on `writer_db` (replacing its autocheckpoint) and starts the
  /// thread with its own connection to `path`. Call while no commit runs on writer_db.
  static Result<std::unique_ptr<WalCheckpointer>> start(sqlite3* writer_db,
                                                        const std::string& path,
                                                        Options options);
  /// Removes the hook (call only once the writer has stopped committing) and joins the thread.
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  Stats stats() const;

 private:
  WalCheckpointer(sqlite3* writer_db, Options options) : writer_db_(writer_db), options_(options) {}
  static int onCommit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void loop();

  sqlite3* writer_db_;
  const Options options_;
  DbPtr db_;  // the thread's own connection

  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> background_{0};
  std::atomic<std::uint64_t> inline_{0};
  std::thread thread_;
};

}  // namespace faultline::aggregator::store::sqlite
