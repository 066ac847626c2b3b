#pragma once

// What an outbound incident notification is: the channel spec a tenant posts, the bodies sent
// (a versioned webhook document, or a Slack incoming-webhook message), the idempotency key that
// lets receivers drop repeats, the HMAC signature, and the retry schedule. Pure functions; the
// Notifier (notifier.h) does the I/O.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/incidents/incident_engine.h"
#include "aggregator/store/notify_records.h"
#include "shared/logparse/severity.h"
#include "shared/util/status.h"

namespace faultline::aggregator::notify {

/// Largest channel spec accepted (POST /v1/notification-channels body).
inline constexpr std::size_t kMaxChannelSpecBytes = 8 * 1024;
inline constexpr std::size_t kMaxChannelUrlBytes = 2048;
inline constexpr std::size_t kMaxChannelSecretBytes = 256;
inline constexpr std::size_t kMinChannelSecretBytes = 16;
inline constexpr std::size_t kMaxChannelNameBytes = 100;

/// The incident changes a channel may subscribe to (incidents::IncidentNotice::change).
const std::vector<std::string_view>& knownChanges();

/// A validated channel spec. Unknown keys are refused.
///   {"name": "...", "kind": "webhook"|"slack", "url": "http(s)://...",
///    "secret": "..." (webhook only, 16..256 bytes), "events": ["opened", ...] (default all),
///    "min_severity": "warn" (default: every severity)}
struct ChannelSpec {
  std::string name;
  std::string kind;
  std::string url;
  std::string secret;
  std::vector<std::string> events;  // in knownChanges() order, no repeats
  std::string min_severity;         // logparse::severityName; "unknown": every severity

  /// InvalidArgument naming the field at fault (never echoing the URL's query or the secret).
  static Result<ChannelSpec> parse(std::string_view json_text);
};

/// Whether `channel` wants this notice (its events and minimum severity).
bool channelWants(const store::NotificationChannel& channel,
                  const incidents::IncidentNotice& notice);

/// "ntf_" + 32 hex digits, a hash of (channel id, incident id, change, at): the same notice to
/// the same channel always gets the same key, on any node, across restarts.
std::string idempotencyKey(std::string_view channel_id, std::string_view incident_id,
                           std::string_view change, std::int64_t at_ns);

/// The body for the channel's kind ("webhook" or "slack"). `key` is the idempotency key.
std::string renderBody(std::string_view kind, const incidents::IncidentNotice& notice,
                       std::string_view key);
/// Version 1 of the webhook document: type "incident.<change>", the incident summary, its top
/// cause and the API path of the incident.
std::string renderWebhookBody(const incidents::IncidentNotice& notice, std::string_view key);
/// Slack incoming-webhook message: {"text": ..., "blocks": [...]}.
std::string renderSlackBody(const incidents::IncidentNotice& notice);
/// What POST /v1/notification-channels/{id}/test sends.
std::string renderTestBody(std::string_view kind, std::string_view channel_id, std::int64_t at_ns);

/// "sha256=" + hex HMAC-SHA256 of `body` under `secret` (X-Faultline-Signature).
std::string signatureHeader(std::string_view secret, std::string_view body);

struct RetryPolicy {
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{std::chrono::minutes(10)};
  /// Attempts in all (the first included); then the delivery is marked failed.
  std::int64_t max_attempts = 15;
  /// Deliveries older than this are marked failed instead of tried again.
  std::chrono::milliseconds give_up_after{std::chrono::hours(24)};
  /// A Retry-After beyond this is cut to it.
  std::chrono::milliseconds max_retry_after{std::chrono::hours(1)};
};

/// The wait before the next attempt after `attempts` failed ones (1, 2, ...): base·2^(n-1),
/// capped at max_delay, with "equal jitter" (half fixed, half random by `jitter` in [0, 1)) so
/// that many receivers failing together do not retry in step.
std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, std::int64_t attempts,
                                       double jitter);

/// What one attempt's outcome means.
enum class AttemptOutcome : std::uint8_t { kDelivered, kRetry, kFinal };
/// 2xx delivered; network errors (status 0), 5xx and 429 retry; any other status is final.
AttemptOutcome classifyStatus(int http_status);

/// `text` cut to `max` bytes with anything outside printable ASCII replaced by '?': for
/// last_error, which holds what other servers said.
std::string printable(std::string_view text, std::size_t max);

}  // namespace faultline::aggregator::notify
