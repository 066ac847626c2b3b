#include "aggregator/incidents/correlator.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <tuple>

namespace faultline::aggregator::incidents {
namespace {

constexpr std::int64_t kMinPendingWallNs = 60LL * 1'000'000'000;
constexpr std::size_t kMaxPendingGroups = 10'000;
constexpr std::size_t kMaxPaused = 10'000;

bool muted(const Signal& signal) {
  return signal.decision == "suppressed" || signal.decision == "maintenance";
}

bool inWindow(const Incident& incident, std::int64_t at_ns, std::int64_t window_ns) {
  return at_ns >= incident.first_ns - window_ns && at_ns <= incident.last_ns + window_ns;
}

/// True when an incident spanning [first_ns, last_ns] that takes an event at at_ns stays within
/// max_span_ns (0: no limit).
bool withinSpan(std::int64_t first_ns, std::int64_t last_ns, std::int64_t at_ns,
                std::int64_t max_span_ns) {
  return max_span_ns <= 0 || std::max(last_ns, at_ns) - std::min(first_ns, at_ns) <= max_span_ns;
}

}  // namespace

void foldSignal(Incident& incident, const Signal& signal, const std::vector<std::string>& keys) {
  if (incident.event_count == 0 || signal.occurred_at_ns < incident.first_ns) {
    incident.first_ns = signal.occurred_at_ns;
  }
  if (incident.event_count == 0 || signal.occurred_at_ns > incident.last_ns) {
    incident.last_ns = signal.occurred_at_ns;
  }
  ++incident.event_count;
  if (!signal.service.empty()) {
    ServiceActivity& activity = incident.services[signal.service];
    if (activity.events == 0 || signal.occurred_at_ns < activity.first_ns) {
      activity.first_ns = signal.occurred_at_ns;
    }
    activity.last_ns = std::max(activity.last_ns, signal.occurred_at_ns);
    ++activity.events;
    activity.max_severity = std::max(activity.max_severity, signal.severity);
  }
  if (signal.status != events::EventStatus::kResolved) {
    incident.severity = std::max(incident.severity, signal.severity);
  }
  if (!signal.fingerprint.empty()) {
    incident.fingerprints.insert(signal.fingerprint);
    // Log-derived events never resolve: only alerts from monitoring can.
    if (signal.source != events::SourceKind::kLog && !signal.change) {
      incident.alerts[signal.fingerprint] = signal.status != events::EventStatus::kResolved;
    }
  }
  for (const std::string& key : keys) {
    incident.group_keys.insert(key);
  }
  if (incident.title_tokens.size() < kMaxTitleSets) {
    std::set<std::string> tokens = titleTokens(signal.title);
    if (!tokens.empty() && std::find(incident.title_tokens.begin(), incident.title_tokens.end(),
                                     tokens) == incident.title_tokens.end()) {
      incident.title_tokens.push_back(std::move(tokens));
    }
  }
  if (incident.signals.size() < kMaxSignals) {
    incident.signals.push_back(signal);
  }
}

TenantCorrelator::TenantCorrelator(std::string tenant_id, CorrelationRules rules, IdSource new_id)
    : tenant_id_(std::move(tenant_id)), rules_(std::move(rules)), new_id_(std::move(new_id)) {}

bool TenantCorrelator::mayOpen(const Signal& signal, bool promoting) const {
  return signal.status == events::EventStatus::kFiring && !signal.change &&
         signal.severity >= rules_.open_severity && signal.decision != "flapping" &&
         (promoting || signal.decision != "transient");
}

void TenantCorrelator::advanceClock(std::int64_t event_ns, std::int64_t now_ns) {
  const std::int64_t clock_limit_ns =
      now_ns <= std::numeric_limits<std::int64_t>::max() - kMaxClockAheadNs
          ? now_ns + kMaxClockAheadNs
          : std::numeric_limits<std::int64_t>::max();
  newest_event_ns_ = std::max(newest_event_ns_, std::min(event_ns, clock_limit_ns));
}

void TenantCorrelator::adopt(Incident incident, std::int64_t now_ns) {
  // A stored incident that took an event dated years ahead must not, read back at a restart,
  // move the clock there and resolve every quiet incident (as add() guards against live).
  advanceClock(incident.last_ns, now_ns);
  incidents_.push_back(std::make_unique<Incident>(std::move(incident)));
  reindex(*incidents_.back());
}

void TenantCorrelator::indexKey(char kind, const std::string& value, Incident* incident) {
  std::vector<Incident*>& listed = strong_index_[kind + value];
  if (std::find(listed.begin(), listed.end(), incident) == listed.end()) {
    listed.push_back(incident);
  }
}

void TenantCorrelator::indexSignal(Incident& incident, const Signal& signal,
                                   const std::vector<std::string>& keys) {
  if (!signal.fingerprint.empty()) {
    indexKey('f', signal.fingerprint, &incident);
  }
  for (const std::string& key : keys) {
    indexKey('g', key, &incident);
  }
  if (!signal.service.empty()) {
    indexKey('s', signal.service, &incident);
  }
}

void TenantCorrelator::reindex(Incident& incident) {
  for (const std::string& fingerprint : incident.fingerprints) {
    indexKey('f', fingerprint, &incident);
  }
  for (const std::string& key : incident.group_keys) {
    indexKey('g', key, &incident);
  }
  for (const auto& [service, activity] : incident.services) {
    indexKey('s', service, &incident);
  }
}

void TenantCorrelator::rebuildIndex() {
  strong_index_.clear();
  for (auto& incident : incidents_) {
    reindex(*incident);
  }
}

std::vector<Incident*> TenantCorrelator::strongCandidates(
    const Signal& signal, const std::vector<std::string>& keys) const {
  std::vector<Incident*> candidates;
  auto collect = [&](char kind, const std::string& value) {
    auto listed = strong_index_.find(kind + value);
    if (listed != strong_index_.end()) {
      candidates.insert(candidates.end(), listed->second.begin(), listed->second.end());
    }
  };
  if (!signal.fingerprint.empty()) {
    collect('f', signal.fingerprint);
  }
  for (const std::string& key : keys) {
    collect('g', key);
  }
  if (!signal.service.empty()) {
    collect('s', signal.service);
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  return candidates;
}

Incident* TenantCorrelator::find(const std::string& incident_id) {
  for (auto& incident : incidents_) {
    if (incident->id == incident_id) {
      return incident.get();
    }
  }
  return nullptr;
}

std::vector<std::string> TenantCorrelator::groupKeys(const Signal& signal) const {
  std::vector<std::string> keys;
  for (const std::string& name : rules_.group_by) {
    for (const auto& [label, value] : signal.labels) {
      if (label == name && !value.empty()) {
        keys.push_back(label + "=" + value);
      }
    }
  }
  return keys;
}

std::optional<TenantCorrelator::Match> TenantCorrelator::matchOne(
    const Signal& signal, const std::vector<std::string>& keys, const std::set<std::string>& tokens,
    Incident& incident, bool strong_only) const {
  if (!inWindow(incident, signal.occurred_at_ns, rules_.window_ns)) {
    return std::nullopt;
  }
  Match match;
  match.incident = &incident;
  // Only a repeat of an alert still firing in the incident joins past the time-based grouping
  // span; the same alert firing again after it resolved, or a log event repeating, is a new
  // occurrence like any other event.
  const bool in_span =
      withinSpan(incident.first_ns, incident.last_ns, signal.occurred_at_ns, rules_.max_span_ns);
  if (!in_span) {
    auto alert = incident.alerts.find(signal.fingerprint);
    if (signal.fingerprint.empty() || alert == incident.alerts.end() || !alert->second) {
      return std::nullopt;
    }
  }
  if (!signal.fingerprint.empty() && incident.fingerprints.count(signal.fingerprint) != 0) {
    match.strength = 5;
    match.reason = makeReason("fingerprint", signal.fingerprint);
    return match;
  }
  for (const std::string& key : keys) {
    if (incident.group_keys.count(key) != 0) {
      match.strength = 4;
      match.reason = makeReason("group_key", key);
      return match;
    }
  }
  if (!signal.service.empty() && incident.services.count(signal.service) != 0) {
    match.strength = 3;
    match.reason = makeReason("service", signal.service);
    return match;
  }
  if (strong_only) {
    return std::nullopt;
  }
  if (graph_ != nullptr && !signal.service.empty() && rules_.max_hops > 0) {
    std::vector<std::string> best;
    for (const auto& [service, activity] : incident.services) {
      std::vector<std::string> path = graph_->path(signal.service, service, rules_.max_hops);
      if (!path.empty() && (best.empty() || path.size() < best.size())) {
        best = std::move(path);
      }
    }
    if (!best.empty()) {
      match.strength = 2;
      match.reason = makeReason("graph", best.back());
      match.reason.path = std::move(best);
      return match;
    }
  }
  if (rules_.similarity <= 1.0) {
    double best = 0.0;
    for (const auto& set : incident.title_tokens) {
      // Jaccard is at most the smaller set's size over the larger's: skip what cannot reach.
      const double bound =
          static_cast<double>(std::min(tokens.size(), set.size())) /
          static_cast<double>(std::max<std::size_t>(1, std::max(tokens.size(), set.size())));
      if (bound < rules_.similarity || bound <= best) {
        continue;
      }
      best = std::max(best, jaccard(tokens, set));
      if (best >= rules_.similarity) {
        break;  // enough to join; the reason shows a similarity at or above the rule
      }
    }
    if (best >= rules_.similarity && best > 0.0) {
      match.strength = 1;
      match.reason = makeReason("similarity");
      match.reason.similarity = best;
      return match;
    }
  }
  return std::nullopt;
}

std::vector<TenantCorrelator::Match> TenantCorrelator::matches(const Signal& signal,
                                                               const std::vector<std::string>& keys,
                                                               bool flapping_only) {
  std::vector<Match> found;
  // Two passes: the cheap reasons (fingerprint, group key, service) first. Only when none
  // matches do graph paths and title similarity decide, since a weaker match elsewhere neither
  // wins nor merges. Most events repeat an alert, so most skip the costly pass.
  std::set<std::string> tokens;
  for (int pass = 0; pass < 2 && found.empty(); ++pass) {
    const bool strong_only = pass == 0;
    if (!strong_only) {
      if (flapping_only) {
        break;  // a flapping event only ever joins its own alert
      }
      // Once per event, not once per incident: the scan visits every active incident.
      if (rules_.similarity <= 1.0) {
        tokens = titleTokens(signal.title);
      }
    }
    auto consider = [&](Incident& incident) {
      bool eligible = isActive(incident.status) ||
                      (rules_.reopen_resolved && incident.status == IncidentStatus::kResolved);
      if (!eligible) {
        return;
      }
      std::optional<Match> match = matchOne(signal, keys, tokens, incident, strong_only);
      if (match && (!flapping_only || match->strength == 5)) {
        found.push_back(std::move(*match));
      }
    };
    if (strong_only) {
      // A strong match needs a shared key: only the incidents listed under one can match.
      for (Incident* incident : strongCandidates(signal, keys)) {
        consider(*incident);
      }
#ifndef NDEBUG
      // Debug builds (the sanitizer test pass) check the index against the full scan.
      std::size_t scanned = 0;
      for (auto& incident : incidents_) {
        const bool eligible =
            isActive(incident->status) ||
            (rules_.reopen_resolved && incident->status == IncidentStatus::kResolved);
        std::optional<Match> match =
            eligible ? matchOne(signal, keys, tokens, *incident, true) : std::nullopt;
        scanned += match && (!flapping_only || match->strength == 5) ? 1 : 0;
      }
      assert(scanned == found.size() && "strong_index_ missed an incident");
#endif
      continue;
    }
    for (auto& incident : incidents_) {
      consider(*incident);
    }
  }
  // Strongest first; among equals the incident that started first.
  std::sort(found.begin(), found.end(), [](const Match& a, const Match& b) {
    if (a.strength != b.strength) {
      return a.strength > b.strength;
    }
    return std::tie(a.incident->first_ns, a.incident->id) <
           std::tie(b.incident->first_ns, b.incident->id);
  });
  return found;
}

void TenantCorrelator::join(Incident& incident, const Signal& signal,
                            const std::vector<std::string>& keys, std::int64_t now_ns) {
  foldSignal(incident, signal, keys);
  incident.updated_at_ns = now_ns;
}

void TenantCorrelator::mergeInto(Incident& target, Incident& source, std::int64_t now_ns) {
  for (const Signal& signal : source.signals) {
    foldSignal(target, signal, groupKeys(signal));
  }
  // Events beyond the kept signals still count.
  if (source.event_count > source.signals.size()) {
    target.event_count += source.event_count - source.signals.size();
  }
  target.first_ns = std::min(target.first_ns, source.first_ns);
  target.last_ns = std::max(target.last_ns, source.last_ns);
  for (const auto& [fingerprint, firing] : source.alerts) {
    target.alerts[fingerprint] = target.alerts[fingerprint] || firing;
  }
  target.updated_at_ns = now_ns;
  source.status = IncidentStatus::kMerged;
  source.merged_into = target.id;
  source.updated_at_ns = now_ns;
}

Incident& TenantCorrelator::open(const Signal& signal, const std::vector<std::string>& keys,
                                 std::int64_t now_ns) {
  auto incident = std::make_unique<Incident>();
  incident->id = new_id_();
  incident->tenant_id = tenant_id_;
  incident->status = IncidentStatus::kTriggered;
  incident->title = signal.title.empty() ? "Incident on " + signal.service : signal.title;
  incident->opened_at_ns = now_ns;
  incident->updated_at_ns = now_ns;
  incident->graph_version = graph_ != nullptr ? graph_->version() : 0;
  join(*incident, signal, keys, now_ns);
  incidents_.push_back(std::move(incident));
  reindex(*incidents_.back());
  return *incidents_.back();
}

CorrelationStep TenantCorrelator::add(const Signal& signal, std::int64_t now_ns) {
  CorrelationStep step = correlate(signal, now_ns, /*promoting=*/false);
  if (step.outcome == CorrelationStep::Outcome::kJoined) {
    paused_.erase(signal.fingerprint);  // its alert is in an incident now: nothing to wait for
  }
  return step;
}

std::vector<TenantCorrelator::Promotion> TenantCorrelator::promotePaused(std::int64_t now_ns) {
  std::vector<Promotion> promoted;
  if (newest_event_ns_ == INT64_MIN) {
    return promoted;
  }
  for (auto it = paused_.begin(); it != paused_.end();) {
    const Signal& waiting = it->second;
    if (waiting.occurred_at_ns > newest_event_ns_ - transient_pause_ns_) {
      ++it;
      continue;
    }
    Promotion promotion;
    promotion.signal = waiting;
    it = paused_.erase(it);
    promotion.step = correlate(promotion.signal, now_ns, /*promoting=*/true);
    if (promotion.step.outcome == CorrelationStep::Outcome::kJoined) {
      promoted.push_back(std::move(promotion));
    }
  }
  return promoted;
}

bool TenantCorrelator::restorePaused(const Signal& signal, std::int64_t now_ns) {
  if (transient_pause_ns_ <= 0 || mayOpen(signal, /*promoting=*/false) ||
      !mayOpen(signal, /*promoting=*/true)) {
    return false;
  }
  // Joined an incident instead of waiting (by any reason: its fingerprint is then indexed).
  if (auto listed = strong_index_.find('f' + signal.fingerprint); listed != strong_index_.end()) {
    for (const Incident* incident : listed->second) {
      for (const Signal& kept : incident->signals) {
        if (kept.event_id == signal.event_id) {
          return false;
        }
      }
    }
  }
  pause(signal);
  advanceClock(signal.occurred_at_ns, now_ns);
  return true;
}

void TenantCorrelator::pause(const Signal& signal) {
  auto waiting = paused_.find(signal.fingerprint);
  if (waiting != paused_.end()) {
    if (signal.occurred_at_ns < waiting->second.occurred_at_ns) {
      waiting->second = signal;  // the alert waits from its first firing
    }
    return;
  }
  if (paused_.size() >= kMaxPaused) {  // full: the longest-waiting one goes
    paused_.erase(
        std::min_element(paused_.begin(), paused_.end(), [](const auto& a, const auto& b) {
          return a.second.occurred_at_ns < b.second.occurred_at_ns;
        }));
  }
  paused_.emplace(signal.fingerprint, signal);
}

CorrelationStep TenantCorrelator::correlate(const Signal& signal, std::int64_t now_ns,
                                            bool promoting) {
  if (signal.status == events::EventStatus::kResolved) {
    paused_.erase(signal.fingerprint);  // it went away by itself again
  }
  advanceClock(signal.occurred_at_ns, now_ns);
  CorrelationStep step;
  if (muted(signal)) {
    return step;
  }
  // Once per event: matching, joining and the index all use them.
  const std::vector<std::string> keys = groupKeys(signal);
  if (signal.status == events::EventStatus::kResolved) {
    // A resolve only ever speaks of its own alert.
    std::vector<Match> found = matches(signal, keys, /*flapping_only=*/true);
    if (found.empty()) {
      return step;
    }
    Incident& incident = *found.front().incident;
    join(incident, signal, keys, now_ns);
    indexSignal(incident, signal, keys);
    step.outcome = CorrelationStep::Outcome::kJoined;
    step.incident_id = incident.id;
    step.reason = found.front().reason;
    // Resolving waits for a quiet window (sweepResolved): alerts that flap back soon stay in
    // the same incident instead of opening a new one each time.
    return step;
  }
  std::vector<Match> found = matches(signal, keys, /*flapping_only=*/signal.decision == "flapping");
  if (!found.empty()) {
    // The incidents this event bridges (it shares an alert, a group key or a service with each)
    // become one: the one that started first takes the others in.
    std::vector<Incident*> bridged = {found.front().incident};
    if (rules_.merge_on_bridge && found.front().strength >= 3 &&
        isActive(found.front().incident->status)) {
      // Merged, the incidents must still fit the time-based grouping span.
      std::int64_t first_ns = std::min(found.front().incident->first_ns, signal.occurred_at_ns);
      std::int64_t last_ns = std::max(found.front().incident->last_ns, signal.occurred_at_ns);
      for (std::size_t i = 1; i < found.size(); ++i) {
        const Incident& other = *found[i].incident;
        if (found[i].strength >= 3 && isActive(other.status) &&
            withinSpan(std::min(first_ns, other.first_ns), std::max(last_ns, other.last_ns),
                       signal.occurred_at_ns, rules_.max_span_ns)) {
          bridged.push_back(found[i].incident);
          first_ns = std::min(first_ns, other.first_ns);
          last_ns = std::max(last_ns, other.last_ns);
        }
      }
    }
    Incident& target = **std::min_element(bridged.begin(), bridged.end(), [](auto* a, auto* b) {
      return std::tie(a->first_ns, a->id) < std::tie(b->first_ns, b->id);
    });
    if (target.status == IncidentStatus::kResolved) {
      target.status = IncidentStatus::kTriggered;
      target.resolved_at_ns = 0;
      step.reopened = true;
    }
    join(target, signal, keys, now_ns);
    indexSignal(target, signal, keys);
    for (Incident* other : bridged) {
      if (other != &target) {
        mergeInto(target, *other, now_ns);
        reindex(target);
        step.merged.push_back(other->id);
      }
    }
    step.outcome = CorrelationStep::Outcome::kJoined;
    step.incident_id = target.id;
    step.reason = found.front().reason;
    return step;
  }
  if (!mayOpen(signal, promoting)) {
    if (transient_pause_ns_ > 0 && !promoting && mayOpen(signal, /*promoting=*/true)) {
      pause(signal);
    }
    return step;
  }
  if (rules_.min_events <= 1) {
    Incident& incident = open(signal, keys, now_ns);
    step.outcome = CorrelationStep::Outcome::kJoined;
    step.opened = true;
    step.incident_id = incident.id;
    step.reason = makeReason("opened");
    return step;
  }
  // Pending groups: drop the ones nothing joined for a window of wall time (a backfill of an
  // old period keeps its groups while it arrives, whatever newer events were seen), then join
  // or start one.
  std::erase_if(pending_, [&](const std::unique_ptr<Incident>& group) {
    return group->updated_at_ns + std::max(rules_.window_ns, kMinPendingWallNs) < now_ns;
  });
  if (pending_.size() >= kMaxPendingGroups) {
    pending_.erase(pending_.begin());  // the oldest
  }
  const std::set<std::string> tokens =
      rules_.similarity <= 1.0 ? titleTokens(signal.title) : std::set<std::string>{};
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    std::optional<Match> match = matchOne(signal, keys, tokens, **it, /*strong_only=*/false);
    if (!match) {
      continue;
    }
    Incident& group = **it;
    join(group, signal, keys, now_ns);
    if (group.event_count < rules_.min_events) {
      step.outcome = CorrelationStep::Outcome::kPending;
      return step;
    }
    // Enough: the group becomes an incident with every event that waited in it.
    std::unique_ptr<Incident> incident = std::move(*it);
    pending_.erase(it);
    incident->id = new_id_();
    incident->opened_at_ns = now_ns;
    incident->graph_version = graph_ != nullptr ? graph_->version() : 0;
    for (std::size_t i = 0; i + 1 < incident->signals.size(); ++i) {
      JoinReason reason =
          i == 0 ? makeReason("opened") : makeReason("threshold", std::to_string(i + 1));
      step.promoted.emplace_back(incident->signals[i], std::move(reason));
    }
    step.outcome = CorrelationStep::Outcome::kJoined;
    step.opened = true;
    step.incident_id = incident->id;
    step.reason = match->reason;
    incidents_.push_back(std::move(incident));
    reindex(*incidents_.back());
    return step;
  }
  auto group = std::make_unique<Incident>();
  group->tenant_id = tenant_id_;
  group->title = signal.title.empty() ? "Incident on " + signal.service : signal.title;
  join(*group, signal, keys, now_ns);
  pending_.push_back(std::move(group));
  step.outcome = CorrelationStep::Outcome::kPending;
  return step;
}

Status TenantCorrelator::setStatus(const std::string& incident_id, IncidentStatus status,
                                   std::int64_t now_ns) {
  Incident* incident = find(incident_id);
  if (incident == nullptr) {
    return notFound("no such incident in this tenant");
  }
  IncidentStatus from = incident->status;
  bool allowed = false;
  switch (from) {
    case IncidentStatus::kTriggered:
    case IncidentStatus::kAcknowledged:
    case IncidentStatus::kResolved:
      allowed = status != from && status != IncidentStatus::kMerged;
      break;
    case IncidentStatus::kClosed:
    case IncidentStatus::kMerged: allowed = false; break;
  }
  if (!allowed) {
    return Status(Errc::FailedPrecondition, "an incident " + std::string(statusName(from)) +
                                                " cannot become " +
                                                std::string(statusName(status)));
  }
  incident->status = status;
  incident->updated_at_ns = now_ns;
  if (status == IncidentStatus::kResolved) {
    incident->resolved_at_ns = now_ns;
  } else if (status != IncidentStatus::kClosed) {
    incident->resolved_at_ns = 0;
  }
  return Status::ok();
}

std::vector<std::string> TenantCorrelator::sweepResolved(std::int64_t now_ns) {
  std::vector<std::string> resolved;
  if (!rules_.auto_resolve || newest_event_ns_ == INT64_MIN) {
    return resolved;
  }
  for (auto& incident : incidents_) {
    bool all_resolved =
        !incident->alerts.empty() && std::none_of(incident->alerts.begin(), incident->alerts.end(),
                                                  [](const auto& alert) { return alert.second; });
    if (all_resolved && isActive(incident->status) &&
        incident->last_ns + rules_.window_ns < newest_event_ns_) {
      incident->status = IncidentStatus::kResolved;
      incident->resolved_at_ns = now_ns;
      incident->updated_at_ns = now_ns;
      resolved.push_back(incident->id);
    }
  }
  return resolved;
}

std::size_t TenantCorrelator::forgetOld(std::int64_t horizon_ns, std::size_t max_kept,
                                        std::int64_t now_ns, const std::set<std::string>& pinned) {
  // By wall time since an incident last changed, not by event time: one event stamped far in
  // the future (a wrong clock) must not make every incident look old.
  std::size_t before = incidents_.size();
  std::erase_if(incidents_, [&](const std::unique_ptr<Incident>& incident) {
    return incident->updated_at_ns < now_ns - horizon_ns && pinned.count(incident->id) == 0;
  });
  if (incidents_.size() > max_kept) {
    // Pinned first, then the most recently touched.
    std::sort(incidents_.begin(), incidents_.end(), [&](const auto& a, const auto& b) {
      const bool a_pinned = pinned.count(a->id) != 0;
      const bool b_pinned = pinned.count(b->id) != 0;
      if (a_pinned != b_pinned) {
        return a_pinned;
      }
      return a->updated_at_ns > b->updated_at_ns;
    });
    std::size_t pinned_here = 0;
    for (const auto& incident : incidents_) {
      pinned_here += pinned.count(incident->id);
    }
    incidents_.resize(std::max(max_kept, pinned_here));
  }
  if (incidents_.size() != before) {
    rebuildIndex();  // no pointer to a forgotten incident may stay
  }
  return before - incidents_.size();
}

}  // namespace faultline::aggregator::incidents
