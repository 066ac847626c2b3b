#include "aggregator/incidents/rca.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace faultline::aggregator::incidents {
namespace {

constexpr std::size_t kMaxEvidence = 20;
constexpr int kGraphReach = 3;  // hops within which a caller counts as explained

bool novel(const Signal& signal) {
  if (signal.kind == "new_template" || signal.kind == "rate_spike" || signal.kind == "rate_drop") {
    return true;
  }
  return signal.source != events::SourceKind::kLog && !signal.change && signal.decision == "new";
}

double severityPart(events::Severity severity) {
  switch (severity) {
    case events::Severity::kCritical: return 1.0;
    case events::Severity::kError: return 0.75;
    case events::Severity::kWarn: return 0.5;
    case events::Severity::kNotice:
    case events::Severity::kInfo: return 0.25;
    default: return 0.0;
  }
}

struct ServiceFacts {
  std::int64_t first_ns = INT64_MAX;  // first anomalous (non-change, non-resolved) signal
  events::Severity severity = events::Severity::kUnknown;
  std::size_t novel = 0;
  std::vector<const Signal*> signals;  // in time order
  std::vector<const Signal*> changes;
  std::set<std::string> novel_templates;
  std::set<std::string> kinds;  // anomalyKind of its signals
};

void addEvidence(Candidate& candidate, const std::vector<const Signal*>& signals) {
  for (const Signal* signal : signals) {
    if (candidate.evidence.size() >= kMaxEvidence) {
      break;
    }
    candidate.evidence.push_back(signal->event_id);
  }
}

}  // namespace

std::string anomalyKind(const Signal& signal) {
  if (!signal.kind.empty()) {
    return signal.kind;
  }
  for (const auto& [name, value] : signal.labels) {
    if (name == "alertname" && !value.empty()) {
      return value;
    }
  }
  return "alert";
}

namespace {
std::string kindKey(const std::string& service, const std::string& kind) {
  return service + '\x1f' + kind;
}

void addBucket(std::set<std::int64_t>& buckets, std::int64_t bucket, std::size_t limit) {
  buckets.insert(bucket);
  if (buckets.size() > limit) {
    buckets.erase(buckets.begin());
  }
}
}  // namespace

void ServiceHistory::observe(const Signal& signal) {
  if (signal.service.empty() || signal.change || signal.status != events::EventStatus::kFiring ||
      signal.decision == "suppressed" || signal.decision == "maintenance") {
    return;
  }
  std::int64_t bucket = signal.occurred_at_ns / kBucketNs;
  addBucket(all_, bucket, kMaxBuckets);
  std::string key = kindKey(signal.service, anomalyKind(signal));
  auto it = by_kind_.find(key);
  if (it == by_kind_.end() && by_kind_.size() >= kMaxKinds) {
    return;  // full: a kind not tracked counts as never seen (rarity 1), which errs towards it
  }
  addBucket(by_kind_[key], bucket, kMaxBuckets);
}

double ServiceHistory::idf(const std::set<std::int64_t>* seen) const {
  const double total = static_cast<double>(all_.size());
  if (total < 2) {
    return 1.0;
  }
  const double count = seen == nullptr ? 0.0 : static_cast<double>(seen->size());
  return std::clamp(std::log((total + 1) / (count + 1)) / std::log(total + 1), 0.0, 1.0);
}

double ServiceHistory::rarity(const std::string& service, const std::string& kind) const {
  auto it = by_kind_.find(kindKey(service, kind));
  return idf(it == by_kind_.end() ? nullptr : &it->second);
}

std::vector<Candidate> rankCauses(const Incident& incident, const GraphView* graph,
                                  const RcaWeights& weights, const ServiceHistory* history) {
  std::vector<const Signal*> ordered;
  for (const Signal& signal : incident.signals) {
    ordered.push_back(&signal);
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](const Signal* a, const Signal* b) {
    return a->occurred_at_ns < b->occurred_at_ns;
  });
  std::map<std::string, ServiceFacts> facts;
  std::map<std::string, std::vector<const Signal*>> by_host;
  for (const Signal* signal : ordered) {
    if (signal->service.empty()) {
      continue;
    }
    ServiceFacts& f = facts[signal->service];
    if (signal->change) {
      f.changes.push_back(signal);
      continue;
    }
    if (signal->status == events::EventStatus::kResolved) {
      continue;
    }
    f.signals.push_back(signal);
    f.kinds.insert(anomalyKind(*signal));
    f.first_ns = std::min(f.first_ns, signal->occurred_at_ns);
    f.severity = std::max(f.severity, signal->severity);
    if (novel(*signal)) {
      ++f.novel;
      if (!signal->template_label.empty()) {
        f.novel_templates.insert(signal->template_label);
      }
    }
    if (!signal->host.empty()) {
      by_host[signal->host].push_back(signal);
    }
  }
  // Anomalous services in order of their first anomaly.
  std::vector<std::string> anomalous;
  for (const auto& [service, f] : facts) {
    if (!f.signals.empty()) {
      anomalous.push_back(service);
    }
  }
  std::stable_sort(anomalous.begin(), anomalous.end(), [&](const auto& a, const auto& b) {
    return facts[a].first_ns < facts[b].first_ns;
  });
  const double n = static_cast<double>(anomalous.size());
  // Surprise: each service's kinds of anomaly weighed by their rarity, over the incident's most.
  std::map<std::string, double> surprise;
  double most_surprise = 0.0;
  for (const std::string& service : anomalous) {
    double sum = 0.0;
    for (const std::string& kind : facts[service].kinds) {
      sum += history != nullptr ? history->rarity(service, kind) : 1.0;
    }
    surprise[service] = sum;
    most_surprise = std::max(most_surprise, sum);
  }
  std::vector<Candidate> out;
  std::map<std::string, double> service_score;
  for (std::size_t rank = 0; rank < anomalous.size(); ++rank) {
    const std::string& service = anomalous[rank];
    ServiceFacts& f = facts[service];
    // Ties in time share the better rank.
    std::size_t tied_rank = rank;
    while (tied_rank > 0 && facts[anomalous[tied_rank - 1]].first_ns == f.first_ns) {
      --tied_rank;
    }
    double precedence = n <= 1 ? 1.0 : 1.0 - static_cast<double>(tied_rank) / n;
    double graph_part = 0.0;
    if (graph != nullptr && n > 1) {
      std::size_t explained = 0;
      bool downstream_of_earlier = false;
      for (const std::string& other : anomalous) {
        if (other == service) {
          continue;
        }
        if (graph->dependsOn(other, service, kGraphReach)) {
          ++explained;
        } else if (graph->dependsOn(service, other, kGraphReach) &&
                   facts[other].first_ns <= f.first_ns) {
          downstream_of_earlier = true;  // it calls a service that failed first: a symptom
        }
      }
      graph_part = static_cast<double>(explained) / (n - 1);
      if (downstream_of_earlier) {
        graph_part *= 0.5;
      }
    }
    double novelty = std::min(1.0, static_cast<double>(f.novel) / 3.0);
    bool changed = false;
    for (const Signal* change : f.changes) {
      // A change before its first anomaly (or during the incident) is a suspect.
      if (change->occurred_at_ns <= std::max(f.first_ns, incident.last_ns)) {
        changed = true;
      }
    }
    double change_part = changed ? 1.0 : 0.0;
    double surprise_part = most_surprise > 0 ? surprise[service] / most_surprise : 0.0;
    double severity = severityPart(f.severity);
    Candidate candidate;
    candidate.kind = "service";
    candidate.name = service;
    candidate.service = service;
    candidate.factors = {{"graph", graph_part},   {"precedence", precedence},
                         {"novelty", novelty},    {"surprise", surprise_part},
                         {"change", change_part}, {"severity", severity}};
    candidate.score = weights.graph * graph_part + weights.precedence * precedence +
                      weights.novelty * novelty + weights.surprise * surprise_part +
                      weights.change * change_part + weights.severity * severity;
    addEvidence(candidate, f.changes);
    addEvidence(candidate, f.signals);
    service_score[service] = candidate.score;
    out.push_back(std::move(candidate));
  }
  // Change events: suspects by their own service's standing, and for being a change at all.
  for (const auto& [service, f] : facts) {
    for (const Signal* change : f.changes) {
      Candidate candidate;
      candidate.kind = "change";
      candidate.name = change->title.empty() ? change->event_id : change->title;
      candidate.service = service;
      double standing = service_score.count(service) != 0 ? service_score[service] : 0.0;
      candidate.factors = {{"service", standing}};
      candidate.score = 0.5 * standing + 0.15;
      candidate.evidence.push_back(change->event_id);
      out.push_back(std::move(candidate));
    }
  }
  // Hosts: where more than one host reported, a host whose services rank high is a suspect.
  if (by_host.size() > 1) {
    for (const auto& [host, signals] : by_host) {
      double best = 0.0;
      std::string best_service;
      for (const Signal* signal : signals) {
        if (service_score[signal->service] > best) {
          best = service_score[signal->service];
          best_service = signal->service;
        }
      }
      Candidate candidate;
      candidate.kind = "host";
      candidate.name = host;
      candidate.service = best_service;
      candidate.score = 0.9 * best;
      candidate.factors = {{"service", best}};
      addEvidence(candidate, signals);
      out.push_back(std::move(candidate));
    }
  }
  // Templates: the novel templates of each service, just below the service itself.
  for (const auto& [service, f] : facts) {
    for (const std::string& template_label : f.novel_templates) {
      Candidate candidate;
      candidate.kind = "template";
      candidate.name = template_label;
      candidate.service = service;
      candidate.score = 0.8 * service_score[service];
      candidate.factors = {{"service", service_score[service]}};
      std::vector<const Signal*> evidence;
      for (const Signal* signal : f.signals) {
        if (signal->template_label == template_label) {
          evidence.push_back(signal);
        }
      }
      addEvidence(candidate, evidence);
      out.push_back(std::move(candidate));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  double top = out.empty() ? 0.0 : out.front().score;
  double total = 0.0;
  for (const Candidate& c : out) {
    total += std::exp(weights.sharpness * (c.score - top));
  }
  for (Candidate& c : out) {
    c.confidence = std::exp(weights.sharpness * (c.score - top)) / total;
    c.confidence = std::round(c.confidence * 1e4) / 1e4;
    c.score = std::round(c.score * 1e4) / 1e4;
  }
  return out;
}

std::vector<ChainStep> eventChain(const Incident& incident, const std::vector<Candidate>& ranked,
                                  const GraphView* graph) {
  // First non-change, non-resolve signal of each service.
  std::map<std::string, const Signal*> first;
  for (const Signal& signal : incident.signals) {
    if (signal.service.empty() || signal.change ||
        signal.status == events::EventStatus::kResolved) {
      continue;
    }
    auto [it, inserted] = first.emplace(signal.service, &signal);
    if (!inserted && signal.occurred_at_ns < it->second->occurred_at_ns) {
      it->second = &signal;
    }
  }
  std::vector<ChainStep> chain;
  auto stepFor = [&](const std::string& service, const std::string& via) {
    const Signal* signal = first[service];
    return ChainStep{service, signal->event_id, signal->occurred_at_ns, via};
  };
  std::string root;
  for (const Candidate& c : ranked) {
    if (c.kind == "service" && first.count(c.service) != 0) {
      root = c.service;
      break;
    }
  }
  if (root.empty()) {
    return chain;
  }
  std::set<std::string> reached = {root};
  chain.push_back(stepFor(root, ""));
  if (graph != nullptr) {
    // Breadth first from the cause to the services that call it, earliest anomaly first.
    for (std::size_t at = 0; at < chain.size(); ++at) {
      std::vector<std::string> next;
      for (const auto& [service, signal] : first) {
        if (reached.count(service) != 0) {
          continue;
        }
        std::vector<std::string> callees = graph->callees(service);
        if (std::find(callees.begin(), callees.end(), chain[at].service) != callees.end()) {
          next.push_back(service);
        }
      }
      std::sort(next.begin(), next.end(), [&](const auto& a, const auto& b) {
        return first[a]->occurred_at_ns < first[b]->occurred_at_ns;
      });
      for (const std::string& service : next) {
        reached.insert(service);
        chain.push_back(stepFor(service, chain[at].service));
      }
    }
  }
  // What the graph does not connect follows in time order.
  std::vector<std::string> rest;
  for (const auto& [service, signal] : first) {
    if (reached.count(service) == 0) {
      rest.push_back(service);
    }
  }
  std::sort(rest.begin(), rest.end(), [&](const auto& a, const auto& b) {
    return first[a]->occurred_at_ns < first[b]->occurred_at_ns;
  });
  for (const std::string& service : rest) {
    chain.push_back(stepFor(service, ""));
  }
  return chain;
}

}  // namespace faultline::aggregator::incidents
