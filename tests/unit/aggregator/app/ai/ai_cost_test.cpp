// AI cost control (issue 8, aggregator/ai/cost.h) on real stores (SQLite and PostgreSQL,
// store/store_engines.h): token reservations settled and released per tenant, day and month,
// threads racing for the last tokens, the response cache and its TTL, the usage ledger's totals,
// and tenants kept apart.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "aggregator/ai/chat_provider.h"
#include "aggregator/ai/cost.h"
#include "aggregator/ai/router.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

constexpr std::int64_t kDayNs = 24LL * 3600 * 1'000'000'000;
// 2026-11-27T12:00:00Z
constexpr std::int64_t kNoon = 1795780800LL * 1'000'000'000;

store::Tenant newTenant(store::Store& store, const std::string& name) {
  auto tenant = store.createTenant(name, nowUnixNanos());
  REQUIRE_MESSAGE(tenant.isOk(), tenant.status().toString());
  return *tenant;
}

struct Clock {
  std::shared_ptr<std::atomic<std::int64_t>> at =
      std::make_shared<std::atomic<std::int64_t>>(kNoon);
  ai::CostControl::Clock fn() const {
    auto shared = at;
    return [shared] { return shared->load(); };
  }
};

}  // namespace

TEST_CASE("ai cost: prompt normalization, cache keys, estimates, prices, UTC periods") {
  CHECK(ai::normalizePrompt("  a \n\t b  c ") == "a b c");
  const std::string key = ai::cacheKey("openai", "m", "sys", "one  two\nthree");
  CHECK(key.size() == 64);
  CHECK(key == ai::cacheKey("openai", "m", " sys ", "one two three"));
  CHECK(key != ai::cacheKey("openai", "m2", "sys", "one two three"));
  CHECK(key != ai::cacheKey("anthropic", "m", "sys", "one two three"));
  CHECK(key != ai::cacheKey("openai", "m", "sys one", "two three"));
  CHECK(ai::estimateTokens(9, 100) == 103);
  CHECK(ai::utcDay(kNoon) == "2026-11-27");
  CHECK(ai::utcMonth(kNoon) == "2026-11");
  auto price = ai::parseModelPrice("gpt-4o-mini=0.15/0.6");
  REQUIRE(price.isOk());
  CHECK(price->first == "gpt-4o-mini");
  CHECK(price->second.input_per_mtok == doctest::Approx(0.15));
  CHECK(price->second.output_per_mtok == doctest::Approx(0.6));
  CHECK_FALSE(ai::parseModelPrice("nomodel").isOk());
  CHECK_FALSE(ai::parseModelPrice("m=1").isOk());
  CHECK_FALSE(ai::parseModelPrice("m=-1/2").isOk());
  CHECK_FALSE(ai::parseModelPrice("m=x/2").isOk());
}

TEST_CASE_TEMPLATE("ai token budget: reserve, settle and release per tenant, day and month",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = newTenant(*store, "acme");
  store::Tenant other = newTenant(*store, "other");
  Clock clock;
  ai::CostOptions options;
  options.daily_tokens = 1000;
  options.monthly_tokens = 1500;
  ai::CostControl cost(*store, options, clock.fn());

  auto first = cost.reserve(acme.id, 600);
  REQUIRE_MESSAGE(first.isOk(), first.status().toString());
  CHECK(first->day == "2026-11-27");
  CHECK(first->month == "2026-11");
  auto refused = cost.reserve(acme.id, 500);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().code() == Errc::ResourceExhausted);
  CHECK(refused.status().message() ==
        "token budget for today reached: 600/1000 tokens used, the call needs up to 500");
  // Another tenant's budget is its own.
  auto theirs = cost.reserve(other.id, 1000);
  REQUIRE(theirs.isOk());
  // Settled with what was spent: 300 of the 600.
  REQUIRE(cost.settle(*first, 300).isOk());
  auto budget = cost.budget(acme.id);
  REQUIRE(budget.isOk());
  CHECK(budget->first.used == 300);
  CHECK(budget->first.limit == 1000);
  CHECK(budget->first.remaining == 700);
  CHECK(budget->second.used == 300);
  CHECK(budget->second.remaining == 1200);
  auto second = cost.reserve(acme.id, 500);
  REQUIRE(second.isOk());
  CHECK(cost.budget(acme.id)->first.used == 800);
  REQUIRE(cost.release(*second).isOk());  // the call failed: nothing spent
  CHECK(cost.budget(acme.id)->first.used == 300);
  CHECK(cost.budget(other.id)->first.used == 1000);

  // The next day starts afresh; the month keeps counting and stops the third day.
  clock.at->store(kNoon + kDayNs);
  auto big = cost.reserve(acme.id, 1000);
  REQUIRE(big.isOk());
  REQUIRE(cost.settle(*big, 1000).isOk());
  clock.at->store(kNoon + 2 * kDayNs);
  auto month = cost.reserve(acme.id, 300);
  REQUIRE_FALSE(month.isOk());
  CHECK(month.status().message() ==
        "token budget for this month reached: 1300/1500 tokens used, the call needs up to 300");
  CHECK(cost.reserve(acme.id, 200).isOk());
  // Settling never takes a counter below zero; an unknown tenant is NotFound.
  ai::TokenReservation stale{acme.id, "2026-11-01", "2026-11", 5000};
  REQUIRE(cost.release(stale).isOk());
  CHECK(engine.queryInt("SELECT count(*) FROM ai_token_counters WHERE tokens < 0", acme.id) == 0);
  CHECK(cost.reserve("no-such-tenant", 1).status().code() == Errc::NotFound);

  // No limits: everything is granted and still counted.
  ai::CostControl unlimited(*store, ai::CostOptions{}, clock.fn());
  REQUIRE(unlimited.reserve(other.id, 1'000'000).isOk());
  auto state = unlimited.budget(other.id);
  REQUIRE(state.isOk());
  CHECK(state->first.remaining == -1);
  CHECK(state->second.used == 1'001'000);
}

TEST_CASE_TEMPLATE("ai token budget: threads racing for the last tokens never overspend", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = newTenant(*store, "acme");
  ai::CostOptions options;
  options.daily_tokens = 1000;
  Clock clock;
  ai::CostControl cost(*store, options, clock.fn());
  // 900 taken: two threads race for the last 100.
  REQUIRE(cost.reserve(acme.id, 900).isOk());
  std::atomic<int> granted{0};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::atomic<bool> go{false};
  // Each granted reservation is settled at `spent` when that is not negative (settles and
  // reservations touch the same rows concurrently: they must not deadlock).
  auto race = [&](std::int64_t tokens, int tries, std::int64_t spent) {
    while (!go.load()) {
      std::this_thread::yield();
    }
    for (int i = 0; i < tries; ++i) {
      auto got = cost.reserve(acme.id, tokens);
      if (got.isOk()) {
        ++granted;
        if (spent >= 0 && !cost.settle(*got, spent).isOk()) {
          ++errors;
        }
      } else if (got.status().code() == Errc::ResourceExhausted) {
        ++refused;
      } else {
        ++errors;
      }
    }
  };
  {
    std::thread a(race, 100, 1, -1);
    std::thread b(race, 100, 1, -1);
    go = true;
    a.join();
    b.join();
  }
  CHECK(granted.load() == 1);
  CHECK(refused.load() == 1);
  CHECK(cost.budget(acme.id)->first.used == 1000);

  // Many threads, many tries, on a fresh day: exactly limit / size grants.
  clock.at->store(kNoon + kDayNs);
  granted = 0;
  refused = 0;
  go = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back(race, 70, 6, -1);
  }
  go = true;
  for (std::thread& thread : threads) {
    thread.join();
  }
  CHECK(errors.load() == 0);
  CHECK(granted.load() == 1000 / 70);
  CHECK(refused.load() == 36 - 1000 / 70);
  CHECK(cost.budget(acme.id)->first.used == (1000 / 70) * 70);

  // Reservations and settles at once (each call reserves 100 and spends 40): never past the
  // limit, and the day's counter is exactly what was spent.
  clock.at->store(kNoon + 2 * kDayNs);
  granted = 0;
  refused = 0;
  go = false;
  threads.clear();
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back(race, 100, 10, 40);
  }
  go = true;
  for (std::thread& thread : threads) {
    thread.join();
  }
  CHECK(errors.load() == 0);
  CHECK(granted.load() + refused.load() == 60);
  CHECK(granted.load() >= 1000 / 100);
  auto used = cost.budget(acme.id)->first.used;
  CHECK(used == granted.load() * 40);
  CHECK(used <= 1000);
}

TEST_CASE_TEMPLATE("ai response cache: per tenant, expires after its TTL", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = newTenant(*store, "acme");
  store::Tenant other = newTenant(*store, "other");
  Clock clock;
  ai::CostOptions options;
  options.cache_ttl = std::chrono::hours(1);
  ai::CostControl cost(*store, options, clock.fn());
  const std::string key = ai::cacheKey("openai", "m", "sys", "user");
  CHECK(cost.cachedAnswer(acme.id, key).status().code() == Errc::NotFound);
  REQUIRE(cost.remember(acme.id, key, "openai", "m", "{\"summary\":\"x\"}").isOk());
  auto hit = cost.cachedAnswer(acme.id, key);
  REQUIRE(hit.isOk());
  CHECK(*hit == "{\"summary\":\"x\"}");
  CHECK(cost.cachedAnswer(other.id, key).status().code() == Errc::NotFound);
  clock.at->fetch_add(std::chrono::nanoseconds(std::chrono::minutes(59)).count());
  CHECK(cost.cachedAnswer(acme.id, key).isOk());
  clock.at->fetch_add(std::chrono::nanoseconds(std::chrono::minutes(2)).count());
  CHECK(cost.cachedAnswer(acme.id, key).status().code() == Errc::NotFound);
  // A later put drops the tenant's expired answers.
  const std::string key2 = ai::cacheKey("openai", "m", "sys", "another");
  REQUIRE(cost.remember(acme.id, key2, "openai", "m", "{}").isOk());
  CHECK(engine.queryInt("SELECT count(*) FROM ai_response_cache WHERE tenant_id = $1", acme.id) ==
        1);
  CHECK(cost.remember("no-such-tenant", key, "openai", "m", "{}").code() == Errc::NotFound);
  // Off (ai.cache = false): nothing kept, nothing found.
  options.cache = false;
  ai::CostControl off(*store, options, clock.fn());
  CHECK(off.cachedAnswer(acme.id, key2).status().code() == Errc::NotFound);
  REQUIRE(off.remember(other.id, key2, "openai", "m", "{}").isOk());
  CHECK(engine.queryInt("SELECT count(*) FROM ai_response_cache WHERE tenant_id = $1", other.id) ==
        0);
}

TEST_CASE_TEMPLATE("ai usage ledger: totals per day, provider and model, with costs", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = newTenant(*store, "acme");
  store::Tenant other = newTenant(*store, "other");
  Clock clock;
  ai::CostOptions options;
  options.prices["m1"] = {1.0, 2.0};  // per million tokens
  ai::CostControl cost(*store, options, clock.fn());
  auto row = [&](const std::string& tenant, std::int64_t at, const std::string& model,
                 std::int64_t in, std::int64_t out, bool cached, const std::string& outcome,
                 const std::string& task = "runbook") {
    store::AiUsageRecord record;
    record.tenant_id = tenant;
    record.at_ns = at;
    record.provider = "openai";
    record.model = model;
    record.task = task;
    record.prompt_tokens = in;
    record.completion_tokens = out;
    record.cached = cached;
    record.outcome = outcome;
    REQUIRE(cost.record(record).isOk());
  };
  row(acme.id, kNoon, "m1", 1000, 500, false, "ok");
  row(acme.id, kNoon + 1, "m1", 0, 0, true, "cached");
  row(acme.id, kNoon + 2, "m2", 10, 5, false, "rejected");
  row(acme.id, kNoon + kDayNs, "m1", 2000, 0, false, "ok");
  row(acme.id, kNoon + kDayNs + 1, "m1", 300, 30, false, "ok", "summary");
  row(other.id, kNoon, "m1", 99, 99, false, "ok");
  CHECK(cost.costMicros("m1", 1000, 500) == 2000);
  CHECK(cost.costMicros("unpriced", 1000, 500) == 0);

  auto totals = store->aiUsageTotals(acme.id, 0, kNoon + 2 * kDayNs);
  REQUIRE(totals.isOk());
  REQUIRE(totals->size() == 4);
  const store::AiUsageTotal& day1_m1 = (*totals)[0];
  CHECK(day1_m1.task == "runbook");
  CHECK(day1_m1.day == "2026-11-27");
  CHECK(day1_m1.model == "m1");
  CHECK(day1_m1.calls == 2);
  CHECK(day1_m1.cached == 1);
  CHECK(day1_m1.prompt_tokens == 1000);
  CHECK(day1_m1.completion_tokens == 500);
  CHECK(day1_m1.cost_micros == 2000);
  CHECK((*totals)[1].model == "m2");
  CHECK((*totals)[1].cost_micros == 0);
  CHECK((*totals)[2].day == "2026-11-28");
  CHECK((*totals)[2].prompt_tokens == 2000);
  CHECK((*totals)[2].task == "runbook");
  // Each task has its own row: the summary of the same day, provider and model.
  CHECK((*totals)[3].day == "2026-11-28");
  CHECK((*totals)[3].task == "summary");
  CHECK((*totals)[3].prompt_tokens == 300);
  // since <= at < until
  auto first_day = store->aiUsageTotals(acme.id, kNoon + 1, kNoon + kDayNs);
  REQUIRE(first_day.isOk());
  REQUIRE(first_day->size() == 2);
  CHECK((*first_day)[0].calls == 1);
  CHECK((*first_day)[0].prompt_tokens == 0);
  // The other tenant sees its own row only.
  auto theirs = store->aiUsageTotals(other.id, 0, kNoon + 2 * kDayNs);
  REQUIRE(theirs.isOk());
  REQUIRE(theirs->size() == 1);
  CHECK((*theirs)[0].prompt_tokens == 99);
}

namespace {

class RefusingProvider final : public ai::Provider {
 public:
  std::string name() const override { return "metered"; }
  Result<ai::Runbook> generate(const ai::AiContext&) override {
    ++calls;
    return Status(Errc::ResourceExhausted, "metered: token budget for today reached: 5/5");
  }
  int calls = 0;
};

}  // namespace

TEST_CASE("ai router: a spent token budget is not retried, the reason is shown") {
  auto refusing = std::make_shared<RefusingProvider>();
  ai::Router router({refusing});
  ai::AiContext context;
  context.tenant_id = "t";
  context.incident_id = "inc_1";
  ai::Runbook got = router.write(context);
  CHECK(refusing->calls == 1);
  CHECK(got.provider == "offline");
  REQUIRE(got.fallbacks.size() == 1);
  CHECK(got.fallbacks[0] == "metered: token budget for today reached: 5/5");
}

TEST_CASE_TEMPLATE("ai chat provider at its budget makes no call and records the refusal", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = newTenant(*store, "acme");
  Clock clock;
  ai::CostOptions options;
  options.daily_tokens = 100;  // less than the answer's max tokens alone
  auto cost = std::make_shared<ai::CostControl>(*store, options, clock.fn());
  auto client = notify::HttpClient::create({});
  REQUIRE(client.isOk());
  auto redactor = redact::Redactor::create({});
  REQUIRE(redactor.isOk());
  ai::ChatProviderConfig config;
  config.name = "openai";
  config.url = "http://127.0.0.1:1/v1";  // nothing listens: a call would be Unavailable
  config.model = "m";
  auto provider = ai::ChatProvider::create(config, std::move(*client), std::move(*redactor), cost);
  REQUIRE(provider.isOk());
  ai::AiContext context;
  context.tenant_id = acme.id;
  context.incident_id = "inc_1";
  auto answer = (*provider)->generate(context);
  REQUIRE_FALSE(answer.isOk());
  CHECK(answer.status().code() == Errc::ResourceExhausted);
  CHECK(answer.status().message().rfind("openai: token budget for today reached: 0/100", 0) == 0);
  CHECK(cost->budget(acme.id)->first.used == 0);
  // With room, the call is made (and fails: nobody listens), and the reservation is released.
  options.daily_tokens = 0;
  auto roomy = std::make_shared<ai::CostControl>(*store, options, clock.fn());
  auto client2 = notify::HttpClient::create({});
  auto redactor2 = redact::Redactor::create({});
  REQUIRE((client2.isOk() && redactor2.isOk()));
  auto provider2 =
      ai::ChatProvider::create(config, std::move(*client2), std::move(*redactor2), roomy);
  REQUIRE(provider2.isOk());
  CHECK((*provider2)->generate(context).status().code() == Errc::Unavailable);
  CHECK(roomy->budget(acme.id)->first.used == 0);
  auto totals = store->aiUsageTotals(acme.id, 0, kNoon + kDayNs);
  REQUIRE(totals.isOk());
  REQUIRE(totals->size() == 1);
  CHECK(totals->front().calls == 2);  // the refusal and the failed call
  CHECK(engine.queryInt("SELECT count(*) FROM ai_usage_ledger WHERE tenant_id = $1 AND outcome = "
                        "'over_budget'",
                        acme.id) == 1);
}

TEST_CASE_TEMPLATE("ai chat provider: a cache hit costs nothing and must still pass the guardrails",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant acme = newTenant(*store, "acme");
  Clock clock;
  ai::CostOptions options;
  options.daily_tokens = 100;  // too few for a real call: only the cache can answer
  auto cost = std::make_shared<ai::CostControl>(*store, options, clock.fn());
  auto client = notify::HttpClient::create({});
  auto redactor = redact::Redactor::create({});
  REQUIRE((client.isOk() && redactor.isOk()));
  std::shared_ptr<const redact::Redactor> shared_redactor = std::move(*redactor);
  ai::ChatProviderConfig config;
  config.name = "openai";
  config.url = "http://127.0.0.1:1/v1";  // nothing listens
  config.model = "m";
  auto provider = ai::ChatProvider::create(config, std::move(*client), shared_redactor, cost);
  REQUIRE(provider.isOk());
  ai::AiContext context;
  context.tenant_id = acme.id;
  context.incident_id = "inc_1";
  context.title = "db down";
  context.events = {{"evt_1", "db", "connection refused", "error", 1}};
  context.evidence_ids = {"inc_1", "evt_1"};
  ai::Prompt prompt = ai::buildRunbookPrompt(context, *shared_redactor, config.max_context_bytes);
  const std::string key = ai::cacheKey("openai", "m", prompt.system, prompt.user);

  // A cached answer citing an event this context does not hold is not used.
  REQUIRE(cost->remember(acme.id, key, "openai", "m",
                         R"({"summary":"s","diagnosis":"d","steps":[{"action":"a",)"
                         R"("evidence":["evt_gone"]}]})")
              .isOk());
  auto refused = (*provider)->generate(context);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().code() == Errc::ResourceExhausted);  // fell through to the budget

  // One that checks out is the answer: cached, no call, no tokens; its destructive step flagged.
  REQUIRE(cost->remember(acme.id, key, "openai", "m",
                         R"({"summary":"s","diagnosis":"d","steps":[{"action":"a",)"
                         R"("command":"rm -rf /tmp/x","evidence":["evt_1"]}]})")
              .isOk());
  auto hit = (*provider)->generate(context);
  REQUIRE_MESSAGE(hit.isOk(), hit.status().toString());
  CHECK(hit->cached);
  CHECK(hit->provider == "openai");
  REQUIRE(hit->steps.size() == 1);
  CHECK(hit->steps[0].needs_human);
  CHECK(cost->budget(acme.id)->first.used == 0);
  CHECK(engine.queryInt("SELECT count(*) FROM ai_usage_ledger WHERE tenant_id = $1 AND cached = 1 "
                        "AND prompt_tokens = 0 AND outcome = 'cached'",
                        acme.id) == 1);
  // Another tenant with the same prompt has no cache entry.
  store::Tenant other = newTenant(*store, "other");
  context.tenant_id = other.id;
  CHECK((*provider)->generate(context).status().code() == Errc::ResourceExhausted);
}
