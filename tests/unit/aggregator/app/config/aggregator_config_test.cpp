#include "aggregator/config/aggregator_config.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>
#include <string>

using namespace faultline;
using faultline::aggregator::config::aggregatorOptions;
using faultline::aggregator::config::resolveConfig;

namespace {

/// Each of `bad` ("key = value") in [section], alone, is refused with an error naming
/// section.key.
void checkEachBadValueNamesItsKey(const std::string& section,
                                  std::initializer_list<const char*> bad) {
  for (const char* line : bad) {
    config::OptionTable table(aggregatorOptions());
    REQUIRE(table.loadString("[" + section + "]\n" + line + "\n", "bad.toml").isOk());
    auto resolved = resolveConfig(table);
    REQUIRE_FALSE(resolved.isOk());
    const std::string key = std::string(line).substr(0, std::string(line).find(' '));
    CHECK_MESSAGE(resolved.status().message().find(section + "." + key) != std::string::npos,
                  resolved.status().message());
  }
}

}  // namespace

TEST_CASE("config: embedded defaults resolve without a file") {
  config::OptionTable table(aggregatorOptions());
  auto resolved = resolveConfig(table);
  REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
  CHECK(resolved->listen_host == "127.0.0.1");
  CHECK(resolved->listen_port == 7070);
  CHECK(resolved->data_dir == "./faultline-data");
  CHECK(resolved->sqlite_path == "./faultline-data/faultline.db");
  CHECK(resolved->server_limits.max_body_bytes == 16u << 20);
  CHECK(resolved->server_limits.max_header_bytes == 16u << 10);
  CHECK(resolved->server_limits.header_timeout == std::chrono::seconds(10));
  CHECK(resolved->server_limits.request_timeout == std::chrono::seconds(60));
  CHECK(resolved->server_limits.idle_timeout == std::chrono::seconds(60));
  CHECK(resolved->server_limits.max_connections == 1024);
  CHECK(resolved->server_limits.worker_threads == 4);
  CHECK(resolved->store_options.sqlite_idle_readers == 4 + 8);  // a reader per worker, kept
  CHECK(resolved->batch_limits.max_records == 1u << 20);
  CHECK(resolved->batch_limits.max_decompressed_bytes == 64u << 20);
  CHECK(resolved->batch_limits.max_compressed_bytes == 16u << 20);
  CHECK(resolved->log_level == log::Level::Info);
  std::string help = table.helpText();
  for (const auto& option : aggregatorOptions()) {
    CHECK(help.find(option.key) != std::string::npos);
  }
}

TEST_CASE("config: a file and overrides apply; bad values name their key") {
  config::OptionTable table(aggregatorOptions());
  REQUIRE(table
              .loadString("[server]\nlisten = \"[::1]:0\"\ndata_dir = \"/var/lib/fl\"\n"
                          "[storage]\nsqlite_path = \"/db/x.db\"\n"
                          "[limits]\nmax_body_bytes = \"1MiB\"\nworker_threads = 2\n",
                          "test.toml")
              .isOk());
  auto resolved = resolveConfig(table);
  REQUIRE(resolved.isOk());
  CHECK(resolved->listen_host == "::1");
  CHECK(resolved->listen_port == 0);
  CHECK(resolved->sqlite_path == "/db/x.db");
  CHECK(resolved->batch_limits.max_compressed_bytes == 1u << 20);
  CHECK(resolved->server_limits.worker_threads == 2);
  CHECK(resolved->store_options.sqlite_idle_readers == 2 + 8);

  auto unknown = table.loadString("[server]\nlisen = \"x\"\n", "typo.toml");
  CHECK_FALSE(unknown.isOk());
  CHECK(unknown.message().find("typo.toml") != std::string::npos);

  REQUIRE(table.set("limits.worker_threads", "0").isOk());
  auto zero = resolveConfig(table);
  CHECK(zero.code() == Errc::InvalidArgument);
  CHECK(zero.status().message().find("limits.worker_threads") != std::string::npos);
  REQUIRE(table.set("limits.worker_threads", "4").isOk());
  REQUIRE(table.set("server.listen", "nonsense").isOk());
  auto listen = resolveConfig(table);
  CHECK(listen.code() == Errc::InvalidArgument);
  CHECK(listen.status().message().find("server.listen") != std::string::npos);
  REQUIRE(table.set("server.listen", "127.0.0.1:1").isOk());
  REQUIRE(table.set("log.level", "loud").isOk());
  CHECK(resolveConfig(table).code() == Errc::InvalidArgument);
}

TEST_CASE("config: TLS certificate and key come both or neither") {
  config::OptionTable table(aggregatorOptions());
  auto plain = resolveConfig(table);
  REQUIRE(plain.isOk());
  CHECK(plain->tls.cert_file.empty());
  CHECK(plain->tls.key_file.empty());

  REQUIRE(table.loadString("[server]\ntls_cert_file = \"/etc/fl/cert.pem\"\n", "tls.toml").isOk());
  auto half = resolveConfig(table);
  CHECK(half.code() == Errc::InvalidArgument);
  CHECK(half.status().message().find("server.tls_key_file") != std::string::npos);

  REQUIRE(table.set("server.tls_key_file", "/etc/fl/key.pem").isOk());
  auto both = resolveConfig(table);
  REQUIRE(both.isOk());
  CHECK(both->tls.cert_file == "/etc/fl/cert.pem");
  CHECK(both->tls.key_file == "/etc/fl/key.pem");

  REQUIRE(table.set("server.tls_cert_file", "").isOk());
  auto key_only = resolveConfig(table);
  CHECK(key_only.code() == Errc::InvalidArgument);
  CHECK(key_only.status().message().find("server.tls_cert_file") != std::string::npos);
}

TEST_CASE("config: authentication and rate-limit settings, each bad value naming its key") {
  config::OptionTable table(aggregatorOptions());
  REQUIRE(table
              .loadString("[auth]\nsession_ttl = \"1h\"\naccess_token_ttl = \"5m\"\n"
                          "password_memory = \"32MiB\"\nsecure_cookie = false\n"
                          "[rate_limit]\nprincipal.rps = 7\nprincipal.burst = 9\n"
                          "tenant.rps = 0\n",
                          "auth.toml")
              .isOk());
  auto resolved = resolveConfig(table);
  REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
  CHECK(resolved->auth.session_ttl == std::chrono::hours(1));
  CHECK(resolved->auth.access_token_ttl == std::chrono::minutes(5));
  CHECK(resolved->auth.password_memory == 32u << 20);
  CHECK_FALSE(resolved->auth.secure_cookie);
  CHECK(resolved->rate_limits.principal.per_second == 7);
  CHECK(resolved->rate_limits.principal.burst == 9);
  CHECK_FALSE(resolved->rate_limits.tenant.enabled());
  CHECK(resolved->rate_limits.client_address.enabled());  // default on

  const std::pair<const char*, const char*> bad[] = {
      {"auth.session_ttl", "0s"},         {"auth.password_memory", "1MiB"},
      {"auth.password_passes", "0"},      {"auth.login_free_failures", "0"},
      {"auth.login_max_lockout", "10ms"}, {"rate_limit.principal.rps", "-1"},
      {"rate_limit.tenant.burst", "0"},
  };
  for (const auto& entry : bad) {
    const auto& key = entry.first;  // not a structured binding: CAPTURE's lambda (clang 14)
    const auto& value = entry.second;
    config::OptionTable fresh(aggregatorOptions());
    if (std::string_view(key) == "rate_limit.tenant.burst") {
      REQUIRE(fresh.set("rate_limit.tenant.rps", "10").isOk());
    }
    CAPTURE(key);
    // Refused when set (the value's type) or when resolved (its range): either way by name.
    Status set = fresh.set(key, value);
    Status refused = set.isOk() ? resolveConfig(fresh).status() : set;
    CHECK(refused.code() == Errc::InvalidArgument);
    CHECK(refused.message().find(key) != std::string::npos);
  }
}

TEST_CASE("config: event stream settings, defaults and each bad value naming its key") {
  {
    config::OptionTable table(aggregatorOptions());
    auto resolved = resolveConfig(table);
    REQUIRE(resolved.isOk());
    CHECK(resolved->events.stream_max_per_tenant == 20);
    CHECK(resolved->events.stream_max_per_node == 500);
    CHECK(resolved->events.stream_heartbeat == std::chrono::seconds(15));
    CHECK(resolved->events.stream_buffer_bytes == 1u << 20);
    CHECK(resolved->events.stream_replay_max == 1000);
  }
  {
    config::OptionTable table(aggregatorOptions());
    REQUIRE(table
                .loadString("[events]\nstream_max_per_tenant = 3\nstream_max_per_node = 7\n"
                            "stream_heartbeat = \"250ms\"\nstream_buffer_bytes = \"256KiB\"\n"
                            "stream_replay_max = 10\n",
                            "events.toml")
                .isOk());
    auto resolved = resolveConfig(table);
    REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
    CHECK(resolved->events.stream_max_per_tenant == 3);
    CHECK(resolved->events.stream_max_per_node == 7);
    CHECK(resolved->events.stream_heartbeat == std::chrono::milliseconds(250));
    CHECK(resolved->events.stream_buffer_bytes == 256u << 10);
    CHECK(resolved->events.stream_replay_max == 10);
  }
  checkEachBadValueNamesItsKey(
      "events",
      {"stream_max_per_tenant = 0", "stream_max_per_node = 0", "stream_heartbeat = \"1ms\"",
       "stream_buffer_bytes = \"1KiB\"", "stream_replay_max = 0"});
}

TEST_CASE("config: transient-alert settings, defaults and each bad value naming its key") {
  {
    config::OptionTable table(aggregatorOptions());
    auto resolved = resolveConfig(table);
    REQUIRE(resolved.isOk());
    CHECK(resolved->noise.transient_episodes == 3);
    CHECK(resolved->noise.transient_max_duration == std::chrono::minutes(5));
    CHECK(resolved->noise.transient_window == std::chrono::hours(24));
  }
  {
    config::OptionTable table(aggregatorOptions());
    REQUIRE(table
                .loadString("[noise]\ntransient_episodes = 0\ntransient_max_duration = \"90s\"\n"
                            "transient_window = \"6h\"\n",
                            "noise.toml")
                .isOk());
    auto resolved = resolveConfig(table);
    REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
    CHECK(resolved->noise.transient_episodes == 0);
    CHECK(resolved->noise.transient_max_duration == std::chrono::seconds(90));
    CHECK(resolved->noise.transient_window == std::chrono::hours(6));
  }
  checkEachBadValueNamesItsKey("noise",
                               {"transient_episodes = -1", "transient_episodes = 16",
                                "transient_max_duration = \"25h\"", "transient_window = \"8d\""});
}

TEST_CASE("config: log_events settings apply, and a bad one names its key") {
  config::OptionTable defaults(aggregatorOptions());
  auto plain = resolveConfig(defaults);
  REQUIRE(plain.isOk());
  CHECK(plain->log_events.enabled);
  CHECK(plain->log_events.max_events_per_batch == 50);
  CHECK(plain->log_events.rate.factor == 5.0);

  config::OptionTable table(aggregatorOptions());
  REQUIRE(table
              .loadString("[log_events]\nenabled = false\nmax_events_per_batch = 7\n"
                          "new_templates_per_batch = 3\nnew_templates_per_service = 2\n"
                          "rate_factor = 10\nrate_min_count = 100\nrate_baseline_minutes = 60\n"
                          "rate_warmup_minutes = 0\nrate_max_keys = 500\n"
                          "rate_drop_percent = 30\nrate_drop_min_baseline = 25\n"
                          "rate_drop_min_service_percent = 40\n",
                          "events.toml")
              .isOk());
  auto resolved = resolveConfig(table);
  REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
  const auto& options = resolved->log_events;
  CHECK_FALSE(options.enabled);
  CHECK(options.max_events_per_batch == 7);
  CHECK(options.new_templates_per_batch == 3);
  CHECK(options.new_templates_per_service == 2);
  CHECK(options.rate.factor == 10.0);
  CHECK(options.rate.min_count == 100);
  CHECK(options.rate.baseline_minutes == 60);
  CHECK(options.rate.warmup_minutes == 0);
  CHECK(options.rate_max_keys == 500);
  CHECK(options.rate.drop_fraction == doctest::Approx(0.3));
  CHECK(options.rate.drop_min_baseline == 25.0);
  CHECK(plain->log_events.rate.drop_fraction == doctest::Approx(0.2));
  CHECK(plain->log_events.rate.drop_min_baseline == 10.0);
  CHECK(options.rate.drop_min_service_volume == doctest::Approx(0.4));
  CHECK(plain->log_events.rate.drop_min_service_volume == doctest::Approx(0.2));

  const std::pair<const char*, const char*> bad[] = {
      {"log_events.max_events_per_batch", "0"},
      {"log_events.max_events_per_batch", "1001"},
      {"log_events.rate_factor", "1"},
      {"log_events.rate_min_count", "0"},
      {"log_events.rate_baseline_minutes", "0"},
      {"log_events.new_templates_per_batch", "-1"},
      {"log_events.rate_max_keys", "0"},
      {"log_events.rate_drop_percent", "95"},
      {"log_events.rate_drop_min_baseline", "0"},
      {"log_events.rate_drop_min_service_percent", "101"},
      {"log_events.rate_drop_min_service_percent", "-1"},
  };
  for (const auto& entry : bad) {
    const auto& key = entry.first;  // not a structured binding: CAPTURE's lambda (clang 14)
    const auto& value = entry.second;
    config::OptionTable fresh(aggregatorOptions());
    CAPTURE(key);
    CAPTURE(value);
    REQUIRE(fresh.set(key, value).isOk());
    Status refused = resolveConfig(fresh).status();
    CHECK(refused.code() == Errc::InvalidArgument);
    CHECK(refused.message().find(key) != std::string::npos);
  }
}

TEST_CASE("config: ai settings, the key from the environment, bad values naming their key") {
  config::OptionTable table(aggregatorOptions());
  auto defaults = resolveConfig(table);
  REQUIRE(defaults.isOk());
  CHECK(defaults->ai.route_runbook.empty());  // offline only
  CHECK(defaults->ai.max_context_bytes == 32u * 1024);
  CHECK(defaults->ai.openai.timeout == std::chrono::seconds(20));

  REQUIRE(table
              .loadString("[ai]\nroute.runbook = [\"openai\", \"anthropic\"]\n"
                          "openai.model = \"m\"\nopenai.timeout = \"2s\"\n"
                          "anthropic.model = \"c\"\n"
                          "anthropic.api_key_env = \"FAULTLINE_TEST_AI_KEY\"\n",
                          "ai.toml")
              .isOk());
  ::setenv("FAULTLINE_TEST_AI_KEY", "sk-from-env", 1);
  auto resolved = resolveConfig(table);
  ::unsetenv("FAULTLINE_TEST_AI_KEY");
  REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
  CHECK(resolved->ai.route_runbook == std::vector<std::string>{"openai", "anthropic"});
  CHECK(resolved->ai.openai.timeout == std::chrono::seconds(2));
  CHECK(resolved->ai.anthropic.api_key == "sk-from-env");
  REQUIRE(table.set("ai.anthropic.api_key", "sk-from-file").isOk());
  CHECK(resolveConfig(table)->ai.anthropic.api_key == "sk-from-file");

  REQUIRE(table.set("ai.anthropic.model", "").isOk());
  auto no_model = resolveConfig(table);
  REQUIRE_FALSE(no_model.isOk());
  CHECK(no_model.status().message().find("ai.anthropic.model") != std::string::npos);
  REQUIRE(table.append("ai.route.runbook", "gemini").isOk());
  auto unknown = resolveConfig(table);
  REQUIRE_FALSE(unknown.isOk());
  CHECK(unknown.status().message().find("ai.route.runbook") != std::string::npos);
}

TEST_CASE("config: ai routes per task and the tenant policy, bad values naming their key") {
  config::OptionTable table(aggregatorOptions());
  auto defaults = resolveConfig(table);
  REQUIRE(defaults.isOk());
  CHECK(defaults->ai.route_summary.empty());
  CHECK(defaults->ai.route_explanation.empty());
  CHECK(defaults->ai.tenant_policy.empty());
  REQUIRE(table
              .loadString("[ai]\nroute.summary = [\"openai\"]\n"
                          "route.explanation = [\"anthropic\", \"openai\"]\n"
                          "tenant_policy = [\"acme: offline\", \"globex: openai\"]\n"
                          "openai.model = \"m\"\nanthropic.model = \"c\"\n",
                          "ai.toml")
              .isOk());
  auto resolved = resolveConfig(table);
  REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
  CHECK(resolved->ai.route_runbook.empty());
  CHECK(resolved->ai.route_summary == std::vector<std::string>{"openai"});
  CHECK(resolved->ai.route_explanation == std::vector<std::string>{"anthropic", "openai"});
  CHECK(resolved->ai.tenant_policy.size() == 2);

  REQUIRE(table.append("ai.tenant_policy", "initech: gemini").isOk());
  auto bad_policy = resolveConfig(table);
  REQUIRE_FALSE(bad_policy.isOk());
  CHECK(bad_policy.status().message().find("ai.tenant_policy") != std::string::npos);
  CHECK(bad_policy.status().message().find("gemini") != std::string::npos);

  config::OptionTable other(aggregatorOptions());
  REQUIRE(other.append("ai.route.explanation", "openai").isOk());
  auto no_model = resolveConfig(other);
  REQUIRE_FALSE(no_model.isOk());
  CHECK(no_model.status().message().find("ai.route.explanation") != std::string::npos);
  REQUIRE(other.append("ai.route.summary", "gemini").isOk());
  auto unknown = resolveConfig(other);
  REQUIRE_FALSE(unknown.isOk());
  CHECK(unknown.status().message().find("ai.route.summary") != std::string::npos);
}

TEST_CASE("config: ai cost control, token budgets, cache and prices, bad values naming their key") {
  config::OptionTable table(aggregatorOptions());
  auto defaults = resolveConfig(table);
  REQUIRE(defaults.isOk());
  CHECK(defaults->ai.daily_tokens == 0);  // no limit
  CHECK(defaults->ai.monthly_tokens == 0);
  CHECK(defaults->ai.cache);
  CHECK(defaults->ai.cache_ttl == std::chrono::hours(24));
  CHECK(defaults->ai.prices.empty());

  REQUIRE(table
              .loadString("[ai]\nbudget.daily_tokens = 5000\nbudget.monthly_tokens = 90000\n"
                          "cache = false\ncache_ttl = \"10m\"\n"
                          "prices = [\"gpt-4o-mini=0.15/0.6\"]\n",
                          "cost.toml")
              .isOk());
  auto resolved = resolveConfig(table);
  REQUIRE_MESSAGE(resolved.isOk(), resolved.status().toString());
  CHECK(resolved->ai.daily_tokens == 5000);
  CHECK(resolved->ai.monthly_tokens == 90000);
  CHECK_FALSE(resolved->ai.cache);
  CHECK(resolved->ai.cache_ttl == std::chrono::minutes(10));
  CHECK(resolved->ai.prices == std::vector<std::string>{"gpt-4o-mini=0.15/0.6"});

  REQUIRE(table.append("ai.prices", "gpt-4o=cheap").isOk());
  auto bad_price = resolveConfig(table);
  REQUIRE_FALSE(bad_price.isOk());
  CHECK(bad_price.status().message().find("ai.prices") != std::string::npos);
  config::OptionTable negative(aggregatorOptions());
  REQUIRE(negative.set("ai.budget.daily_tokens", "-1").isOk());
  auto refused = resolveConfig(negative);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().message().find("ai.budget") != std::string::npos);
}
