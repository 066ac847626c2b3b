#include "aggregator/config/aggregator_config.h"

#include <chrono>
#include <limits>

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
      {"log.format", OptionType::String, "text",
       "text (for people) or json (one object per line: ts, level, component, msg, fields)"},
      {"metrics.enabled", OptionType::Bool, "true",
       "serve GET /metrics (Prometheus text, unauthenticated: restrict it at the network)"},
      {"audit.api_token_file", OptionType::String, "",
       "file holding the bearer token for GET /v1/audit (at least 32 characters); empty: the "
       "route answers 401 (until users and roles exist)"},
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

  wire::Limits& batch = config.batch_limits;
  batch.max_compressed_bytes = limits.max_body_bytes;
  FL_ASSIGN_OR_RETURN(batch.max_records,
                      positive("limits.max_batch_records",
                               nonNegative(table.getInt("limits.max_batch_records")), 1 << 26));
  FL_ASSIGN_OR_RETURN(batch.max_decompressed_bytes,
                      positive("limits.max_decompressed_bytes",
                               table.getByteSize("limits.max_decompressed_bytes"), kMaxBytes));

  FL_ASSIGN_OR_RETURN(
      config.ready_max_pending_writes,
      positive("limits.ready_max_pending_writes",
               nonNegative(table.getInt("limits.ready_max_pending_writes")), 1 << 20));
  config.metrics_enabled = table.getBool("metrics.enabled");
  config.audit_api_token_file = table.getString("audit.api_token_file");
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
