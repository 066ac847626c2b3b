// The PostgreSQL engine's AI tables: runbooks per incident (migration 13); token counters,
// cached answers and the usage ledger (migration 14). All scoped by tenant_id and row-level
// security.
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

constexpr Statement kUpsertAiAnswer{
    "fl_upsert_ai_answer",
    "INSERT INTO ai_answers(tenant_id, incident_id, task, body_json, provider, updated_by, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, incident_id, task) "
    "DO UPDATE SET body_json = excluded.body_json, provider = excluded.provider, "
    "updated_by = excluded.updated_by, updated_at = excluded.updated_at"};
constexpr Statement kFindAiAnswer{
    "fl_find_ai_answer",
    "SELECT body_json, provider, updated_by, updated_at FROM ai_answers "
    "WHERE tenant_id = $1 AND incident_id = $2 AND task = $3"};

// A reservation locks its two counter rows (the month's, then the day's: every transaction on
// the counters takes them in that order, so none deadlock) by upserting them unchanged, checks
// the limits against the values it now holds, then adds; a concurrent reservation waits on the
// row locks and sees the committed sum.
constexpr Statement kLockCounter{
    "fl_lock_ai_counter",
    "INSERT INTO ai_token_counters(tenant_id, period, tokens) VALUES ($1, $2, 0) "
    "ON CONFLICT (tenant_id, period) DO UPDATE SET tokens = ai_token_counters.tokens "
    "RETURNING tokens"};
constexpr Statement kAddCounter{"fl_add_ai_counter",
                                "UPDATE ai_token_counters SET tokens = greatest(0, tokens + $2) "
                                "WHERE tenant_id = $1 AND period = $3"};
constexpr Statement kReadCounters{
    "fl_read_ai_counters",
    "SELECT period, tokens FROM ai_token_counters WHERE tenant_id = $1 AND period IN ($2, $3)"};
constexpr Statement kFindCachedAnswer{
    "fl_find_ai_cached_answer",
    "SELECT provider, model, answer, created_at FROM ai_response_cache "
    "WHERE tenant_id = $1 AND cache_key = $2 AND created_at >= $3"};
constexpr Statement kExpireCachedAnswers{
    "fl_expire_ai_cached_answers",
    "DELETE FROM ai_response_cache WHERE tenant_id = $1 AND created_at < $2"};
constexpr Statement kPutCachedAnswer{
    "fl_put_ai_cached_answer",
    "INSERT INTO ai_response_cache(tenant_id, cache_key, provider, model, answer, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, cache_key) DO UPDATE SET "
    "provider = excluded.provider, model = excluded.model, answer = excluded.answer, "
    "created_at = excluded.created_at"};
constexpr Statement kAppendUsage{
    "fl_append_ai_usage",
    "INSERT INTO ai_usage_ledger(tenant_id, at, day, provider, model, task, prompt_tokens, "
    "completion_tokens, cost_micros, cached, outcome) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::bigint::integer, $11)"};
constexpr Statement kUsageTotals{
    "fl_ai_usage_totals",
    "SELECT day, provider, model, count(*)::bigint, sum(cached)::bigint, "
    "sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cost_micros)::bigint, task "
    "FROM ai_usage_ledger WHERE tenant_id = $1 AND at >= $2 AND at < $3 "
    "GROUP BY day, provider, model, task ORDER BY day, provider, model, task"};

Status noTenant(const Status& status, const char* what) {
  if (status.code() == Errc::AlreadyExists) {
    return notFound(std::string(what) + ": no such tenant");
  }
  return status;
}

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

Status PostgresStore::putAiAnswer(const AiAnswerRecord& record) {
  if (record.body_json.size() > kMaxAiAnswerBytes) {
    return invalidArgument("ai answer: at most " + std::to_string(kMaxAiAnswerBytes) + " bytes");
  }
  Params params;
  params.text(record.tenant_id)
      .text(record.incident_id)
      .text(record.task)
      .text(record.body_json)
      .text(record.provider)
      .text(record.updated_by)
      .int64(record.updated_at_ns);
  auto written = scopedWrite(kTenantSetting, record.tenant_id, kUpsertAiAnswer, params);
  return noTenant(written.status(), "ai answer");
}

Result<AiAnswerRecord> PostgresStore::findAiAnswer(std::string_view tenant_id,
                                                   std::string_view incident_id,
                                                   std::string_view task) {
  Params params;
  params.text(tenant_id).text(incident_id).text(task);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kFindAiAnswer, params));
  if (r.rows() == 0) {
    return notFound("no " + std::string(task) + " for this incident in this tenant");
  }
  AiAnswerRecord record;
  record.tenant_id = std::string(tenant_id);
  record.incident_id = std::string(incident_id);
  record.task = std::string(task);
  record.body_json = std::string(r.bytes(0, 0));
  record.provider = std::string(r.bytes(0, 1));
  record.updated_by = std::string(r.bytes(0, 2));
  record.updated_at_ns = r.int64(0, 3);
  return record;
}

Result<AiReservationResult> PostgresStore::reserveAiTokens(const AiTokenReservation& reservation) {
  if (reservation.tokens < 0) {
    return invalidArgument("ai tokens: a reservation is not negative");
  }
  AiReservationResult result;
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    result = AiReservationResult{};
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, reservation.tenant_id));
    // Month first, then day (see kLockCounter).
    const std::string* periods[2] = {&reservation.month, &reservation.day};
    std::int64_t used[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      Params lock;
      lock.text(reservation.tenant_id).text(*periods[i]);
      FL_ASSIGN_OR_RETURN(PgResult r, connection.exec(kLockCounter, lock));
      used[i] = r.rows() > 0 ? r.int64(0, 0) : 0;
    }
    result.month_used = used[0];
    result.day_used = used[1];
    if (reservation.daily_limit > 0 &&
        result.day_used + reservation.tokens > reservation.daily_limit) {
      result.refused_by = "day";
      return Status::ok();
    }
    if (reservation.monthly_limit > 0 &&
        result.month_used + reservation.tokens > reservation.monthly_limit) {
      result.refused_by = "month";
      return Status::ok();
    }
    for (const std::string* period : periods) {
      Params add;
      add.text(reservation.tenant_id).int64(reservation.tokens).text(*period);
      FL_RETURN_IF_ERROR(connection.exec(kAddCounter, add).status());
    }
    result.granted = true;
    return Status::ok();
  });
  FL_RETURN_IF_ERROR(noTenant(status, "ai tokens"));
  return result;
}

Status PostgresStore::adjustAiTokens(std::string_view tenant_id, std::string_view day,
                                     std::string_view month, std::int64_t delta) {
  if (delta == 0) {
    return Status::ok();
  }
  // Month first, then day, like a reservation: the two never wait on each other in a cycle.
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    for (std::string_view period : {month, day}) {
      Params add;
      add.text(tenant_id).int64(delta).text(period);
      FL_RETURN_IF_ERROR(connection.exec(kAddCounter, add).status());
    }
    return Status::ok();
  });
}

Result<std::pair<std::int64_t, std::int64_t>> PostgresStore::aiTokensUsed(
    std::string_view tenant_id, std::string_view day, std::string_view month) {
  Params params;
  params.text(tenant_id).text(day).text(month);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kReadCounters, params));
  std::pair<std::int64_t, std::int64_t> used{0, 0};
  for (int row = 0; row < r.rows(); ++row) {
    if (r.bytes(row, 0) == day) {
      used.first = r.int64(row, 1);
    } else {
      used.second = r.int64(row, 1);
    }
  }
  return used;
}

Result<AiCachedAnswer> PostgresStore::findAiCachedAnswer(std::string_view tenant_id,
                                                         std::string_view key,
                                                         std::int64_t min_created_at_ns) {
  Params params;
  params.text(tenant_id).text(key).int64(min_created_at_ns);
  FL_ASSIGN_OR_RETURN(PgResult r, scopedRead(kTenantSetting, tenant_id, kFindCachedAnswer, params));
  if (r.rows() == 0) {
    return notFound("no cached answer");
  }
  AiCachedAnswer answer;
  answer.tenant_id = std::string(tenant_id);
  answer.key = std::string(key);
  answer.provider = std::string(r.bytes(0, 0));
  answer.model = std::string(r.bytes(0, 1));
  answer.answer = std::string(r.bytes(0, 2));
  answer.created_at_ns = r.int64(0, 3);
  return answer;
}

Status PostgresStore::putAiCachedAnswer(const AiCachedAnswer& answer,
                                        std::int64_t expire_before_ns) {
  if (answer.answer.size() > kMaxAiCachedAnswerBytes) {
    return invalidArgument("ai cache: an answer of at most " +
                           std::to_string(kMaxAiCachedAnswerBytes) + " bytes");
  }
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, answer.tenant_id));
    Params expire;
    expire.text(answer.tenant_id).int64(expire_before_ns);
    FL_RETURN_IF_ERROR(connection.exec(kExpireCachedAnswers, expire).status());
    Params put;
    put.text(answer.tenant_id)
        .text(answer.key)
        .text(answer.provider)
        .text(answer.model)
        .text(answer.answer)
        .int64(answer.created_at_ns);
    return connection.exec(kPutCachedAnswer, put).status();
  });
  return noTenant(status, "ai cache");
}

Status PostgresStore::appendAiUsage(const AiUsageRecord& record) {
  Params params;
  params.text(record.tenant_id)
      .int64(record.at_ns)
      .text(record.day)
      .text(record.provider)
      .text(record.model)
      .text(record.task)
      .int64(record.prompt_tokens)
      .int64(record.completion_tokens)
      .int64(record.cost_micros)
      .int64(record.cached ? 1 : 0)
      .text(record.outcome);
  return noTenant(scopedWrite(kTenantSetting, record.tenant_id, kAppendUsage, params).status(),
                  "ai usage");
}

Result<std::vector<AiUsageTotal>> PostgresStore::aiUsageTotals(std::string_view tenant_id,
                                                               std::int64_t since_ns,
                                                               std::int64_t until_ns) {
  Params params;
  params.text(tenant_id).int64(since_ns).int64(until_ns);
  return readRows<AiUsageTotal>(kTenantSetting, tenant_id, kUsageTotals, params,
                                [](const PgResult& r, int row) {
                                  AiUsageTotal total;
                                  total.day = std::string(r.bytes(row, 0));
                                  total.provider = std::string(r.bytes(row, 1));
                                  total.model = std::string(r.bytes(row, 2));
                                  total.calls = r.int64(row, 3);
                                  total.cached = r.int64(row, 4);
                                  total.prompt_tokens = r.int64(row, 5);
                                  total.completion_tokens = r.int64(row, 6);
                                  total.cost_micros = r.int64(row, 7);
                                  total.task = std::string(r.bytes(row, 8));
                                  return total;
                                });
}

}  // namespace faultline::aggregator::store::postgres
