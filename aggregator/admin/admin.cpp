#include "aggregator/admin/admin.h"

#include <fnmatch.h>

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "aggregator/auth/authenticator.h"
#include "aggregator/auth/permissions.h"
#include "aggregator/store/open_store.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/crypto.h"
#include "shared/util/fs.h"
#include "shared/util/time.h"

namespace faultline::aggregator::admin {

namespace {
constexpr std::size_t kExportChunkBytes = 64 * 1024;

std::string parentDir(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}
// Hostnames are client text: keep the table one row per line and free of terminal escapes.
std::string printable(std::string_view text) {
  if (text.empty()) {
    return "-";
  }
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '?';
    }
  }
  return out;
}
}  // namespace

Result<std::unique_ptr<store::Store>> openStore(const config::AggregatorConfig& config) {
  if (config.store.engine == store::Engine::Sqlite) {
    FL_RETURN_IF_ERROR(fs::ensureDir(config.data_dir, 0700));
    FL_RETURN_IF_ERROR(fs::ensureDir(parentDir(config.store.sqlite_path), 0700));
  }
  return store::openStore(config.store, config.store_options);
}

Result<store::Tenant> createTenant(store::Store& store, audit::AuditRecorder& audit,
                                   std::string_view name) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.createTenant(name, nowUnixNanos()));
  audit::AuditEvent event;
  event.actor = std::string(kAdminActor);
  event.action = "tenant.create";
  event.target = "tenant:" + tenant.id;
  event.at_ns = tenant.created_at_ns;
  event.detail_json = nlohmann::json{{"name", tenant.name}}.dump();
  FL_RETURN_IF_ERROR(
      audit.record(event).withContext("tenant " + tenant.name + " was created but not audited"));
  return tenant;
}

Result<std::string> createEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                          std::string_view tenant_name,
                                          std::chrono::nanoseconds ttl) {
  if (ttl.count() <= 0) {
    return invalidArgument("token ttl must be positive");
  }
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  FL_ASSIGN_OR_RETURN(IssuedEnrollmentToken issued,
                      issueEnrollmentToken(store, audit, tenant.id, {std::string(kAdminActor), ""},
                                           ttl, nowUnixNanos()));
  return std::move(issued.token);
}

Result<IssuedEnrollmentToken> issueEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                                   std::string_view tenant_id,
                                                   const events::AuditContext& who,
                                                   std::chrono::nanoseconds ttl,
                                                   std::int64_t now_ns) {
  if (ttl.count() <= 0) {
    return invalidArgument("token ttl must be positive");
  }
  IssuedEnrollmentToken issued;
  issued.token = crypto::randomToken("fet_");
  issued.created_at_ns = now_ns;
  issued.expires_at_ns = ttl.count() > INT64_MAX - now_ns ? INT64_MAX : now_ns + ttl.count();
  issued.token_hash = crypto::hashSecret(issued.token);
  FL_ASSIGN_OR_RETURN(issued.id, store.createEnrollmentToken(tenant_id, issued.token_hash, now_ns,
                                                             issued.expires_at_ns));
  audit::AuditEvent event;
  event.tenant_id = std::string(tenant_id);
  event.actor = who.actor;
  event.client_address = who.client_address;
  event.action = "enrollment_token.create";
  // A prefix of the hash names the token for an investigator without helping anyone use it.
  event.target = "enrollment_token:" + issued.token_hash.substr(0, kEnrollmentTokenPrefix);
  event.at_ns = now_ns;
  event.detail_json = nlohmann::json{{"expires_at_ns", issued.expires_at_ns}}.dump();
  // Not audited, not handed out: the token exists but nobody ever sees it.
  FL_RETURN_IF_ERROR(audit.record(event).withContext("enrollment token not audited"));
  return issued;
}

Result<std::string> auditChainId(store::Store& store, std::string_view tenant_name) {
  if (tenant_name.empty()) {
    return std::string();
  }
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  return tenant.id;
}

Result<store::AuditVerification> verifyAudit(store::Store& store, std::string_view tenant_name) {
  FL_ASSIGN_OR_RETURN(std::string chain, auditChainId(store, tenant_name));
  return store.verifyAuditChain(chain);
}

Status exportAudit(store::Store& store, std::string_view tenant_name, std::int64_t since_ns,
                   audit::ExportFormat format,
                   const std::function<Status(std::string_view chunk)>& write) {
  FL_ASSIGN_OR_RETURN(std::string chain, auditChainId(store, tenant_name));
  if (format == audit::ExportFormat::Csv) {
    FL_RETURN_IF_ERROR(write(audit::csvHeader()));
  }
  store::AuditQuery query;
  query.since_ns = since_ns;
  query.limit = store::kAuditMaxPageEntries;
  std::string chunk;
  for (;;) {
    FL_ASSIGN_OR_RETURN(store::AuditPage page, store.queryAudit(chain, query));
    chunk.clear();
    for (const store::AuditEntry& entry : page.entries) {
      if (format == audit::ExportFormat::Csv) {
        chunk += audit::csvRow(entry);
      } else {
        chunk += audit::entryJson(entry);
        chunk += '\n';
      }
    }
    if (!chunk.empty()) {
      FL_RETURN_IF_ERROR(write(chunk));
    }
    if (!page.next_after_seq) {
      return Status::ok();
    }
    query.after_seq = *page.next_after_seq;
  }
}

Result<ExportStats> exportLogs(store::Store& store, std::string_view tenant_name,
                               const ExportFilter& filter, const wire::Limits& limits,
                               const std::function<Status(std::string_view chunk)>& write) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  store::BatchQuery query;
  query.source_glob = filter.source_glob;
  query.since_ns = filter.since_ns.value_or(INT64_MIN);
  query.until_ns = filter.until_ns.value_or(INT64_MAX);

  ExportStats stats;
  std::string buffer;
  buffer.reserve(kExportChunkBytes * 2);
  auto flush = [&]() -> Status {
    if (buffer.empty()) {
      return Status::ok();
    }
    stats.bytes += buffer.size();
    Status status = write(buffer);
    buffer.clear();
    return status;
  };
  // Texts the batches do not carry come from the tenant's dictionary, once per id.
  std::unordered_map<std::uint64_t, std::string> dictionary;
  Status lookup_error;
  const wire::TemplateLookup lookup = [&](std::uint64_t id) -> std::optional<std::string_view> {
    auto it = dictionary.find(id);
    if (it == dictionary.end()) {
      auto found = store.findTemplate(tenant.id, id);
      if (!found) {
        if (found.code() != Errc::NotFound) {
          lookup_error = found.status();
        }
        return std::nullopt;
      }
      it = dictionary.emplace(id, std::move(found).value()).first;
    }
    return std::string_view(it->second);
  };
  std::vector<char> source_matches;
  std::string repeated;
  Status status = store.forEachBatch(tenant.id, query, [&](std::string_view payload) -> Status {
    auto decoded = wire::decodeBatch(payload, limits);
    if (!decoded) {
      return Status(Errc::DataLoss, "stored batch does not decode: " + decoded.status().message());
    }
    const wire::DecodedBatch& batch = **decoded;
    ++stats.batches;
    source_matches.assign(batch.sources.size(), 1);
    if (filter.source_glob) {
      for (std::size_t i = 0; i < batch.sources.size(); ++i) {
        std::string path(batch.sources[i]);
        source_matches[i] = ::fnmatch(filter.source_glob->c_str(), path.c_str(), 0) == 0 ? 1 : 0;
      }
    }
    for (std::size_t r = 0; r < batch.records.size(); ++r) {
      const wire::Record& record = batch.records[r];
      if (source_matches[record.source] == 0 || record.ts_ns < query.since_ns ||
          record.ts_ns >= query.until_ns) {
        continue;
      }
      if (record.kind == wire::RecordKind::Aggregate) {
        ++stats.aggregates;
        stats.aggregated_lines += record.count;
        continue;
      }
      const std::size_t line_start = buffer.size();
      Status rendered = wire::renderRecordLine(batch, record, lookup, buffer);
      if (!rendered.isOk()) {
        FL_RETURN_IF_ERROR(lookup_error);
        const std::string where =
            "batch (agent " + batch.header.agent + ", epoch " + std::to_string(batch.header.epoch) +
            ", seq " + std::to_string(batch.header.seq) + ") record " + std::to_string(r);
        if (rendered.code() == Errc::NotFound) {
          return Status(Errc::FailedPrecondition,
                        rendered.message() + " in the dictionary of tenant " + tenant.name +
                            ", used by " + where +
                            " (its text may still be on its way with an earlier batch); "
                            "export stopped");
        }
        return Status(Errc::DataLoss, where + ": " + rendered.message());
      }
      if (!record.no_newline) {
        buffer.push_back('\n');
      }
      ++stats.records;
      ++stats.lines;
      if (record.count > 1) {
        // A deduped line stands for `count` identical lines, written in its place.
        repeated.assign(buffer, line_start, buffer.size() - line_start);
        for (std::uint64_t copy = 1; copy < record.count; ++copy) {
          buffer.append(repeated);
          ++stats.lines;
          if (buffer.size() >= kExportChunkBytes) {
            FL_RETURN_IF_ERROR(flush());
          }
        }
      }
      if (buffer.size() >= kExportChunkBytes) {
        FL_RETURN_IF_ERROR(flush());
      }
    }
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(status);
  FL_RETURN_IF_ERROR(flush());
  return stats;
}

Result<store::Membership> createUser(store::Store& store, audit::AuditRecorder& audit,
                                     const auth::PasswordHasher& passwords,
                                     std::string_view tenant_name, std::string_view email,
                                     std::string_view role, std::string_view password) {
  if (!auth::parseRole(role)) {
    return invalidArgument("invalid role '" + std::string(role) +
                           "': use owner, admin, responder or viewer");
  }
  if (email.find('@') == std::string_view::npos || email.size() > 254) {
    return invalidArgument("invalid e-mail address '" + std::string(email) + "'");
  }
  // Checked (and hashed) before anything is written, even for an existing user.
  FL_ASSIGN_OR_RETURN(std::string password_hash, passwords.hash(password));
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  const std::int64_t now = nowUnixNanos();
  std::string user_id;
  auto created = store.createUser(email, password_hash, now);
  if (created) {
    user_id = created->id;
  } else if (created.code() == Errc::AlreadyExists) {
    FL_ASSIGN_OR_RETURN(store::User existing, store.findUserByEmail(email));
    user_id = existing.id;
  } else {
    return created.status();
  }
  FL_RETURN_IF_ERROR(store.addMembership(tenant.id, user_id, role, now));
  audit::AuditEvent event;
  event.tenant_id = tenant.id;
  event.actor = "admin-cli";
  event.action = "member.add";
  event.target = "user:" + user_id;
  event.detail_json = nlohmann::json{
      {"email", store::normalizeEmail(email)},
      {"role", std::string(role)},
      {"new_user",
       created.isOk()}}.dump();
  event.at_ns = now;
  FL_RETURN_IF_ERROR(audit.record(event));
  return store.findMember(tenant.id, user_id);
}

Result<CreatedApiKey> createApiKey(store::Store& store, audit::AuditRecorder& audit,
                                   std::string_view tenant_name, std::string_view role,
                                   std::optional<std::chrono::nanoseconds> ttl,
                                   std::string_view name) {
  if (!auth::parseRole(role) && role != auth::kIntegrationRole) {
    return invalidArgument("invalid role '" + std::string(role) +
                           "': use owner, admin, responder, viewer or integration");
  }
  if (ttl && ttl->count() <= 0) {
    return invalidArgument("--ttl must be positive");
  }
  if (name.size() > 128) {
    return invalidArgument("--name: at most 128 bytes");
  }
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  const std::int64_t now = nowUnixNanos();
  CreatedApiKey out;
  out.secret = crypto::randomToken(auth::kApiKeyPrefix);
  out.key.id = "key_" + crypto::randomHex(12);
  out.key.tenant_id = tenant.id;
  out.key.name = std::string(name);
  out.key.role = std::string(role);
  out.key.key_hash = crypto::hashSecret(out.secret);
  out.key.created_by = "admin-cli";
  out.key.created_at_ns = now;
  if (ttl) {
    out.key.expires_at_ns = ttl->count() > INT64_MAX - now ? INT64_MAX : now + ttl->count();
  }
  FL_RETURN_IF_ERROR(store.createApiKey(out.key));
  audit::AuditEvent event;
  event.tenant_id = tenant.id;
  event.actor = "admin-cli";
  event.action = "api_key.create";
  event.target = "api_key:" + out.key.id;
  event.detail_json = nlohmann::json{{"role", out.key.role}, {"name", out.key.name}}.dump();
  event.at_ns = now;
  Status recorded = audit.record(event);
  if (!recorded.isOk()) {
    (void)store.revokeApiKey(tenant.id, out.key.id, now);  // never hand out an unaudited key
    return recorded;
  }
  return out;
}

Result<std::string> listAgents(store::Store& store, std::string_view tenant_name) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  FL_ASSIGN_OR_RETURN(auto agents, store.listAgents(tenant.id));
  std::string out =
      "AGENT_ID\tHOSTNAME\tVERSION\tENROLLED_AT\tLAST_SEEN\tLAST_HEARTBEAT\tBATCHES\tRECORDS\t"
      "SPOOL_BATCHES\tLAG_BYTES\n";
  for (const store::AgentSummary& agent : agents) {
    // From the last heartbeat's status document: spool depth and unread bytes over all files.
    std::string spool = "-";
    std::string lag = "-";
    if (!agent.heartbeat_json.empty()) {
      nlohmann::json doc = nlohmann::json::parse(agent.heartbeat_json, nullptr, false);
      if (doc.is_object()) {
        auto s = doc.find("spool");
        if (s != doc.end() && s->is_object() && s->contains("batches") &&
            (*s)["batches"].is_number_unsigned()) {
          spool = std::to_string((*s)["batches"].get<std::uint64_t>());
        }
        auto files = doc.find("files");
        if (files != doc.end() && files->is_array()) {
          std::uint64_t total = 0;
          for (const auto& f : *files) {
            if (f.is_object() && f.value("size", 0ULL) > f.value("read_offset", 0ULL)) {
              total += f.value("size", 0ULL) - f.value("read_offset", 0ULL);
            }
          }
          lag = std::to_string(total);
        }
      }
    }
    out += agent.agent_id + '\t' + printable(agent.hostname) + '\t' + printable(agent.version) +
           '\t' + formatRfc3339Millis(agent.enrolled_at_ns) + '\t' +
           (agent.last_seen_ns == 0 ? "-" : formatRfc3339Millis(agent.last_seen_ns)) + '\t' +
           (agent.last_heartbeat_ns == 0 ? "never" : formatRfc3339Millis(agent.last_heartbeat_ns)) +
           '\t' + std::to_string(agent.batches) + '\t' + std::to_string(agent.records) + '\t' +
           spool + '\t' + lag + '\n';
  }
  return out;
}

Result<events::CreatedIntegration> createIntegration(store::Store& store,
                                                     audit::AuditRecorder& audit,
                                                     std::string_view tenant_name,
                                                     const events::IntegrationRequest& request) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  return events::createIntegration(store, audit, tenant.id, request, {std::string(kAdminActor), ""},
                                   nowUnixNanos());
}

Result<std::string> listIntegrations(store::Store& store, std::string_view tenant_name) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  FL_ASSIGN_OR_RETURN(auto integrations, store.listIntegrations(tenant.id));
  std::string out = "INTEGRATION_ID\tKIND\tNAME\tRPS\tBURST\tCREATED_AT\tREVOKED_AT\n";
  for (const store::Integration& integration : integrations) {
    out += integration.id + "\t" + integration.kind + "\t" + integration.name + "\t" +
           std::to_string(integration.rate_limit_rps) + "\t" +
           std::to_string(integration.rate_limit_burst) + "\t" +
           formatRfc3339Nanos(integration.created_at_ns) + "\t" +
           (integration.revoked_at_ns == 0 ? std::string("-")
                                           : formatRfc3339Nanos(integration.revoked_at_ns)) +
           "\n";
  }
  return out;
}

Status revokeIntegration(store::Store& store, audit::AuditRecorder& audit,
                         std::string_view tenant_name, std::string_view integration_id) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  return events::revokeIntegration(store, audit, tenant.id, integration_id,
                                   {std::string(kAdminActor), ""}, nowUnixNanos());
}

Result<std::string> listIncidents(store::Store& store, std::string_view tenant_name,
                                  std::string_view status) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  std::string out =
      "INCIDENT_ID\tSTATUS\tSEVERITY\tFIRST_EVENT\tLAST_EVENT\tEVENTS\tSERVICES\tTOP_CAUSE\t"
      "CONFIDENCE\tTITLE\n";
  store::IncidentQuery query;
  query.status = std::string(status);
  query.limit = 500;
  for (;;) {
    FL_ASSIGN_OR_RETURN(std::vector<store::IncidentRow> rows,
                        store.listIncidents(tenant.id, query));
    for (const store::IncidentRow& row : rows) {
      nlohmann::json doc = nlohmann::json::parse(row.doc_json, nullptr, false);
      std::string services;
      std::string cause = "-";
      std::string confidence = "-";
      std::uint64_t events = 0;
      if (doc.is_object()) {
        events = doc.value("event_count", std::uint64_t{0});
        const nlohmann::json activity = doc.value("services", nlohmann::json::object());
        for (auto it = activity.begin(); it != activity.end(); ++it) {
          services += (services.empty() ? "" : ",") + it.key();
        }
        auto candidates = doc.value("candidates", nlohmann::json::array());
        if (!candidates.empty()) {
          cause = candidates[0].value("kind", "") + ":" + candidates[0].value("name", "");
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.3f", candidates[0].value("confidence", 0.0));
          confidence = buf;
        }
      }
      out += row.id + '\t' + row.status + '\t' + row.severity + '\t' +
             formatRfc3339Millis(row.first_event_ns) + '\t' +
             formatRfc3339Millis(row.last_event_ns) + '\t' + std::to_string(events) + '\t' +
             printable(services.empty() ? "-" : services) + '\t' + printable(cause) + '\t' +
             confidence + '\t' + printable(row.title) + '\n';
    }
    if (rows.size() < query.limit) {
      return out;
    }
    query.before_first_event_ns = rows.back().first_event_ns;
    query.before_id = rows.back().id;
  }
}

Result<std::string> showIncident(store::Store& store, std::string_view tenant_name,
                                 std::string_view incident_id) {
  FL_ASSIGN_OR_RETURN(store::Tenant tenant, store.findTenantByName(tenant_name));
  FL_ASSIGN_OR_RETURN(store::IncidentRow row, store.findIncident(tenant.id, incident_id));
  nlohmann::json doc = nlohmann::json::parse(row.doc_json, nullptr, false);
  if (!doc.is_object()) {
    return dataLoss("incident " + row.id + ": unreadable document");
  }
  std::string out = "incident " + row.id + "\n";
  out += "title:    " + printable(row.title) + "\n";
  out += "status:   " + row.status + "\nseverity: " + row.severity + "\n";
  out += "assignee: " +
         printable(doc.value("assignee", "-").empty() ? "-" : doc.value("assignee", "-")) + "\n";
  out += "events:   " + std::to_string(doc.value("event_count", std::uint64_t{0})) + " from " +
         formatRfc3339Millis(row.first_event_ns) + " to " + formatRfc3339Millis(row.last_event_ns) +
         "\n";
  out += "graph:    version " + std::to_string(doc.value("graph_version", std::int64_t{0})) + "\n";
  out += "\nRANK\tKIND\tCANDIDATE\tSERVICE\tCONFIDENCE\tSCORE\tEVIDENCE\n";
  int rank = 0;
  const nlohmann::json candidates = doc.value("candidates", nlohmann::json::array());
  for (const auto& candidate : candidates) {
    char numbers[64];
    std::snprintf(numbers, sizeof numbers, "%.3f\t%.3f", candidate.value("confidence", 0.0),
                  candidate.value("score", 0.0));
    std::string evidence;
    const nlohmann::json ids = candidate.value("evidence", nlohmann::json::array());
    for (const auto& id : ids) {
      evidence += (evidence.empty() ? "" : ",") + id.get<std::string>();
    }
    out += std::to_string(++rank) + '\t' + candidate.value("kind", "") + '\t' +
           printable(candidate.value("name", "")) + '\t' +
           printable(candidate.value("service", "")) + '\t' + numbers + '\t' + evidence + '\n';
  }
  out += "\nEVENT CHAIN\n";
  const nlohmann::json chain = doc.value("chain", nlohmann::json::array());
  for (const auto& step : chain) {
    out += "  " + formatRfc3339Millis(step.value("at_ns", std::int64_t{0})) + "  " +
           printable(step.value("service", "")) +
           (step.value("via", "").empty() ? ""
                                          : "  (calls " + printable(step.value("via", "")) + ")") +
           "  " + step.value("event_id", "") + "\n";
  }
  FL_ASSIGN_OR_RETURN(auto timeline, store.listIncidentTimeline(tenant.id, incident_id));
  out += "\nTIMELINE\n";
  for (const store::IncidentTimelineRow& entry : timeline) {
    out += "  " + formatRfc3339Millis(entry.at_ns) + "  " + printable(entry.actor) + "  " +
           entry.kind + "  " + printable(entry.detail_json) + "\n";
  }
  return out;
}

}  // namespace faultline::aggregator::admin
