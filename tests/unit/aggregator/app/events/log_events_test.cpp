// Log-derived events: grouping of a batch's lines, the caps, new templates remembered in a real
// SQLite store, rate spikes with times the test chooses, the ingest hook, and tenant walls.
#include "aggregator/events/log_events.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "aggregator/ingest/log_upload.h"
#include "shared/logtemplate/miner.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using logparse::Severity;

namespace {

constexpr std::int64_t kMinuteNs = 60'000'000'000;
// 2026-11-27T00:00:00Z, a whole minute.
constexpr std::int64_t kT0 = 1'795'737'600'000'000'000;

struct Line {
  std::string source;
  std::string template_text;  // "" for a raw line
  std::vector<std::string> params;
  Severity severity = Severity::kInfo;
  std::int64_t event_ts_ns = kT0;
  std::uint64_t copies = 1;  // as markDuplicate folds repeats
};

std::unique_ptr<wire::DecodedBatch> makeBatch(const std::vector<Line>& lines,
                                              std::uint64_t seq = 1) {
  wire::BatchBuilder builder;
  for (const Line& line : lines) {
    const std::uint32_t source = builder.sourceIndex(line.source);
    wire::RecordMeta meta{source, line.event_ts_ns + 1000, false,
                          static_cast<std::uint8_t>(line.severity), line.event_ts_ns};
    std::size_t index = 0;
    if (line.template_text.empty()) {
      index = builder.addRecord(meta, line.params.empty() ? "raw line" : line.params[0]);
    } else {
      std::vector<std::string_view> params(line.params.begin(), line.params.end());
      index = builder.addTemplated(meta, logtemplate::templateId(line.template_text),
                                   line.template_text, true, params);
    }
    for (std::uint64_t i = 1; i < line.copies; ++i) {
      builder.markDuplicate(index, line.event_ts_ns + 2000);
    }
  }
  auto sealed = builder.seal({"agt_test", 1, seq, kT0}, 1);
  REQUIRE(sealed.isOk());
  auto decoded = wire::decodeBatch(*sealed);
  REQUIRE_MESSAGE(decoded.isOk(), decoded.status().toString());
  return std::move(*decoded);
}

std::string label(const events::Event& event, const std::string& key) {
  for (const auto& [name, value] : event.labels) {
    if (name == key) {
      return value;
    }
  }
  return "";
}

std::vector<const events::Event*> ofKind(const std::vector<events::Event>& events,
                                         const std::string& kind) {
  std::vector<const events::Event*> out;
  for (const events::Event& event : events) {
    if (label(event, "kind") == kind) {
      out.push_back(&event);
    }
  }
  return out;
}

struct Fixture {
  explicit Fixture(events::LogEventOptions options = {})
      : store(openStore(dir.file("db.sqlite"))), deriver(*store, options) {
    a = *store->createTenant("tenant-a", nowUnixNanos());
    b = *store->createTenant("tenant-b", nowUnixNanos());
  }
  events::LogBatchContext context(const store::Tenant& tenant) {
    return {tenant.id, "web-1", nowUnixNanos()};
  }
  std::vector<events::Event> derive(const store::Tenant& tenant, const wire::DecodedBatch& batch) {
    auto derived = deriver.derive(context(tenant), batch);
    REQUIRE_MESSAGE(derived.isOk(), derived.status().toString());
    return *derived;
  }

  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  events::LogEventDeriver deriver;
  store::Tenant a;
  store::Tenant b;
};

const std::string kTimeout = "payment <*> failed: upstream timeout after <*> ms";
const std::string kRefused = "connection to <*> refused";
const std::string kServed = "GET <*> 200 in <*> ms";

/// Rates that warm up in 5 minutes (alpha 0.2) and drop at 20% of a baseline of 10+ lines.
events::LogEventOptions dropOptions() {
  events::LogEventOptions options;
  options.rate.warmup_minutes = 5;
  options.rate.baseline_minutes = 9;
  options.rate.drop_fraction = 0.2;
  options.rate.drop_min_baseline = 10;
  return options;
}

/// One minute of service api: `served` lines of kServed and `other` lines of kTimeout (a
/// template with no lines that minute is left out of the batch).
std::unique_ptr<wire::DecodedBatch> apiMinute(int minute, std::uint64_t served, std::uint64_t other,
                                              std::uint64_t seq) {
  std::vector<Line> lines;
  if (other > 0) {
    lines.push_back(
        {"/srv/api.log", kTimeout, {"p", "1"}, Severity::kInfo, kT0 + minute * kMinuteNs, other});
  }
  if (served > 0) {
    lines.push_back(
        {"/srv/api.log", kServed, {"/x", "1"}, Severity::kInfo, kT0 + minute * kMinuteNs, served});
  }
  return makeBatch(lines, seq);
}

}  // namespace

TEST_CASE("log events: the service is the source file's base name up to its first dot") {
  CHECK(events::serviceFromSource("/var/log/api/payments.log.1") == "payments");
  CHECK(events::serviceFromSource("/var/log/nginx/error.log") == "error");
  CHECK(events::serviceFromSource("checkout") == "checkout");
  CHECK(events::serviceFromSource("/var/log/.hidden") == "unknown");
  CHECK(events::serviceFromSource("") == "unknown");
  CHECK(events::serviceFromSource("/var/log/dir/") == "unknown");
}

TEST_CASE("log events: an error storm of 100k lines is one group per template and severity") {
  std::vector<Line> lines;
  for (int i = 0; i < 50'000; ++i) {
    lines.push_back({"/var/log/payments.log",
                     kTimeout,
                     {"p" + std::to_string(i), "30000"},
                     Severity::kError,
                     kT0 + i * 1000});
  }
  // The same template at critical is its own group; repeats count by their copies.
  lines.push_back({"/var/log/payments.log", kTimeout, {"px", "1"}, Severity::kCritical, kT0, 7});
  lines.push_back({"/var/log/payments.log", kRefused, {"db:5432"}, Severity::kError, kT0, 49'999});
  lines.push_back({"/var/log/payments.log", "", {"PANIC unparsed"}, Severity::kCritical, kT0});
  lines.push_back({"/var/log/payments.log", kServed, {"/x", "3"}, Severity::kInfo, kT0});
  auto batch = makeBatch(lines);
  events::BatchLines grouped = events::groupBatchLines(*batch);
  REQUIRE(grouped.errors.size() == 4);
  std::map<std::pair<std::uint64_t, Severity>, std::uint64_t> counts;
  for (const events::LineGroup& group : grouped.errors) {
    CHECK(group.service == "payments");
    CHECK(group.source == "/var/log/payments.log");
    counts[{group.template_id, group.severity}] = group.lines;
  }
  CHECK(counts[{logtemplate::templateId(kTimeout), Severity::kError}] == 50'000);
  CHECK(counts[{logtemplate::templateId(kTimeout), Severity::kCritical}] == 7);
  CHECK(counts[{logtemplate::templateId(kRefused), Severity::kError}] == 49'999);
  CHECK(counts[{0, Severity::kCritical}] == 1);  // raw lines group under "raw"
  for (const events::LineGroup& group : grouped.errors) {
    if (group.template_id == logtemplate::templateId(kTimeout) &&
        group.severity == Severity::kError) {
      CHECK(group.first_ns == kT0);
      CHECK(group.last_ns == kT0 + 49'999 * 1000);
    }
  }
  // Three templates (raw lines have none); minute counts per template.
  CHECK(grouped.templates.size() == 3);
  std::uint64_t minute_lines = 0;
  for (const events::MinuteCount& minute : grouped.minutes) {
    minute_lines += minute.lines;
  }
  CHECK(minute_lines == 50'000 + 7 + 49'999 + 1);

  Fixture f;
  std::vector<events::Event> derived = f.derive(f.a, *batch);
  auto errors = ofKind(derived, "log_error");
  REQUIRE(errors.size() == 4);
  // Critical first, then the biggest group.
  CHECK(errors[0]->severity == Severity::kCritical);
  CHECK(errors[2]->severity == Severity::kError);
  CHECK(label(*errors[2], "lines") == "50000");
  const events::Event& storm = *errors[2];
  CHECK(storm.source == events::SourceKind::kLog);
  CHECK(storm.status == events::EventStatus::kFiring);
  CHECK(storm.service == "payments");
  CHECK(storm.host == "web-1");
  CHECK(storm.tenant_id == f.a.id);
  CHECK(storm.title == "payments: " + kTimeout);
  CHECK(storm.occurred_at_ns == kT0);
  CHECK(label(storm, "source") == "/var/log/payments.log");
  CHECK(label(storm, "template") == wire::templateIdText(logtemplate::templateId(kTimeout)));
  CHECK(storm.body.find("50000 error lines") != std::string::npos);
  CHECK(storm.raw == "payment p0 failed: upstream timeout after 30000 ms");
  CHECK(storm.fingerprint.size() == 32);
}

TEST_CASE("log events: repeats of an error template fold into one alert; new templates once") {
  Fixture f;
  auto first = makeBatch({{"/var/log/payments.log", kTimeout, {"p1", "30"}, Severity::kError},
                          {"/var/log/payments.log", kServed, {"/a", "1"}, Severity::kInfo}});
  auto second = makeBatch(
      {{"/var/log/payments.log", kTimeout, {"p2", "31"}, Severity::kError, kT0 + 5000, 3}}, 2);
  std::vector<events::Event> one = f.derive(f.a, *first);
  CHECK(ofKind(one, "log_error").size() == 1);
  auto fresh = ofKind(one, "new_template");
  REQUIRE(fresh.size() == 2);
  CHECK(fresh[0]->status == events::EventStatus::kInfo);
  CHECK(fresh[0]->severity == Severity::kInfo);
  CHECK(fresh[0]->title.rfind("New log template in payments: ", 0) == 0);
  std::vector<events::Event> two = f.derive(f.a, *second);
  REQUIRE(two.size() == 1);  // the known template is not new again
  CHECK(label(two[0], "lines") == "3");
  CHECK(two[0].fingerprint == ofKind(one, "log_error")[0]->fingerprint);

  auto recorded_one = f.store->recordEvents(f.a.id, one);
  REQUIRE(recorded_one.isOk());
  auto recorded_two = f.store->recordEvents(f.a.id, two);
  REQUIRE(recorded_two.isOk());
  CHECK((*recorded_two)[0].decision == store::NoiseDecision::kDeduplicated);
  CHECK((*recorded_two)[0].alert_count == 2);

  // Tenant B shows the same template: its own news, and A's events stay A's.
  std::vector<events::Event> theirs = f.derive(f.b, *first);
  CHECK(ofKind(theirs, "new_template").size() == 2);
  CHECK(theirs[0].fingerprint != one[0].fingerprint);
  REQUIRE(f.store->recordEvents(f.b.id, theirs).isOk());
  auto listed = f.store->queryEvents(f.a.id, {});
  REQUIRE(listed.isOk());
  CHECK(listed->size() == one.size() + two.size());
  for (const store::StoredEvent& stored : *listed) {
    CHECK(stored.event.tenant_id == f.a.id);
  }
  // Recording tenant A's events as tenant B is refused.
  CHECK(f.store->recordEvents(f.b.id, one).code() == Errc::InvalidArgument);
}

TEST_CASE("log events: a new service's first batch does not flood; folded templates counted") {
  events::LogEventOptions options;
  options.new_templates_per_service = 5;
  options.new_templates_per_batch = 8;
  Fixture f(options);
  std::vector<Line> lines;
  for (int i = 0; i < 30; ++i) {
    lines.push_back({"/srv/checkout.log",
                     "checkout step " + std::to_string(i) + " done in <*>",
                     {"5"},
                     Severity::kInfo});
  }
  for (int i = 0; i < 4; ++i) {
    lines.push_back({"/srv/search.log",
                     "search shard " + std::to_string(i) + " ready <*>",
                     {"ok"},
                     Severity::kInfo});
  }
  std::vector<events::Event> derived = f.derive(f.a, *makeBatch(lines));
  std::map<std::string, int> shown;
  for (const events::Event* event : ofKind(derived, "new_template")) {
    ++shown[event->service];
  }
  CHECK(shown["checkout"] == 5);  // the per-service cap
  CHECK(shown["search"] == 3);    // the per-batch cap (8) took the rest
  auto folded = ofKind(derived, "new_templates_folded");
  REQUIRE(folded.size() == 2);
  std::map<std::string, std::string> folded_by_service;
  for (const events::Event* event : folded) {
    folded_by_service[event->service] = label(*event, "folded");
  }
  CHECK(folded_by_service["checkout"] == "25");
  CHECK(folded_by_service["search"] == "1");
  CHECK(f.deriver.stats().folded_templates == 26);
  // Every one was remembered: none is new in the next batch.
  CHECK(ofKind(f.derive(f.a, *makeBatch(lines, 2)), "new_template").empty());
}

TEST_CASE("log events: at most max_events_per_batch events; the rest are counted") {
  events::LogEventOptions options;
  options.max_events_per_batch = 10;
  Fixture f(options);
  std::vector<Line> lines;
  for (int i = 0; i < 40; ++i) {
    lines.push_back(
        {"/srv/api.log", "error " + std::to_string(i) + " at <*>", {"x"}, Severity::kError});
  }
  std::vector<events::Event> derived = f.derive(f.a, *makeBatch(lines));
  CHECK(derived.size() == 10);
  CHECK(ofKind(derived, "log_error").size() == 10);
  CHECK(f.deriver.stats().dropped_events == 30 + 1);  // 30 errors and the templates' summary
}

TEST_CASE("log events: a rate spike fires against the baseline and resolves when it falls") {
  events::LogEventOptions options;
  options.rate.factor = 5;
  options.rate.min_count = 50;
  options.rate.warmup_minutes = 5;
  options.rate.baseline_minutes = 9;
  Fixture f(options);
  std::uint64_t seq = 0;
  auto minuteOf = [&](int minute, std::uint64_t lines) {
    return makeBatch(
        {{"/srv/api.log", kServed, {"/x", "1"}, Severity::kInfo, kT0 + minute * kMinuteNs, lines}},
        ++seq);
  };
  std::vector<events::Event> all;
  for (int m = 0; m < 10; ++m) {
    auto derived = f.derive(f.a, *minuteOf(m, 20));
    CHECK(ofKind(derived, "rate_spike").empty());
    all.insert(all.end(), derived.begin(), derived.end());
  }
  auto spike = f.derive(f.a, *minuteOf(10, 400));
  auto fired = ofKind(spike, "rate_spike");
  REQUIRE(fired.size() == 1);
  CHECK(fired[0]->status == events::EventStatus::kFiring);
  CHECK(fired[0]->severity == Severity::kWarn);
  CHECK(label(*fired[0], "rate_per_minute") == "400");
  CHECK(label(*fired[0], "baseline_per_minute") == "20.0");
  CHECK(fired[0]->occurred_at_ns == kT0 + 10 * kMinuteNs);
  CHECK(fired[0]->title == "Log rate spike in api: " + kServed);
  // Still high the next minute: nothing new. Then the rate stops: the spike resolves.
  CHECK(ofKind(f.derive(f.a, *minuteOf(11, 400)), "rate_spike").empty());
  auto other = makeBatch(
      {{"/srv/api.log", kTimeout, {"p", "1"}, Severity::kInfo, kT0 + 14 * kMinuteNs}}, ++seq);
  auto calm = f.derive(f.a, *other);
  auto resolved = ofKind(calm, "rate_spike");
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0]->status == events::EventStatus::kResolved);
  CHECK(resolved[0]->fingerprint == fired[0]->fingerprint);
  CHECK(resolved[0]->title == "Log rate back to normal in api: " + kServed);

  // In the store the two pair up: a new alert, then resolved.
  auto opened = f.store->recordEvents(f.a.id, {*fired[0]});
  REQUIRE(opened.isOk());
  CHECK((*opened)[0].decision == store::NoiseDecision::kNew);
  auto closed = f.store->recordEvents(f.a.id, {*resolved[0]});
  REQUIRE(closed.isOk());
  CHECK((*closed)[0].decision == store::NoiseDecision::kResolved);

  // Another tenant's batches never close or open A's rates.
  CHECK(ofKind(f.derive(f.b, *minuteOf(12, 5000)), "rate_spike").empty());
}

TEST_CASE("log events: a template that goes quiet while its service logs is a rate drop") {
  const events::LogEventOptions options = dropOptions();
  Fixture f(options);
  std::uint64_t seq = 0;
  // Each minute: `served` lines of one template and 30 of another, in service api.
  auto minuteOf = [&](int minute, std::uint64_t served) {
    return apiMinute(minute, served, 30, ++seq);
  };
  std::vector<const events::Event*> drops;
  std::vector<std::vector<events::Event>> kept;
  auto feed = [&](int minute, std::uint64_t served) {
    kept.push_back(f.derive(f.a, *minuteOf(minute, served)));
    return ofKind(kept.back(), "rate_drop");
  };
  for (int m = 0; m < 10; ++m) {
    CHECK(feed(m, 20).empty());  // steady: no drop
  }
  // The served template stops; the other one goes on. A minute of slack lets other pods'
  // lines arrive, so minute 10 is judged once the service reached minute 12.
  CHECK(feed(10, 0).empty());
  CHECK(feed(11, 0).empty());
  drops = feed(12, 0);
  REQUIRE(drops.size() == 1);
  CHECK(drops[0]->status == events::EventStatus::kFiring);
  CHECK(drops[0]->severity == Severity::kWarn);
  CHECK(drops[0]->service == "api");
  CHECK(drops[0]->occurred_at_ns == kT0 + 10 * kMinuteNs);
  CHECK(label(*drops[0], "rate_per_minute") == "0");
  CHECK(label(*drops[0], "baseline_per_minute") == "20.0");
  // The text comes from the tenant's dictionary, which this fixture (derive only) never filled.
  CHECK(drops[0]->title.rfind("Log rate drop in api: ", 0) == 0);
  CHECK(!label(*drops[0], "template").empty());
  const std::string fingerprint = drops[0]->fingerprint;
  CHECK(feed(13, 0).empty());  // still quiet: nothing new
  // Back at its old level: once that minute closes, the drop resolves.
  CHECK(feed(14, 20).empty());
  auto restored = feed(15, 20);
  REQUIRE(restored.size() == 1);
  CHECK(restored[0]->status == events::EventStatus::kResolved);
  CHECK(restored[0]->fingerprint == fingerprint);
  CHECK(restored[0]->occurred_at_ns == kT0 + 14 * kMinuteNs);
  CHECK(restored[0]->title == "Log rate restored in api: " + kServed);  // text in this batch
  // A whole service going quiet is not a drop of its templates (nothing to compare against),
  // nor is another tenant's traffic.
  CHECK(ofKind(f.derive(f.b, *minuteOf(30, 0)), "rate_drop").empty());
  // A sparse template (baseline under drop_min_baseline) never drops.
  Fixture sparse(options);
  for (int m = 0; m < 10; ++m) {
    auto batch = minuteOf(m, 3);
    CHECK(ofKind(sparse.derive(sparse.a, *batch), "rate_drop").empty());
  }
  for (int m = 10; m < 14; ++m) {
    auto batch = minuteOf(m, 0);
    CHECK(ofKind(sparse.derive(sparse.a, *batch), "rate_drop").empty());
  }
}

TEST_CASE("log events: a service going quiet as a whole drops none of its templates") {
  const events::LogEventOptions options = dropOptions();
  std::uint64_t seq = 0;
  std::vector<std::vector<events::Event>> kept;  // what the returned pointers point into
  auto drops = [&](Fixture& f, int minute, std::uint64_t served, std::uint64_t other) {
    kept.push_back(f.derive(f.a, *apiMinute(minute, served, other, ++seq)));
    return ofKind(kept.back(), "rate_drop");
  };
  // Ten steady minutes: the baselines warm up (20 and 30 lines a minute, the service 50).
  auto steady = [&](Fixture& f) {
    for (int m = 0; m < 10; ++m) {
      CHECK(drops(f, m, 20, 30).empty());
    }
  };
  SUBCASE("a gap in collection: minutes with no line of the service at all") {
    Fixture f(options);
    steady(f);
    // Nothing at all in minutes 10 to 12, then both templates as before.
    for (int m = 13; m < 20; ++m) {
      CHECK(drops(f, m, 20, 30).empty());
    }
  }
  SUBCASE("a dip in traffic: every template of the service down alike") {
    Fixture f(options);
    steady(f);
    for (int m = 10; m < 13; ++m) {
      CHECK(drops(f, m, 2, 3).empty());
    }
    CHECK(drops(f, 13, 20, 30).empty());
    CHECK(drops(f, 14, 20, 30).empty());
  }
  SUBCASE("after a gap, the template missing while the service logs is a drop") {
    Fixture f(options);
    steady(f);
    // A gap in minutes 10 and 11; from 12 on the service logs, without the served template.
    CHECK(drops(f, 12, 0, 30).empty());
    CHECK(drops(f, 13, 0, 30).empty());
    const auto found = drops(f, 14, 0, 30);
    REQUIRE(found.size() == 1);
    CHECK(found[0]->status == events::EventStatus::kFiring);
    CHECK(found[0]->occurred_at_ns == kT0 + 12 * kMinuteNs);  // not the gap's first minute
  }
}

TEST_CASE("log events: onBatch records, and failures are counted, never thrown") {
  Fixture f;
  auto batch = makeBatch({{"/srv/api.log", kTimeout, {"p", "1"}, Severity::kError}});
  f.deriver.onBatch(f.context(f.a), *batch);
  f.deriver.flush();
  CHECK(f.deriver.stats().batches == 1);
  CHECK(f.deriver.stats().events == 2);  // the error and its new template
  CHECK(f.deriver.stats().failures == 0);
  CHECK(f.store->eventStats(f.a.id)->events == 2);
  // A tenant the store does not know: the derivation fails, quietly.
  f.deriver.onBatch({"tnt_ghost", "", nowUnixNanos()}, *batch);
  f.deriver.flush();
  CHECK(f.deriver.stats().failures == 1);
  // Turned off: nothing happens at all.
  events::LogEventOptions off;
  off.enabled = false;
  events::LogEventDeriver disabled(*f.store, off);
  disabled.onBatch(f.context(f.a), *batch);
  CHECK(disabled.stats().batches == 0);
  CHECK(f.store->eventStats(f.a.id)->events == 2);
}

TEST_CASE("log events: agent ingest derives after the commit; a resend derives nothing") {
  TempDir dir;
  auto store = openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", nowUnixNanos());
  REQUIRE(tenant.isOk());
  events::LogEventDeriver deriver(*store, {});
  ingest::AgentApiOptions options;
  options.log_events = &deriver;
  ingest::AgentApi api(*store, options);
  EnrolledAgent agent = enrollThroughApi(*store, api, tenant->id);

  wire::BatchBuilder builder;
  const std::uint32_t source = builder.sourceIndex("/var/log/payments.log");
  std::vector<std::string_view> params = {"p9", "30"};
  builder.addTemplated({source, kT0, false, static_cast<std::uint8_t>(Severity::kError), kT0},
                       logtemplate::templateId(kTimeout), kTimeout, true, params);
  auto sealed = builder.seal({agent.agent_id, 1, 1, kT0}, 1);
  REQUIRE(sealed.isOk());
  REQUIRE(api.handleIngest(ingestRequest(agent.secret, *sealed)).status == 200);
  deriver.flush();
  auto listed = store->queryEvents(tenant->id, {});
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 2);
  for (const store::StoredEvent& stored : *listed) {
    CHECK(stored.event.source == events::SourceKind::kLog);
    CHECK(stored.event.host == "host1");  // the enrolled hostname
    CHECK(stored.decision == store::NoiseDecision::kNew);
  }
  REQUIRE(api.handleIngest(ingestRequest(agent.secret, *sealed)).status == 200);
  deriver.flush();
  CHECK(store->queryEvents(tenant->id, {})->size() == 2);
}

TEST_CASE("log events: background and inline recording store the same events, in order") {
  for (bool background : {true, false}) {
    CAPTURE(background);
    events::LogEventOptions options;
    options.background = background;
    Fixture f(options);
    const int kBatches = 20;
    for (int i = 0; i < kBatches; ++i) {
      const store::Tenant& tenant = i % 2 == 0 ? f.a : f.b;
      f.deriver.onBatch(f.context(tenant), *makeBatch({{"/srv/api.log",
                                                        "failure " + std::to_string(i) + " in <*>",
                                                        {"x"},
                                                        Severity::kError,
                                                        kT0 + i}},
                                                      static_cast<std::uint64_t>(i + 1)));
    }
    f.deriver.flush();
    const auto stats = f.deriver.stats();
    CHECK(stats.failures == 0);
    CHECK(stats.events == 2 * kBatches);  // an error and its new template each
    CHECK(stats.record_calls <= static_cast<std::uint64_t>(kBatches));
    for (const store::Tenant* tenant : {&f.a, &f.b}) {
      store::EventQuery query;
      query.limit = 100;
      auto listed = f.store->queryEvents(tenant->id, query);
      REQUIRE(listed.isOk());
      CHECK(listed->size() == kBatches);
      for (const store::StoredEvent& stored : *listed) {
        CHECK(stored.event.tenant_id == tenant->id);
      }
    }
  }
}

TEST_CASE("log events: a full background queue drops a batch's events and counts them") {
  events::LogEventOptions options;
  options.max_queued_events = 0;  // nothing fits
  Fixture f(options);
  f.deriver.onBatch(f.context(f.a),
                    *makeBatch({{"/srv/api.log", kTimeout, {"p", "1"}, Severity::kError}}));
  f.deriver.flush();
  CHECK(f.deriver.stats().dropped_events == 2);
  CHECK(f.deriver.stats().failures == 1);
  CHECK(f.store->eventStats(f.a.id)->events == 0);
}

/// A store with tenant "acme" and a log uploader whose batches go through a deriver.
struct UploadSetup {
  UploadSetup()
      : store(openStore(dir.file("db.sqlite"))),
        tenant(store->createTenant("acme", nowUnixNanos())),
        deriver(*store, {}),
        uploader(ingest::LogUploader::create(*store, uploadOptions(deriver))) {
    REQUIRE(tenant.isOk());
    REQUIRE(uploader.isOk());
  }
  static ingest::LogUploadOptions uploadOptions(events::LogEventDeriver& deriver) {
    ingest::LogUploadOptions options;
    options.log_events = &deriver;
    return options;
  }
  TempDir dir;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  Result<store::Tenant> tenant;
  events::LogEventDeriver deriver;
  Result<std::unique_ptr<ingest::LogUploader>> uploader;
};

TEST_CASE("log events: a log upload derives events as agent data does (host empty)") {
  UploadSetup setup;
  auto& store = setup.store;
  auto& tenant = setup.tenant;
  auto& deriver = setup.deriver;
  auto& uploader = setup.uploader;
  std::string body;
  for (int i = 0; i < 40; ++i) {
    body += "2026-11-26T10:00:0" + std::to_string(i % 10) + "Z ERROR order " + std::to_string(i) +
            " rejected by the payment gateway\n";
  }
  ingest::UploadRequest request;
  request.tenant_id = tenant->id;
  request.source = "orders.log";
  request.body = body;
  auto uploaded = (*uploader)->upload(request);
  REQUIRE_MESSAGE(uploaded.isOk(), uploaded.status().toString());
  deriver.flush();
  auto listed = store->queryEvents(tenant->id, {});
  REQUIRE(listed.isOk());
  std::uint64_t error_lines = 0;
  for (const store::StoredEvent& stored : *listed) {
    CHECK(stored.event.service == "orders");
    CHECK(stored.event.host.empty());
    if (label(stored.event, "kind") == "log_error") {
      error_lines += std::stoull(label(stored.event, "lines"));
    }
  }
  CHECK(error_lines == 40);
  // The same upload again is a duplicate: nothing more is derived.
  const std::size_t before = listed->size();
  REQUIRE((*uploader)->upload(request).isOk());
  deriver.flush();
  CHECK(store->queryEvents(tenant->id, {})->size() == before);
}

TEST_CASE("log events: titles show a docker line's message, not its json-file wrapper") {
  UploadSetup setup;
  auto& store = setup.store;
  auto& tenant = setup.tenant;
  auto& deriver = setup.deriver;
  auto& uploader = setup.uploader;
  std::string body;
  for (int i = 0; i < 20; ++i) {
    body += R"({"log":"10:00:0)" + std::to_string(i % 10) + R"(.123 ERROR order )" +
            std::to_string(i) + R"( rejected by the payment gateway\n","stream":"stdout",)" +
            R"("time":"2026-11-26T10:00:0)" + std::to_string(i % 10) + R"(.5Z"})" + "\n";
  }
  ingest::UploadRequest request;
  request.tenant_id = tenant->id;
  request.source = "orders.log";
  request.format = "docker";
  request.body = body;
  auto uploaded = (*uploader)->upload(request);
  REQUIRE_MESSAGE(uploaded.isOk(), uploaded.status().toString());
  deriver.flush();
  auto listed = store->queryEvents(tenant->id, {});
  REQUIRE(listed.isOk());
  std::size_t checked = 0;
  for (const store::StoredEvent& stored : *listed) {
    const std::string kind = label(stored.event, "kind");
    if (kind != "log_error" && kind != "new_template") {
      continue;
    }
    CAPTURE(stored.event.title);
    CHECK(stored.event.title.find("{\"log\"") == std::string::npos);
    // The sample in the body is still the whole line as logged.
    CHECK(stored.event.body.find(R"(Sample: {"log":"10:00:00.123 ERROR order 0 rejected)") !=
          std::string::npos);
    CHECK(stored.event.title.find("\"stream\"") == std::string::npos);
    CHECK(stored.event.title.find("ERROR order <*> rejected by the payment gateway") !=
          std::string::npos);
    ++checked;
  }
  CHECK(checked >= 2);  // the error group and the new template
}

TEST_CASE("log events: suppression rules decide them and the live sink gets them") {
  Fixture f;
  store::NoiseRule rule{"nr_quiet_api",
                        f.a.id,
                        "suppression",
                        "quiet api",
                        R"({"name":"quiet api","matchers":[{"name":"kind","value":"log_error"},)"
                        R"({"name":"service","value":"api"}]})",
                        "test",
                        nowUnixNanos(),
                        0};
  REQUIRE(f.store->createNoiseRule(rule).isOk());
  std::vector<store::StoredEvent> published;
  std::mutex published_mu;
  f.deriver.setRecordHooks(
      std::make_shared<events::NoisePolicies>(*f.store, std::chrono::seconds(5),
                                              store::FlapPolicy{}),
      [&](std::string_view tenant_id, const std::vector<store::StoredEvent>& recorded) {
        CHECK(tenant_id == f.a.id);
        std::lock_guard lock(published_mu);
        published.insert(published.end(), recorded.begin(), recorded.end());
      });
  auto batch = makeBatch({{"/srv/api.log", kTimeout, {"p", "1"}, Severity::kError}});
  f.deriver.onBatch(f.context(f.a), *batch);
  f.deriver.flush();
  REQUIRE(f.deriver.stats().failures == 0);
  std::lock_guard lock(published_mu);
  REQUIRE(published.size() == 2);  // the error and its new template
  for (const store::StoredEvent& stored : published) {
    const bool error = label(stored.event, "kind") == "log_error";
    CHECK(stored.decision ==
          (error ? store::NoiseDecision::kSuppressed : store::NoiseDecision::kNew));
    CHECK(stored.rule_id == (error ? "nr_quiet_api" : ""));
  }
  store::EventQuery query;
  query.decision = "suppressed";
  CHECK(f.store->queryEvents(f.a.id, query)->size() == 1);
}
