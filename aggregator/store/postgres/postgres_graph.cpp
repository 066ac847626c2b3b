// The PostgreSQL engine's service graph (migration 9; see store/graph_records.h). Kept apart
// from postgres_store.cpp so that the two grow without stepping on each other.
#include <optional>

#include "aggregator/store/postgres/postgres_store.h"

namespace faultline::aggregator::store::postgres {
namespace {

constexpr std::string_view kTenantSetting = "faultline.tenant_id";

// Changes of one tenant take this transaction-scoped lock first, so the version each reads is
// still the one in force when it writes (the key space is apart from the migration lock's).
constexpr std::int64_t kGraphLockClass = 9;
constexpr Statement kLockTenantGraph{"fl_graph_lock",
                                     "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))"};
constexpr Statement kCurrentVersion{
    "fl_graph_current_version",
    "SELECT version, created_at FROM graph_versions WHERE tenant_id = $1 "
    "ORDER BY version DESC LIMIT 1"};
constexpr Statement kVersionAt{
    "fl_graph_version_at",
    "SELECT version, created_at FROM graph_versions WHERE tenant_id = $1 AND version = $2"};
// A row is in version v when it was opened at or before v and not closed by v. Rows of a
// version never change afterwards (later changes only close them at a later version), so the
// reads below need no snapshot beyond their own statement.
constexpr Statement kServicesAt{
    "fl_graph_services_at",
    "SELECT name, owner, environment, tier, labels_json FROM graph_services "
    "WHERE tenant_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) "
    "ORDER BY name COLLATE \"C\""};
constexpr Statement kEdgesAt{
    "fl_graph_edges_at",
    "SELECT from_service, to_service, origin, weight, first_seen, last_seen FROM graph_edges "
    "WHERE tenant_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) "
    "ORDER BY from_service COLLATE \"C\", to_service COLLATE \"C\", origin COLLATE \"C\""};
constexpr Statement kInsertVersion{
    "fl_graph_insert_version",
    "INSERT INTO graph_versions(tenant_id, version, created_at, cause) VALUES ($1, $2, $3, $4)"};
constexpr Statement kCloseService{"fl_graph_close_service",
                                  "UPDATE graph_services SET valid_to = $3 "
                                  "WHERE tenant_id = $1 AND name = $2 AND valid_to IS NULL"};
constexpr Statement kOpenService{
    "fl_graph_open_service",
    "INSERT INTO graph_services(tenant_id, name, owner, environment, tier, labels_json, "
    "valid_from) VALUES ($1, $2, $3, $4, $5, $6, $7)"};
constexpr Statement kCloseEdge{
    "fl_graph_close_edge",
    "UPDATE graph_edges SET valid_to = $5 WHERE tenant_id = $1 AND from_service = $2 "
    "AND to_service = $3 AND origin = $4 AND valid_to IS NULL"};
constexpr Statement kOpenEdge{
    "fl_graph_open_edge",
    "INSERT INTO graph_edges(tenant_id, from_service, to_service, origin, weight, first_seen, "
    "last_seen, valid_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};
constexpr Statement kListVersions{
    "fl_graph_versions",
    "SELECT version, created_at, cause FROM graph_versions WHERE tenant_id = $1 "
    "AND version < $2 ORDER BY version DESC LIMIT $3"};

std::string column(const PgResult& r, int row, int col) {
  return std::string(r.bytes(row, col));
}

/// Reads the tenant's graph at `version` (nullopt: in force) inside the caller's transaction,
/// whose tenant setting is already made.
Result<GraphSnapshotRecord> readSnapshot(Connection& connection, std::string_view tenant_id,
                                         std::optional<std::int64_t> version) {
  GraphSnapshotRecord snapshot;
  if (version && *version == 0) {
    return snapshot;  // the empty graph every tenant starts from
  }
  {
    Params params;
    params.text(tenant_id);
    if (version) {
      params.int64(*version);
    }
    FL_ASSIGN_OR_RETURN(PgResult r,
                        connection.exec(version ? kVersionAt : kCurrentVersion, params));
    if (r.rows() == 0) {
      if (version) {
        return notFound("the service graph has no version " + std::to_string(*version));
      }
      return snapshot;
    }
    snapshot.version = r.int64(0, 0);
    snapshot.created_at_ns = r.int64(0, 1);
  }
  Params params;
  params.text(tenant_id).int64(snapshot.version);
  FL_ASSIGN_OR_RETURN(PgResult services, connection.exec(kServicesAt, params));
  for (int row = 0; row < services.rows(); ++row) {
    GraphService service;
    service.name = column(services, row, 0);
    service.owner = column(services, row, 1);
    service.environment = column(services, row, 2);
    service.tier = column(services, row, 3);
    service.labels = decodeServiceLabels(services.bytes(row, 4));
    snapshot.services.push_back(std::move(service));
  }
  FL_ASSIGN_OR_RETURN(PgResult edges, connection.exec(kEdgesAt, params));
  for (int row = 0; row < edges.rows(); ++row) {
    std::optional<EdgeOrigin> origin = edgeOriginFromName(edges.bytes(row, 2));
    if (!origin) {
      return dataLoss("graph edge with unknown origin '" + column(edges, row, 2) + "'");
    }
    snapshot.edges.push_back(GraphEdge{column(edges, row, 0), column(edges, row, 1), *origin,
                                       edges.int64(row, 3), edges.int64(row, 4),
                                       edges.int64(row, 5)});
  }
  return snapshot;
}

}  // namespace

Result<GraphChangeResult> PostgresStore::applyGraphChange(std::string_view tenant_id,
                                                          const GraphChange& change) {
  GraphChangeResult result;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    {
      Params params;
      params.int64(kGraphLockClass).text(tenant_id);
      FL_RETURN_IF_ERROR(connection.exec(kLockTenantGraph, params).status());
    }
    FL_ASSIGN_OR_RETURN(GraphSnapshotRecord current,
                        readSnapshot(connection, tenant_id, std::nullopt));
    FL_ASSIGN_OR_RETURN(GraphPlan plan, planGraphChange(current, change));
    result = GraphChangeResult{current.version, false};
    if (plan.empty()) {
      return Status::ok();
    }
    const std::int64_t version = current.version + 1;
    {
      Params params;
      params.text(tenant_id).int64(version).int64(change.now_ns).text(change.cause);
      Status inserted = connection.exec(kInsertVersion, params).status();
      if (inserted.code() == Errc::AlreadyExists) {
        return notFound("no such tenant");  // the foreign key refused it
      }
      FL_RETURN_IF_ERROR(inserted);
    }
    for (const std::string& name : plan.close_services) {
      Params params;
      params.text(tenant_id).text(name).int64(version);
      FL_RETURN_IF_ERROR(connection.exec(kCloseService, params).status());
    }
    for (const GraphService& service : plan.open_services) {
      const std::string labels = encodeServiceLabels(service.labels);
      Params params;
      params.text(tenant_id)
          .text(service.name)
          .text(service.owner)
          .text(service.environment)
          .text(service.tier)
          .text(labels)
          .int64(version);
      FL_RETURN_IF_ERROR(connection.exec(kOpenService, params).status());
    }
    for (const GraphEdge& edge : plan.close_edges) {
      Params params;
      params.text(tenant_id)
          .text(edge.from)
          .text(edge.to)
          .text(edgeOriginName(edge.origin))
          .int64(version);
      FL_RETURN_IF_ERROR(connection.exec(kCloseEdge, params).status());
    }
    for (const GraphEdge& edge : plan.open_edges) {
      Params params;
      params.text(tenant_id)
          .text(edge.from)
          .text(edge.to)
          .text(edgeOriginName(edge.origin))
          .int64(edge.weight)
          .int64(edge.first_seen_ns)
          .int64(edge.last_seen_ns)
          .int64(version);
      FL_RETURN_IF_ERROR(connection.exec(kOpenEdge, params).status());
    }
    result = GraphChangeResult{version, true};
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return result;
}

Result<GraphSnapshotRecord> PostgresStore::readGraph(std::string_view tenant_id,
                                                     std::optional<std::int64_t> version) {
  GraphSnapshotRecord snapshot;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    FL_ASSIGN_OR_RETURN(snapshot, readSnapshot(connection, tenant_id, version));
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return snapshot;
}

Result<std::vector<GraphVersionInfo>> PostgresStore::listGraphVersions(std::string_view tenant_id,
                                                                       std::int64_t before_version,
                                                                       std::size_t limit) {
  Params params;
  params.text(tenant_id).int64(before_version).int64(static_cast<std::int64_t>(limit));
  return readRows<GraphVersionInfo>(
      kTenantSetting, tenant_id, kListVersions, params, [](const PgResult& r, int row) {
        return GraphVersionInfo{r.int64(row, 0), r.int64(row, 1), column(r, row, 2)};
      });
}

}  // namespace faultline::aggregator::store::postgres
