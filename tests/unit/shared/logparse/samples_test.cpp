// Real log files from the team's Loghub-2k sample (2,000 lines each): what share of lines each
// parser recognises. Skipped when the data set folder is absent (the product never needs it).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "shared/logparse/parser.h"

namespace fs = std::filesystem;
using faultline::logparse::Format;
using faultline::logparse::ParsedLine;
using faultline::logparse::Parser;
using faultline::logparse::ParserOptions;
using faultline::logparse::Severity;

namespace {

fs::path datasets() {
  if (const char* env = std::getenv("FAULTLINE_DATASETS")) {
    return env;
  }
  return FAULTLINE_DATASETS;
}

struct Counts {
  std::size_t lines = 0;
  std::size_t format = 0;    // lines parsed as the expected format
  std::size_t time = 0;      // lines with a timestamp
  std::size_t severity = 0;  // lines with a severity
};

/// Parses every line of loghub2k/<name>/<name>_2k.log; lines == 0 when the file is absent.
Counts parseSample(const std::string& name, const ParserOptions& options, Format expected) {
  Counts counts;
  std::ifstream in(datasets() / "loghub2k" / name / (name + "_2k.log"));
  if (!in) {
    return counts;
  }
  auto parser = Parser::create(options);
  REQUIRE(parser.isOk());
  ParsedLine out;
  std::string line;
  while (std::getline(in, line)) {
    (*parser)->parse(line, out);
    ++counts.lines;
    counts.format += out.format == expected ? 1 : 0;
    counts.time += out.ts_ns != 0 ? 1 : 0;
    counts.severity += out.severity != Severity::kUnknown ? 1 : 0;
  }
  return counts;
}

}  // namespace

TEST_CASE("samples: loghub Apache, Linux syslog, Hadoop, OpenStack, Spark") {
  ParserOptions options;
  options.default_year = 2005;
  Counts apache = parseSample("Apache", options, Format::kApacheError);
  if (apache.lines == 0) {
    MESSAGE("skipped: no loghub2k data set under " << datasets().string());
    return;
  }
  CHECK(apache.lines == 2000);
  CHECK(apache.format == 2000);
  CHECK(apache.time == 2000);
  CHECK(apache.severity == 2000);

  Counts linux_syslog = parseSample("Linux", options, Format::kSyslog);
  CHECK(linux_syslog.time == 2000);
  CHECK(linux_syslog.format >= 1990);

  Counts hadoop = parseSample("Hadoop", {}, Format::kPlain);
  CHECK(hadoop.time == 2000);
  CHECK(hadoop.severity == 2000);

  // The time is after a file-name column: found by findTimestamp's scan.
  Counts openstack = parseSample("OpenStack", {}, Format::kPlain);
  CHECK(openstack.time == 2000);
  CHECK(openstack.severity == 2000);

  options = {};
  options.time_formats = {"%y/%m/%d %H:%M:%S"};
  Counts spark = parseSample("Spark", options, Format::kPlain);
  CHECK(spark.time == 2000);
  CHECK(spark.severity == 2000);
}
