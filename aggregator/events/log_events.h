#pragma once

// Events derived from log batches (agent ingest and log uploads), after the batch is stored:
//
//  - error lines: kError/kCritical lines, one event per (service, template, severity) per
//    batch with the line count and first/last time, so an error storm of 100k lines is a
//    handful of events; repeats of the same template fold into one alert (fingerprint).
//  - new template: the first time a tenant's service shows a template (remembered durably in
//    the store, so restarts and other nodes agree). At most `new_templates_per_batch` events
//    per batch and `new_templates_per_service` per service in it; the rest fold into one
//    summary event per service that says how many.
//  - rate spike: a template's lines per minute at least `rate.factor` x its EWMA baseline and
//    at least `rate.min_count`; resolved when a closed minute falls back (RateBaseline).
//  - rate drop: a template's closed minute at or below `rate.drop_fraction` of a baseline of at
//    least `rate.drop_min_baseline` lines a minute while its service kept logging, at least
//    `rate.drop_min_service_volume` of the service's own usual lines in that minute (a code
//    path that now fails before it logs; a gap in collection or a dip in traffic takes every
//    template down alike and is no drop); resolved when a closed minute is back at half of it.
//
// Where the service comes from: the wire carries no service or labels (agents send source
// paths only), so the service is the source file's base name up to its first '.'
// ("/var/log/api/payments.log.1" -> "payments"); the full path is the "source" label. The
// host is the agent's enrolled hostname (empty for uploads).
//
// Rate baselines live in memory, bounded (`rate_max_keys`): persisting per-minute counters
// would add a write per batch to the ingest path for state whose loss costs only a warm-up
// (after a restart, a baseline fires again after `rate.warmup_minutes` of history; it never
// fires early). Each node keeps its own: a node that sees part of a stream sees both the
// rate and the baseline scaled alike.
//
// Deriving never fails a batch: errors are logged and counted (stats()), never returned to
// the sender. A batch is derived once, when it is first stored (duplicates are not); a crash
// between the commit and the derivation loses that batch's events, not its lines.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aggregator/events/event.h"
#include "aggregator/events/event_hub.h"
#include "aggregator/events/noise_policies.h"
#include "aggregator/events/rate_baseline.h"
#include "aggregator/store/store.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::events {

struct LogEventOptions {
  bool enabled = true;
  std::size_t max_events_per_batch = 50;
  std::size_t new_templates_per_batch = 20;
  std::size_t new_templates_per_service = 5;
  RateOptions rate;
  /// (tenant, service, template) rates tracked at most; idle ones are dropped first.
  std::size_t rate_max_keys = 100'000;
  /// (tenant, service, template) pairs known seen, cached to spare the store a round trip.
  std::size_t seen_cache_entries = 200'000;
  /// Record on a background thread: the ingest request does not wait for the events'
  /// transaction, and events queued meanwhile share one (per tenant). False: onBatch records
  /// before it returns.
  bool background = true;
  /// Events waiting for the background thread at most; past it a batch's events are dropped
  /// (and counted) rather than holding memory while the store is slow.
  std::size_t max_queued_events = 20'000;
};

/// Who sent a batch.
struct LogBatchContext {
  std::string tenant_id;
  std::string host;  // the agent's hostname; "" for uploads
  std::int64_t received_at_ns = 0;
};

/// "payments" for "/var/log/api/payments.log.1"; "unknown" when nothing is left.
std::string serviceFromSource(std::string_view source);

/// Lines of one (service, template, severity) in a batch. template_id 0: raw lines.
struct LineGroup {
  std::string service;
  std::string_view source;  // of the first line (views into the batch)
  std::uint64_t template_id = 0;
  logparse::Severity severity = logparse::Severity::kUnknown;
  std::uint64_t lines = 0;
  std::int64_t first_ns = 0;  // event time (read time when the line had none)
  std::int64_t last_ns = 0;
  std::size_t sample_record = 0;  // index of the first record
};

/// Per-minute line counts of one (service, template) in a batch.
struct MinuteCount {
  std::string service;
  std::uint64_t template_id = 0;
  std::int64_t minute = 0;
  std::uint64_t lines = 0;
  std::size_t sample_record = 0;
};

/// What a batch holds, grouped: error groups (kError and above), every templated group (any
/// severity) and per-minute counts of templated lines. Pure.
struct BatchLines {
  std::vector<LineGroup> errors;
  std::vector<LineGroup> templates;
  std::vector<MinuteCount> minutes;  // in minute order per (service, template)
};
BatchLines groupBatchLines(const wire::DecodedBatch& batch);

/// The rates of many (tenant, service, template) keys. Thread-safe. Bounded: past max_keys,
/// keys idle longest are dropped (and a new key is not tracked while none can go).
class RateTracker {
 public:
  RateTracker(RateOptions options, std::size_t max_keys);

  struct Change {
    std::string service;
    std::uint64_t template_id = 0;
    bool drop = false;        // a drop (else a spike) started or ended
    bool spiked = false;      // started (a spike, or a drop when `drop`); else ended
    std::uint64_t count = 0;  // the minute's lines
    double baseline = 0.0;    // the baseline it was judged against
    std::int64_t minute = 0;
    std::size_t sample_record = 0;  // spikes: a record of the batch; recoveries: none
  };
  /// Feeds a batch's minute counts for `tenant_id`, then closes the minutes before `now_minute`
  /// of the tenant's firing rates that this batch did not touch (a spike that stopped), and,
  /// for each service in the batch, the minutes of its other templates up to the minute before
  /// the service's newest (a template that went quiet while its service kept logging: a drop;
  /// the minute of slack lets another pod's lines for it still arrive). A minute in which the
  /// service itself logged under RateOptions::drop_min_service_volume of its usual lines
  /// starts no drop.
  std::vector<Change> observe(std::string_view tenant_id, const std::vector<MinuteCount>& minutes,
                              std::int64_t now_minute);
  std::size_t size() const;
  std::uint64_t untracked() const { return untracked_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    RateBaseline baseline;
    std::string tenant_id;
    std::string service;
    std::uint64_t template_id = 0;
    std::int64_t last_minute = 0;
  };
  Entry* entryFor(const std::string& key, std::int64_t minute);
  /// What closing minutes did in `change` (a drop ended or started, a spike ended), in event order;
  /// `recovered_minute`: the closed minute a spike's end is reported at.
  static void addClosingChanges(const Entry& entry, const RateChange& change,
                                std::int64_t recovered_minute, std::vector<Change>& changes);

  /// All of one service's lines per minute: what "its service kept logging" is judged on.
  struct ServiceLines {
    RateBaseline lines;
    bool started = false;
    std::int64_t first_minute = 0;
    /// Recent closed minutes that had lines: their lines over the usual lines a minute before
    /// them (1 while the baseline warms up). A minute between first_minute and the open
    /// minute that is not here, and not older than what is kept, had no lines.
    std::map<std::int64_t, double> closed;
  };
  void addServiceLines(ServiceLines& service, std::int64_t minute, std::uint64_t lines) const;
  static double volumeOf(const ServiceLines& service, std::int64_t minute);
  /// The service's volume function for its templates' drops; empty when it is not tracked.
  ServiceVolume volumeFor(const std::string& service_key) const;

  const RateOptions options_;
  const std::size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // by tenant \0 service \0 template
  std::unordered_set<std::string> firing_;
  // tenant \0 service -> its keys in entries_ (stale ones are skipped and pruned).
  std::unordered_map<std::string, std::vector<std::string>> by_service_;
  std::unordered_map<std::string, ServiceLines> service_lines_;  // by tenant \0 service
  std::atomic<std::uint64_t> untracked_{0};
};

/// Derives and records log events for stored batches. Thread-safe: called from HTTP worker
/// threads after each stored batch. Does not own the store, which must outlive it.
class LogEventDeriver {
 public:
  LogEventDeriver(store::Store& store, LogEventOptions options);
  /// Records what is queued, then stops the background thread.
  ~LogEventDeriver();
  LogEventDeriver(const LogEventDeriver&) = delete;
  LogEventDeriver& operator=(const LogEventDeriver&) = delete;

  /// The tenant's suppression rules, windows and flapping policy decide the derived events like
  /// any other (null: none), and `sink` gets them once recorded (the live event hub; empty:
  /// none). Set before the first batch; both are kept for the deriver's life.
  void setRecordHooks(std::shared_ptr<NoisePolicies> noise, EventSink sink);

  /// Returns once every event handed over before the call is recorded (or failed).
  void flush();

  /// Derives the batch's events and records them. Never throws, never fails the caller:
  /// problems are logged and counted.
  void onBatch(const LogBatchContext& context, const wire::DecodedBatch& batch) noexcept;

  /// The events of one batch, in the order they are recorded (rate changes, errors, new
  /// templates), at most max_events_per_batch. Remembers the batch's templates in the store
  /// and feeds the rate tracker: call once per batch.
  Result<std::vector<Event>> derive(const LogBatchContext& context,
                                    const wire::DecodedBatch& batch);

  struct Stats {
    std::uint64_t batches = 0;           // batches derived
    std::uint64_t events = 0;            // events recorded
    std::uint64_t dropped_events = 0;    // over max_events_per_batch
    std::uint64_t folded_templates = 0;  // new templates counted in a summary event
    std::uint64_t failures = 0;          // batches whose derivation or recording failed
    std::uint64_t record_calls = 0;      // recordEvents calls (background: shared by batches)
  };
  Stats stats() const;
  const LogEventOptions& options() const { return options_; }

 private:
  /// Which (service, template) of the batch's are new to the tenant (store-backed, cached).
  Result<std::vector<bool>> rememberTemplates(const std::string& tenant_id,
                                              const std::vector<store::LogTemplateKey>& keys,
                                              std::int64_t now_ns);
  /// The template's text from the batch, else the tenant dictionary; "" when unknown. Titles
  /// show it through readableTemplate (a container wrapper's message, not the wrapper).
  std::string templateText(const std::string& tenant_id, const wire::DecodedBatch& batch,
                           const wire::Record& record);

  /// The event of a drop starting (spiked) or ending, for the template text `text`.
  Event rateDropEvent(const LogBatchContext& context, const RateTracker::Change& change,
                      const std::string& text) const;
  /// Records one tenant's events in calls of at most kMaxEventsPerRecord; false on failure.
  bool record(const std::string& tenant_id, const std::vector<Event>& events);
  void recordLoop();

  store::Store& store_;
  const LogEventOptions options_;
  std::shared_ptr<NoisePolicies> noise_;  // setRecordHooks
  EventSink sink_;
  RateTracker rates_;
  std::mutex firing_mu_;
  // Template texts of firing rates, so their resolve reads well without a store lookup.
  std::unordered_map<std::string, std::string> firing_text_;
  std::mutex seen_mu_;
  std::unordered_set<std::string> seen_;  // tenant \0 service \0 template, known to the store
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> folded_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> record_calls_{0};

  // The background recorder: batches' events in arrival order.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // work arrived, or stopping
  std::condition_variable idle_cv_;   // the queue emptied and nothing is in flight
  std::deque<std::pair<std::string, std::vector<Event>>> queue_;  // (tenant, events)
  std::size_t queued_events_ = 0;
  bool recording_ = false;
  bool stopping_ = false;
  std::thread recorder_;  // last: started after everything it uses
};

}  // namespace faultline::aggregator::events
