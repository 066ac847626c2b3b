#include "agent/pipeline/uv_timer.h"

namespace faultline::agent {

UvTimer::UvTimer(uv_loop_t* loop, std::function<void()> callback)
    : state_(new State{uv_timer_t{}, std::move(callback)}) {
  uv_timer_init(loop, &state_->handle);
  state_->handle.data = state_;
}

UvTimer::~UvTimer() {
  uv_timer_stop(&state_->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
           [](uv_handle_t* handle) noexcept { delete static_cast<State*>(handle->data); });
}

void UvTimer::start(std::chrono::milliseconds delay, std::chrono::milliseconds repeat) {
  uv_timer_start(
      &state_->handle,
      [](uv_timer_t* handle) noexcept { static_cast<State*>(handle->data)->callback(); },
      static_cast<std::uint64_t>(delay.count() < 0 ? 0 : delay.count()),
      static_cast<std::uint64_t>(repeat.count() < 0 ? 0 : repeat.count()));
}

void UvTimer::stop() {
  uv_timer_stop(&state_->handle);
}

bool UvTimer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(&state_->handle)) != 0;
}

void UvTimer::unref() {
  uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle));
}

}  // namespace faultline::agent
