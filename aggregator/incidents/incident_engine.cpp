#include "aggregator/incidents/incident_engine.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "aggregator/knowledge/knowledge.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/prometheus_text.h"
#include "shared/util/time.h"

namespace faultline::aggregator::incidents {
namespace {

using nlohmann::json;

constexpr std::size_t kIncidentsLoaded = 200;
// Transient firings read back at a restart: received within a day (the transient window's
// default), at most as many as the correlator keeps waiting.
constexpr std::int64_t kPausedReadBackNs = 24LL * 3600 * 1'000'000'000;
constexpr std::size_t kPausedReadBack = 10'000;
constexpr std::int64_t kCooccurrenceBucketNs = 60LL * 1'000'000'000;

std::string newIncidentId() {
  return "inc_" + crypto::randomHex(12);
}

std::string detail(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string labelValue(const events::Event& event, std::string_view name) {
  for (const auto& [key, value] : event.labels) {
    if (key == name) {
      return value;
    }
  }
  return "";
}

std::string splitReason(const std::string& from_incident) {
  JoinReason reason = makeReason("split");
  reason.with_incident = from_incident;
  return reasonToJson(reason);
}

}  // namespace

Signal signalOf(const store::StoredEvent& stored) {
  const events::Event& event = stored.event;
  Signal signal;
  signal.event_id = stored.id;
  signal.service = event.service;
  signal.host = event.host;
  signal.fingerprint = event.fingerprint;
  signal.severity = event.severity;
  signal.status = event.status;
  signal.source = event.source;
  signal.decision = std::string(store::noiseDecisionName(stored.decision));
  signal.title = event.title;
  signal.kind = labelValue(event, "kind");
  signal.template_label = labelValue(event, "template");
  signal.labels = event.labels;
  signal.occurred_at_ns = event.occurred_at_ns;
  signal.change = event.source == events::SourceKind::kChange;
  return signal;
}

struct IncidentEngine::TenantState {
  std::mutex mu;
  std::string tenant_id;
  std::unique_ptr<TenantCorrelator> correlator;
  ServiceHistory history;  // how often each service is anomalous, and how (RCA surprise)
  bool loaded = false;
  std::int64_t rules_read_at_ns = 0;
  /// When each incident was last ranked, and its event count then (debounced re-ranking).
  struct RankMark {
    std::int64_t at_ns = 0;
    std::size_t events = 0;
    std::size_t doc_bytes = 0;  // of the row last written
  };
  std::map<std::string, RankMark> ranked;
  /// Incidents whose ranking is behind their events, and for large ones their row too: a busy
  /// incident's large document is rewritten on the rerank cadence, not per step. The engine
  /// thread inserts; rankStale() ranks and writes them when due (or forced by flush and stop).
  std::set<std::string> stale;
};

IncidentEngine::IncidentEngine(store::Store& store, IncidentEngineOptions options,
                               std::shared_ptr<GraphSource> graph)
    : store_(store), options_(std::move(options)), graph_(std::move(graph)) {
  write_worker_ = std::thread([this] { finishLoop(); });
  worker_ = std::thread([this] { run(); });
}

IncidentEngine::~IncidentEngine() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  worker_.join();
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    write_stopping_ = true;
  }
  write_cv_.notify_all();
  write_worker_.join();  // after the step writes still open, if any
}

void IncidentEngine::finishLoop() {
  for (;;) {
    std::shared_ptr<StepWrite> step;
    {
      std::unique_lock<std::mutex> lock(write_mu_);
      write_cv_.wait(lock, [&] {
        return !step_writes_written_.empty() || (write_stopping_ && step_writes_open_ == 0);
      });
      if (step_writes_written_.empty()) {
        return;  // stopping, nothing open
      }
      step = std::move(step_writes_written_.front());
      step_writes_written_.pop_front();
    }
    try {
      if (step->result.isOk()) {
        write_steps_.fetch_add(1, std::memory_order_relaxed);
        recordLatencies(step->received_ns, step->written_ns);
        for (const IncidentNotice& notice : step->notices) {
          notify(notice);
        }
        for (const std::string& id : step->to_index) {
          indexKnowledge(step->tenant_id, id);
        }
      } else {
        write_failures_.fetch_add(1, std::memory_order_relaxed);
        log::error("incidents", "tenant " + step->tenant_id +
                                    ": cannot write incidents: " + step->result.message());
      }
    } catch (const std::exception& e) {
      log::error("incidents", std::string("finishing an incident write threw: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      --step_writes_open_;
    }
    write_cv_.notify_all();
  }
}

void IncidentEngine::submitStepWrite(store::IncidentWrite write, StepWrite step) {
  std::vector<store::IncidentWrite> pieces = writePieces(std::move(write));
  auto shared = std::make_shared<StepWrite>(std::move(step));
  shared->pieces_left = pieces.size();
  {
    std::unique_lock<std::mutex> lock(write_mu_);
    write_cv_.wait(lock, [&] { return step_writes_open_ < kMaxStepWritesOpen; });
    ++step_writes_open_;
  }
  // The store queues the pieces in order; a refused piece calls back at once, on this thread.
  for (store::IncidentWrite& piece : pieces) {
    store_.writeIncidentsAsync(shared->tenant_id,
                               std::make_shared<const store::IncidentWrite>(std::move(piece)),
                               [this, shared](Status status) { pieceWritten(shared, status); });
  }
}

void IncidentEngine::pieceWritten(const std::shared_ptr<StepWrite>& step, Status status) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (!status.isOk() && step->result.isOk()) {
    step->result = std::move(status);
  }
  if (--step->pieces_left != 0) {
    return;
  }
  step->written_ns = nowUnixNanos();
  step_writes_written_.push_back(step);
  // Under the lock: once it is released the engine may finish the step and be destroyed, and
  // this (the store's writer) thread must not touch it after that.
  write_cv_.notify_all();
}

void IncidentEngine::awaitStepWrites() {
  std::unique_lock<std::mutex> lock(write_mu_);
  write_cv_.wait(lock, [&] { return step_writes_open_ == 0; });
}

Status IncidentEngine::writeNow(const std::string& tenant_id, store::IncidentWrite write) {
  awaitStepWrites();
  for (const store::IncidentWrite& piece : writePieces(std::move(write))) {
    FL_RETURN_IF_ERROR(store_.writeIncidents(tenant_id, piece));
  }
  return Status::ok();
}

void IncidentEngine::publish(std::string_view tenant_id,
                             const std::vector<store::StoredEvent>& recorded) {
  if (recorded.empty()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (queued_events_ + recorded.size() > options_.max_queued_events) {
      dropped_.fetch_add(recorded.size(), std::memory_order_relaxed);
      return;
    }
    std::vector<store::StoredEvent> copy;
    copy.reserve(recorded.size());
    for (const store::StoredEvent& stored : recorded) {
      copy.push_back(stored);
      copy.back().event.raw.clear();  // correlation never reads the payload
    }
    queued_events_ += copy.size();
    queue_.emplace_back(std::string(tenant_id), std::move(copy));
  }
  queue_cv_.notify_one();
}

void IncidentEngine::flush() {
  {
    std::unique_lock<std::mutex> lock(queue_mu_);
    idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }
  rankStale(/*force=*/true);  // what readers see is ranked and written
}

void IncidentEngine::run() {
  for (;;) {
    std::pair<std::string, std::vector<store::StoredEvent>> work;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      auto ready = [&] { return stopping_ || !queue_.empty(); };
      if (stale_pending_) {
        // Deferred rows are written within rerank_interval even when no event comes.
        queue_cv_.wait_for(lock, options_.rerank_interval, ready);
      } else {
        queue_cv_.wait(lock, ready);
      }
      if (queue_.empty()) {
        const bool stopping = stopping_;
        busy_ = true;
        lock.unlock();
        rankStale(/*force=*/stopping);
        lock.lock();
        busy_ = false;
        idle_cv_.notify_all();
        if (stopping) {
          return;  // stopping with nothing left
        }
        continue;
      }
      work = std::move(queue_.front());
      queue_.pop_front();
      // Later work of the same tenant joins this step: one write for many small batches.
      for (auto it = queue_.begin(); it != queue_.end() && work.second.size() < 2000;) {
        if (it->first == work.first) {
          for (auto& event : it->second) {
            work.second.push_back(std::move(event));
          }
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      queued_events_ -= work.second.size();
      busy_ = true;
    }
    try {
      correlate(work.first, work.second);
      bool drained = false;
      {
        std::lock_guard<std::mutex> lock(queue_mu_);
        drained = queue_.empty();
      }
      if (drained) {
        awaitStepWrites();           // flush() and readers see the step written
        rankStale(/*force=*/false);  // those due; the rest within rerank_interval
      }
    } catch (const std::exception& e) {
      log::error("incidents", std::string("correlation threw: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      busy_ = false;
      if (queue_.empty()) {
        idle_cv_.notify_all();
      }
    }
  }
}

Result<std::shared_ptr<IncidentEngine::TenantState>> IncidentEngine::tenant(
    const std::string& tenant_id) {
  std::shared_ptr<TenantState> state;
  {
    std::lock_guard<std::mutex> lock(tenants_mu_);
    auto& slot = tenants_[tenant_id];
    if (slot == nullptr) {
      slot = std::make_shared<TenantState>();
      slot->tenant_id = tenant_id;
    }
    state = slot;
  }
  return state;
}

Result<Incident> IncidentEngine::incidentFromRow(const store::IncidentRow& row) {
  Incident incident;
  FL_RETURN_IF_ERROR(Incident::fromDocJson(row.doc_json, &incident));
  incident.id = row.id;
  incident.tenant_id = row.tenant_id;
  incident.status = statusFromName(row.status).value_or(IncidentStatus::kTriggered);
  incident.title = row.title;
  incident.first_ns = row.first_event_ns;
  incident.last_ns = row.last_event_ns;
  incident.opened_at_ns = row.opened_at_ns;
  incident.updated_at_ns = row.updated_at_ns;
  for (int i = 0; i <= static_cast<int>(events::Severity::kCritical); ++i) {
    if (logparse::severityName(static_cast<events::Severity>(i)) == row.severity) {
      incident.severity = static_cast<events::Severity>(i);
    }
  }
  // Its events back, for RCA and splits.
  FL_ASSIGN_OR_RETURN(std::vector<store::IncidentEventRow> links,
                      store_.listIncidentEvents(row.tenant_id, row.id, kMaxSignals));
  for (std::size_t at = 0; at < links.size(); at += store::kMaxEventsPerRecord) {
    std::vector<std::string> ids;
    for (std::size_t i = at; i < std::min(links.size(), at + store::kMaxEventsPerRecord); ++i) {
      ids.push_back(links[i].event_id);
    }
    FL_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> found,
                        store_.findEvents(row.tenant_id, ids));
    for (const store::StoredEvent& stored : found) {
      incident.signals.push_back(signalOf(stored));
    }
  }
  return incident;
}

Result<Incident*> IncidentEngine::findOrLoad(TenantState& state, const std::string& incident_id) {
  if (Incident* incident = state.correlator->find(incident_id); incident != nullptr) {
    return incident;
  }
  // Older than what is kept in memory, or written by another node: the store has it (once the
  // step in flight, which may hold its last row, is written).
  awaitStepWrites();
  FL_ASSIGN_OR_RETURN(store::IncidentRow row, store_.findIncident(state.tenant_id, incident_id));
  FL_ASSIGN_OR_RETURN(Incident incident, incidentFromRow(row));
  state.correlator->adopt(std::move(incident), nowUnixNanos());
  return state.correlator->find(incident_id);
}

Status IncidentEngine::restorePaused(const std::string& tenant_id, TenantCorrelator& correlator,
                                     std::int64_t now_ns) {
  if (options_.transient_pause_ns <= 0) {
    return Status::ok();
  }
  // Transient firings wait in memory only: read back the ones the last process may have left
  // waiting (received within the last day, no resolve of their alert received after them).
  store::EventQuery query;
  query.since_ns = now_ns - kPausedReadBackNs;
  query.status = "resolved";
  query.limit = kPausedReadBack;
  FL_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> resolves,
                      store_.queryEvents(tenant_id, query));
  std::map<std::string, std::int64_t> resolved_at;  // fingerprint -> its newest resolve
  for (const store::StoredEvent& resolve : resolves) {
    std::int64_t& at = resolved_at[resolve.event.fingerprint];
    at = std::max(at, resolve.event.received_at_ns);
  }
  query.status = "firing";
  query.decision = std::string(store::noiseDecisionName(store::NoiseDecision::kTransient));
  FL_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> firings,
                      store_.queryEvents(tenant_id, query));
  std::size_t restored = 0;
  for (const store::StoredEvent& firing : firings) {  // newest first; the oldest one is kept
    auto resolved = resolved_at.find(firing.event.fingerprint);
    if (resolved != resolved_at.end() && resolved->second >= firing.event.received_at_ns) {
      continue;
    }
    restored += correlator.restorePaused(signalOf(firing), now_ns) ? 1 : 0;
  }
  if (restored > 0) {
    log::info("incidents", "tenant " + tenant_id + ": " + std::to_string(restored) +
                               " transient firings wait again after a restart");
  }
  return Status::ok();
}

Status IncidentEngine::load(TenantState& state) {
  std::int64_t now = nowUnixNanos();
  bool stale_rules =
      now - state.rules_read_at_ns >
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.rules_ttl).count();
  if (state.loaded && !stale_rules) {
    return Status::ok();
  }
  FL_ASSIGN_OR_RETURN(std::string rules_json, store_.findCorrelationRules(state.tenant_id));
  CorrelationRules rules;
  if (!rules_json.empty()) {
    auto parsed = CorrelationRules::fromJson(rules_json);
    if (parsed.isOk()) {
      rules = parsed.value();
    } else {
      log::warn("incidents", "tenant " + state.tenant_id +
                                 ": stored correlation rules unreadable, using defaults: " +
                                 parsed.status().message());
    }
  }
  state.rules_read_at_ns = now;
  if (state.loaded) {
    state.correlator->setRules(std::move(rules));
    return Status::ok();
  }
  auto correlator = std::make_unique<TenantCorrelator>(state.tenant_id, rules, newIncidentId);
  correlator->setTransientPause(options_.transient_pause_ns);
  store::IncidentQuery query;
  query.limit = kIncidentsLoaded;
  FL_ASSIGN_OR_RETURN(std::vector<store::IncidentRow> rows,
                      store_.listIncidents(state.tenant_id, query));
  for (const store::IncidentRow& row : rows) {
    auto status = statusFromName(row.status);
    if (!status || *status == IncidentStatus::kClosed || *status == IncidentStatus::kMerged) {
      continue;
    }
    FL_ASSIGN_OR_RETURN(Incident incident, incidentFromRow(row));
    correlator->adopt(std::move(incident), now);
  }
  if (Status restored = restorePaused(state.tenant_id, *correlator, now); !restored.isOk()) {
    // Best effort: the incidents are loaded; a waiting firing's alert opens one when it fires
    // again.
    log::warn("incidents",
              "tenant " + state.tenant_id +
                  ": cannot read back waiting transient firings: " + restored.message());
  }
  state.correlator = std::move(correlator);
  state.loaded = true;
  return Status::ok();
}

IncidentNotice IncidentEngine::noticeOf(const Incident& incident, std::string change,
                                        const std::string& actor, std::int64_t now_ns) const {
  IncidentNotice notice;
  notice.tenant_id = incident.tenant_id;
  notice.incident_id = incident.id;
  notice.change = std::move(change);
  notice.status = std::string(statusName(incident.status));
  notice.severity = std::string(logparse::severityName(incident.severity));
  notice.title = incident.title;
  notice.actor = actor;
  for (const auto& [service, activity] : incident.services) {
    notice.services.push_back(service);
  }
  if (!incident.candidates.empty()) {
    notice.top_cause = incident.candidates.front().kind + ":" + incident.candidates.front().name;
    notice.top_confidence = incident.candidates.front().confidence;
  }
  notice.first_event_ns = incident.first_ns;
  notice.at_ns = now_ns;
  return notice;
}

void IncidentEngine::notify(const IncidentNotice& notice) {
  if (!observer_) {
    return;
  }
  try {
    observer_(notice);
  } catch (const std::exception& e) {
    log::error("incidents", std::string("incident observer threw: ") + e.what());
  }
}

store::IncidentRow IncidentEngine::rowOf(const Incident& incident) const {
  store::IncidentRow row;
  row.id = incident.id;
  row.tenant_id = incident.tenant_id;
  row.status = std::string(statusName(incident.status));
  row.severity = std::string(logparse::severityName(incident.severity));
  row.title = incident.title;
  row.first_event_ns = incident.first_ns;
  row.last_event_ns = incident.last_ns;
  row.opened_at_ns = incident.opened_at_ns;
  row.updated_at_ns = incident.updated_at_ns;
  row.doc_json = incident.docJson();
  return row;
}

std::vector<std::string> IncidentEngine::prepareStep(TenantState& state,
                                                     const std::set<std::string>& dirty,
                                                     store::IncidentWrite& write,
                                                     const std::set<std::string>* rank_now) {
  std::shared_ptr<const GraphView> graph =
      graph_ != nullptr ? graph_->current(state.tenant_id) : nullptr;
  const std::int64_t now = nowUnixNanos();
  const std::int64_t interval_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.rerank_interval).count();
  for (const std::string& id : dirty) {
    Incident* incident = state.correlator->find(id);
    if (incident == nullptr) {
      continue;
    }
    if (incident->status != IncidentStatus::kMerged) {
      // Ranking reads every kept signal: a busy incident is ranked on a cadence, not per step.
      TenantState::RankMark& mark = state.ranked[id];
      bool due = rank_now == nullptr || rank_now->count(id) != 0 || mark.at_ns == 0 ||
                 now - mark.at_ns >= interval_ns ||
                 incident->event_count >= mark.events + options_.rerank_events;
      if (due) {
        incident->candidates = rankCauses(*incident, graph.get(), options_.rca, &state.history);
        incident->chain = eventChain(*incident, incident->candidates, graph.get());
        mark = {now, incident->event_count};
        state.stale.erase(id);
      } else {
        state.stale.insert(id);
        if (mark.doc_bytes > options_.large_doc_bytes) {
          // Only events joined (opening, merging, resolving are in rank_now): their links go
          // now, the large row once it is due.
          stale_pending_ = true;
          continue;
        }
      }
    } else {
      state.ranked.erase(id);
      state.stale.erase(id);
    }
    write.upserts.push_back(rowOf(*incident));
    if (auto mark = state.ranked.find(id); mark != state.ranked.end()) {
      mark->second.doc_bytes = write.upserts.back().doc_json.size();
    }
  }
  // Resolved and closed incidents join the tenant's knowledge index (again, when they change).
  std::vector<std::string> to_index;
  for (const std::string& id : dirty) {
    Incident* incident = state.correlator->find(id);
    if (incident != nullptr && (incident->status == IncidentStatus::kResolved ||
                                incident->status == IncidentStatus::kClosed)) {
      to_index.push_back(id);
    }
  }
  return to_index;
}

Status IncidentEngine::writeStep(TenantState& state, const std::set<std::string>& dirty,
                                 store::IncidentWrite write) {
  std::vector<std::string> to_index = prepareStep(state, dirty, write);
  FL_RETURN_IF_ERROR(writeNow(state.tenant_id, std::move(write)));
  for (const std::string& id : to_index) {
    indexKnowledge(state.tenant_id, id);
  }
  return Status::ok();
}

void IncidentEngine::indexKnowledge(const std::string& tenant_id, const std::string& incident_id) {
  Status indexed = knowledge::indexIncident(store_, tenant_id, incident_id, nowUnixNanos(),
                                            options_.embeddings.get());
  if (!indexed.isOk()) {
    index_failures_.fetch_add(1, std::memory_order_relaxed);
    log::warn("incidents", "tenant " + tenant_id + ": cannot index incident " + incident_id + ": " +
                               indexed.message());
  }
}

std::vector<store::IncidentWrite> IncidentEngine::writePieces(store::IncidentWrite write) {
  std::vector<store::IncidentWrite> pieces;
  std::size_t total = write.upserts.size() + write.links.size() + write.moves.size() +
                      write.timeline.size() + write.unlinks.size();
  if (total <= store::kMaxIncidentWriteRows) {
    pieces.push_back(std::move(write));
    return pieces;
  }
  // Rows first, then what refers to them; in pieces the store accepts.
  store::IncidentWrite rows;
  rows.upserts = std::move(write.upserts);
  rows.moves = std::move(write.moves);
  rows.unlinks = std::move(write.unlinks);
  pieces.push_back(std::move(rows));
  for (std::size_t at = 0; at < write.links.size(); at += store::kMaxIncidentWriteRows) {
    store::IncidentWrite part;
    auto end = write.links.begin() + static_cast<std::ptrdiff_t>(std::min(
                                         write.links.size(), at + store::kMaxIncidentWriteRows));
    part.links.assign(write.links.begin() + static_cast<std::ptrdiff_t>(at), end);
    pieces.push_back(std::move(part));
  }
  if (!write.timeline.empty()) {
    store::IncidentWrite timeline;
    timeline.timeline = std::move(write.timeline);
    pieces.push_back(std::move(timeline));
  }
  return pieces;
}

void IncidentEngine::rankStale(bool force) {
  std::vector<std::shared_ptr<TenantState>> states;
  {
    std::lock_guard<std::mutex> lock(tenants_mu_);
    for (const auto& [id, state] : tenants_) {
      states.push_back(state);
    }
  }
  const std::int64_t now = nowUnixNanos();
  const std::int64_t interval_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.rerank_interval).count();
  bool still_stale = false;
  for (const auto& state : states) {
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->stale.empty() || !state->loaded) {
      continue;
    }
    std::set<std::string> due;
    for (auto it = state->stale.begin(); it != state->stale.end();) {
      const auto mark = state->ranked.find(*it);
      if (force || mark == state->ranked.end() || now - mark->second.at_ns >= interval_ns ||
          mark->second.doc_bytes <= options_.large_doc_bytes) {
        due.insert(*it);
        it = state->stale.erase(it);
      } else {
        ++it;
      }
    }
    still_stale = still_stale || !state->stale.empty();
    if (due.empty()) {
      continue;
    }
    Status written = writeStep(*state, due, {});
    if (!written.isOk()) {
      write_failures_.fetch_add(1, std::memory_order_relaxed);
      log::error("incidents", "tenant " + state->tenant_id +
                                  ": cannot write ranked incidents: " + written.message());
      // Kept: tried again at the next drain or tick.
      state->stale.insert(due.begin(), due.end());
      still_stale = true;
      continue;
    }
    write_steps_.fetch_add(1, std::memory_order_relaxed);
    // Marks of incidents that left memory go too.
    if (state->ranked.size() > 2 * options_.max_incidents_in_memory) {
      for (auto it = state->ranked.begin(); it != state->ranked.end();) {
        it =
            state->correlator->find(it->first) == nullptr ? state->ranked.erase(it) : std::next(it);
      }
    }
  }
  if (!force) {
    // Only the engine thread clears it (it alone inserts): a flush() meanwhile at worst
    // leaves it set, and the next tick finds nothing to do.
    stale_pending_ = still_stale;
  }
}

void IncidentEngine::correlate(const std::string& tenant_id,
                               std::vector<store::StoredEvent>& events) {
  auto state_or = tenant(tenant_id);
  std::shared_ptr<TenantState> state = state_or.value();
  std::lock_guard<std::mutex> lock(state->mu);
  Status loaded = load(*state);
  if (!loaded.isOk()) {
    log::error("incidents", "tenant " + tenant_id + ": cannot load incidents: " + loaded.message());
    write_failures_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  TenantCorrelator& correlator = *state->correlator;
  if (graph_ != nullptr) {
    correlator.setGraph(graph_->current(tenant_id));
  }
  std::int64_t now = nowUnixNanos();
  store::IncidentWrite write;
  std::set<std::string> dirty;
  std::vector<std::int64_t> received;
  std::vector<std::pair<std::string, std::string>> notices;  // (incident id, change)
  // What one correlated event (or a promoted transient firing) did: links, timeline, notices.
  auto record = [&](const Signal& signal, const CorrelationStep& step) {
    joined_.fetch_add(1, std::memory_order_relaxed);
    dirty.insert(step.incident_id);
    for (const auto& [waited, reason] : step.promoted) {
      write.links.push_back(
          {step.incident_id, waited.event_id, waited.occurred_at_ns, reasonToJson(reason)});
    }
    write.links.push_back(
        {step.incident_id, signal.event_id, signal.occurred_at_ns, reasonToJson(step.reason)});
    if (step.opened) {
      notices.emplace_back(step.incident_id, "opened");
      opened_.fetch_add(1, std::memory_order_relaxed);
      write.timeline.push_back({step.incident_id, now, "system", "opened",
                                detail({{"event_id", signal.event_id},
                                        {"service", signal.service},
                                        {"title", signal.title}})});
    }
    if (step.reopened) {
      notices.emplace_back(step.incident_id, "reopened");
      write.timeline.push_back(
          {step.incident_id, now, "system", "reopened", detail({{"event_id", signal.event_id}})});
    }
    for (const std::string& merged : step.merged) {
      merged_.fetch_add(1, std::memory_order_relaxed);
      dirty.insert(merged);
      write.moves.emplace_back(merged, step.incident_id);
      write.timeline.push_back({step.incident_id, now, "system", "merged",
                                detail({{"from", merged}, {"event_id", signal.event_id}})});
      write.timeline.push_back(
          {merged, now, "system", "merged",
           detail({{"into", step.incident_id}, {"event_id", signal.event_id}})});
    }
  };
  for (const store::StoredEvent& stored : events) {
    Signal signal = signalOf(stored);
    state->history.observe(signal);
    CorrelationStep step = correlator.add(signal, now);
    events_.fetch_add(1, std::memory_order_relaxed);
    if (step.outcome != CorrelationStep::Outcome::kJoined) {
      continue;
    }
    received.push_back(stored.event.received_at_ns);
    record(signal, step);
  }
  // Transient firings whose alert stayed firing for a pause open (or join) an incident now.
  for (const TenantCorrelator::Promotion& promotion : correlator.promotePaused(now)) {
    record(promotion.signal, promotion.step);
  }
  for (const std::string& id : correlator.sweepResolved(now)) {
    dirty.insert(id);
    notices.emplace_back(id, "resolved");
    write.timeline.push_back(
        {id, now, "system", "status",
         detail({{"from", "triggered"}, {"to", "resolved"}, {"why", "every alert resolved"}})});
  }
  if (graph_ != nullptr) {
    // Services that fired in the same minute (event time) teach the graph co-occurrence.
    std::map<std::int64_t, std::vector<std::string>> fired;
    for (const store::StoredEvent& stored : events) {
      const events::Event& event = stored.event;
      if (event.status == events::EventStatus::kFiring && !event.service.empty() &&
          event.source != events::SourceKind::kChange &&
          stored.decision != store::NoiseDecision::kSuppressed &&
          stored.decision != store::NoiseDecision::kMaintenance) {
        std::int64_t bucket = event.occurred_at_ns - event.occurred_at_ns % kCooccurrenceBucketNs;
        fired[bucket].push_back(event.service);
      }
    }
    for (auto& [bucket, services] : fired) {
      std::sort(services.begin(), services.end());
      services.erase(std::unique(services.begin(), services.end()), services.end());
      graph_->observe(tenant_id, bucket, services);
    }
  }
  if (!dirty.empty()) {
    // Rows must exist before links refer to them: upserts go first in the same transaction.
    std::set<std::string> rank_now;
    for (const auto& [id, change] : notices) {
      rank_now.insert(id);  // notices carry the top cause
    }
    for (const auto& [from, into] : write.moves) {
      rank_now.insert(into);
    }
    StepWrite step;
    step.tenant_id = tenant_id;
    step.to_index = prepareStep(*state, dirty, write, &rank_now);
    for (const auto& [id, change] : notices) {
      if (const Incident* incident = correlator.find(id); incident != nullptr) {
        step.notices.push_back(noticeOf(*incident, change, "system", now));
      }
    }
    step.received_ns = std::move(received);
    // Under the tenant's lock: a change by hand waits for this step's write.
    submitStepWrite(std::move(write), std::move(step));
  }
  // Incidents whose row is behind stay in memory until it is written.
  correlator.forgetOld(options_.memory_horizon_ns, options_.max_incidents_in_memory, now,
                       state->stale);
}

Status IncidentEngine::setStatus(const std::string& tenant_id, const std::string& incident_id,
                                 IncidentStatus status, const std::string& actor,
                                 std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(auto state, tenant(tenant_id));
  std::lock_guard<std::mutex> lock(state->mu);
  FL_RETURN_IF_ERROR(load(*state));
  FL_ASSIGN_OR_RETURN(Incident * incident, findOrLoad(*state, incident_id));
  std::string from(statusName(incident->status));
  FL_RETURN_IF_ERROR(state->correlator->setStatus(incident_id, status, now_ns));
  store::IncidentWrite write;
  write.timeline.push_back(
      {incident_id, now_ns, actor, "status", detail({{"from", from}, {"to", statusName(status)}})});
  FL_RETURN_IF_ERROR(writeStep(*state, {incident_id}, std::move(write)));
  notify(noticeOf(*incident, std::string(statusName(status)), actor, now_ns));
  return Status::ok();
}

Status IncidentEngine::setAssignee(const std::string& tenant_id, const std::string& incident_id,
                                   const std::string& assignee, const std::string& actor,
                                   std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(auto state, tenant(tenant_id));
  std::lock_guard<std::mutex> lock(state->mu);
  FL_RETURN_IF_ERROR(load(*state));
  FL_ASSIGN_OR_RETURN(Incident * incident, findOrLoad(*state, incident_id));
  std::string from = incident->assignee;
  incident->assignee = assignee;
  incident->updated_at_ns = now_ns;
  store::IncidentWrite write;
  write.timeline.push_back(
      {incident_id, now_ns, actor, "assignee", detail({{"from", from}, {"to", assignee}})});
  return writeStep(*state, {incident_id}, std::move(write));
}

Status IncidentEngine::setSeverity(const std::string& tenant_id, const std::string& incident_id,
                                   events::Severity severity, const std::string& actor,
                                   std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(auto state, tenant(tenant_id));
  std::lock_guard<std::mutex> lock(state->mu);
  FL_RETURN_IF_ERROR(load(*state));
  FL_ASSIGN_OR_RETURN(Incident * incident, findOrLoad(*state, incident_id));
  std::string from(logparse::severityName(incident->severity));
  incident->severity = severity;
  incident->updated_at_ns = now_ns;
  store::IncidentWrite write;
  write.timeline.push_back({incident_id, now_ns, actor, "severity",
                            detail({{"from", from}, {"to", logparse::severityName(severity)}})});
  return writeStep(*state, {incident_id}, std::move(write));
}

Status IncidentEngine::addComment(const std::string& tenant_id, const std::string& incident_id,
                                  const std::string& text, const std::string& actor,
                                  std::int64_t now_ns) {
  // Comments need the incident to exist in the store, not in memory: old ones take them too.
  awaitStepWrites();  // the incident may have opened in the step in flight
  FL_RETURN_IF_ERROR(store_.findIncident(tenant_id, incident_id).status());
  store::IncidentWrite write;
  write.timeline.push_back({incident_id, now_ns, actor, "comment", detail({{"text", text}})});
  FL_RETURN_IF_ERROR(writeNow(tenant_id, std::move(write)));
  indexKnowledge(tenant_id, incident_id);  // a resolution note of a resolved incident
  return Status::ok();
}

Status IncidentEngine::setPostmortem(const std::string& tenant_id, const std::string& incident_id,
                                     const std::string& markdown, const std::string& actor,
                                     std::int64_t now_ns) {
  awaitStepWrites();  // the incident may have opened in the step in flight
  FL_RETURN_IF_ERROR(store_.findIncident(tenant_id, incident_id).status());
  if (markdown.size() > knowledge::kMaxPostmortemBytes) {
    return invalidArgument("markdown: at most " + std::to_string(knowledge::kMaxPostmortemBytes) +
                           " bytes");
  }
  FL_RETURN_IF_ERROR(store_.putAiAnswer(
      knowledge::postmortemRecord(tenant_id, incident_id, markdown, actor, now_ns)));
  store::IncidentWrite write;
  write.timeline.push_back(
      {incident_id, now_ns, actor, "postmortem", detail({{"bytes", markdown.size()}})});
  FL_RETURN_IF_ERROR(writeNow(tenant_id, std::move(write)));
  indexKnowledge(tenant_id, incident_id);
  return Status::ok();
}

Result<std::string> IncidentEngine::split(const std::string& tenant_id,
                                          const std::string& incident_id,
                                          const std::vector<std::string>& event_ids,
                                          const std::string& actor, std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(auto state, tenant(tenant_id));
  std::lock_guard<std::mutex> lock(state->mu);
  FL_RETURN_IF_ERROR(load(*state));
  FL_ASSIGN_OR_RETURN(Incident * source, findOrLoad(*state, incident_id));
  if (!isActive(source->status)) {
    return Status(Errc::FailedPrecondition,
                  "only a triggered or acknowledged incident can be split");
  }
  std::set<std::string> wanted(event_ids.begin(), event_ids.end());
  std::vector<Signal> moving;
  std::vector<Signal> staying;
  for (const Signal& signal : source->signals) {
    (wanted.count(signal.event_id) != 0 ? moving : staying).push_back(signal);
  }
  if (moving.size() != wanted.size()) {
    return invalidArgument("split: every event id must be an event of this incident");
  }
  if (staying.empty()) {
    return invalidArgument("split: leave at least one event in the incident");
  }
  // Both halves are rebuilt from their events.
  auto rebuild = [&](Incident& incident, const std::vector<Signal>& signals) {
    Incident fresh;
    fresh.id = incident.id;
    fresh.tenant_id = incident.tenant_id;
    fresh.status = incident.status;
    fresh.title = incident.title;
    fresh.assignee = incident.assignee;
    fresh.opened_at_ns = incident.opened_at_ns;
    fresh.graph_version = incident.graph_version;
    for (const Signal& signal : signals) {
      foldSignal(fresh, signal, {});
    }
    fresh.group_keys = incident.group_keys;
    fresh.updated_at_ns = now_ns;
    incident = std::move(fresh);
  };
  Incident split_off;
  split_off.id = newIncidentId();
  split_off.tenant_id = tenant_id;
  split_off.status = IncidentStatus::kTriggered;
  split_off.title =
      moving.front().title.empty() ? "Split from " + incident_id : moving.front().title;
  split_off.opened_at_ns = now_ns;
  split_off.graph_version = source->graph_version;
  rebuild(split_off, moving);
  rebuild(*source, staying);
  store::IncidentWrite write;
  // The new row must exist before links point at it: a first write makes it.
  store::IncidentWrite create;
  create.upserts.push_back(rowOf(split_off));
  FL_RETURN_IF_ERROR(writeNow(tenant_id, std::move(create)));
  for (const Signal& signal : moving) {
    write.unlinks.push_back({incident_id, signal.event_id, signal.occurred_at_ns, ""});
    write.links.push_back(
        {split_off.id, signal.event_id, signal.occurred_at_ns, splitReason(incident_id)});
  }
  write.timeline.push_back({incident_id, now_ns, actor, "split",
                            detail({{"into", split_off.id}, {"events", moving.size()}})});
  write.timeline.push_back({split_off.id, now_ns, actor, "opened",
                            detail({{"split_from", incident_id}, {"events", moving.size()}})});
  std::string new_id = split_off.id;
  state->correlator->adopt(std::move(split_off), now_ns);
  FL_RETURN_IF_ERROR(writeStep(*state, {incident_id, new_id}, std::move(write)));
  return new_id;
}

Status IncidentEngine::merge(const std::string& tenant_id, const std::string& target_id,
                             const std::string& source_id, const std::string& actor,
                             std::int64_t now_ns) {
  if (target_id == source_id) {
    return invalidArgument("merge: an incident cannot merge into itself");
  }
  FL_ASSIGN_OR_RETURN(auto state, tenant(tenant_id));
  std::lock_guard<std::mutex> lock(state->mu);
  FL_RETURN_IF_ERROR(load(*state));
  FL_ASSIGN_OR_RETURN(Incident * target, findOrLoad(*state, target_id));
  FL_ASSIGN_OR_RETURN(Incident * source, findOrLoad(*state, source_id));
  if (!isActive(target->status) || !isActive(source->status)) {
    return Status(Errc::FailedPrecondition, "only triggered or acknowledged incidents merge");
  }
  for (const Signal& signal : source->signals) {
    foldSignal(*target, signal, {});
  }
  state->correlator->reindex(*target);
  target->first_ns = std::min(target->first_ns, source->first_ns);
  target->last_ns = std::max(target->last_ns, source->last_ns);
  target->updated_at_ns = now_ns;
  source->status = IncidentStatus::kMerged;
  source->merged_into = target_id;
  source->updated_at_ns = now_ns;
  store::IncidentWrite write;
  write.moves.emplace_back(source_id, target_id);
  write.timeline.push_back({target_id, now_ns, actor, "merged", detail({{"from", source_id}})});
  write.timeline.push_back({source_id, now_ns, actor, "merged", detail({{"into", target_id}})});
  return writeStep(*state, {target_id, source_id}, std::move(write));
}

Result<CorrelationRules> IncidentEngine::rules(const std::string& tenant_id) {
  FL_ASSIGN_OR_RETURN(std::string json_text, store_.findCorrelationRules(tenant_id));
  if (json_text.empty()) {
    return CorrelationRules{};
  }
  return CorrelationRules::fromJson(json_text);
}

Status IncidentEngine::setRules(const std::string& tenant_id, const CorrelationRules& rules,
                                std::int64_t now_ns) {
  FL_RETURN_IF_ERROR(store_.setCorrelationRules(tenant_id, rules.toJson(), now_ns));
  FL_ASSIGN_OR_RETURN(auto state, tenant(tenant_id));
  std::lock_guard<std::mutex> lock(state->mu);
  if (state->loaded) {
    state->correlator->setRules(rules);  // this node applies them at once
  }
  return Status::ok();
}

void IncidentEngine::recordLatencies(const std::vector<std::int64_t>& received_ns,
                                     std::int64_t written_ns) {
  const std::size_t keep = std::max<std::size_t>(1, options_.latency_samples);
  std::lock_guard<std::mutex> lock(latency_mu_);
  for (std::int64_t at : received_ns) {
    double ms = static_cast<double>(written_ns - at) / 1e6;
    if (latencies_ms_.size() < keep) {
      latencies_ms_.push_back(ms);
    } else {
      latencies_ms_[latency_next_] = ms;
      latency_next_ = (latency_next_ + 1) % keep;
    }
    latency_max_ms_ = std::max(latency_max_ms_, ms);
    double seconds = ms / 1e3;
    std::size_t bucket = static_cast<std::size_t>(
        std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds) -
        kLatencyBuckets.begin());
    ++latency_buckets_[bucket];
    latency_sum_seconds_ += seconds;
    ++latency_count_;
  }
}

IncidentEngine::Stats IncidentEngine::stats() const {
  Stats stats;
  stats.events = events_.load(std::memory_order_relaxed);
  stats.joined = joined_.load(std::memory_order_relaxed);
  stats.opened = opened_.load(std::memory_order_relaxed);
  stats.merged = merged_.load(std::memory_order_relaxed);
  stats.dropped = dropped_.load(std::memory_order_relaxed);
  stats.write_failures = write_failures_.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stats.queued = queued_events_;
  }
  stats.write_steps = write_steps_.load(std::memory_order_relaxed);
  stats.index_failures = index_failures_.load(std::memory_order_relaxed);
  std::vector<double> sorted;
  {
    std::lock_guard<std::mutex> lock(latency_mu_);
    sorted = latencies_ms_;
    stats.latency_max_ms = latency_max_ms_;
    stats.latency_buckets = latency_buckets_;
    stats.latency_sum_seconds = latency_sum_seconds_;
    stats.latency_count = latency_count_;
  }
  if (!sorted.empty()) {
    std::sort(sorted.begin(), sorted.end());
    stats.latency_p50_ms = sorted[sorted.size() / 2];
    stats.latency_p99_ms = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
  }
  return stats;
}

namespace {
using prometheus::counter;
using prometheus::family;
using prometheus::number;
}  // namespace

std::string metricsText(const IncidentEngine::Stats& stats) {
  std::string out;
  counter(out, "faultline_incident_events_total", "Events correlated by the incident engine.",
          stats.events);
  counter(out, "faultline_incident_events_joined_total",
          "Correlated events that opened or joined an incident.", stats.joined);
  counter(out, "faultline_incidents_opened_total", "Incidents opened by correlation on this node.",
          stats.opened);
  counter(out, "faultline_incidents_merged_total", "Incidents merged into others by correlation.",
          stats.merged);
  counter(out, "faultline_incident_events_dropped_total",
          "Events not correlated: the engine's queue was full.", stats.dropped);
  counter(out, "faultline_incident_write_steps_total",
          "Correlation steps that wrote incidents (one store transaction each).",
          stats.write_steps);
  counter(out, "faultline_incident_write_failures_total", "Incident writes the store refused.",
          stats.write_failures);
  counter(out, "faultline_knowledge_index_failures_total",
          "Resolved or closed incidents the knowledge index could not write (search misses them).",
          stats.index_failures);
  family(out, "faultline_incident_queue_events", "gauge", "Events waiting for correlation.");
  out.append("faultline_incident_queue_events ").append(std::to_string(stats.queued)).append("\n");
  // From the event's arrival to the write of the incident row that holds it.
  constexpr std::string_view kLatency = "faultline_incident_latency_seconds";
  family(out, kLatency, "histogram",
         "Time from an event's arrival to the write of the incident it joined.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < stats.latency_buckets.size(); ++i) {
    cumulative += stats.latency_buckets[i];
    std::string le = i < IncidentEngine::kLatencyBuckets.size()
                         ? number(IncidentEngine::kLatencyBuckets[i])
                         : std::string("+Inf");
    out.append(kLatency).append("_bucket{le=\"").append(le).append("\"} ");
    out.append(std::to_string(cumulative)).append("\n");
  }
  out.append(kLatency).append("_sum ").append(number(stats.latency_sum_seconds)).append("\n");
  out.append(kLatency).append("_count ").append(std::to_string(stats.latency_count)).append("\n");
  constexpr std::string_view kRecent = "faultline_incident_latency_recent_seconds";
  family(out, kRecent, "gauge",
         "Arrival-to-written latency quantiles over the most recent joined events.");
  out.append(kRecent).append("{quantile=\"0.5\"} ");
  out.append(number(stats.latency_p50_ms / 1e3)).append("\n");
  out.append(kRecent).append("{quantile=\"0.99\"} ");
  out.append(number(stats.latency_p99_ms / 1e3)).append("\n");
  return out;
}

}  // namespace faultline::aggregator::incidents
