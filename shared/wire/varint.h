#pragma once

// LEB128 varints and zigzag for the batch v2 body (shared/wire internal).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultline::wire {

inline void putVarint(std::string& out, std::uint64_t value) {
  char buf[10];
  std::size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>(static_cast<std::uint8_t>(value) | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  out.append(buf, n);
}

inline std::size_t varintSize(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

inline std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

inline std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

/// A bounds-checked cursor over one stream of the body. Every read fails (and keeps failing)
/// past the end; overlong or non-minimal varints are errors, so each value has one encoding.
class StreamReader {
 public:
  StreamReader() = default;
  explicit StreamReader(std::string_view data) : data_(data) {}

  bool ok() const { return ok_; }
  bool atEnd() const { return pos_ == data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  std::string_view view(std::size_t begin, std::size_t end) const {
    return data_.substr(begin, end - begin);
  }

  bool varint(std::uint64_t* out) {
    if (!ok_) {
      return false;
    }
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64 && pos_ < data_.size(); shift += 7) {
      const auto byte = static_cast<std::uint8_t>(data_[pos_++]);
      if (shift == 63 && byte > 1) {
        break;  // more than 64 bits
      }
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        if (byte == 0 && shift != 0) {
          break;  // non-minimal: a trailing zero group
        }
        *out = value;
        return true;
      }
    }
    return ok_ = false;
  }
  bool byte(std::uint8_t* out) {
    if (!ok_ || pos_ >= data_.size()) {
      return ok_ = false;
    }
    *out = static_cast<std::uint8_t>(data_[pos_++]);
    return true;
  }
  bool bytes(std::size_t n, std::string_view* out) {
    if (!ok_ || data_.size() - pos_ < n) {
      return ok_ = false;
    }
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool fixed64(std::uint64_t* out) {
    std::string_view raw;
    if (!bytes(8, &raw)) {
      return false;
    }
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i) {
      value = (value << 8) | static_cast<std::uint8_t>(raw[static_cast<std::size_t>(i)]);
    }
    *out = value;
    return true;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

inline void putFixed64(std::string& out, std::uint64_t value) {
  char buf[8];
  for (char& c : buf) {
    c = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out.append(buf, 8);
}

}  // namespace faultline::wire
