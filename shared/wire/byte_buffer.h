#pragma once

// A growable byte buffer for the encoder's hot path (shared/wire internal): appends compile to
// a capacity check and a store, without std::string's terminator upkeep or memcpy calls for
// one-byte writes. Move-only; keeps its capacity across clear().

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace faultline::wire {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ~ByteBuffer() { std::free(data_); }
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    return *this;
  }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const char* data() const { return data_; }
  std::string_view view() const { return {data_, size_}; }
  char& operator[](std::size_t i) { return data_[i]; }
  void clear() { size_ = 0; }
  std::size_t capacity() const { return capacity_; }
  /// Frees the storage (clear() keeps it).
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
    capacity_ = 0;
  }

  void push(char c) {
    if (size_ == capacity_) {
      grow(1);
    }
    data_[size_++] = c;
  }
  void append(std::string_view bytes) {
    if (capacity_ - size_ < bytes.size()) {
      grow(bytes.size());
    }
    if (!bytes.empty()) {
      std::memcpy(data_ + size_, bytes.data(), bytes.size());
    }
    size_ += bytes.size();
  }
  void putVarint(std::uint64_t value) {
    if (capacity_ - size_ < 10) {
      grow(10);
    }
    char* out = data_ + size_;
    while (value >= 0x80) {
      *out++ = static_cast<char>(static_cast<std::uint8_t>(value) | 0x80);
      value >>= 7;
    }
    *out++ = static_cast<char>(value);
    size_ = static_cast<std::size_t>(out - data_);
  }

 private:
  void grow(std::size_t need) {
    std::size_t capacity = capacity_ < 64 ? 64 : capacity_ * 2;
    while (capacity - size_ < need) {
      capacity *= 2;
    }
    void* grown = std::realloc(data_, capacity);
    if (grown == nullptr) {
      throw std::bad_alloc();  // like std::string: out of memory is not recoverable here
    }
    data_ = static_cast<char*>(grown);
    capacity_ = capacity;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace faultline::wire
