// Throughput of the log parser (auto-detection + timestamp + severity) and of the multiline
// joiner (auto mode) on a log file held in memory.
//   parse_bench FILE [repeats]
// Prints lines/s and ns/line of CPU time (CLOCK_PROCESS_CPUTIME_ID) for each, plus what was
// recognised, so a fast run that recognises nothing is visible.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "shared/logparse/multiline.h"
#include "shared/logparse/parser.h"

using namespace faultline::logparse;

namespace {

double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void report(const char* what, std::size_t lines, double seconds) {
  std::printf("%-28s %10zu lines  %8.3f CPU-s  %12.0f lines/s  %7.1f ns/line\n", what, lines,
              seconds, static_cast<double>(lines) / seconds,
              seconds * 1e9 / static_cast<double>(lines));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: parse_bench FILE [repeats]\n");
    return 2;
  }
  int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "parse_bench: cannot open %s\n", argv[1]);
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < data.size();) {
    std::size_t end = data.find('\n', start);
    if (end == std::string::npos) {
      end = data.size();
    }
    lines.push_back(std::string_view(data).substr(start, end - start));
    start = end + 1;
  }
  std::printf("%s: %zu lines, %zu bytes (%.0f bytes/line), best of %d\n", argv[1], lines.size(),
              data.size(), static_cast<double>(data.size()) / static_cast<double>(lines.size()),
              repeats);

  auto parser = Parser::create(ParserOptions{});
  if (!parser.isOk()) {
    std::fprintf(stderr, "%s\n", parser.status().toString().c_str());
    return 1;
  }
  ParsedLine out;
  std::size_t with_time = 0;
  std::size_t with_severity = 0;
  std::size_t per_format[16] = {};
  double best = 1e100;
  for (int r = 0; r < repeats; ++r) {
    with_time = with_severity = 0;
    std::fill(std::begin(per_format), std::end(per_format), 0);
    double t0 = cpuSeconds();
    for (std::string_view line : lines) {
      (*parser)->parse(line, out);
      with_time += out.ts_ns != 0;
      with_severity += out.severity != Severity::kUnknown;
      ++per_format[static_cast<std::size_t>(out.format)];
    }
    best = std::min(best, cpuSeconds() - t0);
  }
  report("parser auto", lines.size(), best);
  std::printf("  with timestamp %.1f%%, with severity %.1f%%;", 100.0 * with_time / lines.size(),
              100.0 * with_severity / lines.size());
  for (std::size_t f = 0; f < 16; ++f) {
    if (per_format[f] > 0) {
      std::printf(" %s %zu", std::string(formatName(static_cast<Format>(f))).c_str(),
                  per_format[f]);
    }
  }
  std::printf("\n");

  std::size_t events = 0;
  std::size_t joined_lines = 0;
  MultilineJoiner::Emit emit = [&](std::string_view, std::size_t n) {
    ++events;
    joined_lines += n;
  };
  best = 1e100;
  for (int r = 0; r < repeats; ++r) {
    auto joiner = MultilineJoiner::create(MultilineOptions{});
    if (!joiner.isOk()) {
      return 1;
    }
    events = joined_lines = 0;
    double t0 = cpuSeconds();
    for (std::string_view line : lines) {
      (*joiner)->add(line, emit);
    }
    (*joiner)->flush(emit);
    best = std::min(best, cpuSeconds() - t0);
  }
  report("multiline auto", lines.size(), best);
  std::printf("  %zu events from %zu lines (%zu joined away)\n", events, joined_lines,
              joined_lines - events);
  return 0;
}
