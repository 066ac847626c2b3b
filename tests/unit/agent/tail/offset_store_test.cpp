#include "agent/inputs/tail/offset_store.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <limits>

#include "tests/unit/agent/tail/tail_test_util.h"

namespace faultline::agent::tail {
namespace {

using testing::TempDir;

StreamState sampleStream(const std::string& path) {
  StreamState s;
  s.source = path;
  s.path = path;
  s.dev = 42;
  s.ino = 7;
  s.fingerprint = std::string("\0fingerprint\xff bytes", 19);
  s.offset = 123;
  s.discovered_ns = 1'700'000'000'000'000'000;
  return s;
}

TEST_CASE("offset store: empty store has no streams and sequence 0") {
  TempDir dir;
  auto store = OffsetStore::open(dir.file("o.db"));
  REQUIRE(store.isOk());
  auto streams = (*store)->loadStreams();
  REQUIRE(streams.isOk());
  CHECK(streams->empty());
  auto seq = (*store)->checkpointSeq();
  REQUIRE(seq.isOk());
  CHECK(*seq == 0);
}

TEST_CASE("offset store: streams, checkpoints and forget survive reopening") {
  TempDir dir;
  StreamId a_id = 0;
  StreamId b_id = 0;
  {
    auto store = OffsetStore::open(dir.file("o.db"));
    REQUIRE(store.isOk());
    StreamState a = sampleStream("/var/log/a.log");
    REQUIRE((*store)->upsertStream(&a).isOk());
    CHECK(a.id > 0);
    a_id = a.id;
    StreamState b = sampleStream("/var/log/b.log");
    b.offset = 0;
    REQUIRE((*store)->upsertStream(&b).isOk());
    CHECK(b.id > a.id);
    b_id = b.id;

    // An update changes identity fields but never the offset (that is checkpoint's job).
    a.path = "/var/log/a.log.1";
    a.ino = 99;
    a.fingerprint += "more";
    a.finished = true;
    a.offset = 999999;
    REQUIRE((*store)->upsertStream(&a).isOk());
    CHECK(a.id == a_id);

    REQUIRE((*store)->checkpoint({{b_id, 5000}}, 17).isOk());
  }
  auto store = OffsetStore::open(dir.file("o.db"));
  REQUIRE(store.isOk());
  auto streams = (*store)->loadStreams();
  REQUIRE(streams.isOk());
  REQUIRE(streams->size() == 2);
  const StreamState& a = (*streams)[0];
  CHECK(a.id == a_id);
  CHECK(a.source == "/var/log/a.log");
  CHECK(a.path == "/var/log/a.log.1");
  CHECK(a.ino == 99);
  CHECK(a.dev == 42);
  CHECK(a.fingerprint == std::string("\0fingerprint\xff bytesmore", 23));
  CHECK(a.offset == 123);
  CHECK(a.finished);
  CHECK(a.discovered_ns == 1'700'000'000'000'000'000);
  CHECK((*streams)[1].offset == 5000);
  CHECK_FALSE((*streams)[1].finished);
  CHECK(*(*store)->checkpointSeq() == 17);

  REQUIRE((*store)->forget({a_id}).isOk());
  streams = (*store)->loadStreams();
  REQUIRE(streams->size() == 1);
  CHECK((*streams)[0].id == b_id);
  // A checkpoint naming a forgotten stream is harmless.
  CHECK((*store)->checkpoint({{a_id, 1}, {b_id, 6000}}, 18).isOk());
  CHECK((*(*store)->loadStreams())[0].offset == 6000);
}

TEST_CASE("offset store: updating an unknown id fails") {
  TempDir dir;
  auto store = OffsetStore::open(dir.file("o.db"));
  REQUIRE(store.isOk());
  StreamState s = sampleStream("/x");
  s.id = 12345;
  CHECK((*store)->upsertStream(&s).code() == Errc::NotFound);
  CHECK((*store)->upsertStream(nullptr).code() == Errc::InvalidArgument);
}

TEST_CASE("offset store: out-of-range values are rejected and change nothing") {
  TempDir dir;
  auto store = OffsetStore::open(dir.file("o.db"));
  REQUIRE(store.isOk());
  StreamState s = sampleStream("/x");
  REQUIRE((*store)->upsertStream(&s).isOk());
  REQUIRE((*store)->checkpoint({{s.id, 10}}, 1).isOk());
  const auto huge = std::numeric_limits<std::uint64_t>::max();
  CHECK((*store)->checkpoint({{s.id, 20}, {s.id, huge}}, 2).code() == Errc::InvalidArgument);
  CHECK((*store)->checkpoint({{s.id, 20}}, huge).code() == Errc::InvalidArgument);
  CHECK((*(*store)->loadStreams())[0].offset == 10);
  CHECK(*(*store)->checkpointSeq() == 1);
  StreamState bad = sampleStream("/y");
  bad.ino = huge;
  CHECK((*store)->upsertStream(&bad).code() == Errc::InvalidArgument);
}

TEST_CASE("offset store: a schema newer than the code is refused") {
  TempDir dir;
  { REQUIRE(OffsetStore::open(dir.file("o.db")).isOk()); }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.file("o.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OffsetStore::open(dir.file("o.db"));
  REQUIRE_FALSE(store.isOk());
  CHECK(store.code() == Errc::FailedPrecondition);
  CHECK(store.status().message().find("newer") != std::string::npos);
}

TEST_CASE("offset store: unusable paths and corrupt files give errors") {
  TempDir dir;
  auto missing_dir = OffsetStore::open(dir.file("no/such/dir/o.db"));
  CHECK_FALSE(missing_dir.isOk());
  testing::appendFile(dir.file("garbage.db"), std::string(8192, 'G'));
  auto garbage = OffsetStore::open(dir.file("garbage.db"));
  REQUIRE_FALSE(garbage.isOk());
  CHECK(garbage.status().message().find("garbage.db") != std::string::npos);
}

TEST_CASE("offset store: uses WAL") {
  TempDir dir;
  auto store = OffsetStore::open(dir.file("o.db"));
  REQUIRE(store.isOk());
  StreamState s = sampleStream("/x");
  REQUIRE((*store)->upsertStream(&s).isOk());
  CHECK(std::filesystem::exists(dir.file("o.db-wal")));
}

}  // namespace
}  // namespace faultline::agent::tail
