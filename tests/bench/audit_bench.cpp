// Audit log costs: appends per second from several threads (each durable before it returns;
// appends to one chain are serialized by design), then one full chain verification.
//
//   audit_bench sqlite [entries=2000] [threads=4]
//   FAULTLINE_TEST_PG_URL=postgresql://... audit_bench postgres [entries=2000] [threads=4]
// SQLite works in a temporary file; PostgreSQL in a schema of its own (fl_bench_<hex>), dropped
// at the end.
#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/store/postgres/postgres_store.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"

using namespace faultline;
using namespace faultline::aggregator;

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void runPg(const char* url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url);
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  PQclear(PQexec(conn, sql.c_str()));
  PQfinish(conn);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "sqlite") != 0 && std::strcmp(argv[1], "postgres") != 0)) {
    std::fprintf(stderr, "usage: audit_bench sqlite|postgres [entries] [threads]\n");
    return 2;
  }
  const bool postgres = std::strcmp(argv[1], "postgres") == 0;
  const int entries = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 4;
  if (entries <= 0 || threads <= 0) {
    std::fprintf(stderr, "audit_bench: entries and threads must be positive\n");
    return 2;
  }
  std::unique_ptr<store::Store> store;
  std::string cleanup_dir;
  std::string schema;
  const char* url = std::getenv("FAULTLINE_TEST_PG_URL");
  if (postgres) {
    if (url == nullptr || *url == '\0') {
      std::fprintf(stderr, "audit_bench: set FAULTLINE_TEST_PG_URL\n");
      return 2;
    }
    schema = "fl_bench_" + crypto::randomHex(6);
    runPg(url, "CREATE SCHEMA " + schema);
    store::postgres::PostgresStoreOptions options;
    options.url = std::string(url) + (std::strchr(url, '?') ? "&" : "?") +
                  "options=-csearch_path%3D" + schema;
    auto opened = store::postgres::PostgresStore::open(options);
    if (!opened) {
      std::fprintf(stderr, "audit_bench: %s\n", opened.status().toString().c_str());
      return 1;
    }
    store = std::move(opened).value();
  } else {
    char dir_template[] = "/tmp/fl-audit-bench-XXXXXX";
    cleanup_dir = mkdtemp(dir_template);
    store::sqlite::SqliteStoreOptions options;
    options.path = cleanup_dir + "/db.sqlite";
    auto opened = store::sqlite::SqliteStore::open(options);
    if (!opened) {
      std::fprintf(stderr, "audit_bench: %s\n", opened.status().toString().c_str());
      return 1;
    }
    store = std::move(opened).value();
  }
  auto tenant = store->createTenant("bench", nowUnixNanos());
  if (!tenant) {
    std::fprintf(stderr, "audit_bench: %s\n", tenant.status().toString().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = t; i < entries; i += threads) {
        audit::AuditEvent event;
        event.tenant_id = tenant->id;
        event.actor = "agent:agt_bench";
        event.action = "agent.enroll";
        event.target = "agent:agt_" + std::to_string(i);
        event.client_address = "127.0.0.1:40000";
        event.detail_json = R"({"hostname":"web-)" + std::to_string(i) + R"(","version":"0.1"})";
        event.at_ns = nowUnixNanos();
        if (!store->appendAudit(event).isOk()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  const double append_s = secondsSince(start);
  const auto verify_start = std::chrono::steady_clock::now();
  auto verified = store->verifyAuditChain(tenant->id);
  const double verify_s = secondsSince(verify_start);
  int rc = 0;
  if (!verified || !verified->intact || verified->entries != entries || failures > 0) {
    std::fprintf(stderr, "audit_bench: chain not as expected (%d append failures)\n",
                 failures.load());
    rc = 1;
  } else {
    std::printf(
        "%s: %d appends from %d threads in %.2f s = %.0f appends/s; verify %d entries "
        "in %.3f s = %.0f entries/s\n",
        argv[1], entries, threads, append_s, entries / append_s, entries, verify_s,
        entries / verify_s);
  }
  store.reset();
  if (postgres) {
    runPg(url, "DROP SCHEMA " + schema + " CASCADE");
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(cleanup_dir, ignored);
  }
  return rc;
}
