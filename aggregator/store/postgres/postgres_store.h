#pragma once

// The PostgreSQL engine of the aggregator Store: a fixed-size connection pool, versioned
// migrations, group commit for batches, and row-level security by tenant as a second wall
// behind the tenant_id every query binds.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "aggregator/store/postgres/connection_pool.h"
#include "aggregator/store/postgres/group_commit_writer.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::store::postgres {

struct PostgresStoreOptions {
  std::string url;  // postgres://user[:password]@host:port/db?params (libpq URI syntax)
  std::size_t pool_size = 8;
  std::chrono::milliseconds pool_timeout{5000};  // wait for a free connection this long
  std::chrono::milliseconds connect_timeout{5000};
  std::size_t max_pending_writes = 1024;
  std::size_t max_group_jobs = 512;
};

/// Thread-safe; see Store. Owns its pool and writer thread; destroying it finishes queued writes
/// first. The role it logs in as should own the tables and be neither a superuser nor BYPASSRLS
/// (either would skip row-level security; open() warns).
class PostgresStore final : public Store {
 public:
  /// Connects, applies migrations (serialized across processes by an advisory lock), starts
  /// the writer. Unavailable when the server cannot be reached; FailedPrecondition when the
  /// schema is newer than this binary.
  static Result<std::unique_ptr<PostgresStore>> open(PostgresStoreOptions options);
  ~PostgresStore() override;

  Status ping() override;
  Result<Tenant> createTenant(std::string_view name, std::int64_t now_ns) override;
  Result<Tenant> findTenantByName(std::string_view name) override;
  Result<std::int64_t> createEnrollmentToken(std::string_view tenant_id,
                                             std::string_view token_hash, std::int64_t now_ns,
                                             std::int64_t expires_at_ns) override;
  Result<std::vector<EnrollmentToken>> listEnrollmentTokens(std::string_view tenant_id,
                                                            std::size_t limit,
                                                            std::int64_t before_id) override;
  Result<EnrollmentToken> revokeEnrollmentToken(std::string_view tenant_id, std::int64_t token_id,
                                                std::int64_t now_ns) override;
  Result<AgentIdentity> enrollAgent(const NewAgent& agent) override;
  Result<AgentIdentity> findAgentBySecretHash(std::string_view secret_hash) override;
  Result<StoredBatch> storeBatch(const NewBatch& batch) override;
  Status forEachBatch(std::string_view tenant_id, const BatchQuery& query,
                      const std::function<Status(std::string_view payload)>& visit) override;
  Result<std::vector<AgentSummary>> listAgents(std::string_view tenant_id,
                                               const AgentPage& page = {}) override;
  Status recordHeartbeat(const AgentHeartbeat& heartbeat) override;
  Result<std::string> findTemplate(std::string_view tenant_id, std::uint64_t template_id) override;
  Result<User> createUser(std::string_view email, std::string_view password_hash,
                          std::int64_t now_ns) override;
  Result<User> findUserByEmail(std::string_view email) override;
  Status addMembership(std::string_view tenant_id, std::string_view user_id, std::string_view role,
                       std::int64_t now_ns) override;
  Result<std::vector<Membership>> listUserMemberships(std::string_view user_id) override;
  Result<std::vector<Membership>> listMembers(std::string_view tenant_id) override;
  Result<Membership> findMember(std::string_view tenant_id, std::string_view user_id) override;
  Status setMemberRole(std::string_view tenant_id, std::string_view user_id,
                       std::string_view role) override;
  Status removeMember(std::string_view tenant_id, std::string_view user_id,
                      std::int64_t now_ns) override;
  Status createSession(const Session& session) override;
  Result<Session> findSession(std::string_view token_hash) override;
  Status revokeSession(std::string_view tenant_id, std::string_view token_hash,
                       std::int64_t now_ns) override;
  Result<std::uint64_t> purgeStaleCredentials(std::string_view tenant_id,
                                              std::int64_t before_ns) override;
  Status createApiKey(const ApiKey& key) override;
  Result<ApiKey> findApiKeyByHash(std::string_view key_hash) override;
  Result<std::vector<ApiKey>> listApiKeys(std::string_view tenant_id) override;
  Status revokeApiKey(std::string_view tenant_id, std::string_view key_id,
                      std::int64_t now_ns) override;
  Status touchApiKey(std::string_view tenant_id, std::string_view key_id,
                     std::int64_t now_ns) override;
  Status createInvitation(const Invitation& invitation) override;
  Result<Invitation> findInvitation(std::string_view token_hash) override;
  Result<Membership> acceptInvitation(std::string_view token_hash, std::string_view new_user_id,
                                      std::string_view password_hash, std::int64_t now_ns) override;
  Status addSigningKey(const SigningKey& key) override;
  Result<std::vector<SigningKey>> listSigningKeys(std::int64_t created_since_ns) override;
  Result<AuditEntry> appendAudit(const audit::AuditEvent& event) override;
  Result<AuditPage> queryAudit(std::string_view tenant_id, const AuditQuery& query) override;
  Result<AuditVerification> verifyAuditChain(std::string_view tenant_id) override;
  Status createIntegration(const Integration& integration) override;
  Result<std::vector<Integration>> listIntegrations(std::string_view tenant_id) override;
  Status revokeIntegration(std::string_view tenant_id, std::string_view integration_id,
                           std::int64_t now_ns) override;
  Result<Integration> findIntegrationByKeyHash(std::string_view key_hash) override;
  using Store::recordEvents;
  Result<std::vector<EventDecision>> recordEvents(std::string_view tenant_id,
                                                  const std::vector<events::Event>& events,
                                                  const RecordContext& context) override;
  Result<std::vector<StoredEvent>> queryEvents(std::string_view tenant_id,
                                               const EventQuery& query) override;
  Result<EventStats> eventStats(std::string_view tenant_id) override;
  Result<std::vector<AlertSummary>> listAlerts(std::string_view tenant_id,
                                               const AlertQuery& query) override;
  Status createNoiseRule(const NoiseRule& rule) override;
  Result<std::vector<NoiseRule>> listNoiseRules(std::string_view tenant_id) override;
  Status deleteNoiseRule(std::string_view tenant_id, std::string_view rule_id,
                         std::int64_t now_ns) override;
  Result<std::vector<bool>> rememberLogTemplates(std::string_view tenant_id,
                                                 const std::vector<LogTemplateKey>& keys,
                                                 std::int64_t now_ns) override;
  Status writeIncidents(std::string_view tenant_id, const IncidentWrite& write) override;
  Result<std::vector<IncidentRow>> listIncidents(std::string_view tenant_id,
                                                 const IncidentQuery& query) override;
  Result<IncidentRow> findIncident(std::string_view tenant_id,
                                   std::string_view incident_id) override;
  Result<std::vector<IncidentEventRow>> listIncidentEvents(std::string_view tenant_id,
                                                           std::string_view incident_id,
                                                           std::size_t limit) override;
  Result<std::vector<IncidentTimelineRow>> listIncidentTimeline(
      std::string_view tenant_id, std::string_view incident_id) override;
  Result<StoredEvent> findEvent(std::string_view tenant_id, std::string_view event_id) override;
  Result<std::vector<StoredEvent>> findEvents(std::string_view tenant_id,
                                              const std::vector<std::string>& ids) override;
  Result<std::string> findCorrelationRules(std::string_view tenant_id) override;
  Status setCorrelationRules(std::string_view tenant_id, std::string_view rules_json,
                             std::int64_t now_ns) override;
  Result<GraphChangeResult> applyGraphChange(std::string_view tenant_id,
                                             const GraphChange& change) override;
  Result<GraphSnapshotRecord> readGraph(std::string_view tenant_id,
                                        std::optional<std::int64_t> version) override;
  Result<std::vector<GraphVersionInfo>> listGraphVersions(std::string_view tenant_id,
                                                          std::int64_t before_version,
                                                          std::size_t limit) override;
  Status createNotificationChannel(const NotificationChannel& channel) override;
  Result<std::vector<NotificationChannel>> listNotificationChannels(
      std::string_view tenant_id) override;
  Status deleteNotificationChannel(std::string_view tenant_id, std::string_view channel_id,
                                   std::int64_t now_ns) override;
  Status enqueueNotifications(std::string_view tenant_id,
                              const std::vector<NotificationDelivery>& deliveries) override;
  Result<std::vector<NotificationDelivery>> dueNotifications(std::int64_t now_ns,
                                                             std::size_t limit) override;
  Status updateNotification(std::string_view tenant_id,
                            const NotificationDelivery& delivery) override;
  Result<std::vector<NotificationDelivery>> listNotifications(std::string_view tenant_id,
                                                              std::string_view channel_id,
                                                              std::size_t limit) override;
  Status putKnowledgeDocument(const KnowledgeDocument& document) override;
  Status deleteKnowledgeDocument(std::string_view tenant_id, std::string_view kind,
                                 std::string_view id) override;
  Result<KnowledgeDocument> findKnowledgeDocument(std::string_view tenant_id, std::string_view kind,
                                                  std::string_view id) override;
  Result<std::vector<KnowledgeSummary>> listKnowledgeDocuments(std::string_view tenant_id,
                                                               std::string_view kind,
                                                               std::size_t limit) override;
  Result<std::vector<KnowledgeHit>> searchKnowledge(std::string_view tenant_id,
                                                    const KnowledgeQuery& query) override;
  Result<std::vector<KnowledgeVectorRow>> listKnowledgeVectors(
      std::string_view tenant_id, const std::vector<std::string>& kinds,
      std::size_t limit) override;
  Status putAiRunbook(const AiRunbookRecord& record) override;
  Result<AiRunbookRecord> findAiRunbook(std::string_view tenant_id,
                                        std::string_view incident_id) override;
  Status putAiAnswer(const AiAnswerRecord& record) override;
  Result<AiAnswerRecord> findAiAnswer(std::string_view tenant_id, std::string_view incident_id,
                                      std::string_view task) override;
  Result<AiReservationResult> reserveAiTokens(const AiTokenReservation& reservation) override;
  Status adjustAiTokens(std::string_view tenant_id, std::string_view day, std::string_view month,
                        std::int64_t delta) override;
  Result<std::pair<std::int64_t, std::int64_t>> aiTokensUsed(std::string_view tenant_id,
                                                             std::string_view day,
                                                             std::string_view month) override;
  Result<AiCachedAnswer> findAiCachedAnswer(std::string_view tenant_id, std::string_view key,
                                            std::int64_t min_created_at_ns) override;
  Status putAiCachedAnswer(const AiCachedAnswer& answer, std::int64_t expire_before_ns) override;
  Status appendAiUsage(const AiUsageRecord& record) override;
  Result<std::vector<AiUsageTotal>> aiUsageTotals(std::string_view tenant_id, std::int64_t since_ns,
                                                  std::int64_t until_ns) override;
  std::size_t pendingWrites() const override;

  GroupCommitWriter::Stats writerStats() const { return writer_->stats(); }
  ConnectionPool::Stats poolStats() const { return pool_->stats(); }

 private:
  explicit PostgresStore(PostgresStoreOptions options);
  /// Runs `work` in one transaction on a pooled connection: commits when it returns ok, rolls
  /// back otherwise. A pooled connection found dead at BEGIN (nothing sent yet) is replaced
  /// and the transaction started once more.
  Status inTransaction(bool read_only, const std::function<Status(Connection&)>& work);
  /// A single-statement read in one round trip (Connection::scopedRead), retried once on a
  /// new connection when the first was lost.
  Result<PgResult> scopedRead(std::string_view setting, std::string_view value,
                              const Statement& statement, const Params& params);
  /// One statement in its own write transaction with `setting` = `value` for row-level
  /// security; the rows it changed.
  Result<std::int64_t> scopedWrite(std::string_view setting, std::string_view value,
                                   const Statement& statement, const Params& params);
  /// scopedRead of many rows: `read_row(result, row)` makes each row's value.
  template <typename T, typename ReadRow>
  Result<std::vector<T>> readRows(std::string_view setting, std::string_view value,
                                  const Statement& statement, const Params& params,
                                  ReadRow read_row) {
    FL_ASSIGN_OR_RETURN(PgResult result, scopedRead(setting, value, statement, params));
    std::vector<T> rows;
    rows.reserve(static_cast<std::size_t>(result.rows()));
    for (int row = 0; row < result.rows(); ++row) {
      rows.push_back(read_row(result, row));
    }
    return rows;
  }

  PostgresStoreOptions options_;
  std::string where_;  // the redacted URL, for messages
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<GroupCommitWriter> writer_;
};

}  // namespace faultline::aggregator::store::postgres
