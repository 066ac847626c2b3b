#pragma once

// Roles, principals' kinds and the one permission matrix (permissions.cpp). docs/permissions.md
// shows the same table; a unit test compares the two, so neither can drift.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace faultline::aggregator::auth {

/// Tenant roles, highest first. A role's rights include every lower role's.
enum class Role : std::uint8_t { Owner, Admin, Responder, Viewer };

/// Who a request acts as.
enum class PrincipalKind : std::uint8_t { User, ApiKey, Agent, Integration };

/// One right a route needs. Each route checks exactly one.
enum class Permission : std::uint8_t {
  ReadSelf,           // GET /v1/auth/me, GET /v1/tenants, POST /v1/auth/logout
  IssueToken,         // POST /v1/auth/token
  ListApiKeys,        // GET /v1/api-keys
  CreateApiKey,       // POST /v1/api-keys (role no higher than the creator's)
  RevokeApiKey,       // DELETE /v1/api-keys/{id}
  ListMembers,        // GET /v1/members
  ChangeMemberRole,   // PUT /v1/members/{user_id} (role no higher than the changer's)
  RemoveMember,       // DELETE /v1/members/{user_id}
  InviteMember,       // POST /v1/invitations
  ReadLogs,           // log search and export
  ListAgents,         // agent inventory
  EnrollAgents,       // create enrollment tokens
  IngestBatches,      // POST /v1/ingest
  SendHeartbeat,      // POST /v1/agents/heartbeat
  PostEvents,         // webhook events from integrations
  ReadAudit,          // GET /v1/audit: the tenant's audit log
  UploadLogs,         // POST /v1/logs/upload: a log file into the tenant's logs
  ListIntegrations,   // GET /v1/integrations
  CreateIntegration,  // POST /v1/integrations
  RevokeIntegration,  // DELETE /v1/integrations/{id}
  ReadEvents,         // GET /v1/events, GET /v1/events/stats, GET /v1/alerts
  ReadNoiseRules,     // GET /v1/suppression-rules, GET /v1/maintenance-windows
  ManageNoiseRules,   // POST/DELETE suppression rules and maintenance windows
  ReadIncidents,      // GET /v1/incidents..., GET /v1/correlation-rules,
                      // GET /v1/notification-channels...
  ManageIncidents,    // incident lifecycle, comments, split/merge, PUT /v1/correlation-rules,
                      // notification channels (create, delete, test)
  PostChanges,        // POST /v1/changes: deploys and config changes
  ReadGraph,          // GET /v1/services, GET /v1/service-graph, .../versions
  ManageGraph,        // PUT/DELETE /v1/services/{name}, graph import, spans
};

/// Every permission, in declaration order.
std::span<const Permission> allPermissions();
/// Stable dotted name ("api_keys.create"), as in docs/permissions.md.
std::string_view permissionName(Permission permission);

std::string_view roleName(Role role);
/// "owner", "admin", "responder", "viewer"; nullopt otherwise.
std::optional<Role> parseRole(std::string_view name);
/// True when `a` is at least as high as `b` (owner > admin > responder > viewer).
bool roleAtLeast(Role a, Role b);

/// The column a principal reads in the matrix: its role for users and API keys.
enum class Column : std::uint8_t { Owner, Admin, Responder, Viewer, Agent, Integration };
std::string_view columnName(Column column);
Column columnFor(PrincipalKind kind, Role role);

/// The matrix: whether a principal of this column holds `permission`.
bool allowed(Column column, Permission permission);

}  // namespace faultline::aggregator::auth
