// Ingest throughput into SQLite through the real /v1/ingest handler (auth, decode, group
// commit with synchronous=FULL), without sockets. Batches are sealed beforehand: sealing is
// the agent's cost, not the aggregator's.
//
//   ingest_sqlite_bench [batches=100] [threads=1] [records_per_batch=5000] [log_events=0]
//                       [templated=0]
//
// log_events=1 derives log events from every stored batch (events::LogEventDeriver, default
// options), as serve does; templated=1 mines the lines into templates with their severity, as
// the agent sends them (raw lines carry neither, so there is little to derive from them).
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/events/log_events.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/logparse/severity.h"
#include "shared/logtemplate/miner.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "shared/wire/batch.h"
#include "tests/bench/ingest_bench_util.h"

using namespace faultline;
using namespace faultline::aggregator;

namespace {

using bench::cpuSeconds;
using bench::makeLine;

}  // namespace

int main(int argc, char** argv) {
  int batches = argc > 1 ? std::atoi(argv[1]) : 100;
  int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  int per_batch = argc > 3 ? std::atoi(argv[3]) : 5000;
  const bool log_events = argc > 4 && std::atoi(argv[4]) != 0;
  const bool templated = argc > 5 && std::atoi(argv[5]) != 0;
  if (batches <= 0 || threads <= 0 || per_batch <= 0) {
    std::fprintf(stderr, "usage: ingest_sqlite_bench [batches] [threads] [records_per_batch]\n");
    return 2;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "fl-bench-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  int rc = 0;
  {
    auto store = store::sqlite::SqliteStore::open({dir + "/bench.db"});
    if (!store) {
      std::fprintf(stderr, "%s\n", store.status().toString().c_str());
      return 1;
    }
    events::LogEventDeriver deriver(**store, {});
    ingest::AgentApiOptions api_options;
    api_options.log_events = log_events ? &deriver : nullptr;
    ingest::AgentApi api(**store, api_options);
    auto tenant = (*store)->createTenant("bench", nowUnixNanos());
    std::string token = crypto::randomToken("fet_");
    std::int64_t now = nowUnixNanos();
    (void)(*store)->createEnrollmentToken(tenant->id, crypto::hashSecret(token), now,
                                          now + 3'600'000'000'000);
    http::Request enroll;
    enroll.headers = {{"content-type", "application/json"}};
    enroll.body = nlohmann::json{{"token", token}}.dump();
    auto enrolled = nlohmann::json::parse(api.handleEnroll(enroll).body);
    std::string agent_id = enrolled["agent_id"].get<std::string>();
    std::string secret = enrolled["secret"].get<std::string>();

    std::mt19937_64 rng(42);
    std::vector<std::string> bodies;
    std::uint64_t raw_bytes = 0;
    std::uint64_t compressed_bytes = 0;
    wire::BatchBuilder builder;
    logtemplate::TemplateMiner miner;
    logtemplate::MinedLine mined;
    for (int b = 0; b < batches; ++b) {
      builder.reset();
      std::uint32_t source = builder.sourceIndex("/var/log/nginx/access.log");
      for (int i = 0; i < per_batch; ++i) {
        std::int64_t ts = now + (static_cast<std::int64_t>(b) * per_batch + i) * 1000;
        std::string line = makeLine(rng, ts);
        if (!templated) {
          builder.addRecord(source, ts, line);
          continue;
        }
        // The level is the second word of these lines.
        const std::size_t level_at = line.find(' ') + 1;
        auto severity =
            logparse::severityFromText(line.substr(level_at, line.find(' ', level_at) - level_at));
        miner.mine(line, mined);
        wire::RecordMeta meta{
            source, ts, false,
            static_cast<std::uint8_t>(severity.value_or(logparse::Severity::kUnknown)), ts};
        if (mined.template_id != 0) {
          // Each text once per stream, as the agent sends it; later batches use the dictionary.
          builder.addTemplated(meta, mined.template_id, mined.template_text, mined.new_template,
                               mined.params);
        } else {
          builder.addRecord(meta, line);
        }
      }
      raw_bytes += builder.lineBytes() + static_cast<std::uint64_t>(per_batch);
      auto sealed = builder.seal({agent_id, 1, static_cast<std::uint64_t>(b), now});
      compressed_bytes += sealed->size();
      bodies.push_back(std::move(*sealed));
    }

    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    double cpu_start = cpuSeconds();
    auto wall_start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = next++; i < batches; i = next++) {
          http::Request request;
          request.headers = {{"authorization", "Bearer " + secret},
                             {"content-type", std::string(wire::kBatchContentType)},
                             {"content-encoding", "zstd"}};
          request.body = bodies[static_cast<std::size_t>(i)];
          if (api.handleIngest(request).status != 200) {
            ++failures;
          }
        }
      });
    }
    for (auto& worker : workers) {
      worker.join();
    }
    double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    double cpu = cpuSeconds() - cpu_start;
    double records = static_cast<double>(batches) * per_batch;
    auto stats = (*store)->writerStats();
    std::printf(
        "ingest_sqlite_bench: %d batches x %d records (%.2f MiB raw lines, %.2f MiB zstd), "
        "%d thread(s)\n"
        "  wall %.3f s, cpu %.3f s, %.0f records/s, %.1f MiB/s raw, %.2f cpu-s per M records\n"
        "  %llu write transactions for %llu jobs, failures %d\n"
        "  log events %s (%llu recorded, %llu failures), %s lines\n",
        batches, per_batch, static_cast<double>(raw_bytes) / (1 << 20),
        static_cast<double>(compressed_bytes) / (1 << 20), threads, wall, cpu, records / wall,
        static_cast<double>(raw_bytes) / (1 << 20) / wall, cpu / records * 1e6,
        static_cast<unsigned long long>(stats.groups), static_cast<unsigned long long>(stats.jobs),
        failures.load(), log_events ? "on" : "off",
        static_cast<unsigned long long>(deriver.stats().events),
        static_cast<unsigned long long>(deriver.stats().failures), templated ? "templated" : "raw");
    rc = failures.load() == 0 ? 0 : 1;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return rc;
}
