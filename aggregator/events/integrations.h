#pragma once

// Integrations: a tenant's webhook senders, each with its own key (shown once, stored hashed),
// kind, rate limit and, for generic JSON, a field mapping. Created and revoked from the admin
// CLI and the API through the same functions here, so both validate and audit alike.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/events/normalize.h"
#include "aggregator/store/store.h"
#include "shared/util/status.h"

namespace faultline::aggregator::events {

/// Integration keys: "flh_" + 43 base64url characters (256 random bits).
inline constexpr std::string_view kIntegrationKeyPrefix = "flh_";
inline constexpr std::int64_t kDefaultIntegrationRps = 100;
inline constexpr std::int64_t kDefaultIntegrationBurst = 200;
inline constexpr std::int64_t kMaxIntegrationRps = 1'000'000;
inline constexpr std::size_t kMaxIntegrationNameBytes = 128;
inline constexpr std::size_t kMaxMappingBytes = 16 * 1024;

/// A generic mapping from its JSON form: an object of JSON pointers named like GenericMapping's
/// fields ("title" required), plus optional "resolved_values"/"info_values" string arrays.
/// Unknown keys and pointers not starting with '/' are InvalidArgument naming the key.
Result<GenericMapping> parseGenericMapping(std::string_view json);

/// What a caller asks for; kind is a webhook kind name (not "log").
struct IntegrationRequest {
  std::string kind;
  std::string name;          // empty: the kind
  std::string mapping_json;  // required for generic, refused otherwise
  std::optional<std::int64_t> rps;
  std::optional<std::int64_t> burst;
};

struct CreatedIntegration {
  store::Integration integration;  // as stored (key hash only)
  std::string key;                 // shown once, never stored
  std::string hook_path;           // "/v1/hooks/<key>"
};

/// Who asks, for the audit entry.
struct AuditContext {
  std::string actor;           // "admin-cli", "user:<id>", ...
  std::string client_address;  // empty from the CLI
};

/// Validates, stores and audits (integration.create) a new integration of `tenant_id`.
/// InvalidArgument (naming the field) for a bad request; an audit failure revokes it again and
/// is returned, so no unaudited key is ever handed out.
Result<CreatedIntegration> createIntegration(store::Store& store, audit::AuditRecorder& audit,
                                             std::string_view tenant_id,
                                             const IntegrationRequest& request,
                                             const AuditContext& who, std::int64_t now_ns);

/// Revokes and audits (integration.revoke). NotFound when the tenant has no such integration.
Status revokeIntegration(store::Store& store, audit::AuditRecorder& audit,
                         std::string_view tenant_id, std::string_view integration_id,
                         const AuditContext& who, std::int64_t now_ns);

/// The integration as an API object (never the key or its hash).
std::string integrationJson(const store::Integration& integration);

}  // namespace faultline::aggregator::events
