#pragma once

// The webhook receivers: an integration's key finds its tenant, kind and rate limit; the body
// is normalized (normalize.h) and recorded with its noise decisions in one transaction.
//
//   POST /v1/hooks/{key}                  the integration's own kind
//   POST /v1/hooks                        same, key in the X-Faultline-Key header
//   POST /v1/hooks/pagerduty/v2/enqueue   PagerDuty Events API v2: key = body.routing_key
//   POST /v1/hooks/{key}/v2/enqueue       PagerDuty Events API v2 with the key in the path
//
// Answers: 202 with each event's decision (PagerDuty's own 202 shape on its endpoints); 404 for
// an unknown or revoked key, the same whatever was wrong; 429 from the client address's bucket
// (before the key is looked up, so guessing keys costs the guesser) or the integration's; 400
// (PagerDuty-shaped on its endpoints) or 413 for bad input. Nothing is stored unless all of a
// request's events are.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "aggregator/auth/credential_cache.h"
#include "aggregator/events/event_hub.h"
#include "aggregator/events/noise_policies.h"
#include "aggregator/events/normalize.h"
#include "aggregator/events/sns_verify.h"
#include "aggregator/http/rate_limiter.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::events {

struct WebhookOptions {
  /// Check SNS signatures on CloudWatch deliveries. Only tests turn this off
  /// (config webhooks.cloudwatch_verify).
  bool cloudwatch_verify = true;
  /// Checks SNS signatures and confirms subscriptions (not owned; must outlive the receiver).
  /// Null while cloudwatch_verify is on: CloudWatch deliveries are refused with 501.
  SnsVerifier* sns_verifier = nullptr;
  /// Per client address, asked before the key is looked up (not owned; null: no limit).
  const http::RateLimits* rate_limits = nullptr;
  /// How long a key's integration is reused without asking the store; revocation through this
  /// node (forgetCachedKeys) applies at once, through another node within this time.
  std::chrono::milliseconds key_cache_ttl{5'000};
  /// Suppression rules, maintenance windows and flapping (null: none, default flapping).
  std::shared_ptr<NoisePolicies> noise;
  NormalizeLimits limits;
  /// Gets every recorded event with its id and decision (the event hub); empty: none.
  EventSink on_recorded;
};

/// Thread-safe: handlers run on the server's worker threads; answers may come from the store's
/// writer thread. Does not own the store, which must outlive it.
class WebhookReceiver {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix nanoseconds; tests move time

  WebhookReceiver(store::Store& store, WebhookOptions options, Clock clock = {});
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  /// POST /v1/hooks/{key} and POST /v1/hooks (X-Faultline-Key). Answers through `respond`
  /// once the events are durable, from whichever thread finished the work: the handler's
  /// thread is free while the store commits, so requests in flight are bounded by the
  /// connections, not by the server's worker threads.
  void receive(const http::Request& request, http::Respond respond);
  /// POST /v1/hooks/pagerduty/v2/enqueue and /v1/hooks/{key}/v2/enqueue.
  void enqueuePagerDuty(const http::Request& request, http::Respond respond);
  /// receive(), waiting for the answer (tests).
  http::Response receive(const http::Request& request);

  /// Drops every cached key lookup: call after revoking an integration.
  void forgetCachedKeys() { keys_.clear(); }

 private:
  struct Accepted;
  /// The active integration of `key`, or the uniform 404.
  Result<store::Integration> integrationForKey(std::string_view key);
  /// The client address's bucket (a 429 when empty), before any store lookup.
  std::optional<http::Response> limitAddress(const http::Request& request) const;
  /// The integration's bucket: a 429 when empty.
  std::optional<http::Response> limit(const store::Integration& integration);
  /// Normalizes `body` and checks an SNS delivery's signature: everything before the store.
  Result<Normalized> prepare(const store::Integration& integration, SourceKind kind,
                             std::string_view body);
  using Finish = std::function<void(Result<Accepted>)>;
  /// Normalizes, applies the tenant's noise policy and records; `finish` gets the outcome
  /// (exactly once, possibly on the store's writer thread). The receiver-specific answers are
  /// left to `finish`.
  void accept(const store::Integration& integration, SourceKind kind, std::string_view body,
              Finish finish);

  store::Store& store_;
  WebhookOptions options_;
  Clock clock_;
  auth::CredentialCache<store::Integration> keys_;  // by key hash
  std::mutex limiters_mutex_;
  std::unordered_map<std::string, std::unique_ptr<http::RateLimiter>> limiters_;
};

/// Adds the receiver routes to `router`; its handlers share ownership of `receiver`.
void addWebhookRoutes(http::Router& router, std::shared_ptr<WebhookReceiver> receiver);

}  // namespace faultline::aggregator::events
