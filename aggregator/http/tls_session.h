#pragma once

// One server-side TLS connection with no socket of its own: ciphertext in and out through two
// memory BIOs, so that libuv keeps doing all the I/O and the HTTP code sees only plaintext.

#include <memory>
#include <string>
#include <string_view>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace faultline::aggregator::http {

/// The TLS state machine of one connection: receive() takes the bytes read from the socket and
/// yields plaintext (driving the handshake first); send() encrypts; whatever must go on the wire
/// (handshake flights, session tickets, alerts, records, close_notify) accumulates until
/// takeOutput(). After a fatal error the session accepts nothing more.
///
/// Thread: one thread at a time (the loop thread). Not copyable or movable.
class TlsSession {
 public:
  /// nullptr when OpenSSL cannot allocate the session.
  static std::unique_ptr<TlsSession> create(SSL_CTX* ctx);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Feeds ciphertext from the peer and appends every byte of plaintext it completes to
  /// `plaintext`. False on a fatal error (bad handshake, bad record): error() says why, and
  /// takeOutput() may hold an alert to send before closing.
  bool receive(std::string_view ciphertext, std::string* plaintext);
  /// Encrypts `plaintext` (precondition: handshakeDone()). False on a fatal error.
  bool send(std::string_view plaintext);
  /// Queues close_notify once; a no-op before the handshake completed or after an error.
  void shutdown();
  /// Moves out the ciphertext waiting to be written (empty when there is none).
  std::string takeOutput();

  bool handshakeDone() const { return handshake_done_; }
  bool failed() const { return failed_; }
  /// The peer sent close_notify: no more plaintext will come.
  bool peerClosed() const { return peer_closed_; }
  /// The reason of the fatal error, e.g. "unsupported protocol".
  const std::string& error() const { return error_; }
  /// After the handshake: "TLSv1.3", and the cipher name.
  std::string protocol() const;
  std::string cipher() const;

 private:
  explicit TlsSession(SSL* ssl) : ssl_(ssl) {}
  bool fail(int ssl_error);

  SSL* ssl_;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool peer_closed_ = false;
  bool shutdown_sent_ = false;
  std::string error_;
};

}  // namespace faultline::aggregator::http
