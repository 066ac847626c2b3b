// Ingest throughput into PostgreSQL through the real /v1/ingest handler (auth, decode, group
// commit with synchronous_commit on), without sockets, then the same batches resent to check
// that every one is recognized as a duplicate. Batches are sealed beforehand: sealing is the
// agent's cost, not the aggregator's. Reports records per CPU-second of this process (the
// aggregator's side) and, when the server runs on this host, the server's CPU too.
//
//   FAULTLINE_TEST_PG_URL=postgresql://... ingest_pg_bench [batches=100] [threads=4]
//                                                          [records_per_batch=5000]
// Works in a schema of its own (fl_bench_<hex>), dropped at the end.
#include <libpq-fe.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/ingest/agent_api.h"
#include "aggregator/store/postgres/postgres_store.h"
#include "shared/util/c_deleter.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "shared/wire/batch.h"
#include "tests/bench/ingest_bench_util.h"

using namespace faultline;
using namespace faultline::aggregator;

namespace {

using bench::cpuSeconds;
using bench::makeLine;

using PgConnPtr = CPtr<PGconn, &PQfinish>;
using PgResultPtr = CPtr<PGresult, &PQclear>;

bool run(PGconn* conn, const std::string& sql) {
  PgResultPtr result(PQexec(conn, sql.c_str()));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "%s: %s", sql.c_str(), PQerrorMessage(conn));
    return false;
  }
  return true;
}

/// CPU seconds (user + system) of every server process pg_stat_activity lists (backends and
/// background workers), by pid, read from /proc: empty when the server is on another host.
std::map<int, double> serverCpu(PGconn* conn) {
  std::map<int, double> cpu;
  PgResultPtr result(PQexec(conn, "SELECT pid FROM pg_stat_activity"));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return cpu;
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    int pid = std::atoi(PQgetvalue(result.get(), row, 0));
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::size_t paren = text.rfind(')');
    if (paren == std::string::npos) {
      continue;
    }
    std::istringstream fields(text.substr(paren + 2));
    std::string field;
    double utime = 0;
    double stime = 0;
    // Fields after "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    for (int index = 3; index <= 15 && fields >> field; ++index) {
      if (index == 14) {
        utime = std::stod(field);
      } else if (index == 15) {
        stime = std::stod(field);
      }
    }
    cpu[pid] = (utime + stime) / ticks;
  }
  return cpu;
}

double serverCpuSince(PGconn* conn, const std::map<int, double>& before) {
  double total = 0;
  for (const auto& [pid, seconds] : serverCpu(conn)) {
    auto it = before.find(pid);
    total += seconds - (it == before.end() ? 0.0 : it->second);
  }
  return total;
}

http::Request ingestRequest(const std::string& secret, const std::string& body) {
  http::Request request;
  request.headers = {{"authorization", "Bearer " + secret},
                     {"content-type", std::string(wire::kBatchContentType)},
                     {"content-encoding", "zstd"}};
  request.body = body;
  return request;
}

}  // namespace

int main(int argc, char** argv) {
  int batches = argc > 1 ? std::atoi(argv[1]) : 100;
  int threads = argc > 2 ? std::atoi(argv[2]) : 4;
  int per_batch = argc > 3 ? std::atoi(argv[3]) : 5000;
  const char* base_url = std::getenv("FAULTLINE_TEST_PG_URL");
  if (batches <= 0 || threads <= 0 || per_batch <= 0 || base_url == nullptr || *base_url == 0) {
    std::fprintf(stderr,
                 "usage: FAULTLINE_TEST_PG_URL=postgresql://... ingest_pg_bench [batches] "
                 "[threads] [records_per_batch]\n");
    return 2;
  }
  PgConnPtr admin(PQconnectdb(base_url));
  if (PQstatus(admin.get()) != CONNECTION_OK) {
    std::fprintf(stderr, "connect: %s", PQerrorMessage(admin.get()));
    return 1;
  }
  PQsetNoticeProcessor(
      admin.get(), [](void*, const char*) {}, nullptr);
  std::string schema = "fl_bench_" + crypto::randomHex(6);
  if (!run(admin.get(), "CREATE SCHEMA " + schema)) {
    return 1;
  }
  std::string url = std::string(base_url) + (std::strchr(base_url, '?') ? "&" : "?") +
                    "options=-csearch_path%3D" + schema;
  int rc = 0;
  {
    store::postgres::PostgresStoreOptions options;
    options.url = url;
    auto store = store::postgres::PostgresStore::open(options);
    if (!store) {
      std::fprintf(stderr, "%s\n", store.status().toString().c_str());
      run(admin.get(), "DROP SCHEMA " + schema + " CASCADE");
      return 1;
    }
    ingest::AgentApi api(**store, {});
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
    for (int b = 0; b < batches; ++b) {
      builder.reset();
      std::uint32_t source = builder.sourceIndex("/var/log/nginx/access.log");
      for (int i = 0; i < per_batch; ++i) {
        std::int64_t ts = now + (static_cast<std::int64_t>(b) * per_batch + i) * 1000;
        builder.addRecord(source, ts, makeLine(rng, ts));
      }
      raw_bytes += builder.lineBytes() + static_cast<std::uint64_t>(per_batch);
      auto sealed = builder.seal({agent_id, 1, static_cast<std::uint64_t>(b), now});
      compressed_bytes += sealed->size();
      bodies.push_back(std::move(*sealed));
    }
    // Warm the pool and the auth cache so that connection set-up is not measured.
    (void)(*store)->ping();

    // One pass over every batch; `expect_duplicate` is the resend pass.
    auto pass = [&](bool expect_duplicate, double* cpu, double* server_cpu, double* wall) {
      std::atomic<int> next{0};
      std::atomic<int> failures{0};
      auto server_before = serverCpu(admin.get());
      double cpu_start = cpuSeconds();
      auto wall_start = std::chrono::steady_clock::now();
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
          for (int i = next++; i < batches; i = next++) {
            http::Response response =
                api.handleIngest(ingestRequest(secret, bodies[static_cast<std::size_t>(i)]));
            bool duplicate = false;
            for (const auto& [key, value] : response.headers) {
              duplicate = duplicate || key == "Faultline-Duplicate";
            }
            auto ack = nlohmann::json::parse(response.body, nullptr, false);
            bool acked = response.status == 200 && !ack.is_discarded() &&
                         ack.value("records", 0) == per_batch;
            if (!acked || duplicate != expect_duplicate) {
              ++failures;
            }
          }
        });
      }
      for (auto& worker : workers) {
        worker.join();
      }
      *wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
      *cpu = cpuSeconds() - cpu_start;
      *server_cpu = server_before.empty() ? -1.0 : serverCpuSince(admin.get(), server_before);
      return failures.load();
    };
    double cpu = 0;
    double server_cpu = 0;
    double wall = 0;
    int failures = pass(false, &cpu, &server_cpu, &wall);
    auto stats = (*store)->writerStats();
    double resend_cpu = 0;
    double resend_server_cpu = 0;
    double resend_wall = 0;
    int resend_failures = pass(true, &resend_cpu, &resend_server_cpu, &resend_wall);

    // Every batch stored exactly once, payloads intact.
    std::uint64_t stored = 0;
    std::uint64_t stored_bytes = 0;
    Status walked = (*store)->forEachBatch(tenant->id, {}, [&](std::string_view payload) {
      ++stored;
      stored_bytes += payload.size();
      return Status::ok();
    });
    bool exact = walked.isOk() && stored == static_cast<std::uint64_t>(batches) &&
                 stored_bytes == compressed_bytes;

    double records = static_cast<double>(batches) * per_batch;
    auto server = [](double seconds) {
      return seconds < 0 ? std::string("n/a (server not on this host)")
                         : std::to_string(seconds).substr(0, 5) + " s";
    };
    std::printf(
        "ingest_pg_bench: %d batches x %d records (%.2f MiB raw lines, %.2f MiB zstd), "
        "%d thread(s)\n"
        "  wall %.3f s, aggregator cpu %.3f s, server cpu %s\n"
        "  %.0f records per aggregator CPU-second, %.0f records/s wall, %.1f MiB/s raw\n"
        "  %llu write transactions for %llu jobs, failures %d\n"
        "  resend: wall %.3f s, aggregator cpu %.3f s, server cpu %s, every batch a duplicate: "
        "%s\n"
        "  stored exactly once with intact payloads: %s\n",
        batches, per_batch, static_cast<double>(raw_bytes) / (1 << 20),
        static_cast<double>(compressed_bytes) / (1 << 20), threads, wall, cpu,
        server(server_cpu).c_str(), records / cpu, records / wall,
        static_cast<double>(raw_bytes) / (1 << 20) / wall,
        static_cast<unsigned long long>(stats.groups), static_cast<unsigned long long>(stats.jobs),
        failures, resend_wall, resend_cpu, server(resend_server_cpu).c_str(),
        resend_failures == 0 ? "yes" : "NO", exact ? "yes" : "NO");
    rc = failures == 0 && resend_failures == 0 && exact ? 0 : 1;
  }
  run(admin.get(), "DROP SCHEMA " + schema + " CASCADE");
  return rc;
}
