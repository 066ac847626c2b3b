#include "aggregator/store/sqlite/group_commit_writer.h"

#include <exception>
#include <vector>

#include "shared/util/log.h"

namespace faultline::aggregator::store::sqlite {
namespace {
constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";
constexpr std::string_view kSavepoint = "SAVEPOINT job";
constexpr std::string_view kRelease = "RELEASE job";
constexpr std::string_view kRollbackTo = "ROLLBACK TO job";
}  // namespace

GroupCommitWriter::GroupCommitWriter(sqlite3* db, Options options) : db_(db), options_(options) {}

Result<std::unique_ptr<GroupCommitWriter>> GroupCommitWriter::start(sqlite3* db, Options options) {
  std::unique_ptr<GroupCommitWriter> writer(new GroupCommitWriter(db, options));
  FL_ASSIGN_OR_RETURN(writer->begin_, Stmt::prepare(db, kBegin));
  FL_ASSIGN_OR_RETURN(writer->commit_, Stmt::prepare(db, kCommit));
  FL_ASSIGN_OR_RETURN(writer->rollback_, Stmt::prepare(db, kRollback));
  FL_ASSIGN_OR_RETURN(writer->savepoint_, Stmt::prepare(db, kSavepoint));
  FL_ASSIGN_OR_RETURN(writer->release_, Stmt::prepare(db, kRelease));
  FL_ASSIGN_OR_RETURN(writer->rollback_to_, Stmt::prepare(db, kRollbackTo));
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

void GroupCommitWriter::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return queue_.empty() && !group_running_; });
}

Status GroupCommitWriter::enqueue(Pending pending) {
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
    queue_.push_back(std::move(pending));
  }
  wake_.notify_one();
  return Status::ok();
}

Status GroupCommitWriter::run(Job job) {
  Pending pending{std::move(job), {}, {}};
  std::future<Status> done = pending.done.get_future();
  FL_RETURN_IF_ERROR(enqueue(std::move(pending)));
  return done.get();
}

Status GroupCommitWriter::submit(Job job, std::function<void(Status)> done) {
  return enqueue(Pending{std::move(job), {}, std::move(done)});
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
      group_running_ = true;
    }
    runGroup(group);
    group.clear();  // what the jobs and callbacks captured goes now, before drain() returns
    {
      std::lock_guard lock(mutex_);
      group_running_ = false;
    }
    idle_.notify_all();
  }
}

void GroupCommitWriter::runGroup(std::deque<Pending>& group) {
  // Accounting happens before completion so that a caller that sees its job done also sees
  // the queue without it.
  auto complete = [&](const std::vector<Status>& results) {
    {
      std::lock_guard lock(mutex_);
      pending_ -= group.size();
      stats_.groups += 1;
      stats_.jobs += group.size();
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (!group[i].on_done) {
        group[i].done.set_value(results[i]);
        continue;
      }
      try {
        group[i].on_done(results[i]);
      } catch (const std::exception& e) {
        // Committed or not, the writer must go on; the caller's callback failed alone.
        log::error("store", std::string("write completion threw: ") + e.what());
      }
    }
  };
  Status begun = [&] {
    StmtUse use(begin_);
    return use->run();
  }();
  if (!begun.isOk()) {
    complete(std::vector<Status>(group.size(), begun.withContext("begin write transaction")));
    return;
  }
  std::vector<Status> results;
  results.reserve(group.size());
  Status aborted;  // set when SQLite rolled the whole transaction back on its own
  for (Pending& pending : group) {
    if (!aborted.isOk()) {
      results.push_back(aborted);
      continue;
    }
    Status status = [&] {
      StmtUse use(savepoint_);
      return use->run();
    }();
    if (status.isOk()) {
      try {
        status = pending.job();
      } catch (const std::exception& e) {
        status = internalError(std::string("write job threw: ") + e.what());
      }
      if (status.isOk()) {
        StmtUse use(release_);
        status = use->run();
      } else if (sqlite3_get_autocommit(db_) == 0) {
        StmtUse rollback_to(rollback_to_);
        (void)rollback_to->run();
        StmtUse release(release_);
        (void)release->run();
      }
    }
    // Some errors (disk full, I/O) end the transaction; nothing in this group can commit.
    if (sqlite3_get_autocommit(db_) != 0) {
      aborted = status.isOk() ? internalError("write transaction ended unexpectedly") : status;
      for (Status& earlier : results) {
        if (earlier.isOk()) {
          earlier = aborted;
        }
      }
      status = aborted;
    }
    results.push_back(status);
  }
  if (aborted.isOk()) {
    Status committed = [&] {
      StmtUse use(commit_);
      return use->run();
    }();
    if (!committed.isOk()) {
      if (sqlite3_get_autocommit(db_) == 0) {
        StmtUse use(rollback_);
        (void)use->run();
      }
      for (Status& result : results) {
        if (result.isOk()) {
          result = committed.withContext("commit");
        }
      }
    }
  }
  complete(results);
}

}  // namespace faultline::aggregator::store::sqlite
