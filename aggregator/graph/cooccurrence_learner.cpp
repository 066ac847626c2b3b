#include "aggregator/graph/cooccurrence_learner.h"

#include <algorithm>
#include <cmath>

#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::graph {

CooccurrenceLearner::CooccurrenceLearner(store::Store& store, CooccurrenceOptions options,
                                         std::function<void(std::string_view)> on_written)
    : store_(store), options_(options), on_written_(std::move(on_written)) {}

void CooccurrenceLearner::observe(std::string_view tenant_id, std::int64_t bucket_start_ns,
                                  const std::vector<std::string>& services) {
  observeAt(tenant_id, bucket_start_ns, services, monotonicNanos());
}

void CooccurrenceLearner::observeAt(std::string_view tenant_id, std::int64_t bucket_start_ns,
                                    const std::vector<std::string>& services,
                                    std::int64_t now_mono_ns) {
  bool due = false;
  {
    std::lock_guard lock(mutex_);
    auto it = tenants_.find(tenant_id);
    if (it == tenants_.end()) {
      it = tenants_.emplace(std::string(tenant_id), TenantCounts{}).first;
      it->second.last_flush_ns = now_mono_ns;  // the first write waits a whole interval
    }
    TenantCounts& counts = it->second;
    std::set<std::string> names;
    for (const std::string& service : services) {
      if (store::validServiceName(service)) {
        names.insert(service);
      }
    }
    while (names.size() > options_.max_services_per_bucket) {
      names.erase(std::prev(names.end()));
    }
    auto [bucket, new_bucket] = counts.recent.try_emplace(bucket_start_ns);
    if (new_bucket) {
      ++counts.buckets;
      while (counts.recent.size() > options_.recent_buckets) {
        counts.recent.erase(counts.recent.begin());  // the oldest bucket time
      }
      bucket = counts.recent.find(bucket_start_ns);
    }
    // A bucket older than every recent one is counted once, from this call alone.
    std::set<std::string> evicted;
    std::set<std::string>& seen = bucket != counts.recent.end() ? bucket->second : evicted;
    for (const std::string& name : names) {
      if (!seen.insert(name).second) {
        continue;  // already counted in this bucket
      }
      if (counts.per_service.size() >= options_.max_pairs_per_tenant &&
          counts.per_service.find(name) == counts.per_service.end()) {
        continue;  // bounded like the pairs
      }
      ++counts.per_service[name];
      // Pair the newcomer with every service counted in the bucket before it.
      for (const std::string& other : seen) {
        if (other == name) {
          continue;
        }
        auto key = std::minmax(name, other);
        auto pair = counts.pairs.find({key.first, key.second});
        if (pair == counts.pairs.end()) {
          if (counts.pairs.size() >= options_.max_pairs_per_tenant) {
            continue;  // bounded: pairs already known keep counting
          }
          pair = counts.pairs.emplace(std::make_pair(key.first, key.second), PairCount{}).first;
          pair->second.first_ns = bucket_start_ns;
          pair->second.last_ns = bucket_start_ns;
        }
        ++pair->second.together;
        pair->second.first_ns = std::min(pair->second.first_ns, bucket_start_ns);
        pair->second.last_ns = std::max(pair->second.last_ns, bucket_start_ns);
      }
    }
    const std::int64_t interval_ns = std::chrono::nanoseconds(options_.flush_interval).count();
    due = now_mono_ns - counts.last_flush_ns >= interval_ns;
  }
  if (due) {
    Status flushed = flush(tenant_id, now_mono_ns);
    if (!flushed.isOk()) {
      log::warn("graph", "tenant " + std::string(tenant_id) +
                             ": co-occurrence edges not written: " + flushed.toString());
    }
  }
}

bool CooccurrenceLearner::qualifies(const TenantCounts& counts,
                                    const std::pair<std::string, std::string>& pair,
                                    const PairCount& count) const {
  if (count.together < options_.min_count || counts.buckets <= 0) {
    return false;
  }
  const auto a = counts.per_service.find(pair.first);
  const auto b = counts.per_service.find(pair.second);
  if (a == counts.per_service.end() || b == counts.per_service.end()) {
    return false;
  }
  const double expected = static_cast<double>(a->second) * static_cast<double>(b->second) /
                          static_cast<double>(counts.buckets);
  const double together = static_cast<double>(count.together);
  return together >= options_.min_lift * expected &&
         together - expected >= options_.min_z * std::sqrt(std::max(expected, 1e-9));
}

std::vector<store::GraphEdge> CooccurrenceLearner::pendingLocked(const TenantCounts& counts) const {
  std::vector<store::GraphEdge> edges;
  for (const auto& [pair, count] : counts.pairs) {
    if (count.together > count.written && qualifies(counts, pair, count)) {
      edges.push_back(store::GraphEdge{pair.first, pair.second, store::EdgeOrigin::Cooccurrence,
                                       count.together - count.written, count.first_ns,
                                       count.last_ns});
    }
  }
  return edges;
}

std::vector<store::GraphEdge> CooccurrenceLearner::pending(std::string_view tenant_id) const {
  std::lock_guard lock(mutex_);
  auto it = tenants_.find(tenant_id);
  return it == tenants_.end() ? std::vector<store::GraphEdge>{} : pendingLocked(it->second);
}

Status CooccurrenceLearner::flush(std::string_view tenant_id, std::int64_t now_mono_ns) {
  store::GraphChange change;
  {
    std::lock_guard lock(mutex_);
    auto it = tenants_.find(tenant_id);
    if (it == tenants_.end()) {
      return Status::ok();
    }
    it->second.last_flush_ns = now_mono_ns;
    change.learned = pendingLocked(it->second);
  }
  if (change.learned.empty()) {
    return Status::ok();
  }
  change.cause =
      "co-occurrence of firing events (" + std::to_string(change.learned.size()) + " pairs)";
  change.now_ns = nowUnixNanos();
  // The store call runs outside the lock: other tenants keep observing meanwhile.
  FL_ASSIGN_OR_RETURN(store::GraphChangeResult result, store_.applyGraphChange(tenant_id, change));
  {
    std::lock_guard lock(mutex_);
    auto it = tenants_.find(tenant_id);
    if (it != tenants_.end()) {
      for (const store::GraphEdge& edge : change.learned) {
        auto pair = it->second.pairs.find({edge.from, edge.to});
        if (pair != it->second.pairs.end()) {
          pair->second.written += edge.weight;
        }
      }
    }
  }
  if (result.changed && on_written_) {
    on_written_(tenant_id);
  }
  return Status::ok();
}

}  // namespace faultline::aggregator::graph
