// Store URLs: engine choice, redaction of passwords, and the config keys that carry them.
#include "aggregator/store/store_url.h"

#include <doctest/doctest.h>

#include "aggregator/config/aggregator_config.h"
#include "aggregator/store/open_store.h"

using namespace faultline;
using namespace faultline::aggregator;
using store::Engine;

TEST_CASE(
    "store url: empty means SQLite at the default path, sqlite:// and postgres:// pick "
    "their engine") {
  auto empty = store::parseStoreUrl("", "/data/faultline.db");
  REQUIRE(empty.isOk());
  CHECK(empty->engine == Engine::Sqlite);
  CHECK(empty->sqlite_path == "/data/faultline.db");

  auto sqlite = store::parseStoreUrl("sqlite:///var/lib/x.db", "/data/faultline.db");
  REQUIRE(sqlite.isOk());
  CHECK(sqlite->engine == Engine::Sqlite);
  CHECK(sqlite->sqlite_path == "/var/lib/x.db");
  CHECK(store::describeStoreLocation(*sqlite) == "sqlite:/var/lib/x.db");

  for (const char* url : {"postgres://fl@db:5432/faultline", "postgresql://fl@db/faultline"}) {
    INFO(url);
    auto pg = store::parseStoreUrl(url, "/data/faultline.db");
    REQUIRE(pg.isOk());
    CHECK(pg->engine == Engine::Postgres);
    CHECK(pg->postgres_url == url);
  }

  CHECK(store::parseStoreUrl("sqlite://", "x").code() == Errc::InvalidArgument);
  auto unknown = store::parseStoreUrl("mysql://root:hunter2@db/x", "x");
  CHECK(unknown.code() == Errc::InvalidArgument);
  CHECK(unknown.status().message().find("hunter2") == std::string::npos);
  CHECK(store::parseStoreUrl("/var/lib/x.db", "x").code() == Errc::InvalidArgument);
}

TEST_CASE("store url: passwords are redacted wherever the URL is shown") {
  CHECK(store::redactStoreUrl("postgres://fl:s3cret@db:5432/faultline") ==
        "postgres://fl:***@db:5432/faultline");
  CHECK(store::redactStoreUrl("postgres://fl@db/faultline?sslmode=require&password=s3cret") ==
        "postgres://fl@db/faultline?sslmode=require&password=***");
  CHECK(store::redactStoreUrl("postgresql://fl:a@b/c@db/x?password=p&password=q") ==
        "postgresql://fl:***@db/x?password=***&password=***");
  CHECK(store::redactStoreUrl("postgres://db:5432/faultline") == "postgres://db:5432/faultline");
  CHECK(store::redactStoreUrl("postgres://fl@db/faultline") == "postgres://fl@db/faultline");
  CHECK(store::redactStoreUrl("sqlite:///x.db") == "sqlite:///x.db");

  std::string url = "postgres://fl:p%40ss@db/x?password=other";
  CHECK(store::redactPasswordsIn("bad token p@ss, p%40ss and other here", url) ==
        "bad token ***, *** and *** here");
  store::StoreLocation location;
  location.engine = Engine::Postgres;
  location.postgres_url = url;
  CHECK(store::describeStoreLocation(location) == "postgres://fl:***@db/x?password=***");
}

TEST_CASE(
    "store url: an unreachable PostgreSQL server is Unavailable, and the error hides the "
    "password") {
  store::StoreLocation location;
  location.engine = Engine::Postgres;
  // Port 1 on loopback: refused at once, no server needed.
  location.postgres_url = "postgresql://faultline:pw%40secret@127.0.0.1:1/faultline";
  store::StoreOptions options;
  options.connect_timeout = std::chrono::seconds(2);
  auto opened = store::openStore(location, options);
  REQUIRE_FALSE(opened.isOk());
  CHECK(opened.code() == Errc::Unavailable);
  std::string message = opened.status().message();
  CHECK(message.find("127.0.0.1") != std::string::npos);
  CHECK(message.find("pw") == std::string::npos);
  CHECK(message.find("secret") == std::string::npos);

  auto malformed = store::StoreLocation{Engine::Postgres, "",
                                        "postgresql://faultline:hunter2@127.0.0.1:1/x?bogus=1"};
  auto refused = store::openStore(malformed, options);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().message().find("hunter2") == std::string::npos);
}

TEST_CASE(
    "config: store.url picks the engine, with pool settings, and it and sqlite_path exclude "
    "each other") {
  faultline::config::OptionTable table(aggregator::config::aggregatorOptions());
  auto defaults = aggregator::config::resolveConfig(table);
  REQUIRE(defaults.isOk());
  CHECK(defaults->store.engine == Engine::Sqlite);
  CHECK(defaults->store.sqlite_path == "./faultline-data/faultline.db");
  CHECK(defaults->store_options.pool_size == 8);
  CHECK(defaults->store_options.pool_timeout == std::chrono::seconds(5));

  REQUIRE(table
              .loadString("[store]\nurl = \"postgres://fl@db/faultline\"\npool_size = 3\n"
                          "pool_timeout = \"250ms\"\n",
                          "store.toml")
              .isOk());
  auto pg = aggregator::config::resolveConfig(table);
  REQUIRE_MESSAGE(pg.isOk(), pg.status().toString());
  CHECK(pg->store.engine == Engine::Postgres);
  CHECK(pg->store.postgres_url == "postgres://fl@db/faultline");
  CHECK(pg->store_options.pool_size == 3);
  CHECK(pg->store_options.pool_timeout == std::chrono::milliseconds(250));

  REQUIRE(table.set("store.url", "sqlite:///tmp/x.db").isOk());
  auto sqlite = aggregator::config::resolveConfig(table);
  REQUIRE(sqlite.isOk());
  CHECK(sqlite->store.engine == Engine::Sqlite);
  CHECK(sqlite->sqlite_path == "/tmp/x.db");

  REQUIRE(table.set("storage.sqlite_path", "/tmp/y.db").isOk());
  auto both = aggregator::config::resolveConfig(table);
  CHECK(both.code() == Errc::InvalidArgument);
  CHECK(both.status().message().find("store.url") != std::string::npos);

  REQUIRE(table.set("storage.sqlite_path", "").isOk());
  REQUIRE(table.set("store.url", "redis://x").isOk());
  CHECK(aggregator::config::resolveConfig(table).code() == Errc::InvalidArgument);
  REQUIRE(table.set("store.url", "").isOk());
  REQUIRE(table.set("store.pool_size", "0").isOk());
  auto zero = aggregator::config::resolveConfig(table);
  CHECK(zero.code() == Errc::InvalidArgument);
  CHECK(zero.status().message().find("store.pool_size") != std::string::npos);
}
