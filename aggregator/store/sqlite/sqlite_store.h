#pragma once

// The SQLite engine of the aggregator Store: one file in WAL mode, one writer thread with group
// commit (GroupCommitWriter), and a small pool of read connections.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aggregator/store/sqlite/group_commit_writer.h"
#include "aggregator/store/sqlite/sqlite_graph.h"
#include "aggregator/store/sqlite/sqlite_util.h"
#include "aggregator/store/sqlite/wal_checkpointer.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::store::sqlite {

struct SqliteStoreOptions {
  std::string path;            // database file; its directory must exist
  int busy_timeout_ms = 5000;  // wait for another process's write lock this long
  std::size_t max_pending_writes = 1024;
  std::size_t max_group_jobs = 512;
  std::size_t max_idle_readers = 8;
};

/// Thread-safe; see Store. Owns its connections and writer thread; destroying it finishes
/// queued writes first.
class SqliteStore final : public Store {
 public:
  /// Opens or creates the database, applies migrations, starts the writer.
  static Result<std::unique_ptr<SqliteStore>> open(SqliteStoreOptions options);
  ~SqliteStore() override;

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
  Result<std::string> findTemplate(std::string_view tenant_id, std::uint64_t template_id) override;
  Status forEachBatch(std::string_view tenant_id, const BatchQuery& query,
                      const std::function<Status(std::string_view payload)>& visit) override;
  Result<std::vector<AgentSummary>> listAgents(std::string_view tenant_id,
                                               const AgentPage& page = {}) override;
  Status recordHeartbeat(const AgentHeartbeat& heartbeat) override;
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
  void recordEventsAsync(std::string_view tenant_id,
                         std::shared_ptr<const std::vector<events::Event>> events,
                         RecordContext context, RecordDone done) override;
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
  void writeIncidentsAsync(std::string_view tenant_id, std::shared_ptr<const IncidentWrite> write,
                           std::function<void(Status)> done) override;
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
  void drainAsyncWrites() override;

  GroupCommitWriter::Stats writerStats() const { return writer_->stats(); }
  WalCheckpointer::Stats checkpointStats() const { return checkpointer_->stats(); }

 private:
  /// The body of writeIncidents; writer thread only, inside the writer's savepoint.
  Status writeIncidentsJob(std::string_view tenant_id, const IncidentWrite& write);
  /// The body of recordEvents; writer thread only, inside the writer's savepoint.
  Status recordEventsJob(std::string_view tenant_id, const std::vector<events::Event>& events,
                         const RecordContext& context, std::vector<EventDecision>* decisions);
  /// FailedPrecondition when `user_id` is the tenant's only owner. Writer thread only.
  Status keepsAnOwner(std::string_view tenant_id, std::string_view user_id);
  struct WriteStatements;
  struct Reader;
  class ReaderLease;

  explicit SqliteStore(SqliteStoreOptions options);
  Result<ReaderLease> acquireReader();
  void releaseReader(std::unique_ptr<Reader> reader);

  SqliteStoreOptions options_;
  DbPtr write_db_;  // used only by the writer thread once open() returns
  std::unique_ptr<WriteStatements> write_;
  std::unique_ptr<SqliteGraphTables> graph_;  // service graph (sqlite_graph.cpp)
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<WalCheckpointer> checkpointer_;  // hooked on write_db_'s commits

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Reader>> idle_readers_;
};

}  // namespace faultline::aggregator::store::sqlite
