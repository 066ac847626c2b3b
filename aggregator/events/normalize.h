#pragma once

// Webhook payloads → canonical events. Pure functions over untrusted bytes: size, count and
// depth limits, a clear InvalidArgument for anything malformed (naming the field), never a
// partial result. The receivers (HTTP, integration keys, rate limits, storage) sit on top.
//
// Mapping per sender (labels keep everything else):
//   alertmanager (webhook version 4) and grafana (unified alerting, version 1): one event per
//     alert; status firing/resolved; dedup key = the alert's fingerprint; title = annotation
//     summary, else title, else label alertname; body = annotation description, else message;
//     severity = label severity (else warning); service = label service, else job, else app;
//     host = label instance, else host, else node; environment = label env, else environment;
//     time = startsAt (endsAt when resolved).
//   pagerduty (Events API v2): trigger → firing, acknowledge → firing + action "acknowledge",
//     resolve → resolved; dedup key = dedup_key (trigger without one gets a fresh key, as
//     PagerDuty does); payload.summary/source/severity required on trigger; component →
//     service, source → host, group/class/custom_details → labels.
//   datadog (default webhook payload plus the alert fields): dedup key = alert_cycle_key, else
//     aggreg_key, else alert_id, else id; status from alert_transition (Recovered → resolved),
//     else the title's "[Recovered]"/"[Triggered]" prefix; severity from alert_priority P1..P5
//     or the transition (Warn → warning); tags "k:v,..." → labels.
//   cloudwatch (SNS HTTP notification): the alarm in Message; ALARM → firing (error), OK →
//     resolved, INSUFFICIENT_DATA → info; dedup key = AlarmArn. SubscriptionConfirmation and
//     UnsubscribeConfirmation produce no event but the envelope, for the receiver to act on;
//     every envelope carries the string the SNS signature covers.
//   generic: JSON pointers per integration (GenericMapping), optionally over an array of events.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/events/event.h"
#include "shared/util/status.h"

namespace faultline::aggregator::events {

struct NormalizeLimits {
  std::size_t max_body_bytes = 1 << 20;    // larger: ResourceExhausted
  std::size_t max_events = 1000;           // alerts in one payload
  std::size_t max_depth = 32;              // JSON nesting
  std::size_t max_labels = 128;            // per event; more are dropped (counted in a label)
  std::size_t max_label_bytes = 1024;      // per key or value; longer ones are cut
  std::size_t max_title_bytes = 1024;      // cut at a UTF-8 boundary
  std::size_t max_text_bytes = 64 * 1024;  // body and raw per event
};

/// Where a generic integration finds each field (RFC 6901 JSON pointers; empty = not mapped).
struct GenericMapping {
  std::string events;  // an array of events; empty: the body is one event
  std::string title;   // required
  std::string body;
  std::string severity;
  std::string status;  // values in resolved_values → resolved, in info_values → info
  std::string service;
  std::string host;
  std::string environment;
  std::string dedup_key;
  std::string occurred_at;  // RFC 3339 or epoch (s, ms, us, ns)
  std::string labels;       // an object of scalars
  std::vector<std::string> resolved_values = {"resolved", "ok", "closed", "recovered"};
  std::vector<std::string> info_values = {"info"};
};

struct NormalizeContext {
  std::string tenant_id;
  std::string integration_id;
  std::int64_t received_at_ns = 0;
  NormalizeLimits limits;
  const GenericMapping* mapping = nullptr;  // required for kGeneric
};

/// The SNS envelope of a CloudWatch delivery: what the receiver needs to verify the signature
/// and to confirm a subscription.
struct SnsEnvelope {
  std::string type;  // Notification, SubscriptionConfirmation, UnsubscribeConfirmation
  std::string message_id;
  std::string topic_arn;
  std::string subscribe_url;  // confirmations only
  std::string signature_version;
  std::string signature;  // base64
  std::string signing_cert_url;
  std::string string_to_sign;  // the canonical text the signature covers
};

struct Normalized {
  std::vector<Event> events;
  std::optional<SnsEnvelope> sns;  // cloudwatch only
};

/// Normalizes one payload of `kind` (any kind but kLog). InvalidArgument names what is wrong;
/// ResourceExhausted when a limit is exceeded.
Result<Normalized> normalize(SourceKind kind, std::string_view body, const NormalizeContext& ctx);

}  // namespace faultline::aggregator::events
