#pragma once

// The aggregator's storage interface. One interface, one engine per database (SQLite now,
// PostgreSQL later). Tenant scoping lives here: every method that touches tenant data takes the
// tenant id as an argument and binds it into its query, so no caller can read or write another
// tenant's rows by forgetting a WHERE clause.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aggregator/audit/audit_event.h"
#include "aggregator/store/ai_records.h"
#include "aggregator/store/audit_log.h"
#include "aggregator/store/auth_records.h"
#include "aggregator/store/event_records.h"
#include "aggregator/store/graph_records.h"
#include "aggregator/store/incident_records.h"
#include "aggregator/store/knowledge_records.h"
#include "aggregator/store/notify_records.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store {

/// Tenant names: [a-z0-9][a-z0-9-]{0,62}.
bool validTenantName(std::string_view name);

/// E-mail addresses are compared case-insensitively: stored and looked up ASCII-lower-cased.
std::string normalizeEmail(std::string_view email);

struct Tenant {
  std::string id;    // "tnt_<hex>"
  std::string name;  // [a-z0-9][a-z0-9-]{0,62}
  std::int64_t created_at_ns = 0;
};

/// What enrollment writes: the caller generates the agent id and secret, the store only ever
/// sees the secret's hash.
struct NewAgent {
  std::string token_hash;   // hash of the one-time enrollment token presented
  std::string agent_id;     // "agt_<hex>"
  std::string secret_hash;  // hash of the agent secret handed back once
  std::string hostname;
  std::string version;
  std::int64_t now_ns = 0;
};

/// A one-time enrollment token as stored: its hash, never the token.
struct EnrollmentToken {
  std::int64_t id = 0;
  std::string tenant_id;
  std::string token_hash;
  std::int64_t created_at_ns = 0;
  std::int64_t expires_at_ns = 0;
  std::int64_t used_at_ns = 0;  // 0: not used
  std::string used_by_agent;
  std::int64_t revoked_at_ns = 0;  // 0: not revoked
};

/// The identity behind an agent secret.
struct AgentIdentity {
  std::string agent_id;
  std::string tenant_id;
  std::string tenant_name;
  std::string hostname;  // as enrolled (host of its log-derived events)
};

/// A template text a batch carried; `id` must be logtemplate::templateId(text).
struct TemplateText {
  std::uint64_t id = 0;
  std::string_view text;
};

/// One accepted batch: the payload exactly as received plus the facts indexes need.
struct NewBatch {
  std::string tenant_id;
  std::string agent_id;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::uint64_t record_count = 0;
  std::uint64_t line_bytes = 0;
  std::int64_t min_ts_ns = 0;
  std::int64_t max_ts_ns = 0;
  std::int64_t received_at_ns = 0;
  std::vector<std::string> sources;     // distinct source paths in the batch
  std::vector<TemplateText> templates;  // texts it carried; views must outlive storeBatch
  std::string_view payload;             // compressed bytes as received; must outlive storeBatch
};

struct StoredBatch {
  bool duplicate = false;          // (agent, epoch, seq) was already stored; nothing written
  std::uint64_t record_count = 0;  // of the stored batch (the first one, for a duplicate)
};

/// Which stored batches a log export reads. Filters are coarse (batch level); the caller
/// still filters records.
struct BatchQuery {
  std::optional<std::string> source_glob;  // fnmatch(3) pattern, flags 0
  std::int64_t since_ns = INT64_MIN;       // keep batches with max_ts >= since
  std::int64_t until_ns = INT64_MAX;       // keep batches with min_ts < until
};

struct AgentSummary {
  std::string agent_id;
  std::string hostname;
  std::string version;
  std::int64_t enrolled_at_ns = 0;
  std::int64_t last_seen_ns = 0;  // 0: never sent a batch
  std::uint64_t batches = 0;
  std::uint64_t records = 0;
  std::int64_t last_heartbeat_ns = 0;  // 0: never sent a heartbeat
  std::string heartbeat_json;          // the agent's last status document, as sent
};

/// One page of an agent listing, in (enrolled_at, id) order: the agents after the given key.
/// The default asks for every agent.
struct AgentPage {
  std::int64_t after_enrolled_at_ns = INT64_MIN;
  std::string after_id;   // with after_enrolled_at_ns: the last agent of the previous page
  std::size_t limit = 0;  // 0: no limit
};

/// An agent's periodic report: its status document (version, files and lag, spool, pipeline
/// counters), kept as sent (bounded by the endpoint) and shown by `admin agents list`.
struct AgentHeartbeat {
  std::string tenant_id;
  std::string agent_id;
  std::string version;
  /// One JSON object, serialised by the heartbeat handler from what it parsed: listings
  /// (GET /v1/agents) splice it into their output verbatim.
  std::string status_json;
  std::int64_t received_at_ns = 0;
};

/// Storage for tenancy, agents and log batches. All methods are thread-safe and may block
/// (disk, locks); call them from worker threads, never from an event loop.
///
/// Error codes: NotFound (no such tenant/token/agent visible to the caller), AlreadyExists
/// (unique name, used token), FailedPrecondition (expired token, schema too new),
/// ResourceExhausted (write queue full: retry later), Unavailable (database busy), others are
/// Internal.
class Store {
 public:
  virtual ~Store() = default;

  /// Checks that the database answers a query.
  virtual Status ping() = 0;

  virtual Result<Tenant> createTenant(std::string_view name, std::int64_t now_ns) = 0;
  virtual Result<Tenant> findTenantByName(std::string_view name) = 0;

  /// Stores the hash of a one-time enrollment token for a tenant and returns the token's id.
  virtual Result<std::int64_t> createEnrollmentToken(std::string_view tenant_id,
                                                     std::string_view token_hash,
                                                     std::int64_t now_ns,
                                                     std::int64_t expires_at_ns) = 0;

  /// The tenant's enrollment tokens, newest first, at most `limit`, with ids below `before_id`
  /// (0: from the newest).
  virtual Result<std::vector<EnrollmentToken>> listEnrollmentTokens(std::string_view tenant_id,
                                                                    std::size_t limit,
                                                                    std::int64_t before_id) = 0;
  /// Marks an unused, unrevoked enrollment token of the tenant revoked (it can no longer enroll;
  /// the row stays, so the list shows who revoked what) and returns it; NotFound when the tenant
  /// has no such token.
  virtual Result<EnrollmentToken> revokeEnrollmentToken(std::string_view tenant_id,
                                                        std::int64_t token_id,
                                                        std::int64_t now_ns) = 0;

  /// Consumes the enrollment token and creates the agent in one transaction: of two concurrent
  /// uses exactly one succeeds. NotFound: unknown token; AlreadyExists: token already used;
  /// FailedPrecondition: token expired; PermissionDenied: token revoked.
  virtual Result<AgentIdentity> enrollAgent(const NewAgent& agent) = 0;

  /// The agent whose secret hashes to `secret_hash`; NotFound otherwise.
  virtual Result<AgentIdentity> findAgentBySecretHash(std::string_view secret_hash) = 0;

  /// Stores one batch unless (agent, epoch, seq) is already stored, and updates the agent's
  /// last_seen and counters, in one transaction that is durable when this returns. The
  /// templates it carried join the tenant's dictionary in the same transaction (a known id
  /// keeps its text). The agent must belong to `batch.tenant_id` (PermissionDenied otherwise).
  /// InvalidArgument (nothing stored) when a template text does not match its id.
  /// ResourceExhausted when the write queue is full (nothing stored).
  virtual Result<StoredBatch> storeBatch(const NewBatch& batch) = 0;

  /// The text of a template in the tenant's dictionary; NotFound when that tenant has none
  /// with this id (another tenant's templates are never visible).
  virtual Result<std::string> findTemplate(std::string_view tenant_id,
                                           std::uint64_t template_id) = 0;

  /// Calls `visit(payload)` for each stored batch of the tenant that may match `query`, in
  /// arrival (commit) order, one batch in memory at a time. Stops at the first non-ok status
  /// from `visit` and returns it.
  virtual Status forEachBatch(std::string_view tenant_id, const BatchQuery& query,
                              const std::function<Status(std::string_view payload)>& visit) = 0;

  virtual Result<std::vector<AgentSummary>> listAgents(std::string_view tenant_id,
                                                       const AgentPage& page = {}) = 0;

  /// Records the agent's latest heartbeat (replacing the previous one). NotFound when the agent
  /// is not in `heartbeat.tenant_id`.
  virtual Status recordHeartbeat(const AgentHeartbeat& heartbeat) = 0;

  // --- Identity (migration 4; see auth_records.h). E-mails are normalized by the store.
  // Lookups by a secret's hash (session, API key, invitation) and a user's own memberships
  // cross tenants by design: they are how a request finds its tenant.

  /// AlreadyExists when the e-mail is taken (case-insensitively).
  virtual Result<User> createUser(std::string_view email, std::string_view password_hash,
                                  std::int64_t now_ns) = 0;
  virtual Result<User> findUserByEmail(std::string_view email) = 0;
  /// AlreadyExists when already a member; NotFound when the tenant or user does not exist.
  virtual Status addMembership(std::string_view tenant_id, std::string_view user_id,
                               std::string_view role, std::int64_t now_ns) = 0;
  /// Every tenant the user belongs to, by tenant name.
  virtual Result<std::vector<Membership>> listUserMemberships(std::string_view user_id) = 0;
  /// The tenant's members, by e-mail.
  virtual Result<std::vector<Membership>> listMembers(std::string_view tenant_id) = 0;
  /// NotFound when the user is not a member of this tenant.
  virtual Result<Membership> findMember(std::string_view tenant_id, std::string_view user_id) = 0;
  /// FailedPrecondition when the change would leave the tenant without an owner (checked in
  /// the same transaction as the change, so concurrent changes cannot race past it).
  virtual Status setMemberRole(std::string_view tenant_id, std::string_view user_id,
                               std::string_view role) = 0;
  /// Removes the membership and revokes the user's sessions in this tenant, atomically.
  /// FailedPrecondition when the user is the tenant's only owner.
  virtual Status removeMember(std::string_view tenant_id, std::string_view user_id,
                              std::int64_t now_ns) = 0;

  virtual Status createSession(const Session& session) = 0;
  /// The session with this token hash and its membership's current role. NotFound when unknown,
  /// when the membership is gone or the user disabled. Expired and revoked sessions are
  /// returned: the caller decides (and says nothing about which).
  virtual Result<Session> findSession(std::string_view token_hash) = 0;
  virtual Status revokeSession(std::string_view tenant_id, std::string_view token_hash,
                               std::int64_t now_ns) = 0;

  /// Deletes this tenant's sessions that expired or were revoked before `before_ns` and its
  /// invitations that expired or were accepted before it; returns how many rows went.
  virtual Result<std::uint64_t> purgeStaleCredentials(std::string_view tenant_id,
                                                      std::int64_t before_ns) = 0;

  virtual Status createApiKey(const ApiKey& key) = 0;
  /// NotFound when unknown; expired and revoked keys are returned (the caller decides).
  virtual Result<ApiKey> findApiKeyByHash(std::string_view key_hash) = 0;
  virtual Result<std::vector<ApiKey>> listApiKeys(std::string_view tenant_id) = 0;
  /// Revoking twice keeps the first time; NotFound when the tenant has no such key.
  virtual Status revokeApiKey(std::string_view tenant_id, std::string_view key_id,
                              std::int64_t now_ns) = 0;
  virtual Status touchApiKey(std::string_view tenant_id, std::string_view key_id,
                             std::int64_t now_ns) = 0;

  virtual Status createInvitation(const Invitation& invitation) = 0;
  virtual Result<Invitation> findInvitation(std::string_view token_hash) = 0;
  /// In one transaction: consumes the invitation, creates its e-mail's user (id `new_user_id`,
  /// `password_hash`) unless one exists, and adds the membership. NotFound: unknown token;
  /// AlreadyExists: used, or already a member; FailedPrecondition: expired.
  virtual Result<Membership> acceptInvitation(std::string_view token_hash,
                                              std::string_view new_user_id,
                                              std::string_view password_hash,
                                              std::int64_t now_ns) = 0;

  virtual Status addSigningKey(const SigningKey& key) = 0;
  /// Keys created at or after `created_since_ns`, newest first.
  virtual Result<std::vector<SigningKey>> listSigningKeys(std::int64_t created_since_ns) = 0;
  /// Appends `event` to its tenant's audit chain (event.tenant_id; "" is the system chain) and
  /// returns the stored entry. Appends to one chain are serialized, so concurrent appends never
  /// fork it; durable when this returns. InvalidArgument for an event validateAuditEvent refuses.
  virtual Result<AuditEntry> appendAudit(const audit::AuditEvent& event) = 0;

  /// Entries of one tenant's chain ("" is the system chain) matching `query`, in seq order.
  virtual Result<AuditPage> queryAudit(std::string_view tenant_id, const AuditQuery& query) = 0;

  /// Walks the tenant's whole chain from one consistent snapshot and reports the first break
  /// (see AuditChainVerifier). A broken chain is an ok Result with intact = false.
  virtual Result<AuditVerification> verifyAuditChain(std::string_view tenant_id) = 0;

  // --- Events (migration 6; see event_records.h).

  /// AlreadyExists for a duplicate id or key hash; NotFound when the tenant does not exist.
  virtual Status createIntegration(const Integration& integration) = 0;
  /// The tenant's integrations (revoked ones too), oldest first.
  virtual Result<std::vector<Integration>> listIntegrations(std::string_view tenant_id) = 0;
  /// Revoking twice keeps the first time; NotFound when the tenant has no such integration.
  virtual Status revokeIntegration(std::string_view tenant_id, std::string_view integration_id,
                                   std::int64_t now_ns) = 0;
  /// Crosses tenants by design (it is how a webhook finds its tenant). NotFound when unknown;
  /// revoked integrations are returned (the caller decides).
  virtual Result<Integration> findIntegrationByKeyHash(std::string_view key_hash) = 0;
  /// Stores the events of one request and folds each into its fingerprint's alert, in one
  /// transaction (all or nothing), in order. Concurrent calls for the same fingerprint are
  /// serialized: they never make two alerts. Every event needs a fingerprint and must belong to
  /// `tenant_id` (or leave tenant_id empty); InvalidArgument otherwise, with nothing stored.
  /// `context` carries the mutes (suppression, maintenance) decided before and the flapping
  /// policy (see decideAlert).
  virtual Result<std::vector<EventDecision>> recordEvents(std::string_view tenant_id,
                                                          const std::vector<events::Event>& events,
                                                          const RecordContext& context) = 0;
  using RecordDone = std::function<void(Result<std::vector<EventDecision>>)>;
  /// recordEvents without holding the caller's thread where the engine can: SQLite queues the
  /// job on its group-commit writer and calls `done` on the writer thread after the commit
  /// (keep `done` short and never call the store from it). Other engines run recordEvents and
  /// call `done` on the caller's thread before returning. `done` is called exactly once.
  virtual void recordEventsAsync(std::string_view tenant_id,
                                 std::shared_ptr<const std::vector<events::Event>> events,
                                 RecordContext context, RecordDone done) {
    done(recordEvents(tenant_id, *events, context));
  }
  /// recordEvents with no mutes and the default flapping policy.
  Result<std::vector<EventDecision>> recordEvents(std::string_view tenant_id,
                                                  const std::vector<events::Event>& events) {
    return recordEvents(tenant_id, events, RecordContext{});
  }
  /// One page of the tenant's events, newest first (see EventQuery).
  virtual Result<std::vector<StoredEvent>> queryEvents(std::string_view tenant_id,
                                                       const EventQuery& query) = 0;
  virtual Result<EventStats> eventStats(std::string_view tenant_id) = 0;
  /// One page of the tenant's alerts, most recently touched first (see AlertQuery).
  virtual Result<std::vector<AlertSummary>> listAlerts(std::string_view tenant_id,
                                                       const AlertQuery& query) = 0;

  // --- Noise rules (migration 7): suppression rules and maintenance windows.

  /// AlreadyExists for a duplicate id; NotFound when the tenant does not exist.
  virtual Status createNoiseRule(const NoiseRule& rule) = 0;
  /// The tenant's rules in force (not deleted), oldest first.
  virtual Result<std::vector<NoiseRule>> listNoiseRules(std::string_view tenant_id) = 0;
  /// Marks the rule deleted (kept for the events that name it); NotFound when the tenant has no
  /// such rule in force.
  virtual Status deleteNoiseRule(std::string_view tenant_id, std::string_view rule_id,
                                 std::int64_t now_ns) = 0;

  // --- Log-derived events (migration 8; see events/log_events.h).

  /// Remembers each (service, template) pair for the tenant, durably, and says in order which
  /// were new: never remembered before by any node (of two concurrent calls, one sees it new).
  /// InvalidArgument over kMaxLogTemplatesPerCall; NotFound when the tenant does not exist.
  virtual Result<std::vector<bool>> rememberLogTemplates(std::string_view tenant_id,
                                                         const std::vector<LogTemplateKey>& keys,
                                                         std::int64_t now_ns) = 0;

  // --- Incidents (migration 10; see incident_records.h).

  /// Writes one correlation step in one transaction: incident rows replaced whole, event links
  /// (an event already linked to the incident keeps its first reason), merges, timeline rows.
  /// Every row must belong to `tenant_id` (the incidents named must be the tenant's): nothing is
  /// written otherwise (NotFound). InvalidArgument past kMaxIncidentWriteRows.
  virtual Status writeIncidents(std::string_view tenant_id, const IncidentWrite& write) = 0;
  /// writeIncidents without waiting. SQLite queues the job on its group-commit writer (so
  /// writes queued together share one commit, in the order queued) and calls `done` on the
  /// writer thread after the commit (keep it short, never call the store from it); a write it
  /// refuses at once gets `done` on the caller's thread. Other engines write and call `done`
  /// before returning. `done` is called exactly once.
  virtual void writeIncidentsAsync(std::string_view tenant_id,
                                   std::shared_ptr<const IncidentWrite> write,
                                   std::function<void(Status)> done) {
    done(writeIncidents(tenant_id, *write));
  }
  virtual Result<std::vector<IncidentRow>> listIncidents(std::string_view tenant_id,
                                                         const IncidentQuery& query) = 0;
  /// NotFound when the tenant has no such incident.
  virtual Result<IncidentRow> findIncident(std::string_view tenant_id,
                                           std::string_view incident_id) = 0;
  /// The incident's event links in event time order, at most `limit`
  /// (<= kMaxIncidentEventsListed).
  virtual Result<std::vector<IncidentEventRow>> listIncidentEvents(std::string_view tenant_id,
                                                                   std::string_view incident_id,
                                                                   std::size_t limit) = 0;
  /// The incident's timeline, oldest first.
  virtual Result<std::vector<IncidentTimelineRow>> listIncidentTimeline(
      std::string_view tenant_id, std::string_view incident_id) = 0;
  /// The tenant's events with these ids (unknown ids and other tenants' are skipped), raw
  /// payloads left out. At most kMaxEventsPerRecord ids.
  virtual Result<std::vector<StoredEvent>> findEvents(std::string_view tenant_id,
                                                      const std::vector<std::string>& ids) = 0;
  /// One of the tenant's events with its raw payload; NotFound when the tenant has no event
  /// with this id (another tenant's is never visible).
  virtual Result<StoredEvent> findEvent(std::string_view tenant_id, std::string_view event_id) = 0;
  /// The tenant's correlation rules document; "" when never set.
  virtual Result<std::string> findCorrelationRules(std::string_view tenant_id) = 0;
  /// NotFound when the tenant does not exist.
  virtual Status setCorrelationRules(std::string_view tenant_id, std::string_view rules_json,
                                     std::int64_t now_ns) = 0;
  // --- Service graph (migration 9; see graph_records.h).

  /// Applies `change` to the tenant's graph in force, in one transaction: when it changes
  /// something, the rows it closes and opens make version current + 1 (caused by
  /// `change.cause`); otherwise nothing is written. Changes of one tenant are serialized.
  /// InvalidArgument or FailedPrecondition (see planGraphChange) with nothing written; NotFound
  /// when the tenant does not exist.
  virtual Result<GraphChangeResult> applyGraphChange(std::string_view tenant_id,
                                                     const GraphChange& change) = 0;
  /// The tenant's graph at `version` (nullopt: the version in force), read from one snapshot.
  /// Version 0 is the empty graph before any change; NotFound for a version the tenant never had.
  virtual Result<GraphSnapshotRecord> readGraph(std::string_view tenant_id,
                                                std::optional<std::int64_t> version) = 0;
  /// The tenant's graph versions below `before_version`, newest first, at most `limit`.
  virtual Result<std::vector<GraphVersionInfo>> listGraphVersions(std::string_view tenant_id,
                                                                  std::int64_t before_version,
                                                                  std::size_t limit) = 0;

  // --- Notifications (migration 11; see notify_records.h).

  /// NotFound when the tenant does not exist.
  virtual Status createNotificationChannel(const NotificationChannel& channel) = 0;
  /// The tenant's channels in use (secrets included: for the dispatcher; the API drops them).
  virtual Result<std::vector<NotificationChannel>> listNotificationChannels(
      std::string_view tenant_id) = 0;
  /// NotFound when the tenant has no such channel in use.
  virtual Status deleteNotificationChannel(std::string_view tenant_id, std::string_view channel_id,
                                           std::int64_t now_ns) = 0;
  /// Inserts the deliveries in one transaction; a key already present is left as it is.
  /// Every row must be the tenant's (InvalidArgument otherwise).
  virtual Status enqueueNotifications(std::string_view tenant_id,
                                      const std::vector<NotificationDelivery>& deliveries) = 0;
  /// Pending deliveries of every tenant due at `now_ns`, soonest first, at most `limit`. For
  /// the dispatcher only: it acts on each row within the row's own tenant.
  virtual Result<std::vector<NotificationDelivery>> dueNotifications(std::int64_t now_ns,
                                                                     std::size_t limit) = 0;
  /// Writes the outcome of an attempt (state, attempts, next attempt, status, error,
  /// delivered_at). NotFound when the tenant has no such delivery.
  virtual Status updateNotification(std::string_view tenant_id,
                                    const NotificationDelivery& delivery) = 0;
  /// The channel's deliveries, newest first, at most `limit`.
  virtual Result<std::vector<NotificationDelivery>> listNotifications(std::string_view tenant_id,
                                                                      std::string_view channel_id,
                                                                      std::size_t limit) = 0;

  // --- Knowledge index (migration 12; see knowledge_records.h).

  /// Replaces the tenant's document (kind, id) and its passages, in one transaction.
  /// InvalidArgument for another tenant's document, an unknown kind or past
  /// kMaxKnowledgePassages; NotFound when the tenant does not exist.
  virtual Status putKnowledgeDocument(const KnowledgeDocument& document) = 0;
  /// NotFound when the tenant has no such document.
  virtual Status deleteKnowledgeDocument(std::string_view tenant_id, std::string_view kind,
                                         std::string_view id) = 0;
  /// The document with its body (passages left out); NotFound when the tenant has none.
  virtual Result<KnowledgeDocument> findKnowledgeDocument(std::string_view tenant_id,
                                                          std::string_view kind,
                                                          std::string_view id) = 0;
  /// The tenant's documents of `kind`, most recently updated first, at most `limit`.
  virtual Result<std::vector<KnowledgeSummary>> listKnowledgeDocuments(std::string_view tenant_id,
                                                                       std::string_view kind,
                                                                       std::size_t limit) = 0;
  /// The tenant's documents matching any of the query's terms, best first (BM25 over
  /// passages; a document scores as its best passage). Never another tenant's.
  virtual Result<std::vector<KnowledgeHit>> searchKnowledge(std::string_view tenant_id,
                                                            const KnowledgeQuery& query) = 0;
  /// The tenant's passages that carry an embedding (migration 17), of the kinds asked for
  /// (empty: every kind), the most recently updated documents first, at most `limit`. Never
  /// another tenant's.
  virtual Result<std::vector<KnowledgeVectorRow>> listKnowledgeVectors(
      std::string_view tenant_id, const std::vector<std::string>& kinds, std::size_t limit) = 0;

  // --- AI runbooks (migration 13; see ai_records.h).

  /// Replaces the incident's runbook. InvalidArgument past kMaxAiRunbookBytes; NotFound when
  /// the tenant does not exist.
  virtual Status putAiRunbook(const AiRunbookRecord& record) = 0;
  /// NotFound when the tenant has no runbook for this incident.
  virtual Result<AiRunbookRecord> findAiRunbook(std::string_view tenant_id,
                                                std::string_view incident_id) = 0;
  /// Replaces the incident's answer of the record's task (migration 16). InvalidArgument past
  /// kMaxAiAnswerBytes; NotFound when the tenant does not exist.
  virtual Status putAiAnswer(const AiAnswerRecord& record) = 0;
  /// NotFound when the tenant has no answer of this task for this incident.
  virtual Result<AiAnswerRecord> findAiAnswer(std::string_view tenant_id,
                                              std::string_view incident_id,
                                              std::string_view task) = 0;

  // --- AI cost control (migration 14; see ai_records.h and aggregator/ai/cost.h).

  /// Adds the reservation's tokens to the tenant's day and month counters in one transaction,
  /// unless either would pass its limit: then nothing changes and the result says which.
  /// Concurrent reservations are serialized, so two racing for the last tokens never both win.
  virtual Result<AiReservationResult> reserveAiTokens(const AiTokenReservation& reservation) = 0;
  /// Adds `delta` (negative to give tokens back) to the tenant's day and month counters, never
  /// below zero: settling a reservation (actual - reserved) or releasing it (-reserved).
  virtual Status adjustAiTokens(std::string_view tenant_id, std::string_view day,
                                std::string_view month, std::int64_t delta) = 0;
  /// The tenant's counters of `day` and `month` (0 when none), as {day, month}.
  virtual Result<std::pair<std::int64_t, std::int64_t>> aiTokensUsed(std::string_view tenant_id,
                                                                     std::string_view day,
                                                                     std::string_view month) = 0;
  /// The tenant's cached answer for `key` created at or after `min_created_at_ns`; NotFound
  /// when none.
  virtual Result<AiCachedAnswer> findAiCachedAnswer(std::string_view tenant_id,
                                                    std::string_view key,
                                                    std::int64_t min_created_at_ns) = 0;
  /// Replaces the answer cached under its key, and drops the tenant's answers created before
  /// `expire_before_ns`. InvalidArgument past kMaxAiCachedAnswerBytes.
  virtual Status putAiCachedAnswer(const AiCachedAnswer& answer, std::int64_t expire_before_ns) = 0;
  /// Appends one row to the tenant's usage ledger.
  virtual Status appendAiUsage(const AiUsageRecord& record) = 0;
  /// The tenant's ledger rows with since_ns <= at < until_ns, added up per day, provider,
  /// model and task, in that order.
  virtual Result<std::vector<AiUsageTotal>> aiUsageTotals(std::string_view tenant_id,
                                                          std::int64_t since_ns,
                                                          std::int64_t until_ns) = 0;

  /// Write jobs queued or in flight (for overload decisions and tests).
  virtual std::size_t pendingWrites() const = 0;
  /// Blocks until every write queued by recordEventsAsync so far has completed and its `done`
  /// has run and been released. Shutdown calls it while what those callbacks publish to (the
  /// live hub, the incident engine) still exists. Engines without a write queue: nothing.
  virtual void drainAsyncWrites() {}
};

}  // namespace faultline::aggregator::store
