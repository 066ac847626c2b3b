#include "aggregator/events/integrations.h"

#include <nlohmann/json.hpp>

#include "shared/util/crypto.h"

namespace faultline::aggregator::events {
namespace {

using nlohmann::json;

/// The pointer fields of GenericMapping by their JSON name.
std::string* pointerField(GenericMapping& mapping, std::string_view name) {
  if (name == "events") return &mapping.events;
  if (name == "title") return &mapping.title;
  if (name == "body") return &mapping.body;
  if (name == "severity") return &mapping.severity;
  if (name == "status") return &mapping.status;
  if (name == "service") return &mapping.service;
  if (name == "host") return &mapping.host;
  if (name == "environment") return &mapping.environment;
  if (name == "dedup_key") return &mapping.dedup_key;
  if (name == "occurred_at") return &mapping.occurred_at;
  if (name == "labels") return &mapping.labels;
  return nullptr;
}

Result<std::vector<std::string>> stringList(const json& value, std::string_view key) {
  if (!value.is_array() || value.size() > 64) {
    return invalidArgument("mapping." + std::string(key) +
                           ": expected an array of at most 64 strings");
  }
  std::vector<std::string> out;
  for (const json& item : value) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > 256) {
      return invalidArgument("mapping." + std::string(key) +
                             ": expected strings of at most 256 bytes");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

bool webhookKind(std::string_view kind) {
  std::optional<SourceKind> parsed = sourceKindFromName(kind);
  return parsed && *parsed != SourceKind::kLog && *parsed != SourceKind::kChange;
}

}  // namespace

Result<GenericMapping> parseGenericMapping(std::string_view text) {
  if (text.size() > kMaxMappingBytes) {
    return invalidArgument("mapping: at most " + std::to_string(kMaxMappingBytes) + " bytes");
  }
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) {
    return invalidArgument("mapping: expected a JSON object of JSON pointers");
  }
  GenericMapping mapping;
  for (const auto& [key, value] : doc.items()) {
    if (key == "resolved_values" || key == "info_values") {
      FL_ASSIGN_OR_RETURN(std::vector<std::string> values, stringList(value, key));
      (key == "resolved_values" ? mapping.resolved_values : mapping.info_values) =
          std::move(values);
      continue;
    }
    std::string* field = pointerField(mapping, key);
    if (field == nullptr) {
      return invalidArgument("mapping: unknown key '" + key + "'");
    }
    if (!value.is_string()) {
      return invalidArgument("mapping." + key + ": expected a JSON pointer string");
    }
    const std::string& pointer = value.get_ref<const std::string&>();
    if (!pointer.empty()) {
      try {
        (void)json::json_pointer(pointer);
      } catch (const json::exception&) {
        return invalidArgument("mapping." + key + ": '" + pointer +
                               "' is not a JSON pointer (RFC 6901, starts with '/')");
      }
    }
    *field = pointer;
  }
  if (mapping.title.empty()) {
    return invalidArgument("mapping.title: required");
  }
  return mapping;
}

Result<CreatedIntegration> createIntegration(store::Store& store, audit::AuditRecorder& audit,
                                             std::string_view tenant_id,
                                             const IntegrationRequest& request,
                                             const AuditContext& who, std::int64_t now_ns) {
  if (!webhookKind(request.kind)) {
    return invalidArgument("kind '" + request.kind +
                           "': use alertmanager, grafana, pagerduty, datadog, cloudwatch or "
                           "generic");
  }
  if (request.name.size() > kMaxIntegrationNameBytes) {
    return invalidArgument("name: at most " + std::to_string(kMaxIntegrationNameBytes) + " bytes");
  }
  for (char c : request.name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return invalidArgument("name: no control characters");
    }
  }
  const bool generic = request.kind == sourceKindName(SourceKind::kGeneric);
  std::string mapping_json;
  if (generic) {
    if (request.mapping_json.empty()) {
      return invalidArgument("mapping: required for a generic integration");
    }
    FL_RETURN_IF_ERROR(parseGenericMapping(request.mapping_json).status());
    // Stored compact, as validated.
    mapping_json = json::parse(request.mapping_json).dump();
  } else if (!request.mapping_json.empty()) {
    return invalidArgument("mapping: only generic integrations take one");
  }
  const std::int64_t rps = request.rps.value_or(kDefaultIntegrationRps);
  const std::int64_t burst = request.burst.value_or(std::max(rps, kDefaultIntegrationBurst));
  if (rps < 1 || rps > kMaxIntegrationRps) {
    return invalidArgument("rps: between 1 and " + std::to_string(kMaxIntegrationRps));
  }
  if (burst < 1 || burst > kMaxIntegrationRps) {
    return invalidArgument("burst: between 1 and " + std::to_string(kMaxIntegrationRps));
  }
  CreatedIntegration out;
  out.key = crypto::randomToken(kIntegrationKeyPrefix);
  out.hook_path = "/v1/hooks/" + out.key;
  store::Integration& integration = out.integration;
  integration.id = "int_" + crypto::randomHex(12);
  integration.tenant_id = std::string(tenant_id);
  integration.name = request.name.empty() ? request.kind : request.name;
  integration.kind = request.kind;
  integration.key_hash = crypto::hashSecret(out.key);
  integration.mapping_json = mapping_json;
  integration.rate_limit_rps = rps;
  integration.rate_limit_burst = burst;
  integration.created_at_ns = now_ns;
  FL_RETURN_IF_ERROR(store.createIntegration(integration));
  audit::AuditEvent event;
  event.tenant_id = integration.tenant_id;
  event.actor = who.actor;
  event.action = "integration.create";
  event.target = "integration:" + integration.id;
  event.client_address = who.client_address;
  event.detail_json = json{
      {"kind", integration.kind},
      {"name", integration.name},
      {"rps", rps},
      {"burst", burst}}.dump(-1, ' ', false, json::error_handler_t::replace);
  event.at_ns = now_ns;
  Status recorded = audit.record(event);
  if (!recorded.isOk()) {
    (void)store.revokeIntegration(tenant_id, integration.id, now_ns);  // never unaudited
    return recorded;
  }
  return out;
}

Status revokeIntegration(store::Store& store, audit::AuditRecorder& audit,
                         std::string_view tenant_id, std::string_view integration_id,
                         const AuditContext& who, std::int64_t now_ns) {
  FL_RETURN_IF_ERROR(store.revokeIntegration(tenant_id, integration_id, now_ns));
  audit::AuditEvent event;
  event.tenant_id = std::string(tenant_id);
  event.actor = who.actor;
  event.action = "integration.revoke";
  event.target = "integration:" + std::string(integration_id);
  event.client_address = who.client_address;
  event.at_ns = now_ns;
  return audit.record(event);
}

std::string integrationJson(const store::Integration& integration) {
  json out = {{"id", integration.id},
              {"name", integration.name},
              {"kind", integration.kind},
              {"rate_limit",
               {{"rps", integration.rate_limit_rps}, {"burst", integration.rate_limit_burst}}},
              {"created_at_ns", integration.created_at_ns},
              {"revoked", integration.revoked_at_ns != 0}};
  if (integration.revoked_at_ns != 0) {
    out["revoked_at_ns"] = integration.revoked_at_ns;
  }
  if (!integration.mapping_json.empty()) {
    out["mapping"] = json::parse(integration.mapping_json, nullptr, false);
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace faultline::aggregator::events
