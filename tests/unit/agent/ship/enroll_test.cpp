#include "agent/enroll/enroll.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "agent/enroll/identity.h"
#include "shared/util/fs.h"
#include "tests/unit/agent/ship/test_http_server.h"
#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using faultline::testing::TempDir;
using faultline::testing::TestHttpServer;
using faultline::testing::TestRequest;
using faultline::testing::TestResponse;

namespace {
TestResponse error(int status, const std::string& code, const std::string& message) {
  return {status,
          {{"Content-Type", "application/json"}},
          R"({"error":{"code":")" + code + R"(","message":")" + message + "\"}}"};
}

TestResponse enrollHandler(const TestRequest& req) {
  if (req.method != "POST" || req.path != "/v1/agents/enroll") {
    return error(404, "not_found", "no route");
  }
  const std::string* type = req.header("content-type");
  if (type == nullptr || *type != "application/json") {
    return error(415, "bad_request", "expected JSON");
  }
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("token") || !body.contains("hostname") ||
      !body.contains("version")) {
    return error(400, "bad_request", "token, hostname and version are required");
  }
  std::string token = body["token"];
  if (token == "good") {
    return {201,
            {{"Content-Type", "application/json"}},
            R"({"agent_id":"agt_abc","secret":"fas_s3cret","tenant":"acme","tenant_id":"t1"})"};
  }
  if (token == "used") {
    return error(409, "token_used", "this enrollment token was already used");
  }
  if (token == "expired") {
    return error(410, "token_expired", "this enrollment token expired");
  }
  if (token == "garbage-answer") {
    return {201, {}, "not json"};
  }
  return error(401, "invalid_token", "unknown enrollment token");
}

EnrollRequest request(const TestHttpServer& server, const std::string& token) {
  EnrollRequest r;
  r.server_url = server.url();
  r.token = token;
  r.hostname = "host-1";
  r.version = "0.1.0";
  r.timeout = std::chrono::milliseconds(5000);
  return r;
}
}  // namespace

TEST_CASE("enroll writes a 0600 identity.json and refuses to overwrite it") {
  TempDir tmp;
  TestHttpServer server(enrollHandler);
  std::string state = fs::join(tmp.path(), "state");
  auto identity = enrollAndSave(request(server, "good"), state, false);
  REQUIRE(identity.isOk());
  CHECK(identity->agent_id == "agt_abc");
  CHECK(identity->tenant == "acme");
  struct stat st {};
  REQUIRE(::stat(identityPath(state).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto loaded = loadIdentity(state);
  REQUIRE(loaded.isOk());
  CHECK(loaded->secret == "fas_s3cret");
  CHECK(loaded->server_url == server.url());
  CHECK(loaded->tenant_id == "t1");
  CHECK_FALSE(loaded->enrolled_at.empty());
  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  nlohmann::json sent = nlohmann::json::parse(requests[0].body);
  CHECK(sent["token"] == "good");
  CHECK(sent["hostname"] == "host-1");
  CHECK(sent["version"] == "0.1.0");

  auto again = enrollAndSave(request(server, "good"), state, false);
  CHECK(again.code() == Errc::AlreadyExists);
  CHECK(again.status().message().find("--force") != std::string::npos);
  CHECK(server.requestCount() == 1);  // refused before asking the server
  CHECK(enrollAndSave(request(server, "good"), state, true).isOk());
}

TEST_CASE("each enrollment error gives the server's message and a distinct code") {
  TempDir tmp;
  TestHttpServer server(enrollHandler);
  struct Case {
    const char* token;
    Errc code;
    const char* text;
  };
  for (const Case& c : {Case{"nope", Errc::Unauthenticated, "unknown enrollment token"},
                        Case{"used", Errc::AlreadyExists, "already used"},
                        Case{"expired", Errc::FailedPrecondition, "expired"},
                        Case{"garbage-answer", Errc::InvalidArgument, "lacks agent_id"}}) {
    CAPTURE(c.token);
    auto result = enrollAndSave(request(server, c.token), tmp.path(), false);
    CHECK(result.code() == c.code);
    CHECK(result.status().message().find(c.text) != std::string::npos);
    struct stat st {};
    CHECK(::stat(identityPath(tmp.path()).c_str(), &st) != 0);  // nothing written
  }
}

TEST_CASE("enroll against nothing listening, or with a bad URL, fails clearly") {
  std::uint16_t port = 0;
  {
    TestHttpServer probe([](const TestRequest&) { return TestResponse{}; });
    port = probe.port();
  }
  EnrollRequest r;
  r.server_url = "http://127.0.0.1:" + std::to_string(port);
  r.token = "good";
  auto result = enroll(r);
  CHECK(result.code() == Errc::Unavailable);
  CHECK(result.status().message().find("cannot reach") != std::string::npos);
  r.server_url = "ftp://example.com";
  CHECK(enroll(r).code() == Errc::InvalidArgument);
}

TEST_CASE("identity and epoch files: missing, corrupt, persisted, fresh state") {
  TempDir tmp;
  auto missing = loadIdentity(tmp.path());
  CHECK(missing.code() == Errc::NotFound);
  CHECK(missing.status().message().find("faultline-agent enroll") != std::string::npos);
  REQUIRE(fs::writeFileAtomic(identityPath(tmp.path()), "{\"agent_id\":1}").isOk());
  CHECK(loadIdentity(tmp.path()).code() == Errc::DataLoss);

  auto epoch = loadOrCreateEpoch(tmp.path(), false);
  REQUIRE(epoch.isOk());
  CHECK(*epoch > 0);
  CHECK(*epoch < (1ULL << 63));
  CHECK(loadOrCreateEpoch(tmp.path(), false).value() == *epoch);
  auto fresh = loadOrCreateEpoch(tmp.path(), true);
  REQUIRE(fresh.isOk());
  CHECK(*fresh != *epoch);
  CHECK(loadOrCreateEpoch(tmp.path(), false).value() == *fresh);
  REQUIRE(fs::writeFileAtomic(fs::join(tmp.path(), kEpochFile), "12x\n").isOk());
  CHECK(loadOrCreateEpoch(tmp.path(), false).code() == Errc::DataLoss);
}
