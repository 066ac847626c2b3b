#include "aggregator/auth/permissions.h"

#include <array>

namespace faultline::aggregator::auth {
namespace {

constexpr std::array kPermissions = {
    Permission::ReadSelf,          Permission::IssueToken,        Permission::ListApiKeys,
    Permission::CreateApiKey,      Permission::RevokeApiKey,      Permission::ListMembers,
    Permission::ChangeMemberRole,  Permission::RemoveMember,      Permission::InviteMember,
    Permission::ReadLogs,          Permission::ListAgents,        Permission::EnrollAgents,
    Permission::IngestBatches,     Permission::SendHeartbeat,     Permission::PostEvents,
    Permission::ReadAudit,         Permission::UploadLogs,        Permission::ListIntegrations,
    Permission::CreateIntegration, Permission::RevokeIntegration, Permission::ReadEvents,
    Permission::ReadNoiseRules,    Permission::ManageNoiseRules,  Permission::ReadIncidents,
    Permission::ManageIncidents,   Permission::PostChanges,       Permission::ReadGraph,
    Permission::ManageGraph,
};

struct Row {
  Permission permission;
  std::string_view name;
  // owner, admin, responder, viewer, agent, integration
  std::array<bool, 6> columns;
};

// THE permission matrix. docs/permissions.md carries the same table (checked by a test).
// Agents only ship logs; integrations only post events; people never act as agents.
constexpr bool Y = true;
constexpr bool N = false;
constexpr std::array<Row, kPermissions.size()> kMatrix = {{
    {Permission::ReadSelf, "auth.me", {Y, Y, Y, Y, N, N}},
    {Permission::IssueToken, "auth.token", {Y, Y, Y, Y, N, N}},
    {Permission::ListApiKeys, "api_keys.list", {Y, Y, Y, N, N, N}},
    {Permission::CreateApiKey, "api_keys.create", {Y, Y, Y, N, N, N}},
    {Permission::RevokeApiKey, "api_keys.revoke", {Y, Y, N, N, N, N}},
    {Permission::ListMembers, "members.list", {Y, Y, Y, Y, N, N}},
    {Permission::ChangeMemberRole, "members.change_role", {Y, Y, N, N, N, N}},
    {Permission::RemoveMember, "members.remove", {Y, Y, N, N, N, N}},
    {Permission::InviteMember, "invitations.create", {Y, Y, N, N, N, N}},
    {Permission::ReadLogs, "logs.read", {Y, Y, Y, Y, N, N}},
    {Permission::ListAgents, "agents.list", {Y, Y, Y, Y, N, N}},
    {Permission::EnrollAgents, "agents.enroll", {Y, Y, N, N, N, N}},
    {Permission::IngestBatches, "ingest.write", {N, N, N, N, Y, N}},
    {Permission::SendHeartbeat, "agents.heartbeat", {N, N, N, N, Y, N}},
    {Permission::PostEvents, "events.post", {Y, Y, Y, N, N, Y}},
    {Permission::ReadAudit, "audit.read", {Y, Y, N, N, N, N}},
    {Permission::UploadLogs, "logs.upload", {Y, Y, Y, N, N, N}},
    {Permission::ListIntegrations, "integrations.list", {Y, Y, N, N, N, N}},
    {Permission::CreateIntegration, "integrations.create", {Y, Y, N, N, N, N}},
    {Permission::RevokeIntegration, "integrations.revoke", {Y, Y, N, N, N, N}},
    {Permission::ReadEvents, "events.read", {Y, Y, Y, Y, N, N}},
    // Responders silence noise during an incident, as they would in Alertmanager.
    {Permission::ReadNoiseRules, "noise.read", {Y, Y, Y, Y, N, N}},
    {Permission::ManageNoiseRules, "noise.manage", {Y, Y, Y, N, N, N}},
    // Responders run incidents (PagerDuty's responder); viewers follow them.
    {Permission::ReadIncidents, "incidents.read", {Y, Y, Y, Y, N, N}},
    {Permission::ManageIncidents, "incidents.manage", {Y, Y, Y, N, N, N}},
    // Deploy pipelines post changes with a responder (or higher) API key.
    {Permission::PostChanges, "changes.create", {Y, Y, Y, N, N, N}},
    // Responders keep the map of services right while they work an incident.
    {Permission::ReadGraph, "graph.read", {Y, Y, Y, Y, N, N}},
    {Permission::ManageGraph, "graph.manage", {Y, Y, Y, N, N, N}},
}};

constexpr bool matrixInEnumOrder() {
  for (std::size_t i = 0; i < kMatrix.size(); ++i) {
    if (static_cast<std::size_t>(kMatrix[i].permission) != i ||
        kPermissions[i] != kMatrix[i].permission) {
      return false;
    }
  }
  return true;
}
static_assert(matrixInEnumOrder(), "kMatrix rows must follow the Permission enum's order");

const Row& rowOf(Permission permission) {
  return kMatrix[static_cast<std::size_t>(permission)];
}

}  // namespace

std::span<const Permission> allPermissions() {
  return kPermissions;
}

std::string_view permissionName(Permission permission) {
  return rowOf(permission).name;
}

std::string_view roleName(Role role) {
  switch (role) {
    case Role::Owner: return "owner";
    case Role::Admin: return "admin";
    case Role::Responder: return "responder";
    case Role::Viewer: return "viewer";
  }
  return "viewer";
}

std::optional<Role> parseRole(std::string_view name) {
  for (Role role : {Role::Owner, Role::Admin, Role::Responder, Role::Viewer}) {
    if (roleName(role) == name) {
      return role;
    }
  }
  return std::nullopt;
}

bool roleAtLeast(Role a, Role b) {
  return static_cast<int>(a) <= static_cast<int>(b);
}

std::string_view columnName(Column column) {
  switch (column) {
    case Column::Owner: return "owner";
    case Column::Admin: return "admin";
    case Column::Responder: return "responder";
    case Column::Viewer: return "viewer";
    case Column::Agent: return "agent";
    case Column::Integration: return "integration";
  }
  return "viewer";
}

Column columnFor(PrincipalKind kind, Role role) {
  switch (kind) {
    case PrincipalKind::Agent: return Column::Agent;
    case PrincipalKind::Integration: return Column::Integration;
    case PrincipalKind::User:
    case PrincipalKind::ApiKey: break;
  }
  return static_cast<Column>(static_cast<std::uint8_t>(role));
}

bool allowed(Column column, Permission permission) {
  static_assert(static_cast<int>(Permission::ManageGraph) + 1 == kMatrix.size());
  return rowOf(permission).columns[static_cast<std::size_t>(column)];
}

}  // namespace faultline::aggregator::auth
