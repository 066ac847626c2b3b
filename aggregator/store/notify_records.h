#pragma once

// Rows of the notification tables (migration 11): each tenant's outbound channels and the
// durable outbox of deliveries to them (aggregator/notify). One delivery row per (channel,
// incident change), keyed by its idempotency key, so enqueueing the same change twice is one
// delivery and a restart resumes whatever is still pending.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultline::aggregator::store {

struct NotificationChannel {
  std::string id;  // "nch_<hex>"
  std::string tenant_id;
  std::string name;
  std::string kind;          // "webhook" | "slack"
  std::string url;           // http(s), no credentials
  std::string secret;        // HMAC key for webhook signatures; empty: unsigned. Never served.
  std::string events;        // comma-separated changes it wants ("opened,acknowledged,...")
  std::string min_severity;  // logparse::severityName
  std::string created_by;
  std::int64_t created_at_ns = 0;
  std::int64_t deleted_at_ns = 0;  // 0: in use
};

/// Where a delivery stands.
inline constexpr std::string_view kDeliveryPending = "pending";
inline constexpr std::string_view kDeliveryDelivered = "delivered";
inline constexpr std::string_view kDeliveryFailed = "failed";

struct NotificationDelivery {
  std::string idempotency_key;  // "ntf_<hex>": stable per (channel, incident, change, at)
  std::string tenant_id;
  std::string channel_id;
  std::string incident_id;
  std::string change;  // incidents::IncidentNotice::change
  std::string body;    // rendered once at enqueue, so every attempt sends the same bytes
  std::string state = std::string(kDeliveryPending);
  std::int64_t attempts = 0;
  std::int64_t created_at_ns = 0;
  std::int64_t next_attempt_at_ns = 0;
  std::int64_t delivered_at_ns = 0;
  std::int64_t last_status = 0;  // HTTP status of the last attempt; 0: none or no response
  std::string last_error;        // printable ASCII, bounded
};

/// Deliveries one enqueue may carry (one per channel of a tenant).
inline constexpr std::size_t kMaxChannelsPerTenant = 50;

}  // namespace faultline::aggregator::store
