// Throughput of the tail input alone: reads FILE from byte 0 into a sink that only counts.
// Usage: tail_bench FILE [read_chunk_bytes]. Prints lines, bytes, wall and CPU seconds.

#include <sys/resource.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/inputs/tail/offset_store.h"
#include "agent/inputs/tail/tailer.h"
#include "shared/util/time.h"

namespace {

using faultline::agent::tail::LineSink;
using faultline::agent::tail::StreamId;

class CountingSink final : public LineSink {
 public:
  void onLine(StreamId, std::string_view, std::string_view line, std::uint64_t end_offset, bool,
              std::int64_t) override {
    ++lines;
    bytes += line.size();
    last_end = end_offset;
  }
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::uint64_t last_end = 0;
};

double cpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tail_bench FILE [read_chunk_bytes]\n");
    return 2;
  }
  const std::string file = std::filesystem::absolute(argv[1]).string();
  const auto size = std::filesystem::file_size(file);
  const std::string db = (std::filesystem::temp_directory_path() /
                          ("tail_bench_" + std::to_string(getpid()) + ".db"))
                             .string();
  auto store = faultline::agent::tail::OffsetStore::open(db);
  if (!store.isOk()) {
    std::fprintf(stderr, "%s\n", store.status().toString().c_str());
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  faultline::agent::tail::TailerOptions o;
  o.globs = {file};
  o.start_at_beginning = true;
  if (argc > 2) {
    o.read_chunk_bytes = std::strtoull(argv[2], nullptr, 10);
  }
  CountingSink sink;
  faultline::agent::tail::Tailer tailer(&loop, o, store->get(), &sink);
  const double cpu0 = cpuSeconds();
  const std::int64_t t0 = faultline::monotonicNanos();
  if (auto st = tailer.start(); !st.isOk()) {
    std::fprintf(stderr, "%s\n", st.toString().c_str());
    return 1;
  }
  while (sink.last_end < size) {
    uv_run(&loop, UV_RUN_ONCE);
  }
  const double wall = static_cast<double>(faultline::monotonicNanos() - t0) / 1e9;
  const double cpu = cpuSeconds() - cpu0;
  tailer.stop();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  std::filesystem::remove(db);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
  std::printf("lines=%llu bytes=%llu wall_s=%.3f cpu_s=%.3f lines_per_cpu_s=%.0f MB_per_cpu_s=%.1f\n",
              static_cast<unsigned long long>(sink.lines),
              static_cast<unsigned long long>(size), wall, cpu,
              static_cast<double>(sink.lines) / cpu, static_cast<double>(size) / 1e6 / cpu);
  return 0;
}
