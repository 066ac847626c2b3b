// SNS signature verification against a throwaway PKI made at test time: a CA (trusted through
// webhooks.sns_extra_ca_file), an RSA signing certificate served over real HTTPS on loopback by
// the aggregator's own TLS server, and envelopes built by normalize() from SNS JSON. The last
// case runs the CloudWatch webhook receiver with the verifier over loopback.
#include "aggregator/events/sns_verify.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "aggregator/audit/audit_event.h"
#include "aggregator/events/integrations.h"
#include "aggregator/events/normalize.h"
#include "aggregator/events/webhook_receiver.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/http/test_support.h"
#include "tests/unit/aggregator/http/tls_test_support.h"
#include "tests/unit/temp_dir.h"

using namespace std::chrono_literals;
using faultline::Errc;
using faultline::aggregator::events::decodeBase64;
using faultline::aggregator::events::normalize;
using faultline::aggregator::events::NormalizeContext;
using faultline::aggregator::events::SnsEnvelope;
using faultline::aggregator::events::SnsVerifier;
using faultline::aggregator::events::SnsVerifierOptions;
using faultline::aggregator::events::SourceKind;
using faultline::aggregator::http::Request;
using faultline::aggregator::http::Respond;
using faultline::aggregator::http::Response;
using faultline::aggregator::http::Router;
using faultline::aggregator::http::ServerLimits;
using faultline::aggregator::http::testing::CertSpec;
using faultline::aggregator::http::testing::issue;
using faultline::aggregator::http::testing::KeyAndCert;
using faultline::aggregator::http::testing::KeyType;
using faultline::aggregator::http::testing::LoopServer;
using faultline::aggregator::http::testing::TestPki;
using faultline::testing::TempDir;

namespace {

std::string pemOf(const KeyAndCert& kc) {
  faultline::CPtr<BIO, &BIO_free> bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509(bio.get(), kc.cert.get()) == 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string sign(EVP_PKEY* key, const std::string& text, const EVP_MD* digest) {
  faultline::CPtr<EVP_MD_CTX, &EVP_MD_CTX_free> md(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestSignInit(md.get(), nullptr, digest, nullptr, key) == 1);
  std::size_t size = 0;
  REQUIRE(EVP_DigestSign(md.get(), nullptr, &size,
                         reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1);
  std::string sig(size, '\0');
  REQUIRE(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &size,
                         reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1);
  sig.resize(size);
  return sig;
}

/// A CA, an HTTPS server for localhost, and signing certificates served at /<name>.pem.
struct SnsFixture {
  TempDir dir;
  TestPki pki{dir.path()};
  KeyAndCert signer;
  KeyAndCert expired;
  KeyAndCert stranger;  // signed by a CA nobody trusts
  std::atomic<int> cert_fetches{0};
  std::atomic<int> confirmations{0};
  std::unique_ptr<LoopServer> server;

  SnsFixture() {
    CertSpec spec;
    spec.common_name = "sns.amazonaws.com";
    spec.key_type = KeyType::Rsa2048;
    spec.alt_names = "DNS:sns.amazonaws.com";
    signer = issue(spec, &pki.ca);
    CertSpec old = spec;
    old.valid_from_s = -7200;
    old.valid_until_s = -3600;
    expired = issue(old, &pki.ca);
    CertSpec other_ca;
    other_ca.common_name = "Someone Else's CA";
    other_ca.is_ca = true;
    KeyAndCert rogue_ca = issue(other_ca, nullptr);
    stranger = issue(spec, &rogue_ca);

    Router router;
    auto serve = [this](std::string pem) {
      return [this, pem = std::move(pem)](Request&&, Respond respond) {
        ++cert_fetches;
        Response r;
        r.body = pem;
        respond(std::move(r));
      };
    };
    router.add("GET", "/SimpleNotificationService-good.pem", serve(pemOf(signer)));
    router.add("GET", "/expired.pem", serve(pemOf(expired)));
    router.add("GET", "/stranger.pem", serve(pemOf(stranger)));
    router.add("GET", "/huge.pem", serve(std::string(20 * 1024, 'A')));
    router.add("GET", "/garbage.pem", serve("not a certificate"));
    router.add("GET", "/slow.pem", [](Request&&, Respond respond) {
      std::this_thread::sleep_for(1500ms);
      respond(Response{});
    });
    router.add("GET", "/confirm", [this](Request&& request, Respond respond) {
      auto token = request.queryParam("Token");
      if (token != nullptr && *token == "tok123") {
        ++confirmations;
        respond(Response{});
      } else {
        respond(Response::error(400, "bad_token", "unknown token"));
      }
    });
    server = std::make_unique<LoopServer>(std::move(router), ServerLimits{}, pki.context());
  }

  std::string url(const std::string& path) const {
    return "https://localhost:" + std::to_string(server->port()) + path;
  }

  std::unique_ptr<SnsVerifier> verifier(std::chrono::milliseconds timeout = 5000ms) const {
    SnsVerifierOptions options;
    options.cert_host_pattern = "localhost";
    options.extra_ca_file = pki.ca_file;
    options.fetch_timeout = timeout;
    auto made = SnsVerifier::create(options);
    REQUIRE_MESSAGE(made.isOk(), made.status().toString());
    return std::move(*made);
  }

  /// An SNS notification as JSON, normalized, then signed by `key` with `version`.
  SnsEnvelope notification(const std::string& cert_url, EVP_PKEY* key, const std::string& version,
                           const std::string& message = R"({"AlarmName":"cpu high",)"
                                                        R"("NewStateValue":"ALARM"})") const {
    nlohmann::json doc = {{"Type", "Notification"},
                          {"MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"},
                          {"TopicArn", "arn:aws:sns:us-west-2:123456789012:alarms"},
                          {"Subject", "ALARM: cpu high"},
                          {"Message", message},
                          {"Timestamp", "2026-11-26T21:00:00.000Z"},
                          {"SignatureVersion", version},
                          {"Signature", "AAAA"},
                          {"SigningCertURL", cert_url}};
    NormalizeContext ctx;
    ctx.tenant_id = "t1";
    ctx.integration_id = "i1";
    auto normalized = normalize(SourceKind::kCloudWatch, doc.dump(), ctx);
    REQUIRE_MESSAGE(normalized.isOk(), normalized.status().toString());
    REQUIRE(normalized->sns.has_value());
    SnsEnvelope env = *normalized->sns;
    env.signature =
        base64(sign(key, env.string_to_sign, version == "1" ? EVP_sha1() : EVP_sha256()));
    return env;
  }
};

}  // namespace

TEST_CASE("sns: good signatures, version 1 (SHA1) and 2 (SHA256), certificate fetched once") {
  SnsFixture f;
  auto verifier = f.verifier();
  const std::string cert_url = f.url("/SimpleNotificationService-good.pem");
  for (const char* version : {"1", "2"}) {
    CAPTURE(version);
    SnsEnvelope env = f.notification(cert_url, f.signer.key.get(), version);
    const auto status = verifier->verify(env);
    CHECK_MESSAGE(status.isOk(), status.toString());
  }
  CHECK(f.cert_fetches == 1);
  CHECK(verifier->cachedCertificates() == 1);
}

TEST_CASE("sns: a flipped byte in the message or the signature is refused") {
  SnsFixture f;
  auto verifier = f.verifier();
  const std::string cert_url = f.url("/SimpleNotificationService-good.pem");
  for (const char* version : {"1", "2"}) {
    CAPTURE(version);
    SnsEnvelope env = f.notification(cert_url, f.signer.key.get(), version);
    SnsEnvelope tampered = env;
    tampered.string_to_sign[tampered.string_to_sign.size() / 2] ^= 0x01;
    auto status = verifier->verify(tampered);
    CHECK(status.code() == Errc::Unauthenticated);
    CHECK(status.message().find("does not match") != std::string::npos);

    auto raw = decodeBase64(env.signature);
    REQUIRE(raw.isOk());
    std::string flipped = *raw;
    flipped[7] ^= 0x40;
    tampered = env;
    tampered.signature = base64(flipped);
    status = verifier->verify(tampered);
    CHECK(status.code() == Errc::Unauthenticated);

    tampered = env;
    tampered.signature = "not base64!";
    status = verifier->verify(tampered);
    CHECK(status.code() == Errc::Unauthenticated);
    CHECK(status.message().find("base64") != std::string::npos);

    // Signed by another key than the certificate's.
    auto other = faultline::aggregator::http::testing::makeKey(KeyType::Rsa2048);
    status = verifier->verify(f.notification(cert_url, other.get(), version));
    CHECK(status.code() == Errc::Unauthenticated);
  }
  SnsEnvelope env = f.notification(cert_url, f.signer.key.get(), "2");
  env.signature_version = "3";
  auto status = verifier->verify(env);
  CHECK(status.code() == Errc::Unauthenticated);
  CHECK(status.message().find("SignatureVersion") != std::string::npos);
}

TEST_CASE("sns: certificate URLs on another host, over http, or not .pem are never fetched") {
  SnsFixture f;
  auto verifier = f.verifier();
  const std::string port = std::to_string(f.server->port());
  struct Case {
    std::string url;
    std::string expect;
  };
  const Case cases[] = {
      {"https://127.0.0.1:" + port + "/SimpleNotificationService-good.pem", "not allowed"},
      {"https://evil.example.com/SimpleNotificationService-good.pem", "not allowed"},
      {"https://localhost.evil.example.com:" + port + "/x.pem", "not allowed"},
      {"http://localhost:" + port + "/SimpleNotificationService-good.pem", "https"},
      {"https://localhost:" + port + "/confirm", ".pem"},
      {"https://localhost:" + port + "/x.pem.txt", ".pem"},
      {"https://user@localhost:" + port + "/x.pem", "credentials"},
      {"https://localhost:99999999/x.pem", "port"},
      {"", "https"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.url);
    auto status = verifier->verify(f.notification(c.url, f.signer.key.get(), "2"));
    CHECK(status.code() == Errc::InvalidArgument);
    CHECK_MESSAGE(status.message().find(c.expect) != std::string::npos, status.message());
  }
  CHECK(f.cert_fetches == 0);
}

TEST_CASE("sns: the default host pattern is sns.<region>.amazonaws.com(.cn)") {
  auto made = SnsVerifier::create(SnsVerifierOptions{});
  REQUIRE(made.isOk());
  const SnsVerifier& v = **made;
  for (const char* good :
       {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://SNS.eu-west-3.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem"}) {
    CAPTURE(good);
    CHECK(v.checkUrl(good, true).isOk());
  }
  for (const char* bad :
       {"https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
        "https://evilsns.us-east-1.amazonaws.com/x.pem", "https://sns.a.b.amazonaws.com/x.pem",
        "https://sns..amazonaws.com/x.pem", "https://sns.us-east-1.amazonaws.co/x.pem",
        "https://s3.us-east-1.amazonaws.com/x.pem"}) {
    CAPTURE(bad);
    CHECK(v.checkUrl(bad, true).code() == Errc::InvalidArgument);
  }
  SnsVerifierOptions bad_pattern;
  bad_pattern.cert_host_pattern = "sns.(.*).com";
  CHECK(SnsVerifier::create(bad_pattern).code() == Errc::InvalidArgument);
  SnsVerifierOptions bad_ca;
  bad_ca.extra_ca_file = "/nonexistent/ca.pem";
  auto refused = SnsVerifier::create(bad_ca);
  CHECK(refused.code() == Errc::InvalidArgument);
  CHECK(refused.status().message().find("sns_extra_ca_file") != std::string::npos);
}

TEST_CASE("sns: expired, untrusted, oversized and garbage certificates are refused") {
  SnsFixture f;
  auto verifier = f.verifier();
  auto status = verifier->verify(f.notification(f.url("/expired.pem"), f.expired.key.get(), "2"));
  CHECK(status.code() == Errc::Unauthenticated);
  CHECK_MESSAGE(status.message().find("expired") != std::string::npos, status.message());

  status = verifier->verify(f.notification(f.url("/stranger.pem"), f.stranger.key.get(), "2"));
  CHECK(status.code() == Errc::Unauthenticated);
  CHECK_MESSAGE(status.message().find("not trusted") != std::string::npos, status.message());

  status = verifier->verify(f.notification(f.url("/huge.pem"), f.signer.key.get(), "2"));
  CHECK(status.code() == Errc::ResourceExhausted);

  status = verifier->verify(f.notification(f.url("/garbage.pem"), f.signer.key.get(), "2"));
  CHECK(status.code() == Errc::Unauthenticated);
  CHECK(status.message().find("PEM") != std::string::npos);

  status = verifier->verify(f.notification(f.url("/missing.pem"), f.signer.key.get(), "2"));
  CHECK(status.code() == Errc::Unavailable);
  CHECK(status.message().find("HTTP 404") != std::string::npos);
  CHECK(verifier->cachedCertificates() == 0);
}

TEST_CASE("sns: a fetch that takes too long times out; a server we do not trust is refused") {
  SnsFixture f;
  auto verifier = f.verifier(300ms);
  auto started = std::chrono::steady_clock::now();
  auto status = verifier->verify(f.notification(f.url("/slow.pem"), f.signer.key.get(), "2"));
  CHECK(status.code() == Errc::Unavailable);
  CHECK(status.message().find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < 1400ms);

  // Without the extra CA the loopback server's certificate is not trusted.
  SnsVerifierOptions options;
  options.cert_host_pattern = "localhost";
  auto untrusting = SnsVerifier::create(options);
  REQUIRE(untrusting.isOk());
  status = (*untrusting)
               ->verify(f.notification(f.url("/SimpleNotificationService-good.pem"),
                                       f.signer.key.get(), "2"));
  CHECK(status.code() == Errc::Unavailable);
  CHECK_MESSAGE(status.message().find("certificate") != std::string::npos, status.message());
  CHECK(f.cert_fetches == 0);
}

TEST_CASE("sns: accept() confirms a verified subscription, never an unverified one") {
  SnsFixture f;
  auto verifier = f.verifier();
  nlohmann::json doc = {{"Type", "SubscriptionConfirmation"},
                        {"MessageId", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"},
                        {"Token", "tok123"},
                        {"TopicArn", "arn:aws:sns:us-west-2:123456789012:alarms"},
                        {"Message", "You have chosen to subscribe to the topic."},
                        {"SubscribeURL", f.url("/confirm?Action=ConfirmSubscription&Token=tok123")},
                        {"Timestamp", "2026-11-26T21:00:00.000Z"},
                        {"SignatureVersion", "2"},
                        {"Signature", "AAAA"},
                        {"SigningCertURL", f.url("/SimpleNotificationService-good.pem")}};
  NormalizeContext ctx;
  auto normalized = normalize(SourceKind::kCloudWatch, doc.dump(), ctx);
  REQUIRE(normalized.isOk());
  SnsEnvelope env = *normalized->sns;
  env.signature = base64(sign(f.signer.key.get(), env.string_to_sign, EVP_sha256()));

  SnsEnvelope forged = env;
  forged.string_to_sign += "x";
  CHECK(verifier->accept(forged).code() == Errc::Unauthenticated);
  CHECK(f.confirmations == 0);

  auto status = verifier->accept(env);
  CHECK_MESSAGE(status.isOk(), status.toString());
  CHECK(f.confirmations == 1);

  // The SubscribeURL follows the same host rule; a notification is not a confirmation.
  SnsEnvelope elsewhere = env;
  elsewhere.subscribe_url = "https://evil.example.com/confirm?Token=tok123";
  CHECK(verifier->confirmSubscription(elsewhere).code() == Errc::InvalidArgument);
  SnsEnvelope wrong_token = env;
  wrong_token.subscribe_url = f.url("/confirm?Token=nope");
  status = verifier->confirmSubscription(wrong_token);
  CHECK(status.code() == Errc::Unavailable);
  CHECK(status.message().find("HTTP 400") != std::string::npos);
  SnsEnvelope note =
      f.notification(f.url("/SimpleNotificationService-good.pem"), f.signer.key.get(), "2");
  CHECK(verifier->confirmSubscription(note).code() == Errc::FailedPrecondition);
  CHECK(verifier->accept(note).isOk());
  CHECK(f.confirmations == 1);
}

TEST_CASE("sns: base64 decoding is strict") {
  CHECK(*decodeBase64("aGVsbG8=") == "hello");
  CHECK(*decodeBase64("aGVsbG8h") == "hello!");
  CHECK(*decodeBase64("aGk=") == "hi");
  CHECK(decodeBase64("").code() == Errc::InvalidArgument);
  CHECK(decodeBase64("aGk").code() == Errc::InvalidArgument);
  CHECK(decodeBase64("aG k").code() == Errc::InvalidArgument);
  CHECK(decodeBase64("a$k=").code() == Errc::InvalidArgument);
}

namespace {
class DiscardAudit final : public faultline::aggregator::audit::AuditRecorder {
 public:
  faultline::Status record(const faultline::aggregator::audit::AuditEvent&) override {
    return faultline::Status::ok();
  }
};

/// POSTs `body` to the server on 127.0.0.1:`port` and returns the status.
int post(int port, const std::string& path, const std::string& body) {
  faultline::aggregator::http::testing::Client client(port);
  REQUIRE(client.connected());
  REQUIRE(client.send("POST " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" +
                      "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body));
  auto response = client.readResponse();
  REQUIRE(response.has_value());
  return response->status;
}
}  // namespace

TEST_CASE("sns: the CloudWatch receiver believes only a signed delivery, end to end") {
  namespace agg = faultline::aggregator;
  SnsFixture f;
  auto verifier = f.verifier();
  agg::store::sqlite::SqliteStoreOptions store_options;
  store_options.path = f.dir.file("db.sqlite");
  auto store = agg::store::sqlite::SqliteStore::open(store_options);
  REQUIRE_MESSAGE(store.isOk(), store.status().toString());
  auto tenant = (*store)->createTenant("tenant-a", faultline::nowUnixNanos());
  REQUIRE(tenant.isOk());
  DiscardAudit audit;
  agg::events::IntegrationRequest request;
  request.kind = "cloudwatch";
  auto hook = agg::events::createIntegration(**store, audit, tenant->id, request, {"admin-cli", ""},
                                             faultline::nowUnixNanos());
  REQUIRE_MESSAGE(hook.isOk(), hook.status().toString());
  agg::events::WebhookOptions options;
  options.sns_verifier = verifier.get();
  Router router;
  agg::events::addWebhookRoutes(router,
                                std::make_shared<agg::events::WebhookReceiver>(**store, options));
  LoopServer receiver(std::move(router), ServerLimits{});

  // A delivery as SNS sends it: the JSON envelope with the signature over its fields.
  nlohmann::json doc = {{"Type", "Notification"},
                        {"MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"},
                        {"TopicArn", "arn:aws:sns:us-west-2:123456789012:alarms"},
                        {"Subject", "ALARM: cpu high"},
                        {"Message", R"({"AlarmName":"cpu high","NewStateValue":"ALARM"})"},
                        {"Timestamp", "2026-11-26T21:00:00.000Z"},
                        {"SignatureVersion", "2"},
                        {"Signature", "AAAA"},
                        {"SigningCertURL", f.url("/SimpleNotificationService-good.pem")}};
  NormalizeContext ctx;
  auto normalized = normalize(SourceKind::kCloudWatch, doc.dump(), ctx);
  REQUIRE(normalized.isOk());
  doc["Signature"] =
      base64(sign(f.signer.key.get(), normalized->sns->string_to_sign, EVP_sha256()));
  auto stored = [&] { return (*store)->eventStats(tenant->id)->events; };

  nlohmann::json forged = doc;
  forged["Message"] = R"({"AlarmName":"cpu high","NewStateValue":"OK"})";
  CHECK(post(receiver.port(), hook->hook_path, forged.dump()) == 403);
  nlohmann::json elsewhere = doc;
  elsewhere["SigningCertURL"] = "https://evil.example.com/SimpleNotificationService-good.pem";
  CHECK(post(receiver.port(), hook->hook_path, elsewhere.dump()) == 403);
  CHECK(stored() == 0);
  CHECK(post(receiver.port(), hook->hook_path, doc.dump()) == 202);
  CHECK(stored() == 1);
}
