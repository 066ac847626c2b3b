#pragma once

// RCA v1: ranks an incident's candidate causes (services, hosts, templates, change events)
// from its signals, by
//   - graph position: how many of the other anomalous services depend on it (an upstream cause
//     explains downstream symptoms), less when it depends on another anomalous service itself;
//   - temporal precedence: how early its first anomaly came among the incident's services;
//   - novelty: log templates never seen before, rate spikes, alerts new in this incident;
//   - recent changes: a deploy or config change of the service shortly before or during it;
//   - surprise: how unusual the service's anomalies are. Each kind of anomaly it shows (an
//     alert name, log errors, a new template, a rate spike...) counts by how seldom that
//     service shows that kind at all (inverse document frequency over time buckets, see
//     ServiceHistory), summed over its kinds and scaled by the incident's most surprising
//     service: a service that always logs errors explains little, one that suddenly shows
//     several kinds of anomaly it rarely has explains much;
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
  double graph = 0.15;
  double precedence = 0.10;
  double novelty = 0.10;
  double surprise = 0.40;
  double change = 0.15;
  double severity = 0.10;
  /// Softmax sharpness of confidence.
  double sharpness = 8.0;
};

/// The kind of anomaly a signal is, for rarity: its "kind" label (log_error, new_template,
/// rate_spike...), else its alert name, else "alert".
std::string anomalyKind(const Signal& signal);

/// In which event-time buckets each service of a tenant had firing events of each kind of
/// anomaly: how often a service is anomalous in that way. Bounded per key
/// (the oldest buckets go first) and in keys.
class ServiceHistory {
 public:
  static constexpr std::int64_t kBucketNs = 10LL * 60 * 1'000'000'000;
  static constexpr std::size_t kMaxBuckets = 14 * 24 * 6;  // two weeks of ten minutes
  static constexpr std::size_t kMaxKinds = 20'000;         // (service, kind) keys kept

  void observe(const Signal& signal);
  /// 1 for a kind of anomaly the service never showed before, towards 0 for one it shows in
  /// every bucket (smoothed IDF); 1 when there is no history at all.
  double rarity(const std::string& service, const std::string& kind) const;
  std::size_t buckets() const { return all_.size(); }

 private:
  double idf(const std::set<std::int64_t>* seen) const;

  std::map<std::string, std::set<std::int64_t>> by_kind_;  // service \x1f kind
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
