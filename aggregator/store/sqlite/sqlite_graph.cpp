#include "aggregator/store/sqlite/sqlite_graph.h"

#include "aggregator/store/sqlite/sqlite_store.h"

namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kCurrentVersion =
    "SELECT version, created_at FROM graph_versions WHERE tenant_id = ?1 "
    "ORDER BY version DESC LIMIT 1";
constexpr std::string_view kVersionAt =
    "SELECT version, created_at FROM graph_versions WHERE tenant_id = ?1 AND version = ?2";
// A row is in version v when it was opened at or before v and not closed by v.
constexpr std::string_view kServicesAt =
    "SELECT name, owner, environment, tier, labels_json FROM graph_services "
    "WHERE tenant_id = ?1 AND valid_from <= ?2 AND (valid_to IS NULL OR valid_to > ?2) "
    "ORDER BY name";
constexpr std::string_view kEdgesAt =
    "SELECT from_service, to_service, origin, weight, first_seen, last_seen FROM graph_edges "
    "WHERE tenant_id = ?1 AND valid_from <= ?2 AND (valid_to IS NULL OR valid_to > ?2) "
    "ORDER BY from_service, to_service, origin";
constexpr std::string_view kInsertVersion =
    "INSERT INTO graph_versions(tenant_id, version, created_at, cause) VALUES (?1, ?2, ?3, ?4)";
constexpr std::string_view kCloseService =
    "UPDATE graph_services SET valid_to = ?3 "
    "WHERE tenant_id = ?1 AND name = ?2 AND valid_to IS NULL";
constexpr std::string_view kOpenService =
    "INSERT INTO graph_services(tenant_id, name, owner, environment, tier, labels_json, "
    "valid_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view kCloseEdge =
    "UPDATE graph_edges SET valid_to = ?5 WHERE tenant_id = ?1 AND from_service = ?2 "
    "AND to_service = ?3 AND origin = ?4 AND valid_to IS NULL";
constexpr std::string_view kOpenEdge =
    "INSERT INTO graph_edges(tenant_id, from_service, to_service, origin, weight, first_seen, "
    "last_seen, valid_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr std::string_view kListVersions =
    "SELECT version, created_at, cause FROM graph_versions WHERE tenant_id = ?1 "
    "AND version < ?2 ORDER BY version DESC LIMIT ?3";

}  // namespace

Result<SqliteGraphTables::SnapshotStatements> SqliteGraphTables::SnapshotStatements::prepare(
    sqlite3* db) {
  SnapshotStatements stmts;
  FL_ASSIGN_OR_RETURN(stmts.current_version, Stmt::prepare(db, kCurrentVersion));
  FL_ASSIGN_OR_RETURN(stmts.version_at, Stmt::prepare(db, kVersionAt));
  FL_ASSIGN_OR_RETURN(stmts.services_at, Stmt::prepare(db, kServicesAt));
  FL_ASSIGN_OR_RETURN(stmts.edges_at, Stmt::prepare(db, kEdgesAt));
  return stmts;
}

Result<GraphSnapshotRecord> SqliteGraphTables::SnapshotStatements::read(
    std::string_view tenant_id, std::optional<std::int64_t> version) {
  GraphSnapshotRecord snapshot;
  if (version && *version == 0) {
    return snapshot;  // the empty graph every tenant starts from
  }
  {
    StmtUse use(version ? version_at : current_version);
    use->bind(1, tenant_id);
    if (version) {
      use->bind(2, *version);
    }
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      if (version) {
        return notFound("the service graph has no version " + std::to_string(*version));
      }
      return snapshot;
    }
    snapshot.version = use->columnInt(0);
    snapshot.created_at_ns = use->columnInt(1);
  }
  {
    StmtUse use(services_at);
    use->bind(1, tenant_id).bind(2, snapshot.version);
    for (;;) {
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (!row) {
        break;
      }
      GraphService service;
      service.name = std::string(use->columnText(0));
      service.owner = std::string(use->columnText(1));
      service.environment = std::string(use->columnText(2));
      service.tier = std::string(use->columnText(3));
      service.labels = decodeServiceLabels(use->columnText(4));
      snapshot.services.push_back(std::move(service));
    }
  }
  StmtUse use(edges_at);
  use->bind(1, tenant_id).bind(2, snapshot.version);
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return snapshot;
    }
    std::optional<EdgeOrigin> origin = edgeOriginFromName(use->columnText(2));
    if (!origin) {
      return dataLoss("graph edge with unknown origin '" + std::string(use->columnText(2)) + "'");
    }
    snapshot.edges.push_back(GraphEdge{std::string(use->columnText(0)),
                                       std::string(use->columnText(1)), *origin, use->columnInt(3),
                                       use->columnInt(4), use->columnInt(5)});
  }
}

Result<std::unique_ptr<SqliteGraphTables>> SqliteGraphTables::open(sqlite3* write_db,
                                                                   const std::string& path,
                                                                   int busy_timeout_ms) {
  std::unique_ptr<SqliteGraphTables> tables(new SqliteGraphTables());
  tables->write_db_ = write_db;
  FL_ASSIGN_OR_RETURN(tables->write_snapshot_, SnapshotStatements::prepare(write_db));
  FL_ASSIGN_OR_RETURN(tables->insert_version_, Stmt::prepare(write_db, kInsertVersion));
  FL_ASSIGN_OR_RETURN(tables->close_service_, Stmt::prepare(write_db, kCloseService));
  FL_ASSIGN_OR_RETURN(tables->open_service_, Stmt::prepare(write_db, kOpenService));
  FL_ASSIGN_OR_RETURN(tables->close_edge_, Stmt::prepare(write_db, kCloseEdge));
  FL_ASSIGN_OR_RETURN(tables->open_edge_, Stmt::prepare(write_db, kOpenEdge));
  FL_ASSIGN_OR_RETURN(tables->read_db_, openDatabase(path, busy_timeout_ms));
  FL_ASSIGN_OR_RETURN(tables->read_snapshot_, SnapshotStatements::prepare(tables->read_db_.get()));
  FL_ASSIGN_OR_RETURN(tables->list_versions_, Stmt::prepare(tables->read_db_.get(), kListVersions));
  return tables;
}

Result<GraphChangeResult> SqliteGraphTables::applyOnWriter(std::string_view tenant_id,
                                                           const GraphChange& change) {
  // The single writer serializes changes: the version read here is the one in force.
  FL_ASSIGN_OR_RETURN(GraphSnapshotRecord current, write_snapshot_.read(tenant_id, std::nullopt));
  FL_ASSIGN_OR_RETURN(GraphPlan plan, planGraphChange(current, change));
  if (plan.empty()) {
    return GraphChangeResult{current.version, false};
  }
  const std::int64_t version = current.version + 1;
  {
    StmtUse use(insert_version_);
    use->bind(1, tenant_id).bind(2, version).bind(3, change.now_ns).bind(4, change.cause);
    Status status = use->run();
    if (status.code() == Errc::AlreadyExists) {
      return notFound("no such tenant");  // the foreign key refused it
    }
    FL_RETURN_IF_ERROR(status);
  }
  for (const std::string& name : plan.close_services) {
    StmtUse use(close_service_);
    use->bind(1, tenant_id).bind(2, name).bind(3, version);
    FL_RETURN_IF_ERROR(use->run());
  }
  for (const GraphService& service : plan.open_services) {
    StmtUse use(open_service_);
    use->bind(1, tenant_id)
        .bind(2, service.name)
        .bind(3, service.owner)
        .bind(4, service.environment)
        .bind(5, service.tier)
        .bind(6, encodeServiceLabels(service.labels))
        .bind(7, version);
    FL_RETURN_IF_ERROR(use->run());
  }
  for (const GraphEdge& edge : plan.close_edges) {
    StmtUse use(close_edge_);
    use->bind(1, tenant_id)
        .bind(2, edge.from)
        .bind(3, edge.to)
        .bind(4, edgeOriginName(edge.origin))
        .bind(5, version);
    FL_RETURN_IF_ERROR(use->run());
  }
  for (const GraphEdge& edge : plan.open_edges) {
    StmtUse use(open_edge_);
    use->bind(1, tenant_id)
        .bind(2, edge.from)
        .bind(3, edge.to)
        .bind(4, edgeOriginName(edge.origin))
        .bind(5, edge.weight)
        .bind(6, edge.first_seen_ns)
        .bind(7, edge.last_seen_ns)
        .bind(8, version);
    FL_RETURN_IF_ERROR(use->run());
  }
  return GraphChangeResult{version, true};
}

Result<GraphSnapshotRecord> SqliteGraphTables::read(std::string_view tenant_id,
                                                    std::optional<std::int64_t> version) {
  std::lock_guard lock(read_mutex_);
  // One read transaction: the version and its rows come from the same snapshot.
  FL_RETURN_IF_ERROR(exec(read_db_.get(), "BEGIN"));
  Result<GraphSnapshotRecord> snapshot = read_snapshot_.read(tenant_id, version);
  Status ended = exec(read_db_.get(), "COMMIT");
  if (!ended.isOk()) {
    (void)exec(read_db_.get(), "ROLLBACK");
    if (snapshot.isOk()) {
      return ended;
    }
  }
  return snapshot;
}

Result<std::vector<GraphVersionInfo>> SqliteGraphTables::versions(std::string_view tenant_id,
                                                                  std::int64_t before_version,
                                                                  std::size_t limit) {
  std::lock_guard lock(read_mutex_);
  StmtUse use(list_versions_);
  use->bind(1, tenant_id).bind(2, before_version).bind(3, static_cast<std::int64_t>(limit));
  std::vector<GraphVersionInfo> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(
        GraphVersionInfo{use->columnInt(0), use->columnInt(1), std::string(use->columnText(2))});
  }
}

// The store's graph methods live here, beside the tables they use.

Result<GraphChangeResult> SqliteStore::applyGraphChange(std::string_view tenant_id,
                                                        const GraphChange& change) {
  GraphChangeResult result;
  FL_RETURN_IF_ERROR(writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(result, graph_->applyOnWriter(tenant_id, change));
    return Status::ok();
  }));
  return result;
}

Result<GraphSnapshotRecord> SqliteStore::readGraph(std::string_view tenant_id,
                                                   std::optional<std::int64_t> version) {
  return graph_->read(tenant_id, version);
}

Result<std::vector<GraphVersionInfo>> SqliteStore::listGraphVersions(std::string_view tenant_id,
                                                                     std::int64_t before_version,
                                                                     std::size_t limit) {
  return graph_->versions(tenant_id, before_version, limit);
}

}  // namespace faultline::aggregator::store::sqlite
