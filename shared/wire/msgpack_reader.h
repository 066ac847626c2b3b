#pragma once

// A bounded, zero-copy msgpack pull reader for untrusted input.
//
// msgpack-c's unpacker allocates element arrays sized by the (untrusted) count in a header
// before it has seen the elements; this reader allocates nothing, checks every length against
// the bytes that remain, and hands out views into the input. Encoding uses msgpack-c.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultline::wire {

class MsgpackReader {
 public:
  explicit MsgpackReader(std::string_view data) : data_(data) {}

  bool atEnd() const { return pos_ == data_.size(); }
  std::size_t position() const { return pos_; }
  /// Set on the first failure; every later call fails too.
  const std::string& error() const { return error_; }
  bool failed() const { return !error_.empty(); }

  /// Each returns false (and sets error()) when the next value is not of that type.
  bool readMapHeader(std::uint32_t* count);
  bool readArrayHeader(std::uint32_t* count);
  bool readString(std::string_view* out);  // msgpack str
  bool readBinary(std::string_view* out);  // msgpack bin (str is accepted too)
  bool readUint(std::uint64_t* out);       // non-negative integers
  bool readInt(std::int64_t* out);         // any integer that fits in int64
  bool readBool(bool* out);
  bool readNil();
  /// True when the next value is nil (does not consume it).
  bool peekNil() const;
  /// Skips one value of any type, nested up to `max_depth`.
  bool skip(int max_depth);

  bool fail(std::string message);

 private:
  bool need(std::size_t n);
  std::uint8_t byte() { return static_cast<std::uint8_t>(data_[pos_++]); }
  std::uint64_t bigEndian(std::size_t n);
  bool readLength(std::uint8_t tag, std::uint32_t* len, bool* is_str);

  std::string_view data_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace faultline::wire
