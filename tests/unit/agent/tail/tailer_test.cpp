#include "agent/inputs/tail/tailer.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

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
    CHECK_FALSE(lines[static_cast<std::size_t>(i - from)].no_newline);
  }
}

TEST_CASE("tailer: a file created after start is read from byte 0") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  h.runFor(50);
  CHECK(h.sink.lines.empty());
  appendFile(dir.file("app.log"), numberedLines("a", 0, 100));
  REQUIRE(h.waitLines(100));
  checkSequence(h.sink.lines, "a", 0, 100);
  CHECK(h.sink.lines.back().end_offset == std::filesystem::file_size(dir.file("app.log")));
  CHECK(h.sink.lines.front().source == dir.file("app.log"));
  auto status = h.tailer()->fileStatus();
  REQUIRE(status.size() == 1);
  CHECK(status[0].read_offset == h.sink.lines.back().end_offset);
  CHECK(status[0].path == dir.file("app.log"));
  CHECK_FALSE(status[0].rotated);
  CHECK(h.tailer()->stats().lines == 100);
  CHECK(h.tailer()->stats().files_opened == 1);
}

TEST_CASE("tailer: releasing the read buffer at idle loses and repeats nothing") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  appendFile(dir.file("app.log"), numberedLines("a", 0, 100));
  REQUIRE(h.waitLines(100));
  h.tailer()->releaseIdleMemory();
  h.tailer()->releaseIdleMemory();  // twice: a no-op the second time
  appendFile(dir.file("app.log"), numberedLines("a", 100, 250));
  REQUIRE(h.waitLines(250));
  checkSequence(h.sink.lines, "a", 0, 250);
  CHECK(h.sink.lines.back().end_offset == std::filesystem::file_size(dir.file("app.log")));
}

TEST_CASE("tailer: first run starts existing files at their end") {
  TempDir dir;
  appendFile(dir.file("app.log"), numberedLines("old", 0, 10));
  Harness h(dir);
  h.startTailer(h.options());
  h.runFor(100);
  CHECK(h.sink.lines.empty());
  appendFile(dir.file("app.log"), numberedLines("new", 0, 5));
  REQUIRE(h.waitLines(5));
  h.runFor(50);
  checkSequence(h.sink.lines, "new", 0, 5);
}

TEST_CASE("tailer: start_at_beginning reads existing files from byte 0") {
  TempDir dir;
  appendFile(dir.file("app.log"), numberedLines("old", 0, 10));
  Harness h(dir);
  auto o = h.options();
  o.start_at_beginning = true;
  h.startTailer(o);
  REQUIRE(h.waitLines(10));
  h.runFor(50);
  checkSequence(h.sink.lines, "old", 0, 10);
}

TEST_CASE("tailer: after the first run, unknown existing files are read from byte 0") {
  TempDir dir;
  {
    Harness h(dir);
    h.startTailer(h.options());
    appendFile(dir.file("app.log"), numberedLines("a", 0, 3));
    REQUIRE(h.waitLines(3));
  }
  appendFile(dir.file("app.log.other"), numberedLines("b", 0, 4));
  Harness h(dir);
  h.startTailer(h.options());
  // app.log restarts from its (never committed) offset 0; app.log.other is new.
  REQUIRE(h.waitLines(7));
  h.runFor(50);
  CHECK(h.sink.lines.size() == 7);
}

TEST_CASE("tailer: restart resumes from the checkpoint and re-delivers what came after") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.start_at_beginning = true;
  appendFile(dir.file("app.log"), numberedLines("r", 0, 100));
  h.startTailer(o);
  REQUIRE(h.waitLines(100));
  const testing::Line at60 = h.sink.lines[59];
  REQUIRE(h.store()->checkpoint({{at60.stream, at60.end_offset}}, 1).isOk());
  h.tailer()->markCommitted({{at60.stream, at60.end_offset}});
  auto status = h.tailer()->fileStatus();
  REQUIRE(status.size() == 1);
  CHECK(status[0].committed_offset == at60.end_offset);
  h.stopTailer();

  appendFile(dir.file("app.log"), numberedLines("r", 100, 120));
  h.sink.reset();
  h.startTailer(o);
  REQUIRE(h.waitLines(60));
  h.runFor(100);
  checkSequence(h.sink.lines, "r", 60, 120);
  CHECK(h.sink.lines.front().stream == at60.stream);
}

TEST_CASE("tailer: restart after a rename rotation while stopped drains the old file first") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.start_at_beginning = true;
  appendFile(dir.file("app.log"), numberedLines("x", 0, 50));
  h.startTailer(o);
  h.sink.auto_commit = true;
  REQUIRE(h.waitLines(50));
  h.stopTailer();
  appendFile(dir.file("app.log"), numberedLines("x", 50, 70));
  REQUIRE(::rename(dir.file("app.log").c_str(), dir.file("app.log.1").c_str()) == 0);
  appendFile(dir.file("app.log"), numberedLines("x", 70, 90));
  h.sink.reset();
  h.startTailer(o);
  REQUIRE(h.waitLines(40));
  h.runFor(100);
  checkSequence(h.sink.lines, "x", 50, 90);
  for (const auto& l : h.sink.lines) {
    CHECK(l.source == dir.file("app.log"));
  }
}

TEST_CASE("tailer: a line longer than max_line_bytes is split into pieces") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.max_line_bytes = 100;
  o.read_chunk_bytes = 64;  // lines also span several reads
  h.startTailer(o);
  const std::string long_line(250, 'x');
  const std::string exact(100, 'y');
  appendFile(dir.file("app.log"), long_line + "\n" + exact + "\nshort\n");
  REQUIRE(h.waitLines(5));
  h.runFor(50);
  const auto& l = h.sink.lines;
  REQUIRE(l.size() == 5);
  CHECK(l[0].text == std::string(100, 'x'));
  CHECK(l[0].no_newline);
  CHECK(l[0].end_offset == 100);
  CHECK(l[1].text == std::string(100, 'x'));
  CHECK(l[1].no_newline);
  CHECK(l[2].text == std::string(50, 'x'));
  CHECK_FALSE(l[2].no_newline);
  CHECK(l[2].end_offset == 251);
  CHECK(l[3].text == exact);
  CHECK_FALSE(l[3].no_newline);
  CHECK(l[4].text == "short");
  CHECK(h.tailer()->stats().long_line_splits == 2);
}

TEST_CASE("tailer: an unterminated last line is flushed after the timeout, then continued") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  appendFile(dir.file("app.log"), "first\npartial");
  REQUIRE(h.waitLines(1));
  h.runFor(60);  // shorter than partial_line_flush: nothing yet
  REQUIRE(h.sink.lines.size() == 1);
  REQUIRE(h.waitLines(2, 2000));
  CHECK(h.sink.lines[1].text == "partial");
  CHECK(h.sink.lines[1].no_newline);
  CHECK(h.sink.lines[1].end_offset == 13);
  appendFile(dir.file("app.log"), " rest\nnext\n");
  REQUIRE(h.waitLines(4));
  CHECK(h.sink.lines[2].text == " rest");
  CHECK_FALSE(h.sink.lines[2].no_newline);
  CHECK(h.sink.lines[2].end_offset == 19);
  CHECK(h.sink.lines[3].text == "next");
}

TEST_CASE("tailer: a partial line completed before the timeout is one line") {
  TempDir dir;
  Harness h(dir);
  auto o = h.options();
  o.partial_line_flush = std::chrono::milliseconds(2000);
  h.startTailer(o);
  appendFile(dir.file("app.log"), "hel");
  h.runFor(100);
  CHECK(h.sink.lines.empty());
  appendFile(dir.file("app.log"), "lo\n");
  REQUIRE(h.waitLines(1));
  CHECK(h.sink.lines[0].text == "hello");
  CHECK_FALSE(h.sink.lines[0].no_newline);
}

TEST_CASE("tailer: pause stops delivery mid-pass and resume continues exactly there") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options());
  h.sink.on_line = [&](const testing::Line&) {
    if (h.sink.lines.size() == 50) {
      h.tailer()->pause();
    }
  };
  appendFile(dir.file("app.log"), numberedLines("p", 0, 300));
  REQUIRE(h.waitLines(50));
  CHECK(h.tailer()->paused());
  h.runFor(150);  // scans keep running; no line may arrive
  CHECK(h.sink.lines.size() == 50);
  h.sink.on_line = nullptr;
  h.tailer()->resume();
  CHECK_FALSE(h.tailer()->paused());
  REQUIRE(h.waitLines(300));
  h.runFor(50);
  checkSequence(h.sink.lines, "p", 0, 300);
}

TEST_CASE("tailer: twenty files at once") {
  TempDir dir;
  Harness h(dir);
  h.startTailer(h.options("*.log"));
  for (int f = 0; f < 20; ++f) {
    appendFile(dir.file("f" + std::to_string(f) + ".log"),
               numberedLines("f" + std::to_string(f), 0, 500));
  }
  REQUIRE(h.waitLines(20 * 500, 10000));
  h.runFor(50);
  std::map<std::string, std::vector<std::string>> per_source;
  for (const auto& l : h.sink.lines) {
    per_source[l.source].push_back(l.text);
  }
  REQUIRE(per_source.size() == 20);
  for (int f = 0; f < 20; ++f) {
    const auto& got = per_source[dir.file("f" + std::to_string(f) + ".log")];
    REQUIRE(got.size() == 500);
    for (int i = 0; i < 500; ++i) {
      CHECK(got[static_cast<std::size_t>(i)] == numberedLine("f" + std::to_string(f), i));
    }
  }
  CHECK(h.tailer()->stats().files_opened == 20);
}

TEST_CASE("tailer: bad options and double start are refused") {
  TempDir dir;
  Harness h(dir);
  testing::RecordingSink sink;
  {
    Tailer t(h.loop(), TailerOptions{}, h.store(), &sink);
    CHECK(t.start().code() == Errc::InvalidArgument);
  }
  {
    auto o = h.options();
    o.read_chunk_bytes = 0;
    Tailer t(h.loop(), o, h.store(), &sink);
    CHECK(t.start().code() == Errc::InvalidArgument);
  }
  h.startTailer(h.options());
  CHECK(h.tailer()->start().code() == Errc::FailedPrecondition);
}

TEST_CASE("tailer: directories and empty globs are ignored") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("app.log.d"));
  Harness h(dir);
  auto o = h.options();
  o.globs.push_back(dir.file("nothing-matches-*"));
  h.startTailer(o);
  h.runFor(60);
  CHECK(h.tailer()->fileStatus().empty());
  appendFile(dir.file("app.log"), "one\n");
  REQUIRE(h.waitLines(1));
}

}  // namespace
}  // namespace faultline::agent::tail
