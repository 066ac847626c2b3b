#pragma once

// RAII for C resources: std::unique_ptr<T, CDeleter<&destroy_fn>>.

#include <memory>

namespace faultline {

/// A stateless deleter that calls a C destroy function, e.g. CDeleter<&sqlite3_finalize>.
template <auto DestroyFn>
struct CDeleter {
  template <typename T>
  void operator()(T* ptr) const noexcept {
    if (ptr != nullptr) {
      DestroyFn(ptr);
    }
  }
};

template <typename T, auto DestroyFn>
using CPtr = std::unique_ptr<T, CDeleter<DestroyFn>>;

/// Closes a POSIX file descriptor on scope exit. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset(other.release());
    }
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace faultline
