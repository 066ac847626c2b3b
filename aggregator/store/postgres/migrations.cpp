#include "aggregator/store/postgres/migrations.h"

#include "shared/util/time.h"

namespace faultline::aggregator::store::postgres {
namespace {

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at bigint NOT NULL
))sql";
constexpr Statement kLock{"fl_migrate_lock", "SELECT pg_advisory_lock($1)"};
constexpr Statement kUnlock{"fl_migrate_unlock", "SELECT pg_advisory_unlock($1)"};
constexpr Statement kCurrentVersion{"fl_migrate_version",
                                    "SELECT COALESCE(MAX(version), 0)::bigint "
                                    "FROM schema_migrations"};
constexpr Statement kRecordVersion{
    "fl_migrate_record",
    "INSERT INTO schema_migrations(version, name, applied_at) VALUES ($1, $2, $3)"};
// Waiting longer than this for the migration lock (or a table lock) means something is stuck.
constexpr std::string_view kLockTimeout = "SET lock_timeout = '60s'";
constexpr std::string_view kResetLockTimeout = "RESET lock_timeout";

// The same tables as the SQLite engine (see sqlite/migrations.cpp), with PostgreSQL types:
// bigserial ids give arrival order; hostnames, versions and source paths are bytea because they
// are client bytes (text would refuse NUL and invalid UTF-8 that SQLite stores as given);
// payloads, already zstd-compressed, are stored out of line without a second compression.
//
// Row-level security is the second wall behind the tenant_id every query binds: each tenant
// table has ENABLE + FORCE (so the owning role the aggregator logs in as is bound too) and a
// policy that shows and accepts only rows of the tenant named by the transaction-local setting
// faultline.tenant_id. Lookups that cross tenants by design get narrow SELECT policies keyed by a
// secret or exact name the caller must already hold (see docs/architecture.md).
constexpr std::string_view kV1Initial = R"sql(
CREATE TABLE tenancy_tenants (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created_at bigint NOT NULL
);
CREATE TABLE agents_enrollment_tokens (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  token_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  used_at bigint,
  used_by_agent text
);
CREATE INDEX agents_enrollment_tokens_by_tenant ON agents_enrollment_tokens(tenant_id);
CREATE TABLE agents_agents (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  secret_hash text NOT NULL UNIQUE,
  hostname bytea NOT NULL,
  version bytea NOT NULL,
  enrolled_at bigint NOT NULL,
  last_seen bigint,
  batches bigint NOT NULL DEFAULT 0,
  records bigint NOT NULL DEFAULT 0
);
CREATE INDEX agents_agents_by_tenant ON agents_agents(tenant_id, enrolled_at);
CREATE TABLE logs_batches (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  agent_id text NOT NULL REFERENCES agents_agents(id),
  epoch bigint NOT NULL,
  seq bigint NOT NULL,
  record_count bigint NOT NULL,
  line_bytes bigint NOT NULL,
  min_ts bigint NOT NULL,
  max_ts bigint NOT NULL,
  received_at bigint NOT NULL,
  payload bytea NOT NULL,
  UNIQUE (agent_id, epoch, seq)
);
ALTER TABLE logs_batches ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE INDEX logs_batches_by_tenant ON logs_batches(tenant_id, id);
CREATE TABLE logs_batch_sources (
  batch_id bigint NOT NULL REFERENCES logs_batches(id),
  tenant_id text NOT NULL,
  source bytea NOT NULL,
  PRIMARY KEY (batch_id, source)
);

ALTER TABLE tenancy_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenancy_tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenancy_tenants
  USING (id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_name ON tenancy_tenants FOR SELECT
  USING (name = current_setting('faultline.tenant_name', true));

ALTER TABLE agents_enrollment_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents_enrollment_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents_enrollment_tokens
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_token ON agents_enrollment_tokens FOR SELECT
  USING (token_hash = current_setting('faultline.token_hash', true));

ALTER TABLE agents_agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents_agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents_agents
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_secret ON agents_agents FOR SELECT
  USING (secret_hash = current_setting('faultline.agent_secret_hash', true));

ALTER TABLE logs_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE logs_batches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logs_batches
  USING (tenant_id = current_setting('faultline.tenant_id', true));

ALTER TABLE logs_batch_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE logs_batch_sources FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logs_batch_sources
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

Status tooNew(const std::string& where, std::int64_t version) {
  return Status(Errc::FailedPrecondition,
                "database " + where + " has schema version " + std::to_string(version) +
                    ", newer than this faultline-aggregator supports (" +
                    std::to_string(latestSchemaVersion()) + "); upgrade the binary");
}

Result<std::int64_t> readVersion(Connection& connection) {
  FL_ASSIGN_OR_RETURN(PgResult result, connection.exec(kCurrentVersion));
  return result.rows() > 0 ? result.int64(0, 0) : 0;
}

Status migrateLocked(Connection& connection, const std::string& where) {
  FL_RETURN_IF_ERROR(connection.script(kCreateMigrationsTable));
  FL_ASSIGN_OR_RETURN(std::int64_t version, readVersion(connection));
  if (version > latestSchemaVersion()) {
    return tooNew(where, version);
  }
  for (const Migration& migration : migrations()) {
    if (migration.version <= version) {
      continue;
    }
    FL_RETURN_IF_ERROR(connection.begin());
    auto apply = [&]() -> Status {
      FL_RETURN_IF_ERROR(connection.script(migration.sql));
      Params params;
      params.int64(migration.version).text(migration.name).int64(nowUnixNanos());
      FL_ASSIGN_OR_RETURN(PgResult recorded, connection.exec(kRecordVersion, params));
      (void)recorded;
      return connection.commit();
    };
    Status status = apply();
    if (!status.isOk()) {
      (void)connection.rollback();
      return status.withContext("migrate to version " + std::to_string(migration.version) + " (" +
                                std::string(migration.name) + ")");
    }
    version = migration.version;
  }
  return Status::ok();
}

}  // namespace

// Batch v2 templates: texts arrive once per agent stream, kept per tenant, keyed by their
// content address (the signed reinterpretation of the unsigned 64-bit id).
constexpr const char* kV2Templates = R"sql(
CREATE TABLE logs_templates (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  template_id bigint NOT NULL,
  text bytea NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, template_id)
);
ALTER TABLE logs_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE logs_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logs_templates
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

constexpr const char* kV3Heartbeats = R"sql(
ALTER TABLE agents_agents ADD COLUMN last_heartbeat bigint;
ALTER TABLE agents_agents ADD COLUMN heartbeat_json text;
)sql";

// Identity (see sqlite/migrations.cpp). Users are not tenant data, so auth_users has no
// tenant_isolation policy: a row is visible through the exact e-mail or id the caller names
// (faultline.user_email / faultline.user_id), or when the user is a member of the current tenant.
// The other tables are tenant tables with the usual policy, plus SELECT policies keyed by a
// secret's hash, which is how a request finds its tenant. Signing keys are shared by all tenants
// (a token names its tenant) and hold no tenant data: no RLS.
constexpr const char* kV4Identity = R"sql(
CREATE TABLE auth_users (
  id text PRIMARY KEY,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at bigint NOT NULL,
  disabled_at bigint NOT NULL DEFAULT 0
);
CREATE TABLE auth_memberships (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  user_id text NOT NULL REFERENCES auth_users(id),
  role text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX auth_memberships_by_user ON auth_memberships(user_id);
CREATE TABLE auth_sessions (
  token_hash text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  user_id text NOT NULL REFERENCES auth_users(id),
  csrf_hash text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  revoked_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX auth_sessions_by_member ON auth_sessions(tenant_id, user_id);
CREATE TABLE auth_api_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  name text NOT NULL,
  role text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL DEFAULT 0,
  revoked_at bigint NOT NULL DEFAULT 0,
  last_used bigint NOT NULL DEFAULT 0
);
CREATE INDEX auth_api_keys_by_tenant ON auth_api_keys(tenant_id, created_at);
CREATE TABLE auth_invitations (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  email text NOT NULL,
  role text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  invited_by text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  accepted_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX auth_invitations_by_tenant ON auth_invitations(tenant_id);
CREATE TABLE auth_signing_keys (
  kid text PRIMARY KEY,
  secret text NOT NULL,
  created_at bigint NOT NULL
);

ALTER TABLE auth_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_memberships
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_user ON auth_memberships FOR SELECT
  USING (user_id = current_setting('faultline.user_id', true));

ALTER TABLE auth_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_users FORCE ROW LEVEL SECURITY;
CREATE POLICY lookup_by_id ON auth_users
  USING (id = current_setting('faultline.user_id', true));
CREATE POLICY lookup_by_email ON auth_users FOR SELECT
  USING (email = current_setting('faultline.user_email', true));
CREATE POLICY member_of_tenant ON auth_users FOR SELECT
  USING (EXISTS (SELECT 1 FROM auth_memberships m WHERE m.user_id = auth_users.id
                 AND m.tenant_id = current_setting('faultline.tenant_id', true)));

CREATE POLICY member_tenants ON tenancy_tenants FOR SELECT
  USING (EXISTS (SELECT 1 FROM auth_memberships m WHERE m.tenant_id = tenancy_tenants.id
                 AND m.user_id = current_setting('faultline.user_id', true)));

ALTER TABLE auth_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_sessions
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_token ON auth_sessions FOR SELECT
  USING (token_hash = current_setting('faultline.session_hash', true));

ALTER TABLE auth_api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_api_keys
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_key ON auth_api_keys FOR SELECT
  USING (key_hash = current_setting('faultline.api_key_hash', true));

ALTER TABLE auth_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_invitations
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_token ON auth_invitations FOR SELECT
  USING (token_hash = current_setting('faultline.invitation_hash', true));
)sql";

// The audit log (see aggregator/store/audit_log.h for the hash chain): one chain per tenant, ''
// for the system chain (so no foreign key). Appends lock the chain's head row (SELECT ... FOR
// UPDATE), which serializes them per chain across connections and aggregators. Append-only:
// the aggregator's own role gives up UPDATE, DELETE and TRUNCATE on the log (an owner may grant
// them back, so the hash chain remains the real check), and heads can be updated but never
// deleted. Row-level security by tenant as on every tenant table. The system chain ('') also
// needs faultline.system_chain = 'on': a custom setting reads '' (not NULL) in a session that
// once set it, so tenant_id = '' alone would match in a transaction that forgot to set it.
constexpr const char* kV5Audit = R"sql(
CREATE TABLE audit_log (
  tenant_id text NOT NULL,
  seq bigint NOT NULL,
  at_ns bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  outcome text NOT NULL,
  client_address text NOT NULL,
  detail_json text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_by_time ON audit_log(tenant_id, at_ns);
CREATE TABLE audit_chain_heads (
  tenant_id text PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL
);
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
REVOKE DELETE, TRUNCATE ON audit_chain_heads FROM CURRENT_USER;

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
  USING (tenant_id = current_setting('faultline.tenant_id', true)
         AND (tenant_id <> '' OR current_setting('faultline.system_chain', true) = 'on'));
ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_chain_heads
  USING (tenant_id = current_setting('faultline.tenant_id', true)
         AND (tenant_id <> '' OR current_setting('faultline.system_chain', true) = 'on'));
)sql";

// Events, as in SQLite (see sqlite/migrations.cpp). Sender text (service, host, title, body,
// raw payload...) is bytea like other client bytes. Integrations also answer a lookup by key
// hash across tenants (the webhook's only credential), like API keys.
constexpr const char* kV6Events = R"sql(
CREATE TABLE events_integrations (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  name bytea NOT NULL,
  kind text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  mapping_json text NOT NULL,
  rate_limit_rps bigint NOT NULL,
  rate_limit_burst bigint NOT NULL,
  created_at bigint NOT NULL,
  revoked_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX events_integrations_by_tenant ON events_integrations(tenant_id, created_at);
CREATE TABLE events_events (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  integration_id text NOT NULL,
  source text NOT NULL,
  service bytea NOT NULL,
  host bytea NOT NULL,
  environment bytea NOT NULL,
  severity text NOT NULL,
  status text NOT NULL,
  action bytea NOT NULL,
  source_dedup_key bytea NOT NULL,
  fingerprint text NOT NULL,
  title bytea NOT NULL,
  body bytea NOT NULL,
  labels_json text NOT NULL,
  occurred_at bigint NOT NULL,
  received_at bigint NOT NULL,
  raw bytea NOT NULL,
  decision text NOT NULL,
  reason bytea NOT NULL
);
CREATE INDEX events_events_by_time ON events_events(tenant_id, received_at, id COLLATE "C");
CREATE INDEX events_events_by_fingerprint ON events_events(tenant_id, fingerprint);
CREATE TABLE events_alerts (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  fingerprint text NOT NULL,
  status text NOT NULL,
  count bigint NOT NULL,
  first_seen bigint NOT NULL,
  last_seen bigint NOT NULL,
  last_event_id text NOT NULL,
  resolved_at bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, fingerprint)
);

ALTER TABLE events_integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE events_integrations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events_integrations
  USING (tenant_id = current_setting('faultline.tenant_id', true));
CREATE POLICY lookup_by_key ON events_integrations FOR SELECT
  USING (key_hash = current_setting('faultline.integration_key_hash', true));
ALTER TABLE events_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events_events
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE events_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE events_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events_alerts
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// Noise reduction, as in SQLite (see sqlite/migrations.cpp).
constexpr const char* kV7Noise = R"sql(
ALTER TABLE events_events ADD COLUMN rule_id text NOT NULL DEFAULT '';
ALTER TABLE events_alerts ADD COLUMN changes text NOT NULL DEFAULT '';
ALTER TABLE events_alerts ADD COLUMN flapping bigint NOT NULL DEFAULT 0;
CREATE INDEX events_alerts_by_activity
  ON events_alerts(tenant_id, last_seen, fingerprint COLLATE "C");
CREATE TABLE events_noise_rules (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  kind text NOT NULL,
  name bytea NOT NULL,
  spec_json text NOT NULL,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  deleted_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX events_noise_rules_by_tenant ON events_noise_rules(tenant_id, created_at);
ALTER TABLE events_noise_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE events_noise_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events_noise_rules
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// Log-derived events, as in SQLite (see sqlite/migrations.cpp). The service is agent text
// (a file name), bytea like other client bytes.
constexpr const char* kV8LogTemplates = R"sql(
CREATE TABLE log_events_templates (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  service bytea NOT NULL,
  template_id bigint NOT NULL,
  first_seen bigint NOT NULL,
  PRIMARY KEY (tenant_id, service, template_id)
);
ALTER TABLE log_events_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE log_events_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON log_events_templates
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// Incidents (see the SQLite migration 10 for what each table holds).
constexpr const char* kV10Incidents = R"sql(
CREATE TABLE incidents_incidents (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  id text NOT NULL,
  status text NOT NULL,
  severity text NOT NULL,
  title bytea NOT NULL,
  first_event bigint NOT NULL,
  last_event bigint NOT NULL,
  opened_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  doc_json text NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX incidents_by_first_event ON incidents_incidents(tenant_id, first_event, id COLLATE "C");
CREATE TABLE incidents_events (
  tenant_id text NOT NULL,
  incident_id text NOT NULL,
  event_id text NOT NULL,
  occurred_at bigint NOT NULL,
  reason_json text NOT NULL,
  PRIMARY KEY (tenant_id, incident_id, event_id),
  FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents_incidents(tenant_id, id)
);
CREATE INDEX incidents_events_by_time ON incidents_events(tenant_id, incident_id, occurred_at);
CREATE TABLE incidents_timeline (
  seq bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  incident_id text NOT NULL,
  at bigint NOT NULL,
  actor text NOT NULL,
  kind text NOT NULL,
  detail_json text NOT NULL,
  FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents_incidents(tenant_id, id)
);
CREATE INDEX incidents_timeline_by_incident ON incidents_timeline(tenant_id, incident_id, seq);
CREATE TABLE incidents_rules (
  tenant_id text PRIMARY KEY REFERENCES tenancy_tenants(id),
  rules_json text NOT NULL,
  updated_at bigint NOT NULL
);
ALTER TABLE incidents_incidents ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents_incidents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON incidents_incidents
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE incidents_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON incidents_events
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE incidents_timeline ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents_timeline FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON incidents_timeline
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE incidents_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON incidents_rules
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// The service graph, as in SQLite (see sqlite/migrations.cpp).
constexpr const char* kV9ServiceGraph = R"sql(
CREATE TABLE graph_versions (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  version bigint NOT NULL,
  created_at bigint NOT NULL,
  cause text NOT NULL,
  PRIMARY KEY (tenant_id, version)
);
CREATE TABLE graph_services (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  name text NOT NULL,
  owner text NOT NULL,
  environment text NOT NULL,
  tier text NOT NULL,
  labels_json text NOT NULL,
  valid_from bigint NOT NULL,
  valid_to bigint
);
CREATE INDEX graph_services_by_version ON graph_services(tenant_id, valid_from, valid_to);
CREATE UNIQUE INDEX graph_services_in_force ON graph_services(tenant_id, name)
  WHERE valid_to IS NULL;
CREATE TABLE graph_edges (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  from_service text NOT NULL,
  to_service text NOT NULL,
  origin text NOT NULL,
  weight bigint NOT NULL,
  first_seen bigint NOT NULL,
  last_seen bigint NOT NULL,
  valid_from bigint NOT NULL,
  valid_to bigint
);
CREATE INDEX graph_edges_by_version ON graph_edges(tenant_id, valid_from, valid_to);
CREATE UNIQUE INDEX graph_edges_in_force
  ON graph_edges(tenant_id, from_service, to_service, origin) WHERE valid_to IS NULL;
ALTER TABLE graph_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE graph_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON graph_versions
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE graph_services ENABLE ROW LEVEL SECURITY;
ALTER TABLE graph_services FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON graph_services
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE graph_edges ENABLE ROW LEVEL SECURITY;
ALTER TABLE graph_edges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON graph_edges
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// Notifications (see aggregator/notify): each tenant's outbound channels and the outbox of
// deliveries. The dispatcher finds due rows of every tenant through a second policy that shows
// only pending rows due before faultline.notify_due_before; it then acts within each row's tenant.
constexpr const char* kV11Notifications = R"sql(
CREATE TABLE notify_channels (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  id text NOT NULL,
  name text NOT NULL,
  kind text NOT NULL,
  url text NOT NULL,
  secret text NOT NULL,
  events text NOT NULL,
  min_severity text NOT NULL,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  deleted_at bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE TABLE notify_deliveries (
  tenant_id text NOT NULL,
  idempotency_key text NOT NULL,
  channel_id text NOT NULL,
  incident_id text NOT NULL,
  change text NOT NULL,
  body text NOT NULL,
  state text NOT NULL,
  attempts bigint NOT NULL,
  created_at bigint NOT NULL,
  next_attempt_at bigint NOT NULL,
  delivered_at bigint NOT NULL,
  last_status bigint NOT NULL,
  last_error text NOT NULL,
  PRIMARY KEY (tenant_id, idempotency_key),
  FOREIGN KEY (tenant_id, channel_id) REFERENCES notify_channels(tenant_id, id)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries(state, next_attempt_at);
CREATE INDEX notify_deliveries_by_channel ON notify_deliveries(tenant_id, channel_id, created_at);
ALTER TABLE notify_channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify_channels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify_channels
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE notify_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify_deliveries
  USING (tenant_id = current_setting('faultline.tenant_id', true));
-- A setting once set in a pooled session reads '' afterwards, not NULL: nullif keeps the cast safe.
CREATE POLICY due_deliveries ON notify_deliveries FOR SELECT
  USING (state = 'pending' AND next_attempt_at <=
         nullif(current_setting('faultline.notify_due_before', true), '')::bigint);
)sql";

// The knowledge index, as in SQLite (see sqlite/migrations.cpp) but searched with PostgreSQL
// full-text search: each passage keeps a tsvector ('simple' configuration: no stemming, no stop
// words, like FTS5's unicode61), headings weighted A, text D, under a GIN index.
constexpr const char* kV12Knowledge = R"sql(
CREATE TABLE knowledge_documents (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  kind text NOT NULL,
  id text NOT NULL,
  title text NOT NULL,
  services_json text NOT NULL,
  body text NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, kind, id)
);
CREATE INDEX knowledge_documents_by_update ON knowledge_documents(tenant_id, kind, updated_at);
CREATE TABLE knowledge_passages (
  tenant_id text NOT NULL,
  kind text NOT NULL,
  doc_id text NOT NULL,
  seq integer NOT NULL,
  heading text NOT NULL,
  text text NOT NULL,
  tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', heading), 'A') || setweight(to_tsvector('simple', text), 'D'))
    STORED,
  PRIMARY KEY (tenant_id, kind, doc_id, seq),
  FOREIGN KEY (tenant_id, kind, doc_id) REFERENCES knowledge_documents(tenant_id, kind, id)
    ON DELETE CASCADE
);
CREATE INDEX knowledge_passages_tsv ON knowledge_passages USING gin(tsv);
ALTER TABLE knowledge_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_documents
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE knowledge_passages ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_passages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_passages
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// AI (aggregator/ai): the runbook generated for each incident, or as a responder last saved it.
constexpr const char* kV13Ai = R"sql(
CREATE TABLE ai_runbooks (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  incident_id text NOT NULL,
  body_json text NOT NULL,
  provider text NOT NULL,
  updated_by text NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, incident_id)
);
ALTER TABLE ai_runbooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_runbooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_runbooks
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// AI cost control (aggregator/ai/cost.h): token counters per tenant and period (a UTC day
// "2026-11-27" or month "2026-11"), cached model answers, and the usage ledger.
constexpr const char* kV14AiCost = R"sql(
CREATE TABLE ai_token_counters (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  period text NOT NULL,
  tokens bigint NOT NULL,
  PRIMARY KEY (tenant_id, period)
);
CREATE TABLE ai_response_cache (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  cache_key text NOT NULL,
  provider text NOT NULL,
  model text NOT NULL,
  answer text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, cache_key)
);
CREATE INDEX ai_response_cache_created ON ai_response_cache(tenant_id, created_at);
CREATE TABLE ai_usage_ledger (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  at bigint NOT NULL,
  day text NOT NULL,
  provider text NOT NULL,
  model text NOT NULL,
  task text NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost_micros bigint NOT NULL,
  cached integer NOT NULL,
  outcome text NOT NULL
);
CREATE INDEX ai_usage_ledger_at ON ai_usage_ledger(tenant_id, at);
ALTER TABLE ai_token_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_token_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_token_counters
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE ai_response_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_response_cache FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_response_cache
  USING (tenant_id = current_setting('faultline.tenant_id', true));
ALTER TABLE ai_usage_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_usage_ledger FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_usage_ledger
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// Enrollment tokens: a revoked token keeps its row (the list shows it, with when).
constexpr const char* kV15EnrollmentRevoked = R"sql(
ALTER TABLE agents_enrollment_tokens ADD COLUMN revoked_at bigint;
)sql";

// AI answers beside the runbook (aggregator/ai/narrative.h): the latest summary and
// explanation per incident.
constexpr const char* kV16AiAnswers = R"sql(
CREATE TABLE ai_answers (
  tenant_id text NOT NULL REFERENCES tenancy_tenants(id),
  incident_id text NOT NULL,
  task text NOT NULL,
  body_json text NOT NULL,
  provider text NOT NULL,
  updated_by text NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, incident_id, task)
);
ALTER TABLE ai_answers ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_answers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_answers
  USING (tenant_id = current_setting('faultline.tenant_id', true));
)sql";

// Knowledge embeddings (knowledge/embeddings.h): each passage's vector when embeddings are
// configured, float32 little-endian; empty for a passage indexed with full-text search only.
// The table's row-level security covers the new column.
constexpr const char* kV17KnowledgeEmbeddings = R"sql(
ALTER TABLE knowledge_passages ADD COLUMN embedding bytea NOT NULL DEFAULT '';
)sql";

// No query reads events by fingerprint (an alert's state is events_alerts, keyed by it), yet
// every recorded event paid an insert at a random place in this index.
constexpr const char* kV18NoEventFingerprintIndex = R"sql(
DROP INDEX IF EXISTS events_events_by_fingerprint;
)sql";

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "initial: tenants, enrollment tokens, agents, log batches, row-level security",
       kV1Initial},
      {2, "template dictionary per tenant (batch v2)", kV2Templates},
      {3, "agent heartbeats", kV3Heartbeats},
      {4, "identity: users, memberships, sessions, API keys, invitations, signing keys",
       kV4Identity},
      {5, "hash-chained audit log per tenant, append-only", kV5Audit},
      {6, "events: integrations, received events with noise decisions, alerts", kV6Events},
      {7, "noise reduction: suppression rules, maintenance windows, flapping", kV7Noise},
      {8, "log-derived events: (service, template) pairs seen per tenant", kV8LogTemplates},
      {9, "service graph: versioned services and edges per tenant", kV9ServiceGraph},
      {10, "incidents: incidents, their events and why, timeline, correlation rules",
       kV10Incidents},
      {11, "notifications: outbound channels and the outbox of deliveries", kV11Notifications},
      {12, "knowledge: per-tenant documents and passages with full-text search", kV12Knowledge},
      {13, "ai: generated and edited runbooks per incident", kV13Ai},
      {14, "ai cost control: token counters, response cache, usage ledger", kV14AiCost},
      {15, "enrollment tokens: revoked_at", kV15EnrollmentRevoked},
      {16, "ai: summaries and explanations per incident", kV16AiAnswers},
      {17, "knowledge: an embedding per passage (optional)", kV17KnowledgeEmbeddings},
      {18, "events: the unused index by fingerprint dropped", kV18NoEventFingerprintIndex},
  };
  return kMigrations;
}

int latestSchemaVersion() {
  return migrations().back().version;
}

Status migrate(Connection& connection, const std::string& where) {
  FL_RETURN_IF_ERROR(connection.script(kLockTimeout).withContext("migrate " + where));
  Params key;
  key.int64(kMigrationLockKey);
  auto locked = connection.exec(kLock, key);
  if (!locked.isOk()) {
    return locked.status().withContext("migrate " + where + ": take the migration lock");
  }
  // Whoever held the lock before us may have migrated already: versions are read under it.
  Status status = migrateLocked(connection, where);
  auto unlocked = connection.exec(kUnlock, key);
  Status reset = connection.script(kResetLockTimeout);
  if (!status.isOk()) {
    return status.code() == Errc::FailedPrecondition ? status
                                                     : status.withContext("migrate " + where);
  }
  if (!unlocked.isOk()) {
    return unlocked.status().withContext("migrate " + where + ": release the migration lock");
  }
  return reset.withContext("migrate " + where);
}

}  // namespace faultline::aggregator::store::postgres
