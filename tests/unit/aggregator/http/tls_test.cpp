// The server over TLS: a throwaway CA and server certificate made in each test, real OpenSSL
// clients on sockets, and the same HTTP behaviour as in plaintext (keep-alive, pipelining,
// 100-continue, limits, timeouts), plus what only TLS has (versions, suites, ALPN, reload).
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "aggregator/http/server.h"
#include "aggregator/http/tls_context.h"
#include "tests/unit/aggregator/http/tls_test_support.h"
#include "tests/unit/temp_dir.h"

using namespace std::chrono_literals;
using faultline::Errc;
using faultline::aggregator::http::Request;
using faultline::aggregator::http::Respond;
using faultline::aggregator::http::Response;
using faultline::aggregator::http::Router;
using faultline::aggregator::http::Server;
using faultline::aggregator::http::ServerLimits;
using faultline::aggregator::http::TlsContext;
using faultline::aggregator::http::TlsFiles;
using faultline::aggregator::http::testing::CertSpec;
using faultline::aggregator::http::testing::Client;
using faultline::aggregator::http::testing::clientHelloBytes;
using faultline::aggregator::http::testing::issue;
using faultline::aggregator::http::testing::KeyType;
using faultline::aggregator::http::testing::LoopServer;
using faultline::aggregator::http::testing::TestPki;
using faultline::aggregator::http::testing::TlsClient;
using faultline::aggregator::http::testing::TlsClientOptions;
using faultline::aggregator::http::testing::writePem;
using faultline::testing::TempDir;

namespace {
Router tlsRouter() {
  Router router;
  router.add("GET", "/hello", [](Request&&, Respond respond) {
    Response r;
    r.body = "hello";
    respond(std::move(r));
  });
  router.add("POST", "/echo", [](Request&& request, Respond respond) {
    Response r;
    r.body = std::move(request.body);
    respond(std::move(r));
  });
  router.add("GET", "/sleep", [](Request&& request, Respond respond) {
    auto ms = request.queryParam("ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms ? std::stoi(*ms) : 0));
    Response r;
    r.body = request.query;
    respond(std::move(r));
  });
  return router;
}

ServerLimits fastLimits() {
  ServerLimits limits;
  limits.header_timeout = 2000ms;
  limits.request_timeout = 4000ms;
  limits.idle_timeout = 4000ms;
  limits.worker_threads = 2;
  return limits;
}

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

TlsClientOptions verifying(const TestPki& pki) {
  TlsClientOptions options;
  options.ca_file = pki.ca_file;
  return options;
}

bool failuresReach(const LoopServer& server, std::uint64_t count) {
  return LoopServer::waitFor([&] { return server.stats().tls_handshake_failures >= count; });
}
}  // namespace

TEST_CASE(
    "tls: GET and POST over TLS 1.3, verified against the test CA, with ALPN and keep-alive") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  REQUIRE(server.port() > 0);
  TlsClient client(server.port(), verifying(pki));
  REQUIRE_MESSAGE(client.handshakeOk(), client.error());
  CHECK(client.protocol() == "TLSv1.3");
  CHECK(client.alpn() == "http/1.1");
  for (int i = 0; i < 3; ++i) {
    REQUIRE(client.send(get("/hello")));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
  }
  const std::string body(300'000, 'b');
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body));
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->body == body);
  CHECK(server.stats().connections_accepted == 1);
  CHECK(server.stats().requests == 4);
  CHECK(server.stats().tls_handshake_failures == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: TLS 1.2 gets ECDHE with AES-GCM, in the server's order, for ECDSA and RSA keys") {
  TempDir dir;
  for (KeyType type : {KeyType::EcP256, KeyType::Rsa2048}) {
    CertSpec spec;
    spec.key_type = type;
    TestPki pki(dir.path(), spec);
    LoopServer server(tlsRouter(), fastLimits(), pki.context());
    TlsClientOptions options = verifying(pki);
    options.max_version = TLS1_2_VERSION;
    // The client prefers ChaCha20 and lists GCM last: the server's preference must win.
    options.tls12_ciphers =
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
    TlsClient client(server.port(), options);
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    CHECK(client.protocol() == "TLSv1.2");
    CHECK(client.cipher() == (type == KeyType::EcP256 ? "ECDHE-ECDSA-AES128-GCM-SHA256"
                                                      : "ECDHE-RSA-AES128-GCM-SHA256"));
    CHECK(client.alpn() == "http/1.1");
    REQUIRE(client.send(get("/hello")));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->body == "hello");
    CHECK(server.stop() == 0);
  }
}

TEST_CASE("tls: TLS 1.1, CBC-only and static-RSA suites, and an h2-only ALPN are refused") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  {
    TlsClientOptions options;
    options.min_version = TLS1_1_VERSION;
    options.max_version = TLS1_1_VERSION;
    options.tls12_ciphers = "DEFAULT:@SECLEVEL=0";  // lets this client even try TLS 1.1
    TlsClient client(server.port(), options);
    CHECK_FALSE(client.handshakeOk());
    // The refusal is the server's: its protocol_version alert.
    CHECK(client.error() == "tlsv1 alert protocol version");
    CHECK(failuresReach(server, 1));
  }
  {
    TlsClientOptions options;
    options.max_version = TLS1_2_VERSION;
    options.tls12_ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:AES128-GCM-SHA256";
    TlsClient client(server.port(), options);
    CHECK_FALSE(client.handshakeOk());
    CHECK(client.error() == "sslv3 alert handshake failure");
    CHECK(failuresReach(server, 2));
  }
  {
    TlsClientOptions options;
    options.alpn = std::string("\x02h2", 3);
    TlsClient client(server.port(), options);
    CHECK_FALSE(client.handshakeOk());
    CHECK(client.error() == "tlsv1 alert no application protocol");
    CHECK(failuresReach(server, 3));
  }
  {
    // No ALPN at all is fine (HTTP/1.1 is the default).
    TlsClientOptions options = verifying(pki);
    options.alpn.clear();
    TlsClient client(server.port(), options);
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    CHECK(client.alpn().empty());
    REQUIRE(client.send(get("/hello")));
    CHECK(client.readResponse());
  }
  CHECK(server.stats().tls_handshake_failures == 3);
  CHECK(server.stats().requests == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: plain HTTP to the TLS port gets a plain 400 and close; other bytes just close") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  {
    Client plain(server.port());
    REQUIRE(plain.send(get("/hello")));
    auto r = plain.readResponse();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->body.find("\"tls_required\"") != std::string::npos);
    CHECK(r->body.find("https://") != std::string::npos);
    CHECK(r->header("connection") == "close");
    CHECK(plain.waitClosed());
  }
  {
    Client garbage(server.port());
    REQUIRE(garbage.send(std::string("\x00\x01\x02\x03 not tls at all", 20)));
    CHECK(garbage.waitClosed());
  }
  {
    // A TLS record header with a broken handshake inside: OpenSSL's alert, then close.
    Client broken(server.port());
    REQUIRE(broken.send(std::string("\x16\x03\x01\x00\x05zzzzz", 10)));
    CHECK(broken.waitClosedDiscarding());
  }
  CHECK(failuresReach(server, 3));
  CHECK(server.stats().requests == 0);
  // The server still serves TLS.
  TlsClient client(server.port(), verifying(pki));
  REQUIRE_MESSAGE(client.handshakeOk(), client.error());
  REQUIRE(client.send(get("/hello")));
  CHECK(client.readResponse());
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: a slow or silent handshake is cut off by the header timeout") {
  TempDir dir;
  TestPki pki(dir.path());
  ServerLimits limits = fastLimits();
  limits.header_timeout = 200ms;
  LoopServer server(tlsRouter(), limits, pki.context());
  const std::string hello = clientHelloBytes();
  REQUIRE(hello.size() > 100);
  {
    Client slow(server.port());
    auto start = std::chrono::steady_clock::now();
    // 12 bytes at 30 ms each: still mid-ClientHello when the 200 ms are up.
    slow.sendSlowly(hello.substr(0, 12), 30ms);
    CHECK(slow.waitClosed());
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 150ms);
    CHECK(elapsed < 1500ms);
  }
  {
    Client silent(server.port());
    auto start = std::chrono::steady_clock::now();
    CHECK(silent.waitClosed());
    CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  }
  CHECK(failuresReach(server, 2));
  CHECK(server.stats().timeouts == 2);
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: a request body split across many TLS records") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  TlsClient client(server.port(), verifying(pki));
  REQUIRE_MESSAGE(client.handshakeOk(), client.error());
  std::string body;
  for (int i = 0; i < 20'000; ++i) {
    body += static_cast<char>('a' + i % 26);
  }
  // Headers split mid-line, then the body in 199-byte records (101 of them).
  const std::string head =
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  REQUIRE(client.send(head.substr(0, 17)));
  REQUIRE(client.send(head.substr(17)));
  for (std::size_t pos = 0; pos < body.size(); pos += 199) {
    REQUIRE(client.send(body.substr(pos, 199)));
  }
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == body);

  // A chunked body whose framing is cut by record boundaries.
  const std::string chunked = "6\r\nchunk-\r\n4\r\ned!!\r\n0\r\n\r\n";
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (char c : chunked) {
    REQUIRE(client.send(std::string(1, c)));
  }
  r = client.readResponse();
  REQUIRE(r);
  CHECK(r->body == "chunk-ed!!");

  // A body larger than a read buffer and a record, echoed back in many records.
  const std::string big(1 << 20, 'z');
  REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                      std::to_string(big.size()) + "\r\n\r\n" + big));
  r = client.readResponse();
  REQUIRE(r);
  CHECK(r->body.size() == big.size());
  CHECK(r->body == big);
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: pipelined requests are answered in order; Connection: close sends close_notify") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  const std::string requests = get("/sleep?ms=150&n=1") + get("/sleep?ms=0&n=2") +
                               "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nthr" +
                               get("/sleep?n=4", "Connection: close\r\n");
  for (std::size_t record_size : {requests.size(), std::size_t{7}}) {
    TlsClient client(server.port(), verifying(pki));
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    for (std::size_t pos = 0; pos < requests.size(); pos += record_size) {
      REQUIRE(client.send(requests.substr(pos, record_size)));
    }
    auto r1 = client.readResponse();
    auto r2 = client.readResponse();
    auto r3 = client.readResponse();
    auto r4 = client.readResponse();
    REQUIRE(r1);
    REQUIRE(r2);
    REQUIRE(r3);
    REQUIRE(r4);
    CHECK(r1->body == "ms=150&n=1");
    CHECK(r2->body == "ms=0&n=2");
    CHECK(r3->body == "thr");
    CHECK(r4->body == "n=4");
    CHECK(r4->header("connection") == "close");
    CHECK(client.waitClosed());
    CHECK(client.sawCloseNotify());
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: 100-continue, header limit, slow headers and idle timeout work over TLS") {
  TempDir dir;
  TestPki pki(dir.path());
  ServerLimits limits = fastLimits();
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 1000;
  limits.header_timeout = 300ms;
  limits.idle_timeout = 300ms;
  LoopServer server(tlsRouter(), limits, pki.context());
  {
    TlsClient client(server.port(), verifying(pki));
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    REQUIRE(client.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = client.readResponse();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    REQUIRE(client.send("body"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->body == "body");
    // Idle after the response: closed after idle_timeout, with close_notify.
    auto start = std::chrono::steady_clock::now();
    CHECK(client.waitClosed());
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    CHECK(client.sawCloseNotify());
  }
  {
    TlsClient client(server.port(), verifying(pki));
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    REQUIRE(client.send(get("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n")));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(client.waitClosed());
  }
  {
    TlsClient client(server.port(), verifying(pki));
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    REQUIRE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(client.waitClosed());
  }
  {
    TlsClient client(server.port(), verifying(pki));
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    client.sendSlowly("GET /hello HTTP/1.1\r\nHost: slow\r\n", 30ms);
    auto r = client.readResponse();
    REQUIRE(r);
    CHECK(r->status == 408);
    CHECK(client.waitClosed());
  }
  CHECK(server.stats().tls_handshake_failures == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: a client's close_notify after its request still gets the response") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  TlsClient client(server.port(), verifying(pki));
  REQUIRE_MESSAGE(client.handshakeOk(), client.error());
  REQUIRE(client.send(get("/sleep?ms=50")));
  client.shutdownTls();
  auto r = client.readResponse();
  REQUIRE(r);
  CHECK(r->body == "ms=50");
  CHECK(r->header("connection") == "close");
  CHECK(client.waitClosed());
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: sessions resume from tickets (TLS 1.3 and 1.2)") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    TlsClientOptions options = verifying(pki);
    options.max_version = version;
    SSL_SESSION* session = nullptr;
    {
      TlsClient first(server.port(), options);
      REQUIRE_MESSAGE(first.handshakeOk(), first.error());
      CHECK_FALSE(first.resumed());
      REQUIRE(first.send(get("/hello")));
      REQUIRE(first.readResponse());  // TLS 1.3 tickets arrive after the handshake
      session = first.session();
      // Without close_notify OpenSSL marks the session not resumable when the SSL is freed.
      first.shutdownTls();
    }
    REQUIRE(session != nullptr);
    options.resume = session;
    TlsClient second(server.port(), options);
    REQUIRE_MESSAGE(second.handshakeOk(), second.error());
    CHECK(second.resumed());
    REQUIRE(second.send(get("/hello")));
    CHECK(second.readResponse());
    SSL_SESSION_free(session);
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("tls: setTls after listen swaps the certificate for new connections only") {
  TempDir dir_a;
  TempDir dir_b;
  TestPki pki_a(dir_a.path());
  TestPki pki_b(dir_b.path());
  LoopServer server(tlsRouter(), fastLimits(), pki_a.context());
  TlsClient before(server.port(), verifying(pki_a));
  REQUIRE_MESSAGE(before.handshakeOk(), before.error());

  auto next = pki_b.context();
  REQUIRE(server.onLoop([&next](Server& s) { return s.setTls(std::move(next)); }).isOk());
  TlsClient after(server.port(), verifying(pki_b));
  REQUIRE_MESSAGE(after.handshakeOk(), after.error());
  CHECK(X509_cmp(after.peerCertificate().get(), pki_b.server.cert.get()) == 0);
  TlsClient stale(server.port(), verifying(pki_a));
  CHECK_FALSE(stale.handshakeOk());
  // The connection opened before the swap still works on the old context.
  REQUIRE(before.send(get("/hello")));
  auto r = before.readResponse();
  REQUIRE(r);
  CHECK(r->body == "hello");
  CHECK(server.stop() == 0);

  // A plaintext server cannot turn TLS on once it listens.
  LoopServer plain(tlsRouter(), fastLimits());
  auto late = pki_a.context();
  auto status = plain.onLoop([&late](Server& s) { return s.setTls(std::move(late)); });
  CHECK(status.code() == Errc::FailedPrecondition);
  CHECK(plain.stop() == 0);
}

TEST_CASE("tls: close() with TLS connections mid-handshake and open leaves the loop empty") {
  TempDir dir;
  TestPki pki(dir.path());
  LoopServer server(tlsRouter(), fastLimits(), pki.context());
  TlsClient open(server.port(), verifying(pki));
  REQUIRE_MESSAGE(open.handshakeOk(), open.error());
  REQUIRE(open.send(get("/hello")));
  REQUIRE(open.readResponse());
  Client half(server.port());
  REQUIRE(half.send(clientHelloBytes().substr(0, 20)));
  REQUIRE(LoopServer::waitFor([&] { return server.stats().connections_accepted == 2; }));
  CHECK(server.stop() == 0);
  CHECK(open.waitClosed());
  CHECK(open.sawCloseNotify());
  CHECK(half.waitClosed());
}

TEST_CASE("tls: load names the file and the problem; expiry and a missing SAN only warn") {
  TempDir dir;
  TestPki pki(dir.path());
  auto message = [](const TlsFiles& files) {
    auto loaded = TlsContext::load(files);
    REQUIRE_FALSE(loaded.isOk());
    CHECK(loaded.code() == Errc::InvalidArgument);
    return loaded.status().message();
  };
  CHECK(message({"", pki.key_file}).find("both") != std::string::npos);

  std::string text = message({dir.file("missing.pem"), pki.key_file});
  CHECK(text.find(dir.file("missing.pem")) != std::string::npos);
  CHECK(text.find("No such file") != std::string::npos);

  {
    std::FILE* f = std::fopen(dir.file("junk.pem").c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("this is not PEM\n", f);
    std::fclose(f);
  }
  text = message({dir.file("junk.pem"), pki.key_file});
  CHECK(text.find(dir.file("junk.pem")) != std::string::npos);
  CHECK(text.find("no PEM certificate") != std::string::npos);
  text = message({pki.cert_file, dir.file("junk.pem")});
  CHECK(text.find("no PEM private key") != std::string::npos);
  // The certificate file is not the key.
  text = message({pki.cert_file, pki.cert_file});
  CHECK(text.find("no PEM private key") != std::string::npos);

  // The key of another certificate.
  TempDir other_dir;
  TestPki other(other_dir.path());
  text = message({pki.cert_file, other.key_file});
  CHECK(text.find(other.key_file) != std::string::npos);
  CHECK(text.find("does not match the certificate in " + pki.cert_file) != std::string::npos);

  // An encrypted key.
  {
    faultline::CPtr<BIO, &BIO_free> bio(BIO_new_file(dir.file("enc.key").c_str(), "w"));
    REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), pki.server.key.get(), EVP_aes_256_cbc(),
                                          "secret", 6, nullptr, nullptr) == 1);
  }
  text = message({pki.cert_file, dir.file("enc.key")});
  CHECK(text.find("encrypted") != std::string::npos);

  // Expired, and without subjectAltName: loaded, with warnings.
  CertSpec expired;
  expired.valid_from_s = -2 * 86400;
  expired.valid_until_s = -86400;
  expired.alt_names.clear();
  auto cert = issue(expired, &pki.ca);
  writePem(dir.file("expired.pem"), {cert.cert.get()});
  writePem(dir.file("expired.key"), {}, cert.key.get());
  auto loaded = TlsContext::load({dir.file("expired.pem"), dir.file("expired.key")});
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().toString());
  REQUIRE((*loaded)->warnings().size() == 2);
  CHECK((*loaded)->warnings()[0].find("expired on") != std::string::npos);
  CHECK((*loaded)->warnings()[0].find(dir.file("expired.pem")) != std::string::npos);
  CHECK((*loaded)->warnings()[1].find("subjectAltName") != std::string::npos);

  // A fresh certificate: no warning, and a summary for the log.
  auto good = pki.context();
  CHECK(good->warnings().empty());
  CHECK(good->summary().find("CN=localhost") != std::string::npos);
  CHECK(good->summary().find("CN=Faultline Test CA") != std::string::npos);
}

TEST_CASE("tls: a chain in the certificate file lets clients that trust only the root verify") {
  TempDir dir;
  TestPki pki(dir.path());
  CertSpec intermediate_spec;
  intermediate_spec.common_name = "Faultline Test Intermediate";
  intermediate_spec.is_ca = true;
  auto intermediate = issue(intermediate_spec, &pki.ca);
  auto leaf = issue(CertSpec(), &intermediate);
  writePem(dir.file("leaf-only.pem"), {leaf.cert.get()});
  writePem(dir.file("chain.pem"), {leaf.cert.get(), intermediate.cert.get()});
  writePem(dir.file("leaf.key"), {}, leaf.key.get());

  auto with_chain = TlsContext::load({dir.file("chain.pem"), dir.file("leaf.key")});
  REQUIRE_MESSAGE(with_chain.isOk(), with_chain.status().toString());
  CHECK((*with_chain)->summary().find("1 chain certificate") != std::string::npos);
  {
    LoopServer server(tlsRouter(), fastLimits(), std::move(*with_chain));
    TlsClient client(server.port(), verifying(pki));
    REQUIRE_MESSAGE(client.handshakeOk(), client.error());
    REQUIRE(client.send(get("/hello")));
    CHECK(client.readResponse());
    CHECK(server.stop() == 0);
  }
  auto leaf_only = TlsContext::load({dir.file("leaf-only.pem"), dir.file("leaf.key")});
  REQUIRE(leaf_only.isOk());
  {
    LoopServer server(tlsRouter(), fastLimits(), std::move(*leaf_only));
    TlsClient client(server.port(), verifying(pki));
    CHECK_FALSE(client.handshakeOk());
    CHECK(client.error() == "certificate verify failed");
    CHECK(server.stop() == 0);
  }
}
