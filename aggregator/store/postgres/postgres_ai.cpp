// The PostgreSQL engine's AI tables (migration 13): runbooks per incident, scoped by tenant_id
// and row-level security.
#include "aggregator/store/postgres/postgres_store.h"

namespace faultline::aggregator::store::postgres {
namespace {

constexpr std::string_view kTenantSetting = "faultline.tenant_id";

constexpr Statement kUpsertAiRunbook{
    "fl_upsert_ai_runbook",
    "INSERT INTO ai_runbooks(tenant_id, incident_id, body_json, provider, updated_by, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, incident_id) DO UPDATE "
    "SET body_json = excluded.body_json, provider = excluded.provider, "
    "updated_by = excluded.updated_by, updated_at = excluded.updated_at"};
constexpr Statement kFindAiRunbook{
    "fl_find_ai_runbook",
    "SELECT body_json, provider, updated_by, updated_at FROM ai_runbooks "
    "WHERE tenant_id = $1 AND incident_id = $2"};

}  // namespace

Status PostgresStore::putAiRunbook(const AiRunbookRecord& record) {
  if (record.body_json.size() > kMaxAiRunbookBytes) {
    return invalidArgument("ai runbook: at most " + std::to_string(kMaxAiRunbookBytes) + " bytes");
  }
  Params params;
  params.text(record.tenant_id)
      .text(record.incident_id)
      .text(record.body_json)
      .text(record.provider)
      .text(record.updated_by)
      .int64(record.updated_at_ns);
  auto written = scopedWrite(kTenantSetting, record.tenant_id, kUpsertAiRunbook, params);
  if (written.status().code() == Errc::AlreadyExists) {
    return notFound("ai runbook: no such tenant");
  }
  return written.status();
}

Result<AiRunbookRecord> PostgresStore::findAiRunbook(std::string_view tenant_id,
                                                     std::string_view incident_id) {
  Params params;
  params.text(tenant_id).text(incident_id);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kFindAiRunbook, params));
  if (r.rows() == 0) {
    return notFound("no runbook for this incident in this tenant");
  }
  AiRunbookRecord record;
  record.tenant_id = std::string(tenant_id);
  record.incident_id = std::string(incident_id);
  record.body_json = std::string(r.bytes(0, 0));
  record.provider = std::string(r.bytes(0, 1));
  record.updated_by = std::string(r.bytes(0, 2));
  record.updated_at_ns = r.int64(0, 3);
  return record;
}

}  // namespace faultline::aggregator::store::postgres
