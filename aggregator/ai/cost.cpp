#include "aggregator/ai/cost.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "shared/util/crypto.h"
#include "shared/util/time.h"

namespace faultline::aggregator::ai {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool parsePrice(std::string_view text, double* out) {
  std::string copy(text);
  if (copy.empty()) {
    return false;
  }
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value) || value < 0.0) {
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

Result<std::pair<std::string, ModelPrice>> parseModelPrice(std::string_view text) {
  const std::size_t eq = text.rfind('=');
  const std::size_t slash = text.rfind('/');
  if (eq == std::string_view::npos || eq == 0 || slash == std::string_view::npos || slash < eq) {
    return invalidArgument("ai.prices: each \"model=input/output\" (per million tokens), got '" +
                           std::string(text) + "'");
  }
  ModelPrice price;
  if (!parsePrice(text.substr(eq + 1, slash - eq - 1), &price.input_per_mtok) ||
      !parsePrice(text.substr(slash + 1), &price.output_per_mtok)) {
    return invalidArgument("ai.prices: prices are non-negative numbers, got '" + std::string(text) +
                           "'");
  }
  return std::make_pair(std::string(text.substr(0, eq)), price);
}

std::string normalizePrompt(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (isSpace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) {
      out += ' ';
    }
    space = false;
    out += c;
  }
  return out;
}

std::string cacheKey(std::string_view provider, std::string_view model, std::string_view system,
                     std::string_view user) {
  // provider, model, system and user, each ended by a NUL so no two splits hash alike.
  std::string material;
  material.append(provider).push_back('\0');
  material.append(model).push_back('\0');
  material.append(normalizePrompt(system)).push_back('\0');
  material.append(normalizePrompt(user));
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(material.data()),
                     material.size());
  return crypto::hexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::int64_t estimateTokens(std::size_t prompt_bytes, std::size_t max_answer_tokens) {
  return static_cast<std::int64_t>((prompt_bytes + 3) / 4 + max_answer_tokens);
}

std::string utcDay(std::int64_t unix_nanos) {
  return formatRfc3339Millis(unix_nanos).substr(0, 10);
}

std::string utcMonth(std::int64_t unix_nanos) {
  return formatRfc3339Millis(unix_nanos).substr(0, 7);
}

CostControl::CostControl(store::Store& store, CostOptions options, Clock now)
    : store_(store), options_(std::move(options)), now_(std::move(now)) {
  if (!now_) {
    now_ = [] { return nowUnixNanos(); };
  }
}

std::int64_t CostControl::now() const {
  return now_();
}

Result<TokenReservation> CostControl::reserve(std::string_view tenant_id, std::int64_t tokens) {
  const std::int64_t at = now();
  store::AiTokenReservation request;
  request.tenant_id = std::string(tenant_id);
  request.day = utcDay(at);
  request.month = utcMonth(at);
  request.tokens = tokens;
  request.daily_limit = options_.daily_tokens;
  request.monthly_limit = options_.monthly_tokens;
  FL_ASSIGN_OR_RETURN(store::AiReservationResult result, store_.reserveAiTokens(request));
  if (!result.granted) {
    const bool day = result.refused_by == "day";
    const std::int64_t used = day ? result.day_used : result.month_used;
    const std::int64_t limit = day ? options_.daily_tokens : options_.monthly_tokens;
    return Status(Errc::ResourceExhausted,
                  std::string("token budget for ") + (day ? "today" : "this month") +
                      " reached: " + std::to_string(used) + "/" + std::to_string(limit) +
                      " tokens used, the call needs up to " + std::to_string(tokens));
  }
  TokenReservation reservation;
  reservation.tenant_id = std::move(request.tenant_id);
  reservation.day = std::move(request.day);
  reservation.month = std::move(request.month);
  reservation.tokens = tokens;
  return reservation;
}

Status CostControl::settle(const TokenReservation& reservation, std::int64_t spent) {
  return store_.adjustAiTokens(reservation.tenant_id, reservation.day, reservation.month,
                               spent - reservation.tokens);
}

Result<std::string> CostControl::cachedAnswer(std::string_view tenant_id, std::string_view key) {
  if (!options_.cache) {
    return notFound("the response cache is off");
  }
  const std::int64_t min_created = now() - static_cast<std::int64_t>(options_.cache_ttl.count());
  FL_ASSIGN_OR_RETURN(store::AiCachedAnswer answer,
                      store_.findAiCachedAnswer(tenant_id, key, min_created));
  return std::move(answer.answer);
}

Status CostControl::remember(std::string_view tenant_id, std::string_view key,
                             std::string_view provider, std::string_view model,
                             std::string_view answer) {
  if (!options_.cache || answer.size() > store::kMaxAiCachedAnswerBytes) {
    return Status::ok();  // off, or not worth keeping
  }
  store::AiCachedAnswer entry;
  entry.tenant_id = std::string(tenant_id);
  entry.key = std::string(key);
  entry.provider = std::string(provider);
  entry.model = std::string(model);
  entry.answer = std::string(answer);
  entry.created_at_ns = now();
  return store_.putAiCachedAnswer(
      entry, entry.created_at_ns - static_cast<std::int64_t>(options_.cache_ttl.count()));
}

std::int64_t CostControl::costMicros(std::string_view model, std::int64_t prompt_tokens,
                                     std::int64_t completion_tokens) const {
  auto found = options_.prices.find(std::string(model));
  if (found == options_.prices.end()) {
    return 0;
  }
  // price per million tokens * tokens / 1e6 units = price * tokens millionths.
  return std::llround(found->second.input_per_mtok * static_cast<double>(prompt_tokens) +
                      found->second.output_per_mtok * static_cast<double>(completion_tokens));
}

Status CostControl::record(store::AiUsageRecord record) {
  if (record.at_ns == 0) {
    record.at_ns = now();
  }
  record.day = utcDay(record.at_ns);
  record.cost_micros = costMicros(record.model, record.prompt_tokens, record.completion_tokens);
  return store_.appendAiUsage(record);
}

Result<std::pair<BudgetPeriod, BudgetPeriod>> CostControl::budget(std::string_view tenant_id) {
  const std::int64_t at = now();
  BudgetPeriod day;
  day.period = utcDay(at);
  day.limit = options_.daily_tokens;
  BudgetPeriod month;
  month.period = utcMonth(at);
  month.limit = options_.monthly_tokens;
  FL_ASSIGN_OR_RETURN(auto used, store_.aiTokensUsed(tenant_id, day.period, month.period));
  day.used = used.first;
  month.used = used.second;
  for (BudgetPeriod* period : {&day, &month}) {
    period->remaining =
        period->limit > 0 ? std::max<std::int64_t>(0, period->limit - period->used) : -1;
  }
  return std::make_pair(day, month);
}

}  // namespace faultline::aggregator::ai
