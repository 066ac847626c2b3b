#pragma once

// Operator commands behind `faultline-aggregator admin`: tenants, enrollment tokens, agents
// and log export. They work on the same store as a running server (SQLite WAL).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/audit/audit_event.h"
#include "aggregator/audit/audit_format.h"
#include "aggregator/auth/password.h"
#include "aggregator/config/aggregator_config.h"
#include "aggregator/events/integrations.h"
#include "aggregator/store/store.h"
#include "shared/util/status.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::admin {

/// Opens the store the configuration names, creating the data directory when needed.
Result<std::unique_ptr<store::Store>> openStore(const config::AggregatorConfig& config);

/// The actor admin commands record in the audit log.
inline constexpr std::string_view kAdminActor = "admin-cli";

/// Creates a tenant; InvalidArgument for a bad name, AlreadyExists for a taken one. Recorded
/// in the system audit chain (tenant.create); a failure to record is returned as the error.
Result<store::Tenant> createTenant(store::Store& store, audit::AuditRecorder& audit,
                                   std::string_view name);

/// Creates a one-time enrollment token for the named tenant, valid for `ttl`, and returns it.
/// Only its hash is stored: this is the one chance to see it. Recorded in the tenant's audit
/// chain (enrollment_token.create, with the token hash's first 12 characters as target).
Result<std::string> createEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                          std::string_view tenant_name,
                                          std::chrono::nanoseconds ttl);

struct IssuedEnrollmentToken {
  std::int64_t id = 0;  // the store's id (DELETE /v1/enrollment-tokens/{id})
  std::string token;    // "fet_...": shown once, never stored
  std::string token_hash;
  std::int64_t created_at_ns = 0;
  std::int64_t expires_at_ns = 0;
};

/// What createEnrollmentToken does, for a tenant id and any actor (the CLI, or a user over
/// POST /v1/enrollment-tokens): stores the token's hash, valid for `ttl` from `now_ns`, and
/// records enrollment_token.create in the tenant's chain (target: the hash's first 12
/// characters, kEnrollmentTokenPrefix). A failure to record is returned as the error.
Result<IssuedEnrollmentToken> issueEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                                   std::string_view tenant_id,
                                                   const events::AuditContext& who,
                                                   std::chrono::nanoseconds ttl,
                                                   std::int64_t now_ns);

/// How many characters of a token's hash name it in the audit log and the API.
inline constexpr std::size_t kEnrollmentTokenPrefix = 12;

/// The audit chain id of a tenant name; empty name: the system chain ("").
Result<std::string> auditChainId(store::Store& store, std::string_view tenant_name);

/// Verifies the named tenant's audit chain (empty name: the system chain).
Result<store::AuditVerification> verifyAudit(store::Store& store, std::string_view tenant_name);

/// Writes the named tenant's audit entries (empty name: the system chain) with at_ns >=
/// since_ns, in seq order, as JSON Lines or CSV (with a header), a page at a time.
Status exportAudit(store::Store& store, std::string_view tenant_name, std::int64_t since_ns,
                   audit::ExportFormat format,
                   const std::function<Status(std::string_view chunk)>& write);

struct ExportFilter {
  std::optional<std::string> source_glob;  // fnmatch(3), flags 0, on the record's source path
  std::optional<std::int64_t> since_ns;    // record ts >= since
  std::optional<std::int64_t> until_ns;    // record ts < until
};

struct ExportStats {
  std::uint64_t batches = 0;
  std::uint64_t records = 0;  // records printed (a deduped record once)
  std::uint64_t lines = 0;    // lines written (a deduped record `count` times)
  std::uint64_t bytes = 0;
  std::uint64_t aggregates = 0;        // aggregate records, not printed
  std::uint64_t aggregated_lines = 0;  // the lines those aggregates stand for
};

/// Writes the tenant's stored lines, byte for byte, in batch arrival order then record order:
/// each record's line, then '\n' unless the record is marked no_newline. Raw records are their
/// bytes; templated records (batch v2) are rendered from the template text carried in their
/// batch or else the tenant's dictionary; a deduped record is written `count` times in place;
/// aggregate records are not lines: they are only counted in the stats. A template the
/// dictionary does not have (yet: it may come with a batch still in flight) stops the export
/// with FailedPrecondition naming the id, the batch and the record; nothing is skipped
/// silently. Decodes one batch at a time and hands `write` chunks of at most about 64 KiB
/// (plus one line), so memory stays bounded (the dictionary texts used are cached).
Result<ExportStats> exportLogs(store::Store& store, std::string_view tenant_name,
                               const ExportFilter& filter, const wire::Limits& limits,
                               const std::function<Status(std::string_view chunk)>& write);

/// Makes `email` a member of the named tenant with `role`, creating the user with `password`
/// (at least auth::kMinPasswordBytes) when no user has this e-mail; an existing user keeps
/// their password. AlreadyExists when already a member. Audited as actor "admin-cli".
Result<store::Membership> createUser(store::Store& store, audit::AuditRecorder& audit,
                                     const auth::PasswordHasher& passwords,
                                     std::string_view tenant_name, std::string_view email,
                                     std::string_view role, std::string_view password);

struct CreatedApiKey {
  store::ApiKey key;   // as stored (hash only)
  std::string secret;  // "flk_...": shown once, never stored
};

/// Creates an API key for the named tenant with a tenant role or "integration", valid for
/// `ttl` (nullopt: no expiry). Audited as actor "admin-cli".
Result<CreatedApiKey> createApiKey(store::Store& store, audit::AuditRecorder& audit,
                                   std::string_view tenant_name, std::string_view role,
                                   std::optional<std::chrono::nanoseconds> ttl,
                                   std::string_view name);

/// Creates a webhook integration for the named tenant (see events::createIntegration); the
/// result carries its key and receiver path, shown once. Audited as actor "admin-cli".
Result<events::CreatedIntegration> createIntegration(store::Store& store,
                                                     audit::AuditRecorder& audit,
                                                     std::string_view tenant_name,
                                                     const events::IntegrationRequest& request);

/// The tenant's integrations as tab-separated text with a header line (never keys).
Result<std::string> listIntegrations(store::Store& store, std::string_view tenant_name);

/// Revokes an integration of the named tenant; its key stops working at once. Audited.
Status revokeIntegration(store::Store& store, audit::AuditRecorder& audit,
                         std::string_view tenant_name, std::string_view integration_id);

/// The tenant's agents as tab-separated text with a header line.
Result<std::string> listAgents(store::Store& store, std::string_view tenant_name);

/// The tenant's incidents, newest first, as tab-separated text with a header line (status
/// filter optional): id, status, severity, first/last event, events, services, top cause.
Result<std::string> listIncidents(store::Store& store, std::string_view tenant_name,
                                  std::string_view status);

/// One incident as text: summary, ranked candidate causes with confidence and evidence, the
/// event chain and the timeline.
Result<std::string> showIncident(store::Store& store, std::string_view tenant_name,
                                 std::string_view incident_id);

}  // namespace faultline::aggregator::admin
