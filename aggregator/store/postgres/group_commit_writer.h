#pragma once

// Group commit for the PostgreSQL engine: a thread takes every queued write job and runs them in
// one transaction on one pooled connection, so many concurrent small writes share one commit
// (one WAL flush) instead of paying one each. synchronous_commit stays on: a job's run() returns
// only after the COMMIT that made it durable.
//
// Unlike the SQLite writer it uses no savepoint per job (two more round trips each). When a job
// fails, the whole transaction is rolled back and the group is run again without it; when the
// connection is lost or the server aborts the transaction for a transient reason (deadlock,
// restart) before COMMIT, the whole group is retried on a fresh connection.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "aggregator/store/postgres/connection_pool.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store::postgres {

/// Thread: run() may be called from any thread; jobs run on the writer thread only. Does not own
/// the pool, which must outlive the writer.
class GroupCommitWriter {
 public:
  /// A unit of work, run on the writer thread inside the group's transaction. It may run more
  /// than once (a rerun after another job failed or the connection was lost), so it must write
  /// its results afresh on every run; they are valid only when run() returns ok. Its non-ok
  /// Status rolls back everything it did.
  using Job = std::function<Status(Connection&)>;

  struct Options {
    std::size_t max_pending = 1024;  // queued + running jobs; beyond: ResourceExhausted
    std::size_t max_group = 512;     // jobs per transaction
    int max_attempts = 3;            // tries of one group against transient failures
  };

  struct Stats {
    std::uint64_t groups = 0;  // transactions committed or given up
    std::uint64_t jobs = 0;
    std::uint64_t reruns = 0;  // group transactions rolled back and run again
  };

  static Result<std::unique_ptr<GroupCommitWriter>> start(ConnectionPool& pool, Options options);
  /// Finishes queued jobs, then joins the thread (see shutdown()).
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  /// Queues `job` and blocks until its transaction has committed or it failed. Within a group,
  /// jobs run in `order_key` order (stable), so that every writer takes row locks in one global
  /// order and two aggregators writing the same rows cannot deadlock. ResourceExhausted at once
  /// when max_pending jobs are already waiting.
  Status run(std::string order_key, Job job);

  /// Refuses new jobs (Unavailable), finishes the queued ones and joins the thread. The writer
  /// object stays valid, so a late caller gets an error rather than a dangling writer.
  void shutdown();

  std::size_t pending() const;
  Stats stats() const;

 private:
  struct Pending {
    std::string order_key;
    Job job;
    std::promise<Status> done;
  };

  GroupCommitWriter(ConnectionPool& pool, Options options);
  void loop();
  void runGroup(std::deque<Pending>& group);
  /// One attempt at the jobs listed in `todo`: fills results of jobs that failed on their own,
  /// removes them from `todo`, and returns ok when the rest committed, or a transient error.
  Status attempt(std::deque<Pending>& group, std::vector<std::size_t>& todo,
                 std::vector<Status>& results);

  ConnectionPool& pool_;
  Options options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::size_t pending_ = 0;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace faultline::aggregator::store::postgres
