// ServiceGraph queries (hops, path, callers, callees, downstream) and GraphCache over a real
// SQLite store.
#include "aggregator/graph/service_graph.h"

#include <doctest/doctest.h>

#include "aggregator/graph/graph_cache.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using graph::ServiceGraph;
using store::EdgeOrigin;

namespace {

store::GraphEdge edge(std::string from, std::string to, EdgeOrigin origin = EdgeOrigin::Declared) {
  return store::GraphEdge{std::move(from), std::move(to), origin, 1, 0, 0};
}

// web -> api -> db, web -> auth -> db, api -> cache; worker ~ db (co-occurrence only);
// batch calls queue (learned from spans). lonely is declared with no edges.
ServiceGraph shop() {
  store::GraphSnapshotRecord snapshot;
  snapshot.version = 7;
  snapshot.created_at_ns = 42;
  for (const char* name : {"web", "api", "db", "auth", "cache", "lonely"}) {
    snapshot.services.push_back(store::GraphService{name, "team", "prod", "", {}});
  }
  snapshot.edges = {edge("web", "api"),
                    edge("api", "db"),
                    edge("web", "auth"),
                    edge("auth", "db"),
                    edge("api", "cache"),
                    edge("db", "worker", EdgeOrigin::Cooccurrence),
                    edge("batch", "queue", EdgeOrigin::Spans)};
  return ServiceGraph(std::move(snapshot));
}

}  // namespace

TEST_CASE("service graph: hops ignore direction, are bounded, and unknown names are absent") {
  ServiceGraph graph = shop();
  CHECK(graph.version() == 7);
  CHECK(graph.hops("web", "web", 0) == 0);
  CHECK(graph.hops("web", "api", 3) == 1);
  CHECK(graph.hops("db", "web", 3) == 2);  // against the call direction
  CHECK(graph.hops("cache", "auth", 5) == 3);
  CHECK(graph.hops("cache", "auth", 2) == std::nullopt);  // farther than asked
  CHECK(graph.hops("worker", "api", 5) == 2);             // co-occurrence edges count
  CHECK(graph.hops("web", "queue", 10) == std::nullopt);  // another component
  CHECK(graph.hops("web", "nope", 10) == std::nullopt);
  CHECK(graph.hops("nope", "nope", 10) == std::nullopt);
  CHECK(graph.hops("lonely", "lonely", 1) == 0);
  CHECK(graph.contains("queue"));  // named only by a learned edge
  CHECK(graph.service("queue") == nullptr);
  REQUIRE(graph.service("web") != nullptr);
  CHECK(graph.service("web")->owner == "team");
}

TEST_CASE("service graph: path is a shortest undirected path, ties broken by name") {
  ServiceGraph graph = shop();
  CHECK(graph.path("web", "db", 4) == std::vector<std::string>{"web", "api", "db"});
  CHECK(graph.path("cache", "worker", 4) ==
        std::vector<std::string>{"cache", "api", "db", "worker"});
  CHECK(graph.path("cache", "worker", 2).empty());
  CHECK(graph.path("web", "web", 1) == std::vector<std::string>{"web"});
  CHECK(graph.path("web", "nope", 9).empty());
}

TEST_CASE("service graph: callers, callees and downstream follow directed edges only") {
  ServiceGraph graph = shop();
  CHECK(graph.callees("web") == std::vector<std::string>{"api", "auth"});
  CHECK(graph.callers("db") == std::vector<std::string>{"api", "auth"});
  CHECK(graph.callees("db").empty());  // the co-occurrence edge has no direction
  CHECK(graph.callers("worker").empty());
  CHECK(graph.downstreamOf("db") == std::vector<std::string>{"api", "auth", "web"});
  CHECK(graph.downstreamOf("cache") == std::vector<std::string>{"api", "web"});
  CHECK(graph.downstreamOf("web").empty());
  CHECK(graph.downstreamOf("queue") == std::vector<std::string>{"batch"});
  CHECK(graph.downstreamOf("nope").empty());
}

TEST_CASE("service graph: a long chain is searched only as far as asked") {
  store::GraphSnapshotRecord snapshot;
  constexpr int kLength = 20'000;
  for (int i = 0; i + 1 < kLength; ++i) {
    snapshot.edges.push_back(edge("s" + std::to_string(i), "s" + std::to_string(i + 1)));
  }
  ServiceGraph graph(std::move(snapshot));
  CHECK(graph.nodeCount() == kLength);
  CHECK(graph.hops("s0", "s5", 5) == 5);
  CHECK(graph.hops("s0", "s19999", 3) == std::nullopt);
  CHECK(graph.hops("s0", "s19999", kLength) == kLength - 1);
  CHECK(graph.downstreamOf("s19999").size() == kLength - 1);
}

TEST_CASE("graph cache: serves from memory, reloads after forget or the TTL, keeps past versions") {
  aggregator::testing::TempDir dir;
  auto store = aggregator::testing::openStore(dir.file("db.sqlite"));
  auto tenant = store->createTenant("acme", 1);
  REQUIRE(tenant.isOk());
  graph::GraphCache cache(*store, std::chrono::hours(1));

  auto empty = cache.current(tenant->id);
  REQUIRE(empty.isOk());
  CHECK((*empty)->version() == 0);

  store::GraphChange change;
  change.cause = "test";
  change.now_ns = 5;
  change.declare.push_back({store::GraphService{"web", "", "", "", {}}, {"api"}});
  REQUIRE(store->applyGraphChange(tenant->id, change).isOk());
  // Still the cached graph until told: a change through another node waits for the TTL.
  auto cached = cache.current(tenant->id);
  REQUIRE(cached.isOk());
  CHECK(cached->get() == empty->get());
  cache.forget(tenant->id);
  auto fresh = cache.current(tenant->id);
  REQUIRE(fresh.isOk());
  CHECK((*fresh)->version() == 1);
  CHECK((*fresh)->hops("web", "api", 1) == 1);

  change.declare = {{store::GraphService{"web", "", "", "", {}}, {}}};
  REQUIRE(store->applyGraphChange(tenant->id, change).isOk());
  auto v1 = cache.at(tenant->id, 1);
  REQUIRE(v1.isOk());
  CHECK((*v1)->hops("web", "api", 1) == 1);  // the graph as it was
  auto v1_again = cache.at(tenant->id, 1);
  REQUIRE(v1_again.isOk());
  CHECK(v1_again->get() == v1->get());
  auto v2 = cache.at(tenant->id, 2);
  REQUIRE(v2.isOk());
  CHECK((*v2)->hops("web", "api", 1) == std::nullopt);
  CHECK(cache.at(tenant->id, 3).status().code() == Errc::NotFound);

  graph::GraphCache no_ttl(*store, std::chrono::milliseconds(0));
  auto loaded = no_ttl.current(tenant->id);
  REQUIRE(loaded.isOk());
  CHECK((*loaded)->version() == 2);
  auto reloaded = no_ttl.current(tenant->id);
  REQUIRE(reloaded.isOk());
  CHECK(reloaded->get() != loaded->get());  // a zero TTL always reads the store
}
