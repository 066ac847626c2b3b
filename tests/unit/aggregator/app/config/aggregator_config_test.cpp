#include "aggregator/config/aggregator_config.h"

#include <doctest/doctest.h>

using namespace faultline;
using faultline::aggregator::config::aggregatorOptions;
using faultline::aggregator::config::resolveConfig;

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
