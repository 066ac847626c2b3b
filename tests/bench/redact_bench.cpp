// Throughput of the redactor alone, all built-in detectors on, on the lines of FILE.
// Usage: redact_bench FILE [--simd scalar|sse2|avx2] [--repeat N] [--callgrind]
// Prints lines/s and ns/line over all lines, then separately for lines with nothing to redact
// and lines with findings, the share of lines redacted and the findings per kind. Times are
// thread CPU time, best of N repeats (default 5), the file already in memory.
//
// --callgrind: instead of timing, redacts the clean lines once and the lines with findings once,
// collecting instructions only there; run under
//   valgrind --tool=callgrind --collect-atstart=no build/bin/redact_bench FILE --callgrind
// and divide the totals of the dumps "clean" (callgrind.out.PID.1) and "findings" (.2) by the
// line counts printed.

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "shared/redact/block_scanner.h"
#include "shared/redact/redactor.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(name)
#endif

namespace {

using namespace faultline::redact;

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Best-of-`repeat` CPU seconds to redact `lines`; `sink` keeps the work observable.
double timeLines(const Redactor& r, const std::vector<std::string_view>& lines, int repeat,
                 std::size_t& sink) {
  std::string out;
  RedactStats stats;
  double best = 1e30;
  for (int rep = 0; rep < repeat; ++rep) {
    const double t0 = threadCpuSeconds();
    for (std::string_view line : lines) {
      if (r.redact(line, out, stats)) {
        sink += out.size();
      }
    }
    best = std::min(best, threadCpuSeconds() - t0);
  }
  return best;
}

void report(const char* what, std::size_t lines, double seconds) {
  if (lines == 0) {
    std::printf("%-22s no lines\n", what);
    return;
  }
  std::printf("%-22s %10zu lines  %8.3f CPU-s  %7.2f M lines/s  %7.1f ns/line\n", what, lines,
              seconds, static_cast<double>(lines) / seconds / 1e6,
              seconds * 1e9 / static_cast<double>(lines));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: redact_bench FILE [--simd scalar|sse2|avx2] [--repeat N]\n");
    return 2;
  }
  SimdLevel level = bestSimdLevel();
  int repeat = 5;
  bool callgrind = false;
  for (int i = 2; i < argc; i += 2) {
    if (std::strcmp(argv[i], "--callgrind") == 0) {
      callgrind = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", argv[i]);
      return 2;
    }
    if (std::strcmp(argv[i], "--simd") == 0) {
      const std::string_view want = argv[i + 1];
      bool known = false;
      for (SimdLevel l : kAllSimdLevels) {
        if (simdLevelName(l) == want) {
          level = l;
          known = true;
        }
      }
      if (!known) {
        std::fprintf(stderr, "unknown SIMD level %s\n", argv[i + 1]);
        return 2;
      }
    } else if (std::strcmp(argv[i], "--repeat") == 0) {
      repeat = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    lines.emplace_back(text.data() + pos, nl - pos);
    pos = nl + 1;
  }

  auto made = createRedactorWithSimd({}, level);
  if (!made.isOk()) {
    std::fprintf(stderr, "%s\n", made.status().toString().c_str());
    return 1;
  }
  const Redactor& r = **made;

  // One untimed pass: which lines have findings, and what was found.
  std::vector<std::string_view> clean, dirty;
  RedactStats stats;
  std::string out;
  std::size_t out_bytes = 0;
  for (std::string_view line : lines) {
    if (r.redact(line, out, stats)) {
      dirty.push_back(line);
      out_bytes += out.size();
    } else {
      clean.push_back(line);
      out_bytes += line.size();
    }
  }

  std::size_t sink = 0;
  if (callgrind) {
    RedactStats ignored;
    CALLGRIND_TOGGLE_COLLECT;
    for (std::string_view line : clean) {
      sink += r.redact(line, out, ignored) ? 1 : 0;
    }
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT("clean");
    CALLGRIND_TOGGLE_COLLECT;
    for (std::string_view line : dirty) {
      sink += r.redact(line, out, ignored) ? 1 : 0;
    }
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT("findings");
    std::printf("callgrind: %zu clean lines (dump 1), %zu lines with findings (dump 2), SIMD %s\n",
                clean.size(), dirty.size(), std::string(simdLevelName(level)).c_str());
    return sink == dirty.size() ? 0 : 1;
  }
  const double all_s = timeLines(r, lines, repeat, sink);
  const double clean_s = timeLines(r, clean, repeat, sink);
  const double dirty_s = timeLines(r, dirty, repeat, sink);

  std::printf("file %s: %zu lines, %zu bytes (%.1f bytes/line), SIMD %s, best of %d\n", argv[1],
              lines.size(), text.size(),
              static_cast<double>(text.size()) /
                  static_cast<double>(std::max<std::size_t>(1, lines.size())),
              std::string(simdLevelName(level)).c_str(), repeat);
  report("all lines", lines.size(), all_s);
  report("nothing to redact", clean.size(), clean_s);
  report("with findings", dirty.size(), dirty_s);
  std::printf("lines redacted: %zu (%.2f%%), output %zu bytes\n", dirty.size(),
              100.0 * static_cast<double>(dirty.size()) /
                  static_cast<double>(std::max<std::size_t>(1, lines.size())),
              out_bytes);
  std::printf("findings:");
  for (std::size_t k = 0; k < stats.by_kind.size(); ++k) {
    if (stats.by_kind[k] != 0) {
      std::printf(" %s=%llu", std::string(kindName(static_cast<Kind>(k))).c_str(),
                  static_cast<unsigned long long>(stats.by_kind[k]));
    }
  }
  std::printf("\n(sink %zu)\n", sink % 10);
  return 0;
}
