#include "aggregator/http/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <ctime>
#include <string_view>

#include "shared/util/c_deleter.h"
#include "shared/util/fs.h"

namespace faultline::aggregator::http {
namespace {

using BioPtr = CPtr<BIO, &BIO_free>;
using X509Ptr = CPtr<X509, &X509_free>;
using PkeyPtr = CPtr<EVP_PKEY, &EVP_PKEY_free>;
using SslCtxPtr = CPtr<SSL_CTX, &SSL_CTX_free>;

// PEM files are a few KiB; a chain of ten certificates is still far below this.
constexpr std::uint64_t kMaxPemBytes = 1 << 20;
// Certificates expiring sooner than this get a warning at load (and on every reload).
constexpr int kExpiryWarningDays = 14;

// TLS 1.2: ECDHE only (forward secrecy), AEAD only; ECDSA before RSA, AES-GCM before
// ChaCha20-Poly1305 (AES-NI). TLS 1.3 suites are all AEAD; OpenSSL's default list is kept.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr std::string_view kAlpnHttp11 = "http/1.1";

/// The reason of the most recent OpenSSL error on this thread, then clears the queue.
std::string opensslReason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown OpenSSL error";
  }
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
}

std::string nameOf(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return "?";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string("(empty)");
}

std::string timeText(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) {
    return "?";
  }
  char text[32];
  return std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0 ? text : "?";
}

// A key that needs a passphrase is refused rather than prompted for: the server runs unattended.
int refusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) noexcept {
  return -1;
}

// Picks "http/1.1" from the client's ALPN list. A client that offers only other protocols
// (h2) would not understand our answers: RFC 7301 wants a no_application_protocol alert.
int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_len,
               const unsigned char* in, unsigned int in_len, void* /*arg*/) noexcept {
  unsigned int pos = 0;
  while (pos < in_len) {
    unsigned int len = in[pos];
    if (pos + 1 + len > in_len) {
      break;
    }
    if (std::string_view(reinterpret_cast<const char*>(in + pos + 1), len) == kAlpnHttp11) {
      *out = in + pos + 1;
      *out_len = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    pos += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

struct Certificates {
  X509Ptr leaf;
  std::vector<X509Ptr> chain;
};

Result<Certificates> readCertificates(const std::string& path) {
  auto text = fs::readFile(path, kMaxPemBytes);
  if (!text) {
    return invalidArgument("TLS certificate file: cannot read it: " + text.status().message());
  }
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!bio) {
    return internalError("TLS certificate file " + path + ": out of memory");
  }
  ERR_clear_error();
  Certificates certs;
  certs.leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!certs.leaf) {
    ERR_clear_error();
    return invalidArgument("TLS certificate file " + path +
                           ": no PEM certificate in it (expected '-----BEGIN CERTIFICATE-----')");
  }
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.chain.emplace_back(next);
  }
  // The loop ends at the end of the text (no start line) or at a broken certificate.
  unsigned long err = ERR_peek_last_error();
  if (err != 0 &&
      !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return invalidArgument("TLS certificate file " + path + ": certificate " +
                           std::to_string(certs.chain.size() + 2) +
                           " is malformed: " + opensslReason());
  }
  ERR_clear_error();
  return certs;
}

Result<PkeyPtr> readKey(const std::string& path) {
  auto text = fs::readFile(path, kMaxPemBytes);
  if (!text) {
    return invalidArgument("TLS key file: cannot read it: " + text.status().message());
  }
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!bio) {
    return internalError("TLS key file " + path + ": out of memory");
  }
  ERR_clear_error();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &refusePassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    if (text->find("ENCRYPTED") != std::string::npos) {
      return invalidArgument("TLS key file " + path +
                             ": the key is encrypted; the server needs it unencrypted "
                             "(protect it with file permissions, e.g. mode 0600)");
    }
    return invalidArgument("TLS key file " + path +
                           ": no PEM private key in it (expected '-----BEGIN PRIVATE KEY-----')");
  }
  return key;
}

void checkValidity(const X509* leaf, const std::string& path, std::vector<std::string>* warnings) {
  const ASN1_TIME* not_after = X509_get0_notAfter(leaf);
  const ASN1_TIME* not_before = X509_get0_notBefore(leaf);
  if (X509_cmp_current_time(not_after) < 0) {
    warnings->push_back("the certificate in " + path + " expired on " + timeText(not_after) +
                        "; clients will refuse it");
  } else {
    int days = 0;
    int seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, nullptr, not_after) == 1 && days < kExpiryWarningDays) {
      warnings->push_back("the certificate in " + path + " expires on " + timeText(not_after) +
                          " (in " + std::to_string(days) + " days)");
    }
  }
  if (X509_cmp_current_time(not_before) > 0) {
    warnings->push_back("the certificate in " + path + " is not valid before " +
                        timeText(not_before) + "; clients will refuse it until then");
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    warnings->push_back("the certificate in " + path +
                        " has no subjectAltName; clients that check the host name (curl, "
                        "Python) will refuse it");
  } else {
    GENERAL_NAMES_free(names);
  }
}

Status configure(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return internalError("TLS: cannot set the minimum protocol version: " + opensslReason());
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1) {
    return internalError("TLS: cannot set the cipher suites: " + opensslReason());
  }
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return internalError("TLS: cannot set the key exchange groups: " + opensslReason());
  }
  // Resumption through stateless tickets only: no per-session memory on the server, and a
  // reload (new context, new ticket key) simply means full handshakes again.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // Idle keep-alive connections give their ~34 KiB of record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx, &selectAlpn, nullptr);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::load(const TlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return invalidArgument("TLS needs both a certificate file and a key file");
  }
  FL_ASSIGN_OR_RETURN(Certificates certs, readCertificates(files.cert_file));
  FL_ASSIGN_OR_RETURN(PkeyPtr key, readKey(files.key_file));
  ERR_clear_error();
  if (X509_check_private_key(certs.leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return invalidArgument("TLS key file " + files.key_file +
                           ": the key does not match the certificate in " + files.cert_file);
  }

  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return internalError("TLS: cannot create a context: " + opensslReason());
  }
  FL_RETURN_IF_ERROR(configure(ctx.get()));
  if (SSL_CTX_use_certificate(ctx.get(), certs.leaf.get()) != 1) {
    // For instance "ee key too small" (RSA under 2048 bits at the system's security level).
    return invalidArgument("TLS certificate file " + files.cert_file +
                           ": OpenSSL refuses the certificate: " + opensslReason());
  }
  for (const X509Ptr& cert : certs.chain) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), cert.get()) != 1) {
      return invalidArgument("TLS certificate file " + files.cert_file +
                             ": OpenSSL refuses a chain certificate (" +
                             nameOf(X509_get_subject_name(cert.get())) + "): " + opensslReason());
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return invalidArgument("TLS key file " + files.key_file +
                           ": OpenSSL refuses the key: " + opensslReason());
  }

  std::unique_ptr<TlsContext> context(new TlsContext(ctx.release()));
  checkValidity(certs.leaf.get(), files.cert_file, &context->warnings_);
  context->summary_ = nameOf(X509_get_subject_name(certs.leaf.get())) + ", issued by " +
                      nameOf(X509_get_issuer_name(certs.leaf.get())) + ", valid until " +
                      timeText(X509_get0_notAfter(certs.leaf.get())) + ", " +
                      std::to_string(certs.chain.size()) + " chain certificate(s)";
  return context;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

}  // namespace faultline::aggregator::http
