// The `templates` tool: streaming reads, CSV quoting, the Loghub prediction file.
#include "shared/logtemplate/templates_tool.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "shared/logtemplate/line_reader.h"
#include "tests/unit/temp_dir.h"

using faultline::logtemplate::csvQuote;
using faultline::logtemplate::CsvReader;
using faultline::logtemplate::LineReader;
using faultline::logtemplate::MinerOptions;

namespace {

void writeFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a reader over `data` held in memory.
struct MemFile {
  explicit MemFile(std::string data) : data_(std::move(data)) {
    file = fmemopen(data_.data(), data_.size(), "rb");
    REQUIRE(file != nullptr);
  }
  ~MemFile() { std::fclose(file); }
  std::string data_;
  std::FILE* file;
};

std::vector<std::vector<std::string>> readCsv(const std::string& data, bool* ok = nullptr) {
  MemFile mem(data);
  CsvReader reader(mem.file, 64);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> fields;
  for (;;) {
    auto more = reader.next(fields);
    if (ok != nullptr) {
      *ok = more.isOk();
    }
    if (!more || !*more) {
      return rows;
    }
    rows.push_back(fields);
  }
}

}  // namespace

TEST_CASE("CsvReader: quoting, doubled quotes, CRLF, embedded newlines") {
  auto rows = readCsv("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"two\nlines\",\n,,\n");
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == std::vector<std::string>{"a", "b", "c"});
  CHECK(rows[1] == std::vector<std::string>{"1", "x, y", "say \"hi\""});
  CHECK(rows[2] == std::vector<std::string>{"2", "two\nlines", ""});
  CHECK(rows[3] == std::vector<std::string>{"", "", ""});
  CHECK(readCsv("last,line").back() == std::vector<std::string>{"last", "line"});
}

TEST_CASE("CsvReader: unterminated quotes and oversized records are errors") {
  bool ok = true;
  readCsv("a,\"never closed\n", &ok);
  CHECK_FALSE(ok);
  readCsv(std::string(100, 'x') + "\n", &ok);
  CHECK_FALSE(ok);
}

TEST_CASE("csvQuote: only when needed, quotes doubled") {
  CHECK(csvQuote("plain") == "plain");
  CHECK(csvQuote("a,b") == "\"a,b\"");
  CHECK(csvQuote("say \"x\"") == "\"say \"\"x\"\"\"");
  CHECK(csvQuote(" lead") == "\" lead\"");
  CHECK(csvQuote("") == "");
  for (const std::string& s : {std::string("a,\"b\"\n c"), std::string(" "), std::string("\r")}) {
    auto rows = readCsv(csvQuote(s) + "\n");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0] == std::vector<std::string>{s});
  }
}

TEST_CASE("LineReader: lines over the limit are cut, the rest skipped") {
  MemFile mem("short\n" + std::string(100, 'y') + "\n\nlast");
  LineReader reader(mem.file, 10);
  std::string line;
  bool truncated = false;
  std::vector<std::pair<std::string, bool>> got;
  for (;;) {
    auto more = reader.next(line, truncated);
    REQUIRE(more.isOk());
    if (!*more) {
      break;
    }
    got.emplace_back(line, truncated);
  }
  REQUIRE(got.size() == 4);
  CHECK(got[0] == std::make_pair(std::string("short"), false));
  CHECK(got[1] == std::make_pair(std::string(10, 'y'), true));
  CHECK(got[2] == std::make_pair(std::string(), false));
  CHECK(got[3] == std::make_pair(std::string("last"), false));
}

TEST_CASE("printTemplates: counts, hex ids, most frequent first; long lines not mined") {
  faultline::testing::TempDir dir;
  const std::string log = dir.file("app.log");
  std::string data;
  for (int i = 0; i < 5; ++i) {
    data += "GET /item/" + std::to_string(i) + " took " + std::to_string(i * 3) + "ms\n";
  }
  data += "server started\n" + std::string(200, 'z') + "\n";
  writeFile(log, data);
  MinerOptions options;
  options.max_line_bytes = 100;
  std::ostringstream out;
  auto summary = faultline::logtemplate::printTemplates(log, options, out);
  REQUIRE(summary.isOk());
  CHECK(summary->lines == 7);
  CHECK(summary->unmined == 1);
  CHECK(summary->templates == 2);
  const std::string text = out.str();
  CHECK(text.find("count") != std::string::npos);
  auto first = text.find("GET <*> took <*>");
  auto second = text.find("server started");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  char id[17];
  std::snprintf(
      id, sizeof(id), "%016llx",
      static_cast<unsigned long long>(faultline::logtemplate::templateId("GET <*> took <*>")));
  CHECK(text.find(id) != std::string::npos);
  CHECK(text.find("1 lines not mined") != std::string::npos);

  CHECK(faultline::logtemplate::printTemplates(dir.file("missing.log"), options, out).code() ==
        faultline::Errc::NotFound);
}

TEST_CASE("mineLoghubCsv: LineId and the final template of each line's cluster") {
  faultline::testing::TempDir dir;
  const std::string csv = dir.file("x_structured.csv");
  writeFile(csv,
            "LineId,Level,Content,EventId\n"
            "1,I,\"user alice logged in, ok\",E1\n"
            "2,I,\"user bob logged in, ok\",E1\n"
            "3,I,disk 7 full,E2\n"
            "4,I,\"user carol logged in, ok\",E1\n"
            "5,I,\"has <*> in it\",E3\n");
  const std::string pred = dir.file("pred.csv");
  auto summary = faultline::logtemplate::mineLoghubCsv(csv, pred, MinerOptions{});
  REQUIRE(summary.isOk());
  CHECK(summary->lines == 5);
  CHECK(summary->unmined == 1);
  auto rows = readCsv(readFile(pred));
  // Lines 1 and 2 were mined before "user" became a variable; their final template is the
  // merged one.
  REQUIRE(rows.size() == 6);
  CHECK(rows[0] == std::vector<std::string>{"LineId", "EventTemplate"});
  CHECK(rows[1] == std::vector<std::string>{"1", "user <*> logged in, ok"});
  CHECK(rows[2] == std::vector<std::string>{"2", "user <*> logged in, ok"});
  CHECK(rows[3] == std::vector<std::string>{"3", "disk <*> full"});
  CHECK(rows[4] == std::vector<std::string>{"4", "user <*> logged in, ok"});
  CHECK(rows[5] == std::vector<std::string>{"5", "has <*> in it"});

  writeFile(csv, "Id,Text\n1,x\n");
  CHECK(faultline::logtemplate::mineLoghubCsv(csv, pred, MinerOptions{}).code() ==
        faultline::Errc::InvalidArgument);
  writeFile(csv, "LineId,Content\n1\n");
  CHECK(faultline::logtemplate::mineLoghubCsv(csv, pred, MinerOptions{}).code() ==
        faultline::Errc::InvalidArgument);
}
