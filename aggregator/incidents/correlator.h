#pragma once

// Correlation of one tenant's events into incidents, by EVENT time (occurred_at), so that
// backfilled and replayed events group exactly as they would have live. Pure and
// single-threaded: the engine (incident_engine.h) owns one per tenant and persists what it
// reports.
//
// An event joins an active incident whose event-time span, widened by the rules' window, holds
// its time and that it matches, strongest reason first: the same alert (fingerprint), an equal
// group-key label, the same service, a service within max_hops in the dependency graph, or a
// similar title. It joins the matching incident with the strongest reason (earliest incident
// on ties). When it matches more than one by fingerprint, group key or service, those merge
// into the earliest (merge_on_bridge): a graph or similarity match alone never merges, since on
// a dense graph everything is a few hops from everything. Apart from repeats of an alert still
// firing in the incident, joins and merges keep an incident's event-time span within max_span
// (time-based grouping): a system that always has something firing would otherwise grow one
// incident forever. An event nothing matches opens an
// incident if its severity is at least open_severity and it fires; with min_events > 1 it
// waits in a pending group until that many matching events arrived. Resolved incidents take
// no new events unless reopen_resolved; closed and merged ones never do.
//
// Muted events (suppressed, maintenance) are ignored. A flapping event joins only its own
// alert's incident. A transient one (an alert that keeps resolving by itself soon) joins like
// any event but does not open an incident: it waits (promotePaused) and opens one only if its
// alert is still firing a pause later. A resolving event updates its alert in its incident,
// which resolves by itself when all its alerts have and no event joined it for a window
// (auto_resolve).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "aggregator/incidents/incident.h"

namespace faultline::aggregator::incidents {

/// The service dependency graph as correlation and RCA read it (one version of it).
class GraphView {
 public:
  virtual ~GraphView() = default;
  virtual std::int64_t version() const = 0;
  /// A shortest path between two services ignoring edge direction, both ends included, at most
  /// max_hops edges; empty when there is none (or a service is unknown).
  virtual std::vector<std::string> path(const std::string& from, const std::string& to,
                                        int max_hops) const = 0;
  /// True when `caller` calls `callee`, directly or through others (at most max_hops edges).
  virtual bool dependsOn(const std::string& caller, const std::string& callee,
                         int max_hops) const = 0;
  /// Services `service` calls directly.
  virtual std::vector<std::string> callees(const std::string& service) const = 0;
};

/// What one event did.
struct CorrelationStep {
  enum class Outcome : std::uint8_t {
    kIgnored,  // muted, or nothing to join and not allowed to open
    kPending,  // waiting in a pending group for min_events
    kJoined,   // joined an incident (or opened one: opened = true)
  };
  Outcome outcome = Outcome::kIgnored;
  bool opened = false;
  std::string incident_id;
  JoinReason reason;
  /// Incidents merged into incident_id by this event.
  std::vector<std::string> merged;
  /// Events that joined with it (a pending group promoted), with their reasons.
  std::vector<std::pair<Signal, JoinReason>> promoted;
  bool reopened = false;
};

class TenantCorrelator {
 public:
  using IdSource = std::function<std::string()>;
  TenantCorrelator(std::string tenant_id, CorrelationRules rules, IdSource new_id);

  void setRules(CorrelationRules rules) { rules_ = std::move(rules); }
  const CorrelationRules& rules() const { return rules_; }
  /// How long a transient firing that matched no incident waits before it opens one if its
  /// alert has not resolved (the noise policy's transient max_duration); 0: it never does.
  void setTransientPause(std::int64_t pause_ns) { transient_pause_ns_ = pause_ns; }
  /// The graph to use from now on; null: same-service matches only.
  void setGraph(std::shared_ptr<const GraphView> graph) { graph_ = std::move(graph); }

  /// Adds an incident loaded from the store (restart) so events can join it. Its last event
  /// time moves the event clock like an event's would at wall time `now_ns` (kMaxClockAheadNs).
  void adopt(Incident incident, std::int64_t now_ns);

  /// Correlates one event; `now_ns` is wall time (opened_at, updated_at).
  CorrelationStep add(const Signal& signal, std::int64_t now_ns);

  /// How far ahead of the wall clock an event's time may move the tenant's event clock (the
  /// newest event time, against which sweepResolved measures quiet windows): a minute of clock
  /// skew. A host whose clock runs years ahead must not resolve every quiet incident of the
  /// tenant at once; the event itself keeps its time.
  static constexpr std::int64_t kMaxClockAheadNs = 60LL * 1'000'000'000;

  /// Lifecycle changes by hand. NotFound / FailedPrecondition (illegal transition).
  Status setStatus(const std::string& incident_id, IncidentStatus status, std::int64_t now_ns);

  /// A transient firing whose alert stayed firing: what correlating it did now.
  struct Promotion {
    Signal signal;
    CorrelationStep step;
  };
  /// Correlates the transient firings that waited a transient pause of event time (the
  /// tenant's newest event time) without their alert resolving or joining an incident, as if
  /// they were ordinary firings: an alert that stays firing is a real problem however often it
  /// went away by itself before (PagerDuty's auto-pause). Call after add().
  std::vector<Promotion> promotePaused(std::int64_t now_ns);
  std::size_t pausedCount() const { return paused_.size(); }
  /// A transient firing read back from the store at a restart (after adopt()): it waits
  /// again, as add() left it, unless it joined one of the adopted incidents. The caller passes
  /// only firings no resolve of their alert followed. False when it does not wait.
  bool restorePaused(const Signal& signal, std::int64_t now_ns);

  /// Resolves the active incidents whose alerts have all resolved and that stayed quiet for a
  /// window of event time (auto_resolve); returns their ids.
  std::vector<std::string> sweepResolved(std::int64_t now_ns);

  Incident* find(const std::string& incident_id);
  /// Call after adding signals to an incident from outside (a merge by hand): the strong
  /// matches find incidents through an index of their fingerprints, group keys and services.
  void reindex(Incident& incident);
  const std::vector<std::unique_ptr<Incident>>& incidents() const { return incidents_; }

  /// Forgets incidents no event or change touched for `horizon_ns` of wall time before
  /// `now_ns`, keeping at most `max_kept` (the most recently touched); they stay in the store
  /// and are read back when named. Incidents in `pinned` (ids) stay whatever their age: the
  /// engine pins those whose row in the store is behind memory. Returns how many went.
  std::size_t forgetOld(std::int64_t horizon_ns, std::size_t max_kept, std::int64_t now_ns,
                        const std::set<std::string>& pinned = {});

 private:
  struct Match {
    Incident* incident = nullptr;
    JoinReason reason;
    int strength = 0;  // fingerprint 5, group key 4, service 3, graph 2, similarity 1
  };
  /// The strongest reason `signal` joins `incident`; strong_only: fingerprint, group key or
  /// service only. `keys`: groupKeys(signal); `tokens`: the signal's title tokens (needed
  /// unless strong_only). Both computed once per event: this runs for every active incident.
  std::optional<Match> matchOne(const Signal& signal, const std::vector<std::string>& keys,
                                const std::set<std::string>& tokens, Incident& incident,
                                bool strong_only) const;
  /// `keys`: groupKeys(signal), computed once per event by add().
  std::vector<Match> matches(const Signal& signal, const std::vector<std::string>& keys,
                             bool flapping_only);
  void join(Incident& incident, const Signal& signal, const std::vector<std::string>& keys,
            std::int64_t now_ns);
  void mergeInto(Incident& target, Incident& source, std::int64_t now_ns);
  Incident& open(const Signal& signal, const std::vector<std::string>& keys, std::int64_t now_ns);
  std::vector<std::string> groupKeys(const Signal& signal) const;
  /// Moves the event clock to `event_ns`, but never more than kMaxClockAheadNs past `now_ns`.
  void advanceClock(std::int64_t event_ns, std::int64_t now_ns);
  /// True when `signal` may open an incident by itself: a firing, not a change, at or above
  /// open_severity, and neither flapping nor (unless `promoting`) transient.
  bool mayOpen(const Signal& signal, bool promoting = false) const;
  /// add(), and for promotePaused a transient firing that may open.
  CorrelationStep correlate(const Signal& signal, std::int64_t now_ns, bool promoting);
  /// Keeps a transient firing waiting (add() and restorePaused()): one per alert, from its
  /// earliest firing; at kMaxPaused the longest-waiting one is dropped.
  void pause(const Signal& signal);
  /// The incidents listed under any of the keys a strong match can use for this signal.
  std::vector<Incident*> strongCandidates(const Signal& signal,
                                          const std::vector<std::string>& keys) const;
  void indexKey(char kind, const std::string& value, Incident* incident);
  void indexSignal(Incident& incident, const Signal& signal, const std::vector<std::string>& keys);
  void rebuildIndex();

  std::string tenant_id_;
  CorrelationRules rules_;
  IdSource new_id_;
  std::shared_ptr<const GraphView> graph_;
  std::vector<std::unique_ptr<Incident>> incidents_;
  /// incidents_ by "f"+fingerprint, "g"+group key and "s"+service, so that the strong pass (most
  /// events) visits only the incidents sharing a key instead of every active one. A superset:
  /// an incident stays listed under a key it lost (a split), and matchOne checks again; never a
  /// dangling pointer (forgetOld rebuilds it).
  std::unordered_map<std::string, std::vector<Incident*>> strong_index_;
  /// Pending groups (min_events > 1): incidents not yet opened, with their waiting signals.
  std::vector<std::unique_ptr<Incident>> pending_;
  std::int64_t newest_event_ns_ = INT64_MIN;
  /// Transient firings that matched nothing, by fingerprint (the first firing is kept).
  std::map<std::string, Signal> paused_;
  std::int64_t transient_pause_ns_ = 0;
};

/// Folds a signal into an incident's activity (services, alerts, keys, severity, span).
void foldSignal(Incident& incident, const Signal& signal, const std::vector<std::string>& keys);

}  // namespace faultline::aggregator::incidents
