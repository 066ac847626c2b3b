#include "aggregator/config/aggregator_config.h"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <limits>

#include "aggregator/ai/cost.h"
#include "aggregator/ai/tenant_policy.h"
#include "aggregator/knowledge/runbook_folder.h"
#include "aggregator/store/event_records.h"
#include "shared/util/fs.h"

namespace faultline::aggregator::config {

using faultline::config::Option;
using faultline::config::OptionTable;
using faultline::config::OptionType;

std::vector<Option> aggregatorOptions() {
  return {
      {"server.listen", OptionType::String, "127.0.0.1:7070",
       "HOST:PORT or [V6]:PORT to listen on; port 0 picks a free port"},
      {"server.data_dir", OptionType::String, "./faultline-data",
       "directory for the database and other state (created if missing)"},
      {"server.tls_cert_file", OptionType::String, "",
       "PEM certificate, then its chain; with server.tls_key_file the server speaks HTTPS only"},
      {"server.tls_key_file", OptionType::String, "",
       "PEM private key of that certificate, unencrypted (keep the file mode 0600)"},
      {"storage.sqlite_path", OptionType::String, "",
       "SQLite database file; empty means <data_dir>/faultline.db"},
      {"store.url", OptionType::String, "",
       "where the store lives: sqlite:///PATH or postgres://USER@HOST:PORT/DB (postgresql:// "
       "too, libpq URI syntax); empty means SQLite at storage.sqlite_path"},
      {"store.pool_size", OptionType::Int, "8", "PostgreSQL connections at most"},
      {"store.pool_timeout", OptionType::Duration, "5s",
       "wait this long for a free PostgreSQL connection before answering 503"},
      {"store.connect_timeout", OptionType::Duration, "5s",
       "give up connecting to PostgreSQL after this long"},
      {"limits.max_body_bytes", OptionType::ByteSize, "16MiB",
       "largest request body (and compressed batch) accepted"},
      {"limits.max_header_bytes", OptionType::ByteSize, "16KiB",
       "largest request line plus headers"},
      {"limits.header_timeout", OptionType::Duration, "10s",
       "time from a request's first byte to the end of its headers"},
      {"limits.request_timeout", OptionType::Duration, "60s",
       "time from a request's first byte to the end of its body"},
      {"limits.idle_timeout", OptionType::Duration, "60s",
       "close keep-alive connections idle this long"},
      {"limits.max_connections", OptionType::Int, "1024", "open connections at most"},
      {"limits.worker_threads", OptionType::Int, "4", "threads that run request handlers"},
      {"limits.max_batch_records", OptionType::Int, "1048576", "records per batch at most"},
      {"limits.max_decompressed_bytes", OptionType::ByteSize, "64MiB",
       "largest decompressed batch"},
      {"limits.ready_max_pending_writes", OptionType::Int, "768",
       "/readyz answers 503 while this many store writes or more are queued"},
      {"log.level", OptionType::String, "info", "debug, info, warn or error"},
      {"auth.session_ttl", OptionType::Duration, "12h",
       "browser and API sessions from POST /v1/auth/login expire after this long"},
      {"auth.invitation_ttl", OptionType::Duration, "7d", "invitations expire after this long"},
      {"auth.access_token_ttl", OptionType::Duration, "15m",
       "JWT access tokens (POST /v1/auth/token) expire after this long"},
      {"auth.signing_key_rotation", OptionType::Duration, "24h",
       "a new JWT signing key this often; older keys verify until their last token expires"},
      {"auth.password_memory", OptionType::ByteSize, "64MiB",
       "argon2id memory per password hash (libsodium INTERACTIVE is 64MiB)"},
      {"auth.password_passes", OptionType::Int, "2", "argon2id passes per password hash"},
      {"auth.login_free_failures", OptionType::Int, "5",
       "failed logins per e-mail or client address before lockouts begin"},
      {"auth.login_max_lockout", OptionType::Duration, "15m",
       "lockouts start at 1s and double up to this long"},
      {"auth.secure_cookie", OptionType::Bool, "true",
       "mark the session cookie Secure (browsers still send it to http://localhost)"},
      {"auth.credential_cache_ttl", OptionType::Duration, "5s",
       "reuse a session, API-key or agent-secret lookup this long (0 asks the store on every "
       "request); a revocation made through another node is seen within this time"},
      {"rate_limit.client_address.rps", OptionType::Int, "1000",
       "requests per second one client address may make (token bucket); 0 turns it off"},
      {"rate_limit.client_address.burst", OptionType::Int, "5000",
       "requests one client address may make at once before the rate applies"},
      {"rate_limit.principal.rps", OptionType::Int, "100",
       "requests per second one agent, user or API key may make; 0 turns it off"},
      {"rate_limit.principal.burst", OptionType::Int, "1000",
       "requests one principal may make at once before the rate applies"},
      {"rate_limit.tenant.rps", OptionType::Int, "1000",
       "requests per second all of one tenant's principals may make together; 0 turns it off"},
      {"rate_limit.tenant.burst", OptionType::Int, "5000",
       "requests one tenant may make at once before the rate applies"},
      {"log.format", OptionType::String, "text",
       "text (for people) or json (one object per line: ts, level, component, msg, fields)"},
      {"metrics.enabled", OptionType::Bool, "true",
       "serve GET /metrics (Prometheus text, unauthenticated: restrict it at the network)"},
      {"upload.max_bytes", OptionType::ByteSize, "256MiB",
       "largest decompressed log upload (POST /v1/logs/upload; the compressed body is capped by "
       "limits.max_body_bytes)"},
      {"upload.max_concurrent", OptionType::Int, "2",
       "log uploads parsed at once on this node (each holds a worker thread and a CPU); beyond: "
       "503 with Retry-After"},
      {"webhooks.sns_cert_host_pattern", OptionType::String,
       "sns.*.amazonaws.com,sns.*.amazonaws.com.cn",
       "hosts SNS signing certificates and subscription confirmations are fetched from "
       "(https only; '*' is one DNS label; comma-separated)"},
      {"webhooks.sns_extra_ca_file", OptionType::String, "",
       "PEM file of CAs trusted besides the system store for SNS certificate fetches"},
      {"webhooks.cloudwatch_verify", OptionType::Bool, "true",
       "check SNS signatures on CloudWatch deliveries (false only in tests: anyone could post)"},
      {"noise.flap_window", OptionType::Duration, "15m",
       "an alert that changes state noise.flap_changes times within this window flaps"},
      {"noise.flap_changes", OptionType::Int, "4",
       "state changes within noise.flap_window that make an alert flap (it settles at half as "
       "many); 0 turns flapping detection off"},
      {"noise.transient_episodes", OptionType::Int, "3",
       "an alert that resolved by itself within noise.transient_max_duration this many times "
       "within noise.transient_window is transient: its next firings open no incident until "
       "they have fired that long; 0 turns it off"},
      {"noise.transient_max_duration", OptionType::Duration, "5m",
       "how soon after firing an alert must resolve by itself to count as a transient episode"},
      {"noise.transient_window", OptionType::Duration, "24h",
       "how far back transient episodes count"},
      {"noise.rules_cache_ttl", OptionType::Duration, "5s",
       "how long a tenant's suppression rules and maintenance windows are reused before being "
       "read again (changes through this node apply at once); 0 reads them per request"},
      {"events.stream_max_per_tenant", OptionType::Int, "20",
       "open GET /v1/events/stream connections one tenant may hold on this node (beyond: 429)"},
      {"events.stream_max_per_node", OptionType::Int, "500",
       "open GET /v1/events/stream connections on this node (beyond: 503)"},
      {"events.stream_heartbeat", OptionType::Duration, "15s",
       "a ': keepalive' comment on every event stream this often, so proxies keep it open"},
      {"events.stream_buffer_bytes", OptionType::ByteSize, "1MiB",
       "bytes queued for one event stream's client at most; a client further behind is cut off "
       "(it reconnects with Last-Event-ID)"},
      {"events.stream_replay_max", OptionType::Int, "1000",
       "events replayed from the store to a stream reconnecting with Last-Event-ID, at most"},
      {"log_events.enabled", OptionType::Bool, "true",
       "derive events from stored log batches: error lines, new templates, rate spikes"},
      {"log_events.max_events_per_batch", OptionType::Int, "50",
       "log events one batch may produce at most (1..1000); the rest are counted, not stored"},
      {"log_events.new_templates_per_batch", OptionType::Int, "20",
       "new-template events per batch at most; more are folded into one summary per service"},
      {"log_events.new_templates_per_service", OptionType::Int, "5",
       "new-template events per service in one batch at most (a new service does not flood)"},
      {"log_events.rate_factor", OptionType::Int, "5",
       "a template's lines per minute fire a rate spike at this many times its baseline"},
      {"log_events.rate_min_count", OptionType::Int, "50",
       "and only with at least this many lines in the minute"},
      {"log_events.rate_baseline_minutes", OptionType::Int, "30",
       "span of the baseline's moving average, in minutes"},
      {"log_events.rate_warmup_minutes", OptionType::Int, "10",
       "minutes of history a template needs before its rate may fire"},
      {"log_events.rate_max_keys", OptionType::Int, "100000",
       "(tenant, service, template) rates tracked in memory at most"},
      {"log_events.rate_drop_percent", OptionType::Int, "20",
       "a closed minute at or below this percentage of a template's baseline, while its service "
       "keeps logging, is a rate drop (0: drops are not reported)"},
      {"log_events.rate_drop_min_baseline", OptionType::Int, "10",
       "drops are judged only for templates with a baseline of at least this many lines a minute"},
      {"log_events.rate_drop_min_service_percent", OptionType::Int, "20",
       "and only in a minute in which the template's service logged at least this percentage of "
       "its own usual lines (a gap in collection or a dip in traffic is no drop; 0: any minute)"},
      {"ai.route.runbook", OptionType::StringList, "",
       "model providers tried in order for incident runbooks (openai, anthropic), each once more "
       "on a failure; the offline provider (no key, no network) always answers last"},
      {"ai.route.summary", OptionType::StringList, "",
       "model providers tried in order for incident summaries (openai, anthropic); offline last"},
      {"ai.route.explanation", OptionType::StringList, "",
       "model providers tried in order for RCA explanations (openai, anthropic); offline last"},
      {"ai.tenant_policy", OptionType::StringList, "",
       "per-tenant limits on the routes: 'tenant: offline' keeps a tenant's data off every model "
       "provider, 'tenant: openai' allows only those named; '*' is every tenant not listed"},
      {"ai.max_context_bytes", OptionType::ByteSize, "32KiB",
       "largest prompt sent to a model provider (redacted incident facts and quoted passages; "
       "the least useful parts are dropped first)"},
      {"ai.embeddings.provider", OptionType::String, "",
       "embeddings for the knowledge index, combined with BM25 ('' is off: BM25 only; 'openai': "
       "POST <ai.openai.url>/embeddings with ai.openai.api_key and ai.openai.timeout)"},
      {"ai.embeddings.model", OptionType::String, "",
       "embedding model name sent to the provider (required when ai.embeddings.provider is set)"},
      {"ai.embeddings.min_similarity_percent", OptionType::Int, "30",
       "a passage is an embedding hit at this cosine similarity to the query or more, in "
       "percent (0 to 100)"},
      {"ai.embeddings.vector_scan", OptionType::Int, "5000",
       "stored passage vectors scored per search at most (the newest documents' first)"},
      {"ai.openai.url", OptionType::String, "http://127.0.0.1:8000/v1",
       "base URL of the OpenAI-compatible chat completions API"},
      {"ai.openai.model", OptionType::String, "",
       "model name sent to the openai provider (required when it is routed to)"},
      {"ai.openai.api_key", OptionType::String, "",
       "API key of the openai provider (prefer ai.openai.api_key_env; never logged)"},
      {"ai.openai.api_key_env", OptionType::String, "OPENAI_API_KEY",
       "environment variable holding the openai API key when ai.openai.api_key is empty"},
      {"ai.openai.timeout", OptionType::Duration, "20s",
       "deadline of one openai request (connect, send, answer); a timeout is retried once, then "
       "the next provider answers"},
      {"ai.anthropic.url", OptionType::String, "https://api.anthropic.com",
       "base URL of the Anthropic messages API"},
      {"ai.anthropic.model", OptionType::String, "",
       "model name sent to the anthropic provider (required when it is routed to)"},
      {"ai.anthropic.api_key", OptionType::String, "",
       "API key of the anthropic provider (prefer ai.anthropic.api_key_env; never logged)"},
      {"ai.anthropic.api_key_env", OptionType::String, "ANTHROPIC_API_KEY",
       "environment variable holding the anthropic API key when ai.anthropic.api_key is empty"},
      {"ai.anthropic.timeout", OptionType::Duration, "20s",
       "deadline of one anthropic request (connect, send, answer); a timeout is retried once, then "
       "the next provider answers"},
      {"ai.budget.daily_tokens", OptionType::Int, "0",
       "model tokens each tenant may spend per UTC day (prompt + answer, as the provider "
       "reports them); at the limit no call is made and the offline answer is used (0: no limit)"},
      {"ai.budget.monthly_tokens", OptionType::Int, "0",
       "model tokens each tenant may spend per UTC month (0: no limit)"},
      {"ai.cache", OptionType::Bool, "true",
       "reuse a model's answer for the same provider, model and prompt (false: always call)"},
      {"ai.cache_ttl", OptionType::Duration, "24h",
       "how long a model's answer is reused for the same provider, model and prompt (a hit "
       "costs no tokens and is checked again)"},
      {"ai.runbook_folders", OptionType::StringList, "",
       "runbooks kept as Markdown files: 'tenant: /path' entries; every *.md file under the "
       "folder is the tenant's runbook 'folder-<path>', re-read every ai.runbook_sync_interval"},
      {"ai.runbook_sync_interval", OptionType::Duration, "60s",
       "how often the runbook folders are read again (only changed files are written)"},
      {"ai.prices", OptionType::StringList, "",
       "price per million tokens of each model, \"model=input/output\" (e.g. "
       "\"gpt-4o-mini=0.15/0.6\"), for the cost in the usage ledger; unlisted models cost 0"},
  };
}

namespace {
std::chrono::milliseconds toMillis(std::chrono::nanoseconds value) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(value);
}

Result<std::size_t> positive(std::string_view key, std::uint64_t value, std::uint64_t max) {
  if (value == 0 || value > max) {
    return invalidArgument(std::string(key) + ": must be between 1 and " + std::to_string(max) +
                           ", got " + std::to_string(value));
  }
  return static_cast<std::size_t>(value);
}

std::uint64_t nonNegative(std::int64_t value) {
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}
}  // namespace

Result<AggregatorConfig> resolveConfig(const OptionTable& table) {
  AggregatorConfig config;
  auto listen = http::parseListenAddress(table.getString("server.listen"));
  if (!listen) {
    return invalidArgument("server.listen: " + listen.status().message());
  }
  config.listen_host = listen->first;
  config.listen_port = listen->second;
  config.data_dir = table.getString("server.data_dir");
  if (config.data_dir.empty()) {
    return invalidArgument("server.data_dir: must not be empty");
  }
  config.tls.cert_file = table.getString("server.tls_cert_file");
  config.tls.key_file = table.getString("server.tls_key_file");
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    return invalidArgument(
        config.tls.cert_file.empty()
            ? "server.tls_cert_file: must be set too when server.tls_key_file is"
            : "server.tls_key_file: must be set too when server.tls_cert_file is");
  }
  config.sqlite_path = table.getString("storage.sqlite_path");
  std::string store_url = table.getString("store.url");
  if (!store_url.empty() && !config.sqlite_path.empty()) {
    return invalidArgument("store.url and storage.sqlite_path: set one or the other");
  }
  if (config.sqlite_path.empty()) {
    config.sqlite_path = fs::join(config.data_dir, "faultline.db");
  }
  auto location = store::parseStoreUrl(store_url, config.sqlite_path);
  if (!location) {
    return invalidArgument("store.url: " + location.status().message());
  }
  config.store = std::move(location).value();
  if (config.store.engine == store::Engine::Sqlite) {
    config.sqlite_path = config.store.sqlite_path;
  }
  FL_ASSIGN_OR_RETURN(
      config.store_options.pool_size,
      positive("store.pool_size", nonNegative(table.getInt("store.pool_size")), 1000));
  config.store_options.pool_timeout = toMillis(table.getDuration("store.pool_timeout"));
  config.store_options.connect_timeout = toMillis(table.getDuration("store.connect_timeout"));

  constexpr std::uint64_t kMaxBytes = 1ULL << 32;  // 4 GiB: beyond is a typo, not a plan
  http::ServerLimits& limits = config.server_limits;
  FL_ASSIGN_OR_RETURN(
      limits.max_body_bytes,
      positive("limits.max_body_bytes", table.getByteSize("limits.max_body_bytes"), kMaxBytes));
  FL_ASSIGN_OR_RETURN(
      limits.max_header_bytes,
      positive("limits.max_header_bytes", table.getByteSize("limits.max_header_bytes"), 1 << 20));
  limits.header_timeout = toMillis(table.getDuration("limits.header_timeout"));
  limits.request_timeout = toMillis(table.getDuration("limits.request_timeout"));
  limits.idle_timeout = toMillis(table.getDuration("limits.idle_timeout"));
  FL_ASSIGN_OR_RETURN(limits.max_connections,
                      positive("limits.max_connections",
                               nonNegative(table.getInt("limits.max_connections")), 1 << 20));
  FL_ASSIGN_OR_RETURN(
      std::size_t workers,
      positive("limits.worker_threads", nonNegative(table.getInt("limits.worker_threads")), 256));
  limits.worker_threads = static_cast<unsigned>(workers);
  // Every worker may hold a SQLite reader at once, and so may the background threads (the
  // incident engine, the event stream, notifications...): with fewer kept idle, readers were
  // closed and reopened under load (a profile of webhook ingest with 32 workers).
  constexpr std::size_t kBackgroundReaders = 8;
  config.store_options.sqlite_idle_readers = workers + kBackgroundReaders;

  wire::Limits& batch = config.batch_limits;
  batch.max_compressed_bytes = limits.max_body_bytes;
  FL_ASSIGN_OR_RETURN(batch.max_records,
                      positive("limits.max_batch_records",
                               nonNegative(table.getInt("limits.max_batch_records")), 1 << 26));
  FL_ASSIGN_OR_RETURN(batch.max_decompressed_bytes,
                      positive("limits.max_decompressed_bytes",
                               table.getByteSize("limits.max_decompressed_bytes"), kMaxBytes));

  // Authentication. Durations must be positive; argon2 limits within libsodium's bounds.
  auto positiveSeconds = [&](const char* key) -> Result<std::chrono::seconds> {
    auto value = std::chrono::duration_cast<std::chrono::seconds>(table.getDuration(key));
    if (value.count() <= 0) {
      return invalidArgument(std::string(key) + ": must be at least 1s");
    }
    return value;
  };
  FL_ASSIGN_OR_RETURN(config.auth.session_ttl, positiveSeconds("auth.session_ttl"));
  FL_ASSIGN_OR_RETURN(config.auth.invitation_ttl, positiveSeconds("auth.invitation_ttl"));
  FL_ASSIGN_OR_RETURN(config.auth.access_token_ttl, positiveSeconds("auth.access_token_ttl"));
  FL_ASSIGN_OR_RETURN(config.auth.signing_key_rotation,
                      positiveSeconds("auth.signing_key_rotation"));
  const std::uint64_t password_memory = table.getByteSize("auth.password_memory");
  if (password_memory < 8 * 1024 * 1024 || password_memory > (4ULL << 30)) {
    return invalidArgument("auth.password_memory: must be between 8MiB and 4GiB");
  }
  config.auth.password_memory = password_memory;
  config.auth.credential_cache_ttl = toMillis(table.getDuration("auth.credential_cache_ttl"));
  if (config.auth.credential_cache_ttl > std::chrono::minutes(5)) {
    return invalidArgument("auth.credential_cache_ttl: must be at most 5m");
  }
  const std::int64_t passes = table.getInt("auth.password_passes");
  if (passes < 1 || passes > 16) {
    return invalidArgument("auth.password_passes: must be between 1 and 16");
  }
  config.auth.password_passes = static_cast<std::uint64_t>(passes);
  const std::int64_t free_failures = table.getInt("auth.login_free_failures");
  if (free_failures < 1 || free_failures > 1000) {
    return invalidArgument("auth.login_free_failures: must be between 1 and 1000");
  }
  config.auth.login_free_failures = static_cast<int>(free_failures);
  config.auth.login_max_lockout = std::chrono::duration_cast<std::chrono::milliseconds>(
      table.getDuration("auth.login_max_lockout"));
  if (config.auth.login_max_lockout.count() < 1000) {
    return invalidArgument("auth.login_max_lockout: must be at least 1s");
  }
  config.auth.secure_cookie = table.getBool("auth.secure_cookie");

  // Rate limits: rps 0 turns a limit off; a burst below 1 with a rate on is a mistake.
  const std::pair<const char*, http::RateLimitSpec*> rate_limits[] = {
      {"rate_limit.client_address", &config.rate_limits.client_address},
      {"rate_limit.principal", &config.rate_limits.principal},
      {"rate_limit.tenant", &config.rate_limits.tenant},
  };
  for (const auto& [prefix, spec] : rate_limits) {
    const std::string rps_key = std::string(prefix) + ".rps";
    const std::string burst_key = std::string(prefix) + ".burst";
    const std::int64_t rps = table.getInt(rps_key);
    const std::int64_t burst = table.getInt(burst_key);
    if (rps < 0 || rps > 1'000'000) {
      return invalidArgument(rps_key + ": must be between 0 (off) and 1000000, got " +
                             std::to_string(rps));
    }
    if (rps > 0 && (burst < 1 || burst > 100'000'000)) {
      return invalidArgument(burst_key + ": must be between 1 and 100000000, got " +
                             std::to_string(burst));
    }
    spec->per_second = static_cast<double>(rps);
    spec->burst = static_cast<double>(burst);
  }

  FL_ASSIGN_OR_RETURN(
      config.ready_max_pending_writes,
      positive("limits.ready_max_pending_writes",
               nonNegative(table.getInt("limits.ready_max_pending_writes")), 1 << 20));
  config.metrics_enabled = table.getBool("metrics.enabled");
  FL_ASSIGN_OR_RETURN(
      config.upload_max_bytes,
      positive("upload.max_bytes", table.getByteSize("upload.max_bytes"), 1ULL << 40));
  FL_ASSIGN_OR_RETURN(
      config.upload_max_concurrent,
      positive("upload.max_concurrent", nonNegative(table.getInt("upload.max_concurrent")), 1024));
  config.webhooks.sns_cert_host_pattern = table.getString("webhooks.sns_cert_host_pattern");
  config.webhooks.sns_extra_ca_file = table.getString("webhooks.sns_extra_ca_file");
  config.webhooks.cloudwatch_verify = table.getBool("webhooks.cloudwatch_verify");
  config.noise.flap_window = table.getDuration("noise.flap_window");
  if (config.noise.flap_window > std::chrono::hours(24 * 7)) {
    return invalidArgument("noise.flap_window: must be at most 7d");
  }
  const std::int64_t flap_changes = table.getInt("noise.flap_changes");
  if (flap_changes < 0 || flap_changes > 32) {
    return invalidArgument("noise.flap_changes: must be between 0 (off) and 32, got " +
                           std::to_string(flap_changes));
  }
  config.noise.flap_changes = static_cast<std::uint32_t>(flap_changes);
  config.noise.transient_window = table.getDuration("noise.transient_window");
  if (config.noise.transient_window > std::chrono::hours(24 * 7)) {
    return invalidArgument("noise.transient_window: must be at most 7d");
  }
  config.noise.transient_max_duration = table.getDuration("noise.transient_max_duration");
  if (config.noise.transient_max_duration > std::chrono::hours(24)) {
    return invalidArgument("noise.transient_max_duration: must be at most 24h");
  }
  // An alert remembers its last kMaxRememberedChanges state changes: its current firing and
  // the whole episodes (firing, resolve) before it.
  const std::int64_t transient_episodes = table.getInt("noise.transient_episodes");
  constexpr auto kMaxEpisodes = static_cast<std::int64_t>((store::kMaxRememberedChanges - 1) / 2);
  if (transient_episodes < 0 || transient_episodes > kMaxEpisodes) {
    return invalidArgument("noise.transient_episodes: must be between 0 (off) and " +
                           std::to_string(kMaxEpisodes) + ", got " +
                           std::to_string(transient_episodes));
  }
  config.noise.transient_episodes = static_cast<std::uint32_t>(transient_episodes);
  config.noise.rules_cache_ttl = table.getDuration("noise.rules_cache_ttl");
  if (config.noise.rules_cache_ttl > std::chrono::minutes(5)) {
    return invalidArgument("noise.rules_cache_ttl: must be at most 5m");
  }
  FL_ASSIGN_OR_RETURN(config.events.stream_max_per_tenant,
                      positive("events.stream_max_per_tenant",
                               nonNegative(table.getInt("events.stream_max_per_tenant")), 100'000));
  FL_ASSIGN_OR_RETURN(config.events.stream_max_per_node,
                      positive("events.stream_max_per_node",
                               nonNegative(table.getInt("events.stream_max_per_node")), 100'000));
  config.events.stream_heartbeat = toMillis(table.getDuration("events.stream_heartbeat"));
  if (config.events.stream_heartbeat < std::chrono::milliseconds(10) ||
      config.events.stream_heartbeat > std::chrono::hours(1)) {
    return invalidArgument("events.stream_heartbeat: must be between 10ms and 1h");
  }
  FL_ASSIGN_OR_RETURN(config.events.stream_buffer_bytes,
                      positive("events.stream_buffer_bytes",
                               table.getByteSize("events.stream_buffer_bytes"), 1u << 30));
  if (config.events.stream_buffer_bytes < 64 * 1024) {
    return invalidArgument("events.stream_buffer_bytes: must be at least 64KiB (one event)");
  }
  FL_ASSIGN_OR_RETURN(config.events.stream_replay_max,
                      positive("events.stream_replay_max",
                               nonNegative(table.getInt("events.stream_replay_max")), 10'000));
  config.log_events.enabled = table.getBool("log_events.enabled");
  {
    // Integer options of log_events.*: key, bounds, where the value goes.
    struct Bounded {
      const char* key;
      std::int64_t min;
      std::int64_t max;
      std::function<void(std::int64_t)> set;
    };
    events::LogEventOptions& options = config.log_events;
    const Bounded bounded[] = {
        {"log_events.max_events_per_batch", 1, 1000,
         [&](std::int64_t v) { options.max_events_per_batch = static_cast<std::size_t>(v); }},
        {"log_events.new_templates_per_batch", 0, 1000,
         [&](std::int64_t v) { options.new_templates_per_batch = static_cast<std::size_t>(v); }},
        {"log_events.new_templates_per_service", 0, 1000,
         [&](std::int64_t v) { options.new_templates_per_service = static_cast<std::size_t>(v); }},
        {"log_events.rate_factor", 2, 1000,
         [&](std::int64_t v) { options.rate.factor = static_cast<double>(v); }},
        {"log_events.rate_min_count", 1, 1'000'000'000,
         [&](std::int64_t v) { options.rate.min_count = static_cast<std::uint64_t>(v); }},
        {"log_events.rate_baseline_minutes", 1, 7 * 24 * 60,
         [&](std::int64_t v) { options.rate.baseline_minutes = static_cast<std::uint32_t>(v); }},
        {"log_events.rate_warmup_minutes", 0, 7 * 24 * 60,
         [&](std::int64_t v) { options.rate.warmup_minutes = static_cast<std::uint32_t>(v); }},
        {"log_events.rate_max_keys", 1, 100'000'000,
         [&](std::int64_t v) { options.rate_max_keys = static_cast<std::size_t>(v); }},
        {"log_events.rate_drop_percent", 0, 90,
         [&](std::int64_t v) {
           options.rate.drop_fraction = static_cast<double>(v) / 100.0;
           if (v == 0) {
             options.rate.drop_min_baseline = 0;  // off
           }
         }},
        {"log_events.rate_drop_min_baseline", 1, 1'000'000,
         [&](std::int64_t v) {
           if (options.rate.drop_min_baseline != 0) {
             options.rate.drop_min_baseline = static_cast<double>(v);
           }
         }},
        {"log_events.rate_drop_min_service_percent", 0, 100,
         [&](std::int64_t v) {
           options.rate.drop_min_service_volume = static_cast<double>(v) / 100.0;
         }},
    };
    for (const Bounded& option : bounded) {
      const std::int64_t value = table.getInt(option.key);
      if (value < option.min || value > option.max) {
        return invalidArgument(std::string(option.key) + ": must be between " +
                               std::to_string(option.min) + " and " + std::to_string(option.max) +
                               ", got " + std::to_string(value));
      }
      option.set(value);
    }
  }
  for (auto [key, route] : {std::pair{"ai.route.runbook", &config.ai.route_runbook},
                            std::pair{"ai.route.summary", &config.ai.route_summary},
                            std::pair{"ai.route.explanation", &config.ai.route_explanation}}) {
    *route = table.getStringList(key);
    for (const std::string& name : *route) {
      if (name != "openai" && name != "anthropic") {
        return invalidArgument(std::string(key) +
                               ": each provider must be openai or anthropic, got '" + name + "'");
      }
    }
  }
  config.ai.tenant_policy = table.getStringList("ai.tenant_policy");
  FL_RETURN_IF_ERROR(
      ai::TenantPolicy::parse(config.ai.tenant_policy, {"openai", "anthropic"}).status());
  FL_ASSIGN_OR_RETURN(
      config.ai.max_context_bytes,
      positive("ai.max_context_bytes", table.getByteSize("ai.max_context_bytes"), 16u << 20));
  for (auto* provider : {&config.ai.openai, &config.ai.anthropic}) {
    const std::string prefix = provider == &config.ai.openai ? "ai.openai." : "ai.anthropic.";
    provider->url = table.getString(prefix + "url");
    provider->model = table.getString(prefix + "model");
    provider->api_key = table.getString(prefix + "api_key");
    if (provider->api_key.empty()) {
      const std::string env = table.getString(prefix + "api_key_env");
      const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
      provider->api_key = value != nullptr ? value : "";
    }
    provider->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        table.getDuration(prefix + "timeout"));
    if (provider->timeout.count() <= 0) {
      return invalidArgument(prefix + "timeout: must be positive");
    }
  }
  config.ai.daily_tokens = table.getInt("ai.budget.daily_tokens");
  config.ai.monthly_tokens = table.getInt("ai.budget.monthly_tokens");
  if (config.ai.daily_tokens < 0 || config.ai.monthly_tokens < 0) {
    return invalidArgument("ai.budget: token limits are 0 (none) or positive");
  }
  config.ai.cache = table.getBool("ai.cache");
  config.ai.runbook_folders = table.getStringList("ai.runbook_folders");
  FL_RETURN_IF_ERROR(knowledge::parseRunbookFolders(config.ai.runbook_folders).status());
  config.ai.runbook_sync_interval = table.getDuration("ai.runbook_sync_interval");
  if (config.ai.runbook_sync_interval < std::chrono::seconds(1)) {
    return invalidArgument("ai.runbook_sync_interval: must be at least 1s");
  }
  config.ai.cache_ttl = table.getDuration("ai.cache_ttl");
  if (config.ai.cache_ttl.count() <= 0) {
    return invalidArgument("ai.cache_ttl: must be positive");
  }
  config.ai.prices = table.getStringList("ai.prices");
  for (const std::string& price : config.ai.prices) {
    FL_RETURN_IF_ERROR(ai::parseModelPrice(price).status());
  }
  for (auto [key, route] : {std::pair{"ai.route.runbook", &config.ai.route_runbook},
                            std::pair{"ai.route.summary", &config.ai.route_summary},
                            std::pair{"ai.route.explanation", &config.ai.route_explanation}}) {
    for (const std::string& name : *route) {
      const auto& provider = name == "openai" ? config.ai.openai : config.ai.anthropic;
      if (provider.model.empty()) {
        return invalidArgument("ai." + name + ".model: required when " + key + " names " + name);
      }
    }
  }
  config.ai.embeddings.provider = table.getString("ai.embeddings.provider");
  config.ai.embeddings.model = table.getString("ai.embeddings.model");
  if (!config.ai.embeddings.provider.empty()) {
    if (config.ai.embeddings.provider != "openai") {
      return invalidArgument("ai.embeddings.provider: '' (off) or openai, got '" +
                             config.ai.embeddings.provider + "'");
    }
    if (config.ai.embeddings.model.empty()) {
      return invalidArgument("ai.embeddings.model: required when ai.embeddings.provider is set");
    }
  }
  {
    const std::int64_t percent = table.getInt("ai.embeddings.min_similarity_percent");
    if (percent < 0 || percent > 100) {
      return invalidArgument("ai.embeddings.min_similarity_percent: from 0 to 100");
    }
    config.ai.embeddings.min_similarity = static_cast<double>(percent) / 100.0;
  }
  {
    const std::int64_t scan = table.getInt("ai.embeddings.vector_scan");
    if (scan < 1 || scan > 1'000'000) {
      return invalidArgument("ai.embeddings.vector_scan: from 1 to 1000000");
    }
    config.ai.embeddings.vector_scan = static_cast<std::size_t>(scan);
  }
  if (!log::parseFormat(table.getString("log.format"), &config.log_format)) {
    return invalidArgument("log.format: expected text or json, got '" +
                           table.getString("log.format") + "'");
  }
  if (!log::parseLevel(table.getString("log.level"), &config.log_level)) {
    return invalidArgument("log.level: expected debug, info, warn or error, got '" +
                           table.getString("log.level") + "'");
  }
  return config;
}

}  // namespace faultline::aggregator::config
