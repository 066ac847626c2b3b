#pragma once

// RCA v1: ranks an incident's candidate causes (services, hosts, templates, change events)
// from its signals, by
//   - graph position: how many of the other anomalous services depend on it (an upstream cause
//     explains downstream symptoms), less when it depends on another anomalous service itself;
//   - temporal precedence: how early its first anomaly came among the incident's services;
//   - novelty: log templates never seen before, rate spikes, alerts new in this incident;
//   - recent changes: a deploy or config change of the service shortly before or during it;
//   - severity: the worst it reported.
// Each part is in [0, 1]; the score is their weighted sum, and confidence a softmax of the
// scores (the candidates' confidences sum to at most 1). Evidence: event ids, earliest first.

#include <vector>

#include "aggregator/incidents/correlator.h"
#include "aggregator/incidents/incident.h"

namespace faultline::aggregator::incidents {

struct RcaWeights {
  double graph = 0.30;
  double precedence = 0.25;
  double novelty = 0.20;
  double change = 0.15;
  double severity = 0.10;
  /// Softmax sharpness of confidence.
  double sharpness = 8.0;
};

/// Candidates best first. `graph` may be null (graph position counts 0 for all).
std::vector<Candidate> rankCauses(const Incident& incident, const GraphView* graph,
                                  const RcaWeights& weights = {});

/// The ordered path from the top service candidate through dependency edges to the symptoms
/// (services that call it, then their callers...); without a graph, services by first anomaly.
std::vector<ChainStep> eventChain(const Incident& incident, const std::vector<Candidate>& ranked,
                                  const GraphView* graph);

}  // namespace faultline::aggregator::incidents
