// Correlation and RCA v1 as pure functions: event time decides (order does not), each reason,
// bridging merges, thresholds, no reopen of resolved incidents, auto-resolve, and a ranking that
// puts the upstream cause first with its evidence.
#include "aggregator/incidents/correlator.h"

#include <doctest/doctest.h>

#include <map>

#include "aggregator/incidents/rca.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::incidents;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

/// A small call graph: gateway -> orders -> payments -> db, gateway -> search.
class TestGraph : public GraphView {
 public:
  TestGraph() {
    edges_ = {{"gateway", {"orders", "search"}}, {"orders", {"payments"}}, {"payments", {"db"}}};
  }
  std::int64_t version() const override { return 7; }
  std::vector<std::string> callees(const std::string& service) const override {
    auto it = edges_.find(service);
    return it == edges_.end() ? std::vector<std::string>{} : it->second;
  }
  std::vector<std::string> path(const std::string& from, const std::string& to,
                                int max_hops) const override {
    // Breadth first over both directions.
    std::map<std::string, std::string> parent = {{from, ""}};
    std::vector<std::string> frontier = {from};
    for (int hop = 0; hop < max_hops && parent.count(to) == 0; ++hop) {
      std::vector<std::string> next;
      for (const std::string& at : frontier) {
        std::vector<std::string> around = callees(at);
        for (const auto& [caller, called] : edges_) {
          for (const std::string& c : called) {
            if (c == at) {
              around.push_back(caller);
            }
          }
        }
        for (const std::string& n : around) {
          if (parent.emplace(n, at).second) {
            next.push_back(n);
          }
        }
      }
      frontier = next;
    }
    if (parent.count(to) == 0) {
      return {};
    }
    std::vector<std::string> out;
    for (std::string at = to; !at.empty(); at = parent[at]) {
      out.insert(out.begin(), at);
    }
    return out;
  }
  bool dependsOn(const std::string& caller, const std::string& callee,
                 int max_hops) const override {
    std::vector<std::string> frontier = {caller};
    for (int hop = 0; hop < max_hops; ++hop) {
      std::vector<std::string> next;
      for (const std::string& at : frontier) {
        for (const std::string& c : callees(at)) {
          if (c == callee) {
            return true;
          }
          next.push_back(c);
        }
      }
      frontier = next;
    }
    return false;
  }

 private:
  std::map<std::string, std::vector<std::string>> edges_;
};

Signal signal(const std::string& id, const std::string& service, std::int64_t at_s,
              const std::string& fingerprint = "") {
  Signal s;
  s.event_id = id;
  s.service = service;
  s.fingerprint = fingerprint.empty() ? "fp-" + id : fingerprint;
  s.severity = events::Severity::kCritical;
  s.status = events::EventStatus::kFiring;
  s.source = events::SourceKind::kAlertmanager;
  s.decision = "new";
  s.title = "alert " + service;
  s.occurred_at_ns = at_s * kSecond;
  return s;
}

TenantCorrelator correlator(CorrelationRules rules = {}) {
  auto counter = std::make_shared<int>(0);
  return TenantCorrelator("tnt_a", std::move(rules),
                          [counter] { return "inc_" + std::to_string(++*counter); });
}

}  // namespace

TEST_CASE("correlation: event time decides, in any arrival order") {
  for (bool reversed : {false, true}) {
    TenantCorrelator c = correlator();
    std::vector<Signal> signals = {signal("e1", "db", 0), signal("e2", "db", 120),
                                   signal("e3", "db", 3600)};
    if (reversed) {
      std::reverse(signals.begin(), signals.end());
    }
    std::map<std::string, std::string> incident_of;
    for (const Signal& s : signals) {
      CorrelationStep step = c.add(s, 1);
      REQUIRE(step.outcome == CorrelationStep::Outcome::kJoined);
      incident_of[s.event_id] = step.incident_id;
    }
    CAPTURE(reversed);
    CHECK(incident_of["e1"] == incident_of["e2"]);
    CHECK(incident_of["e1"] != incident_of["e3"]);
    CHECK(c.incidents().size() == 2);
  }
}

TEST_CASE("correlation: reasons, strongest first") {
  CorrelationRules rules;
  rules.group_by = {"cluster"};
  TenantCorrelator c = correlator(rules);
  c.setGraph(std::make_shared<TestGraph>());
  CorrelationStep opened = c.add(signal("e1", "db", 0, "fp-db"), 1);
  CHECK(opened.opened);
  CHECK(opened.reason.rule == "opened");
  CHECK(c.add(signal("e2", "db", 10, "fp-db"), 1).reason.rule == "fingerprint");
  CHECK(c.add(signal("e3", "db", 20), 1).reason.rule == "service");
  CorrelationStep graph = c.add(signal("e4", "orders", 30), 1);
  CHECK(graph.reason.rule == "graph");
  CHECK(graph.reason.path == std::vector<std::string>{"orders", "payments", "db"});
  Signal grouped = signal("e5", "billing", 40);
  grouped.labels = {{"cluster", "eu"}};
  // Nothing to join by key yet: billing is not in the graph, and the titles differ.
  grouped.title = "quota exceeded for tenant";
  CorrelationStep alone = c.add(grouped, 1);
  CHECK(alone.opened);
  Signal same_cluster = signal("e6", "mail", 45);
  same_cluster.labels = {{"cluster", "eu"}};
  same_cluster.title = "smtp relay refused";
  CorrelationStep by_key = c.add(same_cluster, 1);
  CHECK(by_key.reason.rule == "group_key");
  CHECK(by_key.reason.key == "cluster=eu");
  CHECK(by_key.incident_id == alone.incident_id);
  Signal similar = signal("e7", "cron", 50);
  similar.title = "quota exceeded for tenant acme";
  CorrelationStep by_text = c.add(similar, 1);
  CHECK(by_text.reason.rule == "similarity");
  CHECK(by_text.reason.similarity >= 0.6);
}

TEST_CASE("correlation: a bridging event merges, a graph match alone does not") {
  TenantCorrelator c = correlator();
  c.setGraph(std::make_shared<TestGraph>());
  std::string db = c.add(signal("e1", "db", 0), 1).incident_id;
  std::string search = c.add(signal("e2", "search", 5), 1).incident_id;  // 3 hops from db
  CHECK(db != search);
  Signal bridge = signal("e3", "db", 10, "fp-e2");  // db's service and search's alert
  CorrelationStep step = c.add(bridge, 2);
  CHECK(step.incident_id == db);
  CHECK(step.merged == std::vector<std::string>{search});
  CHECK(c.find(search)->status == IncidentStatus::kMerged);
  CHECK(c.find(search)->merged_into == db);
  CHECK(c.find(db)->services.count("search") == 1);
  // A graph-only match joins the best incident and merges nothing.
  std::string gateway = c.add(signal("e4", "gateway", 3000), 1).incident_id;
  CorrelationStep orders = c.add(signal("e5", "orders", 3001), 1);
  CHECK(orders.incident_id == gateway);
  CHECK(orders.merged.empty());
}

TEST_CASE("correlation: time-based grouping keeps an incident within max_span") {
  CorrelationRules rules;
  rules.max_span_ns = 600 * kSecond;  // 10 minutes
  TenantCorrelator c = correlator(rules);
  // Something fires every 4 minutes on db: within the 5-minute window of the last event each
  // time, so without a span limit it would all be one incident.
  std::string first = c.add(signal("e0", "db", 0), 1).incident_id;
  CHECK(c.add(signal("e1", "db", 240), 1).incident_id == first);
  CHECK(c.add(signal("e2", "db", 480), 1).incident_id == first);
  CorrelationStep late = c.add(signal("e3", "db", 720), 1);  // 12 minutes after the first
  CHECK(late.opened);
  CHECK(late.incident_id != first);
  // The same alert firing again still joins its incident past the span; it also matches the
  // later incident by service, but the two together would outgrow the span: no merge.
  CorrelationStep again = c.add(signal("e4", "db", 700, "fp-e0"), 1);
  CHECK(again.incident_id == first);
  CHECK(again.reason.rule == "fingerprint");
  CHECK(again.merged.empty());
  CHECK(c.find(late.incident_id)->status == IncidentStatus::kTriggered);
  // Once that alert resolved, its firing again is a new occurrence, held to the span like any.
  Signal resolved = signal("e5", "db", 710, "fp-e0");
  resolved.status = events::EventStatus::kResolved;
  CHECK(c.add(resolved, 1).incident_id == first);
  CorrelationStep refired = c.add(signal("e6", "db", 720, "fp-e0"), 1);
  CHECK(refired.incident_id == late.incident_id);
  CHECK(refired.reason.rule == "service");
  // No limit: one incident.
  rules.max_span_ns = 0;
  TenantCorrelator unlimited = correlator(rules);
  std::string only = unlimited.add(signal("e0", "db", 0), 1).incident_id;
  for (int i = 1; i <= 5; ++i) {
    CHECK(unlimited.add(signal("e" + std::to_string(i), "db", 240 * i), 1).incident_id == only);
  }
}

TEST_CASE("correlation: threshold, resolve, no reopen, low severity joins only") {
  CorrelationRules rules;
  rules.min_events = 3;
  TenantCorrelator c = correlator(rules);
  CHECK(c.add(signal("e1", "db", 0), 1).outcome == CorrelationStep::Outcome::kPending);
  CHECK(c.add(signal("e2", "db", 1), 1).outcome == CorrelationStep::Outcome::kPending);
  CorrelationStep third = c.add(signal("e3", "db", 2), 1);
  REQUIRE(third.opened);
  CHECK(third.promoted.size() == 2);
  CHECK(c.find(third.incident_id)->event_count == 3);

  // Wall time well after the events: the event clock moves with them (an event only moves it
  // up to kMaxClockAheadNs past the wall clock).
  auto wall = [](std::int64_t n) { return 86'400 * kSecond + n; };
  TenantCorrelator r = correlator();
  std::string id = r.add(signal("a1", "api", 0, "fp-api"), wall(1)).incident_id;
  Signal resolved = signal("a2", "api", 60, "fp-api");
  resolved.status = events::EventStatus::kResolved;
  r.add(resolved, wall(2));
  CHECK(r.sweepResolved(wall(2)).empty());  // not before a quiet window
  CHECK(r.find(id)->status == IncidentStatus::kTriggered);
  r.add(signal("x1", "elsewhere", 60 + 301), wall(3));  // event time moves on past the window
  CHECK(r.sweepResolved(wall(3)) == std::vector<std::string>{id});
  CHECK(r.find(id)->status == IncidentStatus::kResolved);
  CorrelationStep later = r.add(signal("a3", "api", 90), wall(3));
  CHECK(later.opened);
  CHECK(later.incident_id != id);
  Signal info = signal("a4", "worker", 5000);
  info.severity = events::Severity::kInfo;
  CHECK(r.add(info, wall(4)).outcome == CorrelationStep::Outcome::kIgnored);
  Signal muted = signal("a5", "api", 95);
  muted.decision = "suppressed";
  CHECK(r.add(muted, wall(4)).outcome == CorrelationStep::Outcome::kIgnored);
  CHECK(r.setStatus(later.incident_id, IncidentStatus::kClosed, wall(5)).isOk());
  CHECK(r.setStatus(later.incident_id, IncidentStatus::kTriggered, wall(6)).code() ==
        Errc::FailedPrecondition);

  CorrelationRules reopen;
  reopen.reopen_resolved = true;
  TenantCorrelator o = correlator(reopen);
  std::string first = o.add(signal("b1", "api", 0, "fp-b"), wall(1)).incident_id;
  Signal done = signal("b2", "api", 30, "fp-b");
  done.status = events::EventStatus::kResolved;
  o.add(done, wall(2));
  o.add(signal("y1", "elsewhere", 30 + 301), wall(2));
  CHECK(o.sweepResolved(wall(2)).size() == 1);
  CorrelationStep again = o.add(signal("b3", "api", 60), wall(3));
  CHECK(again.reopened);
  CHECK(again.incident_id == first);
}

TEST_CASE("correlation: a transient alert joins an incident but never opens one") {
  TenantCorrelator c = correlator();
  Signal transient = signal("t1", "db", 0);
  transient.decision = "transient";
  CHECK(c.add(transient, 1).outcome == CorrelationStep::Outcome::kIgnored);
  CHECK(c.incidents().empty());
  // With min_events, it does not start a pending group either.
  CorrelationRules threshold;
  threshold.min_events = 2;
  TenantCorrelator p = correlator(threshold);
  CHECK(p.add(transient, 1).outcome == CorrelationStep::Outcome::kIgnored);
  CHECK(p.add(signal("p1", "db", 1), 1).outcome == CorrelationStep::Outcome::kPending);
  // Once an incident is open nearby, it joins like any event (here: same service).
  CorrelationStep opened = c.add(signal("e1", "db", 10), 1);
  REQUIRE(opened.opened);
  Signal later = signal("t2", "db", 20, "fp-t1");
  later.decision = "transient";
  CorrelationStep joined = c.add(later, 1);
  CHECK(joined.outcome == CorrelationStep::Outcome::kJoined);
  CHECK(joined.incident_id == opened.incident_id);
  CHECK(joined.reason.rule == "service");
  CHECK(c.incidents().size() == 1);
  CHECK(c.pausedCount() == 0);  // no pause set: a transient firing alone is dropped
}

TEST_CASE("correlation: a transient alert still firing a pause later opens an incident") {
  // Wall time after the events: event time is what the pause is measured in.
  auto wall = [](std::int64_t n) { return 86'400 * kSecond + n; };
  TenantCorrelator c = correlator();
  c.setTransientPause(300 * kSecond);
  Signal burst = signal("t1", "db", 0, "fp-burst");
  burst.decision = "transient";
  CHECK(c.add(burst, wall(1)).outcome == CorrelationStep::Outcome::kIgnored);
  Signal repeat = signal("t2", "db", 100, "fp-burst");
  repeat.decision = "transient";
  c.add(repeat, wall(1));
  CHECK(c.pausedCount() == 1);
  // Event time moves on (an unrelated service), but not yet a pause past the firing.
  c.add(signal("x1", "elsewhere", 299), wall(1));
  CHECK(c.promotePaused(wall(2)).empty());
  c.add(signal("x2", "elsewhere", 300), wall(1));
  std::vector<TenantCorrelator::Promotion> promoted = c.promotePaused(wall(3));
  REQUIRE(promoted.size() == 1);
  CHECK(promoted[0].signal.event_id == "t1");  // the first firing, with its own time
  CHECK(promoted[0].step.opened);
  CHECK(promoted[0].step.reason.rule == "opened");
  const Incident* opened = c.find(promoted[0].step.incident_id);
  REQUIRE(opened != nullptr);
  CHECK(opened->first_ns == 0);
  CHECK(opened->fingerprints.count("fp-burst") == 1);
  CHECK(c.pausedCount() == 0);

  // One that resolves by itself within the pause never opens anything.
  Signal blip = signal("t3", "search", 400, "fp-blip");
  blip.decision = "transient";
  c.add(blip, wall(4));
  Signal gone = signal("t4", "search", 430, "fp-blip");
  gone.status = events::EventStatus::kResolved;
  c.add(gone, wall(4));
  CHECK(c.pausedCount() == 0);
  c.add(signal("x3", "elsewhere", 2000), wall(5));
  CHECK(c.promotePaused(wall(5)).empty());
  // Nor does one whose alert joined an incident meanwhile (a repeat that is no longer
  // transient joins or opens through the normal path).
  Signal quiet = signal("t5", "payments", 3000, "fp-quiet");
  quiet.decision = "transient";
  c.add(quiet, wall(6));
  CHECK(c.pausedCount() == 1);
  CorrelationStep normal = c.add(signal("t6", "payments", 3310, "fp-quiet"), wall(6));
  CHECK(normal.opened);
  CHECK(c.pausedCount() == 0);
  CHECK(c.promotePaused(wall(7)).empty());
}

TEST_CASE("correlation: transient firings read back at a restart wait again") {
  auto wall = [](std::int64_t n) { return 86'400 * kSecond + n; };
  // Before the restart: one firing joined an incident (service db), another waited.
  TenantCorrelator before = correlator();
  before.setTransientPause(300 * kSecond);
  before.add(signal("e1", "db", 0), wall(1));
  Signal joined = signal("t1", "db", 10, "fp-db");
  joined.decision = "transient";
  REQUIRE(before.add(joined, wall(1)).outcome == CorrelationStep::Outcome::kJoined);
  Signal waiting = signal("t2", "cache", 20, "fp-cache");
  waiting.decision = "transient";
  REQUIRE(before.add(waiting, wall(1)).outcome == CorrelationStep::Outcome::kIgnored);
  REQUIRE(before.pausedCount() == 1);

  // A new process adopts the stored incident, then gets the stored transient firings back.
  TenantCorrelator after = correlator();
  after.setTransientPause(300 * kSecond);
  REQUIRE(before.incidents().size() == 1);
  after.adopt(*before.incidents()[0], wall(2));
  CHECK_FALSE(after.restorePaused(joined, wall(2)));  // it is in the adopted incident
  Signal repeat = signal("t3", "cache", 40, "fp-cache");
  repeat.decision = "transient";
  CHECK(after.restorePaused(repeat, wall(2)));   // read newest first...
  CHECK(after.restorePaused(waiting, wall(2)));  // ...the first firing's time is kept
  CHECK(after.pausedCount() == 1);
  CHECK_FALSE(after.restorePaused(signal("n1", "cache", 30, "fp-other"), wall(2)));  // may open
  after.add(signal("x1", "elsewhere", 330), wall(3));
  std::vector<TenantCorrelator::Promotion> promoted = after.promotePaused(wall(3));
  REQUIRE(promoted.size() == 1);
  CHECK(promoted[0].signal.event_id == "t2");
  CHECK(promoted[0].step.opened);
  // Without a pause, nothing waits.
  TenantCorrelator off = correlator();
  CHECK_FALSE(off.restorePaused(waiting, wall(2)));
  CHECK(off.pausedCount() == 0);
}

TEST_CASE("correlation: an event dated far ahead of the wall clock does not resolve quiet incidents") {
  const std::int64_t now = 1'000'000 * kSecond;  // wall time; the events below are around it
  const std::int64_t now_s = now / kSecond;
  TenantCorrelator c = correlator();
  std::string id = c.add(signal("a1", "api", now_s - 20, "fp-api"), now).incident_id;
  Signal resolved = signal("a2", "api", now_s - 10, "fp-api");
  resolved.status = events::EventStatus::kResolved;
  c.add(resolved, now);
  // A host whose clock runs a year ahead: the event is correlated with its own time, but moves
  // the event clock only to now + kMaxClockAheadNs, well inside api's 5-minute quiet window.
  CorrelationStep skewed = c.add(signal("s1", "skewed-host", now_s + 365 * 86'400), now);
  CHECK(skewed.opened);
  CHECK(c.find(skewed.incident_id)->first_ns == (now_s + 365 * 86'400) * kSecond);
  CHECK(c.sweepResolved(now).empty());
  CHECK(c.find(id)->status == IncidentStatus::kTriggered);
  // Time moving on past the window (events and wall clock alike) still resolves it.
  c.add(signal("x1", "elsewhere", now_s + 300), now + 300 * kSecond);
  CHECK(c.sweepResolved(now + 300 * kSecond) == std::vector<std::string>{id});
}

TEST_CASE(
    "correlation: an incident read back with a far-future event does not resolve quiet ones") {
  const std::int64_t now_s = 1'800'000'000;
  const std::int64_t now = now_s * kSecond;
  TenantCorrelator c = correlator();
  // A quiet incident whose alert resolved a minute ago: not yet a window (5 min) of quiet.
  Incident quiet;
  quiet.id = "inc_quiet";
  quiet.tenant_id = "tnt_a";
  quiet.first_ns = (now_s - 120) * kSecond;
  quiet.last_ns = (now_s - 60) * kSecond;
  quiet.event_count = 2;
  quiet.alerts["fp-q"] = false;
  quiet.services["api"].events = 2;
  c.adopt(quiet, now);
  // One that took an event from a host whose clock is a year ahead (stored before a restart).
  Incident skewed;
  skewed.id = "inc_skewed";
  skewed.tenant_id = "tnt_a";
  skewed.first_ns = (now_s + 365 * 86'400) * kSecond;
  skewed.last_ns = skewed.first_ns;
  skewed.event_count = 1;
  skewed.alerts["fp-s"] = true;
  c.adopt(skewed, now);
  CHECK(c.sweepResolved(now).empty());
  CHECK(c.find("inc_quiet")->status == IncidentStatus::kTriggered);
  // Real time moving on still resolves it.
  c.add(signal("x1", "elsewhere", now_s + 300), now + 300 * kSecond);
  CHECK(c.sweepResolved(now + 300 * kSecond) == std::vector<std::string>{"inc_quiet"});
}

TEST_CASE("rca: the upstream cause ranks first, with evidence and a chain to the symptoms") {
  TenantCorrelator c = correlator();
  auto graph = std::make_shared<TestGraph>();
  c.setGraph(graph);
  // db fails first; payments, orders and gateway (its callers) follow.
  std::string id = c.add(signal("d1", "db", 0), 1).incident_id;
  c.add(signal("p1", "payments", 5), 1);
  c.add(signal("o1", "orders", 8), 1);
  c.add(signal("g1", "gateway", 9), 1);
  Incident* incident = c.find(id);
  REQUIRE(incident != nullptr);
  std::vector<Candidate> ranked = rankCauses(*incident, graph.get());
  REQUIRE(ranked.size() == 4);
  CHECK(ranked[0].name == "db");
  CHECK(ranked[0].evidence == std::vector<std::string>{"d1"});
  CHECK(ranked[0].factors["graph"] == doctest::Approx(1.0));
  CHECK(ranked[0].confidence > ranked[1].confidence);
  double total = 0;
  for (const Candidate& candidate : ranked) {
    CHECK(candidate.confidence >= 0);
    CHECK(candidate.confidence <= 1);
    total += candidate.confidence;
  }
  CHECK(total == doctest::Approx(1.0).epsilon(0.01));
  std::vector<ChainStep> chain = eventChain(*incident, ranked, graph.get());
  REQUIRE(chain.size() == 4);
  CHECK(chain[0].service == "db");
  CHECK(chain[1].service == "payments");
  CHECK(chain[1].via == "db");
  CHECK(chain[3].service == "gateway");

  // A deploy of payments just before: the change is a candidate, payments rises.
  Signal deploy = signal("c1", "payments", -30);
  deploy.change = true;
  deploy.source = events::SourceKind::kChange;
  deploy.status = events::EventStatus::kInfo;
  deploy.severity = events::Severity::kInfo;
  deploy.title = "deploy payments 1.2";
  foldSignal(*incident, deploy, {});
  ranked = rankCauses(*incident, graph.get());
  bool change_listed = false;
  for (const Candidate& candidate : ranked) {
    if (candidate.kind == "change") {
      change_listed = true;
      CHECK(candidate.evidence == std::vector<std::string>{"c1"});
      CHECK(candidate.service == "payments");
    }
    if (candidate.kind == "service" && candidate.name == "payments") {
      CHECK(candidate.factors.at("change") == 1.0);
    }
  }
  CHECK(change_listed);
}

TEST_CASE("correlation rules: JSON both ways, clear errors") {
  auto rules = CorrelationRules::fromJson(
      R"({"window":"10m","max_hops":1,"group_by":["cluster"],"min_events":2,
          "open_severity":"error","reopen_resolved":true})");
  REQUIRE(rules.isOk());
  CHECK(rules->window_ns == 600 * kSecond);
  CHECK(rules->open_severity == events::Severity::kError);
  auto back = CorrelationRules::fromJson(rules->toJson());
  REQUIRE(back.isOk());
  CHECK(back->toJson() == rules->toJson());
  CHECK(CorrelationRules::fromJson(R"({"window":"forever"})").status().message().find("window") !=
        std::string::npos);
  CHECK(CorrelationRules::fromJson(R"({"max_hops":99})").code() == Errc::InvalidArgument);
  CHECK(CorrelationRules::fromJson(R"({"max_span":"0s"})")->max_span_ns == 0);
  CHECK(CorrelationRules::fromJson(R"({"max_span":"30m"})")->max_span_ns == 1800 * kSecond);
  CHECK(CorrelationRules::fromJson(R"({"max_span":"30d"})").code() == Errc::InvalidArgument);
  CHECK(CorrelationRules::fromJson(R"({"max_span":5})").code() == Errc::InvalidArgument);
  CHECK(CorrelationRules::fromJson(R"({"colour":"red"})").status().message().find("colour") !=
        std::string::npos);
  CHECK(CorrelationRules::fromJson("[1]").code() == Errc::InvalidArgument);
}

TEST_CASE("rca: a service anomalous all the time is rarer evidence than one seldom anomalous") {
  ServiceHistory history;
  CHECK(history.rarity("anything", "alert") == 1.0);  // no history: no discount
  for (int bucket = 0; bucket < 50; ++bucket) {
    history.observe(signal("n" + std::to_string(bucket), "noisy", bucket * 600));
  }
  history.observe(signal("q1", "quiet", 10 * 600));
  Signal resolved = signal("r1", "quiet", 20 * 600);
  resolved.status = events::EventStatus::kResolved;
  history.observe(resolved);  // resolves are not anomalies
  CHECK(history.buckets() == 50);
  CHECK(history.rarity("noisy", "alert") < 0.05);
  CHECK(history.rarity("quiet", "alert") > 0.75);
  CHECK(history.rarity("never", "alert") == doctest::Approx(1.0));
  // Per kind: the noisy service's usual alert is no news; a kind it never showed is.
  CHECK(history.rarity("noisy", "PodLatencyHigh") == doctest::Approx(1.0));
  Signal latency = signal("l1", "noisy", 3 * 600);
  latency.labels = {{"alertname", "PodLatencyHigh"}};
  CHECK(anomalyKind(latency) == "PodLatencyHigh");
  latency.kind = "log_error";
  CHECK(anomalyKind(latency) == "log_error");

  TenantCorrelator c = correlator();
  std::string id = c.add(signal("a", "noisy", 31 * 600), 1).incident_id;
  foldSignal(*c.find(id), signal("b", "quiet", 31 * 600), {});
  std::vector<Candidate> ranked = rankCauses(*c.find(id), nullptr, {}, &history);
  REQUIRE(ranked.size() == 2);
  CHECK(ranked[0].name == "quiet");
  CHECK(ranked[0].factors.at("surprise") > ranked[1].factors.at("surprise"));
}

TEST_CASE("correlation: an event stamped far in the future does not make the past forgotten") {
  TenantCorrelator c = correlator();
  const std::int64_t wall = 1'000 * kSecond;
  std::string past = c.add(signal("p1", "db", 100), wall).incident_id;
  c.add(signal("f1", "api", 100 + 3 * 365 * 24 * 3600), wall);  // a clock three years ahead
  CHECK(c.forgetOld(6LL * 3600 * kSecond, 100, wall + kSecond) == 0);
  CHECK(c.add(signal("p2", "db", 160), wall + kSecond).incident_id == past);
  // Untouched for longer than the horizon of wall time: gone from memory (kept in the store).
  CHECK(c.forgetOld(6LL * 3600 * kSecond, 100, wall + 7LL * 3600 * kSecond) == 2);
  CHECK(c.find(past) == nullptr);
}

TEST_CASE("correlation: pinned incidents (row behind memory) are never forgotten") {
  TenantCorrelator c = correlator();
  const std::int64_t wall = 1'000 * kSecond;
  std::string pinned = c.add(signal("p1", "db", 100), wall).incident_id;
  std::string other = c.add(signal("o1", "api", 100), wall + kSecond).incident_id;
  std::string newest = c.add(signal("n1", "cache", 100), wall + 2 * kSecond).incident_id;
  REQUIRE(pinned != other);
  REQUIRE(other != newest);
  // Past the horizon: only the pinned one stays.
  CHECK(c.forgetOld(kSecond, 100, wall + 3600 * kSecond, {pinned}) == 2);
  CHECK(c.find(pinned) != nullptr);
  CHECK(c.find(other) == nullptr);
  // Over the count: the pinned one stays although it is the least recently touched.
  TenantCorrelator d = correlator();
  pinned = d.add(signal("p1", "db", 100), wall).incident_id;
  other = d.add(signal("o1", "api", 100), wall + kSecond).incident_id;
  newest = d.add(signal("n1", "cache", 100), wall + 2 * kSecond).incident_id;
  CHECK(d.forgetOld(3600 * kSecond, 1, wall + 3 * kSecond, {pinned}) == 2);
  CHECK(d.find(pinned) != nullptr);
  CHECK(d.find(newest) == nullptr);
}

TEST_CASE("incident document: every field reads back, hostile strings and doubles included") {
  Incident incident;
  incident.assignee = "al\"ice\\ \n\t\x01 ü \xff";  // quote, backslash, controls, UTF-8, bad byte
  incident.resolved_at_ns = -5;
  incident.graph_version = 7;
  incident.merged_into = "inc_2";
  incident.event_count = 18'446'744'073'709'551'615ULL;
  incident.services["db"] = {3, -1, INT64_MAX, events::Severity::kCritical};
  incident.services["web \"x\""] = {1, 2, 3, events::Severity::kUnknown};
  incident.alerts = {{"fp1", true}, {"fp2", false}};
  incident.fingerprints = {"fp1", "fp2"};
  incident.group_keys = {"service=db"};
  incident.title_tokens = {{"db", "down"}, {}};
  Candidate candidate;
  candidate.kind = "service";
  candidate.name = "db";
  candidate.service = "db";
  candidate.score = 0.1 + 0.2;  // not a short decimal
  candidate.confidence = 1.0;
  candidate.evidence = {"evt_1", "evt_2"};
  candidate.factors = {{"graph", 0.0}, {"novelty", 1e-9}, {"severity", 123456789.125}};
  incident.candidates = {candidate, Candidate{}};
  incident.chain = {{"db", "evt_1", 10, ""}, {"web", "evt_2", 20, "db"}};

  const std::string doc = incident.docJson();
  Incident back;
  REQUIRE(Incident::fromDocJson(doc, &back).isOk());
  CHECK(back.assignee == "al\"ice\\ \n\t\x01 ü \xef\xbf\xbd");
  CHECK(back.resolved_at_ns == -5);
  CHECK(back.graph_version == 7);
  CHECK(back.merged_into == "inc_2");
  CHECK(back.event_count == incident.event_count);
  REQUIRE(back.services.size() == 2);
  CHECK(back.services["db"].events == 3);
  CHECK(back.services["db"].first_ns == -1);
  CHECK(back.services["db"].last_ns == INT64_MAX);
  CHECK(back.services["db"].max_severity == events::Severity::kCritical);
  CHECK(back.services.count("web \"x\"") == 1);
  CHECK(back.alerts == incident.alerts);
  CHECK(back.fingerprints == incident.fingerprints);
  CHECK(back.group_keys == incident.group_keys);
  CHECK(back.title_tokens == incident.title_tokens);
  REQUIRE(back.candidates.size() == 2);
  CHECK(back.candidates[0].score == candidate.score);  // exact: shortest round-trip digits
  CHECK(back.candidates[0].confidence == 1.0);
  CHECK(back.candidates[0].evidence == candidate.evidence);
  CHECK(back.candidates[0].factors == candidate.factors);
  CHECK(back.candidates[0].kind == "service");
  CHECK(back.candidates[1].evidence.empty());
  REQUIRE(back.chain.size() == 2);
  CHECK(back.chain[1].via == "db");
  CHECK(back.chain[1].at_ns == 20);
  // Written again, the same text: nothing drifts across rewrites.
  CHECK(back.docJson() == doc);
  // A whole number stays a float, and no value is written twice.
  CHECK(doc.find("\"confidence\":1.0,") != std::string::npos);
  CHECK(doc.find(",,") == std::string::npos);
}
