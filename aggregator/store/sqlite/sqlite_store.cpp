#include "aggregator/store/sqlite/sqlite_store.h"

#include <fnmatch.h>

#include <algorithm>
#include <optional>
#include <set>

#include "aggregator/store/sqlite/migrations.h"
#include "shared/logtemplate/miner.h"
#include "shared/util/crypto.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::store::sqlite {
namespace {

// Writer-side statements (writer thread only).
constexpr std::string_view kInsertTenant =
    "INSERT INTO tenancy_tenants(id, name, created_at) VALUES (?1, ?2, ?3)";
constexpr std::string_view kInsertToken =
    "INSERT INTO agents_enrollment_tokens(tenant_id, token_hash, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4)";
constexpr std::string_view kSelectToken =
    "SELECT t.id, t.tenant_id, t.expires_at, t.used_at, n.name, t.revoked_at "
    "FROM agents_enrollment_tokens t JOIN tenancy_tenants n ON n.id = t.tenant_id "
    "WHERE t.token_hash = ?1";
constexpr std::string_view kUseToken =
    "UPDATE agents_enrollment_tokens SET used_at = ?2, used_by_agent = ?3 "
    "WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL";
// ?3 = 0: from the newest.
constexpr std::string_view kListTokens =
    "SELECT id, tenant_id, token_hash, created_at, expires_at, used_at, used_by_agent, "
    "revoked_at FROM agents_enrollment_tokens WHERE tenant_id = ?1 AND (?3 = 0 OR id < ?3) "
    "ORDER BY id DESC LIMIT ?2";
constexpr std::string_view kRevokeToken =
    "UPDATE agents_enrollment_tokens SET revoked_at = ?3 "
    "WHERE tenant_id = ?1 AND id = ?2 AND used_at IS NULL AND revoked_at IS NULL "
    "RETURNING id, tenant_id, token_hash, created_at, expires_at, used_at, used_by_agent, "
    "revoked_at";
constexpr std::string_view kInsertAgent =
    "INSERT INTO agents_agents(id, tenant_id, secret_hash, hostname, version, enrolled_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr std::string_view kFindBatch =
    "SELECT record_count FROM logs_batches "
    "WHERE agent_id = ?1 AND epoch = ?2 AND seq = ?3 AND tenant_id = ?4";
constexpr std::string_view kTouchAgent =
    "UPDATE agents_agents SET last_seen = MAX(COALESCE(last_seen, 0), ?3), "
    "batches = batches + ?4, records = records + ?5 WHERE id = ?1 AND tenant_id = ?2";
constexpr std::string_view kInsertBatch =
    "INSERT INTO logs_batches(tenant_id, agent_id, epoch, seq, record_count, line_bytes, "
    "min_ts, max_ts, received_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr std::string_view kInsertSource =
    "INSERT OR IGNORE INTO logs_batch_sources(batch_id, tenant_id, source) VALUES (?1, ?2, ?3)";
constexpr std::string_view kInsertTemplate =
    "INSERT OR IGNORE INTO logs_templates(tenant_id, template_id, text, created_at) "
    "VALUES (?1, ?2, ?3, ?4)";
// Audit appends run on the single writer, which serializes them: the head read here is the
// one the previous append of the same chain (even in the same group) left.
constexpr std::string_view kAuditHeadForAppend =
    "SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = ?1";
constexpr std::string_view kInsertAudit =
    "INSERT INTO audit_log(tenant_id, seq, at_ns, actor, action, target, outcome, "
    "client_address, detail_json, prev_hash, hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr std::string_view kUpsertAuditHead =
    "INSERT INTO audit_chain_heads(tenant_id, seq, hash) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash";

// Reader-side statements (one set per read connection).
constexpr std::string_view kPing = "SELECT COUNT(*) FROM schema_migrations";
constexpr std::string_view kTenantByName =
    "SELECT id, name, created_at FROM tenancy_tenants WHERE name = ?1";
constexpr std::string_view kAgentBySecret =
    "SELECT a.id, a.tenant_id, t.name, a.hostname FROM agents_agents a "
    "JOIN tenancy_tenants t ON t.id = a.tenant_id WHERE a.secret_hash = ?1";
constexpr std::string_view kListAgents =
    "SELECT id, hostname, version, enrolled_at, COALESCE(last_seen, 0), batches, records, "
    "COALESCE(last_heartbeat, 0), COALESCE(heartbeat_json, '') "
    "FROM agents_agents WHERE tenant_id = ?1 AND (enrolled_at > ?2 OR (enrolled_at = ?2 AND id > "
    "?3)) "
    "ORDER BY enrolled_at, id LIMIT ?4";
constexpr std::string_view kRecordHeartbeat =
    "UPDATE agents_agents SET last_heartbeat = ?3, heartbeat_json = ?4, "
    "version = CASE WHEN ?5 = '' THEN version ELSE ?5 END "
    "WHERE tenant_id = ?1 AND id = ?2";
// Export order is each agent stream's own order: batches of one (agent, epoch) by seq, since
// an agent's pipelined or retried batches may commit out of seq order; streams in the order
// they first arrived. Ids only: payloads are fetched one by one so the sort stays small.
constexpr std::string_view kTenantBatches =
    "WITH firsts AS (SELECT agent_id, epoch, MIN(id) AS first_id FROM logs_batches "
    "  WHERE tenant_id = ?1 GROUP BY agent_id, epoch) "
    "SELECT b.id FROM logs_batches b "
    "JOIN firsts f ON f.agent_id = b.agent_id AND f.epoch = b.epoch "
    "WHERE b.tenant_id = ?1 AND b.max_ts >= ?2 AND b.min_ts < ?3 AND (?4 IS NULL OR EXISTS ("
    "  SELECT 1 FROM logs_batch_sources s WHERE s.batch_id = b.id AND fnmatch(?4, s.source)))"
    " ORDER BY f.first_id, b.seq";
constexpr std::string_view kBatchPayload =
    "SELECT payload FROM logs_batches WHERE id = ?1 AND tenant_id = ?2";
// Empty filter values match everything (actor, action and outcome are never empty).
constexpr std::string_view kQueryAudit =
    "SELECT tenant_id, seq, at_ns, actor, action, target, outcome, client_address, detail_json, "
    "prev_hash, hash FROM audit_log WHERE tenant_id = ?1 AND seq > ?2 AND at_ns >= ?3 "
    "AND at_ns < ?4 AND (?5 = '' OR actor = ?5) AND (?6 = '' OR action = ?6) "
    "AND (?7 = '' OR outcome = ?7) ORDER BY seq LIMIT ?8";
constexpr std::string_view kAuditChain =
    "SELECT tenant_id, seq, at_ns, actor, action, target, outcome, client_address, detail_json, "
    "prev_hash, hash FROM audit_log WHERE tenant_id = ?1 ORDER BY seq";
constexpr std::string_view kAuditHead =
    "SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = ?1";
constexpr std::string_view kTemplateText =
    "SELECT text FROM logs_templates WHERE tenant_id = ?1 AND template_id = ?2";

// Identity (migration 4). Writer side.
constexpr std::string_view kInsertUser =
    "INSERT INTO auth_users(id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)";
constexpr std::string_view kUserIdByEmail = "SELECT id FROM auth_users WHERE email = ?1";
constexpr std::string_view kInsertMembership =
    "INSERT INTO auth_memberships(tenant_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)";
constexpr std::string_view kSetMemberRole =
    "UPDATE auth_memberships SET role = ?3 WHERE tenant_id = ?1 AND user_id = ?2";
// Owners of the tenant and whether ?2 is one of them: the last owner may not go.
constexpr std::string_view kCountOwners =
    "SELECT COUNT(*), COALESCE(SUM(user_id = ?2), 0) FROM auth_memberships "
    "WHERE tenant_id = ?1 AND role = 'owner'";
constexpr std::string_view kDeleteMember =
    "DELETE FROM auth_memberships WHERE tenant_id = ?1 AND user_id = ?2";
constexpr std::string_view kRevokeMemberSessions =
    "UPDATE auth_sessions SET revoked_at = ?3 "
    "WHERE tenant_id = ?1 AND user_id = ?2 AND revoked_at = 0";
constexpr std::string_view kInsertSession =
    "INSERT INTO auth_sessions(token_hash, tenant_id, user_id, csrf_hash, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr std::string_view kPurgeSessions =
    "DELETE FROM auth_sessions WHERE tenant_id = ?1 AND "
    "(expires_at < ?2 OR (revoked_at > 0 AND revoked_at < ?2))";
constexpr std::string_view kPurgeInvitations =
    "DELETE FROM auth_invitations WHERE tenant_id = ?1 AND "
    "(expires_at < ?2 OR (accepted_at > 0 AND accepted_at < ?2))";
constexpr std::string_view kRevokeSession =
    "UPDATE auth_sessions SET revoked_at = CASE WHEN revoked_at = 0 THEN ?3 ELSE revoked_at END "
    "WHERE tenant_id = ?1 AND token_hash = ?2";
constexpr std::string_view kInsertApiKey =
    "INSERT INTO auth_api_keys(id, tenant_id, name, role, key_hash, created_by, created_at, "
    "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr std::string_view kRevokeApiKey =
    "UPDATE auth_api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ?3 ELSE revoked_at END "
    "WHERE tenant_id = ?1 AND id = ?2";
constexpr std::string_view kTouchApiKey =
    "UPDATE auth_api_keys SET last_used = MAX(last_used, ?3) WHERE tenant_id = ?1 AND id = ?2";
constexpr std::string_view kInsertInvitation =
    "INSERT INTO auth_invitations(id, tenant_id, email, role, token_hash, invited_by, created_at, "
    "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr std::string_view kInvitationColumns =
    "SELECT id, tenant_id, email, role, token_hash, invited_by, created_at, expires_at, "
    "accepted_at FROM auth_invitations WHERE token_hash = ?1";
constexpr std::string_view kUseInvitation =
    "UPDATE auth_invitations SET accepted_at = ?2 WHERE id = ?1 AND accepted_at = 0";
constexpr std::string_view kInsertSigningKey =
    "INSERT INTO auth_signing_keys(kid, secret, created_at) VALUES (?1, ?2, ?3)";

// Identity, reader side.
constexpr std::string_view kUserByEmail =
    "SELECT id, email, password_hash, created_at, disabled_at FROM auth_users WHERE email = ?1";
constexpr std::string_view kMembershipSelect =
    "SELECT m.tenant_id, t.name, m.user_id, u.email, m.role, m.created_at "
    "FROM auth_memberships m JOIN tenancy_tenants t ON t.id = m.tenant_id "
    "JOIN auth_users u ON u.id = m.user_id ";
constexpr std::string_view kSessionByHash =
    "SELECT s.token_hash, s.user_id, s.tenant_id, s.csrf_hash, s.created_at, s.expires_at, "
    "s.revoked_at, m.role FROM auth_sessions s "
    "JOIN auth_memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id "
    "JOIN auth_users u ON u.id = s.user_id WHERE s.token_hash = ?1 AND u.disabled_at = 0";
constexpr std::string_view kApiKeySelect =
    "SELECT id, tenant_id, name, role, key_hash, created_by, created_at, expires_at, revoked_at, "
    "last_used FROM auth_api_keys ";
constexpr std::string_view kSigningKeys =
    "SELECT kid, secret, created_at FROM auth_signing_keys WHERE created_at >= ?1 "
    "ORDER BY created_at DESC, kid";

// Events (migration 6). Writer side.
constexpr std::string_view kInsertIntegration =
    "INSERT INTO events_integrations(id, tenant_id, name, kind, key_hash, mapping_json, "
    "rate_limit_rps, rate_limit_burst, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr std::string_view kRevokeIntegration =
    "UPDATE events_integrations SET revoked_at = CASE WHEN revoked_at = 0 THEN ?3 ELSE "
    "revoked_at END WHERE tenant_id = ?1 AND id = ?2";
constexpr std::string_view kSelectAlert =
    "SELECT status, count, first_seen, resolved_at, changes, flapping, active_minute "
    "FROM events_alerts WHERE tenant_id = ?1 AND fingerprint = ?2";
// active_minute is last_seen's minute (migration 19); the by-minute index changes only when it
// does, so the UPDATE names it only then (kUpdateAlertMinute).
constexpr std::int64_t kNanosPerMinute = 60'000'000'000;
constexpr std::string_view kInsertAlert =
    "INSERT INTO events_alerts(tenant_id, fingerprint, status, count, first_seen, last_seen, "
    "last_event_id, resolved_at, changes, flapping, active_minute) VALUES (?1, ?2, ?3, ?4, ?5, "
    "?6, ?7, ?8, ?9, ?10, ?11)";
constexpr std::string_view kUpdateAlert =
    "UPDATE events_alerts SET status = ?3, count = ?4, last_seen = ?5, last_event_id = ?6, "
    "resolved_at = ?7, changes = ?8, flapping = ?9 WHERE tenant_id = ?1 AND fingerprint = ?2";
constexpr std::string_view kUpdateAlertMinute =
    "UPDATE events_alerts SET status = ?3, count = ?4, last_seen = ?5, last_event_id = ?6, "
    "resolved_at = ?7, changes = ?8, flapping = ?9, active_minute = ?10 "
    "WHERE tenant_id = ?1 AND fingerprint = ?2";
constexpr std::string_view kInsertEvent =
    "INSERT INTO events_events(id, tenant_id, integration_id, source, service, host, "
    "environment, severity, status, action, source_dedup_key, fingerprint, title, body, "
    "labels_json, occurred_at, received_at, raw, decision, reason, rule_id) VALUES (?1, ?2, ?3, "
    "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";
constexpr std::string_view kInsertNoiseRule =
    "INSERT INTO events_noise_rules(id, tenant_id, kind, name, spec_json, created_by, "
    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view kDeleteNoiseRule =
    "UPDATE events_noise_rules SET deleted_at = ?3 WHERE tenant_id = ?1 AND id = ?2 "
    "AND deleted_at = 0";

// Log-derived events (migration 8). Writer side: a pair inserted (1 change) is new.
constexpr std::string_view kRememberLogTemplate =
    "INSERT INTO log_events_templates(tenant_id, service, template_id, first_seen) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";

// Events, reader side.
constexpr std::string_view kIntegrationSelect =
    "SELECT id, tenant_id, name, kind, key_hash, mapping_json, rate_limit_rps, "
    "rate_limit_burst, created_at, revoked_at FROM events_integrations ";
// Newest first, keyset on (received_at, id); empty filters match everything.
constexpr std::string_view kQueryEvents =
    "SELECT id, integration_id, source, service, host, environment, severity, status, action, "
    "source_dedup_key, fingerprint, title, body, labels_json, occurred_at, received_at, raw, "
    "decision, reason, rule_id FROM events_events WHERE tenant_id = ?1 AND received_at >= ?2 "
    "AND received_at < ?3 AND (?4 = '' OR service = ?4) AND (?5 = '' OR severity = ?5) "
    "AND (?6 = '' OR status = ?6) AND (?7 = '' OR source = ?7) "
    "AND (?8 = '' OR instr(title, ?8) > 0 OR instr(body, ?8) > 0) "
    "AND (received_at < ?9 OR (received_at = ?9 AND id < ?10)) "
    "AND (?12 = '' OR decision = ?12) "
    "ORDER BY received_at DESC, id DESC LIMIT ?11";
constexpr std::string_view kEventStats =
    "SELECT (SELECT COUNT(*) FROM events_events WHERE tenant_id = ?1), "
    "(SELECT COUNT(*) FROM events_alerts WHERE tenant_id = ?1), "
    "(SELECT COUNT(*) FROM events_alerts WHERE tenant_id = ?1 AND status = 'firing')";
constexpr std::string_view kEventDecisionCounts =
    "SELECT decision, COUNT(*) FROM events_events WHERE tenant_id = ?1 GROUP BY decision";
// Alerts by latest activity with the event that last touched them (its raw payload left out).
constexpr std::string_view kListAlerts =
    "SELECT a.fingerprint, a.status, a.count, a.first_seen, a.resolved_at, a.changes, "
    "a.flapping, a.last_seen, e.id, e.integration_id, e.source, e.service, e.host, "
    "e.environment, e.severity, e.status, e.action, e.source_dedup_key, e.fingerprint, e.title, "
    "e.body, e.labels_json, e.occurred_at, e.received_at, '', e.decision, e.reason, e.rule_id "
    "FROM events_alerts a JOIN events_events e ON e.id = a.last_event_id "
    "WHERE a.tenant_id = ?1 AND (?2 = '' OR a.status = ?2) AND a.active_minute <= ?6 "
    "AND (a.last_seen < ?3 OR (a.last_seen = ?3 AND a.fingerprint < ?4)) "
    "ORDER BY a.active_minute DESC, a.last_seen DESC, a.fingerprint DESC LIMIT ?5";
constexpr std::string_view kTenantNoiseRules =
    "SELECT id, tenant_id, kind, name, spec_json, created_by, created_at, deleted_at "
    "FROM events_noise_rules WHERE tenant_id = ?1 AND deleted_at = 0 ORDER BY created_at, id";

std::string joined(std::string_view a, std::string_view b) {
  return std::string(a) + std::string(b);
}

Membership readMembership(Stmt& stmt) {
  return Membership{std::string(stmt.columnText(0)), std::string(stmt.columnText(1)),
                    std::string(stmt.columnText(2)), std::string(stmt.columnText(3)),
                    std::string(stmt.columnText(4)), stmt.columnInt(5)};
}

ApiKey readApiKey(Stmt& stmt) {
  ApiKey key;
  key.id = std::string(stmt.columnText(0));
  key.tenant_id = std::string(stmt.columnText(1));
  key.name = std::string(stmt.columnText(2));
  key.role = std::string(stmt.columnText(3));
  key.key_hash = std::string(stmt.columnText(4));
  key.created_by = std::string(stmt.columnText(5));
  key.created_at_ns = stmt.columnInt(6);
  key.expires_at_ns = stmt.columnInt(7);
  key.revoked_at_ns = stmt.columnInt(8);
  key.last_used_ns = stmt.columnInt(9);
  return key;
}

Invitation readInvitation(Stmt& stmt) {
  Invitation invitation;
  invitation.id = std::string(stmt.columnText(0));
  invitation.tenant_id = std::string(stmt.columnText(1));
  invitation.email = std::string(stmt.columnText(2));
  invitation.role = std::string(stmt.columnText(3));
  invitation.token_hash = std::string(stmt.columnText(4));
  invitation.invited_by = std::string(stmt.columnText(5));
  invitation.created_at_ns = stmt.columnInt(6);
  invitation.expires_at_ns = stmt.columnInt(7);
  invitation.accepted_at_ns = stmt.columnInt(8);
  return invitation;
}

void fnmatchSql(sqlite3_context* context, int argc, sqlite3_value** argv) noexcept {
  if (argc != 2 || sqlite3_value_type(argv[0]) == SQLITE_NULL ||
      sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    sqlite3_result_null(context);
    return;
  }
  const auto* pattern = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
  if (pattern == nullptr || text == nullptr) {
    sqlite3_result_error_nomem(context);
    return;
  }
  sqlite3_result_int(context, ::fnmatch(pattern, text, 0) == 0 ? 1 : 0);
}

std::int64_t asSigned(std::uint64_t value) {
  return static_cast<std::int64_t>(value);
}

AuditEntry auditEntryFromRow(Stmt& row) {
  AuditEntry entry;
  entry.tenant_id = std::string(row.columnText(0));
  entry.seq = row.columnInt(1);
  entry.at_ns = row.columnInt(2);
  entry.actor = std::string(row.columnText(3));
  entry.action = std::string(row.columnText(4));
  entry.target = std::string(row.columnText(5));
  entry.outcome = std::string(row.columnText(6));
  entry.client_address = std::string(row.columnText(7));
  entry.detail_json = std::string(row.columnText(8));
  entry.prev_hash = std::string(row.columnText(9));
  entry.hash = std::string(row.columnText(10));
  return entry;
}

// Incident writes, prepared once on the write connection: every correlation step runs them
// (a profile of webhook ingest found per-call prepares at 3.7% of the aggregator's samples).
constexpr std::string_view kUpsertIncident =
    "INSERT INTO incidents_incidents(tenant_id, id, status, severity, title, first_event, "
    "last_event, opened_at, updated_at, doc_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET status = excluded.status, "
    "severity = excluded.severity, title = excluded.title, first_event = excluded.first_event, "
    "last_event = excluded.last_event, updated_at = excluded.updated_at, "
    "doc_json = excluded.doc_json";
// writeIncidents checks the incident first (mustExist), and the foreign key backs it.
constexpr std::string_view kLinkIncidentEvent =
    "INSERT INTO incidents_events(tenant_id, incident_id, event_id, occurred_at, reason_json) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";
// The narrow index, not the table: a seek in the table reads the incident's whole document.
constexpr std::string_view kIncidentExists =
    "SELECT 1 FROM incidents_incidents INDEXED BY incidents_by_id "
    "WHERE tenant_id = ?1 AND id = ?2";
// A merge moves links; an event already linked to the target keeps the target's link.
constexpr std::string_view kMoveIncidentEvents =
    "INSERT INTO incidents_events(tenant_id, incident_id, event_id, occurred_at, reason_json) "
    "SELECT tenant_id, ?3, event_id, occurred_at, reason_json FROM incidents_events "
    "WHERE tenant_id = ?1 AND incident_id = ?2 ON CONFLICT DO NOTHING";
constexpr std::string_view kDropMovedEvents =
    "DELETE FROM incidents_events WHERE tenant_id = ?1 AND incident_id = ?2";
constexpr std::string_view kAppendTimeline =
    "INSERT INTO incidents_timeline(tenant_id, incident_id, at, actor, kind, detail_json) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
// Links are keyed by (incident, occurred_at, event) (migration 20): an unlink that names the
// event's time is one seek; one that does not (or names a wrong one) scans the incident's links.
constexpr std::string_view kUnlinkIncidentEvent =
    "DELETE FROM incidents_events WHERE tenant_id = ?1 AND incident_id = ?2 "
    "AND occurred_at = ?3 AND event_id = ?4";
constexpr std::string_view kUnlinkIncidentEventAnyTime =
    "DELETE FROM incidents_events WHERE tenant_id = ?1 AND incident_id = ?2 AND event_id = ?3";
}  // namespace

struct SqliteStore::WriteStatements {
  Stmt insert_tenant;
  Stmt insert_token;
  Stmt select_token;
  Stmt use_token;
  Stmt insert_agent;
  Stmt find_batch;
  Stmt touch_agent;
  Stmt insert_batch;
  Stmt insert_source;
  Stmt record_heartbeat;
  Stmt insert_template;
  Stmt insert_user;
  Stmt user_id_by_email;
  Stmt insert_membership;
  Stmt set_member_role;
  Stmt delete_member;
  Stmt count_owners;
  Stmt revoke_member_sessions;
  Stmt insert_session;
  Stmt revoke_session;
  Stmt purge_sessions;
  Stmt purge_invitations;
  Stmt insert_api_key;
  Stmt revoke_api_key;
  Stmt touch_api_key;
  Stmt insert_invitation;
  Stmt select_invitation;
  Stmt use_invitation;
  Stmt insert_signing_key;
  Stmt audit_head_for_append;
  Stmt insert_audit;
  Stmt upsert_audit_head;
  Stmt insert_integration;
  Stmt revoke_integration;
  Stmt select_alert;
  Stmt insert_alert;
  Stmt update_alert;
  Stmt update_alert_minute;
  Stmt insert_event;
  Stmt insert_noise_rule;
  Stmt delete_noise_rule;
  Stmt remember_log_template;
  // Incident writes: every correlation step runs them, so they are prepared once.
  Stmt upsert_incident;
  Stmt incident_exists;
  Stmt link_incident_event;
  Stmt move_incident_events;
  Stmt drop_moved_events;
  Stmt unlink_incident_event;
  Stmt unlink_incident_event_any_time;
  Stmt append_timeline;
};

struct SqliteStore::Reader {
  DbPtr db;  // declared first: statements are finalized before the connection closes
  Stmt ping;
  Stmt tenant_by_name;
  Stmt agent_by_secret;
  Stmt list_agents;
  Stmt tenant_batches;
  Stmt batch_payload;
  Stmt template_text;
  Stmt user_by_email;
  Stmt user_memberships;
  Stmt tenant_members;
  Stmt member;
  Stmt session_by_hash;
  Stmt api_key_by_hash;
  Stmt tenant_api_keys;
  Stmt invitation_by_hash;
  Stmt signing_keys;
  Stmt query_audit;
  Stmt audit_chain;
  Stmt audit_head;
  Stmt integration_by_hash;
  Stmt tenant_integrations;
  Stmt query_events;
  Stmt event_stats;
  Stmt event_decision_counts;
  Stmt list_alerts;
  Stmt tenant_noise_rules;
};

/// Borrows a read connection; gives it back to the pool on destruction.
class SqliteStore::ReaderLease {
 public:
  ReaderLease(SqliteStore* store, std::unique_ptr<Reader> reader)
      : store_(store), reader_(std::move(reader)) {}
  ReaderLease(ReaderLease&&) noexcept = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (reader_ != nullptr) {
      store_->releaseReader(std::move(reader_));
    }
  }
  Reader* operator->() { return reader_.get(); }

 private:
  SqliteStore* store_;
  std::unique_ptr<Reader> reader_;
};

SqliteStore::SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {}

SqliteStore::~SqliteStore() {
  // Finish queued writes while the statements still exist. The writer stays in place until
  // its thread is gone: a caller that writes during shutdown gets Unavailable, never a
  // dangling writer.
  if (writer_ != nullptr) {
    writer_->shutdown();
  }
  writer_.reset();
  checkpointer_.reset();  // no commit runs any more: its hook can go
}

void SqliteStore::drainAsyncWrites() {
  writer_->drain();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(SqliteStoreOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  const std::string& path = store->options_.path;
  FL_ASSIGN_OR_RETURN(store->write_db_, openDatabase(path, store->options_.busy_timeout_ms));
  sqlite3* db = store->write_db_.get();
  FL_RETURN_IF_ERROR(migrate(db, path));
  // Each job of a group commit runs in its own savepoint, so every page it changes that an
  // earlier job of the group already changed is first copied to the statement journal. That
  // journal spilled to a temporary file past 64 KiB: a third of the writer's write calls at
  // 10,000 events/s (measured). In memory it holds one job's pages at most (a job is bounded
  // by its rows) and is dropped when the job's savepoint is released. Set after the
  // migrations, which may sort whole tables.
  FL_RETURN_IF_ERROR(exec(db, "PRAGMA temp_store=MEMORY").withContext("configure " + path));
  auto stmts = std::make_unique<WriteStatements>();
  FL_ASSIGN_OR_RETURN(stmts->insert_tenant, Stmt::prepare(db, kInsertTenant));
  FL_ASSIGN_OR_RETURN(stmts->insert_token, Stmt::prepare(db, kInsertToken));
  FL_ASSIGN_OR_RETURN(stmts->select_token, Stmt::prepare(db, kSelectToken));
  FL_ASSIGN_OR_RETURN(stmts->use_token, Stmt::prepare(db, kUseToken));
  FL_ASSIGN_OR_RETURN(stmts->insert_agent, Stmt::prepare(db, kInsertAgent));
  FL_ASSIGN_OR_RETURN(stmts->find_batch, Stmt::prepare(db, kFindBatch));
  FL_ASSIGN_OR_RETURN(stmts->touch_agent, Stmt::prepare(db, kTouchAgent));
  FL_ASSIGN_OR_RETURN(stmts->insert_batch, Stmt::prepare(db, kInsertBatch));
  FL_ASSIGN_OR_RETURN(stmts->insert_source, Stmt::prepare(db, kInsertSource));
  FL_ASSIGN_OR_RETURN(stmts->record_heartbeat, Stmt::prepare(db, kRecordHeartbeat));
  FL_ASSIGN_OR_RETURN(stmts->insert_template, Stmt::prepare(db, kInsertTemplate));
  FL_ASSIGN_OR_RETURN(stmts->insert_user, Stmt::prepare(db, kInsertUser));
  FL_ASSIGN_OR_RETURN(stmts->user_id_by_email, Stmt::prepare(db, kUserIdByEmail));
  FL_ASSIGN_OR_RETURN(stmts->insert_membership, Stmt::prepare(db, kInsertMembership));
  FL_ASSIGN_OR_RETURN(stmts->set_member_role, Stmt::prepare(db, kSetMemberRole));
  FL_ASSIGN_OR_RETURN(stmts->delete_member, Stmt::prepare(db, kDeleteMember));
  FL_ASSIGN_OR_RETURN(stmts->count_owners, Stmt::prepare(db, kCountOwners));
  FL_ASSIGN_OR_RETURN(stmts->revoke_member_sessions, Stmt::prepare(db, kRevokeMemberSessions));
  FL_ASSIGN_OR_RETURN(stmts->insert_session, Stmt::prepare(db, kInsertSession));
  FL_ASSIGN_OR_RETURN(stmts->revoke_session, Stmt::prepare(db, kRevokeSession));
  FL_ASSIGN_OR_RETURN(stmts->purge_sessions, Stmt::prepare(db, kPurgeSessions));
  FL_ASSIGN_OR_RETURN(stmts->purge_invitations, Stmt::prepare(db, kPurgeInvitations));
  FL_ASSIGN_OR_RETURN(stmts->insert_api_key, Stmt::prepare(db, kInsertApiKey));
  FL_ASSIGN_OR_RETURN(stmts->revoke_api_key, Stmt::prepare(db, kRevokeApiKey));
  FL_ASSIGN_OR_RETURN(stmts->touch_api_key, Stmt::prepare(db, kTouchApiKey));
  FL_ASSIGN_OR_RETURN(stmts->insert_invitation, Stmt::prepare(db, kInsertInvitation));
  FL_ASSIGN_OR_RETURN(stmts->select_invitation, Stmt::prepare(db, kInvitationColumns));
  FL_ASSIGN_OR_RETURN(stmts->use_invitation, Stmt::prepare(db, kUseInvitation));
  FL_ASSIGN_OR_RETURN(stmts->insert_signing_key, Stmt::prepare(db, kInsertSigningKey));
  FL_ASSIGN_OR_RETURN(stmts->audit_head_for_append, Stmt::prepare(db, kAuditHeadForAppend));
  FL_ASSIGN_OR_RETURN(stmts->insert_audit, Stmt::prepare(db, kInsertAudit));
  FL_ASSIGN_OR_RETURN(stmts->upsert_audit_head, Stmt::prepare(db, kUpsertAuditHead));
  FL_ASSIGN_OR_RETURN(stmts->insert_integration, Stmt::prepare(db, kInsertIntegration));
  FL_ASSIGN_OR_RETURN(stmts->revoke_integration, Stmt::prepare(db, kRevokeIntegration));
  FL_ASSIGN_OR_RETURN(stmts->select_alert, Stmt::prepare(db, kSelectAlert));
  FL_ASSIGN_OR_RETURN(stmts->insert_alert, Stmt::prepare(db, kInsertAlert));
  FL_ASSIGN_OR_RETURN(stmts->update_alert, Stmt::prepare(db, kUpdateAlert));
  FL_ASSIGN_OR_RETURN(stmts->update_alert_minute, Stmt::prepare(db, kUpdateAlertMinute));
  FL_ASSIGN_OR_RETURN(stmts->insert_event, Stmt::prepare(db, kInsertEvent));
  FL_ASSIGN_OR_RETURN(stmts->insert_noise_rule, Stmt::prepare(db, kInsertNoiseRule));
  FL_ASSIGN_OR_RETURN(stmts->delete_noise_rule, Stmt::prepare(db, kDeleteNoiseRule));
  FL_ASSIGN_OR_RETURN(stmts->remember_log_template, Stmt::prepare(db, kRememberLogTemplate));
  FL_ASSIGN_OR_RETURN(stmts->upsert_incident, Stmt::prepare(db, kUpsertIncident));
  FL_ASSIGN_OR_RETURN(stmts->incident_exists, Stmt::prepare(db, kIncidentExists));
  FL_ASSIGN_OR_RETURN(stmts->link_incident_event, Stmt::prepare(db, kLinkIncidentEvent));
  FL_ASSIGN_OR_RETURN(stmts->move_incident_events, Stmt::prepare(db, kMoveIncidentEvents));
  FL_ASSIGN_OR_RETURN(stmts->drop_moved_events, Stmt::prepare(db, kDropMovedEvents));
  FL_ASSIGN_OR_RETURN(stmts->unlink_incident_event, Stmt::prepare(db, kUnlinkIncidentEvent));
  FL_ASSIGN_OR_RETURN(stmts->unlink_incident_event_any_time,
                      Stmt::prepare(db, kUnlinkIncidentEventAnyTime));
  FL_ASSIGN_OR_RETURN(stmts->append_timeline, Stmt::prepare(db, kAppendTimeline));
  store->write_ = std::move(stmts);
  FL_ASSIGN_OR_RETURN(store->graph_,
                      SqliteGraphTables::open(db, path, store->options_.busy_timeout_ms));
  WalCheckpointer::Options checkpoints;
  checkpoints.busy_timeout_ms = store->options_.busy_timeout_ms;
  FL_ASSIGN_OR_RETURN(store->checkpointer_, WalCheckpointer::start(db, path, checkpoints));
  FL_ASSIGN_OR_RETURN(store->writer_,
                      GroupCommitWriter::start(db, {store->options_.max_pending_writes,
                                                    store->options_.max_group_jobs}));
  // Fail at open, not at the first request, when readers cannot be set up.
  FL_ASSIGN_OR_RETURN(auto lease, store->acquireReader());
  (void)lease;
  return store;
}

Result<SqliteStore::ReaderLease> SqliteStore::acquireReader() {
  {
    std::lock_guard lock(readers_mutex_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Reader> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(reader));
    }
  }
  auto reader = std::make_unique<Reader>();
  FL_ASSIGN_OR_RETURN(reader->db, openDatabase(options_.path, options_.busy_timeout_ms));
  sqlite3* db = reader->db.get();
  int rc = sqlite3_create_function_v2(db, "fnmatch", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                      &fnmatchSql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return sqliteStatus(db, rc, "register fnmatch");
  }
  FL_ASSIGN_OR_RETURN(reader->ping, Stmt::prepare(db, kPing));
  FL_ASSIGN_OR_RETURN(reader->tenant_by_name, Stmt::prepare(db, kTenantByName));
  FL_ASSIGN_OR_RETURN(reader->agent_by_secret, Stmt::prepare(db, kAgentBySecret));
  FL_ASSIGN_OR_RETURN(reader->list_agents, Stmt::prepare(db, kListAgents));
  FL_ASSIGN_OR_RETURN(reader->tenant_batches, Stmt::prepare(db, kTenantBatches));
  FL_ASSIGN_OR_RETURN(reader->batch_payload, Stmt::prepare(db, kBatchPayload));
  FL_ASSIGN_OR_RETURN(reader->template_text, Stmt::prepare(db, kTemplateText));
  FL_ASSIGN_OR_RETURN(reader->user_by_email, Stmt::prepare(db, kUserByEmail));
  FL_ASSIGN_OR_RETURN(
      reader->user_memberships,
      Stmt::prepare(db, joined(kMembershipSelect, "WHERE m.user_id = ?1 ORDER BY t.name")));
  FL_ASSIGN_OR_RETURN(
      reader->tenant_members,
      Stmt::prepare(db, joined(kMembershipSelect, "WHERE m.tenant_id = ?1 ORDER BY u.email")));
  FL_ASSIGN_OR_RETURN(
      reader->member,
      Stmt::prepare(db, joined(kMembershipSelect, "WHERE m.tenant_id = ?1 AND m.user_id = ?2")));
  FL_ASSIGN_OR_RETURN(reader->session_by_hash, Stmt::prepare(db, kSessionByHash));
  FL_ASSIGN_OR_RETURN(reader->api_key_by_hash,
                      Stmt::prepare(db, joined(kApiKeySelect, "WHERE key_hash = ?1")));
  FL_ASSIGN_OR_RETURN(
      reader->tenant_api_keys,
      Stmt::prepare(db, joined(kApiKeySelect, "WHERE tenant_id = ?1 ORDER BY created_at, id")));
  FL_ASSIGN_OR_RETURN(reader->invitation_by_hash, Stmt::prepare(db, kInvitationColumns));
  FL_ASSIGN_OR_RETURN(reader->signing_keys, Stmt::prepare(db, kSigningKeys));
  FL_ASSIGN_OR_RETURN(reader->query_audit, Stmt::prepare(db, kQueryAudit));
  FL_ASSIGN_OR_RETURN(reader->audit_chain, Stmt::prepare(db, kAuditChain));
  FL_ASSIGN_OR_RETURN(reader->audit_head, Stmt::prepare(db, kAuditHead));
  FL_ASSIGN_OR_RETURN(reader->integration_by_hash,
                      Stmt::prepare(db, joined(kIntegrationSelect, "WHERE key_hash = ?1")));
  FL_ASSIGN_OR_RETURN(reader->tenant_integrations,
                      Stmt::prepare(db, joined(kIntegrationSelect,
                                               "WHERE tenant_id = ?1 ORDER BY created_at, id")));
  FL_ASSIGN_OR_RETURN(reader->query_events, Stmt::prepare(db, kQueryEvents));
  FL_ASSIGN_OR_RETURN(reader->event_stats, Stmt::prepare(db, kEventStats));
  FL_ASSIGN_OR_RETURN(reader->event_decision_counts, Stmt::prepare(db, kEventDecisionCounts));
  FL_ASSIGN_OR_RETURN(reader->list_alerts, Stmt::prepare(db, kListAlerts));
  FL_ASSIGN_OR_RETURN(reader->tenant_noise_rules, Stmt::prepare(db, kTenantNoiseRules));
  return ReaderLease(this, std::move(reader));
}

void SqliteStore::releaseReader(std::unique_ptr<Reader> reader) {
  std::lock_guard lock(readers_mutex_);
  if (idle_readers_.size() < options_.max_idle_readers) {
    idle_readers_.push_back(std::move(reader));
  }
}

Status SqliteStore::ping() {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->ping);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return internalError("ping returned no row");
  }
  return Status::ok();
}

Result<Tenant> SqliteStore::createTenant(std::string_view name, std::int64_t now_ns) {
  if (!validTenantName(name)) {
    return invalidArgument("invalid tenant name '" + std::string(name) +
                           "': use 1-63 of [a-z0-9-], starting with a letter or digit");
  }
  Tenant tenant{"tnt_" + crypto::randomHex(12), std::string(name), now_ns};
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_tenant);
    use->bind(1, tenant.id).bind(2, tenant.name).bind(3, tenant.created_at_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return Status(Errc::AlreadyExists, "tenant '" + tenant.name + "' already exists");
  }
  FL_RETURN_IF_ERROR(status);
  return tenant;
}

Result<Tenant> SqliteStore::findTenantByName(std::string_view name) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->tenant_by_name);
  use->bind(1, name);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no tenant named '" + std::string(name) + "'");
  }
  return Tenant{std::string(use->columnText(0)), std::string(use->columnText(1)),
                use->columnInt(2)};
}

Result<std::int64_t> SqliteStore::createEnrollmentToken(std::string_view tenant_id,
                                                        std::string_view token_hash,
                                                        std::int64_t now_ns,
                                                        std::int64_t expires_at_ns) {
  std::int64_t id = 0;
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_token);
    use->bind(1, tenant_id).bind(2, token_hash).bind(3, now_ns).bind(4, expires_at_ns);
    FL_RETURN_IF_ERROR(use->run());
    id = sqlite3_last_insert_rowid(write_db_.get());
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    // Foreign key (unknown tenant) or, with negligible odds, a duplicate token hash.
    return Status(Errc::NotFound, "create enrollment token: " + status.message());
  }
  FL_RETURN_IF_ERROR(status);
  return id;
}

namespace {
EnrollmentToken readEnrollmentToken(const Stmt& stmt) {
  EnrollmentToken token;
  token.id = stmt.columnInt(0);
  token.tenant_id = std::string(stmt.columnText(1));
  token.token_hash = std::string(stmt.columnText(2));
  token.created_at_ns = stmt.columnInt(3);
  token.expires_at_ns = stmt.columnInt(4);
  token.used_at_ns = stmt.columnIsNull(5) ? 0 : stmt.columnInt(5);
  token.used_by_agent = stmt.columnIsNull(6) ? "" : std::string(stmt.columnText(6));
  token.revoked_at_ns = stmt.columnIsNull(7) ? 0 : stmt.columnInt(7);
  return token;
}
}  // namespace

Result<std::vector<EnrollmentToken>> SqliteStore::listEnrollmentTokens(std::string_view tenant_id,
                                                                       std::size_t limit,
                                                                       std::int64_t before_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kListTokens));
  stmt.bind(1, tenant_id).bind(2, static_cast<std::int64_t>(limit)).bind(3, before_id);
  std::vector<EnrollmentToken> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    out.push_back(readEnrollmentToken(stmt));
  }
}

Result<EnrollmentToken> SqliteStore::revokeEnrollmentToken(std::string_view tenant_id,
                                                           std::int64_t token_id,
                                                           std::int64_t now_ns) {
  std::optional<EnrollmentToken> revoked;
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(write_db_.get(), kRevokeToken));
    stmt.bind(1, tenant_id).bind(2, token_id).bind(3, now_ns);
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (row) {
      revoked = readEnrollmentToken(stmt);
      FL_ASSIGN_OR_RETURN(bool more, stmt.step());
      (void)more;  // one row at most: id is the primary key
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!revoked) {
    return notFound("no such unused enrollment token");
  }
  return *revoked;
}

Result<AgentIdentity> SqliteStore::enrollAgent(const NewAgent& agent) {
  AgentIdentity identity;
  Status status = writer_->run([&]() -> Status {
    std::int64_t token_id = 0;
    {
      StmtUse use(write_->select_token);
      use->bind(1, agent.token_hash);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (!row) {
        return notFound("unknown enrollment token");
      }
      token_id = use->columnInt(0);
      identity.tenant_id = std::string(use->columnText(1));
      identity.tenant_name = std::string(use->columnText(4));
      if (!use->columnIsNull(3)) {
        return Status(Errc::AlreadyExists, "enrollment token already used");
      }
      if (!use->columnIsNull(5)) {
        return Status(Errc::PermissionDenied, "enrollment token revoked");
      }
      if (use->columnInt(2) <= agent.now_ns) {
        return Status(Errc::FailedPrecondition, "enrollment token expired");
      }
    }
    {
      StmtUse use(write_->use_token);
      use->bind(1, token_id).bind(2, agent.now_ns).bind(3, agent.agent_id);
      FL_RETURN_IF_ERROR(use->run());
      if (sqlite3_changes(write_db_.get()) != 1) {
        return Status(Errc::AlreadyExists, "enrollment token already used");
      }
    }
    StmtUse use(write_->insert_agent);
    use->bind(1, agent.agent_id)
        .bind(2, identity.tenant_id)
        .bind(3, agent.secret_hash)
        .bind(4, agent.hostname)
        .bind(5, agent.version)
        .bind(6, agent.now_ns);
    Status inserted = use->run();
    if (!inserted.isOk()) {
      return internalError("create agent: " + inserted.message());
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  identity.agent_id = agent.agent_id;
  return identity;
}

Result<AgentIdentity> SqliteStore::findAgentBySecretHash(std::string_view secret_hash) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->agent_by_secret);
  use->bind(1, secret_hash);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no agent with this secret");
  }
  return AgentIdentity{std::string(use->columnText(0)), std::string(use->columnText(1)),
                       std::string(use->columnText(2)), std::string(use->columnText(3))};
}

Result<StoredBatch> SqliteStore::storeBatch(const NewBatch& batch) {
  // Checked before queueing: a text that is not its id's would poison the dictionary.
  for (const TemplateText& tmpl : batch.templates) {
    if (logtemplate::templateId(tmpl.text) != tmpl.id) {
      return invalidArgument("template " + wire::templateIdText(tmpl.id) +
                             ": text does not match its id");
    }
  }
  StoredBatch stored;
  Status status = writer_->run([&]() -> Status {
    const std::int64_t epoch = asSigned(batch.epoch);
    const std::int64_t seq = asSigned(batch.seq);
    {
      StmtUse use(write_->find_batch);
      use->bind(1, batch.agent_id).bind(2, epoch).bind(3, seq).bind(4, batch.tenant_id);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (row) {
        stored.duplicate = true;
        stored.record_count = static_cast<std::uint64_t>(use->columnInt(0));
      }
    }
    {
      // Also proves that the agent belongs to the tenant named by the caller.
      StmtUse use(write_->touch_agent);
      use->bind(1, batch.agent_id)
          .bind(2, batch.tenant_id)
          .bind(3, batch.received_at_ns)
          .bind(4, std::int64_t{stored.duplicate ? 0 : 1})
          .bind(5, stored.duplicate ? std::int64_t{0} : asSigned(batch.record_count));
      FL_RETURN_IF_ERROR(use->run());
      if (sqlite3_changes(write_db_.get()) != 1) {
        return Status(Errc::PermissionDenied,
                      "agent " + batch.agent_id + " does not belong to this tenant");
      }
    }
    if (stored.duplicate) {
      return Status::ok();
    }
    std::int64_t batch_id = 0;
    {
      StmtUse use(write_->insert_batch);
      use->bind(1, batch.tenant_id)
          .bind(2, batch.agent_id)
          .bind(3, epoch)
          .bind(4, seq)
          .bind(5, asSigned(batch.record_count))
          .bind(6, asSigned(batch.line_bytes))
          .bind(7, batch.min_ts_ns)
          .bind(8, batch.max_ts_ns)
          .bind(9, batch.received_at_ns)
          .bindBlobStatic(10, batch.payload);
      FL_RETURN_IF_ERROR(use->run());
      batch_id = sqlite3_last_insert_rowid(write_db_.get());
    }
    for (const std::string& source : batch.sources) {
      StmtUse use(write_->insert_source);
      use->bind(1, batch_id).bind(2, batch.tenant_id).bind(3, source);
      FL_RETURN_IF_ERROR(use->run());
    }
    for (const TemplateText& tmpl : batch.templates) {
      StmtUse use(write_->insert_template);
      use->bind(1, batch.tenant_id)
          .bind(2, asSigned(tmpl.id))
          .bind(3, tmpl.text)
          .bind(4, batch.received_at_ns);
      FL_RETURN_IF_ERROR(use->run());
    }
    stored.record_count = batch.record_count;
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return stored;
}

Status SqliteStore::forEachBatch(std::string_view tenant_id, const BatchQuery& query,
                                 const std::function<Status(std::string_view payload)>& visit) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  std::vector<std::int64_t> ids;
  {
    StmtUse use(reader->tenant_batches);
    use->bind(1, tenant_id).bind(2, query.since_ns).bind(3, query.until_ns);
    if (query.source_glob) {
      use->bind(4, *query.source_glob);
    } else {
      use->bindNull(4);
    }
    for (;;) {
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (!row) {
        break;
      }
      ids.push_back(use->columnInt(0));
    }
  }
  for (std::int64_t id : ids) {
    StmtUse use(reader->batch_payload);
    use->bind(1, id).bind(2, tenant_id);
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (row) {
      FL_RETURN_IF_ERROR(visit(use->columnText(0)));
    }
  }
  return Status::ok();
}

Result<std::string> SqliteStore::findTemplate(std::string_view tenant_id,
                                              std::uint64_t template_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->template_text);
  use->bind(1, tenant_id).bind(2, asSigned(template_id));
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no template " + wire::templateIdText(template_id) + " in this tenant");
  }
  return std::string(use->columnText(0));
}

Result<std::vector<AgentSummary>> SqliteStore::listAgents(std::string_view tenant_id,
                                                          const AgentPage& page) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->list_agents);
  use->bind(1, tenant_id)
      .bind(2, page.after_enrolled_at_ns)
      .bind(3, page.after_id)
      .bind(4, page.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(page.limit));
  std::vector<AgentSummary> agents;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return agents;
    }
    AgentSummary agent;
    agent.agent_id = std::string(use->columnText(0));
    agent.hostname = std::string(use->columnText(1));
    agent.version = std::string(use->columnText(2));
    agent.enrolled_at_ns = use->columnInt(3);
    agent.last_seen_ns = use->columnInt(4);
    agent.batches = static_cast<std::uint64_t>(use->columnInt(5));
    agent.records = static_cast<std::uint64_t>(use->columnInt(6));
    agent.last_heartbeat_ns = use->columnInt(7);
    agent.heartbeat_json = std::string(use->columnText(8));
    agents.push_back(std::move(agent));
  }
}

Status SqliteStore::recordHeartbeat(const AgentHeartbeat& heartbeat) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->record_heartbeat);
    use->bind(1, heartbeat.tenant_id)
        .bind(2, heartbeat.agent_id)
        .bind(3, heartbeat.received_at_ns)
        .bind(4, heartbeat.status_json)
        .bind(5, heartbeat.version);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such agent in this tenant");
    }
    return Status::ok();
  });
}

// --- Identity ----------------------------------------------------------------------------

Result<User> SqliteStore::createUser(std::string_view email, std::string_view password_hash,
                                     std::int64_t now_ns) {
  User user{"usr_" + crypto::randomHex(12), normalizeEmail(email), std::string(password_hash),
            now_ns, 0};
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_user);
    use->bind(1, user.id).bind(2, user.email).bind(3, user.password_hash).bind(4, now_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return Status(Errc::AlreadyExists, "a user with this e-mail already exists");
  }
  FL_RETURN_IF_ERROR(status);
  return user;
}

Result<User> SqliteStore::findUserByEmail(std::string_view email) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->user_by_email);
  use->bind(1, normalizeEmail(email));
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no such user");
  }
  return User{std::string(use->columnText(0)), std::string(use->columnText(1)),
              std::string(use->columnText(2)), use->columnInt(3), use->columnInt(4)};
}

Status SqliteStore::addMembership(std::string_view tenant_id, std::string_view user_id,
                                  std::string_view role, std::int64_t now_ns) {
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_membership);
    use->bind(1, tenant_id).bind(2, user_id).bind(3, role).bind(4, now_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    // The primary key (already a member) or a foreign key (no such tenant or user).
    FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
    StmtUse use(reader->member);
    use->bind(1, tenant_id).bind(2, user_id);
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    return row ? Status(Errc::AlreadyExists, "already a member of this tenant")
               : notFound("no such tenant or user");
  }
  return status;
}

Result<std::vector<Membership>> SqliteStore::listUserMemberships(std::string_view user_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->user_memberships);
  use->bind(1, user_id);
  std::vector<Membership> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(readMembership(*use));
  }
}

Result<std::vector<Membership>> SqliteStore::listMembers(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->tenant_members);
  use->bind(1, tenant_id);
  std::vector<Membership> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(readMembership(*use));
  }
}

Result<Membership> SqliteStore::findMember(std::string_view tenant_id, std::string_view user_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->member);
  use->bind(1, tenant_id).bind(2, user_id);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no such member in this tenant");
  }
  return readMembership(*use);
}

Status SqliteStore::keepsAnOwner(std::string_view tenant_id, std::string_view user_id) {
  // Runs on the single writer, so no other change to the tenant's owners can come between
  // this count and the caller's write.
  StmtUse use(write_->count_owners);
  use->bind(1, tenant_id).bind(2, user_id);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (row && use->columnInt(0) == 1 && use->columnInt(1) == 1) {
    return Status(Errc::FailedPrecondition, "a tenant keeps at least one owner");
  }
  return Status::ok();
}

Status SqliteStore::setMemberRole(std::string_view tenant_id, std::string_view user_id,
                                  std::string_view role) {
  return writer_->run([&]() -> Status {
    if (role != "owner") {
      FL_RETURN_IF_ERROR(keepsAnOwner(tenant_id, user_id));
    }
    StmtUse use(write_->set_member_role);
    use->bind(1, tenant_id).bind(2, user_id).bind(3, role);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such member in this tenant");
    }
    return Status::ok();
  });
}

Status SqliteStore::removeMember(std::string_view tenant_id, std::string_view user_id,
                                 std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    FL_RETURN_IF_ERROR(keepsAnOwner(tenant_id, user_id));
    {
      StmtUse use(write_->delete_member);
      use->bind(1, tenant_id).bind(2, user_id);
      FL_RETURN_IF_ERROR(use->run());
      if (sqlite3_changes(write_db_.get()) == 0) {
        return notFound("no such member in this tenant");
      }
    }
    StmtUse use(write_->revoke_member_sessions);
    use->bind(1, tenant_id).bind(2, user_id).bind(3, now_ns);
    return use->run();
  });
}

Status SqliteStore::createSession(const Session& session) {
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_session);
    use->bind(1, session.token_hash)
        .bind(2, session.tenant_id)
        .bind(3, session.user_id)
        .bind(4, session.csrf_hash)
        .bind(5, session.created_at_ns)
        .bind(6, session.expires_at_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create session: no such tenant or user");
  }
  return status;
}

Result<Session> SqliteStore::findSession(std::string_view token_hash) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->session_by_hash);
  use->bind(1, token_hash);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no such session");
  }
  Session session;
  session.token_hash = std::string(use->columnText(0));
  session.user_id = std::string(use->columnText(1));
  session.tenant_id = std::string(use->columnText(2));
  session.csrf_hash = std::string(use->columnText(3));
  session.created_at_ns = use->columnInt(4);
  session.expires_at_ns = use->columnInt(5);
  session.revoked_at_ns = use->columnInt(6);
  session.role = std::string(use->columnText(7));
  return session;
}

Status SqliteStore::revokeSession(std::string_view tenant_id, std::string_view token_hash,
                                  std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->revoke_session);
    use->bind(1, tenant_id).bind(2, token_hash).bind(3, now_ns);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such session in this tenant");
    }
    return Status::ok();
  });
}

Result<std::uint64_t> SqliteStore::purgeStaleCredentials(std::string_view tenant_id,
                                                         std::int64_t before_ns) {
  std::uint64_t purged = 0;
  Status status = writer_->run([&]() -> Status {
    purged = 0;
    for (Stmt* stmt : {&write_->purge_sessions, &write_->purge_invitations}) {
      StmtUse use(*stmt);
      use->bind(1, tenant_id).bind(2, before_ns);
      FL_RETURN_IF_ERROR(use->run());
      purged += static_cast<std::uint64_t>(sqlite3_changes(write_db_.get()));
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return purged;
}

Status SqliteStore::createApiKey(const ApiKey& key) {
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_api_key);
    use->bind(1, key.id)
        .bind(2, key.tenant_id)
        .bind(3, key.name)
        .bind(4, key.role)
        .bind(5, key.key_hash)
        .bind(6, key.created_by)
        .bind(7, key.created_at_ns)
        .bind(8, key.expires_at_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create API key: no such tenant (or a duplicate key)");
  }
  return status;
}

Result<ApiKey> SqliteStore::findApiKeyByHash(std::string_view key_hash) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->api_key_by_hash);
  use->bind(1, key_hash);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no such API key");
  }
  return readApiKey(*use);
}

Result<std::vector<ApiKey>> SqliteStore::listApiKeys(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->tenant_api_keys);
  use->bind(1, tenant_id);
  std::vector<ApiKey> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(readApiKey(*use));
  }
}

Status SqliteStore::revokeApiKey(std::string_view tenant_id, std::string_view key_id,
                                 std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->revoke_api_key);
    use->bind(1, tenant_id).bind(2, key_id).bind(3, now_ns);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such API key in this tenant");
    }
    return Status::ok();
  });
}

Status SqliteStore::touchApiKey(std::string_view tenant_id, std::string_view key_id,
                                std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->touch_api_key);
    use->bind(1, tenant_id).bind(2, key_id).bind(3, now_ns);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such API key in this tenant");
    }
    return Status::ok();
  });
}

Status SqliteStore::createInvitation(const Invitation& invitation) {
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_invitation);
    use->bind(1, invitation.id)
        .bind(2, invitation.tenant_id)
        .bind(3, normalizeEmail(invitation.email))
        .bind(4, invitation.role)
        .bind(5, invitation.token_hash)
        .bind(6, invitation.invited_by)
        .bind(7, invitation.created_at_ns)
        .bind(8, invitation.expires_at_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create invitation: no such tenant (or a duplicate token)");
  }
  return status;
}

Result<Invitation> SqliteStore::findInvitation(std::string_view token_hash) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->invitation_by_hash);
  use->bind(1, token_hash);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no such invitation");
  }
  return readInvitation(*use);
}

Result<Membership> SqliteStore::acceptInvitation(std::string_view token_hash,
                                                 std::string_view new_user_id,
                                                 std::string_view password_hash,
                                                 std::int64_t now_ns) {
  Membership membership;
  Status status = writer_->run([&]() -> Status {
    Invitation invitation;
    {
      StmtUse use(write_->select_invitation);
      use->bind(1, token_hash);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (!row) {
        return notFound("unknown invitation");
      }
      invitation = readInvitation(*use);
    }
    if (invitation.accepted_at_ns != 0) {
      return Status(Errc::AlreadyExists, "invitation already used");
    }
    if (invitation.expires_at_ns <= now_ns) {
      return Status(Errc::FailedPrecondition, "invitation expired");
    }
    {
      StmtUse use(write_->use_invitation);
      use->bind(1, invitation.id).bind(2, now_ns);
      FL_RETURN_IF_ERROR(use->run());
      if (sqlite3_changes(write_db_.get()) != 1) {
        return Status(Errc::AlreadyExists, "invitation already used");
      }
    }
    std::string user_id;
    {
      StmtUse use(write_->user_id_by_email);
      use->bind(1, invitation.email);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (row) {
        user_id = std::string(use->columnText(0));
      }
    }
    if (user_id.empty()) {
      user_id = std::string(new_user_id);
      StmtUse use(write_->insert_user);
      use->bind(1, user_id).bind(2, invitation.email).bind(3, password_hash).bind(4, now_ns);
      FL_RETURN_IF_ERROR(use->run());
    }
    StmtUse use(write_->insert_membership);
    use->bind(1, invitation.tenant_id).bind(2, user_id).bind(3, invitation.role).bind(4, now_ns);
    Status added = use->run();
    if (added.code() == Errc::AlreadyExists) {
      return Status(Errc::AlreadyExists, "already a member of this tenant");
    }
    FL_RETURN_IF_ERROR(added);
    membership =
        Membership{invitation.tenant_id, "", user_id, invitation.email, invitation.role, now_ns};
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return membership;
}

Status SqliteStore::addSigningKey(const SigningKey& key) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->insert_signing_key);
    use->bind(1, key.kid).bind(2, key.secret_hex).bind(3, key.created_at_ns);
    return use->run();
  });
}

Result<std::vector<SigningKey>> SqliteStore::listSigningKeys(std::int64_t created_since_ns) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->signing_keys);
  use->bind(1, created_since_ns);
  std::vector<SigningKey> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(SigningKey{std::string(use->columnText(0)), std::string(use->columnText(1)),
                             use->columnInt(2)});
  }
}

Result<AuditEntry> SqliteStore::appendAudit(const audit::AuditEvent& event) {
  FL_RETURN_IF_ERROR(validateAuditEvent(event));
  AuditEntry entry;
  Status status = writer_->run([&]() -> Status {
    std::optional<AuditChainHead> head;
    {
      StmtUse use(write_->audit_head_for_append);
      use->bind(1, event.tenant_id);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (row) {
        head = AuditChainHead{use->columnInt(0), std::string(use->columnText(1))};
      }
    }
    entry = chainAuditEntry(event, head);
    {
      StmtUse use(write_->insert_audit);
      use->bind(1, entry.tenant_id)
          .bind(2, entry.seq)
          .bind(3, entry.at_ns)
          .bind(4, entry.actor)
          .bind(5, entry.action)
          .bind(6, entry.target)
          .bind(7, entry.outcome)
          .bind(8, entry.client_address)
          .bind(9, entry.detail_json)
          .bind(10, entry.prev_hash)
          .bind(11, entry.hash);
      Status inserted = use->run();
      if (!inserted.isOk()) {
        // A seq already taken means someone wrote the table behind the head: never overwrite.
        return internalError("append audit entry " + std::to_string(entry.seq) + ": " +
                             inserted.message());
      }
    }
    StmtUse use(write_->upsert_audit_head);
    use->bind(1, entry.tenant_id).bind(2, entry.seq).bind(3, entry.hash);
    return use->run();
  });
  FL_RETURN_IF_ERROR(status);
  return entry;
}

Result<AuditPage> SqliteStore::queryAudit(std::string_view tenant_id, const AuditQuery& query) {
  const std::size_t limit = std::clamp<std::size_t>(query.limit, 1, kAuditMaxPageEntries);
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->query_audit);
  use->bind(1, tenant_id)
      .bind(2, query.after_seq)
      .bind(3, query.since_ns)
      .bind(4, query.until_ns)
      .bind(5, query.actor)
      .bind(6, query.action)
      .bind(7, query.outcome)
      .bind(8, static_cast<std::int64_t>(limit + 1));  // one more tells whether a page follows
  AuditPage page;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      break;
    }
    if (page.entries.size() == limit) {
      page.next_after_seq = page.entries.back().seq;
      break;
    }
    page.entries.push_back(auditEntryFromRow(*use));
  }
  return page;
}

Result<AuditVerification> SqliteStore::verifyAuditChain(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  sqlite3* db = reader->db.get();
  // One read transaction: the head and the entries come from the same snapshot, so an append
  // racing with the walk cannot look like a truncation.
  FL_RETURN_IF_ERROR(exec(db, "BEGIN"));
  auto walk = [&]() -> Result<AuditVerification> {
    std::optional<AuditChainHead> head;
    {
      StmtUse use(reader->audit_head);
      use->bind(1, tenant_id);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (row) {
        head = AuditChainHead{use->columnInt(0), std::string(use->columnText(1))};
      }
    }
    AuditChainVerifier verifier;
    StmtUse use(reader->audit_chain);
    use->bind(1, tenant_id);
    for (;;) {
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (!row || !verifier.add(auditEntryFromRow(*use))) {
        break;
      }
    }
    return verifier.finish(head);
  };
  auto verified = walk();
  (void)exec(db, "COMMIT");
  return verified;
}

std::size_t SqliteStore::pendingWrites() const {
  return writer_->pending();
}

// --- Events (migration 6).

namespace {

Integration readIntegration(Stmt& stmt) {
  Integration integration;
  integration.id = std::string(stmt.columnText(0));
  integration.tenant_id = std::string(stmt.columnText(1));
  integration.name = std::string(stmt.columnText(2));
  integration.kind = std::string(stmt.columnText(3));
  integration.key_hash = std::string(stmt.columnText(4));
  integration.mapping_json = std::string(stmt.columnText(5));
  integration.rate_limit_rps = stmt.columnInt(6);
  integration.rate_limit_burst = stmt.columnInt(7);
  integration.created_at_ns = stmt.columnInt(8);
  integration.revoked_at_ns = stmt.columnInt(9);
  return integration;
}

/// The 20 event columns of kQueryEvents, starting at column `at`.
Result<StoredEvent> readStoredEvent(Stmt& stmt, std::string_view tenant_id, int at = 0) {
  auto text = [&](int column) { return std::string(stmt.columnText(at + column)); };
  StoredEvent stored;
  stored.id = text(0);
  events::Event& event = stored.event;
  event.tenant_id = std::string(tenant_id);
  event.integration_id = text(1);
  FL_RETURN_IF_ERROR(decodeEventColumns(stmt.columnText(at + 2), stmt.columnText(at + 6),
                                        stmt.columnText(at + 7), stmt.columnText(at + 13),
                                        stmt.columnText(at + 17), &stored));
  event.service = text(3);
  event.host = text(4);
  event.environment = text(5);
  event.action = text(8);
  event.source_dedup_key = text(9);
  event.fingerprint = text(10);
  event.title = text(11);
  event.body = text(12);
  event.occurred_at_ns = stmt.columnInt(at + 14);
  event.received_at_ns = stmt.columnInt(at + 15);
  event.raw = text(16);
  stored.reason = text(18);
  stored.rule_id = text(19);
  return stored;
}

NoiseRule readNoiseRule(Stmt& stmt) {
  NoiseRule rule;
  rule.id = std::string(stmt.columnText(0));
  rule.tenant_id = std::string(stmt.columnText(1));
  rule.kind = std::string(stmt.columnText(2));
  rule.name = std::string(stmt.columnText(3));
  rule.spec_json = std::string(stmt.columnText(4));
  rule.created_by = std::string(stmt.columnText(5));
  rule.created_at_ns = stmt.columnInt(6);
  rule.deleted_at_ns = stmt.columnInt(7);
  return rule;
}

}  // namespace

Status SqliteStore::createIntegration(const Integration& integration) {
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_integration);
    use->bind(1, integration.id)
        .bind(2, integration.tenant_id)
        .bind(3, integration.name)
        .bind(4, integration.kind)
        .bind(5, integration.key_hash)
        .bind(6, integration.mapping_json)
        .bind(7, integration.rate_limit_rps)
        .bind(8, integration.rate_limit_burst)
        .bind(9, integration.created_at_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create integration: no such tenant (or a duplicate id or key)");
  }
  return status;
}

Result<std::vector<Integration>> SqliteStore::listIntegrations(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->tenant_integrations);
  use->bind(1, tenant_id);
  std::vector<Integration> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(readIntegration(*use));
  }
}

Status SqliteStore::revokeIntegration(std::string_view tenant_id, std::string_view integration_id,
                                      std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->revoke_integration);
    use->bind(1, tenant_id).bind(2, integration_id).bind(3, now_ns);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such integration in this tenant");
    }
    return Status::ok();
  });
}

Result<Integration> SqliteStore::findIntegrationByKeyHash(std::string_view key_hash) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->integration_by_hash);
  use->bind(1, key_hash);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return notFound("no such integration");
  }
  return readIntegration(*use);
}

Status SqliteStore::recordEventsJob(std::string_view tenant_id,
                                    const std::vector<events::Event>& events,
                                    const RecordContext& context,
                                    std::vector<EventDecision>* decisions) {
  decisions->clear();
  for (std::size_t index = 0; index < events.size(); ++index) {
    const events::Event& event = events[index];
    std::optional<AlertState> current;
    std::int64_t current_minute = 0;
    {
      StmtUse use(write_->select_alert);
      use->bind(1, tenant_id).bind(2, event.fingerprint);
      FL_ASSIGN_OR_RETURN(bool row, use->step());
      if (row) {
        current = AlertState{std::string(use->columnText(0)),
                             use->columnInt(1),
                             use->columnInt(2),
                             use->columnInt(3),
                             decodeChanges(use->columnText(4)),
                             use->columnInt(5) != 0};
        current_minute = use->columnInt(6);
      }
    }
    AlertTransition transition = decideAlert(
        current, event, context.flap,
        context.mutes.empty() ? std::optional<Mute>() : context.mutes[index], context.transient);
    EventDecision decision{newEventId(), transition.decision, transition.reason,
                           transition.write ? transition.next.count : 0, transition.rule_id};
    {
      StmtUse use(write_->insert_event);
      use->bind(1, decision.event_id)
          .bind(2, tenant_id)
          .bind(3, event.integration_id)
          .bind(4, events::sourceKindName(event.source))
          .bind(5, event.service)
          .bind(6, event.host)
          .bind(7, event.environment)
          .bind(8, logparse::severityName(event.severity))
          .bind(9, events::eventStatusName(event.status))
          .bind(10, event.action)
          .bind(11, event.source_dedup_key)
          .bind(12, event.fingerprint)
          .bind(13, event.title)
          .bind(14, event.body)
          .bind(15, labelsToJson(event.labels))
          .bind(16, event.occurred_at_ns)
          .bind(17, event.received_at_ns)
          .bind(18, event.raw)
          .bind(19, noiseDecisionName(decision.decision))
          .bind(20, decision.reason)
          .bind(21, decision.rule_id);
      FL_RETURN_IF_ERROR(use->run());
    }
    if (transition.write) {
      const std::int64_t minute = event.received_at_ns / kNanosPerMinute;
      const bool new_minute = current_minute != minute;
      Stmt& update = new_minute ? write_->update_alert_minute : write_->update_alert;
      StmtUse use(transition.insert ? write_->insert_alert : update);
      const AlertState& next = transition.next;
      if (transition.insert) {
        use->bind(1, tenant_id)
            .bind(2, event.fingerprint)
            .bind(3, next.status)
            .bind(4, next.count)
            .bind(5, next.first_seen_ns)
            .bind(6, event.received_at_ns)
            .bind(7, decision.event_id)
            .bind(8, next.resolved_at_ns)
            .bind(9, encodeChanges(next.changes))
            .bind(10, std::int64_t{next.flapping ? 1 : 0})
            .bind(11, minute);
      } else {
        use->bind(1, tenant_id)
            .bind(2, event.fingerprint)
            .bind(3, next.status)
            .bind(4, next.count)
            .bind(5, event.received_at_ns)
            .bind(6, decision.event_id)
            .bind(7, next.resolved_at_ns)
            .bind(8, encodeChanges(next.changes))
            .bind(9, std::int64_t{next.flapping ? 1 : 0});
        if (new_minute) {
          use->bind(10, minute);
        }
      }
      FL_RETURN_IF_ERROR(use->run());
    }
    decisions->push_back(std::move(decision));
  }
  return Status::ok();
}

Result<std::vector<EventDecision>> SqliteStore::recordEvents(
    std::string_view tenant_id, const std::vector<events::Event>& events,
    const RecordContext& context) {
  FL_RETURN_IF_ERROR(checkEventsToRecord(tenant_id, events, context));
  std::vector<EventDecision> decisions;
  // The single writer serializes every recordEvents: two requests for one fingerprint cannot
  // both see "no alert". The job is one savepoint: all of the request's events or none.
  Status status = writer_->run(
      [&]() -> Status { return recordEventsJob(tenant_id, events, context, &decisions); });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("record events: no such tenant");
  }
  FL_RETURN_IF_ERROR(status);
  return decisions;
}

void SqliteStore::recordEventsAsync(std::string_view tenant_id,
                                    std::shared_ptr<const std::vector<events::Event>> events,
                                    RecordContext context, RecordDone done) {
  if (Status checked = checkEventsToRecord(tenant_id, *events, context); !checked.isOk()) {
    done(checked);
    return;
  }
  // The job and its completion share the request's state; the caller's thread goes free.
  struct Job {
    std::string tenant_id;
    std::shared_ptr<const std::vector<events::Event>> events;
    RecordContext context;
    std::vector<EventDecision> decisions;
  };
  auto job =
      std::make_shared<Job>(Job{std::string(tenant_id), std::move(events), std::move(context), {}});
  auto finished = std::make_shared<RecordDone>(std::move(done));
  Status queued = writer_->submit(
      [this, job]() -> Status {
        return recordEventsJob(job->tenant_id, *job->events, job->context, &job->decisions);
      },
      [job, finished](Status status) {
        if (status.code() == Errc::AlreadyExists) {
          status = notFound("record events: no such tenant");
        }
        if (!status.isOk()) {
          (*finished)(status);
          return;
        }
        (*finished)(std::move(job->decisions));
      });
  if (!queued.isOk()) {
    (*finished)(queued);
  }
}

Result<std::vector<StoredEvent>> SqliteStore::queryEvents(std::string_view tenant_id,
                                                          const EventQuery& query) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->query_events);
  use->bind(1, tenant_id)
      .bind(2, query.since_ns)
      .bind(3, query.until_ns)
      .bind(4, query.service)
      .bind(5, query.severity)
      .bind(6, query.status)
      .bind(7, query.source)
      .bind(8, query.text)
      .bind(9, query.before_received_at_ns)
      .bind(10, query.before_id)
      .bind(11, static_cast<std::int64_t>(query.limit))
      .bind(12, query.decision);
  std::vector<StoredEvent> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    FL_ASSIGN_OR_RETURN(StoredEvent stored, readStoredEvent(*use, tenant_id));
    out.push_back(std::move(stored));
  }
}

Result<std::vector<bool>> SqliteStore::rememberLogTemplates(std::string_view tenant_id,
                                                            const std::vector<LogTemplateKey>& keys,
                                                            std::int64_t now_ns) {
  if (keys.size() > kMaxLogTemplatesPerCall) {
    return invalidArgument("remember log templates: more than " +
                           std::to_string(kMaxLogTemplatesPerCall) + " in one call");
  }
  std::vector<bool> fresh;
  // The single writer serializes these: of two nodes' calls, one inserts and sees it new.
  Status status = writer_->run([&]() -> Status {
    fresh.assign(keys.size(), false);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      StmtUse use(write_->remember_log_template);
      use->bind(1, tenant_id)
          .bind(2, keys[i].service)
          .bind(3, asSigned(keys[i].template_id))
          .bind(4, now_ns);
      FL_RETURN_IF_ERROR(use->run());
      fresh[i] = sqlite3_changes(write_db_.get()) == 1;
    }
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("remember log templates: no such tenant");
  }
  FL_RETURN_IF_ERROR(status);
  return fresh;
}

Result<EventStats> SqliteStore::eventStats(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->event_stats);
  use->bind(1, tenant_id);
  FL_ASSIGN_OR_RETURN(bool row, use->step());
  if (!row) {
    return internalError("event stats returned no row");
  }
  EventStats stats{use->columnInt(0), use->columnInt(1), use->columnInt(2), {}};
  StmtUse counts(reader->event_decision_counts);
  counts->bind(1, tenant_id);
  std::vector<std::pair<std::string, std::int64_t>> found;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool counted, counts->step());
    if (!counted) {
      break;
    }
    found.emplace_back(std::string(counts->columnText(0)), counts->columnInt(1));
  }
  stats.decisions = decisionCounts(found);
  return stats;
}

Result<std::vector<AlertSummary>> SqliteStore::listAlerts(std::string_view tenant_id,
                                                          const AlertQuery& query) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->list_alerts);
  use->bind(1, tenant_id)
      .bind(2, query.status)
      .bind(3, query.before_last_seen_ns)
      .bind(4, query.before_fingerprint)
      .bind(5, static_cast<std::int64_t>(query.limit))
      .bind(6, query.before_last_seen_ns / kNanosPerMinute);
  std::vector<AlertSummary> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    AlertSummary alert;
    alert.fingerprint = std::string(use->columnText(0));
    alert.state = AlertState{std::string(use->columnText(1)),
                             use->columnInt(2),
                             use->columnInt(3),
                             use->columnInt(4),
                             decodeChanges(use->columnText(5)),
                             use->columnInt(6) != 0};
    alert.last_seen_ns = use->columnInt(7);
    FL_ASSIGN_OR_RETURN(alert.last_event, readStoredEvent(*use, tenant_id, 8));
    out.push_back(std::move(alert));
  }
}

Status SqliteStore::createNoiseRule(const NoiseRule& rule) {
  Status status = writer_->run([&]() -> Status {
    StmtUse use(write_->insert_noise_rule);
    use->bind(1, rule.id)
        .bind(2, rule.tenant_id)
        .bind(3, rule.kind)
        .bind(4, rule.name)
        .bind(5, rule.spec_json)
        .bind(6, rule.created_by)
        .bind(7, rule.created_at_ns);
    return use->run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create noise rule: no such tenant (or a duplicate id)");
  }
  return status;
}

Result<std::vector<NoiseRule>> SqliteStore::listNoiseRules(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  StmtUse use(reader->tenant_noise_rules);
  use->bind(1, tenant_id);
  std::vector<NoiseRule> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    if (!row) {
      return out;
    }
    out.push_back(readNoiseRule(*use));
  }
}

Status SqliteStore::deleteNoiseRule(std::string_view tenant_id, std::string_view rule_id,
                                    std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    StmtUse use(write_->delete_noise_rule);
    use->bind(1, tenant_id).bind(2, rule_id).bind(3, now_ns);
    FL_RETURN_IF_ERROR(use->run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such rule in force in this tenant");
    }
    return Status::ok();
  });
}

}  // namespace faultline::aggregator::store::sqlite

// --- Incidents. Reads are low volume, so their statements are prepared per call instead of
// kept on every connection; the writes' are on the write connection (WriteStatements).
namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kIncidentColumns =
    "SELECT id, tenant_id, status, severity, title, first_event, last_event, opened_at, "
    "updated_at, doc_json FROM incidents_incidents ";
constexpr std::string_view kListIncidentEvents =
    "SELECT incident_id, event_id, occurred_at, reason_json FROM incidents_events "
    "WHERE tenant_id = ?1 AND incident_id = ?2 ORDER BY occurred_at, event_id LIMIT ?3";
constexpr std::string_view kListTimeline =
    "SELECT incident_id, at, actor, kind, detail_json FROM incidents_timeline "
    "WHERE tenant_id = ?1 AND incident_id = ?2 ORDER BY seq";
constexpr std::string_view kFindEvents =
    "SELECT id, integration_id, source, service, host, environment, severity, status, action, "
    "source_dedup_key, fingerprint, title, body, labels_json, occurred_at, received_at, '', "
    "decision, reason, rule_id FROM events_events WHERE tenant_id = ?1 "
    "AND id IN (SELECT value FROM json_each(?2))";
constexpr std::string_view kFindEvent =
    "SELECT id, integration_id, source, service, host, environment, severity, status, action, "
    "source_dedup_key, fingerprint, title, body, labels_json, occurred_at, received_at, raw, "
    "decision, reason, rule_id FROM events_events WHERE tenant_id = ?1 AND id = ?2";
constexpr std::string_view kFindRules =
    "SELECT rules_json FROM incidents_rules WHERE tenant_id = ?1";
constexpr std::string_view kSetRules =
    "INSERT INTO incidents_rules(tenant_id, rules_json, updated_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (tenant_id) DO UPDATE SET rules_json = excluded.rules_json, "
    "updated_at = excluded.updated_at";

IncidentRow readIncidentRow(Stmt& stmt) {
  IncidentRow row;
  row.id = std::string(stmt.columnText(0));
  row.tenant_id = std::string(stmt.columnText(1));
  row.status = std::string(stmt.columnText(2));
  row.severity = std::string(stmt.columnText(3));
  row.title = std::string(stmt.columnText(4));
  row.first_event_ns = stmt.columnInt(5);
  row.last_event_ns = stmt.columnInt(6);
  row.opened_at_ns = stmt.columnInt(7);
  row.updated_at_ns = stmt.columnInt(8);
  row.doc_json = std::string(stmt.columnText(9));
  return row;
}

std::string idsAsJson(const std::vector<std::string>& ids) {
  std::string out = "[";
  for (const std::string& id : ids) {
    if (out.size() > 1) {
      out += ',';
    }
    out += '"';
    for (char c : id) {  // event ids are [a-z0-9_]; anything else cannot match one
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

}  // namespace

namespace {

Status checkIncidentWrite(std::string_view tenant_id, const IncidentWrite& write) {
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
  return Status::ok();
}

// The writer reports a missing tenant (foreign key) as AlreadyExists.
Status incidentWriteResult(Status status) {
  if (status.code() == Errc::AlreadyExists) {
    return notFound("write incidents: no such tenant");
  }
  return status;
}

}  // namespace

Status SqliteStore::writeIncidents(std::string_view tenant_id, const IncidentWrite& write) {
  FL_RETURN_IF_ERROR(checkIncidentWrite(tenant_id, write));
  return incidentWriteResult(
      writer_->run([&]() -> Status { return writeIncidentsJob(tenant_id, write); }));
}

void SqliteStore::writeIncidentsAsync(std::string_view tenant_id,
                                      std::shared_ptr<const IncidentWrite> write,
                                      std::function<void(Status)> done) {
  if (Status checked = checkIncidentWrite(tenant_id, *write); !checked.isOk()) {
    done(checked);
    return;
  }
  auto finished = std::make_shared<std::function<void(Status)>>(std::move(done));
  Status queued = writer_->submit(
      [this, tenant = std::string(tenant_id), write]() -> Status {
        return writeIncidentsJob(tenant, *write);
      },
      [finished](Status status) { (*finished)(incidentWriteResult(std::move(status))); });
  if (!queued.isOk()) {
    (*finished)(queued);
  }
}

Status SqliteStore::writeIncidentsJob(std::string_view tenant_id, const IncidentWrite& write) {
  sqlite3* db = write_db_.get();
  if (!write.upserts.empty()) {
    Stmt& upsert = write_->upsert_incident;
    for (const IncidentRow& row : write.upserts) {
      StmtUse use(upsert);
      use->bind(1, tenant_id)
          .bind(2, row.id)
          .bind(3, row.status)
          .bind(4, row.severity)
          .bind(5, row.title)
          .bind(6, row.first_event_ns)
          .bind(7, row.last_event_ns)
          .bind(8, row.opened_at_ns)
          .bind(9, row.updated_at_ns)
          .bind(10, row.doc_json);
      FL_RETURN_IF_ERROR(use->run());
    }
  }
  Stmt& exists = write_->incident_exists;
  // A write links many events to few incidents: each is looked up once.
  std::set<std::string_view> known_incidents;
  auto mustExist = [&](const std::string& incident_id) -> Status {
    if (known_incidents.contains(incident_id)) {
      return Status::ok();
    }
    StmtUse use(exists);
    use->bind(1, tenant_id).bind(2, incident_id);
    FL_ASSIGN_OR_RETURN(bool found, use->step());
    if (!found) {
      return notFound("write incidents: no such incident in this tenant");
    }
    known_incidents.insert(incident_id);
    return Status::ok();
  };
  if (!write.links.empty()) {
    Stmt& link = write_->link_incident_event;
    for (const IncidentEventRow& row : write.links) {
      FL_RETURN_IF_ERROR(mustExist(row.incident_id));
      StmtUse use(link);
      use->bind(1, tenant_id)
          .bind(2, row.incident_id)
          .bind(3, row.event_id)
          .bind(4, row.occurred_at_ns)
          .bind(5, row.reason_json);
      FL_RETURN_IF_ERROR(use->run());
    }
  }
  if (!write.moves.empty()) {
    Stmt& move = write_->move_incident_events;
    Stmt& drop = write_->drop_moved_events;
    for (const auto& [from, to] : write.moves) {
      FL_RETURN_IF_ERROR(mustExist(from));
      FL_RETURN_IF_ERROR(mustExist(to));
      {
        StmtUse use(move);
        use->bind(1, tenant_id).bind(2, from).bind(3, to);
        FL_RETURN_IF_ERROR(use->run());
      }
      StmtUse use(drop);
      use->bind(1, tenant_id).bind(2, from);
      FL_RETURN_IF_ERROR(use->run());
    }
  }
  if (!write.unlinks.empty()) {
    Stmt& unlink = write_->unlink_incident_event;
    Stmt& unlink_any_time = write_->unlink_incident_event_any_time;
    for (const IncidentEventRow& row : write.unlinks) {
      {
        StmtUse use(unlink);
        use->bind(1, tenant_id)
            .bind(2, row.incident_id)
            .bind(3, row.occurred_at_ns)
            .bind(4, row.event_id);
        FL_RETURN_IF_ERROR(use->run());
      }
      if (sqlite3_changes(db) == 0) {
        StmtUse use(unlink_any_time);
        use->bind(1, tenant_id).bind(2, row.incident_id).bind(3, row.event_id);
        FL_RETURN_IF_ERROR(use->run());
      }
    }
  }
  if (!write.timeline.empty()) {
    Stmt& append = write_->append_timeline;
    for (const IncidentTimelineRow& row : write.timeline) {
      FL_RETURN_IF_ERROR(mustExist(row.incident_id));
      StmtUse use(append);
      use->bind(1, tenant_id)
          .bind(2, row.incident_id)
          .bind(3, row.at_ns)
          .bind(4, row.actor)
          .bind(5, row.kind)
          .bind(6, row.detail_json);
      FL_RETURN_IF_ERROR(use->run());
    }
  }
  return Status::ok();
}

Result<std::vector<IncidentRow>> SqliteStore::listIncidents(std::string_view tenant_id,
                                                            const IncidentQuery& query) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(
      Stmt stmt,
      Stmt::prepare(reader->db.get(),
                    joined(kIncidentColumns,
                           "WHERE tenant_id = ?1 AND (?2 = '' OR status = ?2) AND last_event > ?3 "
                           "AND (first_event < ?4 OR (first_event = ?4 AND id < ?5)) "
                           "ORDER BY first_event DESC, id DESC LIMIT ?6")));
  stmt.bind(1, tenant_id)
      .bind(2, query.status)
      .bind(3, query.min_last_event_ns)
      .bind(4, query.before_first_event_ns)
      .bind(5, query.before_id)
      .bind(6, static_cast<std::int64_t>(query.limit));
  std::vector<IncidentRow> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    out.push_back(readIncidentRow(stmt));
  }
}

Result<IncidentRow> SqliteStore::findIncident(std::string_view tenant_id,
                                              std::string_view incident_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt,
                      Stmt::prepare(reader->db.get(),
                                    joined(kIncidentColumns, "WHERE tenant_id = ?1 AND id = ?2")));
  stmt.bind(1, tenant_id).bind(2, incident_id);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) {
    return notFound("no such incident in this tenant");
  }
  return readIncidentRow(stmt);
}

Result<std::vector<IncidentEventRow>> SqliteStore::listIncidentEvents(std::string_view tenant_id,
                                                                      std::string_view incident_id,
                                                                      std::size_t limit) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kListIncidentEvents));
  stmt.bind(1, tenant_id)
      .bind(2, incident_id)
      .bind(3, static_cast<std::int64_t>(std::min(limit, kMaxIncidentEventsListed)));
  std::vector<IncidentEventRow> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    IncidentEventRow link;
    link.incident_id = std::string(stmt.columnText(0));
    link.event_id = std::string(stmt.columnText(1));
    link.occurred_at_ns = stmt.columnInt(2);
    link.reason_json = std::string(stmt.columnText(3));
    out.push_back(std::move(link));
  }
}

Result<std::vector<IncidentTimelineRow>> SqliteStore::listIncidentTimeline(
    std::string_view tenant_id, std::string_view incident_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kListTimeline));
  stmt.bind(1, tenant_id).bind(2, incident_id);
  std::vector<IncidentTimelineRow> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    IncidentTimelineRow entry;
    entry.incident_id = std::string(stmt.columnText(0));
    entry.at_ns = stmt.columnInt(1);
    entry.actor = std::string(stmt.columnText(2));
    entry.kind = std::string(stmt.columnText(3));
    entry.detail_json = std::string(stmt.columnText(4));
    out.push_back(std::move(entry));
  }
}

Result<std::vector<StoredEvent>> SqliteStore::findEvents(std::string_view tenant_id,
                                                         const std::vector<std::string>& ids) {
  if (ids.size() > kMaxEventsPerRecord) {
    return invalidArgument("find events: more than " + std::to_string(kMaxEventsPerRecord) +
                           " ids");
  }
  std::vector<StoredEvent> out;
  if (ids.empty()) {
    return out;
  }
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindEvents));
  stmt.bind(1, tenant_id).bind(2, idsAsJson(ids));
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    FL_ASSIGN_OR_RETURN(StoredEvent stored, readStoredEvent(stmt, tenant_id));
    out.push_back(std::move(stored));
  }
}

Result<StoredEvent> SqliteStore::findEvent(std::string_view tenant_id, std::string_view event_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindEvent));
  stmt.bind(1, tenant_id).bind(2, event_id);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) {
    return notFound("no such event");
  }
  return readStoredEvent(stmt, tenant_id);
}

Result<std::string> SqliteStore::findCorrelationRules(std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindRules));
  stmt.bind(1, tenant_id);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  return row ? std::string(stmt.columnText(0)) : std::string();
}

Status SqliteStore::setCorrelationRules(std::string_view tenant_id, std::string_view rules_json,
                                        std::int64_t now_ns) {
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(write_db_.get(), kSetRules));
    stmt.bind(1, tenant_id).bind(2, rules_json).bind(3, now_ns);
    return stmt.run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("set correlation rules: no such tenant");
  }
  return status;
}

}  // namespace faultline::aggregator::store::sqlite

// --- Notifications (migration 11). Low volume: statements prepared per call.
namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kInsertChannel =
    "INSERT INTO notify_channels(tenant_id, id, name, kind, url, secret, events, min_severity, "
    "created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr std::string_view kListChannels =
    "SELECT tenant_id, id, name, kind, url, secret, events, min_severity, created_by, "
    "created_at, deleted_at FROM notify_channels WHERE tenant_id = ?1 AND deleted_at = 0 "
    "ORDER BY created_at, id";
constexpr std::string_view kDeleteChannel =
    "UPDATE notify_channels SET deleted_at = ?3 WHERE tenant_id = ?1 AND id = ?2 "
    "AND deleted_at = 0";
// The channel must be the tenant's and in use: the subquery makes a stray id insert nothing.
constexpr std::string_view kEnqueueDelivery =
    "INSERT INTO notify_deliveries(tenant_id, idempotency_key, channel_id, incident_id, change, "
    "body, state, attempts, created_at, next_attempt_at, delivered_at, last_status, last_error) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 WHERE EXISTS (SELECT 1 FROM "
    "notify_channels WHERE tenant_id = ?1 AND id = ?3 AND deleted_at = 0) "
    "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING";
#define FL_DELIVERY_SELECT                                                                      \
  "SELECT tenant_id, idempotency_key, channel_id, incident_id, change, body, state, attempts, " \
  "created_at, next_attempt_at, delivered_at, last_status, last_error FROM notify_deliveries "
constexpr std::string_view kDueDeliveries = FL_DELIVERY_SELECT
    "WHERE state = 'pending' AND next_attempt_at <= ?1 "
    "ORDER BY next_attempt_at, tenant_id, idempotency_key LIMIT ?2";
constexpr std::string_view kChannelDeliveries = FL_DELIVERY_SELECT
    "WHERE tenant_id = ?1 AND channel_id = ?2 "
    "ORDER BY created_at DESC, idempotency_key DESC LIMIT ?3";
#undef FL_DELIVERY_SELECT
constexpr std::string_view kUpdateDelivery =
    "UPDATE notify_deliveries SET state = ?3, attempts = ?4, next_attempt_at = ?5, "
    "delivered_at = ?6, last_status = ?7, last_error = ?8 WHERE tenant_id = ?1 "
    "AND idempotency_key = ?2";

NotificationChannel readChannel(Stmt& stmt) {
  NotificationChannel channel;
  channel.tenant_id = std::string(stmt.columnText(0));
  channel.id = std::string(stmt.columnText(1));
  channel.name = std::string(stmt.columnText(2));
  channel.kind = std::string(stmt.columnText(3));
  channel.url = std::string(stmt.columnText(4));
  channel.secret = std::string(stmt.columnText(5));
  channel.events = std::string(stmt.columnText(6));
  channel.min_severity = std::string(stmt.columnText(7));
  channel.created_by = std::string(stmt.columnText(8));
  channel.created_at_ns = stmt.columnInt(9);
  channel.deleted_at_ns = stmt.columnInt(10);
  return channel;
}

NotificationDelivery readDelivery(Stmt& stmt) {
  NotificationDelivery delivery;
  delivery.tenant_id = std::string(stmt.columnText(0));
  delivery.idempotency_key = std::string(stmt.columnText(1));
  delivery.channel_id = std::string(stmt.columnText(2));
  delivery.incident_id = std::string(stmt.columnText(3));
  delivery.change = std::string(stmt.columnText(4));
  delivery.body = std::string(stmt.columnText(5));
  delivery.state = std::string(stmt.columnText(6));
  delivery.attempts = stmt.columnInt(7);
  delivery.created_at_ns = stmt.columnInt(8);
  delivery.next_attempt_at_ns = stmt.columnInt(9);
  delivery.delivered_at_ns = stmt.columnInt(10);
  delivery.last_status = stmt.columnInt(11);
  delivery.last_error = std::string(stmt.columnText(12));
  return delivery;
}

}  // namespace

Status SqliteStore::createNotificationChannel(const NotificationChannel& channel) {
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(write_db_.get(), kInsertChannel));
    stmt.bind(1, channel.tenant_id)
        .bind(2, channel.id)
        .bind(3, channel.name)
        .bind(4, channel.kind)
        .bind(5, channel.url)
        .bind(6, channel.secret)
        .bind(7, channel.events)
        .bind(8, channel.min_severity)
        .bind(9, channel.created_by)
        .bind(10, channel.created_at_ns);
    return stmt.run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create notification channel: no such tenant (or a duplicate id)");
  }
  return status;
}

Result<std::vector<NotificationChannel>> SqliteStore::listNotificationChannels(
    std::string_view tenant_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kListChannels));
  stmt.bind(1, tenant_id);
  std::vector<NotificationChannel> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    out.push_back(readChannel(stmt));
  }
}

Status SqliteStore::deleteNotificationChannel(std::string_view tenant_id,
                                              std::string_view channel_id, std::int64_t now_ns) {
  return writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(write_db_.get(), kDeleteChannel));
    stmt.bind(1, tenant_id).bind(2, channel_id).bind(3, now_ns);
    FL_RETURN_IF_ERROR(stmt.run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such notification channel in this tenant");
    }
    return Status::ok();
  });
}

Status SqliteStore::enqueueNotifications(std::string_view tenant_id,
                                         const std::vector<NotificationDelivery>& deliveries) {
  if (deliveries.size() > kMaxChannelsPerTenant) {
    return invalidArgument("enqueue notifications: more than " +
                           std::to_string(kMaxChannelsPerTenant) + " deliveries at once");
  }
  for (const NotificationDelivery& delivery : deliveries) {
    if (delivery.tenant_id != tenant_id) {
      return invalidArgument("enqueue notifications: a delivery of another tenant");
    }
  }
  if (deliveries.empty()) {
    return Status::ok();
  }
  return writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(write_db_.get(), kEnqueueDelivery));
    for (const NotificationDelivery& d : deliveries) {
      stmt.reset();
      stmt.bind(1, tenant_id)
          .bind(2, d.idempotency_key)
          .bind(3, d.channel_id)
          .bind(4, d.incident_id)
          .bind(5, d.change)
          .bind(6, d.body)
          .bind(7, d.state)
          .bind(8, d.attempts)
          .bind(9, d.created_at_ns)
          .bind(10, d.next_attempt_at_ns)
          .bind(11, d.delivered_at_ns)
          .bind(12, d.last_status)
          .bind(13, d.last_error);
      FL_RETURN_IF_ERROR(stmt.run());
    }
    return Status::ok();
  });
}

Result<std::vector<NotificationDelivery>> SqliteStore::dueNotifications(std::int64_t now_ns,
                                                                        std::size_t limit) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kDueDeliveries));
  stmt.bind(1, now_ns).bind(2, static_cast<std::int64_t>(limit));
  std::vector<NotificationDelivery> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    out.push_back(readDelivery(stmt));
  }
}

Status SqliteStore::updateNotification(std::string_view tenant_id,
                                       const NotificationDelivery& delivery) {
  return writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(write_db_.get(), kUpdateDelivery));
    stmt.bind(1, tenant_id)
        .bind(2, delivery.idempotency_key)
        .bind(3, delivery.state)
        .bind(4, delivery.attempts)
        .bind(5, delivery.next_attempt_at_ns)
        .bind(6, delivery.delivered_at_ns)
        .bind(7, delivery.last_status)
        .bind(8, delivery.last_error);
    FL_RETURN_IF_ERROR(stmt.run());
    if (sqlite3_changes(write_db_.get()) == 0) {
      return notFound("no such notification delivery in this tenant");
    }
    return Status::ok();
  });
}

Result<std::vector<NotificationDelivery>> SqliteStore::listNotifications(
    std::string_view tenant_id, std::string_view channel_id, std::size_t limit) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kChannelDeliveries));
  stmt.bind(1, tenant_id).bind(2, channel_id).bind(3, static_cast<std::int64_t>(limit));
  std::vector<NotificationDelivery> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    out.push_back(readDelivery(stmt));
  }
}

}  // namespace faultline::aggregator::store::sqlite

// --- Knowledge index (migration 12): documents, passages, FTS5 with BM25.
namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kUpsertKnowledgeDocument =
    "INSERT INTO knowledge_documents(tenant_id, kind, id, title, services_json, body, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant_id, kind, id) DO UPDATE SET "
    "title = excluded.title, services_json = excluded.services_json, body = excluded.body, "
    "updated_at = excluded.updated_at";
constexpr std::string_view kDropKnowledgePassages =
    "DELETE FROM knowledge_passages WHERE tenant_id = ?1 AND kind = ?2 AND doc_id = ?3";
constexpr std::string_view kInsertKnowledgePassage =
    "INSERT INTO knowledge_passages(tenant_id, kind, doc_id, seq, heading, text, embedding) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view kDeleteKnowledgeDocument =
    "DELETE FROM knowledge_documents WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3";
constexpr std::string_view kFindKnowledgeDocument =
    "SELECT kind, id, title, services_json, body, updated_at FROM knowledge_documents "
    "WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3";
constexpr std::string_view kListKnowledgeDocuments =
    "SELECT kind, id, title, services_json, length(CAST(body AS BLOB)), updated_at "
    "FROM knowledge_documents WHERE tenant_id = ?1 AND kind = ?2 "
    "ORDER BY updated_at DESC, id DESC LIMIT ?3";
// bm25() is lower for better matches; headings weigh twice the text. The tenant filter is on
// the passage row the FTS row joins (FTS5 ranks over the whole index, scopes here).
constexpr std::string_view kSearchKnowledge =
    "SELECT p.kind, p.doc_id, d.title, d.services_json, p.seq, p.heading, "
    "snippet(knowledge_fts, -1, '[', ']', '...', 24), -bm25(knowledge_fts, 2.0, 1.0) AS score "
    "FROM knowledge_fts JOIN knowledge_passages p ON p.pid = knowledge_fts.rowid "
    "JOIN knowledge_documents d ON d.tenant_id = p.tenant_id AND d.kind = p.kind "
    "AND d.id = p.doc_id "
    "WHERE knowledge_fts MATCH ?2 AND p.tenant_id = ?1 "
    "AND (?3 = '' OR instr(',' || ?3 || ',', ',' || p.kind || ',') > 0) "
    "ORDER BY score DESC, p.kind, p.doc_id, p.seq LIMIT ?4";
// The newest documents' vectors first (the scan is capped; see kKnowledgeVectorScan).
constexpr std::string_view kListKnowledgeVectors =
    "SELECT p.kind, p.doc_id, d.title, d.services_json, p.seq, p.heading, p.text, p.embedding "
    "FROM knowledge_passages p JOIN knowledge_documents d ON d.tenant_id = p.tenant_id "
    "AND d.kind = p.kind AND d.id = p.doc_id "
    "WHERE p.tenant_id = ?1 AND p.embedding IS NOT NULL AND length(p.embedding) > 0 "
    "AND (?2 = '' OR instr(',' || ?2 || ',', ',' || p.kind || ',') > 0) "
    "ORDER BY d.updated_at DESC, p.kind, p.doc_id, p.seq LIMIT ?3";

}  // namespace

Status SqliteStore::putKnowledgeDocument(const KnowledgeDocument& document) {
  FL_RETURN_IF_ERROR(validateKnowledgeDocument(document.tenant_id, document));
  std::string services = servicesToJson(document.services);
  Status status = writer_->run([&]() -> Status {
    sqlite3* db = write_db_.get();
    FL_ASSIGN_OR_RETURN(Stmt upsert, Stmt::prepare(db, kUpsertKnowledgeDocument));
    upsert.bind(1, document.tenant_id)
        .bind(2, document.kind)
        .bind(3, document.id)
        .bind(4, document.title)
        .bind(5, services)
        .bind(6, document.body)
        .bind(7, document.updated_at_ns);
    FL_RETURN_IF_ERROR(upsert.run());
    FL_ASSIGN_OR_RETURN(Stmt drop, Stmt::prepare(db, kDropKnowledgePassages));
    drop.bind(1, document.tenant_id).bind(2, document.kind).bind(3, document.id);
    FL_RETURN_IF_ERROR(drop.run());
    FL_ASSIGN_OR_RETURN(Stmt insert, Stmt::prepare(db, kInsertKnowledgePassage));
    for (std::size_t i = 0; i < document.passages.size(); ++i) {
      const std::string embedding = encodeEmbedding(document.passages[i].embedding);
      StmtUse use(insert);
      use->bind(1, document.tenant_id)
          .bind(2, document.kind)
          .bind(3, document.id)
          .bind(4, static_cast<std::int64_t>(i))
          .bind(5, document.passages[i].heading)
          .bind(6, document.passages[i].text);
      if (embedding.empty()) {
        use->bindNull(7);
      } else {
        use->bindBlobStatic(7, embedding);
      }
      FL_RETURN_IF_ERROR(use->run());
    }
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("knowledge: no such tenant");
  }
  return status;
}

Status SqliteStore::deleteKnowledgeDocument(std::string_view tenant_id, std::string_view kind,
                                            std::string_view id) {
  return writer_->run([&]() -> Status {
    sqlite3* db = write_db_.get();
    FL_ASSIGN_OR_RETURN(Stmt drop, Stmt::prepare(db, kDropKnowledgePassages));
    drop.bind(1, tenant_id).bind(2, kind).bind(3, id);
    FL_RETURN_IF_ERROR(drop.run());
    FL_ASSIGN_OR_RETURN(Stmt remove, Stmt::prepare(db, kDeleteKnowledgeDocument));
    remove.bind(1, tenant_id).bind(2, kind).bind(3, id);
    FL_RETURN_IF_ERROR(remove.run());
    if (sqlite3_changes(db) == 0) {
      return notFound("no such document in this tenant");
    }
    return Status::ok();
  });
}

Result<KnowledgeDocument> SqliteStore::findKnowledgeDocument(std::string_view tenant_id,
                                                             std::string_view kind,
                                                             std::string_view id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindKnowledgeDocument));
  stmt.bind(1, tenant_id).bind(2, kind).bind(3, id);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) {
    return notFound("no such document in this tenant");
  }
  KnowledgeDocument document;
  document.tenant_id = std::string(tenant_id);
  document.kind = std::string(stmt.columnText(0));
  document.id = std::string(stmt.columnText(1));
  document.title = std::string(stmt.columnText(2));
  document.services = servicesFromJson(stmt.columnText(3));
  document.body = std::string(stmt.columnText(4));
  document.updated_at_ns = stmt.columnInt(5);
  return document;
}

Result<std::vector<KnowledgeSummary>> SqliteStore::listKnowledgeDocuments(
    std::string_view tenant_id, std::string_view kind, std::size_t limit) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kListKnowledgeDocuments));
  stmt.bind(1, tenant_id).bind(2, kind).bind(3, static_cast<std::int64_t>(limit));
  std::vector<KnowledgeSummary> out;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    KnowledgeSummary summary;
    summary.kind = std::string(stmt.columnText(0));
    summary.id = std::string(stmt.columnText(1));
    summary.title = std::string(stmt.columnText(2));
    summary.services = servicesFromJson(stmt.columnText(3));
    summary.body_bytes = static_cast<std::size_t>(stmt.columnInt(4));
    summary.updated_at_ns = stmt.columnInt(5);
    out.push_back(std::move(summary));
  }
}

Result<std::vector<KnowledgeHit>> SqliteStore::searchKnowledge(std::string_view tenant_id,
                                                               const KnowledgeQuery& query) {
  std::vector<std::string> terms = searchTerms(query.terms);
  std::optional<std::string> kinds = kindsFilter(query.kinds);
  if (terms.empty() || !kinds) {
    return std::vector<KnowledgeHit>{};
  }
  // Terms are [a-z0-9_] (searchTerms), so quoting each makes a plain FTS5 string.
  std::string match;
  for (const std::string& term : terms) {
    match += (match.empty() ? "\"" : " OR \"") + term + "\"";
  }
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kSearchKnowledge));
  stmt.bind(1, tenant_id)
      .bind(2, match)
      .bind(3, *kinds)
      .bind(4, static_cast<std::int64_t>(kKnowledgePassageScan));
  std::vector<KnowledgePassageRow> rows;
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      break;
    }
    KnowledgePassageRow passage;
    passage.kind = std::string(stmt.columnText(0));
    passage.id = std::string(stmt.columnText(1));
    passage.title = std::string(stmt.columnText(2));
    passage.services_json = std::string(stmt.columnText(3));
    passage.passage.seq = static_cast<int>(stmt.columnInt(4));
    passage.passage.heading = std::string(stmt.columnText(5));
    passage.passage.snippet = std::string(stmt.columnText(6));
    passage.passage.score = sqlite3_column_double(stmt.get(), 7);
    rows.push_back(std::move(passage));
  }
  return groupKnowledgeHits(std::move(rows), query);
}

Result<std::vector<KnowledgeVectorRow>> SqliteStore::listKnowledgeVectors(
    std::string_view tenant_id, const std::vector<std::string>& kinds, std::size_t limit) {
  std::optional<std::string> filter = kindsFilter(kinds);
  std::vector<KnowledgeVectorRow> out;
  if (!filter || limit == 0) {
    return out;
  }
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kListKnowledgeVectors));
  stmt.bind(1, tenant_id).bind(2, *filter).bind(3, static_cast<std::int64_t>(limit));
  for (;;) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      return out;
    }
    KnowledgeVectorRow vector;
    vector.kind = std::string(stmt.columnText(0));
    vector.id = std::string(stmt.columnText(1));
    vector.title = std::string(stmt.columnText(2));
    vector.services_json = std::string(stmt.columnText(3));
    vector.seq = static_cast<int>(stmt.columnInt(4));
    vector.heading = std::string(stmt.columnText(5));
    vector.text = std::string(stmt.columnText(6));
    vector.embedding = decodeEmbedding(stmt.columnText(7));
    if (!vector.embedding.empty()) {
      out.push_back(std::move(vector));
    }
  }
}

}  // namespace faultline::aggregator::store::sqlite

// --- AI runbooks (migration 13).
namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kUpsertAiRunbook =
    "INSERT INTO ai_runbooks(tenant_id, incident_id, body_json, provider, updated_by, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, incident_id) DO UPDATE SET "
    "body_json = excluded.body_json, provider = excluded.provider, "
    "updated_by = excluded.updated_by, updated_at = excluded.updated_at";
constexpr std::string_view kFindAiRunbook =
    "SELECT body_json, provider, updated_by, updated_at FROM ai_runbooks "
    "WHERE tenant_id = ?1 AND incident_id = ?2";
constexpr std::string_view kUpsertAiAnswer =
    "INSERT INTO ai_answers(tenant_id, incident_id, task, body_json, provider, updated_by, "
    "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant_id, incident_id, task) "
    "DO UPDATE SET body_json = excluded.body_json, provider = excluded.provider, "
    "updated_by = excluded.updated_by, updated_at = excluded.updated_at";
constexpr std::string_view kFindAiAnswer =
    "SELECT body_json, provider, updated_by, updated_at FROM ai_answers "
    "WHERE tenant_id = ?1 AND incident_id = ?2 AND task = ?3";

}  // namespace

Status SqliteStore::putAiRunbook(const AiRunbookRecord& record) {
  if (record.body_json.size() > kMaxAiRunbookBytes) {
    return invalidArgument("ai runbook: at most " + std::to_string(kMaxAiRunbookBytes) + " bytes");
  }
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt upsert, Stmt::prepare(write_db_.get(), kUpsertAiRunbook));
    upsert.bind(1, record.tenant_id)
        .bind(2, record.incident_id)
        .bind(3, record.body_json)
        .bind(4, record.provider)
        .bind(5, record.updated_by)
        .bind(6, record.updated_at_ns);
    return upsert.run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("ai runbook: no such tenant");
  }
  return status;
}

Result<AiRunbookRecord> SqliteStore::findAiRunbook(std::string_view tenant_id,
                                                   std::string_view incident_id) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindAiRunbook));
  stmt.bind(1, tenant_id).bind(2, incident_id);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) {
    return notFound("no runbook for this incident in this tenant");
  }
  AiRunbookRecord record;
  record.tenant_id = std::string(tenant_id);
  record.incident_id = std::string(incident_id);
  record.body_json = std::string(stmt.columnText(0));
  record.provider = std::string(stmt.columnText(1));
  record.updated_by = std::string(stmt.columnText(2));
  record.updated_at_ns = stmt.columnInt(3);
  return record;
}

Status SqliteStore::putAiAnswer(const AiAnswerRecord& record) {
  if (record.body_json.size() > kMaxAiAnswerBytes) {
    return invalidArgument("ai answer: at most " + std::to_string(kMaxAiAnswerBytes) + " bytes");
  }
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt upsert, Stmt::prepare(write_db_.get(), kUpsertAiAnswer));
    upsert.bind(1, record.tenant_id)
        .bind(2, record.incident_id)
        .bind(3, record.task)
        .bind(4, record.body_json)
        .bind(5, record.provider)
        .bind(6, record.updated_by)
        .bind(7, record.updated_at_ns);
    return upsert.run();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("ai answer: no such tenant");
  }
  return status;
}

Result<AiAnswerRecord> SqliteStore::findAiAnswer(std::string_view tenant_id,
                                                 std::string_view incident_id,
                                                 std::string_view task) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindAiAnswer));
  stmt.bind(1, tenant_id).bind(2, incident_id).bind(3, task);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) {
    return notFound("no " + std::string(task) + " for this incident in this tenant");
  }
  AiAnswerRecord record;
  record.tenant_id = std::string(tenant_id);
  record.incident_id = std::string(incident_id);
  record.task = std::string(task);
  record.body_json = std::string(stmt.columnText(0));
  record.provider = std::string(stmt.columnText(1));
  record.updated_by = std::string(stmt.columnText(2));
  record.updated_at_ns = stmt.columnInt(3);
  return record;
}

}  // namespace faultline::aggregator::store::sqlite

// --- AI cost control (migration 14): token counters per tenant and period, cached answers and
// the usage ledger. A reservation is one job on the single writer thread (read the counters,
// check, add), so concurrent ones are serialized.
namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kReadCounter =
    "SELECT tokens FROM ai_token_counters WHERE tenant_id = ?1 AND period = ?2";
constexpr std::string_view kAddCounter =
    "INSERT INTO ai_token_counters(tenant_id, period, tokens) VALUES (?1, ?2, max(0, ?3)) "
    "ON CONFLICT (tenant_id, period) DO UPDATE SET tokens = max(0, tokens + excluded.tokens)";
constexpr std::string_view kAdjustCounters =
    "UPDATE ai_token_counters SET tokens = max(0, tokens + ?2) "
    "WHERE tenant_id = ?1 AND period IN (?3, ?4)";
constexpr std::string_view kFindCachedAnswer =
    "SELECT provider, model, answer, created_at FROM ai_response_cache "
    "WHERE tenant_id = ?1 AND cache_key = ?2 AND created_at >= ?3";
constexpr std::string_view kPutCachedAnswer =
    "INSERT INTO ai_response_cache(tenant_id, cache_key, provider, model, answer, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, cache_key) DO UPDATE SET "
    "provider = excluded.provider, model = excluded.model, answer = excluded.answer, "
    "created_at = excluded.created_at";
constexpr std::string_view kExpireCachedAnswers =
    "DELETE FROM ai_response_cache WHERE tenant_id = ?1 AND created_at < ?2";
constexpr std::string_view kAppendUsage =
    "INSERT INTO ai_usage_ledger(tenant_id, at, day, provider, model, task, prompt_tokens, "
    "completion_tokens, cost_micros, cached, outcome) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr std::string_view kUsageTotals =
    "SELECT day, provider, model, count(*), sum(cached), sum(prompt_tokens), "
    "sum(completion_tokens), sum(cost_micros), task FROM ai_usage_ledger "
    "WHERE tenant_id = ?1 AND at >= ?2 AND at < ?3 "
    "GROUP BY day, provider, model, task ORDER BY day, provider, model, task";

Result<std::int64_t> readCounter(sqlite3* db, std::string_view tenant_id, std::string_view period) {
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(db, kReadCounter));
  stmt.bind(1, tenant_id).bind(2, period);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  return row ? stmt.columnInt(0) : std::int64_t{0};
}

Status noTenant(Status status, const char* what) {
  if (status.code() == Errc::AlreadyExists) {
    return notFound(std::string(what) + ": no such tenant");
  }
  return status;
}

}  // namespace

Result<AiReservationResult> SqliteStore::reserveAiTokens(const AiTokenReservation& reservation) {
  if (reservation.tokens < 0) {
    return invalidArgument("ai tokens: a reservation is not negative");
  }
  AiReservationResult result;
  Status status = writer_->run([&]() -> Status {
    sqlite3* db = write_db_.get();
    FL_ASSIGN_OR_RETURN(result.day_used, readCounter(db, reservation.tenant_id, reservation.day));
    FL_ASSIGN_OR_RETURN(result.month_used,
                        readCounter(db, reservation.tenant_id, reservation.month));
    if (reservation.daily_limit > 0 &&
        result.day_used + reservation.tokens > reservation.daily_limit) {
      result.refused_by = "day";
      return Status::ok();
    }
    if (reservation.monthly_limit > 0 &&
        result.month_used + reservation.tokens > reservation.monthly_limit) {
      result.refused_by = "month";
      return Status::ok();
    }
    for (const std::string* period : {&reservation.day, &reservation.month}) {
      FL_ASSIGN_OR_RETURN(Stmt add, Stmt::prepare(db, kAddCounter));
      add.bind(1, reservation.tenant_id).bind(2, *period).bind(3, reservation.tokens);
      FL_RETURN_IF_ERROR(add.run());
    }
    result.granted = true;
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(noTenant(status, "ai tokens"));
  return result;
}

Status SqliteStore::adjustAiTokens(std::string_view tenant_id, std::string_view day,
                                   std::string_view month, std::int64_t delta) {
  if (delta == 0) {
    return Status::ok();
  }
  return writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt adjust, Stmt::prepare(write_db_.get(), kAdjustCounters));
    adjust.bind(1, tenant_id).bind(2, delta).bind(3, day).bind(4, month);
    return adjust.run();
  });
}

Result<std::pair<std::int64_t, std::int64_t>> SqliteStore::aiTokensUsed(std::string_view tenant_id,
                                                                        std::string_view day,
                                                                        std::string_view month) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(std::int64_t day_used, readCounter(reader->db.get(), tenant_id, day));
  FL_ASSIGN_OR_RETURN(std::int64_t month_used, readCounter(reader->db.get(), tenant_id, month));
  return std::make_pair(day_used, month_used);
}

Result<AiCachedAnswer> SqliteStore::findAiCachedAnswer(std::string_view tenant_id,
                                                       std::string_view key,
                                                       std::int64_t min_created_at_ns) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kFindCachedAnswer));
  stmt.bind(1, tenant_id).bind(2, key).bind(3, min_created_at_ns);
  FL_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) {
    return notFound("no cached answer");
  }
  AiCachedAnswer answer;
  answer.tenant_id = std::string(tenant_id);
  answer.key = std::string(key);
  answer.provider = std::string(stmt.columnText(0));
  answer.model = std::string(stmt.columnText(1));
  answer.answer = std::string(stmt.columnText(2));
  answer.created_at_ns = stmt.columnInt(3);
  return answer;
}

Status SqliteStore::putAiCachedAnswer(const AiCachedAnswer& answer, std::int64_t expire_before_ns) {
  if (answer.answer.size() > kMaxAiCachedAnswerBytes) {
    return invalidArgument("ai cache: an answer of at most " +
                           std::to_string(kMaxAiCachedAnswerBytes) + " bytes");
  }
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt expire, Stmt::prepare(write_db_.get(), kExpireCachedAnswers));
    expire.bind(1, answer.tenant_id).bind(2, expire_before_ns);
    FL_RETURN_IF_ERROR(expire.run());
    FL_ASSIGN_OR_RETURN(Stmt put, Stmt::prepare(write_db_.get(), kPutCachedAnswer));
    put.bind(1, answer.tenant_id)
        .bind(2, answer.key)
        .bind(3, answer.provider)
        .bind(4, answer.model)
        .bind(5, answer.answer)
        .bind(6, answer.created_at_ns);
    return put.run();
  });
  return noTenant(status, "ai cache");
}

Status SqliteStore::appendAiUsage(const AiUsageRecord& record) {
  Status status = writer_->run([&]() -> Status {
    FL_ASSIGN_OR_RETURN(Stmt append, Stmt::prepare(write_db_.get(), kAppendUsage));
    append.bind(1, record.tenant_id)
        .bind(2, record.at_ns)
        .bind(3, record.day)
        .bind(4, record.provider)
        .bind(5, record.model)
        .bind(6, record.task)
        .bind(7, record.prompt_tokens)
        .bind(8, record.completion_tokens)
        .bind(9, record.cost_micros)
        .bind(10, std::int64_t{record.cached ? 1 : 0})
        .bind(11, record.outcome);
    return append.run();
  });
  return noTenant(status, "ai usage");
}

Result<std::vector<AiUsageTotal>> SqliteStore::aiUsageTotals(std::string_view tenant_id,
                                                             std::int64_t since_ns,
                                                             std::int64_t until_ns) {
  FL_ASSIGN_OR_RETURN(auto reader, acquireReader());
  FL_ASSIGN_OR_RETURN(Stmt stmt, Stmt::prepare(reader->db.get(), kUsageTotals));
  stmt.bind(1, tenant_id).bind(2, since_ns).bind(3, until_ns);
  std::vector<AiUsageTotal> totals;
  while (true) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) {
      break;
    }
    AiUsageTotal total;
    total.day = std::string(stmt.columnText(0));
    total.provider = std::string(stmt.columnText(1));
    total.model = std::string(stmt.columnText(2));
    total.calls = stmt.columnInt(3);
    total.cached = stmt.columnInt(4);
    total.prompt_tokens = stmt.columnInt(5);
    total.completion_tokens = stmt.columnInt(6);
    total.cost_micros = stmt.columnInt(7);
    total.task = std::string(stmt.columnText(8));
    totals.push_back(std::move(total));
  }
  return totals;
}

}  // namespace faultline::aggregator::store::sqlite
