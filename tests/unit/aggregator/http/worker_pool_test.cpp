#include "aggregator/http/worker_pool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using faultline::aggregator::http::WorkerPool;

TEST_CASE("worker pool: runs jobs off the caller's thread") {
  WorkerPool pool(2, 16);
  std::promise<std::thread::id> ran_on;
  std::function<void()> job = [&] { ran_on.set_value(std::this_thread::get_id()); };
  REQUIRE(pool.trySubmit(std::move(job)));
  auto future = ran_on.get_future();
  REQUIRE(future.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(future.get() != std::this_thread::get_id());
}

TEST_CASE("worker pool: the queue is bounded and a refused job is left intact") {
  WorkerPool pool(1, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> started{false};
  std::function<void()> blocker = [&started, released] {
    started = true;
    released.wait();
  };
  REQUIRE(pool.trySubmit(std::move(blocker)));
  for (int i = 0; i < 500 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(started);
  std::atomic<int> ran{0};
  std::function<void()> second = [&ran] { ++ran; };
  CHECK(pool.trySubmit(std::move(second)));
  CHECK(pool.queued() == 1);
  std::function<void()> third = [&ran] { ran += 100; };
  CHECK_FALSE(pool.trySubmit(std::move(third)));
  CHECK(static_cast<bool>(third));  // not moved from
  release.set_value();
  for (int i = 0; i < 500 && ran == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(ran == 1);
}

TEST_CASE("worker pool: stop drops queued jobs, survives a throwing job, refuses afterwards") {
  WorkerPool pool(1, 8);
  std::function<void()> thrower = [] { throw std::runtime_error("boom"); };
  REQUIRE(pool.trySubmit(std::move(thrower)));
  std::promise<void> after_throw;
  std::function<void()> next = [&after_throw] { after_throw.set_value(); };
  REQUIRE(pool.trySubmit(std::move(next)));
  CHECK(after_throw.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  pool.stop();
  std::function<void()> late = [] {};
  CHECK_FALSE(pool.trySubmit(std::move(late)));
  pool.stop();  // idempotent
}
