#include "aggregator/http/tls_session.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>

namespace faultline::aggregator::http {
namespace {
// The largest TLS record's plaintext: one SSL_read never yields more.
constexpr std::size_t kRecordPlaintext = 16 * 1024;
}  // namespace

std::unique_ptr<TlsSession> TlsSession::create(SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  // An empty read BIO means "wait for the socket" (retry), never end of stream: the end of the
  // TCP stream is libuv's to report.
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl, rbio, wbio);  // the SSL owns both from here
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsSession>(new TlsSession(ssl));
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

bool TlsSession::receive(std::string_view ciphertext, std::string* plaintext) {
  if (failed_) {
    return false;
  }
  // The error queue is per thread and shared by every connection on the loop: start clean so
  // SSL_get_error() describes this call only.
  ERR_clear_error();
  BIO* rbio = SSL_get_rbio(ssl_);
  while (!ciphertext.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(ciphertext.size(), INT_MAX));
    const int written = BIO_write(rbio, ciphertext.data(), chunk);
    if (written <= 0) {
      error_ = "out of memory buffering TLS input";
      failed_ = true;
      return false;
    }
    ciphertext.remove_prefix(static_cast<std::size_t>(written));
  }
  if (!handshake_done_) {
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      const int err = SSL_get_error(ssl_, rc);
      return err == SSL_ERROR_WANT_READ || fail(err);
    }
    handshake_done_ = true;
  }
  // Decrypting into the caller's string would need it resized first, and std::string zero-fills
  // what it grows by: 16 KiB per call, for requests of a few hundred bytes (callgrind: 44% of
  // the server's instructions). A stack buffer costs one copy of the bytes actually decrypted.
  char record[kRecordPlaintext];
  while (true) {
    std::size_t got = 0;
    const int rc = SSL_read_ex(ssl_, record, sizeof(record), &got);
    if (rc == 1) {
      plaintext->append(record, got);
      continue;
    }
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ) {
      return true;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return true;
    }
    return fail(err);
  }
}

bool TlsSession::send(std::string_view plaintext) {
  if (failed_ || !handshake_done_) {
    return false;
  }
  ERR_clear_error();
  while (!plaintext.empty()) {
    std::size_t written = 0;
    // The write BIO never blocks, so without partial writes SSL_write_ex takes it all at once.
    const int rc = SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written);
    if (rc != 1) {
      return fail(SSL_get_error(ssl_, rc));
    }
    plaintext.remove_prefix(written);
  }
  return true;
}

void TlsSession::shutdown() {
  if (!handshake_done_ || failed_ || shutdown_sent_) {
    return;
  }
  shutdown_sent_ = true;
  ERR_clear_error();
  // Returns 0 (sent, the peer's has not arrived) or 1; we do not wait for the peer's.
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TlsSession::takeOutput() {
  BIO* wbio = SSL_get_wbio(ssl_);
  char* data = nullptr;
  const long size = BIO_get_mem_data(wbio, &data);
  if (size <= 0) {
    return {};
  }
  std::string out(data, static_cast<std::size_t>(size));
  (void)BIO_reset(wbio);  // a writable memory BIO is emptied by a reset
  return out;
}

std::string TlsSession::protocol() const {
  return SSL_get_version(ssl_);
}

std::string TlsSession::cipher() const {
  const char* name = SSL_get_cipher_name(ssl_);
  return name != nullptr ? name : "";
}

bool TlsSession::fail(int ssl_error) {
  failed_ = true;
  const unsigned long code = ERR_peek_last_error();
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    error_ = reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    error_ = "unexpected end of the TLS stream";
  } else {
    error_ = "TLS error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
  return false;
}

}  // namespace faultline::aggregator::http
