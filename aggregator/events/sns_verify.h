#pragma once

// Amazon SNS message signatures (CloudWatch alarms arrive through SNS): checks that an envelope
// was signed by SNS before the receiver trusts it, and confirms subscriptions.
//
// Rules, from the SNS documentation on verifying message signatures:
//   - SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, over the envelope's string_to_sign;
//     the signature is base64.
//   - The signing certificate is fetched only from https://<host>/<...>.pem where the host matches
//     the allow pattern (default sns.*.amazonaws.com and sns.*.amazonaws.com.cn); SubscribeURL
//     follows the same host rule. Its chain is verified against the system CA store (plus an
//     optional extra CA file, for tests and private partitions) and its validity period checked.
//   - Certificates are cached by URL until they expire (bounded; the soonest to expire goes first).
//
// Fetches go through aggregator/notify/http_client.h (OpenSSL on a socket; the aggregator never
// links libcurl), with an overall deadline and a body size cap.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/events/normalize.h"
#include "shared/util/status.h"

namespace faultline::aggregator::events {

struct SnsVerifierOptions {
  /// Comma-separated host patterns; '*' stands for one DNS label ([a-z0-9-]+). Matched against
  /// the whole host of SigningCertURL and SubscribeURL, case-insensitively. Any port is allowed.
  std::string cert_host_pattern = "sns.*.amazonaws.com,sns.*.amazonaws.com.cn";
  /// PEM file of CAs trusted in addition to the system store (empty: system store only).
  std::string extra_ca_file;
  std::chrono::milliseconds fetch_timeout{5000};  // whole request: connect, TLS, response
  std::size_t max_cert_bytes = 16 * 1024;         // body of SigningCertURL
  std::size_t max_confirm_bytes = 64 * 1024;      // body of SubscribeURL
  std::size_t max_cached_certs = 64;
};

/// A parsed https URL the verifier may fetch.
struct SnsUrl {
  std::string host;
  std::string port = "443";
  std::string path_and_query = "/";
};

/// Verifies SNS envelopes and confirms subscriptions.
///
/// Blocking: verify() may fetch a certificate and confirmSubscription() always makes a request,
/// each bounded by fetch_timeout. Call them from an HTTP handler, which runs on the server's
/// WorkerPool thread (aggregator/http/worker_pool.h), never from the libuv loop thread.
/// Thread-safe: one instance is shared by all workers (the certificate cache is locked).
class SnsVerifier {
 public:
  /// InvalidArgument for a bad host pattern or an unreadable extra CA file.
  static Result<std::unique_ptr<SnsVerifier>> create(SnsVerifierOptions options);
  ~SnsVerifier();
  SnsVerifier(const SnsVerifier&) = delete;
  SnsVerifier& operator=(const SnsVerifier&) = delete;

  /// Ok when the envelope's signature is valid under a trusted SNS certificate.
  /// Unauthenticated: bad or unsupported signature, or a certificate that fails the chain or
  /// validity check. InvalidArgument: a certificate URL that breaks the rules (not https, other
  /// host, not .pem). Unavailable: the certificate could not be fetched (retryable).
  Status verify(const SnsEnvelope& envelope);

  /// GETs SubscribeURL (same host rule) and expects 200. FailedPrecondition when the envelope
  /// is not a SubscriptionConfirmation. Does not verify the signature: use accept().
  Status confirmSubscription(const SnsEnvelope& envelope);

  /// The one call for the receiver: verify(); then, for a SubscriptionConfirmation,
  /// confirmSubscription(). Notifications and UnsubscribeConfirmations are only verified.
  Status accept(const SnsEnvelope& envelope);

  /// Checks `url` against the rules (https, allowed host, and when `require_pem` a path ending
  /// in .pem) and splits it. InvalidArgument names the rule broken.
  Result<SnsUrl> checkUrl(std::string_view url, bool require_pem) const;

  /// Certificates held in the cache (for tests and metrics).
  std::size_t cachedCertificates() const;

  struct Impl;

 private:
  explicit SnsVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Decodes standard base64 (padding required, whitespace refused). InvalidArgument otherwise.
Result<std::string> decodeBase64(std::string_view text);

}  // namespace faultline::aggregator::events
