#pragma once

// TLS test helpers: a throwaway PKI made with OpenSSL's APIs at test time (no key is ever
// committed), and a blocking OpenSSL client on a plain socket that plugs into Client.

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "aggregator/http/tls_context.h"
#include "shared/util/c_deleter.h"
#include "tests/unit/aggregator/http/test_support.h"

namespace faultline::aggregator::http::testing {

using PkeyPtr = CPtr<EVP_PKEY, &EVP_PKEY_free>;
using X509Ptr = CPtr<X509, &X509_free>;

/// A key and the certificate for it.
struct KeyAndCert {
  PkeyPtr key;
  X509Ptr cert;
};

enum class KeyType : std::uint8_t { EcP256, Rsa2048 };

inline PkeyPtr makeKey(KeyType type = KeyType::EcP256) {
  return PkeyPtr(type == KeyType::EcP256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
}

/// What certificate to issue.
struct CertSpec {
  std::string common_name = "localhost";
  bool is_ca = false;
  long valid_from_s = -3600;                             // relative to now
  long valid_until_s = 90 * 86400;                       // relative to now
  std::string alt_names = "DNS:localhost,IP:127.0.0.1";  // empty: no subjectAltName
  KeyType key_type = KeyType::EcP256;
};

/// Issues a certificate for a new key, signed by `issuer` (self-signed when null).
inline KeyAndCert issue(const CertSpec& spec, const KeyAndCert* issuer) {
  static long serial = 1000;
  KeyAndCert out{makeKey(spec.key_type), X509Ptr(X509_new())};
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.valid_from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.valid_until_s);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : x;
  EVP_PKEY* issuer_key = issuer != nullptr ? issuer->key.get() : out.key.get();
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    REQUIRE(ext != nullptr);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add(NID_key_usage,
      spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
  add(NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    add(NID_authority_key_identifier, "keyid:always");
  }
  if (!spec.is_ca) {
    add(NID_ext_key_usage, "serverAuth");
    if (!spec.alt_names.empty()) {
      add(NID_subject_alt_name, spec.alt_names);
    }
  }
  REQUIRE(X509_sign(x, issuer_key, EVP_sha256()) > 0);
  return out;
}

inline void writePem(const std::string& path, const std::vector<const X509*>& certs,
                     const EVP_PKEY* key = nullptr) {
  CPtr<BIO, &BIO_free> bio(BIO_new_file(path.c_str(), "w"));
  REQUIRE(bio != nullptr);
  for (const X509* cert : certs) {
    REQUIRE(PEM_write_bio_X509(bio.get(), cert) == 1);
  }
  if (key != nullptr) {
    REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  }
}

/// A CA and a server certificate for localhost/127.0.0.1, as PEM files in `dir`:
/// ca.pem, server.pem (certificate), server.key.
struct TestPki {
  explicit TestPki(const std::string& dir, CertSpec server_spec = CertSpec())
      : ca_file(dir + "/ca.pem"), cert_file(dir + "/server.pem"), key_file(dir + "/server.key") {
    CertSpec ca_spec;
    ca_spec.common_name = "Faultline Test CA";
    ca_spec.is_ca = true;
    ca = issue(ca_spec, nullptr);
    server = issue(server_spec, &ca);
    writePem(ca_file, {ca.cert.get()});
    writePem(cert_file, {server.cert.get()});
    writePem(key_file, {}, server.key.get());
  }

  TlsFiles files() const { return {cert_file, key_file}; }
  /// A loaded context for the server certificate; fails the test when it does not load.
  std::unique_ptr<TlsContext> context() const {
    auto loaded = TlsContext::load(files());
    REQUIRE_MESSAGE(loaded.isOk(), loaded.status().toString());
    return std::move(*loaded);
  }

  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  KeyAndCert ca;
  KeyAndCert server;
};

/// How a TlsClient connects.
struct TlsClientOptions {
  std::string ca_file;  // verify the server (chain and host name) against it; empty: no checks
  std::string host = "localhost";  // SNI and the name checked
  int min_version = 0;             // e.g. TLS1_2_VERSION; 0: OpenSSL's default
  int max_version = 0;
  std::string tls12_ciphers;                          // empty: OpenSSL's default
  std::string alpn = std::string("\x08http/1.1", 9);  // wire format; empty: no ALPN
  SSL_SESSION* resume = nullptr;                      // a session to resume (not owned)
};

/// An OpenSSL client over Client's socket. Each send() of up to 16 KiB is one TLS record, so
/// tests control record boundaries.
class TlsClient : public Client {
 public:
  explicit TlsClient(int port, TlsClientOptions options = {},
                     std::chrono::milliseconds recv_timeout = std::chrono::seconds(5))
      : Client(port, recv_timeout) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    REQUIRE(ctx_ != nullptr);
    if (options.min_version != 0) {
      SSL_CTX_set_min_proto_version(ctx_.get(), options.min_version);
    }
    if (options.max_version != 0) {
      SSL_CTX_set_max_proto_version(ctx_.get(), options.max_version);
    }
    if (!options.tls12_ciphers.empty()) {
      REQUIRE(SSL_CTX_set_cipher_list(ctx_.get(), options.tls12_ciphers.c_str()) == 1);
    }
    if (!options.ca_file.empty()) {
      REQUIRE(SSL_CTX_load_verify_locations(ctx_.get(), options.ca_file.c_str(), nullptr) == 1);
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    }
    ssl_.reset(SSL_new(ctx_.get()));
    REQUIRE(ssl_ != nullptr);
    SSL_set_tlsext_host_name(ssl_.get(), options.host.c_str());
    if (!options.ca_file.empty()) {
      SSL_set1_host(ssl_.get(), options.host.c_str());
    }
    if (!options.alpn.empty()) {
      SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(options.alpn.data()),
                          static_cast<unsigned>(options.alpn.size()));
    }
    if (options.resume != nullptr) {
      SSL_set_session(ssl_.get(), options.resume);
    }
    SSL_set_fd(ssl_.get(), fd());
    ERR_clear_error();
    int rc = SSL_connect(ssl_.get());
    if (rc == 1) {
      handshake_ok_ = true;
    } else {
      unsigned long err = ERR_peek_last_error();
      error_ = err != 0 ? ERR_reason_error_string(err) : "handshake failed";
      if (error_.empty() || err == 0) {
        error_ = "handshake failed (" + std::to_string(SSL_get_error(ssl_.get(), rc)) + ")";
      }
      ERR_clear_error();
    }
  }

  bool handshakeOk() const { return handshake_ok_; }
  /// The reason the handshake failed, e.g. "tlsv1 alert protocol version".
  const std::string& error() const { return error_; }
  std::string protocol() const { return SSL_get_version(ssl_.get()); }
  std::string cipher() const { return SSL_get_cipher_name(ssl_.get()); }
  std::string alpn() const {
    const unsigned char* data = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &data, &len);
    return std::string(reinterpret_cast<const char*>(data), len);
  }
  bool resumed() const { return SSL_session_reused(ssl_.get()) == 1; }
  /// The session for a later resumption (caller frees with SSL_SESSION_free).
  SSL_SESSION* session() const { return SSL_get1_session(ssl_.get()); }
  /// True when the last end of stream was a close_notify (not a bare TCP FIN).
  bool sawCloseNotify() const { return saw_close_notify_; }
  /// Sends close_notify.
  void shutdownTls() { SSL_shutdown(ssl_.get()); }
  X509Ptr peerCertificate() const { return X509Ptr(SSL_get1_peer_certificate(ssl_.get())); }

 protected:
  ssize_t rawSend(const char* data, std::size_t size) override {
    if (!handshake_ok_) {
      return -1;
    }
    std::size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl_.get(), data, std::min<std::size_t>(size, 16384), &written) != 1) {
      return -1;
    }
    return static_cast<ssize_t>(written);
  }

  ssize_t rawRecv(char* data, std::size_t size) override {
    if (!handshake_ok_) {
      return -1;
    }
    std::size_t got = 0;
    ERR_clear_error();
    const int rc = SSL_read_ex(ssl_.get(), data, size, &got);
    if (rc == 1) {
      return static_cast<ssize_t>(got);
    }
    const int err = SSL_get_error(ssl_.get(), rc);
    const int reason = ERR_GET_REASON(ERR_peek_last_error());
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
      saw_close_notify_ = true;
      return 0;
    }
    if ((err == SSL_ERROR_SYSCALL && errno == 0) ||
        (err == SSL_ERROR_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      return 0;  // a TCP FIN without close_notify
    }
    return -1;
  }

 private:
  CPtr<SSL_CTX, &SSL_CTX_free> ctx_;
  CPtr<SSL, &SSL_free> ssl_;
  bool handshake_ok_ = false;
  bool saw_close_notify_ = false;
  std::string error_;
};

/// The bytes of a real TLS ClientHello, for clients that send it slowly or in pieces.
inline std::string clientHelloBytes() {
  CPtr<SSL_CTX, &SSL_CTX_free> ctx(SSL_CTX_new(TLS_client_method()));
  CPtr<SSL, &SSL_free> ssl(SSL_new(ctx.get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  SSL_set_connect_state(ssl.get());
  (void)SSL_do_handshake(ssl.get());
  char* data = nullptr;
  long size = BIO_get_mem_data(wbio, &data);
  ERR_clear_error();
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace faultline::aggregator::http::testing
