#pragma once

// Edges learned from events that fire together. The correlator reports, per tenant and time
// bucket, the services that had firing events in it; pairs of services that share buckets
// clearly more often than chance would have them become `cooccurrence` edges (no direction:
// stored from the smaller name to the larger), written to the graph at most once per flush
// interval per tenant.
//
// "Clearly above chance": with N buckets seen, n_a and n_b buckets for each service and n_ab
// shared ones, independence expects e = n_a * n_b / N shared buckets. A pair qualifies when
// n_ab >= min_count, n_ab >= min_lift * e and n_ab - e >= min_z * sqrt(e) (a binomial-ish
// z-score), so neither a busy pair of always-firing services nor a lucky pair of rare ones does.
//
// Counts live in memory: after a restart a pair must qualify again before more weight is
// written (the stored weight keeps what earlier runs wrote).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aggregator/store/store.h"

namespace faultline::aggregator::graph {

struct CooccurrenceOptions {
  std::int64_t min_count = 5;
  double min_lift = 2.0;
  double min_z = 3.0;
  std::chrono::milliseconds flush_interval{60'000};
  std::size_t max_services_per_bucket = 64;  // beyond: the first ones by name
  std::size_t max_pairs_per_tenant = 100'000;
  std::size_t recent_buckets = 64;  // buckets a repeated observe() may still add services to
};

/// Thread-safe. Does not own the store. observe() writes to the store itself when a tenant's
/// flush is due (at most once per interval per tenant, on the calling thread).
class CooccurrenceLearner {
 public:
  /// `on_written(tenant_id)` runs after a write that made a new version (e.g. to make a
  /// GraphCache forget the tenant's graph).
  CooccurrenceLearner(store::Store& store, CooccurrenceOptions options,
                      std::function<void(std::string_view tenant_id)> on_written = {});

  /// Records that `services` had firing events in the bucket starting at `bucket_start_ns`
  /// (event time). Calling it again for a recent bucket adds only the services not seen in it
  /// yet. Writes due edges when the tenant's last write is a flush interval old.
  void observe(std::string_view tenant_id, std::int64_t bucket_start_ns,
               const std::vector<std::string>& services);
  /// observe() with an explicit monotonic time for the flush decision (tests).
  void observeAt(std::string_view tenant_id, std::int64_t bucket_start_ns,
                 const std::vector<std::string>& services, std::int64_t now_mono_ns);

  /// The pairs that qualify now, with the weight (shared buckets) not yet written.
  std::vector<store::GraphEdge> pending(std::string_view tenant_id) const;
  /// Writes the tenant's pending edges as one graph change now (whatever the interval).
  Status flush(std::string_view tenant_id, std::int64_t now_mono_ns);

 private:
  struct PairCount {
    std::int64_t together = 0;
    std::int64_t written = 0;
    std::int64_t first_ns = 0;  // bucket times (event time)
    std::int64_t last_ns = 0;
  };
  struct TenantCounts {
    std::int64_t buckets = 0;
    std::map<std::string, std::int64_t, std::less<>> per_service;
    std::map<std::pair<std::string, std::string>, PairCount> pairs;
    std::map<std::int64_t, std::set<std::string>> recent;  // bucket -> services counted
    std::int64_t last_flush_ns = 0;                        // monotonic; 0: never
  };

  std::vector<store::GraphEdge> pendingLocked(const TenantCounts& counts) const;
  bool qualifies(const TenantCounts& counts, const std::pair<std::string, std::string>& pair,
                 const PairCount& count) const;

  store::Store& store_;
  CooccurrenceOptions options_;
  std::function<void(std::string_view)> on_written_;
  mutable std::mutex mutex_;
  std::map<std::string, TenantCounts, std::less<>> tenants_;
};

}  // namespace faultline::aggregator::graph
