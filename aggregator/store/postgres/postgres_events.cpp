// The PostgreSQL engine's event storage (migration 6): integrations, events with their noise
// decision, and alerts folded by fingerprint. Kept apart from postgres_store.cpp so that the
// two grow without stepping on each other.
#include <algorithm>
#include <numeric>
#include <optional>
#include <tuple>

#include "aggregator/store/postgres/postgres_store.h"

namespace faultline::aggregator::store::postgres {
namespace {

// Transaction-local settings the row-level security policies read (see migrations.cpp).
constexpr std::string_view kTenantSetting = "faultline.tenant_id";
constexpr std::string_view kIntegrationKeySetting = "faultline.integration_key_hash";

constexpr Statement kInsertIntegration{
    "fl_insert_integration",
    "INSERT INTO events_integrations(id, tenant_id, name, kind, key_hash, mapping_json, "
    "rate_limit_rps, rate_limit_burst, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"};
constexpr Statement kRevokeIntegration{
    "fl_revoke_integration",
    "UPDATE events_integrations SET revoked_at = CASE WHEN revoked_at = 0 THEN $3 ELSE "
    "revoked_at END WHERE tenant_id = $1 AND id = $2"};
#define FL_INTEGRATION_SELECT                                                  \
  "SELECT id, tenant_id, name, kind, key_hash, mapping_json, rate_limit_rps, " \
  "rate_limit_burst, created_at, revoked_at FROM events_integrations "
constexpr Statement kIntegrationByHash{"fl_integration_by_hash",
                                       FL_INTEGRATION_SELECT "WHERE key_hash = $1"};
constexpr Statement kTenantIntegrations{
    "fl_tenant_integrations",
    FL_INTEGRATION_SELECT "WHERE tenant_id = $1 ORDER BY created_at, id COLLATE \"C\""};
#undef FL_INTEGRATION_SELECT

// The alert row is locked for the rest of the transaction: concurrent requests for the same
// fingerprint decide one after the other.
constexpr Statement kLockAlert{
    "fl_lock_alert",
    "SELECT status, count, first_seen, resolved_at, changes, flapping FROM events_alerts "
    "WHERE tenant_id = $1 AND fingerprint = $2 FOR UPDATE"};
// DO NOTHING waits for a concurrent insert of the same key; 0 rows then means it won.
constexpr Statement kInsertAlert{
    "fl_insert_alert",
    "INSERT INTO events_alerts(tenant_id, fingerprint, status, count, first_seen, last_seen, "
    "last_event_id, resolved_at, changes, flapping) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10) ON CONFLICT (tenant_id, fingerprint) DO NOTHING"};
constexpr Statement kUpdateAlert{
    "fl_update_alert",
    "UPDATE events_alerts SET status = $3, count = $4, last_seen = $5, last_event_id = $6, "
    "resolved_at = $7, changes = $8, flapping = $9 WHERE tenant_id = $1 AND fingerprint = $2"};
constexpr Statement kInsertEvent{
    "fl_insert_event",
    "INSERT INTO events_events(id, tenant_id, integration_id, source, service, host, "
    "environment, severity, status, action, source_dedup_key, fingerprint, title, body, "
    "labels_json, occurred_at, received_at, raw, decision, reason, rule_id) VALUES ($1, $2, $3, "
    "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"};
constexpr Statement kInsertNoiseRule{
    "fl_insert_noise_rule",
    "INSERT INTO events_noise_rules(id, tenant_id, kind, name, spec_json, created_by, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"};
constexpr Statement kDeleteNoiseRule{
    "fl_delete_noise_rule",
    "UPDATE events_noise_rules SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2 "
    "AND deleted_at = 0"};
constexpr Statement kTenantNoiseRules{
    "fl_tenant_noise_rules",
    "SELECT id, tenant_id, kind, name, spec_json, created_by, created_at, deleted_at "
    "FROM events_noise_rules WHERE tenant_id = $1 AND deleted_at = 0 "
    "ORDER BY created_at, id COLLATE \"C\""};
// Alerts by latest activity with the event that last touched them (its raw payload left out).
constexpr Statement kListAlerts{
    "fl_list_alerts",
    "SELECT a.fingerprint, a.status, a.count, a.first_seen, a.resolved_at, a.changes, "
    "a.flapping, a.last_seen, e.id, e.integration_id, e.source, e.service, e.host, "
    "e.environment, e.severity, e.status, e.action, e.source_dedup_key, e.fingerprint, e.title, "
    "e.body, e.labels_json, e.occurred_at, e.received_at, ''::bytea, e.decision, e.reason, "
    "e.rule_id FROM events_alerts a JOIN events_events e ON e.id = a.last_event_id "
    "WHERE a.tenant_id = $1 AND e.tenant_id = $1 AND ($2::text = '' OR a.status = $2::text) "
    "AND (a.last_seen < $3 OR (a.last_seen = $3 AND a.fingerprint COLLATE \"C\" < $4::text)) "
    "ORDER BY a.last_seen DESC, a.fingerprint COLLATE \"C\" DESC LIMIT $5"};
constexpr Statement kEventDecisionCounts{
    "fl_event_decision_counts",
    "SELECT decision, COUNT(*) FROM events_events WHERE tenant_id = $1 GROUP BY decision"};
// Newest first, keyset on (received_at, id) with ids compared by bytes as in SQLite.
constexpr Statement kQueryEvents{
    "fl_query_events",
    "SELECT id, integration_id, source, service, host, environment, severity, status, action, "
    "source_dedup_key, fingerprint, title, body, labels_json, occurred_at, received_at, raw, "
    "decision, reason, rule_id FROM events_events WHERE tenant_id = $1 AND received_at >= $2 "
    "AND received_at < $3 AND (length($4::bytea) = 0 OR service = $4::bytea) "
    "AND ($5::text = '' OR severity = $5::text) AND ($6::text = '' OR status = $6::text) "
    "AND ($7::text = '' OR source = $7::text) AND (length($8::bytea) = 0 "
    "OR position($8::bytea IN title) > 0 OR position($8::bytea IN body) > 0) "
    "AND (received_at < $9 OR (received_at = $9 AND id COLLATE \"C\" < $10::text)) "
    "AND ($12::text = '' OR decision = $12::text) "
    "ORDER BY received_at DESC, id COLLATE \"C\" DESC LIMIT $11"};
constexpr Statement kEventStats{
    "fl_event_stats",
    "SELECT (SELECT COUNT(*) FROM events_events WHERE tenant_id = $1), "
    "(SELECT COUNT(*) FROM events_alerts WHERE tenant_id = $1), "
    "(SELECT COUNT(*) FROM events_alerts WHERE tenant_id = $1 AND status = 'firing')"};

// Log-derived events (migration 8). DO NOTHING waits for a concurrent insert of the same
// pair; one row inserted means this call saw it first.
constexpr Statement kRememberLogTemplate{
    "fl_remember_log_template",
    "INSERT INTO log_events_templates(tenant_id, service, template_id, first_seen) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, service, template_id) DO NOTHING"};

std::string column(const PgResult& r, int row, int col) {
  return std::string(r.bytes(row, col));
}

Integration readIntegration(const PgResult& r, int row) {
  Integration integration;
  integration.id = column(r, row, 0);
  integration.tenant_id = column(r, row, 1);
  integration.name = column(r, row, 2);
  integration.kind = column(r, row, 3);
  integration.key_hash = column(r, row, 4);
  integration.mapping_json = column(r, row, 5);
  integration.rate_limit_rps = r.int64(row, 6);
  integration.rate_limit_burst = r.int64(row, 7);
  integration.created_at_ns = r.int64(row, 8);
  integration.revoked_at_ns = r.int64(row, 9);
  return integration;
}

Result<std::optional<AlertState>> lockAlert(Connection& connection, std::string_view tenant_id,
                                            std::string_view fingerprint) {
  Params params;
  params.text(tenant_id).text(fingerprint);
  FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kLockAlert, params));
  if (r.rows() == 0) {
    return std::optional<AlertState>();
  }
  return std::optional<AlertState>(AlertState{column(r, 0, 0), r.int64(0, 1), r.int64(0, 2),
                                              r.int64(0, 3), decodeChanges(r.bytes(0, 4)),
                                              r.int64(0, 5) != 0});
}

/// The 20 event columns of kQueryEvents, starting at column `at`.
Result<StoredEvent> readStoredEvent(const PgResult& r, int row, std::string_view tenant_id,
                                    int at = 0) {
  auto text = [&](int col) { return column(r, row, at + col); };
  StoredEvent stored;
  stored.id = text(0);
  events::Event& event = stored.event;
  event.tenant_id = std::string(tenant_id);
  event.integration_id = text(1);
  FL_RETURN_IF_ERROR(decodeEventColumns(r.bytes(row, at + 2), r.bytes(row, at + 6),
                                        r.bytes(row, at + 7), r.bytes(row, at + 13),
                                        r.bytes(row, at + 17), &stored));
  event.service = text(3);
  event.host = text(4);
  event.environment = text(5);
  event.action = text(8);
  event.source_dedup_key = text(9);
  event.fingerprint = text(10);
  event.title = text(11);
  event.body = text(12);
  event.occurred_at_ns = r.int64(row, at + 14);
  event.received_at_ns = r.int64(row, at + 15);
  event.raw = text(16);
  stored.reason = text(18);
  stored.rule_id = text(19);
  return stored;
}

NoiseRule readNoiseRule(const PgResult& r, int row) {
  NoiseRule rule;
  rule.id = column(r, row, 0);
  rule.tenant_id = column(r, row, 1);
  rule.kind = column(r, row, 2);
  rule.name = column(r, row, 3);
  rule.spec_json = column(r, row, 4);
  rule.created_by = column(r, row, 5);
  rule.created_at_ns = r.int64(row, 6);
  rule.deleted_at_ns = r.int64(row, 7);
  return rule;
}

}  // namespace

Status PostgresStore::createIntegration(const Integration& integration) {
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, integration.tenant_id));
    Params params;
    params.text(integration.id)
        .text(integration.tenant_id)
        .bytea(integration.name)
        .text(integration.kind)
        .text(integration.key_hash)
        .text(integration.mapping_json)
        .int64(integration.rate_limit_rps)
        .int64(integration.rate_limit_burst)
        .int64(integration.created_at_ns);
    return connection.exec(kInsertIntegration, params).status();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create integration: no such tenant (or a duplicate id or key)");
  }
  return status;
}

Result<std::vector<Integration>> PostgresStore::listIntegrations(std::string_view tenant_id) {
  Params params;
  params.text(tenant_id);
  return readRows<Integration>(kTenantSetting, tenant_id, kTenantIntegrations, params,
                               readIntegration);
}

Status PostgresStore::revokeIntegration(std::string_view tenant_id, std::string_view integration_id,
                                        std::int64_t now_ns) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).text(integration_id).int64(now_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kRevokeIntegration, params));
    return r.affectedRows() == 0 ? notFound("no such integration in this tenant") : Status::ok();
  });
}

Result<Integration> PostgresStore::findIntegrationByKeyHash(std::string_view key_hash) {
  std::optional<Integration> found;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    found.reset();
    FL_RETURN_IF_ERROR(connection.setLocal(kIntegrationKeySetting, key_hash));
    Params params;
    params.text(key_hash);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kIntegrationByHash, params));
    if (r.rows() == 1) {
      found = readIntegration(r, 0);
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!found) {
    return notFound("no such integration");
  }
  return *found;
}

Result<std::vector<EventDecision>> PostgresStore::recordEvents(
    std::string_view tenant_id, const std::vector<events::Event>& events,
    const RecordContext& context) {
  FL_RETURN_IF_ERROR(checkEventsToRecord(tenant_id, events, context));
  // Alerts are locked (or inserted) in fingerprint order, whatever the order of the payload:
  // two requests carrying the same alerts in opposite orders then wait for each other in turn
  // instead of deadlocking. Decisions still come back in the payload's order.
  std::vector<std::size_t> order(events.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return events[a].fingerprint < events[b].fingerprint;
  });
  // Through the group-commit writer, as agent batches: concurrent webhooks share one commit
  // (one WAL flush) instead of paying one each. Within a group, requests run in order of
  // their first alert, the same global order their alerts are locked in.
  std::string order_key(tenant_id);
  order_key.push_back('\0');
  if (!order.empty()) {
    order_key.append(events[order.front()].fingerprint);
  }
  std::vector<EventDecision> decisions;
  Status status = writer_->run(std::move(order_key), [&](Connection& connection) -> Status {
    decisions.assign(events.size(), EventDecision{});
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    for (std::size_t index : order) {
      const events::Event& event = events[index];
      const std::string event_id = newEventId();
      const std::optional<Mute> no_mute;
      const std::optional<Mute>& mute = context.mutes.empty() ? no_mute : context.mutes[index];
      FL_ASSIGN_OR_RETURN(std::optional<AlertState> current,
                          lockAlert(connection, tenant_id, event.fingerprint));
      AlertTransition transition =
          decideAlert(current, event, context.flap, mute, context.transient);
      if (transition.write && transition.insert) {
        const AlertState& next = transition.next;
        const std::string changes = encodeChanges(next.changes);  // Params keeps views
        Params params;
        params.text(tenant_id)
            .text(event.fingerprint)
            .text(next.status)
            .int64(next.count)
            .int64(next.first_seen_ns)
            .int64(event.received_at_ns)
            .text(event_id)
            .int64(next.resolved_at_ns)
            .text(changes)
            .int64(next.flapping ? 1 : 0);
        FL_ASSIGN_OR_RETURN(PgResult inserted, connection.exec(kInsertAlert, params));
        if (inserted.affectedRows() == 0) {
          // A concurrent request created the alert first (and has committed): decide again
          // against its row, now locked.
          FL_ASSIGN_OR_RETURN(current, lockAlert(connection, tenant_id, event.fingerprint));
          if (!current) {
            return Status(Errc::Unavailable,
                          "alert " + event.fingerprint + " vanished while being recorded; retry");
          }
          transition = decideAlert(current, event, context.flap, mute, context.transient);
        }
      }
      if (transition.write && current) {
        const AlertState& next = transition.next;
        const std::string changes = encodeChanges(next.changes);  // Params keeps views
        Params params;
        params.text(tenant_id)
            .text(event.fingerprint)
            .text(next.status)
            .int64(next.count)
            .int64(event.received_at_ns)
            .text(event_id)
            .int64(next.resolved_at_ns)
            .text(changes)
            .int64(next.flapping ? 1 : 0);
        FL_RETURN_IF_ERROR(connection.exec(kUpdateAlert, params).status());
      }
      const std::string labels = labelsToJson(event.labels);
      Params params;
      params.text(event_id)
          .text(tenant_id)
          .text(event.integration_id)
          .text(events::sourceKindName(event.source))
          .bytea(event.service)
          .bytea(event.host)
          .bytea(event.environment)
          .text(logparse::severityName(event.severity))
          .text(events::eventStatusName(event.status))
          .bytea(event.action)
          .bytea(event.source_dedup_key)
          .text(event.fingerprint)
          .bytea(event.title)
          .bytea(event.body)
          .text(labels)
          .int64(event.occurred_at_ns)
          .int64(event.received_at_ns)
          .bytea(event.raw)
          .text(noiseDecisionName(transition.decision))
          .bytea(transition.reason)
          .text(transition.rule_id);
      FL_RETURN_IF_ERROR(connection.exec(kInsertEvent, params).status());
      decisions[index] =
          EventDecision{event_id, transition.decision, transition.reason,
                        transition.write ? transition.next.count : 0, transition.rule_id};
    }
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("record events: no such tenant");
  }
  FL_RETURN_IF_ERROR(status);
  return decisions;
}

Result<std::vector<bool>> PostgresStore::rememberLogTemplates(
    std::string_view tenant_id, const std::vector<LogTemplateKey>& keys, std::int64_t now_ns) {
  if (keys.size() > kMaxLogTemplatesPerCall) {
    return invalidArgument("remember log templates: more than " +
                           std::to_string(kMaxLogTemplatesPerCall) + " in one call");
  }
  // Inserted in key order whatever the caller's order, so two nodes remembering the same
  // pairs wait for each other instead of deadlocking.
  std::vector<std::size_t> order(keys.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(keys[a].service, keys[a].template_id) <
           std::tie(keys[b].service, keys[b].template_id);
  });
  std::vector<bool> fresh;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    fresh.assign(keys.size(), false);
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    for (std::size_t index : order) {
      Params params;
      params.text(tenant_id)
          .bytea(keys[index].service)
          .int64(static_cast<std::int64_t>(keys[index].template_id))
          .int64(now_ns);
      FL_ASSIGN_OR_RETURN(PgResult inserted, connection.exec(kRememberLogTemplate, params));
      fresh[index] = inserted.affectedRows() == 1;
    }
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("remember log templates: no such tenant");
  }
  FL_RETURN_IF_ERROR(status);
  return fresh;
}

Result<std::vector<StoredEvent>> PostgresStore::queryEvents(std::string_view tenant_id,
                                                            const EventQuery& query) {
  std::vector<StoredEvent> out;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    out.clear();
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id)
        .int64(query.since_ns)
        .int64(query.until_ns)
        .bytea(query.service)
        .text(query.severity)
        .text(query.status)
        .text(query.source)
        .bytea(query.text)
        .int64(query.before_received_at_ns)
        .text(query.before_id)
        .int64(static_cast<std::int64_t>(query.limit))
        .text(query.decision);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kQueryEvents, params));
    for (int row = 0; row < r.rows(); ++row) {
      FL_ASSIGN_OR_RETURN(StoredEvent stored, readStoredEvent(r, row, tenant_id));
      out.push_back(std::move(stored));
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return out;
}

Result<EventStats> PostgresStore::eventStats(std::string_view tenant_id) {
  EventStats stats;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kEventStats, params));
    if (r.rows() != 1) {
      return internalError("event stats returned no row");
    }
    stats = EventStats{r.int64(0, 0), r.int64(0, 1), r.int64(0, 2), {}};
    FL_ASSIGN_OR_RETURN(PgResult counts, connection.exec(kEventDecisionCounts, params));
    std::vector<std::pair<std::string, std::int64_t>> found;
    for (int row = 0; row < counts.rows(); ++row) {
      found.emplace_back(column(counts, row, 0), counts.int64(row, 1));
    }
    stats.decisions = decisionCounts(found);
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return stats;
}

Result<std::vector<AlertSummary>> PostgresStore::listAlerts(std::string_view tenant_id,
                                                            const AlertQuery& query) {
  Params params;
  params.text(tenant_id)
      .text(query.status)
      .int64(query.before_last_seen_ns)
      .text(query.before_fingerprint)
      .int64(static_cast<std::int64_t>(query.limit));
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kListAlerts, params));
  std::vector<AlertSummary> out;
  for (int row = 0; row < r.rows(); ++row) {
    AlertSummary alert;
    alert.fingerprint = column(r, row, 0);
    alert.state = AlertState{column(r, row, 1),
                             r.int64(row, 2),
                             r.int64(row, 3),
                             r.int64(row, 4),
                             decodeChanges(r.bytes(row, 5)),
                             r.int64(row, 6) != 0};
    alert.last_seen_ns = r.int64(row, 7);
    FL_ASSIGN_OR_RETURN(alert.last_event, readStoredEvent(r, row, tenant_id, 8));
    out.push_back(std::move(alert));
  }
  return out;
}

Status PostgresStore::createNoiseRule(const NoiseRule& rule) {
  Params params;
  params.text(rule.id)
      .text(rule.tenant_id)
      .text(rule.kind)
      .bytea(rule.name)
      .text(rule.spec_json)
      .text(rule.created_by)
      .int64(rule.created_at_ns);
  Status status = scopedWrite(kTenantSetting, rule.tenant_id, kInsertNoiseRule, params).status();
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create noise rule: no such tenant (or a duplicate id)");
  }
  return status;
}

Result<std::vector<NoiseRule>> PostgresStore::listNoiseRules(std::string_view tenant_id) {
  Params params;
  params.text(tenant_id);
  return readRows<NoiseRule>(kTenantSetting, tenant_id, kTenantNoiseRules, params, readNoiseRule);
}

Status PostgresStore::deleteNoiseRule(std::string_view tenant_id, std::string_view rule_id,
                                      std::int64_t now_ns) {
  Params params;
  params.text(tenant_id).text(rule_id).int64(now_ns);
  FL_ASSIGN_OR_RETURN(std::int64_t changed,
                      scopedWrite(kTenantSetting, tenant_id, kDeleteNoiseRule, params));
  return changed == 0 ? notFound("no such rule in force in this tenant") : Status::ok();
}

}  // namespace faultline::aggregator::store::postgres

// --- Incidents (migration 10).
namespace faultline::aggregator::store::postgres {
namespace {

constexpr Statement kUpsertIncident{
    "fl_upsert_incident",
    "INSERT INTO incidents_incidents(tenant_id, id, status, severity, title, first_event, "
    "last_event, opened_at, updated_at, doc_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10) ON CONFLICT (tenant_id, id) DO UPDATE SET status = excluded.status, "
    "severity = excluded.severity, title = excluded.title, first_event = excluded.first_event, "
    "last_event = excluded.last_event, updated_at = excluded.updated_at, "
    "doc_json = excluded.doc_json"};
constexpr Statement kIncidentExists{
    "fl_incident_exists", "SELECT 1 FROM incidents_incidents WHERE tenant_id = $1 AND id = $2"};
constexpr Statement kLinkIncidentEvent{
    "fl_link_incident_event",
    "INSERT INTO incidents_events(tenant_id, incident_id, event_id, occurred_at, reason_json) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"};
constexpr Statement kMoveIncidentEvents{
    "fl_move_incident_events",
    "INSERT INTO incidents_events(tenant_id, incident_id, event_id, occurred_at, reason_json) "
    "SELECT tenant_id, $3, event_id, occurred_at, reason_json FROM incidents_events "
    "WHERE tenant_id = $1 AND incident_id = $2 ON CONFLICT DO NOTHING"};
constexpr Statement kDropMovedEvents{
    "fl_drop_moved_events",
    "DELETE FROM incidents_events WHERE tenant_id = $1 AND incident_id = $2"};
constexpr Statement kAppendTimeline{
    "fl_append_incident_timeline",
    "INSERT INTO incidents_timeline(tenant_id, incident_id, at, actor, kind, detail_json) "
    "VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr Statement kListIncidents{
    "fl_list_incidents",
    "SELECT id, tenant_id, status, severity, title, first_event, last_event, opened_at, "
    "updated_at, doc_json FROM incidents_incidents WHERE tenant_id = $1 "
    "AND ($2::text = '' OR status = $2::text) AND last_event > $3 "
    "AND (first_event < $4 OR (first_event = $4 AND id COLLATE \"C\" < $5::text)) "
    "ORDER BY first_event DESC, id COLLATE \"C\" DESC LIMIT $6"};
constexpr Statement kFindIncident{
    "fl_find_incident",
    "SELECT id, tenant_id, status, severity, title, first_event, last_event, opened_at, "
    "updated_at, doc_json FROM incidents_incidents WHERE tenant_id = $1 AND id = $2"};
constexpr Statement kListIncidentEvents{
    "fl_list_incident_events",
    "SELECT incident_id, event_id, occurred_at, reason_json FROM incidents_events "
    "WHERE tenant_id = $1 AND incident_id = $2 ORDER BY occurred_at, event_id COLLATE \"C\" "
    "LIMIT $3"};
constexpr Statement kListTimeline{
    "fl_list_incident_timeline",
    "SELECT incident_id, at, actor, kind, detail_json FROM incidents_timeline "
    "WHERE tenant_id = $1 AND incident_id = $2 ORDER BY seq"};
constexpr Statement kFindEvents{
    "fl_find_events",
    "SELECT id, integration_id, source, service, host, environment, severity, status, action, "
    "source_dedup_key, fingerprint, title, body, labels_json, occurred_at, received_at, "
    "''::bytea, decision, reason, rule_id FROM events_events WHERE tenant_id = $1 "
    "AND id IN (SELECT jsonb_array_elements_text($2::text::jsonb))"};
constexpr Statement kFindEvent{
    "fl_find_event",
    "SELECT id, integration_id, source, service, host, environment, severity, status, action, "
    "source_dedup_key, fingerprint, title, body, labels_json, occurred_at, received_at, raw, "
    "decision, reason, rule_id FROM events_events WHERE tenant_id = $1 AND id = $2"};
constexpr Statement kFindRules{"fl_find_correlation_rules",
                               "SELECT rules_json FROM incidents_rules WHERE tenant_id = $1"};
constexpr Statement kSetRules{
    "fl_set_correlation_rules",
    "INSERT INTO incidents_rules(tenant_id, rules_json, updated_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (tenant_id) DO UPDATE SET rules_json = excluded.rules_json, "
    "updated_at = excluded.updated_at"};

constexpr Statement kUnlinkIncidentEvent{
    "fl_unlink_incident_event",
    "DELETE FROM incidents_events WHERE tenant_id = $1 AND incident_id = $2 AND event_id = $3"};

IncidentRow readIncidentRow(const PgResult& r, int row) {
  IncidentRow out;
  out.id = column(r, row, 0);
  out.tenant_id = column(r, row, 1);
  out.status = column(r, row, 2);
  out.severity = column(r, row, 3);
  out.title = column(r, row, 4);
  out.first_event_ns = r.int64(row, 5);
  out.last_event_ns = r.int64(row, 6);
  out.opened_at_ns = r.int64(row, 7);
  out.updated_at_ns = r.int64(row, 8);
  out.doc_json = column(r, row, 9);
  return out;
}

std::string eventIdsJson(const std::vector<std::string>& ids) {
  std::string out = "[";
  for (const std::string& id : ids) {
    if (out.size() > 1) {
      out += ',';
    }
    out += '"';
    for (char c : id) {  // event ids are [a-z0-9_]; anything else cannot match one
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
          static_cast<unsigned char>(c) >= 0x80) {
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

}  // namespace

Status PostgresStore::writeIncidents(std::string_view tenant_id, const IncidentWrite& write) {
  std::size_t rows = write.upserts.size() + write.links.size() + write.moves.size() +
                     write.timeline.size() + write.unlinks.size();
  if (rows > kMaxIncidentWriteRows) {
    return invalidArgument("write incidents: more than " + std::to_string(kMaxIncidentWriteRows) +
                           " rows in one write");
  }
  for (const IncidentRow& row : write.upserts) {
    if (row.tenant_id != tenant_id) {
      return invalidArgument("write incidents: an incident of another tenant");
    }
  }
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    for (const IncidentRow& row : write.upserts) {
      Params params;
      params.text(tenant_id)
          .text(row.id)
          .text(row.status)
          .text(row.severity)
          .bytea(row.title)
          .int64(row.first_event_ns)
          .int64(row.last_event_ns)
          .int64(row.opened_at_ns)
          .int64(row.updated_at_ns)
          .text(row.doc_json);
      FL_RETURN_IF_ERROR(connection.exec(kUpsertIncident, params).status());
    }
    // Row-level security hides other tenants' incidents, so "exists" is "exists in this tenant".
    auto mustExist = [&](const std::string& incident_id) -> Status {
      Params params;
      params.text(tenant_id).text(incident_id);
      FL_ASSIGN_OR_RETURN(PgResult found, connection.exec(kIncidentExists, params));
      return found.rows() == 1 ? Status::ok()
                               : notFound("write incidents: no such incident in this tenant");
    };
    for (const IncidentEventRow& row : write.links) {
      FL_RETURN_IF_ERROR(mustExist(row.incident_id));
      Params params;
      params.text(tenant_id)
          .text(row.incident_id)
          .text(row.event_id)
          .int64(row.occurred_at_ns)
          .text(row.reason_json);
      FL_RETURN_IF_ERROR(connection.exec(kLinkIncidentEvent, params).status());
    }
    for (const auto& move : write.moves) {
      FL_RETURN_IF_ERROR(mustExist(move.first));
      FL_RETURN_IF_ERROR(mustExist(move.second));
      Params params;
      params.text(tenant_id).text(move.first).text(move.second);
      FL_RETURN_IF_ERROR(connection.exec(kMoveIncidentEvents, params).status());
      Params drop;
      drop.text(tenant_id).text(move.first);
      FL_RETURN_IF_ERROR(connection.exec(kDropMovedEvents, drop).status());
    }
    for (const IncidentEventRow& row : write.unlinks) {
      Params params;
      params.text(tenant_id).text(row.incident_id).text(row.event_id);
      FL_RETURN_IF_ERROR(connection.exec(kUnlinkIncidentEvent, params).status());
    }
    for (const IncidentTimelineRow& row : write.timeline) {
      FL_RETURN_IF_ERROR(mustExist(row.incident_id));
      Params params;
      params.text(tenant_id)
          .text(row.incident_id)
          .int64(row.at_ns)
          .text(row.actor)
          .text(row.kind)
          .text(row.detail_json);
      FL_RETURN_IF_ERROR(connection.exec(kAppendTimeline, params).status());
    }
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("write incidents: no such tenant");
  }
  return status;
}

Result<std::vector<IncidentRow>> PostgresStore::listIncidents(std::string_view tenant_id,
                                                              const IncidentQuery& query) {
  Params params;
  params.text(tenant_id)
      .text(query.status)
      .int64(query.min_last_event_ns)
      .int64(query.before_first_event_ns)
      .text(query.before_id)
      .int64(static_cast<std::int64_t>(query.limit));
  return readRows<IncidentRow>(kTenantSetting, tenant_id, kListIncidents, params, readIncidentRow);
}

Result<IncidentRow> PostgresStore::findIncident(std::string_view tenant_id,
                                                std::string_view incident_id) {
  Params params;
  params.text(tenant_id).text(incident_id);
  FL_ASSIGN_OR_RETURN(
      std::vector<IncidentRow> rows,
      readRows<IncidentRow>(kTenantSetting, tenant_id, kFindIncident, params, readIncidentRow));
  if (rows.empty()) {
    return notFound("no such incident in this tenant");
  }
  return std::move(rows.front());
}

Result<std::vector<IncidentEventRow>> PostgresStore::listIncidentEvents(
    std::string_view tenant_id, std::string_view incident_id, std::size_t limit) {
  Params params;
  params.text(tenant_id)
      .text(incident_id)
      .int64(static_cast<std::int64_t>(std::min(limit, kMaxIncidentEventsListed)));
  return readRows<IncidentEventRow>(kTenantSetting, tenant_id, kListIncidentEvents, params,
                                    [](const PgResult& r, int row) {
                                      IncidentEventRow link;
                                      link.incident_id = column(r, row, 0);
                                      link.event_id = column(r, row, 1);
                                      link.occurred_at_ns = r.int64(row, 2);
                                      link.reason_json = column(r, row, 3);
                                      return link;
                                    });
}

Result<std::vector<IncidentTimelineRow>> PostgresStore::listIncidentTimeline(
    std::string_view tenant_id, std::string_view incident_id) {
  Params params;
  params.text(tenant_id).text(incident_id);
  return readRows<IncidentTimelineRow>(kTenantSetting, tenant_id, kListTimeline, params,
                                       [](const PgResult& r, int row) {
                                         IncidentTimelineRow entry;
                                         entry.incident_id = column(r, row, 0);
                                         entry.at_ns = r.int64(row, 1);
                                         entry.actor = column(r, row, 2);
                                         entry.kind = column(r, row, 3);
                                         entry.detail_json = column(r, row, 4);
                                         return entry;
                                       });
}

Result<std::vector<StoredEvent>> PostgresStore::findEvents(std::string_view tenant_id,
                                                           const std::vector<std::string>& ids) {
  if (ids.size() > kMaxEventsPerRecord) {
    return invalidArgument("find events: more than " + std::to_string(kMaxEventsPerRecord) +
                           " ids");
  }
  std::vector<StoredEvent> out;
  if (ids.empty()) {
    return out;
  }
  std::string ids_json = eventIdsJson(ids);
  Params params;
  params.text(tenant_id).text(ids_json);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kFindEvents, params));
  for (int row = 0; row < r.rows(); ++row) {
    FL_ASSIGN_OR_RETURN(StoredEvent stored, readStoredEvent(r, row, tenant_id));
    out.push_back(std::move(stored));
  }
  return out;
}

Result<StoredEvent> PostgresStore::findEvent(std::string_view tenant_id,
                                             std::string_view event_id) {
  Params params;
  params.text(tenant_id).text(event_id);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kFindEvent, params));
  if (r.rows() == 0) {
    return notFound("no such event");
  }
  return readStoredEvent(r, 0, tenant_id);
}

Result<std::string> PostgresStore::findCorrelationRules(std::string_view tenant_id) {
  Params params;
  params.text(tenant_id);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kFindRules, params));
  return r.rows() == 1 ? column(r, 0, 0) : std::string();
}

Status PostgresStore::setCorrelationRules(std::string_view tenant_id, std::string_view rules_json,
                                          std::int64_t now_ns) {
  Params params;
  params.text(tenant_id).text(rules_json).int64(now_ns);
  Result<std::int64_t> written = scopedWrite(kTenantSetting, tenant_id, kSetRules, params);
  if (written.status().code() == Errc::AlreadyExists) {
    return notFound("set correlation rules: no such tenant");
  }
  return written.status();
}

}  // namespace faultline::aggregator::store::postgres
