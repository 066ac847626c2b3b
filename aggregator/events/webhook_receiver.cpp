#include "aggregator/events/webhook_receiver.h"

#include <nlohmann/json.hpp>

#include "aggregator/events/integrations.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::events {
namespace {

using nlohmann::json;

constexpr std::string_view kKeyHeader = "x-faultline-key";

std::string dumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// The same answer for a missing, unknown and revoked key: nothing tells them apart.
http::Response unknownKey() {
  return http::Response::error(404, "not_found", "no integration has this key");
}

/// PagerDuty's 400 shape, so its senders report the problem as they would to PagerDuty.
http::Response pagerDutyInvalid(std::string_view message, std::string_view error) {
  return http::Response::json(400, dumpJson(json{{"status", "invalid event"},
                                                 {"message", message},
                                                 {"errors", json::array({error})}}));
}

/// A store failure: overload and busy databases are worth a retry, the rest is ours.
http::Response storeFailure(const Status& status) {
  if (status.code() == Errc::ResourceExhausted || status.code() == Errc::Unavailable) {
    http::Response response =
        http::Response::error(503, "unavailable", "the store is busy; retry later");
    response.headers.emplace_back("Retry-After", "1");
    return response;
  }
  log::error("webhooks", "record events: " + status.toString());
  return http::Response::error(500, "internal", "the events could not be stored");
}

}  // namespace

struct WebhookReceiver::Accepted {
  std::vector<store::EventDecision> decisions;
  Normalized normalized;
};

WebhookReceiver::WebhookReceiver(store::Store& store, WebhookOptions options, Clock clock)
    : store_(store),
      options_(std::move(options)),
      clock_(std::move(clock)),
      keys_(options_.key_cache_ttl, 10'000) {
  if (!clock_) {
    clock_ = [] { return nowUnixNanos(); };
  }
}

WebhookReceiver::~WebhookReceiver() = default;

Result<store::Integration> WebhookReceiver::integrationForKey(std::string_view key) {
  if (key.empty() || key.size() > 256 || !key.starts_with(kIntegrationKeyPrefix)) {
    return notFound("no integration has this key");
  }
  const std::string hash = crypto::hashSecret(key);
  const std::int64_t now = monotonicNanos();
  std::optional<store::Integration> cached = keys_.get(hash, now);
  if (!cached) {
    FL_ASSIGN_OR_RETURN(store::Integration found, store_.findIntegrationByKeyHash(hash));
    keys_.put(hash, found, now);
    cached = std::move(found);
  }
  store::Integration integration = std::move(*cached);
  if (integration.revoked_at_ns != 0) {
    return notFound("no integration has this key");
  }
  return integration;
}

std::optional<http::Response> WebhookReceiver::limit(const store::Integration& integration) {
  http::RateLimiter* limiter = nullptr;
  {
    std::lock_guard lock(limiters_mutex_);
    std::unique_ptr<http::RateLimiter>& slot = limiters_[integration.id];
    const http::RateLimitSpec spec{static_cast<double>(integration.rate_limit_rps),
                                   static_cast<double>(integration.rate_limit_burst)};
    if (slot == nullptr || slot->spec().per_second != spec.per_second ||
        slot->spec().burst != spec.burst) {
      slot = std::make_unique<http::RateLimiter>("integration", spec, 16);
    }
    limiter = slot.get();  // limiters are never erased while the receiver lives
  }
  http::RateDecision decision = limiter->take(integration.id);
  if (decision.allowed) {
    return std::nullopt;
  }
  return http::rateLimitedResponse(*limiter, decision);
}

Result<WebhookReceiver::Accepted> WebhookReceiver::accept(const store::Integration& integration,
                                                          SourceKind kind, std::string_view body) {
  std::optional<GenericMapping> mapping;
  if (kind == SourceKind::kGeneric) {
    auto parsed = parseGenericMapping(integration.mapping_json);
    if (!parsed) {
      // Validated at creation: a stored mapping this binary refuses is our problem.
      return Status(Errc::Internal,
                    "integration " + integration.id +
                        " has a mapping this server refuses: " + parsed.status().message());
    }
    mapping = std::move(*parsed);
  }
  NormalizeContext ctx;
  ctx.tenant_id = integration.tenant_id;
  ctx.integration_id = integration.id;
  ctx.received_at_ns = clock_();
  ctx.limits = options_.limits;
  ctx.mapping = mapping ? &*mapping : nullptr;
  Accepted accepted;
  FL_ASSIGN_OR_RETURN(accepted.normalized, normalize(kind, body, ctx));
  if (accepted.normalized.sns && options_.cloudwatch_verify) {
    if (options_.sns_verifier == nullptr) {
      return Status(Errc::FailedPrecondition, "SNS signature verification not available: message " +
                                                  accepted.normalized.sns->message_id + " refused");
    }
    // Verifies the signature and, for a SubscriptionConfirmation, confirms it (one GET).
    Status verified = options_.sns_verifier->accept(*accepted.normalized.sns);
    if (!verified.isOk()) {
      return Status(
          verified.code() == Errc::InvalidArgument ? Errc::Unauthenticated : verified.code(),
          "SNS: " + verified.message());
    }
  }
  auto recorded = store_.recordEvents(integration.tenant_id, accepted.normalized.events);
  if (!recorded) {
    // Tagged so the caller answers 503/500, not 400: the input was fine.
    return Status(recorded.code() == Errc::InvalidArgument ? Errc::Internal : recorded.code(),
                  "store: " + recorded.status().message());
  }
  accepted.decisions = std::move(*recorded);
  if (options_.on_recorded) {
    options_.on_recorded(integration.tenant_id,
                         storedEvents(accepted.normalized.events, accepted.decisions));
  }
  return accepted;
}

std::optional<http::Response> WebhookReceiver::limitAddress(const http::Request& request) const {
  if (options_.rate_limits == nullptr) {
    return std::nullopt;
  }
  return options_.rate_limits->admit(request.remote_address, {}, {});
}

http::Response WebhookReceiver::receive(const http::Request& request) {
  if (auto limited = limitAddress(request)) {
    return std::move(*limited);
  }
  std::string key;
  if (const std::string* in_path = request.pathParam("key"); in_path != nullptr) {
    key = *in_path;
  } else if (const std::string* in_header = request.header(kKeyHeader); in_header != nullptr) {
    key = *in_header;
  }
  auto integration = integrationForKey(key);
  if (!integration) {
    if (integration.code() != Errc::NotFound) {
      return storeFailure(integration.status());
    }
    return unknownKey();
  }
  if (auto limited = limit(*integration)) {
    return std::move(*limited);
  }
  std::optional<SourceKind> kind = sourceKindFromName(integration->kind);
  if (!kind) {
    return storeFailure(internalError("integration " + integration->id + " has unknown kind"));
  }
  auto accepted = accept(*integration, *kind, request.body);
  if (!accepted) {
    const Status& status = accepted.status();
    switch (status.code()) {
      case Errc::InvalidArgument:
        return http::Response::error(400, "bad_request", status.message());
      case Errc::ResourceExhausted:
        if (status.message().starts_with("store: ")) {
          return storeFailure(status);
        }
        return http::Response::error(413, "payload_too_large", status.message());
      case Errc::FailedPrecondition:
        return http::Response::error(501, "not_implemented", status.message());
      case Errc::Unauthenticated:
        // A signature (or certificate URL) that does not prove the body came from SNS.
        return http::Response::error(403, "bad_signature", status.message());
      default: return storeFailure(status);
    }
  }
  json events = json::array();
  for (std::size_t i = 0; i < accepted->decisions.size(); ++i) {
    const store::EventDecision& decision = accepted->decisions[i];
    const Event& event = accepted->normalized.events[i];
    events.push_back({{"id", decision.event_id},
                      {"fingerprint", event.fingerprint},
                      {"status", eventStatusName(event.status)},
                      {"decision", store::noiseDecisionName(decision.decision)},
                      {"reason", decision.reason}});
  }
  json body = {{"accepted", accepted->decisions.size()}, {"events", std::move(events)}};
  const auto& sns = accepted->normalized.sns;
  if (sns && sns->type == "SubscriptionConfirmation") {
    // Verified and confirmed by the SnsVerifier above (unless verification is off in tests).
    const bool confirmed = options_.cloudwatch_verify;
    log::info("webhooks",
              std::string("SNS subscription ") + (confirmed ? "confirmed" : "to confirm by hand") +
                  " for integration " + integration->id + " (topic " + sns->topic_arn + ")");
    body["subscription_confirmed"] = confirmed;
  }
  return http::Response::json(202, dumpJson(body));
}

http::Response WebhookReceiver::enqueuePagerDuty(const http::Request& request) {
  if (auto limited = limitAddress(request)) {
    return std::move(*limited);
  }
  std::string key;
  if (const std::string* in_path = request.pathParam("key"); in_path != nullptr) {
    key = *in_path;
  } else {
    if (request.body.size() > options_.limits.max_body_bytes) {
      return http::Response::error(
          413, "payload_too_large",
          "payload is larger than " + std::to_string(options_.limits.max_body_bytes) + " bytes");
    }
    json doc = json::parse(request.body, nullptr, false);
    if (!doc.is_object()) {
      return pagerDutyInvalid("Event object is invalid", "Body is not a JSON object");
    }
    auto routing_key = doc.find("routing_key");
    if (routing_key == doc.end() || !routing_key->is_string()) {
      return pagerDutyInvalid("Event object is invalid", "'routing_key' is missing or blank");
    }
    key = routing_key->get<std::string>();
  }
  auto integration = integrationForKey(key);
  if (!integration) {
    if (integration.code() != Errc::NotFound) {
      return storeFailure(integration.status());
    }
    return unknownKey();
  }
  if (integration->kind != sourceKindName(SourceKind::kPagerDuty)) {
    return pagerDutyInvalid(
        "Event object is invalid",
        "this key belongs to a " + integration->kind + " integration, not pagerduty");
  }
  if (auto limited = limit(*integration)) {
    return std::move(*limited);
  }
  auto accepted = accept(*integration, SourceKind::kPagerDuty, request.body);
  if (!accepted) {
    const Status& status = accepted.status();
    if (status.code() == Errc::InvalidArgument) {
      return pagerDutyInvalid("Event object is invalid", status.message());
    }
    if (status.code() == Errc::ResourceExhausted && !status.message().starts_with("store: ")) {
      return http::Response::error(413, "payload_too_large", status.message());
    }
    return storeFailure(status);
  }
  std::string dedup_key;
  if (!accepted->normalized.events.empty()) {
    dedup_key = accepted->normalized.events.front().source_dedup_key;
  }
  return http::Response::json(
      202, dumpJson(json{
               {"status", "success"}, {"message", "Event processed"}, {"dedup_key", dedup_key}}));
}

void addWebhookRoutes(http::Router& router, std::shared_ptr<WebhookReceiver> receiver) {
  auto bind = [&receiver](http::Response (WebhookReceiver::*handler)(const http::Request&),
                          const char* what) {
    return [receiver, handler, what](http::Request&& request, http::Respond respond) {
      http::Response response;
      try {
        response = ((*receiver).*handler)(request);
      } catch (const std::exception& e) {
        log::error("webhooks", std::string(what) + " threw: " + e.what());
        response = http::Response::error(500, "internal", std::string(what) + " failed");
      }
      respond(std::move(response));
    };
  };
  router.add("POST", "/v1/hooks", bind(&WebhookReceiver::receive, "webhook"));
  router.add("POST", "/v1/hooks/{key}", bind(&WebhookReceiver::receive, "webhook"));
  router.add("POST", "/v1/hooks/pagerduty/v2/enqueue",
             bind(&WebhookReceiver::enqueuePagerDuty, "pagerduty enqueue"));
  router.add("POST", "/v1/hooks/{key}/v2/enqueue",
             bind(&WebhookReceiver::enqueuePagerDuty, "pagerduty enqueue"));
}

}  // namespace faultline::aggregator::events
