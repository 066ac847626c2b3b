// The co-occurrence learner on a synthetic stream: pairs that fail together far above chance
// become edges, busy or rare coincidences do not, writes come at most once per interval, over
// a real SQLite store.
#include "aggregator/graph/cooccurrence_learner.h"

#include <doctest/doctest.h>

#include <random>
#include <set>

#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;

namespace {

constexpr std::int64_t kBucket = 60'000'000'000;  // one minute of event time
constexpr std::int64_t kSecond = 1'000'000'000;

std::set<std::string> pairNames(const std::vector<store::GraphEdge>& edges) {
  std::set<std::string> out;
  for (const store::GraphEdge& edge : edges) {
    CHECK(edge.origin == store::EdgeOrigin::Cooccurrence);
    CHECK(edge.from < edge.to);
    out.insert(edge.from + "~" + edge.to);
  }
  return out;
}

}  // namespace

TEST_CASE("co-occurrence: a synthetic stream learns the pairs that fail together") {
  aggregator::testing::TempDir dir;
  auto store = aggregator::testing::openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  std::vector<std::string> written_for;
  graph::CooccurrenceOptions options;
  options.flush_interval = std::chrono::seconds(60);
  graph::CooccurrenceLearner learner(
      *store, options, [&](std::string_view tenant_id) { written_for.emplace_back(tenant_id); });

  // 400 buckets. db and api fail together in 30 of them (db causing api's errors); noisy fires
  // in 70% of all buckets (so it often meets everyone by chance); rare-a and rare-b each fire
  // in a handful of random buckets.
  std::mt19937 random(7);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::int64_t mono = 1 * kSecond;
  for (int i = 0; i < 400; ++i) {
    std::vector<std::string> firing;
    if (i % 13 == 0) {
      firing = {"db", "api"};
    }
    if (coin(random) < 0.7) {
      firing.push_back("noisy");
    }
    if (coin(random) < 0.02) {
      firing.push_back("rare-a");
    }
    if (coin(random) < 0.02) {
      firing.push_back("rare-b");
    }
    learner.observeAt(tenant->id, i * kBucket, firing, mono);
    mono += kSecond / 10;  // 400 buckets in 40 s: no flush is due yet
  }
  CHECK(written_for.empty());
  auto pending = learner.pending(tenant->id);
  CHECK(pairNames(pending) == std::set<std::string>{"api~db"});
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].weight == 31);  // buckets 0, 13, ..., 390
  CHECK(pending[0].first_seen_ns == 0);
  CHECK(pending[0].last_seen_ns == 390 * kBucket);

  // The interval passes: the next observation writes one version.
  mono += 60 * kSecond;
  learner.observeAt(tenant->id, 401 * kBucket, {"db", "api"}, mono);
  CHECK(written_for == std::vector<std::string>{tenant->id});
  auto graph = store->readGraph(tenant->id, std::nullopt);
  REQUIRE(graph.isOk());
  CHECK(graph->version == 1);
  REQUIRE(graph->edges.size() == 1);
  CHECK(graph->edges[0].from == "api");
  CHECK(graph->edges[0].to == "db");
  CHECK(graph->edges[0].weight == 32);
  CHECK(learner.pending(tenant->id).empty());

  // More shared buckets within the interval: pending, not written.
  learner.observeAt(tenant->id, 402 * kBucket, {"db", "api"}, mono + kSecond);
  CHECK(learner.pending(tenant->id).size() == 1);
  CHECK(written_for.size() == 1);
  REQUIRE(learner.flush(tenant->id, mono + 2 * kSecond).isOk());
  graph = store->readGraph(tenant->id, std::nullopt);
  REQUIRE(graph.isOk());
  CHECK(graph->version == 2);
  CHECK(graph->edges[0].weight == 33);
}

TEST_CASE("co-occurrence: the same bucket observed again adds only its new services") {
  aggregator::testing::TempDir dir;
  auto store = aggregator::testing::openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  graph::CooccurrenceOptions options;
  options.min_count = 3;
  options.min_z = 0;
  options.min_lift = 0;
  graph::CooccurrenceLearner learner(*store, options);
  for (int i = 0; i < 3; ++i) {
    // Events of one bucket arrive one by one: the pair counts once per bucket, not per call.
    learner.observeAt("t", i * kBucket, {"a"}, 0);
    learner.observeAt("t", i * kBucket, {"a", "b"}, 0);
    learner.observeAt("t", i * kBucket, {"b", "a"}, 0);
  }
  auto pending = learner.pending("t");
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].weight == 3);
  CHECK(learner.pending("other").empty());
}

TEST_CASE("co-occurrence: a pair below the minimum count is not an edge") {
  aggregator::testing::TempDir dir;
  auto store = aggregator::testing::openStore(dir.file("db.sqlite"));
  graph::CooccurrenceLearner learner(*store, graph::CooccurrenceOptions{});
  for (int i = 0; i < 100; ++i) {
    std::vector<std::string> firing = {"filler-" + std::to_string(i)};
    if (i < 4) {
      firing = {"x", "y"};  // perfectly correlated but only 4 times (< 5)
    }
    learner.observeAt("t", i * kBucket, firing, 0);
  }
  CHECK(learner.pending("t").empty());
  learner.observeAt("t", 100 * kBucket, {"x", "y"}, 0);
  CHECK(pairNames(learner.pending("t")) == std::set<std::string>{"x~y"});
}
