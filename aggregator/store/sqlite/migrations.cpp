#include "aggregator/store/sqlite/migrations.h"

#include "aggregator/store/sqlite/sqlite_util.h"
#include "shared/util/time.h"

namespace faultline::aggregator::store::sqlite {
namespace {

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
))sql";
constexpr std::string_view kCurrentVersion =
    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
constexpr std::string_view kRecordVersion =
    "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)";

// Logs are not rows: a batch is stored once, compressed as the agent sent it, with the facts
// needed to find it (tenant, time range, sources) beside it.
constexpr std::string_view kV1Initial = R"sql(
CREATE TABLE tenancy_tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE agents_enrollment_tokens (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  used_by_agent TEXT
);
CREATE TABLE agents_agents (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  secret_hash TEXT NOT NULL UNIQUE,
  hostname TEXT NOT NULL,
  version TEXT NOT NULL,
  enrolled_at INTEGER NOT NULL,
  last_seen INTEGER,
  batches INTEGER NOT NULL DEFAULT 0,
  records INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agents_agents_by_tenant ON agents_agents(tenant_id, enrolled_at);
CREATE TABLE logs_batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  agent_id TEXT NOT NULL REFERENCES agents_agents(id),
  epoch INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  record_count INTEGER NOT NULL,
  line_bytes INTEGER NOT NULL,
  min_ts INTEGER NOT NULL,
  max_ts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  payload BLOB NOT NULL,
  UNIQUE (agent_id, epoch, seq)
);
CREATE INDEX logs_batches_by_tenant ON logs_batches(tenant_id, id);
CREATE TABLE logs_batch_sources (
  batch_id INTEGER NOT NULL REFERENCES logs_batches(id),
  tenant_id TEXT NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY (batch_id, source)
) WITHOUT ROWID;
)sql";

// Batch v2 records reference templates by id; the texts arrive once per agent stream, so the
// aggregator keeps them per tenant. Ids are content addresses (verified against the text on
// the way in), stored as the signed 64-bit reinterpretation of the unsigned id.
constexpr std::string_view kV2Templates = R"sql(
CREATE TABLE logs_templates (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  template_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, template_id)
) WITHOUT ROWID;
)sql";

constexpr const char* kV3Heartbeats = R"sql(
ALTER TABLE agents_agents ADD COLUMN last_heartbeat INTEGER;
ALTER TABLE agents_agents ADD COLUMN heartbeat_json TEXT;
)sql";

// Identity: users are not tenant data (one person, several tenants); everything else is. Secrets
// are stored as hashes only. 0 in a *_at column means "not (yet)".
constexpr const char* kV4Identity = R"sql(
CREATE TABLE auth_users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  disabled_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE auth_memberships (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  user_id TEXT NOT NULL REFERENCES auth_users(id),
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE INDEX auth_memberships_by_user ON auth_memberships(user_id);
CREATE TABLE auth_sessions (
  token_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  user_id TEXT NOT NULL REFERENCES auth_users(id),
  csrf_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX auth_sessions_by_member ON auth_sessions(tenant_id, user_id);
CREATE TABLE auth_api_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0,
  last_used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX auth_api_keys_by_tenant ON auth_api_keys(tenant_id, created_at);
CREATE TABLE auth_invitations (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  email TEXT NOT NULL,
  role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  invited_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  accepted_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX auth_invitations_by_tenant ON auth_invitations(tenant_id);
CREATE TABLE auth_signing_keys (
  kid TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

// The audit log (see aggregator/store/audit_log.h for the hash chain): one chain per tenant, ""
// for the system chain, so no foreign key to tenancy_tenants. Append-only: triggers refuse
// UPDATE and DELETE (the hash chain still catches whoever drops them first). The head row per
// chain lets verification notice entries removed from the end.
constexpr const char* kV5Audit = R"sql(
CREATE TABLE audit_log (
  tenant_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at_ns INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  client_address TEXT NOT NULL,
  detail_json TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
CREATE INDEX audit_log_by_time ON audit_log(tenant_id, at_ns);
CREATE TABLE audit_chain_heads (
  tenant_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads
  BEGIN SELECT RAISE(ABORT, 'audit_chain_heads rows are never removed'); END;
)sql";

// Events (see aggregator/store/event_records.h): integrations with hashed keys; every received
// event with the noise decision taken on it; one alert per (tenant, fingerprint). Events keep
// integration_id without a foreign key: log-derived and uploaded events have none.
constexpr const char* kV6Events = R"sql(
CREATE TABLE events_integrations (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  mapping_json TEXT NOT NULL,
  rate_limit_rps INTEGER NOT NULL,
  rate_limit_burst INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_integrations_by_tenant ON events_integrations(tenant_id, created_at);
CREATE TABLE events_events (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  integration_id TEXT NOT NULL,
  source TEXT NOT NULL,
  service TEXT NOT NULL,
  host TEXT NOT NULL,
  environment TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  action TEXT NOT NULL,
  source_dedup_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  labels_json TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  raw TEXT NOT NULL,
  decision TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX events_events_by_time ON events_events(tenant_id, received_at, id);
CREATE INDEX events_events_by_fingerprint ON events_events(tenant_id, fingerprint);
CREATE TABLE events_alerts (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  last_event_id TEXT NOT NULL,
  resolved_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, fingerprint)
) WITHOUT ROWID;
)sql";

// Noise reduction: the rule that muted an event, the alert's recent state changes and flapping
// flag, alerts listed by activity, and the tenant's suppression rules and maintenance windows
// (their spec is JSON validated by aggregator/events/noise_rules; deleted rules are kept for
// the events that name them).
constexpr const char* kV7Noise = R"sql(
ALTER TABLE events_events ADD COLUMN rule_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events_alerts ADD COLUMN changes TEXT NOT NULL DEFAULT '';
ALTER TABLE events_alerts ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_alerts_by_activity ON events_alerts(tenant_id, last_seen, fingerprint);
CREATE TABLE events_noise_rules (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_noise_rules_by_tenant ON events_noise_rules(tenant_id, created_at);
)sql";

// Log-derived events (see aggregator/events/log_events.h): the (service, template) pairs each
// tenant's logs have shown, so "a template never seen before" means the same on every node
// and after a restart.
constexpr const char* kV8LogTemplates = R"sql(
CREATE TABLE log_events_templates (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  service TEXT NOT NULL,
  template_id INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, service, template_id)
) WITHOUT ROWID;
)sql";

// Incidents (see aggregator/incidents): the engine's incident rows (filtered and sorted
// columns plus its JSON document), the events that joined each and why, the append-only
// timeline, and each tenant's correlation rules.
constexpr const char* kV10Incidents = R"sql(
CREATE TABLE incidents_incidents (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  id TEXT NOT NULL,
  status TEXT NOT NULL,
  severity TEXT NOT NULL,
  title TEXT NOT NULL,
  first_event INTEGER NOT NULL,
  last_event INTEGER NOT NULL,
  opened_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  doc_json TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX incidents_by_first_event ON incidents_incidents(tenant_id, first_event, id);
CREATE TABLE incidents_events (
  tenant_id TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  reason_json TEXT NOT NULL,
  PRIMARY KEY (tenant_id, incident_id, event_id),
  FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents_incidents(tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX incidents_events_by_time ON incidents_events(tenant_id, incident_id, occurred_at);
CREATE TABLE incidents_timeline (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail_json TEXT NOT NULL,
  FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents_incidents(tenant_id, id)
);
CREATE INDEX incidents_timeline_by_incident ON incidents_timeline(tenant_id, incident_id, seq);
CREATE TABLE incidents_rules (
  tenant_id TEXT PRIMARY KEY REFERENCES tenancy_tenants(id),
  rules_json TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql";

// The service graph (see store/graph_records.h): versions per tenant, and service and edge rows
// valid from the version that opened them until the one that closed them (NULL: in force).
constexpr const char* kV9ServiceGraph = R"sql(
CREATE TABLE graph_versions (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  cause TEXT NOT NULL,
  PRIMARY KEY (tenant_id, version)
) WITHOUT ROWID;
CREATE TABLE graph_services (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  environment TEXT NOT NULL,
  tier TEXT NOT NULL,
  labels_json TEXT NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER
);
CREATE INDEX graph_services_by_version ON graph_services(tenant_id, valid_from, valid_to);
CREATE UNIQUE INDEX graph_services_in_force ON graph_services(tenant_id, name)
  WHERE valid_to IS NULL;
CREATE TABLE graph_edges (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  from_service TEXT NOT NULL,
  to_service TEXT NOT NULL,
  origin TEXT NOT NULL,
  weight INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER
);
CREATE INDEX graph_edges_by_version ON graph_edges(tenant_id, valid_from, valid_to);
CREATE UNIQUE INDEX graph_edges_in_force ON graph_edges(tenant_id, from_service, to_service, origin)
  WHERE valid_to IS NULL;
)sql";

// Notifications (see aggregator/notify): each tenant's outbound channels and the outbox of
// deliveries, one row per (channel, incident change) keyed by its idempotency key.
constexpr const char* kV11Notifications = R"sql(
CREATE TABLE notify_channels (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  events TEXT NOT NULL,
  min_severity TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE TABLE notify_deliveries (
  tenant_id TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  change TEXT NOT NULL,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL,
  last_status INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  PRIMARY KEY (tenant_id, idempotency_key),
  FOREIGN KEY (tenant_id, channel_id) REFERENCES notify_channels(tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX notify_deliveries_due ON notify_deliveries(state, next_attempt_at);
CREATE INDEX notify_deliveries_by_channel ON notify_deliveries(tenant_id, channel_id, created_at);
)sql";

// The knowledge index (see store/knowledge_records.h): each tenant's documents (past incidents,
// runbooks) and their passages, with an FTS5 index over the passages (external content, kept in
// step by triggers) that ranks with BM25.
constexpr const char* kV12Knowledge = R"sql(
CREATE TABLE knowledge_documents (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  title TEXT NOT NULL,
  services_json TEXT NOT NULL,
  body TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, kind, id)
) WITHOUT ROWID;
CREATE INDEX knowledge_documents_by_update ON knowledge_documents(tenant_id, kind, updated_at);
CREATE TABLE knowledge_passages (
  pid INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  heading TEXT NOT NULL,
  text TEXT NOT NULL,
  FOREIGN KEY (tenant_id, kind, doc_id) REFERENCES knowledge_documents(tenant_id, kind, id)
);
CREATE INDEX knowledge_passages_by_document ON knowledge_passages(tenant_id, kind, doc_id);
CREATE VIRTUAL TABLE knowledge_fts USING fts5(heading, text, content='knowledge_passages',
  content_rowid='pid', tokenize='unicode61');
CREATE TRIGGER knowledge_passages_insert AFTER INSERT ON knowledge_passages BEGIN
  INSERT INTO knowledge_fts(rowid, heading, text) VALUES (new.pid, new.heading, new.text);
END;
CREATE TRIGGER knowledge_passages_delete AFTER DELETE ON knowledge_passages BEGIN
  INSERT INTO knowledge_fts(knowledge_fts, rowid, heading, text)
    VALUES ('delete', old.pid, old.heading, old.text);
END;
)sql";

// AI (aggregator/ai): the runbook generated for each incident, or as a responder last saved it.
constexpr const char* kV13Ai = R"sql(
CREATE TABLE ai_runbooks (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  incident_id TEXT NOT NULL,
  body_json TEXT NOT NULL,
  provider TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, incident_id)
) WITHOUT ROWID;
)sql";

// AI cost control (aggregator/ai/cost.h): token counters per tenant and period (a UTC day
// "2026-11-27" or month "2026-11"), cached model answers, and the usage ledger.
constexpr const char* kV14AiCost = R"sql(
CREATE TABLE ai_token_counters (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  period TEXT NOT NULL,
  tokens INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, period)
) WITHOUT ROWID;
CREATE TABLE ai_response_cache (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  cache_key TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  answer TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, cache_key)
) WITHOUT ROWID;
CREATE INDEX ai_response_cache_created ON ai_response_cache(tenant_id, created_at);
CREATE TABLE ai_usage_ledger (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  at INTEGER NOT NULL,
  day TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  task TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  cached INTEGER NOT NULL,
  outcome TEXT NOT NULL
);
CREATE INDEX ai_usage_ledger_at ON ai_usage_ledger(tenant_id, at);
)sql";

// Enrollment tokens: a revoked token keeps its row (the list shows it, with when), and the
// tenant's list pages by id without a scan of every tenant's tokens.
constexpr const char* kV15EnrollmentRevoked = R"sql(
ALTER TABLE agents_enrollment_tokens ADD COLUMN revoked_at INTEGER;
CREATE INDEX agents_enrollment_tokens_by_tenant ON agents_enrollment_tokens(tenant_id, id);
)sql";

// AI answers beside the runbook (aggregator/ai/narrative.h): the latest summary and
// explanation per incident.
constexpr const char* kV16AiAnswers = R"sql(
CREATE TABLE ai_answers (
  tenant_id TEXT NOT NULL REFERENCES tenancy_tenants(id),
  incident_id TEXT NOT NULL,
  task TEXT NOT NULL,
  body_json TEXT NOT NULL,
  provider TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, incident_id, task)
) WITHOUT ROWID;
)sql";

// Knowledge embeddings (knowledge/embeddings.h): each passage's vector when embeddings are
// configured, float32 little-endian; NULL for a passage indexed with BM25 only.
constexpr const char* kV17KnowledgeEmbeddings = R"sql(
ALTER TABLE knowledge_passages ADD COLUMN embedding BLOB;
)sql";

// incidents_incidents is WITHOUT ROWID, so its rows live in the primary-key b-tree, and a large
// incident's doc_json (hundreds of KiB for a storm of alerts) is part of the key: every seek
// that lands on that row copies the whole payload, overflow pages and all, to compare it. This
// index holds only (tenant_id, id): the existence checks before each event link use it (INDEXED
// BY), and so does the foreign-key check of each link, since SQLite takes the newest UNIQUE
// index on the parent columns for it. Under a webhook storm these seeks were a sixth of the
// aggregator's CPU.
// No query reads events by fingerprint (an alert's state is events_alerts, keyed by it), yet
// every recorded event paid an insert at a random place in events_events_by_fingerprint.
constexpr const char* kV18IncidentIdIndex = R"sql(
CREATE UNIQUE INDEX incidents_by_id ON incidents_incidents(tenant_id, id);
DROP INDEX IF EXISTS events_events_by_fingerprint;
)sql";

// Every recorded event updates its alert's last_seen, and the index that lists alerts by
// activity moved the alert's entry each time: a delete at a random page and an insert at the
// tenant's tail, half of the pages an event batch dirtied (measured: 56 of 120 WAL pages per
// 50-event commit), and each dirty page is a 4 KiB WAL frame. The index now holds the minute
// of last_seen (active_minute = last_seen / 60 s, kept equal by every write), which changes
// at most once a minute per alert: the writer leaves it out of the UPDATE otherwise, and
// listAlerts reads the index by minute and orders the rows within a minute.
constexpr const char* kV19AlertActivityMinute = R"sql(
ALTER TABLE events_alerts ADD COLUMN active_minute INTEGER NOT NULL DEFAULT 0;
UPDATE events_alerts SET active_minute = last_seen / 60000000000;
DROP INDEX IF EXISTS events_alerts_by_activity;
CREATE INDEX events_alerts_by_minute ON events_alerts(tenant_id, active_minute);
)sql";

// An incident's links were two b-trees keyed by incident: the table by (incident, event) and
// an index by (incident, occurred_at). Each commit dirtied a page per incident that took events
// in both, and a commit of 570 links to 1,000 open incidents wrote 1,710 WAL pages, more than
// the 570 events themselves (measured on a replica). Keyed by (incident, occurred_at, event)
// the table is the listing's order, and the index goes: 953 pages. An event's link is still
// unique per incident, since an event has one occurred_at.
constexpr const char* kV20IncidentLinksByTime = R"sql(
CREATE TABLE incidents_events_v20 (
  tenant_id TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  reason_json TEXT NOT NULL,
  PRIMARY KEY (tenant_id, incident_id, occurred_at, event_id),
  FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents_incidents(tenant_id, id)
) WITHOUT ROWID;
INSERT INTO incidents_events_v20(tenant_id, incident_id, occurred_at, event_id, reason_json)
  SELECT tenant_id, incident_id, occurred_at, event_id, reason_json FROM incidents_events;
DROP TABLE incidents_events;
ALTER TABLE incidents_events_v20 RENAME TO incidents_events;
)sql";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "initial: tenants, enrollment tokens, agents, log batches", kV1Initial},
      {2, "template dictionary per tenant (batch v2)", kV2Templates},
      {3, "agent heartbeats", kV3Heartbeats},
      {4, "identity: users, memberships, sessions, API keys, invitations, signing keys",
       kV4Identity},
      {5, "hash-chained audit log per tenant", kV5Audit},
      {6, "events: integrations, received events with noise decisions, alerts", kV6Events},
      {7, "noise reduction: suppression rules, maintenance windows, flapping", kV7Noise},
      {8, "log-derived events: (service, template) pairs seen per tenant", kV8LogTemplates},
      {9, "service graph: versioned services and edges per tenant", kV9ServiceGraph},
      {10, "incidents: incidents, their events and why, timeline, correlation rules",
       kV10Incidents},
      {11, "notifications: outbound channels and the outbox of deliveries", kV11Notifications},
      {12, "knowledge: per-tenant documents and passages with a BM25 (FTS5) index", kV12Knowledge},
      {13, "ai: generated and edited runbooks per incident", kV13Ai},
      {14, "ai cost control: token counters, response cache, usage ledger", kV14AiCost},
      {15, "enrollment tokens: revoked_at, index by tenant", kV15EnrollmentRevoked},
      {16, "ai: summaries and explanations per incident", kV16AiAnswers},
      {17, "knowledge: an embedding per passage (optional)", kV17KnowledgeEmbeddings},
      {18,
       "incidents: a narrow unique index on (tenant, id) for existence and foreign-key checks; "
       "events: the unused index by fingerprint dropped",
       kV18IncidentIdIndex},
      {19, "events: alerts listed by the minute of their activity (fewer index writes)",
       kV19AlertActivityMinute},
      {20, "incidents: event links keyed by (incident, occurred_at, event), one b-tree",
       kV20IncidentLinksByTime},
  };
  return kMigrations;
}

int latestSchemaVersion() {
  return migrations().back().version;
}

Status migrate(sqlite3* db, const std::string& path) {
  FL_RETURN_IF_ERROR(exec(db, kCreateMigrationsTable).withContext("migrate " + path));
  FL_ASSIGN_OR_RETURN(Stmt current, Stmt::prepare(db, kCurrentVersion));
  FL_ASSIGN_OR_RETURN(Stmt record, Stmt::prepare(db, kRecordVersion));
  auto readVersion = [&]() -> Result<std::int64_t> {
    StmtUse use(current);
    FL_ASSIGN_OR_RETURN(bool row, use->step());
    return row ? use->columnInt(0) : 0;
  };
  auto tooNew = [&](std::int64_t version) {
    return Status(Errc::FailedPrecondition,
                  "database " + path + " has schema version " + std::to_string(version) +
                      ", newer than this faultline-aggregator supports (" +
                      std::to_string(latestSchemaVersion()) + "); upgrade the binary");
  };
  FL_ASSIGN_OR_RETURN(std::int64_t version, readVersion());
  if (version > latestSchemaVersion()) {
    return tooNew(version);
  }
  for (const Migration& migration : migrations()) {
    if (migration.version <= version) {
      continue;
    }
    FL_RETURN_IF_ERROR(exec(db, "BEGIN IMMEDIATE").withContext("migrate " + path));
    auto apply = [&]() -> Status {
      // Another process may have migrated between our read and our write lock.
      FL_ASSIGN_OR_RETURN(std::int64_t locked_version, readVersion());
      if (locked_version > latestSchemaVersion()) {
        return tooNew(locked_version);
      }
      if (locked_version >= migration.version) {
        return Status::ok();
      }
      FL_RETURN_IF_ERROR(exec(db, migration.sql));
      StmtUse use(record);
      use->bind(1, static_cast<std::int64_t>(migration.version))
          .bind(2, migration.name)
          .bind(3, nowUnixNanos());
      return use->run();
    };
    Status status = apply();
    if (!status.isOk()) {
      (void)exec(db, "ROLLBACK");
      return status.withContext("migrate " + path + " to version " +
                                std::to_string(migration.version));
    }
    FL_RETURN_IF_ERROR(exec(db, "COMMIT").withContext("migrate " + path));
    version = migration.version;
  }
  return Status::ok();
}

}  // namespace faultline::aggregator::store::sqlite
