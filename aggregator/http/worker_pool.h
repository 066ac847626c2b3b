#pragma once

// A fixed set of threads draining a bounded FIFO of jobs: where HTTP handlers run, off the
// loop thread.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace faultline::aggregator::http {

/// Runs submitted jobs on `threads` std::threads, in submission order. The queue of jobs not
/// yet started is bounded: trySubmit() refuses rather than grows.
///
/// Thread: trySubmit/queued/stop may be called from any thread. Jobs must not throw (a thrown
/// exception is caught and logged). stop() (and the destructor) must not be called from a job.
class WorkerPool {
 public:
  /// Starts the threads at once. `threads` 0 is treated as 1.
  WorkerPool(unsigned threads, std::size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `job` and returns true, or returns false and leaves `job` untouched when the queue
  /// already holds max_queued jobs or the pool is stopped.
  bool trySubmit(std::function<void()>&& job);

  /// Jobs waiting for a thread.
  std::size_t queued() const;

  /// Lets running jobs finish, destroys queued ones without running them, joins the threads.
  /// Idempotent.
  void stop();

 private:
  void run() noexcept;

  std::size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace faultline::aggregator::http
