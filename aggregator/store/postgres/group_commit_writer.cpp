#include "aggregator/store/postgres/group_commit_writer.h"

#include <algorithm>
#include <exception>
#include <numeric>
#include <vector>

namespace faultline::aggregator::store::postgres {

GroupCommitWriter::GroupCommitWriter(ConnectionPool& pool, Options options)
    : pool_(pool), options_(options) {}

Result<std::unique_ptr<GroupCommitWriter>> GroupCommitWriter::start(ConnectionPool& pool,
                                                                    Options options) {
  std::unique_ptr<GroupCommitWriter> writer(new GroupCommitWriter(pool, options));
  writer->thread_ = std::thread([w = writer.get()] { w->loop(); });
  return writer;
}

GroupCommitWriter::~GroupCommitWriter() {
  shutdown();
}

void GroupCommitWriter::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

Status GroupCommitWriter::run(std::string order_key, Job job) {
  std::future<Status> done;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return unavailable("store is shutting down");
    }
    if (pending_ >= options_.max_pending) {
      return Status(Errc::ResourceExhausted,
                    "write queue full (" + std::to_string(options_.max_pending) + " jobs waiting)");
    }
    ++pending_;
    queue_.push_back(Pending{std::move(order_key), std::move(job), {}});
    done = queue_.back().done.get_future();
  }
  wake_.notify_one();
  return done.get();
}

std::size_t GroupCommitWriter::pending() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

GroupCommitWriter::Stats GroupCommitWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void GroupCommitWriter::loop() {
  std::deque<Pending> group;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;  // stopping, and every queued job has been run
      }
      while (!queue_.empty() && group.size() < options_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    runGroup(group);
    group.clear();
  }
}

Status GroupCommitWriter::attempt(std::deque<Pending>& group, std::vector<std::size_t>& todo,
                                  std::vector<Status>& results) {
  FL_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.acquire());
  Connection& connection = *lease;
  auto giveBack = [&] {
    if (connection.lost()) {
      lease.discard();
      pool_.dropIdle();  // the server most likely went away for all of them
    }
  };
  Status begun = connection.begin();
  if (!begun.isOk()) {
    giveBack();
    return begun.withContext("begin write transaction");
  }
  for (std::size_t i = 0; i < todo.size(); ++i) {
    Pending& pending = group[todo[i]];
    Status status;
    try {
      status = pending.job(connection);
    } catch (const std::exception& e) {
      status = internalError(std::string("write job threw: ") + e.what());
    }
    if (status.isOk()) {
      continue;
    }
    if (!connection.lost()) {
      (void)connection.rollback();
    }
    if (connection.lost() || status.code() == Errc::Unavailable) {
      giveBack();
      return status;  // not this job's fault: the caller retries the whole group
    }
    results[todo[i]] = status;
    todo.erase(todo.begin() + static_cast<std::ptrdiff_t>(i));
    std::lock_guard lock(mutex_);
    ++stats_.reruns;
    return Status(Errc::Ok, "");  // rolled back; run the others again
  }
  Status committed = connection.commit();
  if (!committed.isOk()) {
    giveBack();
    // Lost during COMMIT, the outcome is unknown: report it as transient and do not retry here.
    // Callers' writes are idempotent (a resent batch is recognized), so their retry is safe.
    for (std::size_t index : todo) {
      results[index] = committed.withContext("commit");
    }
    todo.clear();
    return Status::ok();
  }
  for (std::size_t index : todo) {
    results[index] = Status::ok();
  }
  todo.clear();
  return Status::ok();
}

void GroupCommitWriter::runGroup(std::deque<Pending>& group) {
  std::vector<std::size_t> todo(group.size());
  std::iota(todo.begin(), todo.end(), std::size_t{0});
  std::stable_sort(todo.begin(), todo.end(), [&](std::size_t a, std::size_t b) {
    return group[a].order_key < group[b].order_key;
  });
  std::vector<Status> results(group.size());
  int attempts = 0;
  while (!todo.empty()) {
    Status status = attempt(group, todo, results);
    if (status.isOk()) {
      continue;  // committed (todo is empty) or one job failed alone (rerun the rest)
    }
    ++attempts;
    bool transient = status.code() == Errc::Unavailable;
    if (transient && attempts < options_.max_attempts) {
      std::lock_guard lock(mutex_);
      ++stats_.reruns;
      continue;
    }
    for (std::size_t index : todo) {
      results[index] = status;
    }
    todo.clear();
  }
  // Accounting happens before completion so that a caller that sees its job done also sees the
  // queue without it.
  {
    std::lock_guard lock(mutex_);
    pending_ -= group.size();
    stats_.groups += 1;
    stats_.jobs += group.size();
  }
  for (std::size_t i = 0; i < group.size(); ++i) {
    group[i].done.set_value(results[i]);
  }
}

}  // namespace faultline::aggregator::store::postgres
