#pragma once

// The server side of TLS: one OpenSSL SSL_CTX built from a certificate chain and a private key
// (PEM files), with Faultline's fixed protocol settings. Connections are created from it by
// TlsSession.

#include <memory>
#include <string>
#include <vector>

#include "shared/util/status.h"

using SSL_CTX = struct ssl_ctx_st;

namespace faultline::aggregator::http {

/// Where the server's certificate and key come from.
struct TlsFiles {
  std::string cert_file;  // PEM: the server certificate first, then its chain (intermediates)
  std::string key_file;   // PEM: the private key of the first certificate, unencrypted
};

/// A server SSL_CTX with fixed, modern settings: TLS 1.2 minimum (1.3 preferred by OpenSSL),
/// the server's cipher order, for TLS 1.2 only ECDHE key exchange with AEAD ciphers
/// (AES-GCM, ChaCha20-Poly1305), no compression, no renegotiation, stateless session tickets,
/// and ALPN "http/1.1" (a client that offers ALPN without it is refused).
///
/// Thread: immutable after load(); SSL objects may be created from it on any thread. Every SSL
/// created from the context holds a reference to it, so destroying a TlsContext while its
/// connections are still open is safe (this is what a certificate reload does).
class TlsContext {
 public:
  /// Reads and checks both files. Errors (InvalidArgument) name the file and what is wrong:
  /// unreadable, no certificate in it, not a private key (or an encrypted one), key does not
  /// match the certificate. Certificates that are expired, not yet valid or expire within 14
  /// days load, with a line in warnings().
  static Result<std::unique_ptr<TlsContext>> load(const TlsFiles& files);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// The context; owned by this object (SSL_new takes its own reference).
  SSL_CTX* get() const { return ctx_; }
  /// Problems that did not stop the load, one sentence each (expiry).
  const std::vector<std::string>& warnings() const { return warnings_; }
  /// "CN=aggregator.example, expires 2027-01-31" for the log.
  const std::string& summary() const { return summary_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}

  SSL_CTX* ctx_;
  std::vector<std::string> warnings_;
  std::string summary_;
};

}  // namespace faultline::aggregator::http
