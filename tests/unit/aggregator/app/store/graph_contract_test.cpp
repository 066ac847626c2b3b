// The Store contract for the service graph (migration 9) on every engine (store_engines.h):
// versions, reading any past version back exactly, no version for a change that changes
// nothing, learned weights adding up, limits, concurrent changes, and tenants that cannot
// read or write each other's graph.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

store::Tenant graphTenant(store::Store& store, const std::string& name) {
  auto tenant = store.createTenant(name, nowUnixNanos());
  REQUIRE_MESSAGE(tenant.isOk(), tenant.status().toString());
  return *tenant;
}

store::ServiceDeclaration declared(const std::string& name, std::vector<std::string> depends_on,
                                   const std::string& owner = "team") {
  store::ServiceDeclaration declaration;
  declaration.service.name = name;
  declaration.service.owner = owner;
  declaration.service.environment = "prod";
  declaration.service.tier = "backend";
  declaration.service.labels = {{"lang", "go"}};
  declaration.depends_on = std::move(depends_on);
  return declaration;
}

store::GraphChange declaring(std::vector<store::ServiceDeclaration> services,
                             std::int64_t now_ns = 1'000) {
  store::GraphChange change;
  change.cause = "test";
  change.now_ns = now_ns;
  change.declare = std::move(services);
  return change;
}

store::GraphChangeResult applied(store::Store& store, const std::string& tenant_id,
                                 const store::GraphChange& change) {
  auto result = store.applyGraphChange(tenant_id, change);
  REQUIRE_MESSAGE(result.isOk(), result.status().toString());
  return *result;
}

store::GraphSnapshotRecord graphAt(store::Store& store, const std::string& tenant_id,
                                   std::optional<std::int64_t> version = std::nullopt) {
  auto snapshot = store.readGraph(tenant_id, version);
  REQUIRE_MESSAGE(snapshot.isOk(), snapshot.status().toString());
  return *snapshot;
}

std::set<std::string> edgeNames(const store::GraphSnapshotRecord& snapshot) {
  std::set<std::string> names;
  for (const store::GraphEdge& edge : snapshot.edges) {
    names.insert(edge.from + ">" + edge.to + ":" + std::string(store::edgeOriginName(edge.origin)) +
                 "=" + std::to_string(edge.weight));
  }
  return names;
}

}  // namespace

TEST_CASE_TEMPLATE("graph store: versions from 1, any past version reads back exactly", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant tenant = graphTenant(*store, "acme");

  store::GraphSnapshotRecord empty = graphAt(*store, tenant.id);
  CHECK(empty.version == 0);
  CHECK(empty.services.empty());

  auto v1 =
      applied(*store, tenant.id,
              declaring({declared("web", {"api"}), declared("api", {"db"}), declared("db", {})}));
  CHECK(v1.version == 1);
  CHECK(v1.changed);
  // The same declarations again: nothing changes, no version.
  auto again = applied(*store, tenant.id,
                       declaring({declared("web", {"api"}), declared("api", {"db"})}, 2'000));
  CHECK(again.version == 1);
  CHECK_FALSE(again.changed);

  // v2: web's owner changes and it also calls cache; api stays as it was.
  auto v2 = applied(*store, tenant.id, declaring({declared("web", {"api", "cache"}, "team-b")}));
  CHECK(v2.version == 2);
  // v3: db goes, with the edge into it.
  store::GraphChange remove;
  remove.cause = "remove db";
  remove.now_ns = 3'000;
  remove.remove_services = {"db"};
  CHECK(applied(*store, tenant.id, remove).version == 3);

  store::GraphSnapshotRecord at1 = graphAt(*store, tenant.id, 1);
  CHECK(at1.version == 1);
  REQUIRE(at1.services.size() == 3);
  CHECK(at1.services[0].name == "api");
  CHECK(at1.services[2].name == "web");
  CHECK(at1.services[2].owner == "team");
  CHECK(at1.services[2].labels.at("lang") == "go");
  CHECK(edgeNames(at1) == std::set<std::string>{"api>db:declared=0", "web>api:declared=0"});

  store::GraphSnapshotRecord at2 = graphAt(*store, tenant.id, 2);
  CHECK(at2.services.size() == 3);
  CHECK(at2.services[2].owner == "team-b");
  CHECK(edgeNames(at2) ==
        std::set<std::string>{"api>db:declared=0", "web>api:declared=0", "web>cache:declared=0"});

  store::GraphSnapshotRecord now = graphAt(*store, tenant.id);
  CHECK(now.version == 3);
  CHECK(now.created_at_ns == 3'000);
  CHECK(now.services.size() == 2);
  CHECK(edgeNames(now) == std::set<std::string>{"web>api:declared=0", "web>cache:declared=0"});
  // An edge kept across versions keeps its first time.
  for (const store::GraphEdge& edge : now.edges) {
    if (edge.to == "api") {
      CHECK(edge.first_seen_ns == 1'000);
    }
  }

  CHECK(store->readGraph(tenant.id, 4).status().code() == Errc::NotFound);
  CHECK(graphAt(*store, tenant.id, 0).services.empty());

  auto versions = store->listGraphVersions(tenant.id, INT64_MAX, 10);
  REQUIRE(versions.isOk());
  REQUIRE(versions->size() == 3);
  CHECK((*versions)[0].version == 3);
  CHECK((*versions)[0].cause == "remove db");
  CHECK((*versions)[2].version == 1);
  auto older = store->listGraphVersions(tenant.id, 3, 1);
  REQUIRE(older.isOk());
  REQUIRE(older->size() == 1);
  CHECK((*older)[0].version == 2);
}

TEST_CASE_TEMPLATE("graph store: replace closes what the file no longer declares", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant tenant = graphTenant(*store, "acme");
  applied(*store, tenant.id, declaring({declared("web", {"api"}), declared("api", {})}));
  store::GraphChange learned;
  learned.cause = "spans";
  learned.now_ns = 5;
  learned.learned = {{"web", "auth", store::EdgeOrigin::Spans, 7, 5, 5}};
  applied(*store, tenant.id, learned);

  store::GraphChange replace = declaring({declared("api", {"db"})});
  replace.replace_declared = true;
  auto result = applied(*store, tenant.id, replace);
  CHECK(result.version == 3);
  store::GraphSnapshotRecord now = graphAt(*store, tenant.id);
  REQUIRE(now.services.size() == 1);
  CHECK(now.services[0].name == "api");
  // Learned edges are not declarations: replace keeps them.
  CHECK(edgeNames(now) == std::set<std::string>{"api>db:declared=0", "web>auth:spans=7"});
}

TEST_CASE_TEMPLATE("graph store: learned weights add up, one version per change", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant tenant = graphTenant(*store, "acme");
  store::GraphChange calls;
  calls.cause = "spans";
  calls.now_ns = 100;
  calls.learned = {{"web", "api", store::EdgeOrigin::Spans, 3, 100, 100},
                   {"api", "db", store::EdgeOrigin::Spans, 2, 100, 100},
                   {"api", "web", store::EdgeOrigin::Cooccurrence, 4, 90, 95}};
  CHECK(applied(*store, tenant.id, calls).version == 1);
  calls.now_ns = 200;
  calls.learned = {{"web", "api", store::EdgeOrigin::Spans, 5, 200, 200}};
  CHECK(applied(*store, tenant.id, calls).version == 2);
  store::GraphSnapshotRecord now = graphAt(*store, tenant.id);
  CHECK(edgeNames(now) ==
        std::set<std::string>{"api>db:spans=2", "api>web:cooccurrence=4", "web>api:spans=8"});
  for (const store::GraphEdge& edge : now.edges) {
    if (edge.from == "web") {
      CHECK(edge.first_seen_ns == 100);
      CHECK(edge.last_seen_ns == 200);
    }
  }
  CHECK(edgeNames(graphAt(*store, tenant.id, 1)).count("web>api:spans=3") == 1);
}

TEST_CASE_TEMPLATE("graph store: bad changes write nothing", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant tenant = graphTenant(*store, "acme");
  auto self = store->applyGraphChange(tenant.id, declaring({declared("web", {"web"})}));
  CHECK(self.status().code() == Errc::InvalidArgument);
  auto twice =
      store->applyGraphChange(tenant.id, declaring({declared("web", {}), declared("web", {})}));
  CHECK(twice.status().code() == Errc::InvalidArgument);
  auto bad_name = store->applyGraphChange(tenant.id, declaring({declared("we\nb", {})}));
  CHECK(bad_name.status().code() == Errc::InvalidArgument);
  store::GraphChange declared_as_learned;
  declared_as_learned.learned = {{"a", "b", store::EdgeOrigin::Declared, 1, 0, 0}};
  CHECK(store->applyGraphChange(tenant.id, declared_as_learned).status().code() ==
        Errc::InvalidArgument);
  CHECK(graphAt(*store, tenant.id).version == 0);

  auto unknown_tenant = store->applyGraphChange("tnt_nobody", declaring({declared("web", {})}));
  CHECK(unknown_tenant.status().code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("graph store: a tenant never reads or writes another tenant's graph", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = graphTenant(*store, "tenant-a");
  store::Tenant b = graphTenant(*store, "tenant-b");
  applied(*store, a.id, declaring({declared("a-web", {"a-db"})}));
  applied(*store, a.id, declaring({declared("a-db", {})}));

  // B sees nothing of A: not the current graph, not A's versions by number, not the list.
  CHECK(graphAt(*store, b.id).version == 0);
  CHECK(graphAt(*store, b.id).services.empty());
  CHECK(store->readGraph(b.id, 1).status().code() == Errc::NotFound);
  CHECK(store->readGraph(b.id, 2).status().code() == Errc::NotFound);
  auto b_versions = store->listGraphVersions(b.id, INT64_MAX, 10);
  REQUIRE(b_versions.isOk());
  CHECK(b_versions->empty());

  // B's changes start B's own history at 1 and leave A's untouched, even with A's names.
  store::GraphChange b_change = declaring({declared("a-web", {"evil"})});
  CHECK(applied(*store, b.id, b_change).version == 1);
  store::GraphChange b_remove;
  b_remove.cause = "remove";
  b_remove.remove_services = {"a-db"};
  CHECK_FALSE(applied(*store, b.id, b_remove).changed);
  store::GraphSnapshotRecord a_now = graphAt(*store, a.id);
  CHECK(a_now.version == 2);
  CHECK(a_now.services.size() == 2);
  CHECK(edgeNames(a_now) == std::set<std::string>{"a-web>a-db:declared=0"});
  // The rows really are A's alone (raw count as A, through row-level security on PostgreSQL).
  // ($1 is a parameter in SQLite too.)
  CHECK(engine.queryInt("SELECT COUNT(*) FROM graph_services WHERE tenant_id = $1", a.id) == 2);
  CHECK(engine.queryInt("SELECT COUNT(*) FROM graph_services WHERE tenant_id = $1", b.id) == 1);
}

TEST_CASE_TEMPLATE("graph store: concurrent changes of one tenant make consecutive versions",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant tenant = graphTenant(*store, "acme");
  constexpr int kThreads = 4;
  constexpr int kChanges = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kChanges; ++i) {
        store::GraphChange change;
        change.cause = "thread " + std::to_string(t);
        change.now_ns = i;
        change.learned = {{"svc-" + std::to_string(t), "db", store::EdgeOrigin::Spans, 1, i, i}};
        if (!store->applyGraphChange(tenant.id, change).isOk()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  CHECK(failures.load() == 0);
  store::GraphSnapshotRecord now = graphAt(*store, tenant.id);
  CHECK(now.version == kThreads * kChanges);
  REQUIRE(now.edges.size() == kThreads);
  for (const store::GraphEdge& edge : now.edges) {
    CHECK(edge.weight == kChanges);
  }
  auto versions = store->listGraphVersions(tenant.id, INT64_MAX, 100);
  REQUIRE(versions.isOk());
  CHECK(versions->size() == static_cast<std::size_t>(kThreads * kChanges));
}

TEST_CASE_TEMPLATE("graph row-level security: tenant A's transaction sees and writes none of B's",
                   TestType, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = graphTenant(*store, "tenant-a");
  store::Tenant b = graphTenant(*store, "tenant-b");
  applied(*store, b.id, declaring({declared("web", {"api"})}));
  for (const char* table : {"graph_versions", "graph_services", "graph_edges"}) {
    INFO(table);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table, a.id) == 0);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table, b.id) == 1);
  }
  // A write naming B's tenant from A's transaction is refused by the policy.
  PgRaw raw(engine.url());
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.tenant_id', $1, true)", {a.id});
  std::string refused = raw.exec(
      "INSERT INTO graph_versions(tenant_id, version, created_at, cause) VALUES ($1, 2, 0, 'x')",
      {b.id}, true);
  CHECK(refused.starts_with("ERROR 42501"));
  raw.exec("ROLLBACK");
  CHECK(graphAt(*store, b.id).version == 1);
}
