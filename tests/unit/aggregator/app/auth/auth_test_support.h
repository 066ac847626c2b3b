#pragma once

// Helpers for the identity tests: a recording audit recorder, fast argon2 limits, and an
// AuthApi served over real loopback HTTP on a real SQLite store, with a clock tests can move.

#include <doctest/doctest.h>
#include <sodium.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregator/auth/auth_api.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/serve/routes.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/http/test_support.h"
#include "tests/unit/temp_dir.h"

namespace faultline::aggregator::testing {

/// Keeps every event in memory. It stands in for the store-backed, hash-chained recorder that
/// lands with the merge of branch i4-audit; `fail` makes record() fail like a broken store.
class RecordingAudit final : public audit::AuditRecorder {
 public:
  Status record(const audit::AuditEvent& event) override {
    std::lock_guard lock(mutex_);
    if (fail) {
      return unavailable("audit store down");
    }
    events_.push_back(event);
    return Status::ok();
  }
  std::vector<audit::AuditEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::size_t count(const std::string& action, const std::string& outcome = "") {
    std::size_t n = 0;
    for (const audit::AuditEvent& event : events()) {
      n += event.action == action && (outcome.empty() || event.outcome == outcome) ? 1 : 0;
    }
    return n;
  }
  std::atomic<bool> fail{false};

 private:
  std::mutex mutex_;
  std::vector<audit::AuditEvent> events_;
};

/// libsodium's minimum argon2 limits: the real algorithm, fast enough for hundreds of logins.
inline auth::PasswordHashing fastHashing() {
  return auth::PasswordHashing{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

inline constexpr const char* kPassword = "correct horse battery";
inline constexpr std::int64_t kSecNs = 1'000'000'000;

struct HttpReply {
  int status = 0;
  std::string body;
  http::testing::ClientResponse raw;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string errorCode() const {
    auto doc = json();
    return doc.is_object() && doc.contains("error") ? doc["error"].value("code", "") : "";
  }
};

inline std::unique_ptr<store::sqlite::SqliteStore> openStoreAt(
    const faultline::testing::TempDir& dir) {
  store::sqlite::SqliteStoreOptions options;
  options.path = dir.file("db.sqlite");
  auto opened = store::sqlite::SqliteStore::open(options);
  REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
  return std::move(opened).value();
}

/// One tenant's people and their roles.
struct Member {
  store::User user;
  std::string role;
};

/// The AuthApi on a fresh store (SQLite unless given one) behind a real server on 127.0.0.1.
class AuthHarness {
 public:
  explicit AuthHarness(auth::ThrottleOptions throttle = {}, auth::JwtOptions jwt = {})
      : AuthHarness(nullptr, throttle, jwt) {}
  /// On `store` (any engine); null: a SQLite store in a temp dir.
  static ingest::LogUploadOptions uploadOptions(audit::AuditRecorder& recorder) {
    ingest::LogUploadOptions options;
    options.audit = &recorder;
    return options;
  }
  explicit AuthHarness(std::unique_ptr<store::Store> store, auth::ThrottleOptions throttle = {},
                       auth::JwtOptions jwt = {}, auth::AuthenticatorOptions authenticator = {})
      : store_(store != nullptr ? std::move(store) : openStore(dir_)),
        passwords_(fastHashing()),
        jwt_(*store_, jwt),
        throttle_(throttle),
        api_(*store_, audit, passwords_, jwt_, throttle_, apiOptions(authenticator),
             [this] { return now.load(); }),
        agent_api_(*store_, {}),
        ops_(*store_, agent_api_, serve::OpsOptions{}),
        uploader_(ingest::LogUploader::create(*store_, uploadOptions(audit)).value()) {
    // The whole route table serve() builds, so the role table covers every guarded route.
    http::Router router = serve::buildServerRouter({.agent_api = &agent_api_,
                                                    .auth_api = &api_,
                                                    .store = store_.get(),
                                                    .ops = &ops_,
                                                    .uploader = uploader_.get(),
                                                    .audit = &audit,
                                                    .webhooks = {},
                                                    .noise = nullptr,
                                                    .event_hub = nullptr,
                                                    .event_streams = {},
                                                    .incidents = nullptr,
                                                    .graph_cache = nullptr,
                                                    .span_edges = nullptr,
                                                    .notifier = nullptr,
                                                    .ai_writer = nullptr,
                                                    .ai_cost = nullptr,
                                                    .ai_narrator = nullptr,
                                                    .knowledge_embeddings = nullptr});
    routes_ = router.routes();
    http::ServerLimits limits;
    limits.worker_threads = 2;
    server_ = std::make_unique<http::testing::LoopServer>(std::move(router), limits);
  }

  store::Store& store() { return *store_; }
  auth::AuthApi& api() { return api_; }
  auth::JwtKeys& jwt() { return jwt_; }
  int port() const { return server_->port(); }
  /// The (method, path) of every route the server has.
  const std::vector<http::Router::Route>& routes() const { return routes_; }

  store::Tenant tenant(const std::string& name) {
    auto created = store_->createTenant(name, now.load());
    REQUIRE_MESSAGE(created.isOk(), created.status().toString());
    return *created;
  }

  store::User member(const store::Tenant& tenant, const std::string& email,
                     const std::string& role) {
    auto existing = store_->findUserByEmail(email);
    store::User user;
    if (existing) {
      user = *existing;
    } else {
      auto hash = passwords_.hash(kPassword);
      REQUIRE(hash.isOk());
      auto created = store_->createUser(email, *hash, now.load());
      REQUIRE(created.isOk());
      user = *created;
    }
    REQUIRE(store_->addMembership(tenant.id, user.id, role, now.load()).isOk());
    return user;
  }

  /// A session made directly in the store; returns the fls_ token.
  std::string session(const store::Tenant& tenant, const store::User& user,
                      std::int64_t ttl_ns = 3600 * kSecNs, std::string* csrf = nullptr) {
    std::string token = crypto::randomToken("fls_");
    std::string csrf_token = crypto::randomToken("");
    store::Session s;
    s.token_hash = crypto::hashSecret(token);
    s.user_id = user.id;
    s.tenant_id = tenant.id;
    s.csrf_hash = crypto::hashSecret(csrf_token);
    s.created_at_ns = now.load();
    s.expires_at_ns = now.load() + ttl_ns;
    REQUIRE(store_->createSession(s).isOk());
    if (csrf != nullptr) {
      *csrf = csrf_token;
    }
    return token;
  }

  /// An API key made directly in the store; returns the flk_ key and sets `id`.
  std::string apiKey(const store::Tenant& tenant, const std::string& role,
                     std::string* id = nullptr, std::int64_t expires_at_ns = 0) {
    std::string secret = crypto::randomToken("flk_");
    store::ApiKey key;
    key.id = "key_" + crypto::randomHex(12);
    key.tenant_id = tenant.id;
    key.name = "test";
    key.role = role;
    key.key_hash = crypto::hashSecret(secret);
    key.created_by = "test";
    key.created_at_ns = now.load();
    key.expires_at_ns = expires_at_ns;
    REQUIRE(store_->createApiKey(key).isOk());
    if (id != nullptr) {
      *id = key.id;
    }
    return secret;
  }

  /// An enrolled agent's secret (fas_...).
  std::string agentSecret(const store::Tenant& tenant) {
    std::string token = crypto::randomToken("fet_");
    std::string secret = crypto::randomToken("fas_");
    REQUIRE(store_
                ->createEnrollmentToken(tenant.id, crypto::hashSecret(token), now.load(),
                                        now.load() + 3600 * kSecNs)
                .isOk());
    store::NewAgent agent{crypto::hashSecret(token),
                          "agt_" + crypto::randomHex(8),
                          crypto::hashSecret(secret),
                          "host",
                          "1",
                          now.load()};
    REQUIRE(store_->enrollAgent(agent).isOk());
    return secret;
  }

  /// Sends one request on a new connection.
  HttpReply call(const std::string& method, const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                 const std::string& body = "") {
    http::testing::Client client(port());
    REQUIRE(client.connected());
    std::string text = method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
    for (const auto& [name, value] : headers) {
      text += name + ": " + value + "\r\n";
    }
    if (!body.empty() || method == "POST" || method == "PUT") {
      text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    text += "\r\n" + body;
    REQUIRE(client.send(text));
    auto response = client.readResponse();
    REQUIRE_MESSAGE(response.has_value(), "no response to " << method << " " << path);
    return HttpReply{response->status, response->body, *response};
  }

  HttpReply callJson(const std::string& method, const std::string& path, const nlohmann::json& body,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return call(method, path, headers, body.dump());
  }

  static std::pair<std::string, std::string> bearer(const std::string& token) {
    return {"Authorization", "Bearer " + token};
  }

  RecordingAudit audit;
  std::atomic<std::int64_t> now{nowUnixNanos()};

 private:
  static std::unique_ptr<store::sqlite::SqliteStore> openStore(
      const faultline::testing::TempDir& dir) {
    store::sqlite::SqliteStoreOptions options;
    options.path = dir.file("db.sqlite");
    auto opened = store::sqlite::SqliteStore::open(options);
    REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
    return std::move(opened).value();
  }
  static auth::AuthApiOptions apiOptions(auth::AuthenticatorOptions authenticator) {
    auth::AuthApiOptions options;
    options.secure_cookie = true;
    options.authenticator = authenticator;
    return options;
  }

  faultline::testing::TempDir dir_;  // first: outlives the store
  std::unique_ptr<store::Store> store_;
  auth::PasswordHasher passwords_;
  auth::JwtKeys jwt_;
  auth::LoginThrottle throttle_;
  auth::AuthApi api_;
  ingest::AgentApi agent_api_;
  serve::OpsApi ops_;
  std::unique_ptr<ingest::LogUploader> uploader_;
  std::vector<http::Router::Route> routes_;
  std::unique_ptr<http::testing::LoopServer> server_;
};

}  // namespace faultline::aggregator::testing
