#pragma once

// A thin msgpack writer over msgpack-c that appends to a std::string (shared/wire internal).

#include <msgpack.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace faultline::wire {

class MsgpackWriter {
 public:
  explicit MsgpackWriter(std::string* out) { msgpack_packer_init(&pk_, out, &append); }
  void map(std::uint32_t n) { msgpack_pack_map(&pk_, n); }
  void array(std::uint32_t n) { msgpack_pack_array(&pk_, n); }
  void str(std::string_view s) {
    msgpack_pack_str(&pk_, s.size());
    msgpack_pack_str_body(&pk_, s.data(), s.size());
  }
  void bin(std::string_view s) {
    msgpack_pack_bin(&pk_, s.size());
    msgpack_pack_bin_body(&pk_, s.data(), s.size());
  }
  /// Only the header of a bin of `size` bytes: the caller appends the bytes.
  void binHeader(std::size_t size) { msgpack_pack_bin(&pk_, size); }
  void u64(std::uint64_t v) { msgpack_pack_uint64(&pk_, v); }
  void i64(std::int64_t v) { msgpack_pack_int64(&pk_, v); }
  void boolean(bool v) {
    if (v) {
      msgpack_pack_true(&pk_);
    } else {
      msgpack_pack_false(&pk_);
    }
  }

 private:
  static int append(void* data, const char* buf, size_t len) {
    static_cast<std::string*>(data)->append(buf, len);
    return 0;
  }
  msgpack_packer pk_{};
};

}  // namespace faultline::wire
