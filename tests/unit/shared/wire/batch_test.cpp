#include "shared/wire/batch.h"

#include <doctest/doctest.h>

#include <string>

#include "shared/wire/batch_v1_builder.h"

using namespace faultline;
using namespace faultline::wire;

namespace {
BatchHeader header(std::uint64_t seq) {
  return {"agt_test", 3, seq, 1'700'000'000'000'000'000};
}
}  // namespace

TEST_CASE("batch round-trips lines byte for byte, including non-UTF-8 and empty lines") {
  BatchBuilder builder;
  std::uint32_t a = builder.sourceIndex("/var/log/a.log");
  std::uint32_t b = builder.sourceIndex("/var/log/b.log");
  CHECK(builder.sourceIndex("/var/log/a.log") == a);
  std::string binary("\x00\xff\xfe\r\tnot utf8 \xc3\x28", 15);
  builder.addRecord(a, 100, "first line");
  builder.addRecord(b, 200, "");
  builder.addRecord(a, 150, binary, /*no_newline=*/true);
  auto sealed = builder.seal(header(7));
  REQUIRE(sealed.isOk());
  auto decoded = decodeBatch(*sealed);
  REQUIRE_MESSAGE(decoded.isOk(), decoded.status().toString());
  const DecodedBatch& batch = **decoded;
  CHECK(batch.version == kBatchVersion);
  CHECK(batch.header.agent == "agt_test");
  CHECK(batch.header.epoch == 3);
  CHECK(batch.header.seq == 7);
  REQUIRE(batch.sources.size() == 2);
  CHECK(batch.sources[0] == "/var/log/a.log");
  REQUIRE(batch.records.size() == 3);
  CHECK(batch.records[0].line == "first line");
  CHECK(batch.records[1].line.empty());
  CHECK(batch.records[1].source == b);
  CHECK(batch.records[2].line == binary);
  CHECK(batch.records[2].no_newline);
  CHECK_FALSE(batch.records[0].no_newline);
  CHECK(batch.min_ts_ns == 100);
  CHECK(batch.max_ts_ns == 200);
  CHECK(batch.line_bytes == 10 + binary.size());
}

TEST_CASE("builder reset starts an empty batch") {
  BatchBuilder builder;
  builder.addRecord(builder.sourceIndex("x"), 1, "one");
  builder.reset();
  CHECK(builder.recordCount() == 0);
  auto sealed = builder.seal(header(1));
  REQUIRE(sealed.isOk());
  auto decoded = decodeBatch(*sealed);
  REQUIRE(decoded.isOk());
  CHECK((*decoded)->records.empty());
  CHECK((*decoded)->sources.empty());
}

TEST_CASE("truncated and corrupt batches are rejected") {
  BatchBuilder builder;
  for (int i = 0; i < 100; ++i) {
    builder.addRecord(builder.sourceIndex("s"), i, "line number " + std::to_string(i));
  }
  auto sealed = builder.seal(header(1));
  REQUIRE(sealed.isOk());
  std::string data = *sealed;
  for (std::size_t cut : {std::size_t{0}, std::size_t{3}, data.size() / 2, data.size() - 1}) {
    auto decoded = decodeBatch(std::string_view(data).substr(0, cut));
    CHECK_FALSE(decoded.isOk());
    CHECK(decoded.code() == Errc::InvalidArgument);
  }
  std::string flipped = data;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  CHECK_FALSE(decodeBatch(flipped).isOk());  // the frame checksum catches it
  CHECK_FALSE(decodeBatch(data + "x").isOk());
  CHECK_FALSE(decodeBatch("plain text, not zstd").isOk());
}

TEST_CASE("decoded size limits are enforced") {
  BatchBuilder builder;
  std::string big(4096, 'x');
  for (int i = 0; i < 64; ++i) {
    builder.addRecord(builder.sourceIndex("s"), i, big);
  }
  auto sealed = builder.seal(header(1));
  REQUIRE(sealed.isOk());
  Limits small;
  small.max_decompressed_bytes = 64 * 1024;
  auto decoded = decodeBatch(*sealed, small);
  CHECK(decoded.code() == Errc::ResourceExhausted);

  Limits few;
  few.max_records = 10;
  CHECK(decodeBatch(*sealed, few).code() == Errc::InvalidArgument);

  Limits short_lines;
  short_lines.max_line_bytes = 100;
  CHECK(decodeBatch(*sealed, short_lines).code() == Errc::InvalidArgument);

  Limits tiny;
  tiny.max_compressed_bytes = 10;
  CHECK(decodeBatch(*sealed, tiny).code() == Errc::ResourceExhausted);
}

TEST_CASE("strict decoding: unknown keys, bad versions and bad source indexes") {
  BatchBuilder builder;
  builder.addRecord(0, 1, "orphan");  // index 0 with no sources declared
  auto orphan = decodeBatchMsgpack(builder.encodeMsgpack(header(1)));
  CHECK_FALSE(orphan.isOk());
  CHECK(orphan.status().message().find("source") != std::string::npos);

  // A batch map with an extra key: fixmap of 1 entry {"zz": 1}.
  std::string unknown = "\x81\xa2zz\x01";
  CHECK_FALSE(decodeBatchMsgpack(unknown).isOk());

  // {"v": 3, ...} is refused with a version message.
  std::string v3 = "\x81\xa1v\x03";
  auto refused = decodeBatchMsgpack(v3);
  CHECK_FALSE(refused.isOk());
  CHECK(refused.status().message().find("version") != std::string::npos);

  // An array header that claims 2^32-1 elements in a few bytes.
  std::string liar = std::string("\x81\xa7records\xdd\xff\xff\xff\xff", 14);
  CHECK_FALSE(decodeBatchMsgpack(liar).isOk());
}

TEST_CASE("zstd decompression refuses bombs past the cap") {
  std::string zeros(8 << 20, '\0');
  auto compressed = zstdCompress(zeros, 3);
  REQUIRE(compressed.isOk());
  CHECK(compressed->size() < 4096);
  auto out = zstdDecompress(*compressed, 1 << 20);
  CHECK(out.code() == Errc::ResourceExhausted);
  auto ok = zstdDecompress(*compressed, 16 << 20);
  REQUIRE(ok.isOk());
  CHECK(ok->size() == zeros.size());
}

TEST_CASE("repeated source and time are omitted on the wire and restored when decoding") {
  BatchBuilder builder;
  std::uint32_t a = builder.sourceIndex("a");
  std::uint32_t b = builder.sourceIndex("b");
  builder.addRecord(a, 500, "one");
  builder.addRecord(a, 500, "two");    // same source and time: envelope only
  builder.addRecord(b, 500, "three");  // source changes
  builder.addRecord(b, 900, "four");   // time changes
  builder.addRecord(b, 900, "five");
  std::string encoded = builder.encodeMsgpack(header(1));
  auto decoded = decodeBatchMsgpack(encoded);
  REQUIRE_MESSAGE(decoded.isOk(), decoded.status().toString());
  const auto& records = (*decoded)->records;
  REQUIRE(records.size() == 5);
  CHECK(records[1].source == a);
  CHECK(records[1].ts_ns == 500);
  CHECK(records[2].source == b);
  CHECK(records[2].ts_ns == 500);
  CHECK(records[3].ts_ns == 900);
  CHECK(records[4].source == b);
  CHECK(records[4].ts_ns == 900);
  CHECK(records[4].line == "five");

  // In v1, a record repeating both values costs 1 (map) + 2 ("l") + 2 (bin8 header) bytes + the
  // line.
  V1BatchBuilder one;
  one.addRecord(one.sourceIndex("x"), 7, "first");
  std::size_t before = one.encodedBytes();
  one.addRecord(0, 7, "0123456789");
  CHECK(one.encodedBytes() - before == 5 + 10);
}

TEST_CASE("the first record must carry its time") {
  // {"v":1,"agent":"a","epoch":1,"seq":1,"sources":["s"],"records":[{"l":"x"}]}
  std::string msg =
      "\x86\xa1v\x01\xa5"
      "agent\xa1"
      "a\xa5"
      "epoch\x01\xa3seq\x01\xa7sources\x91\xa1s"
      "\xa7records\x91\x81\xa1l\xc4\x01x";
  auto decoded = decodeBatchMsgpack(msg);
  CHECK_FALSE(decoded.isOk());
  CHECK(decoded.status().message().find("needs l and t") != std::string::npos);
}
