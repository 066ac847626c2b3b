// Rotation, copytruncate, inode reuse and a concurrent stress run of the tailer.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "agent/inputs/tail/tailer.h"
#include "tests/unit/agent/tail/tail_test_util.h"

namespace faultline::agent::tail {
namespace {

using testing::appendFile;
using testing::Harness;
using testing::numberedLine;
using testing::numberedLines;
using testing::TempDir;

void checkSequence(const std::vector<testing::Line>& lines, const std::string& prefix, int from,
                   int to) {
  REQUIRE(lines.size() == static_cast<std::size_t>(to - from));
  for (int i = from; i < to; ++i) {
    CHECK(lines[static_cast<std::size_t>(i - from)].text == numberedLine(prefix, i));
  }
}

void mv(const std::string& from, const std::string& to) {
  REQUIRE(::rename(from.c_str(), to.c_str()) == 0);
}

void copyFile(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

void truncateFile(const std::string& path) {
  REQUIRE(::truncate(path.c_str(), 0) == 0);
}

TEST_CASE("tailer: rename rotation keeps order and loses nothing") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("l", 0, 100));
  REQUIRE(h.waitLines(100));
  appendFile(log, numberedLines("l", 100, 150));  // written before the rotation, not yet read
  mv(log, dir.file("app.log.1"));
  appendFile(log, numberedLines("l", 150, 200));
  appendFile(dir.file("app.log.1"), numberedLines("l", 200, 210));  // late write to the old file
  REQUIRE(h.waitLines(210));
  h.runFor(50);
  // Late writes after the successor started are read, but after it.
  REQUIRE(h.sink.lines.size() == 210);
  std::vector<testing::Line> first(h.sink.lines.begin(), h.sink.lines.begin() + 150);
  checkSequence(first, "l", 0, 150);
  std::multiset<std::string> rest;
  for (std::size_t i = 150; i < 210; ++i) {
    rest.insert(h.sink.lines[i].text);
  }
  for (int i = 150; i < 210; ++i) {
    CHECK(rest.count(numberedLine("l", i)) == 1);
  }
  for (const auto& l : h.sink.lines) {
    CHECK(l.source == log);
  }
  CHECK(h.tailer()->stats().rotations == 1);
  // The rotated file is closed after rotate_wait once committed.
  h.sink.auto_commit = true;
  appendFile(log, "tick\n");
  REQUIRE(h.runUntil([&] { return h.tailer()->fileStatus().size() == 1; }, 3000));
  CHECK(h.tailer()->fileStatus()[0].path == log);
}

TEST_CASE("tailer: a rotated file is not closed before its lines are committed") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("c", 0, 10));
  REQUIRE(h.waitLines(10));
  mv(log, dir.file("app.log.1"));
  appendFile(log, numberedLines("c", 10, 20));
  REQUIRE(h.waitLines(20));
  h.runFor(300);  // well past rotate_wait
  CHECK(h.tailer()->fileStatus().size() == 2);
  auto streams = h.store()->loadStreams();
  REQUIRE(streams.isOk());
  for (const auto& s : *streams) {
    CHECK_FALSE(s.finished);
  }
  const testing::Line& last_old = h.sink.lines[9];
  h.tailer()->markCommitted({{last_old.stream, last_old.end_offset}});
  REQUIRE(h.runUntil([&] { return h.tailer()->fileStatus().size() == 1; }, 2000));
  streams = h.store()->loadStreams();
  REQUIRE(streams->size() == 2);
  CHECK((*streams)[0].finished);
  CHECK_FALSE((*streams)[1].finished);
}

TEST_CASE("tailer: several rename rotations between two scans") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.scan_interval = std::chrono::milliseconds(300);
  h.startTailer(o);
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("m", 0, 10));
  REQUIRE(h.waitLines(10, 3000));
  // Three generations appear without a scan in between.
  appendFile(log, numberedLines("m", 10, 20));
  mv(log, dir.file("app.log.1"));
  appendFile(log, numberedLines("m", 20, 30));
  mv(dir.file("app.log.1"), dir.file("app.log.2"));
  mv(log, dir.file("app.log.1"));
  appendFile(log, numberedLines("m", 30, 40));
  REQUIRE(h.waitLines(40, 5000));
  h.runFor(50);
  checkSequence(h.sink.lines, "m", 0, 40);
  for (const auto& l : h.sink.lines) {
    CHECK(l.source == log);
  }
}

TEST_CASE("tailer: copytruncate with the copy among the matches is lossless") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("t", 0, 100));
  REQUIRE(h.waitLines(100));
  SUBCASE("new content shorter than the old offset") {
    appendFile(log, numberedLines("t", 100, 150));  // unread when the rotation happens
    copyFile(log, dir.file("app.log.1"));
    truncateFile(log);
    appendFile(log, numberedLines("t", 150, 170));
    REQUIRE(h.waitLines(170));
    h.runFor(100);
    checkSequence(h.sink.lines, "t", 0, 170);
  }
  SUBCASE("new content longer than the old offset (only the fingerprint tells)") {
    appendFile(log, numberedLines("t", 100, 110));
    copyFile(log, dir.file("app.log.1"));
    truncateFile(log);
    appendFile(log, numberedLines("t", 110, 400));
    REQUIRE(h.waitLines(400));
    h.runFor(100);
    checkSequence(h.sink.lines, "t", 0, 400);
  }
  CHECK(h.tailer()->stats().truncations == 1);
  CHECK(h.tailer()->stats().truncated_bytes_lost == 0);
  for (const auto& l : h.sink.lines) {
    CHECK(l.source == log);
  }
}

TEST_CASE("tailer: a copy of a tracked file is never read as a new file") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("d", 0, 50));
  REQUIRE(h.waitLines(50));
  copyFile(log, dir.file("app.log.bak"));
  copyFile(log, dir.file("app.log.1"));
  h.runFor(200);
  CHECK(h.sink.lines.size() == 50);
  appendFile(log, numberedLines("d", 50, 60));
  REQUIRE(h.waitLines(60));
  h.runFor(50);
  checkSequence(h.sink.lines, "d", 0, 60);
}

TEST_CASE("tailer: copytruncate without a copy counts the loss and goes on") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("n", 0, 100));
  REQUIRE(h.waitLines(100));
  // Paused (spool full), the tailer still scans: it sees the file grow, then shrink.
  h.tailer()->pause();
  const std::string unread = numberedLines("n", 100, 150);
  appendFile(log, unread);
  h.runFor(60);
  copyFile(log, dir.file("elsewhere.old"));  // not matched by the glob
  truncateFile(log);
  appendFile(log, numberedLines("z", 0, 20));
  h.runFor(60);
  CHECK(h.sink.lines.size() == 100);
  h.tailer()->resume();
  REQUIRE(h.waitLines(120));
  h.runFor(100);
  REQUIRE(h.sink.lines.size() == 120);
  std::vector<testing::Line> tail(h.sink.lines.begin() + 100, h.sink.lines.end());
  checkSequence(tail, "z", 0, 20);
  CHECK(h.tailer()->stats().truncations == 1);
  CHECK(h.tailer()->stats().truncated_bytes_lost == unread.size());
}

TEST_CASE("tailer: truncation while stopped recovers from the copy at restart") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.start_at_beginning = true;
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("s", 0, 40));
  h.startTailer(o);
  h.sink.auto_commit = true;
  REQUIRE(h.waitLines(40));
  h.stopTailer();
  appendFile(log, numberedLines("s", 40, 60));
  copyFile(log, dir.file("app.log.1"));
  truncateFile(log);
  appendFile(log, numberedLines("s", 60, 65));
  h.sink.reset();
  h.startTailer(o);
  REQUIRE(h.waitLines(25));
  h.runFor(100);
  checkSequence(h.sink.lines, "s", 40, 65);
}

TEST_CASE("tailer: a reused inode with a different fingerprint is a new file") {
  TempDir dir;
  const std::string log = dir.file("app.log");
  appendFile(log, numberedLines("new", 0, 30));
  struct stat st {};
  REQUIRE(::stat(log.c_str(), &st) == 0);
  Harness h(dir);
  // The store remembers another file that had this very inode, read far past this one's size,
  // and a finished one too.
  StreamState old;
  old.source = log;
  old.path = log;
  old.dev = static_cast<std::uint64_t>(st.st_dev);
  old.ino = static_cast<std::uint64_t>(st.st_ino);
  old.fingerprint = "old file first bytes, long enough to be a strong fingerprint";
  old.offset = 1'000'000;
  REQUIRE(h.store()->upsertStream(&old).isOk());
  StreamState finished = old;
  finished.id = 0;
  finished.fingerprint = "another ancient file";
  finished.finished = true;
  REQUIRE(h.store()->upsertStream(&finished).isOk());
  h.startTailer(h.options());
  REQUIRE(h.waitLines(30));
  h.runFor(100);
  checkSequence(h.sink.lines, "new", 0, 30);
  CHECK(h.sink.lines.front().stream != old.id);
  CHECK(h.sink.lines.front().stream != finished.id);
  // The stale finished entry gives up the inode but keeps its fingerprint, so a copy of that
  // old file would still be recognised as a copy (not read again).
  auto streams = h.store()->loadStreams();
  REQUIRE(streams.isOk());
  bool kept = false;
  for (const auto& s : *streams) {
    if (s.id == finished.id) {
      kept = true;
      CHECK(s.ino == 0);
      CHECK(s.fingerprint == finished.fingerprint);
    }
  }
  CHECK(kept);
}

TEST_CASE("tailer: inode reused by a new file while running") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.globs = {dir.file("*.log")};
  h.startTailer(o);
  h.sink.auto_commit = true;
  const std::string a = dir.file("a.log");
  appendFile(a, numberedLines("first", 0, 20));
  REQUIRE(h.waitLines(20));
  REQUIRE(::unlink(a.c_str()) == 0);
  REQUIRE(h.runUntil([&] { return h.tailer()->fileStatus().empty(); }, 3000));
  // Whatever inode the new files get (often the same one), each is read whole.
  for (int i = 0; i < 3; ++i) {
    const std::string p = dir.file("b" + std::to_string(i) + ".log");
    appendFile(p, numberedLines("b" + std::to_string(i), 0, 10));
  }
  REQUIRE(h.waitLines(50));
  h.runFor(100);
  CHECK(h.sink.lines.size() == 50);
}

/// Writes `total` numbered lines to DIR/app.log, rotating every `every` lines, alternating
/// rename-and-create and copytruncate (logrotate-style numbered generations, none deleted).
void writeWithRotations(const TempDir& dir, int total, int every, std::atomic<bool>* done) {
  const std::string log = dir.file("app.log");
  int generations = 0;
  int rotation = 0;
  auto shift = [&] {
    for (int g = generations; g >= 1; --g) {
      mv(dir.file("app.log." + std::to_string(g)), dir.file("app.log." + std::to_string(g + 1)));
    }
    ++generations;
  };
  std::string chunk;
  for (int i = 0; i < total;) {
    const int end = std::min(total, std::min(i + 50, (i / every + 1) * every));
    chunk.clear();
    char buf[96];
    for (int k = i; k < end; ++k) {
      std::snprintf(buf, sizeof buf, "seq=%08d the quick brown fox jumps over the lazy dog\n", k);
      chunk += buf;
    }
    appendFile(log, chunk);
    i = end;
    if (i % 1000 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (i % every == 0 && i < total) {
      shift();
      if (rotation++ % 2 == 0) {
        mv(log, dir.file("app.log.1"));
        appendFile(log, "");
      } else {
        copyFile(log, dir.file("app.log.1"));
        truncateFile(log);
      }
    }
  }
  done->store(true);
}

TEST_CASE("tailer: 200000 lines with rename and copytruncate rotations arrive exactly once") {
  TempDir dir;
  Harness h(dir);
  // The tailer follows app.log before the writer starts. Otherwise, on a loaded machine, the
  // writer may rotate before the tailer's first scan, and a generation first seen as app.log.1
  // is (rightly) its own source, which this test would count as mismatches.
  appendFile(dir.file("app.log"), "");
  h.startTailer(h.options());
  h.sink.auto_commit = true;
  constexpr int kTotal = 200000;
  std::atomic<bool> done{false};
  std::thread writer(writeWithRotations, std::cref(dir), kTotal, 20000, &done);
  const bool all = h.waitLines(kTotal, 90000);
  writer.join();
  h.runFor(300);
  CHECK(all);
  const auto& lines = h.sink.lines;
  CHECK(lines.size() == kTotal);
  char buf[96];
  std::size_t mismatches = 0;
  for (std::size_t k = 0; k < lines.size() && k < static_cast<std::size_t>(kTotal); ++k) {
    std::snprintf(buf, sizeof buf, "seq=%08zu the quick brown fox jumps over the lazy dog", k);
    if (lines[k].text != buf || lines[k].no_newline || lines[k].source != dir.file("app.log")) {
      if (mismatches++ < 5) {
        MESSAGE("line " << k << ": got '" << lines[k].text << "' from " << lines[k].source);
      }
    }
  }
  CHECK(mismatches == 0);
  const TailerStats stats = h.tailer()->stats();
  // Exactly-once delivery above is the guarantee. The loss counter is conservative: on a loaded
  // machine a generation can be truncated before the tailer read or fingerprinted any of it; it
  // is then counted as possibly lost, and its copy is read as a new file (nothing was delivered
  // from it, so nothing repeats). Seen once with four busy loops on two cores.
  WARN(stats.truncated_bytes_lost == 0);
  MESSAGE("rotations " << stats.rotations << ", truncations " << stats.truncations << ", files "
                       << stats.files_opened);
}

}  // namespace
}  // namespace faultline::agent::tail
