#include "aggregator/http/response_stream.h"

#include <exception>
#include <utility>

#include "shared/util/log.h"

namespace faultline::aggregator::http {

bool ResponseStream::write(std::string_view data) {
  std::lock_guard lock(mu_);
  if (closed_) {
    return false;
  }
  if (unsent_ + data.size() > max_buffered_) {
    closed_ = true;
    overflowed_ = true;
    wakeLocked();  // the loop closes the connection
    return false;
  }
  pending_.append(data);
  unsent_ += data.size();
  wakeLocked();
  return true;
}

void ResponseStream::end() {
  std::lock_guard lock(mu_);
  if (closed_) {
    return;
  }
  closed_ = true;
  ended_ = true;
  wakeLocked();
}

bool ResponseStream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool ResponseStream::overflowed() const {
  std::lock_guard lock(mu_);
  return overflowed_;
}

std::size_t ResponseStream::buffered() const {
  std::lock_guard lock(mu_);
  return unsent_;
}

void ResponseStream::onClose(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (!finished_) {
      on_close_ = std::move(callback);
      return;
    }
  }
  if (callback) {
    callback();
  }
}

void ResponseStream::attach(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
  wake_posted_ = false;
  if (!pending_.empty() || closed_) {
    wakeLocked();
  }
}

ResponseStream::Taken ResponseStream::take() {
  std::lock_guard lock(mu_);
  Taken taken;
  taken.data.swap(pending_);
  taken.ended = ended_;
  taken.overflowed = overflowed_;
  wake_posted_ = false;
  return taken;
}

void ResponseStream::written(std::size_t bytes) {
  std::lock_guard lock(mu_);
  unsent_ = bytes > unsent_ ? 0 : unsent_ - bytes;
}

void ResponseStream::finish() {
  std::function<void()> callback;
  {
    std::lock_guard lock(mu_);
    if (finished_) {
      return;
    }
    finished_ = true;
    closed_ = true;
    wake_ = nullptr;
    pending_.clear();
    callback.swap(on_close_);
  }
  if (callback) {
    try {
      callback();
    } catch (const std::exception& e) {
      log::error("http", std::string("stream close callback threw: ") + e.what());
    }
  }
}

void ResponseStream::wakeLocked() {
  if (wake_ && !wake_posted_) {
    wake_posted_ = true;
    wake_();
  }
}

}  // namespace faultline::aggregator::http
