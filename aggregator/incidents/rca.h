#pragma once

// RCA v1: ranks an incident's candidate causes (services, hosts, templates, change events)
// from its signals, by
//   - graph position: how many of the other anomalous services depend on it (an upstream cause
//     explains downstream symptoms), less when it depends on another anomalous service itself;
//   - temporal precedence: how early its first anomaly came among the incident's services;
//   - novelty: log templates never seen before, rate spikes, alerts new in this incident;
//   - recent changes: a deploy or config change of the service shortly before or during it;
//   - rarity: how seldom the service is anomalous at all (a service that always logs errors
//     explains little: inverse document frequency over time buckets, see ServiceHistory);
//   - severity: the worst it reported.
// Each part is in [0, 1]; the score is their weighted sum, and confidence a softmax of the
// scores (the candidates' confidences sum to at most 1). Evidence: event ids, earliest first.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "aggregator/incidents/correlator.h"
#include "aggregator/incidents/incident.h"

namespace faultline::aggregator::incidents {

struct RcaWeights {
  double graph = 0.25;
  double precedence = 0.20;
  double novelty = 0.15;
  double rarity = 0.15;
  double change = 0.15;
  double severity = 0.10;
  /// Softmax sharpness of confidence.
  double sharpness = 8.0;
};

/// In which event-time buckets each service of a tenant had firing events: how often a service
/// is anomalous at all. Bounded per service (the oldest buckets go first).
class ServiceHistory {
 public:
  static constexpr std::int64_t kBucketNs = 10LL * 60 * 1'000'000'000;
  static constexpr std::size_t kMaxBuckets = 14 * 24 * 6;  // two weeks of ten minutes

  void observe(const Signal& signal);
  /// 1 for a service never anomalous before, towards 0 for one anomalous in every bucket
  /// (smoothed IDF); 1 when there is no history at all.
  double rarity(const std::string& service) const;
  std::size_t buckets() const { return all_.size(); }

 private:
  std::map<std::string, std::set<std::int64_t>> by_service_;
  std::set<std::int64_t> all_;
};

/// Candidates best first. `graph` may be null (graph position counts 0 for all); `history`
/// may be null (rarity counts 1 for all).
std::vector<Candidate> rankCauses(const Incident& incident, const GraphView* graph,
                                  const RcaWeights& weights = {},
                                  const ServiceHistory* history = nullptr);

/// The ordered path from the top service candidate through dependency edges to the symptoms
/// (services that call it, then their callers...); without a graph, services by first anomaly.
std::vector<ChainStep> eventChain(const Incident& incident, const std::vector<Candidate>& ranked,
                                  const GraphView* graph);

}  // namespace faultline::aggregator::incidents
