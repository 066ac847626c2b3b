#pragma once

// Cost control around model calls (issue 8): per-tenant token budgets per UTC day and month,
// a response cache and a usage ledger with a cost per model. Used by the chat providers
// (chat_provider.h) around each call and by GET /v1/ai/usage.
//
//   budget   before a call, an estimate (prompt bytes / 4 + the answer's max tokens) is
//            reserved on the tenant's day and month counters in one store transaction; a call
//            that would pass a limit is not made (ResourceExhausted: "token budget for today
//            reached: used/limit ..."). After the call the reservation is settled with the
//            provider's reported usage (OpenAI usage.prompt_tokens/completion_tokens,
//            Anthropic usage.input_tokens/output_tokens), or released when nothing was spent.
//   cache    answers kept per tenant under sha256(provider, model, whitespace-collapsed
//            prompt) for a TTL; a hit costs no tokens and is checked by the guardrails again.
//   ledger   one row per provider call, cache hit or refusal: tokens, cost, cached, outcome.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "aggregator/store/store.h"

namespace faultline::aggregator::ai {

/// Price of a model's tokens, per million (USD by convention; cost is kept in millionths).
struct ModelPrice {
  double input_per_mtok = 0.0;
  double output_per_mtok = 0.0;
};

struct CostOptions {
  std::int64_t daily_tokens = 0;    // ai.budget.daily_tokens, 0: no limit
  std::int64_t monthly_tokens = 0;  // ai.budget.monthly_tokens, 0: no limit
  bool cache = true;                // ai.cache
  std::chrono::nanoseconds cache_ttl = std::chrono::hours(24);  // ai.cache_ttl
  std::map<std::string, ModelPrice> prices;                     // by model name (ai.prices)
};

/// Parses "model=input/output" (prices per million tokens, e.g. "gpt-4o-mini=0.15/0.6").
Result<std::pair<std::string, ModelPrice>> parseModelPrice(std::string_view text);

/// The prompt as the cache sees it: whitespace runs collapsed to one space, trimmed.
std::string normalizePrompt(std::string_view text);
/// Hex sha256 of provider, model and the normalized system and user messages.
std::string cacheKey(std::string_view provider, std::string_view model, std::string_view system,
                     std::string_view user);
/// Tokens reserved for a call: prompt bytes / 4 (rounded up) + the answer's max tokens.
std::int64_t estimateTokens(std::size_t prompt_bytes, std::size_t max_answer_tokens);

/// "2026-11-27" and "2026-11" of a time (UTC).
std::string utcDay(std::int64_t unix_nanos);
std::string utcMonth(std::int64_t unix_nanos);

/// A granted reservation, to settle or release exactly once.
struct TokenReservation {
  std::string tenant_id;
  std::string day;
  std::string month;
  std::int64_t tokens = 0;
};

/// One period's budget: used (reserved and settled), limit (0: none), remaining (-1: no limit).
struct BudgetPeriod {
  std::string period;  // "2026-11-27" / "2026-11"
  std::int64_t used = 0;
  std::int64_t limit = 0;
  std::int64_t remaining = -1;
};

/// Thread-safe (the store serializes what must be).
class CostControl {
 public:
  using Clock = std::function<std::int64_t()>;
  CostControl(store::Store& store, CostOptions options, Clock now = nullptr);

  const CostOptions& options() const { return options_; }
  std::int64_t now() const;

  /// Reserves `tokens` for the tenant. ResourceExhausted with the reason when a limit would
  /// be passed (nothing reserved); other errors from the store.
  Result<TokenReservation> reserve(std::string_view tenant_id, std::int64_t tokens);
  /// Replaces the reservation with what was spent (may be more or less than reserved).
  Status settle(const TokenReservation& reservation, std::int64_t spent);
  /// Gives the whole reservation back (nothing was spent).
  Status release(const TokenReservation& reservation) { return settle(reservation, 0); }

  /// The tenant's cached answer for `key`, if one younger than the TTL exists (NotFound when
  /// none, or the cache is off).
  Result<std::string> cachedAnswer(std::string_view tenant_id, std::string_view key);
  Status remember(std::string_view tenant_id, std::string_view key, std::string_view provider,
                  std::string_view model, std::string_view answer);

  /// Cost in millionths of the price unit (0 for a model without a price).
  std::int64_t costMicros(std::string_view model, std::int64_t prompt_tokens,
                          std::int64_t completion_tokens) const;
  /// Appends a ledger row (day and cost filled in here; `record.at_ns` 0 means now).
  Status record(store::AiUsageRecord record);

  /// Today's and this month's budget for the tenant.
  Result<std::pair<BudgetPeriod, BudgetPeriod>> budget(std::string_view tenant_id);

 private:
  store::Store& store_;
  CostOptions options_;
  Clock now_;
};

}  // namespace faultline::aggregator::ai
