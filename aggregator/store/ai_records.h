#pragma once

// Rows of the AI tables (migration 13): the runbook generated for an incident (and edited by a
// responder), one per incident and tenant. The body is the runbook's JSON (aggregator/ai).

#include <cstdint>
#include <string>

namespace faultline::aggregator::store {

struct AiRunbookRecord {
  std::string tenant_id;
  std::string incident_id;
  std::string body_json;   // aggregator/ai/runbook.h: runbookToJson
  std::string provider;    // who wrote it: "offline", a provider's name, "edited"
  std::string updated_by;  // "system" or the principal that saved it
  std::int64_t updated_at_ns = 0;
};

/// Bytes of a stored runbook's JSON at most.
inline constexpr std::size_t kMaxAiRunbookBytes = 256 * 1024;

/// The latest summary or explanation written for an incident (migration 16), one per incident,
/// tenant and task. The body is its JSON (aggregator/ai/narrative.h: narrativeToJson).
struct AiAnswerRecord {
  std::string tenant_id;
  std::string incident_id;
  std::string task;  // "summary" | "explanation"
  std::string body_json;
  std::string provider;    // who wrote it: "offline" or a provider's name
  std::string updated_by;  // "system"
  std::int64_t updated_at_ns = 0;
};

/// Bytes of a stored answer's JSON at most.
inline constexpr std::size_t kMaxAiAnswerBytes = 256 * 1024;

}  // namespace faultline::aggregator::store

namespace faultline::aggregator::store {

// --- Cost control (migration 14): token counters per tenant and period, the response cache
// and the usage ledger (aggregator/ai/cost.h).

/// Tokens to add to a tenant's counters of one day ("2026-11-27", UTC) and its month
/// ("2026-11"), unless that takes either past its limit (0: no limit).
struct AiTokenReservation {
  std::string tenant_id;
  std::string day;
  std::string month;
  std::int64_t tokens = 0;
  std::int64_t daily_limit = 0;
  std::int64_t monthly_limit = 0;
};

/// What a reservation found: granted, or refused and why (the counters unchanged).
struct AiReservationResult {
  bool granted = false;
  /// When refused: "day" or "month", the counter that would pass its limit.
  std::string refused_by;
  /// The counters before the reservation.
  std::int64_t day_used = 0;
  std::int64_t month_used = 0;
};

/// A model's answer kept for the same provider, model and normalized prompt.
struct AiCachedAnswer {
  std::string tenant_id;
  std::string key;  // hex sha256 (ai::cacheKey)
  std::string provider;
  std::string model;
  std::string answer;  // the model's answer text, checked again on every hit
  std::int64_t created_at_ns = 0;
};

/// One row of the usage ledger: a provider call (or a cache hit, or a call the budget refused).
struct AiUsageRecord {
  std::string tenant_id;
  std::int64_t at_ns = 0;
  std::string day;  // "2026-11-27" (UTC), for totals per day
  std::string provider;
  std::string model;
  std::string task;  // "runbook", "summary", "explanation"
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cost_micros = 0;  // millionths of the price unit (USD by convention)
  bool cached = false;
  /// "ok", "cached", "rejected" (a guardrail check failed; tokens spent), "error" (transport,
  /// timeout, HTTP status), "over_budget" (no call made).
  std::string outcome;
};

/// Ledger rows of one day, provider and model, added up.
struct AiUsageTotal {
  std::string day;
  std::string provider;
  std::string model;
  std::string task;
  std::int64_t calls = 0;  // rows, cache hits and refusals included
  std::int64_t cached = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cost_micros = 0;
};

/// Bytes of a cached answer at most (larger answers are not cached).
inline constexpr std::size_t kMaxAiCachedAnswerBytes = 256 * 1024;

}  // namespace faultline::aggregator::store
