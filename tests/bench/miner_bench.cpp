// Throughput of the template miner alone: loads FILE into memory, then mines every line with one
// TemplateMiner on one thread. Usage: miner_bench FILE [passes] [max_lines] [--no-check].
// Prints lines/s and ns/line (CPU time of the mining loop), clusters, memoryBytes(), peak RSS,
// and checks that every mined line renders back to itself (outside the timed loop; --no-check
// skips that, for instruction-count profiling).

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "shared/logtemplate/miner.h"

namespace {

double cpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long peakRssKiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  using faultline::logtemplate::MinedLine;
  using faultline::logtemplate::TemplateMiner;
  if (argc < 2) {
    std::fprintf(stderr, "usage: miner_bench FILE [passes] [max_lines]\n");
    return 2;
  }
  const int passes = argc > 2 ? std::atoi(argv[2]) : 1;
  const std::size_t max_lines =
      argc > 3 ? static_cast<std::size_t>(std::atoll(argv[3])) : static_cast<std::size_t>(-1);
  const bool check_round_trip = !(argc > 4 && std::string_view(argv[4]) == "--no-check");
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos < data.size() && lines.size() < max_lines;) {
    std::size_t end = data.find('\n', pos);
    if (end == std::string::npos) {
      end = data.size();
    }
    lines.emplace_back(data.data() + pos, end - pos);
    pos = end + 1;
  }
  const long rss_before = peakRssKiB();

  TemplateMiner miner;
  MinedLine mined;
  std::size_t unmined = 0;
  std::size_t new_templates = 0;
  std::size_t params = 0;
  double best = 1e30;
  for (int pass = 0; pass < passes; ++pass) {
    const double start = cpuSeconds();
    for (std::string_view line : lines) {
      miner.mine(line, mined);
      unmined += mined.template_id == 0 ? 1 : 0;
      new_templates += mined.new_template ? 1 : 0;
      params += mined.params.size();
    }
    const double seconds = cpuSeconds() - start;
    best = seconds < best ? seconds : best;
    std::printf("pass %d: %.3f CPU-s, %.2fM lines/s, %.0f ns/line\n", pass + 1, seconds,
                static_cast<double>(lines.size()) / seconds / 1e6,
                seconds * 1e9 / static_cast<double>(lines.size()));
  }

  // Round trip, outside the timed loop (on a fresh miner: the same lines, the same results).
  TemplateMiner check;
  std::string rendered;
  std::size_t mismatches = 0;
  for (std::size_t i = 0; check_round_trip && i < lines.size(); ++i) {
    std::string_view line = lines[i];
    check.mine(line, mined);
    if (mined.template_id == 0) {
      continue;
    }
    rendered.clear();
    if (!faultline::logtemplate::renderLine(mined.template_text, mined.params, rendered).isOk() ||
        rendered != line) {
      ++mismatches;
    }
  }

  std::printf("lines %zu (%zu bytes), passes %d\n", lines.size(), data.size(), passes);
  std::printf("best pass: %.2fM lines/s, %.0f ns/line, %.0f MB/s\n",
              static_cast<double>(lines.size()) / best / 1e6,
              best * 1e9 / static_cast<double>(lines.size()),
              static_cast<double>(data.size()) / best / 1e6);
  std::printf("clusters %zu, memoryBytes %zu (%.2f MiB)\n", miner.clusterCount(),
              miner.memoryBytes(), static_cast<double>(miner.memoryBytes()) / (1 << 20));
  std::printf("peak RSS %ld KiB (%ld KiB after loading the file, %ld KiB during mining)\n",
              peakRssKiB(), rss_before, peakRssKiB() - rss_before);
  std::printf("not mined %zu, new templates %zu, params per line %.2f\n", unmined / passes,
              new_templates,
              static_cast<double>(params) / static_cast<double>(passes) /
                  static_cast<double>(lines.size()));
  std::printf("round trip mismatches %zu\n", mismatches);
  return mismatches == 0 ? 0 : 1;
}
