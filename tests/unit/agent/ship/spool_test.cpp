#include "agent/ship/spool.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "shared/util/fs.h"
#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using faultline::testing::TempDir;

namespace {
ship::SpoolEntry makeEntry(std::uint64_t seq, std::vector<tail::OffsetCheckpoint> offsets) {
  ship::SpoolEntry e;
  e.seq = seq;
  e.epoch = 77;
  e.records = seq * 10;
  e.line_bytes = seq * 100;
  e.offsets = std::move(offsets);
  return e;
}

std::string payloadFor(std::uint64_t seq) {
  return "payload-" + std::to_string(seq) + "-xyz";
}

void writeEntry(const std::string& dir, std::uint64_t seq,
                std::vector<tail::OffsetCheckpoint> offsets) {
  auto written =
      ship::Spool::writeEntryFile(dir, makeEntry(seq, std::move(offsets)), payloadFor(seq));
  REQUIRE(written.isOk());
}

void flipByte(const std::string& path, long at_from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-at_from_end, std::ios::end);
  char c = 0;
  f.read(&c, 1);
  f.seekp(-at_from_end, std::ios::end);
  c = static_cast<char>(c ^ 0x5a);
  f.write(&c, 1);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}
}  // namespace

TEST_CASE("spool entries round-trip, are indexed, deleted and rejected") {
  TempDir tmp;
  std::string dir = fs::join(tmp.path(), "spool");
  auto spool = ship::Spool::open(dir);
  REQUIRE(spool.isOk());
  auto entry = makeEntry(7, {{1, 100}, {2, 2000}});
  auto written = ship::Spool::writeEntryFile(dir, entry, payloadFor(7));
  REQUIRE(written.isOk());
  entry.file_bytes = *written;
  (*spool)->added(entry);
  CHECK((*spool)->count() == 1);
  CHECK((*spool)->bytes() == *written);
  struct stat st {};
  REQUIRE(::stat((*spool)->pathOf(7).c_str(), &st) == 0);
  CHECK(static_cast<std::uint64_t>(st.st_size) == *written);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK((*spool)->pathOf(7) == dir + "/00000000000000000007.batch");

  auto read = (*spool)->read(7);
  REQUIRE(read.isOk());
  CHECK(read->payload == payloadFor(7));
  CHECK(read->entry.seq == 7);
  CHECK(read->entry.epoch == 77);
  CHECK(read->entry.records == 70);
  CHECK(read->entry.line_bytes == 700);
  REQUIRE(read->entry.offsets.size() == 2);
  CHECK(read->entry.offsets[1].stream == 2);
  CHECK(read->entry.offsets[1].offset == 2000);

  auto e8 = makeEntry(8, {{1, 150}});
  e8.file_bytes = ship::Spool::writeEntryFile(dir, e8, payloadFor(8)).value();
  (*spool)->added(e8);
  REQUIRE((*spool)->reject(8).isOk());
  CHECK(exists(dir + "/rejected/00000000000000000008.batch"));
  CHECK_FALSE(exists((*spool)->pathOf(8)));
  REQUIRE((*spool)->remove(7).isOk());
  CHECK_FALSE(exists((*spool)->pathOf(7)));
  CHECK((*spool)->count() == 0);
  CHECK((*spool)->bytes() == 0);
  CHECK((*spool)->remove(7).code() == Errc::NotFound);
  CHECK((*spool)->read(7).code() == Errc::NotFound);
}

TEST_CASE("a flipped byte anywhere in an entry is detected as corruption") {
  TempDir tmp;
  writeEntry(tmp.path(), 3, {{1, 10}});
  std::string path = tmp.path() + "/" + ship::Spool::fileName(3);
  for (long at : {1L, 6L, 20L}) {
    flipByte(path, at);
    CHECK(ship::Spool::readEntryFile(path).code() == Errc::DataLoss);
    flipByte(path, at);
    CHECK(ship::Spool::readEntryFile(path).isOk());
  }
  REQUIRE(::truncate(path.c_str(), 30) == 0);
  CHECK(ship::Spool::readEntryFile(path).code() == Errc::DataLoss);
}

TEST_CASE("recovery drops temp files and re-applies entries after the checkpoint in order") {
  TempDir tmp;
  std::string dir = tmp.path();
  // The store the entries are re-applied through below; it knows the streams they name.
  faultline::testing::RecordingOffsetStore store;
  const tail::StreamId a = store.addStream("/a");
  const tail::StreamId b = store.addStream("/b");
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    writeEntry(dir, seq, {{a, seq * 100}, {b, seq * 1000}});
  }
  // A write that crashed before its rename, and a stray file.
  REQUIRE(fs::writeFileAtomic(dir + "/.00000000000000000006.batch.tmp", "partial").isOk());
  auto spool = ship::Spool::open(dir);
  REQUIRE(spool.isOk());
  auto report = (*spool)->recover(/*checkpoint_seq=*/3);
  REQUIRE(report.isOk());
  CHECK(report->temp_files_removed == 1);
  CHECK_FALSE(exists(dir + "/.00000000000000000006.batch.tmp"));
  REQUIRE(report->reapply.size() == 2);
  CHECK(report->reapply[0].seq == 4);
  CHECK(report->reapply[1].seq == 5);
  CHECK(report->reapply[1].offsets[0].offset == 500);
  CHECK(report->next_seq == 6);
  CHECK((*spool)->count() == 5);  // 1..3 are checkpointed but not acked yet: still to send

  // Re-applying through a store leaves it exactly where a clean run would have.
  store.setCheckpointSeq(3);
  for (const auto& entry : report->reapply) {
    REQUIRE(store.checkpoint(entry.offsets, entry.seq).isOk());
  }
  CHECK(store.checkpointSeq().value() == 5);
  CHECK(store.offset(a) == 500);
  CHECK(store.offset(b) == 5000);
}

TEST_CASE("next seq never reuses a number: empty spool and checkpoint ahead of it") {
  TempDir tmp;
  auto spool = ship::Spool::open(tmp.path());
  REQUIRE(spool.isOk());
  auto empty = (*spool)->recover(0);
  REQUIRE(empty.isOk());
  CHECK(empty->next_seq == 1);
  CHECK(empty->reapply.empty());

  TempDir tmp2;
  writeEntry(tmp2.path(), 2, {{1, 5}});
  auto spool2 = ship::Spool::open(tmp2.path());
  auto report = (*spool2)->recover(/*checkpoint_seq=*/9);  // 3..9 were acked and deleted
  REQUIRE(report.isOk());
  CHECK(report->next_seq == 10);
  CHECK(report->reapply.empty());
}

TEST_CASE("a corrupt entry above the checkpoint is quarantined and its successors re-read") {
  // Batches 4, 5, 6 were spooled after checkpoint 3 (the checkpoints failed or the agent was
  // killed). 5 is corrupt: re-applying 6's offsets would skip 5's lines, so only 4 is
  // re-applied; 5 goes to corrupt/, 6 is deleted, and the files are re-read from 4's offsets.
  TempDir tmp;
  std::string dir = tmp.path();
  for (std::uint64_t seq = 2; seq <= 6; ++seq) {
    writeEntry(dir, seq, {{1, seq * 100}});
  }
  flipByte(dir + "/" + ship::Spool::fileName(5), 3);
  auto spool = ship::Spool::open(dir);
  auto report = (*spool)->recover(3);
  REQUIRE(report.isOk());
  CHECK(report->corrupt_reread == 1);
  CHECK(report->corrupt_lost == 0);
  CHECK(report->discarded_reread == 1);
  REQUIRE(report->reapply.size() == 1);
  CHECK(report->reapply[0].seq == 4);
  CHECK(exists(dir + "/corrupt/" + ship::Spool::fileName(5)));
  CHECK_FALSE(exists(dir + "/" + ship::Spool::fileName(6)));
  CHECK((*spool)->count() == 3);  // 2, 3, 4
  CHECK((*spool)->entries().count(6) == 0);
  // 5 and 6 may have reached the aggregator before the crash: their numbers are never reused.
  CHECK(report->next_seq == 7);
}

TEST_CASE("a corrupt entry at or below the checkpoint is quarantined and counted as lost") {
  TempDir tmp;
  std::string dir = tmp.path();
  writeEntry(dir, 1, {{1, 100}});
  writeEntry(dir, 2, {{1, 200}});
  // Truncated to garbage: the header no longer matches.
  REQUIRE(fs::writeFileAtomic(dir + "/" + ship::Spool::fileName(1), "FLSPOOL1garbage").isOk());
  auto spool = ship::Spool::open(dir);
  auto report = (*spool)->recover(2);
  REQUIRE(report.isOk());
  CHECK(report->corrupt_lost == 1);
  CHECK(report->corrupt_reread == 0);
  CHECK(report->reapply.empty());
  CHECK((*spool)->count() == 1);
  CHECK(exists(dir + "/corrupt/" + ship::Spool::fileName(1)));
  CHECK(report->next_seq == 3);
}

TEST_CASE("an entry whose header names another seq than its file name is corrupt") {
  TempDir tmp;
  std::string dir = tmp.path();
  writeEntry(dir, 4, {{1, 100}});
  REQUIRE(::rename((dir + "/" + ship::Spool::fileName(4)).c_str(),
                   (dir + "/" + ship::Spool::fileName(9)).c_str()) == 0);
  auto spool = ship::Spool::open(dir);
  auto report = (*spool)->recover(0);
  REQUIRE(report.isOk());
  CHECK(report->corrupt_reread == 1);
  CHECK((*spool)->count() == 0);
  CHECK(report->next_seq == 10);
}
