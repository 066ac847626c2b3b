#include "aggregator/store/postgres/postgres_store.h"

#include <fnmatch.h>

#include <algorithm>
#include <optional>

#include "aggregator/store/postgres/migrations.h"
#include "aggregator/store/store_url.h"
#include "shared/logtemplate/miner.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::store::postgres {
namespace {

// Transaction-local settings that row-level security policies read (see migrations.cpp).
constexpr std::string_view kTenantSetting = "faultline.tenant_id";
constexpr std::string_view kTenantNameSetting = "faultline.tenant_name";
constexpr std::string_view kTokenHashSetting = "faultline.token_hash";
constexpr std::string_view kSecretHashSetting = "faultline.agent_secret_hash";
constexpr std::string_view kSystemChainSetting = "faultline.system_chain";
constexpr std::string_view kUserIdSetting = "faultline.user_id";
constexpr std::string_view kUserEmailSetting = "faultline.user_email";
constexpr std::string_view kSessionHashSetting = "faultline.session_hash";
constexpr std::string_view kApiKeyHashSetting = "faultline.api_key_hash";
constexpr std::string_view kInvitationHashSetting = "faultline.invitation_hash";

constexpr Statement kPing{"fl_ping", "SELECT 1"};
constexpr Statement kRowSecurityBypassed{
    "fl_rls_bypassed",
    "SELECT (rolsuper OR rolbypassrls)::int FROM pg_roles WHERE rolname = current_user"};

constexpr Statement kInsertTenant{
    "fl_insert_tenant", "INSERT INTO tenancy_tenants(id, name, created_at) VALUES ($1, $2, $3)"};
constexpr Statement kTenantByName{
    "fl_tenant_by_name", "SELECT id, name, created_at FROM tenancy_tenants WHERE name = $1"};
constexpr Statement kTenantName{"fl_tenant_name", "SELECT name FROM tenancy_tenants WHERE id = $1"};

constexpr Statement kInsertToken{
    "fl_insert_token",
    "INSERT INTO agents_enrollment_tokens(tenant_id, token_hash, created_at, expires_at) "
    "VALUES ($1, $2, $3, $4) RETURNING id"};
constexpr Statement kSelectToken{
    "fl_select_token",
    "SELECT id, tenant_id, expires_at, used_at, revoked_at FROM agents_enrollment_tokens "
    "WHERE token_hash = $1"};
// A revoke and a use of the same token both lock its row: the second sees the first's mark.
constexpr Statement kUseToken{
    "fl_use_token",
    "UPDATE agents_enrollment_tokens SET used_at = $2, used_by_agent = $3 "
    "WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL"};
constexpr Statement kInsertAgent{
    "fl_insert_agent",
    "INSERT INTO agents_agents(id, tenant_id, secret_hash, hostname, version, enrolled_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr Statement kAgentBySecret{
    "fl_agent_by_secret",
    "SELECT id, tenant_id, hostname FROM agents_agents WHERE secret_hash = $1"};
// Ties on enrolled_at break on the id's bytes, as in SQLite, whatever the database collation.
constexpr Statement kListAgents{
    "fl_list_agents",
    "SELECT id, hostname, version, enrolled_at, COALESCE(last_seen, 0), batches, records, "
    "COALESCE(last_heartbeat, 0), COALESCE(heartbeat_json, '') "
    "FROM agents_agents WHERE tenant_id = $1 "
    "AND (enrolled_at > $2 OR (enrolled_at = $2 AND id COLLATE \"C\" > $3::text)) "
    "ORDER BY enrolled_at, id COLLATE \"C\" LIMIT $4"};
constexpr Statement kRecordHeartbeat{
    "fl_record_heartbeat",
    "UPDATE agents_agents SET last_heartbeat = $3, heartbeat_json = $4, "
    "version = CASE WHEN length($5::bytea) = 0 THEN version ELSE $5::bytea END "
    "WHERE tenant_id = $1 AND id = $2"};

// One round trip per batch: insert it unless (agent, epoch, seq) exists (waiting for a
// concurrent insert of the same key to commit or abort), its sources with it, and the agent's
// last_seen and counters. The agent must belong to the tenant: agent_rows is 0 otherwise and
// nothing is written. batch_id is NULL for a duplicate.
constexpr Statement kStoreBatch{
    "fl_store_batch",
    "WITH inserted AS ("
    "  INSERT INTO logs_batches(tenant_id, agent_id, epoch, seq, record_count, line_bytes,"
    "    min_ts, max_ts, received_at, payload)"
    "  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10"
    "  WHERE EXISTS (SELECT 1 FROM agents_agents WHERE id = $2 AND tenant_id = $1)"
    "  ON CONFLICT (agent_id, epoch, seq) DO NOTHING RETURNING id"
    "), sources AS ("
    "  INSERT INTO logs_batch_sources(batch_id, tenant_id, source)"
    "  SELECT inserted.id, $1, source FROM inserted, unnest($11) AS source"
    "  ON CONFLICT DO NOTHING"
    "), agent AS ("
    "  UPDATE agents_agents SET last_seen = GREATEST(COALESCE(last_seen, 0), $9),"
    "    batches = batches + (SELECT count(*) FROM inserted),"
    "    records = records + $5 * (SELECT count(*) FROM inserted)"
    "  WHERE id = $2 AND tenant_id = $1 RETURNING 1"
    ") SELECT (SELECT count(*) FROM agent), (SELECT id FROM inserted)"};
// Template texts join the tenant's dictionary in the batch's transaction; a known id keeps its
// text (ids are content addresses, verified before the write).
constexpr Statement kInsertTemplate{
    "fl_insert_template",
    "INSERT INTO logs_templates(tenant_id, template_id, text, created_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"};
constexpr Statement kFindTemplate{
    "fl_find_template",
    "SELECT text FROM logs_templates WHERE tenant_id = $1 AND template_id = $2"};
// A separate statement, so that it sees a conflicting row another transaction committed after
// kStoreBatch's snapshot was taken.
constexpr Statement kFindBatch{
    "fl_find_batch",
    "SELECT record_count FROM logs_batches "
    "WHERE agent_id = $1 AND epoch = $2 AND seq = $3 AND tenant_id = $4"};

// Export order is each agent stream's own order: batches of one (agent, epoch) by seq, streams
// in the order they first arrived (same as SQLite). Ids only: payloads are fetched one by one.
constexpr Statement kTenantBatches{
    "fl_tenant_batches",
    "WITH firsts AS (SELECT agent_id, epoch, MIN(id) AS first_id FROM logs_batches "
    "  WHERE tenant_id = $1 GROUP BY agent_id, epoch) "
    "SELECT b.id FROM logs_batches b "
    "JOIN firsts f ON f.agent_id = b.agent_id AND f.epoch = b.epoch "
    "WHERE b.tenant_id = $1 AND b.max_ts >= $2 AND b.min_ts < $3 "
    "ORDER BY f.first_id, b.seq"};
// The same with each batch's sources (one row per source, a batch's rows adjacent): the source
// glob is matched with fnmatch(3) here, exactly as SQLite's engine does.
constexpr Statement kTenantBatchSources{
    "fl_tenant_batch_sources",
    "WITH firsts AS (SELECT agent_id, epoch, MIN(id) AS first_id FROM logs_batches "
    "  WHERE tenant_id = $1 GROUP BY agent_id, epoch) "
    "SELECT b.id, s.source FROM logs_batches b "
    "JOIN firsts f ON f.agent_id = b.agent_id AND f.epoch = b.epoch "
    "JOIN logs_batch_sources s ON s.batch_id = b.id AND s.tenant_id = $1 "
    "WHERE b.tenant_id = $1 AND b.max_ts >= $2 AND b.min_ts < $3 "
    "ORDER BY f.first_id, b.seq"};
constexpr Statement kBatchPayload{
    "fl_batch_payload", "SELECT payload FROM logs_batches WHERE id = $1 AND tenant_id = $2"};
// Audit appends (see migrations.cpp): make sure the chain has a head row, lock it (concurrent
// appends to the chain wait here, in any aggregator), then add the entry and move the head.
constexpr Statement kEnsureAuditHead{
    "fl_audit_head_ensure",
    "INSERT INTO audit_chain_heads(tenant_id, seq, hash) VALUES ($1, 0, $2) "
    "ON CONFLICT (tenant_id) DO NOTHING"};
constexpr Statement kLockAuditHead{
    "fl_audit_head_lock",
    "SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE"};
constexpr Statement kInsertAudit{
    "fl_audit_insert",
    "INSERT INTO audit_log(tenant_id, seq, at_ns, actor, action, target, outcome, "
    "client_address, detail_json, prev_hash, hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"};
constexpr Statement kMoveAuditHead{
    "fl_audit_head_move", "UPDATE audit_chain_heads SET seq = $2, hash = $3 WHERE tenant_id = $1"};
// Empty filter values match everything (actor, action and outcome are never empty).
constexpr Statement kQueryAudit{
    "fl_audit_query",
    "SELECT tenant_id, seq, at_ns, actor, action, target, outcome, client_address, detail_json, "
    "prev_hash, hash FROM audit_log WHERE tenant_id = $1 AND seq > $2 AND at_ns >= $3 "
    "AND at_ns < $4 AND ($5 = '' OR actor = $5) AND ($6 = '' OR action = $6) "
    "AND ($7 = '' OR outcome = $7) ORDER BY seq LIMIT $8"};
constexpr Statement kAuditChainPage{
    "fl_audit_chain_page",
    "SELECT tenant_id, seq, at_ns, actor, action, target, outcome, client_address, detail_json, "
    "prev_hash, hash FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000"};
constexpr Statement kAuditHead{"fl_audit_head",
                               "SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = $1"};

/// Scopes the transaction to one audit chain for row-level security ("" is the system chain).
Status setAuditChain(Connection& connection, std::string_view tenant_id) {
  FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
  return connection.setLocal(kSystemChainSetting, tenant_id.empty() ? "on" : "off");
}

AuditEntry auditEntryFromRow(const PgResult& result, int row) {
  AuditEntry entry;
  entry.tenant_id = std::string(result.bytes(row, 0));
  entry.seq = result.int64(row, 1);
  entry.at_ns = result.int64(row, 2);
  entry.actor = std::string(result.bytes(row, 3));
  entry.action = std::string(result.bytes(row, 4));
  entry.target = std::string(result.bytes(row, 5));
  entry.outcome = std::string(result.bytes(row, 6));
  entry.client_address = std::string(result.bytes(row, 7));
  entry.detail_json = std::string(result.bytes(row, 8));
  entry.prev_hash = std::string(result.bytes(row, 9));
  entry.hash = std::string(result.bytes(row, 10));
  return entry;
}

// Identity (migration 4).
constexpr Statement kInsertUser{
    "fl_insert_user",
    "INSERT INTO auth_users(id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)"};
constexpr Statement kUserByEmail{
    "fl_user_by_email",
    "SELECT id, email, password_hash, created_at, disabled_at FROM auth_users WHERE email = $1"};
constexpr Statement kInsertMembership{
    "fl_insert_membership",
    "INSERT INTO auth_memberships(tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)"};
#define FL_MEMBERSHIP_SELECT                                              \
  "SELECT m.tenant_id, t.name, m.user_id, u.email, m.role, m.created_at " \
  "FROM auth_memberships m JOIN tenancy_tenants t ON t.id = m.tenant_id " \
  "JOIN auth_users u ON u.id = m.user_id "
constexpr Statement kUserMemberships{"fl_user_memberships", FL_MEMBERSHIP_SELECT
                                     "WHERE m.user_id = $1 ORDER BY t.name COLLATE \"C\""};
constexpr Statement kTenantMembers{"fl_tenant_members", FL_MEMBERSHIP_SELECT
                                   "WHERE m.tenant_id = $1 ORDER BY u.email COLLATE \"C\""};
constexpr Statement kMember{"fl_member",
                            FL_MEMBERSHIP_SELECT "WHERE m.tenant_id = $1 AND m.user_id = $2"};
#undef FL_MEMBERSHIP_SELECT
constexpr Statement kSetMemberRole{
    "fl_set_member_role",
    "UPDATE auth_memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2"};
// Locks the tenant's owner rows, so that two changes cannot each see another owner left and
// together remove the last one (a waiting change re-reads the rows after the first commits).
constexpr Statement kLockOwners{
    "fl_lock_owners",
    "SELECT user_id FROM auth_memberships WHERE tenant_id = $1 AND role = 'owner' FOR UPDATE"};
constexpr Statement kDeleteMember{
    "fl_delete_member", "DELETE FROM auth_memberships WHERE tenant_id = $1 AND user_id = $2"};
constexpr Statement kRevokeMemberSessions{
    "fl_revoke_member_sessions",
    "UPDATE auth_sessions SET revoked_at = $3 "
    "WHERE tenant_id = $1 AND user_id = $2 AND revoked_at = 0"};
constexpr Statement kInsertSession{
    "fl_insert_session",
    "INSERT INTO auth_sessions(token_hash, tenant_id, user_id, csrf_hash, created_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr Statement kSessionByHash{
    "fl_session_by_hash",
    "SELECT token_hash, user_id, tenant_id, csrf_hash, created_at, expires_at, revoked_at "
    "FROM auth_sessions WHERE token_hash = $1"};
constexpr Statement kActiveMemberRole{
    "fl_active_member_role",
    "SELECT m.role FROM auth_memberships m JOIN auth_users u ON u.id = m.user_id "
    "WHERE m.tenant_id = $1 AND m.user_id = $2 AND u.disabled_at = 0"};
constexpr Statement kPurgeSessions{"fl_purge_sessions",
                                   "DELETE FROM auth_sessions WHERE tenant_id = $1 AND "
                                   "(expires_at < $2 OR (revoked_at > 0 AND revoked_at < $2))"};
constexpr Statement kPurgeInvitations{
    "fl_purge_invitations",
    "DELETE FROM auth_invitations WHERE tenant_id = $1 AND "
    "(expires_at < $2 OR (accepted_at > 0 AND accepted_at < $2))"};
constexpr Statement kRevokeSession{
    "fl_revoke_session",
    "UPDATE auth_sessions SET revoked_at = CASE WHEN revoked_at = 0 THEN $3 ELSE revoked_at END "
    "WHERE tenant_id = $1 AND token_hash = $2"};
constexpr Statement kInsertApiKey{
    "fl_insert_api_key",
    "INSERT INTO auth_api_keys(id, tenant_id, name, role, key_hash, created_by, created_at, "
    "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};
#define FL_API_KEY_SELECT                                                                        \
  "SELECT id, tenant_id, name, role, key_hash, created_by, created_at, expires_at, revoked_at, " \
  "last_used FROM auth_api_keys "
constexpr Statement kApiKeyByHash{"fl_api_key_by_hash", FL_API_KEY_SELECT "WHERE key_hash = $1"};
constexpr Statement kTenantApiKeys{"fl_tenant_api_keys", FL_API_KEY_SELECT
                                   "WHERE tenant_id = $1 ORDER BY created_at, id COLLATE \"C\""};
#undef FL_API_KEY_SELECT
constexpr Statement kRevokeApiKey{
    "fl_revoke_api_key",
    "UPDATE auth_api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN $3 ELSE revoked_at END "
    "WHERE tenant_id = $1 AND id = $2"};
constexpr Statement kTouchApiKey{"fl_touch_api_key",
                                 "UPDATE auth_api_keys SET last_used = GREATEST(last_used, $3) "
                                 "WHERE tenant_id = $1 AND id = $2"};
constexpr Statement kInsertInvitation{
    "fl_insert_invitation",
    "INSERT INTO auth_invitations(id, tenant_id, email, role, token_hash, invited_by, created_at, "
    "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};
constexpr Statement kInvitationByHash{
    "fl_invitation_by_hash",
    "SELECT id, tenant_id, email, role, token_hash, invited_by, created_at, expires_at, "
    "accepted_at FROM auth_invitations WHERE token_hash = $1"};
constexpr Statement kUseInvitation{
    "fl_use_invitation",
    "UPDATE auth_invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at = 0"};
constexpr Statement kInsertSigningKey{
    "fl_insert_signing_key",
    "INSERT INTO auth_signing_keys(kid, secret, created_at) VALUES ($1, $2, $3)"};
constexpr Statement kSigningKeys{
    "fl_signing_keys",
    "SELECT kid, secret, created_at FROM auth_signing_keys WHERE created_at >= $1 "
    "ORDER BY created_at DESC, kid COLLATE \"C\""};

std::string text(const PgResult& result, int row, int column) {
  return std::string(result.bytes(row, column));
}

Membership readMembership(const PgResult& r, int row) {
  return Membership{text(r, row, 0), text(r, row, 1), text(r, row, 2),
                    text(r, row, 3), text(r, row, 4), r.int64(row, 5)};
}

ApiKey readApiKey(const PgResult& r, int row) {
  ApiKey key;
  key.id = text(r, row, 0);
  key.tenant_id = text(r, row, 1);
  key.name = text(r, row, 2);
  key.role = text(r, row, 3);
  key.key_hash = text(r, row, 4);
  key.created_by = text(r, row, 5);
  key.created_at_ns = r.int64(row, 6);
  key.expires_at_ns = r.int64(row, 7);
  key.revoked_at_ns = r.int64(row, 8);
  key.last_used_ns = r.int64(row, 9);
  return key;
}

Invitation readInvitation(const PgResult& r, int row) {
  Invitation invitation;
  invitation.id = text(r, row, 0);
  invitation.tenant_id = text(r, row, 1);
  invitation.email = text(r, row, 2);
  invitation.role = text(r, row, 3);
  invitation.token_hash = text(r, row, 4);
  invitation.invited_by = text(r, row, 5);
  invitation.created_at_ns = r.int64(row, 6);
  invitation.expires_at_ns = r.int64(row, 7);
  invitation.accepted_at_ns = r.int64(row, 8);
  return invitation;
}

std::int64_t asSigned(std::uint64_t value) {
  return static_cast<std::int64_t>(value);
}

// Orders a group's jobs by (tenant, agent, epoch, seq): one lock order for every aggregator.
std::string batchOrderKey(const NewBatch& batch) {
  std::string key = batch.tenant_id;
  key.push_back('\0');
  key.append(batch.agent_id);
  key.push_back('\0');
  for (std::uint64_t value : {batch.epoch, batch.seq}) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      key.push_back(static_cast<char>((value >> shift) & 0xff));
    }
  }
  return key;
}

std::string pingResultText(PGPing result) {
  switch (result) {
    case PQPING_OK: return "server accepting connections";
    case PQPING_REJECT: return "server rejecting connections (starting up or shutting down)";
    case PQPING_NO_RESPONSE: return "no response from the server";
    case PQPING_NO_ATTEMPT: return "bad connection parameters";
  }
  return "unknown ping result";
}

}  // namespace

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : options_(std::move(options)), where_(redactStoreUrl(options_.url)) {}

PostgresStore::~PostgresStore() {
  // Finish queued writes while the pool still exists; a late caller gets Unavailable.
  if (writer_ != nullptr) {
    writer_->shutdown();
  }
  writer_.reset();
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(PostgresStoreOptions options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(options)));
  PoolOptions pool_options;
  pool_options.url = store->options_.url;
  pool_options.url_for_messages = store->where_;
  pool_options.size = store->options_.pool_size;
  pool_options.checkout_timeout = store->options_.pool_timeout;
  pool_options.connect_timeout = store->options_.connect_timeout;
  store->pool_ = std::make_unique<ConnectionPool>(std::move(pool_options));
  {
    FL_ASSIGN_OR_RETURN(auto lease, store->pool_->acquire());
    FL_RETURN_IF_ERROR(migrate(*lease, store->where_));
    auto bypassed = lease->exec(kRowSecurityBypassed);
    if (bypassed.isOk() && bypassed->rows() == 1 && bypassed->int64(0, 0) != 0) {
      log::warn("store",
                "the database role of " + store->where_ +
                    " is a superuser or has BYPASSRLS: row-level security does not apply to it; "
                    "log in as an ordinary role that owns the database (docs/operations.md)");
    }
  }
  FL_ASSIGN_OR_RETURN(store->writer_,
                      GroupCommitWriter::start(*store->pool_, {store->options_.max_pending_writes,
                                                               store->options_.max_group_jobs}));
  return store;
}

Status PostgresStore::inTransaction(bool read_only,
                                    const std::function<Status(Connection&)>& work) {
  for (int attempt = 0;; ++attempt) {
    FL_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_->acquire());
    Status begun = read_only ? lease->beginReadOnly() : lease->begin();
    if (!begun.isOk()) {
      if (lease->lost()) {
        lease.discard();
        pool_->dropIdle();
        if (attempt == 0) {
          continue;  // nothing was done yet: safe to start over on a new connection
        }
      }
      return begun;
    }
    Status status = work(*lease);
    if (status.isOk()) {
      status = lease->commit();
    } else if (!lease->lost()) {
      (void)lease->rollback();
    }
    if (lease->lost()) {
      lease.discard();
      pool_->dropIdle();
    }
    return status;
  }
}

Result<std::int64_t> PostgresStore::scopedWrite(std::string_view setting, std::string_view value,
                                                const Statement& statement, const Params& params) {
  std::int64_t changed = 0;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(setting, value));
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(statement, params));
    changed = r.affectedRows();
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return changed;
}

Result<PgResult> PostgresStore::scopedRead(std::string_view setting, std::string_view value,
                                           const Statement& statement, const Params& params) {
  for (int attempt = 0;; ++attempt) {
    FL_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_->acquire());
    Result<PgResult> result = lease->scopedRead(setting, value, statement, params);
    if (!result.isOk() && !lease->reusable()) {
      bool lost = lease->lost();
      lease.discard();
      if (lost) {
        pool_->dropIdle();
        if (attempt == 0) {
          continue;  // a read changes nothing: safe to ask again on a new connection
        }
      }
    }
    return result;
  }
}

Status PostgresStore::ping() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = pool_->acquire();
    if (!lease.isOk()) {
      ConnectionPool::Stats stats = pool_->stats();
      if (stats.open < pool_->options().size) {
        return lease.status();  // not busy: the server is unreachable or refused us
      }
      // Every connection is busy: the database answers if the server accepts connections.
      std::string timeout =
          std::to_string(std::max<std::int64_t>(1, options_.connect_timeout.count() / 1000));
      const char* keywords[] = {"connect_timeout", "dbname", nullptr};
      const char* values[] = {timeout.c_str(), options_.url.c_str(), nullptr};
      PGPing pinged = PQpingParams(keywords, values, 1);
      if (pinged == PQPING_OK) {
        return Status::ok();
      }
      return unavailable("ping " + where_ + ": " + pingResultText(pinged) + " (" +
                         lease.status().message() + ")");
    }
    auto answered = (*lease)->exec(kPing);
    if (answered.isOk()) {
      return Status::ok();
    }
    if (!(*lease)->lost()) {
      return answered.status();
    }
    lease->discard();
    pool_->dropIdle();
    if (attempt == 1) {
      return answered.status().withContext("ping " + where_);
    }
  }
  return Status::ok();
}

Result<Tenant> PostgresStore::createTenant(std::string_view name, std::int64_t now_ns) {
  if (!validTenantName(name)) {
    return invalidArgument("invalid tenant name '" + std::string(name) +
                           "': use 1-63 of [a-z0-9-], starting with a letter or digit");
  }
  Tenant tenant{"tnt_" + crypto::randomHex(12), std::string(name), now_ns};
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant.id));
    Params params;
    params.text(tenant.id).text(tenant.name).int64(tenant.created_at_ns);
    return connection.exec(kInsertTenant, params).status();
  });
  if (status.code() == Errc::AlreadyExists) {
    return Status(Errc::AlreadyExists, "tenant '" + tenant.name + "' already exists");
  }
  FL_RETURN_IF_ERROR(status);
  return tenant;
}

Result<Tenant> PostgresStore::findTenantByName(std::string_view name) {
  if (!validTenantName(name)) {
    // No such tenant can exist, and the name may hold bytes text columns refuse.
    return notFound("no tenant named '" + std::string(name) + "'");
  }
  Tenant tenant;
  bool found = false;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantNameSetting, name));
    Params params;
    params.text(name);
    FL_ASSIGN_OR_RETURN(PgResult result, connection.exec(kTenantByName, params));
    found = result.rows() == 1;
    if (found) {
      tenant = Tenant{std::string(result.bytes(0, 0)), std::string(result.bytes(0, 1)),
                      result.int64(0, 2)};
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!found) {
    return notFound("no tenant named '" + std::string(name) + "'");
  }
  return tenant;
}

Result<std::int64_t> PostgresStore::createEnrollmentToken(std::string_view tenant_id,
                                                          std::string_view token_hash,
                                                          std::int64_t now_ns,
                                                          std::int64_t expires_at_ns) {
  std::int64_t id = 0;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).text(token_hash).int64(now_ns).int64(expires_at_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kInsertToken, params));
    if (r.rows() != 1) {
      return internalError("create enrollment token: no id returned");
    }
    id = r.int64(0, 0);
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
constexpr Statement kListTokens{
    "fl_list_enrollment_tokens",
    "SELECT id, tenant_id, token_hash, created_at, expires_at, used_at, used_by_agent, "
    "revoked_at FROM agents_enrollment_tokens WHERE tenant_id = $1 AND ($3::bigint = 0 OR id < "
    "$3::bigint) "
    "ORDER BY id DESC LIMIT $2"};
constexpr Statement kRevokeToken{
    "fl_revoke_enrollment_token",
    "UPDATE agents_enrollment_tokens SET revoked_at = $3 "
    "WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL AND revoked_at IS NULL "
    "RETURNING id, tenant_id, token_hash, created_at, expires_at, used_at, used_by_agent, "
    "revoked_at"};

EnrollmentToken readEnrollmentToken(const PgResult& r, int row) {
  EnrollmentToken token;
  token.id = r.int64(row, 0);
  token.tenant_id = std::string(r.bytes(row, 1));
  token.token_hash = std::string(r.bytes(row, 2));
  token.created_at_ns = r.int64(row, 3);
  token.expires_at_ns = r.int64(row, 4);
  token.used_at_ns = r.isNull(row, 5) ? 0 : r.int64(row, 5);
  token.used_by_agent = r.isNull(row, 6) ? "" : std::string(r.bytes(row, 6));
  token.revoked_at_ns = r.isNull(row, 7) ? 0 : r.int64(row, 7);
  return token;
}
}  // namespace

Result<std::vector<EnrollmentToken>> PostgresStore::listEnrollmentTokens(std::string_view tenant_id,
                                                                         std::size_t limit,
                                                                         std::int64_t before_id) {
  Params params;
  params.text(tenant_id).int64(static_cast<std::int64_t>(limit)).int64(before_id);
  return readRows<EnrollmentToken>(kTenantSetting, tenant_id, kListTokens, params,
                                   readEnrollmentToken);
}

Result<EnrollmentToken> PostgresStore::revokeEnrollmentToken(std::string_view tenant_id,
                                                             std::int64_t token_id,
                                                             std::int64_t now_ns) {
  std::optional<EnrollmentToken> revoked;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).int64(token_id).int64(now_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kRevokeToken, params));
    if (r.rows() == 1) {
      revoked = readEnrollmentToken(r, 0);
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!revoked) {
    return notFound("no such unused enrollment token");
  }
  return *revoked;
}

Result<AgentIdentity> PostgresStore::enrollAgent(const NewAgent& agent) {
  AgentIdentity identity;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    // Only the token's own row is visible through its hash; its tenant's rows after that.
    FL_RETURN_IF_ERROR(connection.setLocal(kTokenHashSetting, agent.token_hash));
    Params token_params;
    token_params.text(agent.token_hash);
    FL_ASSIGN_OR_RETURN(PgResult token, connection.exec(kSelectToken, token_params));
    if (token.rows() != 1) {
      return notFound("unknown enrollment token");
    }
    std::int64_t token_id = token.int64(0, 0);
    identity.tenant_id = std::string(token.bytes(0, 1));
    if (!token.isNull(0, 3)) {
      return Status(Errc::AlreadyExists, "enrollment token already used");
    }
    if (!token.isNull(0, 4)) {
      return Status(Errc::PermissionDenied, "enrollment token revoked");
    }
    if (token.int64(0, 2) <= agent.now_ns) {
      return Status(Errc::FailedPrecondition, "enrollment token expired");
    }
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, identity.tenant_id));
    Params tenant_params;
    tenant_params.text(identity.tenant_id);
    FL_ASSIGN_OR_RETURN(PgResult tenant, connection.exec(kTenantName, tenant_params));
    if (tenant.rows() != 1) {
      return internalError("enrollment token of unknown tenant " + identity.tenant_id);
    }
    identity.tenant_name = std::string(tenant.bytes(0, 0));
    // Of two concurrent uses, the second waits for the first to commit, then finds used_at set.
    Params use_params;
    use_params.int64(token_id).int64(agent.now_ns).text(agent.agent_id);
    FL_ASSIGN_OR_RETURN(PgResult used, connection.exec(kUseToken, use_params));
    if (used.affectedRows() != 1) {
      // Used or revoked by a transaction that committed after our read.
      return Status(Errc::AlreadyExists, "enrollment token already used or revoked");
    }
    Params agent_params;
    agent_params.text(agent.agent_id)
        .text(identity.tenant_id)
        .text(agent.secret_hash)
        .bytea(agent.hostname)
        .bytea(agent.version)
        .int64(agent.now_ns);
    auto inserted = connection.exec(kInsertAgent, agent_params);
    if (!inserted.isOk()) {
      if (inserted.code() == Errc::Unavailable) {
        return inserted.status();
      }
      return internalError("create agent: " + inserted.status().message());
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  identity.agent_id = agent.agent_id;
  return identity;
}

Result<AgentIdentity> PostgresStore::findAgentBySecretHash(std::string_view secret_hash) {
  AgentIdentity identity;
  bool found = false;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kSecretHashSetting, secret_hash));
    Params params;
    params.text(secret_hash);
    FL_ASSIGN_OR_RETURN(PgResult agent, connection.exec(kAgentBySecret, params));
    found = agent.rows() == 1;
    if (!found) {
      return Status::ok();
    }
    identity.agent_id = std::string(agent.bytes(0, 0));
    identity.tenant_id = std::string(agent.bytes(0, 1));
    identity.hostname = std::string(agent.bytes(0, 2));
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, identity.tenant_id));
    Params tenant_params;
    tenant_params.text(identity.tenant_id);
    FL_ASSIGN_OR_RETURN(PgResult tenant, connection.exec(kTenantName, tenant_params));
    if (tenant.rows() != 1) {
      return internalError("agent " + identity.agent_id + " of unknown tenant");
    }
    identity.tenant_name = std::string(tenant.bytes(0, 0));
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!found) {
    return notFound("no agent with this secret");
  }
  return identity;
}

Result<StoredBatch> PostgresStore::storeBatch(const NewBatch& batch) {
  // Checked before queueing: a text that is not its id's would poison the dictionary.
  for (const TemplateText& tmpl : batch.templates) {
    if (logtemplate::templateId(tmpl.text) != tmpl.id) {
      return invalidArgument("template " + wire::templateIdText(tmpl.id) +
                             ": text does not match its id");
    }
  }
  StoredBatch stored;
  Status status = writer_->run(batchOrderKey(batch), [&](Connection& connection) -> Status {
    stored = StoredBatch{};
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, batch.tenant_id));
    Params params;
    params.text(batch.tenant_id)
        .text(batch.agent_id)
        .int64(asSigned(batch.epoch))
        .int64(asSigned(batch.seq))
        .int64(asSigned(batch.record_count))
        .int64(asSigned(batch.line_bytes))
        .int64(batch.min_ts_ns)
        .int64(batch.max_ts_ns)
        .int64(batch.received_at_ns)
        .bytea(batch.payload)
        .byteaArray(batch.sources);
    FL_ASSIGN_OR_RETURN(PgResult result, connection.exec(kStoreBatch, params));
    if (result.rows() != 1 || result.int64(0, 0) != 1) {
      return Status(Errc::PermissionDenied,
                    "agent " + batch.agent_id + " does not belong to this tenant");
    }
    for (const TemplateText& tmpl : batch.templates) {
      Params text_params;
      text_params.text(batch.tenant_id)
          .int64(asSigned(tmpl.id))
          .bytea(tmpl.text)
          .int64(batch.received_at_ns);
      FL_RETURN_IF_ERROR(connection.exec(kInsertTemplate, text_params).status());
    }
    if (!result.isNull(0, 1)) {
      stored.record_count = batch.record_count;
      return Status::ok();
    }
    Params find;
    find.text(batch.agent_id)
        .int64(asSigned(batch.epoch))
        .int64(asSigned(batch.seq))
        .text(batch.tenant_id);
    FL_ASSIGN_OR_RETURN(PgResult existing, connection.exec(kFindBatch, find));
    if (existing.rows() != 1) {
      return internalError("batch (" + batch.agent_id + ", " + std::to_string(batch.epoch) + ", " +
                           std::to_string(batch.seq) + ") conflicts but cannot be read");
    }
    stored.duplicate = true;
    stored.record_count = static_cast<std::uint64_t>(existing.int64(0, 0));
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return stored;
}

Result<std::string> PostgresStore::findTemplate(std::string_view tenant_id,
                                                std::uint64_t template_id) {
  std::optional<std::string> text;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    text.reset();
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).int64(asSigned(template_id));
    FL_ASSIGN_OR_RETURN(PgResult result, connection.exec(kFindTemplate, params));
    if (result.rows() == 1) {
      text = std::string(result.bytes(0, 0));
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!text) {
    return notFound("no template " + wire::templateIdText(template_id) + " in this tenant");
  }
  return *text;
}

Status PostgresStore::forEachBatch(std::string_view tenant_id, const BatchQuery& query,
                                   const std::function<Status(std::string_view payload)>& visit) {
  return inTransaction(true, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).int64(query.since_ns).int64(query.until_ns);
    std::vector<std::int64_t> ids;
    if (!query.source_glob) {
      FL_ASSIGN_OR_RETURN(PgResult batches, connection.exec(kTenantBatches, params));
      ids.reserve(static_cast<std::size_t>(batches.rows()));
      for (int row = 0; row < batches.rows(); ++row) {
        ids.push_back(batches.int64(row, 0));
      }
    } else {
      FL_ASSIGN_OR_RETURN(PgResult sources, connection.exec(kTenantBatchSources, params));
      std::string source;
      for (int row = 0; row < sources.rows(); ++row) {
        std::int64_t id = sources.int64(row, 0);
        if (!ids.empty() && ids.back() == id) {
          continue;  // this batch already matched on another source
        }
        source.assign(sources.bytes(row, 1));
        if (::fnmatch(query.source_glob->c_str(), source.c_str(), 0) == 0) {
          ids.push_back(id);
        }
      }
    }
    for (std::int64_t id : ids) {
      Params payload_params;
      payload_params.int64(id).text(tenant_id);
      FL_ASSIGN_OR_RETURN(PgResult payload, connection.exec(kBatchPayload, payload_params));
      if (payload.rows() == 1) {
        FL_RETURN_IF_ERROR(visit(payload.bytes(0, 0)));
      }
    }
    return Status::ok();
  });
}

Result<std::vector<AgentSummary>> PostgresStore::listAgents(std::string_view tenant_id,
                                                            const AgentPage& page) {
  Params params;
  params.text(tenant_id);
  params.int64(page.after_enrolled_at_ns);
  params.text(page.after_id);
  params.int64(page.limit == 0 ? INT64_MAX : static_cast<std::int64_t>(page.limit));
  FL_ASSIGN_OR_RETURN(PgResult result, scopedRead(kTenantSetting, tenant_id, kListAgents, params));
  std::vector<AgentSummary> agents;
  agents.reserve(static_cast<std::size_t>(result.rows()));
  for (int row = 0; row < result.rows(); ++row) {
    AgentSummary agent;
    agent.agent_id = std::string(result.bytes(row, 0));
    agent.hostname = std::string(result.bytes(row, 1));
    agent.version = std::string(result.bytes(row, 2));
    agent.enrolled_at_ns = result.int64(row, 3);
    agent.last_seen_ns = result.int64(row, 4);
    agent.batches = static_cast<std::uint64_t>(result.int64(row, 5));
    agent.records = static_cast<std::uint64_t>(result.int64(row, 6));
    agent.last_heartbeat_ns = result.int64(row, 7);
    agent.heartbeat_json = std::string(result.bytes(row, 8));
    agents.push_back(std::move(agent));
  }
  return agents;
}

Status PostgresStore::recordHeartbeat(const AgentHeartbeat& heartbeat) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, heartbeat.tenant_id));
    Params params;
    params.text(heartbeat.tenant_id)
        .text(heartbeat.agent_id)
        .int64(heartbeat.received_at_ns)
        .text(heartbeat.status_json)
        .bytea(heartbeat.version);
    FL_ASSIGN_OR_RETURN(PgResult result, connection.exec(kRecordHeartbeat, params));
    if (result.affectedRows() == 0) {
      return notFound("no such agent in this tenant");
    }
    return Status::ok();
  });
}
Result<AuditEntry> PostgresStore::appendAudit(const audit::AuditEvent& event) {
  FL_RETURN_IF_ERROR(validateAuditEvent(event));
  AuditEntry entry;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(setAuditChain(connection, event.tenant_id));
    Params ensure;
    ensure.text(event.tenant_id).text(kAuditGenesisHash);
    FL_RETURN_IF_ERROR(connection.exec(kEnsureAuditHead, ensure).status());
    Params lock;
    lock.text(event.tenant_id);
    FL_ASSIGN_OR_RETURN(PgResult head_row, connection.exec(kLockAuditHead, lock));
    if (head_row.rows() != 1) {
      return internalError("audit chain head of '" + event.tenant_id + "' cannot be locked");
    }
    std::optional<AuditChainHead> head;
    if (head_row.int64(0, 0) > 0) {
      head = AuditChainHead{head_row.int64(0, 0), std::string(head_row.bytes(0, 1))};
    }
    entry = chainAuditEntry(event, head);
    Params insert;
    insert.text(entry.tenant_id)
        .int64(entry.seq)
        .int64(entry.at_ns)
        .text(entry.actor)
        .text(entry.action)
        .text(entry.target)
        .text(entry.outcome)
        .text(entry.client_address)
        .text(entry.detail_json)
        .text(entry.prev_hash)
        .text(entry.hash);
    auto inserted = connection.exec(kInsertAudit, insert);
    if (!inserted.isOk()) {
      if (inserted.code() == Errc::Unavailable) {
        return inserted.status();
      }
      // A seq already taken means someone wrote the table behind the head: never overwrite.
      return internalError("append audit entry " + std::to_string(entry.seq) + ": " +
                           inserted.status().message());
    }
    Params move;
    move.text(entry.tenant_id).int64(entry.seq).text(entry.hash);
    return connection.exec(kMoveAuditHead, move).status();
  });
  FL_RETURN_IF_ERROR(status);
  return entry;
}

Result<AuditPage> PostgresStore::queryAudit(std::string_view tenant_id, const AuditQuery& query) {
  const std::size_t limit = std::clamp<std::size_t>(query.limit, 1, kAuditMaxPageEntries);
  AuditPage page;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    page = AuditPage{};
    FL_RETURN_IF_ERROR(setAuditChain(connection, tenant_id));
    Params params;
    params.text(tenant_id)
        .int64(query.after_seq)
        .int64(query.since_ns)
        .int64(query.until_ns)
        .text(query.actor)
        .text(query.action)
        .text(query.outcome)
        .int64(static_cast<std::int64_t>(limit + 1));  // one more tells whether a page follows
    FL_ASSIGN_OR_RETURN(PgResult result, connection.exec(kQueryAudit, params));
    for (int row = 0; row < result.rows(); ++row) {
      if (page.entries.size() == limit) {
        page.next_after_seq = page.entries.back().seq;
        break;
      }
      page.entries.push_back(auditEntryFromRow(result, row));
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return page;
}

Result<AuditVerification> PostgresStore::verifyAuditChain(std::string_view tenant_id) {
  AuditVerification verification;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    // One snapshot for the head and every page, so that a concurrent append cannot look like
    // a truncation.
    FL_RETURN_IF_ERROR(connection.script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"));
    FL_RETURN_IF_ERROR(setAuditChain(connection, tenant_id));
    Params head_params;
    head_params.text(tenant_id);
    FL_ASSIGN_OR_RETURN(PgResult head_row, connection.exec(kAuditHead, head_params));
    std::optional<AuditChainHead> head;
    if (head_row.rows() == 1) {
      head = AuditChainHead{head_row.int64(0, 0), std::string(head_row.bytes(0, 1))};
    }
    AuditChainVerifier verifier;
    std::int64_t after = 0;
    bool going = true;
    while (going) {
      Params params;
      params.text(tenant_id).int64(after);
      FL_ASSIGN_OR_RETURN(PgResult page, connection.exec(kAuditChainPage, params));
      for (int row = 0; row < page.rows() && going; ++row) {
        AuditEntry entry = auditEntryFromRow(page, row);
        after = entry.seq;
        going = verifier.add(entry);
      }
      if (page.rows() < 1000) {
        break;
      }
    }
    verification = verifier.finish(head);
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return verification;
}

// --- Identity ----------------------------------------------------------------------------

Result<User> PostgresStore::createUser(std::string_view email, std::string_view password_hash,
                                       std::int64_t now_ns) {
  User user{"usr_" + crypto::randomHex(12), normalizeEmail(email), std::string(password_hash),
            now_ns, 0};
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kUserIdSetting, user.id));
    Params params;
    params.text(user.id).text(user.email).text(user.password_hash).int64(now_ns);
    return connection.exec(kInsertUser, params).status();
  });
  if (status.code() == Errc::AlreadyExists) {
    return Status(Errc::AlreadyExists, "a user with this e-mail already exists");
  }
  FL_RETURN_IF_ERROR(status);
  return user;
}

Result<User> PostgresStore::findUserByEmail(std::string_view email) {
  std::optional<User> user;
  const std::string normalized = normalizeEmail(email);
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    user.reset();
    FL_RETURN_IF_ERROR(connection.setLocal(kUserEmailSetting, normalized));
    Params params;
    params.text(normalized);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kUserByEmail, params));
    if (r.rows() == 1) {
      user = User{text(r, 0, 0), text(r, 0, 1), text(r, 0, 2), r.int64(0, 3), r.int64(0, 4)};
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!user) {
    return notFound("no such user");
  }
  return *user;
}

Status PostgresStore::addMembership(std::string_view tenant_id, std::string_view user_id,
                                    std::string_view role, std::int64_t now_ns) {
  bool exists = false;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params find;
    find.text(tenant_id).text(user_id);
    FL_ASSIGN_OR_RETURN(PgResult found, connection.exec(kMember, find));
    exists = found.rows() == 1;
    if (exists) {
      return Status(Errc::AlreadyExists, "already a member of this tenant");
    }
    Params params;
    params.text(tenant_id).text(user_id).text(role).int64(now_ns);
    return connection.exec(kInsertMembership, params).status();
  });
  if (status.code() == Errc::AlreadyExists && !exists) {
    return notFound("no such tenant or user");  // a foreign key (or a concurrent insert)
  }
  return status;
}

Result<std::vector<Membership>> PostgresStore::listUserMemberships(std::string_view user_id) {
  Params params;
  params.text(user_id);
  return readRows<Membership>(kUserIdSetting, user_id, kUserMemberships, params, readMembership);
}

Result<std::vector<Membership>> PostgresStore::listMembers(std::string_view tenant_id) {
  Params params;
  params.text(tenant_id);
  return readRows<Membership>(kTenantSetting, tenant_id, kTenantMembers, params, readMembership);
}

Result<Membership> PostgresStore::findMember(std::string_view tenant_id, std::string_view user_id) {
  std::optional<Membership> member;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    member.reset();
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).text(user_id);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kMember, params));
    if (r.rows() == 1) {
      member = readMembership(r, 0);
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!member) {
    return notFound("no such member in this tenant");
  }
  return *member;
}

namespace {
// FailedPrecondition when `user_id` is the tenant's only owner; holds the owners' row locks
// until the transaction ends.
Status keepsAnOwner(Connection& connection, std::string_view tenant_id, std::string_view user_id) {
  Params params;
  params.text(tenant_id);
  FL_ASSIGN_OR_RETURN(PgResult owners, connection.exec(kLockOwners, params));
  if (owners.rows() == 1 && owners.bytes(0, 0) == user_id) {
    return Status(Errc::FailedPrecondition, "a tenant keeps at least one owner");
  }
  return Status::ok();
}
}  // namespace

Status PostgresStore::setMemberRole(std::string_view tenant_id, std::string_view user_id,
                                    std::string_view role) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    if (role != "owner") {
      FL_RETURN_IF_ERROR(keepsAnOwner(connection, tenant_id, user_id));
    }
    Params params;
    params.text(tenant_id).text(user_id).text(role);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kSetMemberRole, params));
    return r.affectedRows() == 0 ? notFound("no such member in this tenant") : Status::ok();
  });
}

Status PostgresStore::removeMember(std::string_view tenant_id, std::string_view user_id,
                                   std::int64_t now_ns) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    FL_RETURN_IF_ERROR(keepsAnOwner(connection, tenant_id, user_id));
    Params params;
    params.text(tenant_id).text(user_id);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kDeleteMember, params));
    if (r.affectedRows() == 0) {
      return notFound("no such member in this tenant");
    }
    Params revoke;
    revoke.text(tenant_id).text(user_id).int64(now_ns);
    return connection.exec(kRevokeMemberSessions, revoke).status();
  });
}

Status PostgresStore::createSession(const Session& session) {
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, session.tenant_id));
    Params params;
    params.text(session.token_hash)
        .text(session.tenant_id)
        .text(session.user_id)
        .text(session.csrf_hash)
        .int64(session.created_at_ns)
        .int64(session.expires_at_ns);
    return connection.exec(kInsertSession, params).status();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create session: no such tenant or user");
  }
  return status;
}

Result<Session> PostgresStore::findSession(std::string_view token_hash) {
  std::optional<Session> session;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    session.reset();
    FL_RETURN_IF_ERROR(connection.setLocal(kSessionHashSetting, token_hash));
    Params params;
    params.text(token_hash);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kSessionByHash, params));
    if (r.rows() != 1) {
      return Status::ok();
    }
    Session found;
    found.token_hash = text(r, 0, 0);
    found.user_id = text(r, 0, 1);
    found.tenant_id = text(r, 0, 2);
    found.csrf_hash = text(r, 0, 3);
    found.created_at_ns = r.int64(0, 4);
    found.expires_at_ns = r.int64(0, 5);
    found.revoked_at_ns = r.int64(0, 6);
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, found.tenant_id));
    Params member;
    member.text(found.tenant_id).text(found.user_id);
    FL_ASSIGN_OR_RETURN(PgResult role, connection.exec(kActiveMemberRole, member));
    if (role.rows() == 1) {
      found.role = text(role, 0, 0);
      session = std::move(found);
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!session) {
    return notFound("no such session");
  }
  return *session;
}

Status PostgresStore::revokeSession(std::string_view tenant_id, std::string_view token_hash,
                                    std::int64_t now_ns) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).text(token_hash).int64(now_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kRevokeSession, params));
    return r.affectedRows() == 0 ? notFound("no such session in this tenant") : Status::ok();
  });
}

Result<std::uint64_t> PostgresStore::purgeStaleCredentials(std::string_view tenant_id,
                                                           std::int64_t before_ns) {
  std::uint64_t purged = 0;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    purged = 0;
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).int64(before_ns);
    for (const Statement* statement : {&kPurgeSessions, &kPurgeInvitations}) {
      FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(*statement, params));
      purged += static_cast<std::uint64_t>(r.affectedRows());
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return purged;
}

Status PostgresStore::createApiKey(const ApiKey& key) {
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, key.tenant_id));
    Params params;
    params.text(key.id)
        .text(key.tenant_id)
        .text(key.name)
        .text(key.role)
        .text(key.key_hash)
        .text(key.created_by)
        .int64(key.created_at_ns)
        .int64(key.expires_at_ns);
    return connection.exec(kInsertApiKey, params).status();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create API key: no such tenant (or a duplicate key)");
  }
  return status;
}

Result<ApiKey> PostgresStore::findApiKeyByHash(std::string_view key_hash) {
  Params params;
  params.text(key_hash);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kApiKeyHashSetting, key_hash, kApiKeyByHash, params));
  if (r.rows() != 1) {
    return notFound("no such API key");
  }
  return readApiKey(r, 0);
}

Result<std::vector<ApiKey>> PostgresStore::listApiKeys(std::string_view tenant_id) {
  Params params;
  params.text(tenant_id);
  return readRows<ApiKey>(kTenantSetting, tenant_id, kTenantApiKeys, params, readApiKey);
}

Status PostgresStore::revokeApiKey(std::string_view tenant_id, std::string_view key_id,
                                   std::int64_t now_ns) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).text(key_id).int64(now_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kRevokeApiKey, params));
    return r.affectedRows() == 0 ? notFound("no such API key in this tenant") : Status::ok();
  });
}

Status PostgresStore::touchApiKey(std::string_view tenant_id, std::string_view key_id,
                                  std::int64_t now_ns) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    Params params;
    params.text(tenant_id).text(key_id).int64(now_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kTouchApiKey, params));
    return r.affectedRows() == 0 ? notFound("no such API key in this tenant") : Status::ok();
  });
}

Status PostgresStore::createInvitation(const Invitation& invitation) {
  const std::string email = normalizeEmail(invitation.email);
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, invitation.tenant_id));
    Params params;
    params.text(invitation.id)
        .text(invitation.tenant_id)
        .text(email)
        .text(invitation.role)
        .text(invitation.token_hash)
        .text(invitation.invited_by)
        .int64(invitation.created_at_ns)
        .int64(invitation.expires_at_ns);
    return connection.exec(kInsertInvitation, params).status();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create invitation: no such tenant (or a duplicate token)");
  }
  return status;
}

Result<Invitation> PostgresStore::findInvitation(std::string_view token_hash) {
  std::optional<Invitation> invitation;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    invitation.reset();
    FL_RETURN_IF_ERROR(connection.setLocal(kInvitationHashSetting, token_hash));
    Params params;
    params.text(token_hash);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kInvitationByHash, params));
    if (r.rows() == 1) {
      invitation = readInvitation(r, 0);
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  if (!invitation) {
    return notFound("no such invitation");
  }
  return *invitation;
}

Result<Membership> PostgresStore::acceptInvitation(std::string_view token_hash,
                                                   std::string_view new_user_id,
                                                   std::string_view password_hash,
                                                   std::int64_t now_ns) {
  Membership membership;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kInvitationHashSetting, token_hash));
    Params params;
    params.text(token_hash);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kInvitationByHash, params));
    if (r.rows() != 1) {
      return notFound("unknown invitation");
    }
    Invitation invitation = readInvitation(r, 0);
    if (invitation.accepted_at_ns != 0) {
      return Status(Errc::AlreadyExists, "invitation already used");
    }
    if (invitation.expires_at_ns <= now_ns) {
      return Status(Errc::FailedPrecondition, "invitation expired");
    }
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, invitation.tenant_id));
    // Of two concurrent uses, the second waits for the first to commit, then updates nothing.
    Params use;
    use.text(invitation.id).int64(now_ns);
    FL_ASSIGN_OR_RETURN(PgResult used, connection.exec(kUseInvitation, use));
    if (used.affectedRows() != 1) {
      return Status(Errc::AlreadyExists, "invitation already used");
    }
    FL_RETURN_IF_ERROR(connection.setLocal(kUserEmailSetting, invitation.email));
    Params find;
    find.text(invitation.email);
    FL_ASSIGN_OR_RETURN(PgResult user, connection.exec(kUserByEmail, find));
    std::string user_id;
    if (user.rows() == 1) {
      user_id = text(user, 0, 0);
    } else {
      user_id = std::string(new_user_id);
      FL_RETURN_IF_ERROR(connection.setLocal(kUserIdSetting, user_id));
      Params insert;
      insert.text(user_id).text(invitation.email).text(password_hash).int64(now_ns);
      FL_RETURN_IF_ERROR(connection.exec(kInsertUser, insert).status());
    }
    Params member;
    member.text(invitation.tenant_id).text(user_id).text(invitation.role).int64(now_ns);
    auto added = connection.exec(kInsertMembership, member);
    if (added.code() == Errc::AlreadyExists) {
      return Status(Errc::AlreadyExists, "already a member of this tenant");
    }
    FL_RETURN_IF_ERROR(added.status());
    membership =
        Membership{invitation.tenant_id, "", user_id, invitation.email, invitation.role, now_ns};
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return membership;
}

Status PostgresStore::addSigningKey(const SigningKey& key) {
  return inTransaction(false, [&](Connection& connection) -> Status {
    Params params;
    params.text(key.kid).text(key.secret_hex).int64(key.created_at_ns);
    return connection.exec(kInsertSigningKey, params).status();
  });
}

Result<std::vector<SigningKey>> PostgresStore::listSigningKeys(std::int64_t created_since_ns) {
  std::vector<SigningKey> out;
  Status status = inTransaction(true, [&](Connection& connection) -> Status {
    out.clear();
    Params params;
    params.int64(created_since_ns);
    FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kSigningKeys, params));
    for (int row = 0; row < r.rows(); ++row) {
      out.push_back(SigningKey{text(r, row, 0), text(r, row, 1), r.int64(row, 2)});
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  return out;
}

std::size_t PostgresStore::pendingWrites() const {
  return writer_->pending();
}

}  // namespace faultline::aggregator::store::postgres
