#pragma once

// The incident engine of one node: recorded events in, incidents out. It takes every recorded
// event (webhooks, log-derived, change events: the same sink the live event hub has), queues
// it, and on its own thread correlates each tenant's events in order (TenantCorrelator), ranks
// causes (rca.h) for the incidents that changed and writes them, with each event's link and
// reason and the timeline, in one store transaction per step. Lifecycle changes by hand go
// through it too, so what it holds in memory and what the store says never disagree.
//
// A correlation step's write is queued on the store without waiting (on SQLite it shares a
// group commit with the event records), so the engine correlates the next step while the
// store commits the last ones; a second thread finishes each written step (latency, notices,
// knowledge index). Every other write (by hand, re-ranking) and every read of an incident
// from the store waits until no step write is open, so rows reach the store in the order
// they were made.
//
// Single node: each tenant's events are correlated in order by this engine. Past one node the
// same engine sits behind a tenant-partitioned consumer of the event bus (DESIGN §5).
//
// A tenant's state is loaded from the store when its first event arrives (rules, and the most
// recent incidents with their events), so a restart carries on where it stopped.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/incidents/correlator.h"
#include "aggregator/incidents/rca.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::knowledge {
class KnowledgeEmbeddings;  // knowledge/embeddings.h
}  // namespace faultline::aggregator::knowledge

namespace faultline::aggregator::incidents {

/// Where the engine reads a tenant's current dependency graph.
class GraphSource {
 public:
  virtual ~GraphSource() = default;
  /// Null: the tenant has no graph (same-service correlation only).
  virtual std::shared_ptr<const GraphView> current(const std::string& tenant_id) = 0;
  /// Services whose events fired together (for co-occurrence learning); default ignores them.
  virtual void observe(const std::string& /*tenant_id*/, std::int64_t /*bucket_ns*/,
                       const std::vector<std::string>& /*services*/) {}
};

/// What changed about an incident, for outbound notifications (after it is written).
struct IncidentNotice {
  std::string tenant_id;
  std::string incident_id;
  /// opened | acknowledged | resolved | closed | reopened | triggered | merged
  std::string change;
  std::string status;    // statusName after the change
  std::string severity;  // logparse::severityName
  std::string title;
  std::string actor;  // "system" or the principal
  std::vector<std::string> services;
  /// The top-ranked cause at the time: kind:name (empty when none), and its confidence.
  std::string top_cause;
  double top_confidence = 0.0;
  std::int64_t first_event_ns = 0;
  std::int64_t at_ns = 0;  // wall time of the change
};
/// Called on the engine's finishing thread (or the API caller's) after the change is stored;
/// keep it short (queue the work).
using IncidentObserver = std::function<void(const IncidentNotice&)>;

struct IncidentEngineOptions {
  /// Events waiting at most; beyond, new events are dropped (and counted).
  std::size_t max_queued_events = 200'000;
  /// Incidents kept in memory per tenant (the most recent); the rest stay in the store.
  std::size_t max_incidents_in_memory = 2000;
  /// Incidents no event or change touched for this long (wall time) leave memory.
  std::int64_t memory_horizon_ns = 6LL * 3600 * 1'000'000'000;
  /// How often a tenant's rules are re-read from the store (changes through this node apply at
  /// once).
  std::chrono::milliseconds rules_ttl{5000};
  RcaWeights rca;
  /// Correlation re-ranks (RCA) an incident that took new events at most this often, or when
  /// it took rerank_events more since its last ranking; always when it opens, reopens, merges
  /// or resolves, on every change by hand, when the queue drains and on flush(). An incident
  /// whose document (it grows with the incident's distinct alerts) is over large_doc_bytes is
  /// also rewritten on that cadence only: its events' links are written at once, its row lags
  /// by at most about this interval (a crash loses that lag from the row, never a link).
  std::chrono::milliseconds rerank_interval{1000};
  std::size_t rerank_events = 1000;
  std::size_t large_doc_bytes = 64 << 10;
  /// Received-to-written latencies kept for the p50/p99 in stats() (the most recent).
  std::size_t latency_samples = 10'000;
  /// A transient firing that opened nothing opens an incident once the tenant's event time is
  /// this far past it and its alert has not resolved (noise.transient_max_duration); 0: never.
  std::int64_t transient_pause_ns = store::TransientPolicy{}.max_duration_ns;
  /// Embeds indexed incidents' passages (ai.embeddings.*). Null: BM25 only.
  std::shared_ptr<knowledge::KnowledgeEmbeddings> embeddings;
};

class IncidentEngine {
 public:
  IncidentEngine(store::Store& store, IncidentEngineOptions options,
                 std::shared_ptr<GraphSource> graph = nullptr);
  ~IncidentEngine();
  IncidentEngine(const IncidentEngine&) = delete;
  IncidentEngine& operator=(const IncidentEngine&) = delete;

  /// Told of every incident opened or changing status. Set before the first event.
  void setObserver(IncidentObserver observer) { observer_ = std::move(observer); }

  /// Queues recorded events for correlation (an events::EventSink). Never blocks on the store.
  void publish(std::string_view tenant_id, const std::vector<store::StoredEvent>& recorded);
  /// Returns once every event queued before the call is correlated and written.
  void flush();

  /// By hand (the API); each change appends to the timeline with `actor`.
  Status setStatus(const std::string& tenant_id, const std::string& incident_id,
                   IncidentStatus status, const std::string& actor, std::int64_t now_ns);
  Status setAssignee(const std::string& tenant_id, const std::string& incident_id,
                     const std::string& assignee, const std::string& actor, std::int64_t now_ns);
  Status setSeverity(const std::string& tenant_id, const std::string& incident_id,
                     events::Severity severity, const std::string& actor, std::int64_t now_ns);
  Status addComment(const std::string& tenant_id, const std::string& incident_id,
                    const std::string& text, const std::string& actor, std::int64_t now_ns);
  /// Replaces the incident's postmortem (Markdown; empty clears it), notes it on the timeline
  /// and re-indexes the incident, so its knowledge document carries the postmortem's sections.
  Status setPostmortem(const std::string& tenant_id, const std::string& incident_id,
                       const std::string& markdown, const std::string& actor, std::int64_t now_ns);
  /// Moves `event_ids` (of the incident) into a new incident; returns its id.
  Result<std::string> split(const std::string& tenant_id, const std::string& incident_id,
                            const std::vector<std::string>& event_ids, const std::string& actor,
                            std::int64_t now_ns);
  /// Merges `source_id` into `target_id` (both active).
  Status merge(const std::string& tenant_id, const std::string& target_id,
               const std::string& source_id, const std::string& actor, std::int64_t now_ns);

  Result<CorrelationRules> rules(const std::string& tenant_id);
  Status setRules(const std::string& tenant_id, const CorrelationRules& rules, std::int64_t now_ns);

  /// Upper bounds (seconds) of Stats::latency_buckets.
  static constexpr std::array<double, 12> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                             0.5,   1.0,  2.5,   5.0,  10.0, 30.0};
  struct Stats {
    std::uint64_t events = 0;          // correlated
    std::uint64_t joined = 0;          // joined or opened an incident
    std::uint64_t opened = 0;          // incidents opened
    std::uint64_t merged = 0;          // incidents merged into others
    std::uint64_t dropped = 0;         // over max_queued_events
    std::uint64_t write_failures = 0;  // store writes that failed
    std::uint64_t write_steps = 0;     // correlation steps that wrote incidents
    std::uint64_t index_failures = 0;  // resolved incidents the knowledge index refused
    std::size_t queued = 0;
    /// Received-to-written latency of events that joined an incident, over the most recent
    /// options.latency_samples.
    double latency_p50_ms = 0;
    double latency_p99_ms = 0;
    double latency_max_ms = 0;
    /// Every event's latency since start, as a histogram: counts per kLatencyBuckets bound
    /// (not cumulative; the last slot is above the last bound), their sum and count.
    std::array<std::uint64_t, kLatencyBuckets.size() + 1> latency_buckets{};
    double latency_sum_seconds = 0;
    std::uint64_t latency_count = 0;
  };
  Stats stats() const;

 private:
  struct TenantState;
  /// The tenant's state, loaded (rules, recent incidents) on first use. Engine thread or API,
  /// always under the state's mutex.
  Result<std::shared_ptr<TenantState>> tenant(const std::string& tenant_id);
  Status load(TenantState& state);
  /// Hands the correlator the transient firings a previous process left waiting (load()).
  Status restorePaused(const std::string& tenant_id, TenantCorrelator& correlator,
                       std::int64_t now_ns);
  /// An incident row with its events (signals) read back from the store.
  Result<Incident> incidentFromRow(const store::IncidentRow& row);
  /// The incident in memory, else read from the store (and kept). NotFound when neither has it.
  Result<Incident*> findOrLoad(TenantState& state, const std::string& incident_id);
  void run();
  void correlate(const std::string& tenant_id, std::vector<store::StoredEvent>& events);
  /// Ranks the incidents named and adds their rows to `write` (which holds the links and
  /// timeline gathered); returns those resolved or closed, for the knowledge index. With
  /// `rank_now` (correlation steps) only those and the incidents due (rerank_*) are ranked; the
  /// others are written with their previous ranking and marked stale.
  std::vector<std::string> prepareStep(TenantState& state, const std::set<std::string>& dirty,
                                       store::IncidentWrite& write,
                                       const std::set<std::string>* rank_now = nullptr);
  /// prepareStep, then writes and indexes at once (changes by hand, deferred rows).
  Status writeStep(TenantState& state, const std::set<std::string>& dirty,
                   store::IncidentWrite write);
  /// Writes in pieces the store accepts, once no step write is open: every write but a
  /// correlation step's goes through it.
  Status writeNow(const std::string& tenant_id, store::IncidentWrite write);

  /// A write in pieces the store accepts, in order: rows first, then what refers to them.
  static std::vector<store::IncidentWrite> writePieces(store::IncidentWrite write);

  /// A correlation step's write in flight: its pieces are queued on the store
  /// (writeIncidentsAsync) and write_worker_ finishes it once the last one is written.
  struct StepWrite {
    std::string tenant_id;
    std::vector<IncidentNotice> notices;    // sent once written
    std::vector<std::int64_t> received_ns;  // of the events it links (latency at the commit)
    std::vector<std::string> to_index;      // resolved or closed incidents (knowledge index)
    std::size_t pieces_left = 0;
    Status result;                // the first piece that failed, if any
    std::int64_t written_ns = 0;  // when its last piece was written
  };
  /// Queues the step's write on the store and returns (after waiting while
  /// kMaxStepWritesOpen are open). Called under the tenant's lock, so a change by hand made
  /// after the step is written after it.
  void submitStepWrite(store::IncidentWrite write, StepWrite step);
  void pieceWritten(const std::shared_ptr<StepWrite>& step, Status status);
  /// Returns once every step write submitted is written and finished (notices sent,
  /// latencies recorded).
  void awaitStepWrites();
  void finishLoop();  // write_worker_'s
  static constexpr std::size_t kMaxStepWritesOpen = 1;
  /// (Re)indexes the incident's knowledge document when it is resolved or closed; failures are
  /// logged and counted, never fail the step.
  void indexKnowledge(const std::string& tenant_id, const std::string& incident_id);
  /// Ranks and writes the stale incidents of every tenant: small ones and those last ranked
  /// rerank_interval ago or more (the queue drained, or a tick), or all of them (`force`:
  /// flush and stop).
  void rankStale(bool force);
  store::IncidentRow rowOf(const Incident& incident) const;
  void recordLatencies(const std::vector<std::int64_t>& received_ns, std::int64_t written_ns);
  IncidentNotice noticeOf(const Incident& incident, std::string change, const std::string& actor,
                          std::int64_t now_ns) const;
  void notify(const IncidentNotice& notice);

  store::Store& store_;
  const IncidentEngineOptions options_;
  std::shared_ptr<GraphSource> graph_;
  IncidentObserver observer_;

  std::mutex tenants_mu_;
  std::map<std::string, std::shared_ptr<TenantState>> tenants_;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::condition_variable idle_cv_;
  std::deque<std::pair<std::string, std::vector<store::StoredEvent>>> queue_;
  std::size_t queued_events_ = 0;
  bool busy_ = false;
  bool stopping_ = false;
  /// Some incident's row waits for its rerank tick: the engine thread wakes up to write it.
  std::atomic<bool> stale_pending_{false};

  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> joined_{0};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::uint64_t> merged_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> write_failures_{0};
  std::atomic<std::uint64_t> write_steps_{0};
  std::atomic<std::uint64_t> index_failures_{0};
  mutable std::mutex latency_mu_;
  std::vector<double> latencies_ms_;  // ring of the last options_.latency_samples
  std::size_t latency_next_ = 0;
  double latency_max_ms_ = 0;
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> latency_buckets_{};
  double latency_sum_seconds_ = 0;
  std::uint64_t latency_count_ = 0;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::size_t step_writes_open_ = 0;                            // submitted, not yet finished
  std::deque<std::shared_ptr<StepWrite>> step_writes_written_;  // to finish, in order
  bool write_stopping_ = false;
  std::thread write_worker_;  // finishes step writes; started before worker_, stopped after

  std::thread worker_;  // last: started after everything it uses
};

/// The signal of a recorded event.
Signal signalOf(const store::StoredEvent& stored);

/// The engine's lines of GET /metrics (Prometheus text 0.0.4): per node, no tenant labels.
std::string metricsText(const IncidentEngine::Stats& stats);

}  // namespace faultline::aggregator::incidents
