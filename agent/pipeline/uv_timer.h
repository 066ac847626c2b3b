#pragma once

// A libuv timer owned RAII-style. The handle lives on the heap and is freed by its close
// callback, so the owner may be destroyed at once; the loop must run once more afterwards.
// Loop thread only.

#include <uv.h>

#include <chrono>
#include <functional>

namespace faultline::agent {

class UvTimer {
 public:
  UvTimer(uv_loop_t* loop, std::function<void()> callback);
  ~UvTimer();
  UvTimer(const UvTimer&) = delete;
  UvTimer& operator=(const UvTimer&) = delete;

  /// (Re)starts the timer; `repeat` of zero fires once.
  void start(std::chrono::milliseconds delay,
             std::chrono::milliseconds repeat = std::chrono::milliseconds(0));
  void stop();
  bool active() const;
  /// Lets the loop exit while only this timer is active.
  void unref();

 private:
  struct State {
    uv_timer_t handle;
    std::function<void()> callback;
  };
  State* state_;
};

}  // namespace faultline::agent
