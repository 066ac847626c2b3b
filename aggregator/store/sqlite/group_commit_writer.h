#pragma once

// The one writer of a SQLite database: a thread that takes every queued write job, runs them
// in one transaction (each inside its own SAVEPOINT, so a failing job rolls back alone) and
// completes them after COMMIT. Many small writes then cost one fsync per group instead of one
// each.

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "aggregator/store/sqlite/sqlite_util.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::sqlite {

/// Thread: run() may be called from any thread; jobs run on the writer thread only, so the
/// statements they use need no locking. Does not own the connection; the connection must
/// outlive the writer.
class GroupCommitWriter {
 public:
  /// A unit of work; runs on the writer thread inside a savepoint. Its non-ok Status rolls
  /// back only its own changes. Results it writes to caller memory are valid only when run()
  /// returns ok.
  using Job = std::function<Status()>;

  struct Options {
    std::size_t max_pending = 1024;  // queued + running jobs; beyond: ResourceExhausted
    std::size_t max_group = 512;     // jobs per transaction
  };

  struct Stats {
    std::uint64_t groups = 0;  // transactions committed or rolled back
    std::uint64_t jobs = 0;
  };

  static Result<std::unique_ptr<GroupCommitWriter>> start(sqlite3* db, Options options);
  /// Finishes queued jobs, then joins the thread (see shutdown()).
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  /// Queues `job` and blocks until its transaction has committed (durable) or failed.
  /// ResourceExhausted at once when max_pending jobs are already waiting.
  Status run(Job job);
  /// Queues `job` without waiting: `done` gets its result on the writer thread once its
  /// transaction has committed or failed (keep it short: the next group waits for it; never
  /// call the writer from it). A non-ok return (queue full, shutting down) means the job was
  /// not queued and `done` will not be called.
  Status submit(Job job, std::function<void(Status)> done);

  /// Blocks until every job queued so far has run and its completion (`done`) has been called
  /// and released, so nothing a callback captured is still held by the writer. Jobs queued
  /// meanwhile are waited for too. Never call it from a completion.
  void drain();
  /// Refuses new jobs (Unavailable), finishes the queued ones and joins the thread. The writer
  /// object stays valid, so a late caller gets an error rather than a dangling writer.
  void shutdown();

  std::size_t pending() const;
  Stats stats() const;

 private:
  struct Pending {
    Job job;
    std::promise<Status> done;            // run()
    std::function<void(Status)> on_done;  // submit()
  };
  /// Queues under the lock; the non-ok Status when it cannot.
  Status enqueue(Pending pending);

  GroupCommitWriter(sqlite3* db, Options options);
  void loop();
  void runGroup(std::deque<Pending>& group);

  sqlite3* db_;
  Options options_;
  Stmt begin_;
  Stmt commit_;
  Stmt rollback_;
  Stmt savepoint_;
  Stmt release_;
  Stmt rollback_to_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;  // a group finished: drain() looks again
  std::deque<Pending> queue_;
  std::size_t pending_ = 0;
  bool group_running_ = false;  // taken from the queue, not completed and released yet
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace faultline::aggregator::store::sqlite
