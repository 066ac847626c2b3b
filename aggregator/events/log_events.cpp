#include "aggregator/events/log_events.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include "shared/logparse/parser.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::events {
namespace {

constexpr std::int64_t kNanosPerMinute = 60'000'000'000;
constexpr std::size_t kMaxTitleBytes = 200;
constexpr std::size_t kMaxSampleBytes = 1024;
// Keys idle this long (by their lines' minutes) are the first to go when the tracker is full.
constexpr std::int64_t kIdleMinutes = 60;
// Closed minutes of a service's own lines kept to judge its templates' drops by: two hours,
// past the hour of silence a template is still judged for.
constexpr std::size_t kKeptServiceMinutes = 120;
constexpr std::chrono::milliseconds kRecordLinger{50};

std::int64_t minuteOf(std::int64_t ns) {
  // Floor division: times before 1970 (bad clocks) still land in a minute.
  return ns >= 0 ? ns / kNanosPerMinute : -((-ns + kNanosPerMinute - 1) / kNanosPerMinute);
}

/// A template as a person reads it: the message inside a container runtime's json-file
/// wrapper ({"log":"...","stream":...,"time":...}), not the wrapper, which the miner keeps in
/// the template so that the line rebuilds byte for byte; the text itself otherwise.
std::string readableTemplate(std::string text) {
  static const std::unique_ptr<logparse::Parser> docker = [] {
    logparse::ParserOptions options;
    options.format = logparse::Format::kDocker;
    auto created = logparse::Parser::create(options);
    return created.isOk() ? std::move(*created) : nullptr;
  }();
  if (docker == nullptr || text.empty() || text.front() != '{') {
    return text;
  }
  logparse::ParsedLine parsed;
  docker->parse(text, parsed);
  if (parsed.format != logparse::Format::kDocker || parsed.inner.empty()) {
    return text;
  }
  std::string_view inner = parsed.inner;
  while (!inner.empty() && (inner.back() == '\n' || inner.back() == '\r')) {
    inner.remove_suffix(1);
  }
  return std::string(inner);
}

/// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string clip(std::string_view text, std::size_t max) {
  if (text.size() <= max) {
    return std::string(text);
  }
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(text.substr(0, end)) + "...";
}

/// The event time of a record's first line and of its last (read time when unknown).
std::pair<std::int64_t, std::int64_t> recordTimes(const wire::Record& record) {
  const std::int64_t first = record.event_ts_ns != 0 ? record.event_ts_ns : record.ts_ns;
  const std::int64_t span =
      record.last_ts_ns > record.ts_ns ? record.last_ts_ns - record.ts_ns : std::int64_t{0};
  return {first, first + span};
}

std::string tenantKey(std::string_view tenant_id, std::string_view service,
                      std::uint64_t template_id) {
  std::string key;
  key.reserve(tenant_id.size() + service.size() + 10);
  key.append(tenant_id).push_back('\0');
  key.append(service).push_back('\0');
  for (int i = 0; i < 8; ++i) {
    key.push_back(static_cast<char>(template_id >> (8 * i)));
  }
  return key;
}

struct GroupKey {
  std::uint32_t service = 0;  // index into the batch's distinct services
  std::uint64_t template_id = 0;
  std::int64_t extra = 0;  // severity for error groups, minute for minute counts, 0 otherwise
  bool operator==(const GroupKey& other) const {
    return service == other.service && template_id == other.template_id && extra == other.extra;
  }
};

struct GroupKeyHash {
  std::size_t operator()(const GroupKey& key) const {
    std::uint64_t h = key.template_id * 0x9E3779B97F4A7C15ULL;
    h ^= (static_cast<std::uint64_t>(key.service) << 32) ^ static_cast<std::uint64_t>(key.extra);
    h *= 0xBF58476D1CE4E5B9ULL;
    return static_cast<std::size_t>(h ^ (h >> 31));
  }
};

void addLine(LineGroup& group, const wire::Record& record, std::size_t index) {
  const auto [first, last] = recordTimes(record);
  if (group.lines == 0) {
    group.first_ns = first;
    group.last_ns = last;
    group.sample_record = index;
  } else {
    group.first_ns = std::min(group.first_ns, first);
    group.last_ns = std::max(group.last_ns, last);
  }
  group.lines += record.count;
}

using Labels = std::map<std::string, std::string>;

Event makeEvent(const LogBatchContext& context, const std::string& service,
                logparse::Severity severity, EventStatus status, std::string dedup_key,
                const Labels& labels) {
  Event event;
  event.tenant_id = context.tenant_id;
  event.source = SourceKind::kLog;
  event.service = service;
  event.host = context.host;
  event.severity = severity;
  event.status = status;
  event.source_dedup_key = std::move(dedup_key);
  event.labels.assign(labels.begin(), labels.end());
  event.received_at_ns = context.received_at_ns;
  event.fingerprint = computeFingerprint(event);
  return event;
}

std::string templateLabel(std::uint64_t template_id) {
  return template_id == 0 ? std::string("raw") : wire::templateIdText(template_id);
}

}  // namespace

std::string serviceFromSource(std::string_view source) {
  const std::size_t slash = source.find_last_of('/');
  if (slash != std::string_view::npos) {
    source.remove_prefix(slash + 1);
  }
  source = source.substr(0, source.find('.'));
  if (source.empty()) {
    return "unknown";
  }
  return clip(source, 128);
}

BatchLines groupBatchLines(const wire::DecodedBatch& batch) {
  BatchLines out;
  // Distinct services of the batch, by source index.
  std::vector<std::string> services;
  std::vector<std::uint32_t> service_of_source(batch.sources.size(), 0);
  for (std::size_t i = 0; i < batch.sources.size(); ++i) {
    std::string service = serviceFromSource(batch.sources[i]);
    auto found = std::find(services.begin(), services.end(), service);
    service_of_source[i] = static_cast<std::uint32_t>(found - services.begin());
    if (found == services.end()) {
      services.push_back(std::move(service));
    }
  }
  std::unordered_map<GroupKey, std::size_t, GroupKeyHash> errors;
  std::unordered_map<GroupKey, std::size_t, GroupKeyHash> minutes;
  // The hot path (every templated record) indexes flat tables instead of hashing: the
  // template group of each (service, slot), and the minute that group counted last (lines
  // mostly arrive in time order, so the next record usually falls in the same minute).
  const std::size_t slots = batch.template_ids.size();
  std::vector<std::uint32_t> canonical_slot(slots);  // the first slot with the same id
  {
    std::unordered_map<std::uint64_t, std::uint32_t> first_slot;
    for (std::size_t slot = 0; slot < slots; ++slot) {
      canonical_slot[slot] =
          first_slot.try_emplace(batch.template_ids[slot], static_cast<std::uint32_t>(slot))
              .first->second;
    }
  }
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // A batch of many sources and many templates (up to 4096 x 65536) falls back to a hash map
  // rather than a table of that size.
  const bool dense = services.size() * slots <= (std::size_t{1} << 20);
  std::vector<std::size_t> template_group(dense ? services.size() * slots : 0, kNone);
  std::unordered_map<std::uint64_t, std::size_t> sparse_group;
  auto groupOf = [&](std::uint32_t service, std::uint32_t slot) -> std::size_t& {
    if (dense) {
      return template_group[service * slots + slot];
    }
    return sparse_group.try_emplace((std::uint64_t{service} << 32) | slot, kNone).first->second;
  };
  struct MinuteCursor {
    std::int64_t minute = 0;
    std::size_t index = kNone;  // into out.minutes
  };
  std::vector<MinuteCursor> cursors;  // by template group
  for (std::size_t i = 0; i < batch.records.size(); ++i) {
    const wire::Record& record = batch.records[i];
    if (record.source >= batch.sources.size()) {
      continue;  // the decoder refuses these; never index out of range here
    }
    const std::uint32_t service = service_of_source[record.source];
    std::uint64_t template_id = 0;
    const bool templated = record.kind != wire::RecordKind::Raw && record.template_slot < slots;
    if (templated) {
      template_id = batch.template_ids[record.template_slot];
    }
    const auto severity =
        static_cast<logparse::Severity>(std::min<std::uint8_t>(record.severity, 7));
    if (severity >= logparse::Severity::kError) {
      GroupKey key{service, template_id, static_cast<std::int64_t>(severity)};
      auto [it, added] = errors.try_emplace(key, out.errors.size());
      if (added) {
        LineGroup group;
        group.service = services[service];
        group.source = batch.sources[record.source];
        group.template_id = template_id;
        group.severity = severity;
        out.errors.push_back(std::move(group));
      }
      addLine(out.errors[it->second], record, i);
    }
    if (!templated || template_id == 0) {
      continue;
    }
    std::size_t& group_index = groupOf(service, canonical_slot[record.template_slot]);
    if (group_index == kNone) {
      group_index = out.templates.size();
      LineGroup group;
      group.service = services[service];
      group.source = batch.sources[record.source];
      group.template_id = template_id;
      out.templates.push_back(std::move(group));
      cursors.emplace_back();
    }
    LineGroup& group = out.templates[group_index];
    group.severity = std::max(group.severity, severity);
    addLine(group, record, i);
    const std::int64_t minute = minuteOf(recordTimes(record).first);
    MinuteCursor& cursor = cursors[group_index];
    if (cursor.index == kNone || cursor.minute != minute) {
      auto [it, added] = minutes.try_emplace(GroupKey{service, template_id, minute}, 0);
      if (added) {
        it->second = out.minutes.size();
        out.minutes.push_back({services[service], template_id, minute, 0, i});
      }
      cursor = {minute, it->second};
    }
    out.minutes[cursor.index].lines += record.count;
  }
  std::stable_sort(out.minutes.begin(), out.minutes.end(),
                   [](const MinuteCount& a, const MinuteCount& b) {
                     return std::tie(a.service, a.template_id, a.minute) <
                            std::tie(b.service, b.template_id, b.minute);
                   });
  return out;
}

// --- RateTracker

void RateTracker::addClosingChanges(const Entry& entry, const RateChange& change,
                                    std::int64_t recovered_minute, std::vector<Change>& changes) {
  // A drop that ended and a new one in one call: the end first, as events pair up in order.
  if (change.restored) {
    changes.push_back({entry.service, entry.template_id, true, false, change.restored_count,
                       entry.baseline.dropBaseline(), change.restored_minute, 0});
  }
  if (change.dropped) {
    changes.push_back({entry.service, entry.template_id, true, true, change.dropped_count,
                       entry.baseline.dropBaseline(), change.dropped_minute, 0});
  }
  if (change.recovered) {
    changes.push_back({entry.service, entry.template_id, false, false,
                       entry.baseline.lastClosedCount(), entry.baseline.baseline(),
                       recovered_minute, 0});
  }
}

RateTracker::RateTracker(RateOptions options, std::size_t max_keys)
    : options_(options), max_keys_(max_keys) {}

std::size_t RateTracker::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

RateTracker::Entry* RateTracker::entryFor(const std::string& key, std::int64_t minute) {
  auto found = entries_.find(key);
  if (found != entries_.end()) {
    return &found->second;
  }
  if (entries_.size() >= max_keys_) {
    // Full: drop what has been idle an hour (never a firing rate, whose resolve is owed).
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.last_minute < minute - kIdleMinutes && !it->second.baseline.firing()) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (entries_.size() >= max_keys_) {
      return nullptr;
    }
  }
  return &entries_[key];
}

void RateTracker::addServiceLines(ServiceLines& service, std::int64_t minute,
                                  std::uint64_t lines) const {
  if (!service.started) {
    service.started = true;
    service.first_minute = minute;
  }
  const std::int64_t open_minute = service.lines.currentMinute();
  const std::uint64_t open_lines = service.lines.currentCount();
  const double usual = service.lines.baseline();
  const bool warm = service.lines.closedMinutes() >= options_.warmup_minutes;
  (void)service.lines.add(minute, lines, options_);
  if (service.lines.currentMinute() > open_minute && open_lines > 0) {
    service.closed[open_minute] =
        warm ? static_cast<double>(open_lines) / std::max(usual, 1.0) : 1.0;
    while (service.closed.size() > kKeptServiceMinutes) {
      service.closed.erase(service.closed.begin());
    }
  }
}

double RateTracker::volumeOf(const ServiceLines& service, std::int64_t minute) {
  auto found = service.closed.find(minute);
  if (found != service.closed.end()) {
    return found->second;
  }
  const bool kept = !service.closed.empty() && minute > service.closed.begin()->first;
  if (kept && minute > service.first_minute && minute < service.lines.currentMinute()) {
    return 0.0;  // the service logged nothing in it
  }
  return 1.0;  // not known (the open minute, or older than what is kept): as usual
}

ServiceVolume RateTracker::volumeFor(const std::string& service_key) const {
  auto found = service_lines_.find(service_key);
  if (found == service_lines_.end()) {
    return {};
  }
  const ServiceLines* service = &found->second;
  return [service](std::int64_t minute) { return volumeOf(*service, minute); };
}

std::vector<RateTracker::Change> RateTracker::observe(std::string_view tenant_id,
                                                      const std::vector<MinuteCount>& minutes,
                                                      std::int64_t now_minute) {
  std::vector<Change> changes;
  std::map<std::string, std::int64_t> newest;  // service -> its newest minute in the batch
  std::lock_guard lock(mu_);
  // The services' own lines per minute first, in minute order, so that a template's minute is
  // judged against its service's whole minute.
  std::map<std::pair<std::string_view, std::int64_t>, std::uint64_t> service_minutes;
  for (const MinuteCount& count : minutes) {
    service_minutes[{count.service, count.minute}] += count.lines;
  }
  std::map<std::string_view, ServiceVolume> volumes;  // per service of the batch, once
  for (const auto& service_minute : service_minutes) {
    const std::string key = tenantKey(tenant_id, service_minute.first.first, 0);
    auto found = service_lines_.find(key);
    if (found == service_lines_.end()) {
      if (service_lines_.size() >= max_keys_) {
        continue;  // not tracked: its templates' drops are judged without it
      }
      found = service_lines_.emplace(key, ServiceLines{}).first;
    }
    addServiceLines(found->second, service_minute.first.second, service_minute.second);
    if (volumes.count(service_minute.first.first) == 0) {
      volumes.emplace(service_minute.first.first, volumeFor(key));
    }
  }
  const ServiceVolume not_tracked;
  for (const MinuteCount& count : minutes) {
    const std::string key = tenantKey(tenant_id, count.service, count.template_id);
    Entry* entry = entryFor(key, count.minute);
    if (entry == nullptr) {
      untracked_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (entry->service.empty()) {
      entry->tenant_id = std::string(tenant_id);
      entry->service = count.service;
      entry->template_id = count.template_id;
      by_service_[tenantKey(tenant_id, count.service, 0)].push_back(key);
    }
    entry->last_minute = std::max(entry->last_minute, count.minute);
    newest[count.service] = std::max(newest[count.service], count.minute);
    auto volume = volumes.find(count.service);
    const RateChange change =
        entry->baseline.add(count.minute, count.lines, options_,
                            volume != volumes.end() ? volume->second : not_tracked);
    addClosingChanges(*entry, change, count.minute - 1, changes);
    if (change.recovered) {
      firing_.erase(key);
    }
    if (change.spiked) {
      changes.push_back({count.service, count.template_id, false, true,
                         entry->baseline.currentCount(), entry->baseline.baseline(),
                         entry->baseline.currentMinute(), count.sample_record});
      firing_.insert(key);
    }
  }
  // Templates of the batch's services that this batch did not carry: close their minutes up to
  // the minute before the service's newest, which may start (or end) a drop.
  for (const auto& service_minute : newest) {
    // Named, not a structured binding: clang 14 cannot capture those in lambdas.
    const std::int64_t minute = service_minute.second;
    auto keys = by_service_.find(tenantKey(tenant_id, service_minute.first, 0));
    if (keys == by_service_.end()) {
      continue;
    }
    const ServiceVolume volume = volumeFor(keys->first);
    std::erase_if(keys->second, [&](const std::string& key) {
      auto entry = entries_.find(key);
      if (entry == entries_.end()) {
        return true;  // evicted
      }
      if (entry->second.baseline.currentMinute() < minute - 1) {
        const std::int64_t closed = entry->second.baseline.currentMinute();
        const RateChange change = entry->second.baseline.advance(minute - 1, options_, volume);
        addClosingChanges(entry->second, change, closed, changes);
        if (change.recovered) {
          firing_.erase(key);
        }
      }
      return false;
    });
  }
  // Firing rates of this tenant whose lines stopped: close their minutes up to now.
  for (auto it = firing_.begin(); it != firing_.end();) {
    auto entry = entries_.find(*it);
    if (entry == entries_.end()) {
      it = firing_.erase(it);
      continue;
    }
    if (entry->second.tenant_id != tenant_id) {
      ++it;
      continue;
    }
    const std::int64_t closed = entry->second.baseline.currentMinute();
    const RateChange change = entry->second.baseline.advance(
        now_minute, options_, volumeFor(tenantKey(tenant_id, entry->second.service, 0)));
    addClosingChanges(entry->second, change, closed, changes);
    if (change.recovered) {
      it = firing_.erase(it);
    } else {
      ++it;
    }
  }
  return changes;
}

// --- LogEventDeriver

LogEventDeriver::LogEventDeriver(store::Store& store, LogEventOptions options)
    : store_(store), options_(std::move(options)), rates_(options_.rate, options_.rate_max_keys) {
  if (options_.enabled && options_.background) {
    recorder_ = std::thread([this] { recordLoop(); });
  }
}

LogEventDeriver::Stats LogEventDeriver::stats() const {
  return {batches_.load(std::memory_order_relaxed),  events_.load(std::memory_order_relaxed),
          dropped_.load(std::memory_order_relaxed),  folded_.load(std::memory_order_relaxed),
          failures_.load(std::memory_order_relaxed), record_calls_.load(std::memory_order_relaxed)};
}

Result<std::vector<bool>> LogEventDeriver::rememberTemplates(
    const std::string& tenant_id, const std::vector<store::LogTemplateKey>& keys,
    std::int64_t now_ns) {
  std::vector<bool> fresh(keys.size(), false);
  std::vector<std::size_t> unknown;
  std::vector<std::string> cache_keys(keys.size());
  {
    std::lock_guard lock(seen_mu_);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      cache_keys[i] = tenantKey(tenant_id, keys[i].service, keys[i].template_id);
      if (seen_.count(cache_keys[i]) == 0) {
        unknown.push_back(i);
      }
    }
  }
  for (std::size_t start = 0; start < unknown.size(); start += store::kMaxLogTemplatesPerCall) {
    const std::size_t end = std::min(unknown.size(), start + store::kMaxLogTemplatesPerCall);
    std::vector<store::LogTemplateKey> ask;
    ask.reserve(end - start);
    for (std::size_t j = start; j < end; ++j) {
      ask.push_back(keys[unknown[j]]);
    }
    FL_ASSIGN_OR_RETURN(std::vector<bool> answer,
                        store_.rememberLogTemplates(tenant_id, ask, now_ns));
    if (answer.size() != ask.size()) {
      return internalError("remember log templates: answer does not match the question");
    }
    std::lock_guard lock(seen_mu_);
    // The store is the truth; the cache only spares round trips, so emptying it is safe.
    if (seen_.size() + ask.size() > options_.seen_cache_entries) {
      seen_.clear();
    }
    for (std::size_t j = start; j < end; ++j) {
      fresh[unknown[j]] = answer[j - start];
      seen_.insert(cache_keys[unknown[j]]);
    }
  }
  return fresh;
}

std::string LogEventDeriver::templateText(const std::string& tenant_id,
                                          const wire::DecodedBatch& batch,
                                          const wire::Record& record) {
  if (record.kind == wire::RecordKind::Raw) {
    return {};
  }
  std::string from_store;
  auto text =
      wire::resolveTemplate(batch, record.template_slot,
                            [&](std::uint64_t template_id) -> std::optional<std::string_view> {
                              auto found = store_.findTemplate(tenant_id, template_id);
                              if (!found.isOk()) {
                                return std::nullopt;
                              }
                              from_store = std::move(*found);
                              return std::string_view(from_store);
                            });
  return text.isOk() ? std::string(*text) : std::string();
}

namespace {

/// The line a record stands for (its template text for an aggregate), clipped.
std::string sampleLine(const wire::DecodedBatch& batch, const wire::Record& record,
                       std::string_view template_text) {
  std::string line;
  switch (record.kind) {
    case wire::RecordKind::Raw: line.assign(record.line); break;
    case wire::RecordKind::Templated:
      if (template_text.empty() ||
          !wire::renderTemplatedLine(batch, record, template_text, line).isOk()) {
        line.assign(template_text);
      }
      break;
    case wire::RecordKind::Aggregate: line.assign(template_text); break;
  }
  return clip(line, kMaxSampleBytes);
}

std::string timeRange(std::int64_t first_ns, std::int64_t last_ns) {
  return formatRfc3339Millis(first_ns) + " .. " + formatRfc3339Millis(last_ns);
}

std::string formatRate(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return buffer;
}

}  // namespace

Event LogEventDeriver::rateDropEvent(const LogBatchContext& context,
                                     const RateTracker::Change& change,
                                     const std::string& text) const {
  Labels labels = {{"kind", "rate_drop"},
                   {"template", templateLabel(change.template_id)},
                   {"rate_per_minute", std::to_string(change.count)},
                   {"baseline_per_minute", formatRate(change.baseline)},
                   {"fraction", formatRate(options_.rate.drop_fraction)}};
  Event event =
      makeEvent(context, change.service,
                change.spiked ? logparse::Severity::kWarn : logparse::Severity::kInfo,
                change.spiked ? EventStatus::kFiring : EventStatus::kResolved,
                "log-drop:" + change.service + ":" + templateLabel(change.template_id), labels);
  event.title = clip((change.spiked ? "Log rate drop in " : "Log rate restored in ") +
                         change.service + ": " + text,
                     kMaxTitleBytes);
  event.body = std::to_string(change.count) + " lines in the minute of " +
               formatRfc3339Millis(change.minute * kNanosPerMinute) + " against " +
               (change.spiked ? "a baseline of " : "the baseline it dropped from, ") +
               formatRate(change.baseline) + " a minute, while " + change.service +
               " kept logging (a drop is at most " + formatRate(options_.rate.drop_fraction) +
               " of a baseline of at least " + formatRate(options_.rate.drop_min_baseline) +
               " lines a minute; it ends at half the old baseline).";
  event.occurred_at_ns = change.minute * kNanosPerMinute;
  return event;
}

Result<std::vector<Event>> LogEventDeriver::derive(const LogBatchContext& context,
                                                   const wire::DecodedBatch& batch) {
  BatchLines lines = groupBatchLines(batch);
  std::vector<Event> out;
  std::size_t dropped = 0;
  auto room = [&] {
    if (out.size() < options_.max_events_per_batch) {
      return true;
    }
    ++dropped;
    return false;
  };
  // Text of a template that may be in no record of this batch (a rate that went quiet).
  auto textById = [&](std::uint64_t template_id) -> std::string {
    for (std::size_t slot = 0; slot < batch.template_ids.size(); ++slot) {
      if (batch.template_ids[slot] == template_id) {
        wire::Record probe;
        probe.kind = wire::RecordKind::Templated;
        probe.template_slot = static_cast<std::uint32_t>(slot);
        return readableTemplate(templateText(context.tenant_id, batch, probe));
      }
    }
    auto found = store_.findTemplate(context.tenant_id, template_id);
    return found.isOk() ? readableTemplate(std::move(*found)) : std::string();
  };

  // 1. Rates: every templated minute of the batch feeds its baseline. The newest minute of the
  // batch is "now" for closing the minutes of rates that stopped.
  std::int64_t now_minute = INT64_MIN;
  for (const MinuteCount& count : lines.minutes) {
    now_minute = std::max(now_minute, count.minute);
  }
  if (now_minute != INT64_MIN) {
    const auto changes = rates_.observe(context.tenant_id, lines.minutes, now_minute);
    // Ends first: a resolve and a new start of one key in one batch pair up in order.
    for (int pass = 0; pass < 2; ++pass) {
      for (const RateTracker::Change& change : changes) {
        if (change.spiked != (pass == 1) || !room()) {
          continue;
        }
        if (change.drop) {
          out.push_back(rateDropEvent(context, change, textById(change.template_id)));
          continue;
        }
        const std::string key = tenantKey(context.tenant_id, change.service, change.template_id);
        std::string text;
        if (change.spiked) {
          text = templateText(context.tenant_id, batch, batch.records[change.sample_record]);
          std::lock_guard lock(firing_mu_);
          firing_text_[key] = text;
        } else {
          {
            std::lock_guard lock(firing_mu_);
            auto found = firing_text_.find(key);
            if (found != firing_text_.end()) {
              text = std::move(found->second);
              firing_text_.erase(found);
            }
          }
          if (text.empty()) {
            text = textById(change.template_id);
          }
        }
        Labels labels = {{"kind", "rate_spike"},
                         {"template", templateLabel(change.template_id)},
                         {"rate_per_minute", std::to_string(change.count)},
                         {"baseline_per_minute", formatRate(change.baseline)},
                         {"factor", formatRate(options_.rate.factor)}};
        Event event = makeEvent(
            context, change.service,
            change.spiked ? logparse::Severity::kWarn : logparse::Severity::kInfo,
            change.spiked ? EventStatus::kFiring : EventStatus::kResolved,
            "log-rate:" + change.service + ":" + templateLabel(change.template_id), labels);
        event.title = clip((change.spiked ? "Log rate spike in " : "Log rate back to normal in ") +
                               change.service + ": " + readableTemplate(text),
                           kMaxTitleBytes);
        event.body = std::to_string(change.count) + " lines in the minute of " +
                     formatRfc3339Millis(change.minute * kNanosPerMinute) +
                     " against a baseline of " + formatRate(change.baseline) +
                     " a minute (fires at " + formatRate(options_.rate.factor) + "x and at least " +
                     std::to_string(options_.rate.min_count) + " lines).";
        if (change.spiked) {
          event.raw = sampleLine(batch, batch.records[change.sample_record], text);
          event.body += "\nSample: " + event.raw;
        }
        event.occurred_at_ns = change.minute * kNanosPerMinute;
        out.push_back(std::move(event));
      }
    }
  }

  // 2. Errors, critical first, then the biggest groups.
  std::stable_sort(lines.errors.begin(), lines.errors.end(),
                   [](const LineGroup& a, const LineGroup& b) {
                     return a.severity != b.severity ? a.severity > b.severity : a.lines > b.lines;
                   });
  for (const LineGroup& group : lines.errors) {
    if (!room()) {
      continue;
    }
    const wire::Record& sample = batch.records[group.sample_record];
    const std::string text = templateText(context.tenant_id, batch, sample);
    const std::string line = sampleLine(batch, sample, text);
    const std::string severity(logparse::severityName(group.severity));
    Labels labels = {{"kind", "log_error"},
                     {"template", templateLabel(group.template_id)},
                     {"source", std::string(group.source)},
                     {"lines", std::to_string(group.lines)}};
    Event event = makeEvent(
        context, group.service, group.severity, EventStatus::kFiring,
        "log-error:" + group.service + ":" + templateLabel(group.template_id) + ":" + severity,
        labels);
    event.title =
        clip(group.service + ": " + (text.empty() ? line : readableTemplate(text)), kMaxTitleBytes);
    event.body = std::to_string(group.lines) + " " + severity + " line" +
                 (group.lines == 1 ? "" : "s") + " in " + std::string(group.source) + ", " +
                 timeRange(group.first_ns, group.last_ns) + ".\nSample: " + line;
    event.raw = line;
    event.occurred_at_ns = group.first_ns;
    out.push_back(std::move(event));
  }

  // 3. Templates this tenant's service never showed before.
  if (!lines.templates.empty()) {
    std::vector<store::LogTemplateKey> keys;
    keys.reserve(lines.templates.size());
    for (const LineGroup& group : lines.templates) {
      keys.push_back({group.service, group.template_id});
    }
    FL_ASSIGN_OR_RETURN(std::vector<bool> fresh,
                        rememberTemplates(context.tenant_id, keys, context.received_at_ns));
    std::map<std::string, std::pair<std::size_t, std::size_t>> per_service;  // shown, folded
    std::map<std::string, std::int64_t> folded_first;  // earliest line of a folded template
    std::size_t shown = 0;
    for (std::size_t i = 0; i < lines.templates.size(); ++i) {
      if (!fresh[i]) {
        continue;
      }
      const LineGroup& group = lines.templates[i];
      auto& [service_shown, service_folded] = per_service[group.service];
      // Over a limit, the template is remembered and counted in its service's summary.
      if (shown >= options_.new_templates_per_batch ||
          service_shown >= options_.new_templates_per_service ||
          out.size() >= options_.max_events_per_batch) {
        ++service_folded;
        auto [first, inserted] = folded_first.emplace(group.service, group.first_ns);
        if (!inserted) {
          first->second = std::min(first->second, group.first_ns);
        }
        continue;
      }
      ++shown;
      ++service_shown;
      const wire::Record& sample = batch.records[group.sample_record];
      const std::string text = templateText(context.tenant_id, batch, sample);
      const std::string line = sampleLine(batch, sample, text);
      Labels labels = {{"kind", "new_template"},
                       {"template", templateLabel(group.template_id)},
                       {"source", std::string(group.source)},
                       {"lines", std::to_string(group.lines)}};
      Event event = makeEvent(
          context, group.service, group.severity, EventStatus::kInfo,
          "log-new-template:" + group.service + ":" + templateLabel(group.template_id), labels);
      event.severity = logparse::Severity::kInfo;
      event.title = clip("New log template in " + group.service + ": " + readableTemplate(text),
                         kMaxTitleBytes);
      event.body = "First seen " + formatRfc3339Millis(group.first_ns) + " in " +
                   std::string(group.source) + " (" + std::to_string(group.lines) + " line" +
                   (group.lines == 1 ? "" : "s") + " in this batch, highest severity " +
                   std::string(logparse::severityName(group.severity)) + ").\nSample: " + line;
      event.raw = line;
      event.occurred_at_ns = group.first_ns;
      out.push_back(std::move(event));
    }
    for (const auto& [service, counts] : per_service) {
      const std::size_t folded = counts.second;
      if (folded == 0) {
        continue;
      }
      folded_.fetch_add(folded, std::memory_order_relaxed);
      if (out.size() >= options_.max_events_per_batch) {
        ++dropped;
        continue;
      }
      Labels labels = {{"kind", "new_templates_folded"}, {"folded", std::to_string(folded)}};
      Event event = makeEvent(context, service, logparse::Severity::kInfo, EventStatus::kInfo,
                              "log-new-templates:" + service, labels);
      event.title =
          clip(service + ": " + std::to_string(folded) + " more new log templates", kMaxTitleBytes);
      event.body = std::to_string(counts.first) + " new templates of " + service +
                   " were shown one by one in this batch; " + std::to_string(folded) +
                   " more were remembered without an event each (limits: " +
                   std::to_string(options_.new_templates_per_service) + " per service, " +
                   std::to_string(options_.new_templates_per_batch) + " per batch).";
      // The event time of the earliest folded template, like the events shown one by one.
      event.occurred_at_ns = folded_first.at(service);
      out.push_back(std::move(event));
    }
  }
  dropped_.fetch_add(dropped, std::memory_order_relaxed);
  return out;
}

void LogEventDeriver::setRecordHooks(std::shared_ptr<NoisePolicies> noise, EventSink sink) {
  std::lock_guard lock(queue_mu_);  // ordered before any batch the recorder thread takes
  noise_ = std::move(noise);
  sink_ = std::move(sink);
}

bool LogEventDeriver::record(const std::string& tenant_id, const std::vector<Event>& events) {
  for (std::size_t start = 0; start < events.size(); start += store::kMaxEventsPerRecord) {
    const std::size_t end = std::min(events.size(), start + store::kMaxEventsPerRecord);
    std::vector<Event> part(events.begin() + static_cast<std::ptrdiff_t>(start),
                            events.begin() + static_cast<std::ptrdiff_t>(end));
    record_calls_.fetch_add(1, std::memory_order_relaxed);
    store::RecordContext context;
    if (noise_) {
      auto decided = noise_->contextFor(tenant_id, part);
      if (!decided) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        log::warn("log-events", "reading noise rules failed (their batches are stored)",
                  {{"tenant", tenant_id}, {"error", decided.status().toString()}});
        return false;
      }
      context = std::move(*decided);
    }
    auto recorded = store_.recordEvents(tenant_id, part, context);
    if (recorded.isOk() && sink_) {
      sink_(tenant_id, storedEvents(part, *recorded));
    }
    if (!recorded.isOk()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      log::warn("log-events", "recording log events failed (their batches are stored)",
                {{"tenant", tenant_id}, {"error", recorded.status().toString()}});
      return false;
    }
    events_.fetch_add(part.size(), std::memory_order_relaxed);
  }
  return true;
}

void LogEventDeriver::recordLoop() {
  std::unique_lock lock(queue_mu_);
  for (;;) {
    queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    // Linger a little so that the batches arriving meanwhile share one transaction (one fsync)
    // instead of one each; events show up this much later.
    queue_cv_.wait_for(lock, kRecordLinger, [&] { return stopping_; });
    if (queue_.empty()) {
      return;  // stopping, and everything queued is recorded
    }
    std::deque<std::pair<std::string, std::vector<Event>>> work;
    work.swap(queue_);
    queued_events_ = 0;
    recording_ = true;
    lock.unlock();
    // Consecutive batches of one tenant share a transaction; order is kept.
    std::string tenant;
    std::vector<Event> pending;
    for (auto& [tenant_id, events] : work) {
      if (tenant_id != tenant && !pending.empty()) {
        record(tenant, pending);
        pending.clear();
      }
      tenant = tenant_id;
      std::move(events.begin(), events.end(), std::back_inserter(pending));
    }
    if (!pending.empty()) {
      record(tenant, pending);
    }
    lock.lock();
    recording_ = false;
    if (queue_.empty()) {
      idle_cv_.notify_all();
    }
  }
}

void LogEventDeriver::flush() {
  std::unique_lock lock(queue_mu_);
  idle_cv_.wait(lock, [&] { return !recorder_.joinable() || (queue_.empty() && !recording_); });
}

LogEventDeriver::~LogEventDeriver() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (recorder_.joinable()) {
    recorder_.join();
  }
}

void LogEventDeriver::onBatch(const LogBatchContext& context,
                              const wire::DecodedBatch& batch) noexcept {
  if (!options_.enabled) {
    return;
  }
  try {
    batches_.fetch_add(1, std::memory_order_relaxed);
    auto derived = derive(context, batch);
    if (!derived.isOk()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      log::warn("log-events", "deriving events of a batch failed (the batch is stored)",
                {{"tenant", context.tenant_id}, {"error", derived.status().toString()}});
      return;
    }
    if (derived->empty()) {
      return;
    }
    if (!options_.background) {
      record(context.tenant_id, *derived);
      return;
    }
    {
      std::lock_guard lock(queue_mu_);
      if (queued_events_ + derived->size() > options_.max_queued_events) {
        dropped_.fetch_add(derived->size(), std::memory_order_relaxed);
        failures_.fetch_add(1, std::memory_order_relaxed);
        log::warn("log-events", "log event queue full: a batch's events are dropped",
                  {{"tenant", context.tenant_id}});
        return;
      }
      queued_events_ += derived->size();
      queue_.emplace_back(context.tenant_id, std::move(*derived));
    }
    queue_cv_.notify_one();
  } catch (const std::exception& e) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    log::error("log-events", std::string("deriving events threw: ") + e.what());
  } catch (...) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    log::error("log-events", "deriving events threw");
  }
}

}  // namespace faultline::aggregator::events
