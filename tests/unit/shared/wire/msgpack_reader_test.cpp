#include "shared/wire/msgpack_reader.h"

#include <doctest/doctest.h>
#include <msgpack.h>

#include <string>

using faultline::wire::MsgpackReader;

namespace {
int append(void* data, const char* buf, size_t len) {
  static_cast<std::string*>(data)->append(buf, len);
  return 0;
}
}  // namespace

TEST_CASE("reader decodes what msgpack-c encodes") {
  std::string buf;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buf, append);
  msgpack_pack_array(&pk, 7);
  msgpack_pack_int64(&pk, -5);
  msgpack_pack_int64(&pk, -300000);
  msgpack_pack_uint64(&pk, 18446744073709551615ULL);
  msgpack_pack_str(&pk, 5);
  msgpack_pack_str_body(&pk, "hello", 5);
  msgpack_pack_true(&pk);
  msgpack_pack_nil(&pk);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_int64(&pk, 1);
  msgpack_pack_double(&pk, 2.5);

  MsgpackReader in(buf);
  std::uint32_t n = 0;
  REQUIRE(in.readArrayHeader(&n));
  CHECK(n == 7);
  std::int64_t i = 0;
  REQUIRE(in.readInt(&i));
  CHECK(i == -5);
  REQUIRE(in.readInt(&i));
  CHECK(i == -300000);
  std::uint64_t u = 0;
  REQUIRE(in.readUint(&u));
  CHECK(u == 18446744073709551615ULL);
  std::string_view s;
  REQUIRE(in.readString(&s));
  CHECK(s == "hello");
  bool b = false;
  REQUIRE(in.readBool(&b));
  CHECK(b);
  CHECK(in.peekNil());
  REQUIRE(in.readNil());
  REQUIRE(in.skip(4));
  CHECK(in.atEnd());
  CHECK_FALSE(in.failed());
}

TEST_CASE("reader fails cleanly on wrong types, truncation and depth") {
  MsgpackReader wrong("\xa3" "abc");
  std::int64_t i = 0;
  CHECK_FALSE(wrong.readInt(&i));
  CHECK(wrong.failed());

  MsgpackReader truncated("\xa5" "ab");
  std::string_view s;
  CHECK_FALSE(truncated.readString(&s));
  CHECK(truncated.error().find("truncated") != std::string::npos);

  std::string deep(100, '\x91');
  deep += '\x01';
  MsgpackReader nested(deep);
  CHECK_FALSE(nested.skip(32));
  CHECK(nested.error().find("deep") != std::string::npos);

  MsgpackReader negative("\xff");
  std::uint64_t u = 0;
  CHECK_FALSE(negative.readUint(&u));
}
