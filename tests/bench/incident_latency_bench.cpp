// Ingest-to-incident latency: events offered at a fixed rate go through the real path a webhook
// takes after its body is parsed (Store::recordEventsAsync on SQLite with its group commit, then
// the recorded-events sink) into the real IncidentEngine, which correlates them and writes the
// incidents. The latency of an event runs from its received_at (stamped before it is recorded)
// to the commit of the incident write that holds it: the engine's own measurement, kept for
// every event of the run.
//
//   incident_latency_bench [--rate 10000] [--seconds 10] [--batch 50] [--tenants 4]
//                          [--services 300] [--new-per-second 5] [--db DIR]
//
// The mix: each tenant has a pool of `services` services with 5 alerts each (fingerprints
// repeat), and `new-per-second` times a second a new service starts firing (a new incident)
// and replaces the oldest in its pool. Batches of `batch` events are offered open-loop on a
// fixed schedule (an Alertmanager webhook groups alerts), round-robin over the tenants.
// Exit status 1 when events were dropped, a write failed or the engine did not drain.
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/events/event.h"
#include "aggregator/events/event_hub.h"
#include "aggregator/incidents/incident_engine.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/time.h"

using namespace faultline;
using namespace faultline::aggregator;

namespace {

struct Flags {
  double rate = 10'000;
  double seconds = 10;
  int batch = 50;
  int tenants = 4;
  int services = 300;
  double new_per_second = 5;
  std::string db_dir;
};

bool parseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    if (i + 1 >= argc) {
      return false;
    }
    const char* value = argv[++i];
    if (name == "--rate") {
      flags.rate = std::atof(value);
    } else if (name == "--seconds") {
      flags.seconds = std::atof(value);
    } else if (name == "--batch") {
      flags.batch = std::atoi(value);
    } else if (name == "--tenants") {
      flags.tenants = std::atoi(value);
    } else if (name == "--services") {
      flags.services = std::atoi(value);
    } else if (name == "--new-per-second") {
      flags.new_per_second = std::atof(value);
    } else if (name == "--db") {
      flags.db_dir = value;
    } else {
      return false;
    }
  }
  return flags.rate > 0 && flags.seconds > 0 && flags.batch > 0 && flags.tenants > 0 &&
         flags.services > 0 && flags.new_per_second >= 0;
}

double cpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/// One tenant's firing services: a rotating pool, newest at the back.
struct TenantMix {
  std::string tenant_id;
  std::deque<std::string> services;
  int next_service = 0;

  /// Letters only: title similarity drops numbers, so "svc-12" and "svc-13" would look alike.
  std::string newService() {
    std::string name = "svc";
    for (int n = next_service++;; n /= 26) {
      name += static_cast<char>('a' + n % 26);
      if (n < 26) {
        break;
      }
    }
    return name;
  }
};

events::Event makeEvent(const std::string& tenant_id, const std::string& service, int alert,
                        std::int64_t now_ns) {
  static const char* const kAlerts[] = {"HighErrorRate", "HighLatency", "PodRestarting",
                                        "CpuThrottled", "MemoryPressure"};
  events::Event event;
  event.tenant_id = tenant_id;
  event.source = events::SourceKind::kAlertmanager;
  event.integration_id = "int_bench";
  event.service = service;
  event.host = service + "-pod-" + std::to_string(alert % 3);
  event.severity = alert == 0 ? events::Severity::kCritical : events::Severity::kError;
  event.status = events::EventStatus::kFiring;
  event.title = std::string(kAlerts[alert]) + " on " + service;
  event.labels = {{"alertname", kAlerts[alert]}, {"service", service}};
  event.source_dedup_key = service + "/" + kAlerts[alert];
  event.fingerprint = events::computeFingerprint(event);
  event.occurred_at_ns = now_ns;
  event.received_at_ns = now_ns;
  return event;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!parseFlags(argc, argv, flags)) {
    std::fprintf(stderr,
                 "usage: incident_latency_bench [--rate N] [--seconds S] [--batch N] [--tenants N]"
                 " [--services N] [--new-per-second N] [--db DIR]\n");
    return 2;
  }
  std::string dir = flags.db_dir;
  bool own_dir = dir.empty();
  if (own_dir) {
    dir = (std::filesystem::temp_directory_path() / "fl-incident-bench-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
  }
  const auto total_events = static_cast<std::size_t>(flags.rate * flags.seconds);
  int rc = 0;
  {
    auto store = store::sqlite::SqliteStore::open({dir + "/bench.db"});
    if (!store) {
      std::fprintf(stderr, "%s\n", store.status().toString().c_str());
      return 1;
    }
    std::vector<TenantMix> mixes(static_cast<std::size_t>(flags.tenants));
    std::mt19937_64 rng(42);
    for (int t = 0; t < flags.tenants; ++t) {
      auto tenant = (*store)->createTenant("bench-" + std::to_string(t), nowUnixNanos());
      if (!tenant) {
        std::fprintf(stderr, "%s\n", tenant.status().toString().c_str());
        return 1;
      }
      TenantMix& mix = mixes[static_cast<std::size_t>(t)];
      mix.tenant_id = tenant->id;
      for (int s = 0; s < flags.services; ++s) {
        mix.services.push_back(mix.newService());
      }
    }
    incidents::IncidentEngineOptions options;
    options.latency_samples = total_events + 1;  // every event of the run, for exact quantiles
    options.max_queued_events = std::max<std::size_t>(options.max_queued_events, total_events);
    incidents::IncidentEngine engine(**store, options);

    // Recorded batches reach the engine from the store's writer thread, as in serve.
    std::mutex done_mu;
    std::condition_variable done_cv;
    std::size_t batches_done = 0;
    std::atomic<std::uint64_t> record_failures{0};
    std::size_t max_queued = 0;

    const double batch_interval_s = flags.batch / flags.rate;
    const double new_interval_s = flags.new_per_second > 0 ? 1.0 / flags.new_per_second : 1e18;
    std::uniform_int_distribution<int> pick_alert(0, 4);
    std::size_t batches_sent = 0;
    std::size_t events_sent = 0;
    double next_new_s = 0;
    std::size_t new_services = 0;
    double cpu_start = cpuSeconds();
    auto start = std::chrono::steady_clock::now();
    while (events_sent < total_events) {
      // Open loop: batch k leaves at k * interval, whatever the engine is doing.
      auto due = start + std::chrono::duration<double>(static_cast<double>(batches_sent) *
                                                       batch_interval_s);
      std::this_thread::sleep_until(due);
      double elapsed_s = static_cast<double>(batches_sent) * batch_interval_s;
      TenantMix& mix = mixes[batches_sent % mixes.size()];
      std::int64_t now = nowUnixNanos();
      auto batch = std::make_shared<std::vector<events::Event>>();
      std::size_t size =
          std::min<std::size_t>(static_cast<std::size_t>(flags.batch), total_events - events_sent);
      for (std::size_t i = 0; i < size; ++i) {
        std::string service;
        if (elapsed_s >= next_new_s) {
          // A service that has not fired yet: a new incident.
          next_new_s += new_interval_s;
          ++new_services;
          service = mix.newService();
          mix.services.push_back(service);
          mix.services.pop_front();
        } else {
          std::uniform_int_distribution<std::size_t> pick(0, mix.services.size() - 1);
          service = mix.services[pick(rng)];
        }
        batch->push_back(makeEvent(mix.tenant_id, service, pick_alert(rng), now));
      }
      events_sent += size;
      ++batches_sent;
      (*store)->recordEventsAsync(
          mix.tenant_id, batch, store::RecordContext{},
          [&, batch, tenant_id = mix.tenant_id](Result<std::vector<store::EventDecision>> done) {
            if (done) {
              engine.publish(tenant_id, events::storedEvents(*batch, *done));
            } else if (record_failures.fetch_add(1, std::memory_order_relaxed) == 0) {
              std::fprintf(stderr, "record: %s\n", done.status().toString().c_str());
            }
            std::lock_guard<std::mutex> lock(done_mu);
            ++batches_done;
            done_cv.notify_all();
          });
      if (batches_sent % 20 == 0) {
        max_queued = std::max(max_queued, engine.stats().queued);
      }
    }
    double offered_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    {
      std::unique_lock<std::mutex> lock(done_mu);
      done_cv.wait(lock, [&] { return batches_done == batches_sent; });
    }
    engine.flush();
    double total_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double cpu = cpuSeconds() - cpu_start;
    incidents::IncidentEngine::Stats stats = engine.stats();
    std::printf(
        "offered %zu events in %zu batches over %.2f s (%.0f events/s offered), %d tenants,"
        " %d services each, %zu new services\n",
        events_sent, batches_sent, offered_s, static_cast<double>(events_sent) / offered_s,
        flags.tenants, flags.services, new_services);
    std::printf(
        "correlated %llu events (%llu joined) in %.2f s: %.0f events/s achieved;"
        " %llu incidents opened, %llu write steps, max queue %zu, cpu %.2f s\n",
        static_cast<unsigned long long>(stats.events),
        static_cast<unsigned long long>(stats.joined), total_s,
        static_cast<double>(stats.events) / total_s, static_cast<unsigned long long>(stats.opened),
        static_cast<unsigned long long>(stats.write_steps), max_queued, cpu);
    const auto writer = (*store)->writerStats();
    const auto checkpoints = (*store)->checkpointStats();
    std::printf(
        "sqlite writer: %llu transactions for %llu jobs; WAL checkpoints: %llu in the background,"
        " %llu inline\n",
        static_cast<unsigned long long>(writer.groups),
        static_cast<unsigned long long>(writer.jobs),
        static_cast<unsigned long long>(checkpoints.background),
        static_cast<unsigned long long>(checkpoints.inline_));
    std::printf("ingest-to-incident latency ms: p50 %.1f p99 %.1f max %.1f (%llu events)\n",
                stats.latency_p50_ms, stats.latency_p99_ms, stats.latency_max_ms,
                static_cast<unsigned long long>(stats.latency_count));
    if (stats.events != events_sent || stats.dropped != 0 || stats.write_failures != 0 ||
        record_failures.load() != 0 || stats.latency_count != stats.joined) {
      std::fprintf(stderr,
                   "FAILED: %llu of %zu events correlated, %llu dropped, %llu write failures,"
                   " %llu record failures\n",
                   static_cast<unsigned long long>(stats.events), events_sent,
                   static_cast<unsigned long long>(stats.dropped),
                   static_cast<unsigned long long>(stats.write_failures),
                   static_cast<unsigned long long>(record_failures.load()));
      rc = 1;
    }
  }
  if (own_dir) {
    std::filesystem::remove_all(dir);
  }
  return rc;
}
