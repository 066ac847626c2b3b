#pragma once

// The aggregator's declared options (one table: validation, defaults, --help-config) and the
// typed settings derived from them.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aggregator/events/log_events.h"
#include "aggregator/http/rate_limiter.h"
#include "aggregator/http/server.h"
#include "aggregator/http/tls_context.h"
#include "aggregator/store/open_store.h"
#include "aggregator/store/store_url.h"
#include "shared/config/option_table.h"
#include "shared/util/log.h"
#include "shared/util/status.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::config {

/// Every option the aggregator reads, with defaults that work with no config file.
std::vector<faultline::config::Option> aggregatorOptions();

/// Typed, validated settings. Built once at start-up; read-only afterwards.
struct AggregatorConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 7070;
  std::string data_dir = "./faultline-data";
  std::string sqlite_path;     // resolved: <data_dir>/faultline.db when not set
  store::StoreLocation store;  // from store.url; SQLite at sqlite_path when empty
  store::StoreOptions store_options;
  http::ServerLimits server_limits;
  http::TlsFiles tls;  // both empty: plain HTTP; both set: HTTPS (files read by serve)
  wire::Limits batch_limits;
  log::Level log_level = log::Level::Info;
  struct {
    std::chrono::seconds session_ttl{12 * 3600};
    std::chrono::seconds invitation_ttl{7 * 24 * 3600};
    std::chrono::seconds access_token_ttl{900};
    std::chrono::seconds signing_key_rotation{24 * 3600};
    std::size_t password_memory = 64 * 1024 * 1024;
    std::uint64_t password_passes = 2;
    int login_free_failures = 5;
    std::chrono::milliseconds login_max_lockout{15 * 60 * 1000};
    bool secure_cookie = true;
    std::chrono::milliseconds credential_cache_ttl{5'000};
  } auth;
  struct {
    http::RateLimitSpec client_address;
    http::RateLimitSpec principal;
    http::RateLimitSpec tenant;
  } rate_limits;
  log::Format log_format = log::Format::Text;
  std::size_t ready_max_pending_writes = 768;  // /readyz high-water mark
  bool metrics_enabled = true;
  std::size_t upload_max_bytes = 256u << 20;  // upload.max_bytes
  std::size_t upload_max_concurrent = 2;      // upload.max_concurrent
  struct {
    std::string sns_cert_host_pattern = "sns.*.amazonaws.com,sns.*.amazonaws.com.cn";
    std::string sns_extra_ca_file;
    bool cloudwatch_verify = true;  // false: CloudWatch bodies unchecked (tests only)
  } webhooks;
  struct {
    std::chrono::nanoseconds flap_window = std::chrono::minutes(15);  // noise.flap_window
    std::uint32_t flap_changes = 4;                                   // noise.flap_changes
    std::chrono::nanoseconds transient_window = std::chrono::hours(24);
    std::chrono::nanoseconds transient_max_duration = std::chrono::minutes(5);
    std::uint32_t transient_episodes = 3;  // noise.transient_episodes
    std::chrono::nanoseconds rules_cache_ttl = std::chrono::seconds(5);
  } noise;
  struct {
    std::size_t stream_max_per_tenant = 20;
    std::size_t stream_max_per_node = 500;
    std::chrono::milliseconds stream_heartbeat{15'000};
    std::size_t stream_buffer_bytes = 1u << 20;
    std::size_t stream_replay_max = 1000;
  } events;
  events::LogEventOptions log_events;  // log_events.*
  struct AiProviderSettings {
    std::string url;
    std::string model;
    std::string api_key;  // ai.<name>.api_key, else the variable ai.<name>.api_key_env names
    std::chrono::milliseconds timeout{20'000};
  };
  struct {
    std::vector<std::string> route_runbook;      // ai.route.runbook
    std::vector<std::string> route_summary;      // ai.route.summary
    std::vector<std::string> route_explanation;  // ai.route.explanation
    std::vector<std::string> tenant_policy;      // ai.tenant_policy (ai/tenant_policy.h)
    std::size_t max_context_bytes = 32 * 1024;
    AiProviderSettings openai;
    AiProviderSettings anthropic;
    std::int64_t daily_tokens = 0;    // ai.budget.daily_tokens (0: no limit)
    std::int64_t monthly_tokens = 0;  // ai.budget.monthly_tokens (0: no limit)
    bool cache = true;                // ai.cache
    std::chrono::nanoseconds cache_ttl = std::chrono::hours(24);  // ai.cache_ttl
    std::vector<std::string> prices;           // ai.prices: "model=input/output" per million tokens
    std::vector<std::string> runbook_folders;  // ai.runbook_folders: "tenant: /path"
    std::chrono::nanoseconds runbook_sync_interval = std::chrono::seconds(60);
    struct {
      std::string provider;            // ai.embeddings.provider: "" (off, BM25 only) | "openai"
      std::string model;               // ai.embeddings.model
      double min_similarity = 0.3;     // ai.embeddings.min_similarity_percent / 100
      std::size_t vector_scan = 5000;  // ai.embeddings.vector_scan
    } embeddings;
  } ai;
};

/// Reads and checks the table (listen address, positive limits, log level, TLS files given
/// both or neither). InvalidArgument names the key at fault. The TLS files are not read here
/// (admin commands do not need them): serve loads them.
Result<AggregatorConfig> resolveConfig(const faultline::config::OptionTable& table);

}  // namespace faultline::aggregator::config
