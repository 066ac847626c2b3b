#include "aggregator/events/webhook_receiver.h"

#include <atomic>
#include <future>
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
  std::shared_ptr<const std::vector<Event>> events;  // as recorded
  std::optional<SnsEnvelope> sns;
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

void WebhookReceiver::accept(const store::Integration& integration, SourceKind kind,
                             std::string_view body, Finish finish) {
  Result<Normalized> normalized = prepare(integration, kind, body);
  if (!normalized) {
    finish(normalized.status());
    return;
  }
  store::RecordContext context;
  if (options_.noise) {
    auto decided = options_.noise->contextFor(integration.tenant_id, normalized->events);
    if (!decided) {
      finish(Status(decided.code() == Errc::InvalidArgument ? Errc::Internal : decided.code(),
                    "noise rules: " + decided.status().message()));
      return;
    }
    context = std::move(*decided);
  }
  auto accepted = std::make_shared<Accepted>();
  accepted->events = std::make_shared<const std::vector<Event>>(std::move(normalized->events));
  accepted->sns = std::move(normalized->sns);
  store_.recordEventsAsync(
      integration.tenant_id, accepted->events, std::move(context),
      [accepted, finish = std::move(finish), sink = options_.on_recorded,
       tenant_id = integration.tenant_id](Result<std::vector<store::EventDecision>> recorded) {
        if (!recorded) {
          // Tagged so the caller answers 503/500, not 400: the input was fine.
          finish(Status(recorded.code() == Errc::InvalidArgument ? Errc::Internal : recorded.code(),
                        "store: " + recorded.status().message()));
          return;
        }
        accepted->decisions = std::move(*recorded);
        if (sink) {  // live streams see the events once they are durable
          sink(tenant_id, storedEvents(*accepted->events, accepted->decisions));
        }
        finish(std::move(*accepted));
      });
}

Result<Normalized> WebhookReceiver::prepare(const store::Integration& integration, SourceKind kind,
                                            std::string_view body) {
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
  FL_ASSIGN_OR_RETURN(Normalized normalized, normalize(kind, body, ctx));
  if (normalized.sns && options_.cloudwatch_verify) {
    if (options_.sns_verifier == nullptr) {
      return Status(Errc::FailedPrecondition, "SNS signature verification not available: message " +
                                                  normalized.sns->message_id + " refused");
    }
    // Verifies the signature and, for a SubscriptionConfirmation, confirms it (one GET).
    Status verified = options_.sns_verifier->accept(*normalized.sns);
    if (!verified.isOk()) {
      return Status(
          verified.code() == Errc::InvalidArgument ? Errc::Unauthenticated : verified.code(),
          "SNS: " + verified.message());
    }
  }
  return normalized;
}

std::optional<http::Response> WebhookReceiver::limitAddress(const http::Request& request) const {
  if (options_.rate_limits == nullptr) {
    return std::nullopt;
  }
  return options_.rate_limits->admit(request.remote_address, {}, {});
}

http::Response WebhookReceiver::receive(const http::Request& request) {
  std::promise<http::Response> answer;
  std::future<http::Response> answered = answer.get_future();
  auto shared = std::make_shared<std::promise<http::Response>>(std::move(answer));
  receive(request, [shared](http::Response response) { shared->set_value(std::move(response)); });
  return answered.get();
}

void WebhookReceiver::receive(const http::Request& request, http::Respond respond) {
  if (auto limited = limitAddress(request)) {
    return respond(std::move(*limited));
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
      return respond(storeFailure(integration.status()));
    }
    return respond(unknownKey());
  }
  if (auto limited = limit(*integration)) {
    return respond(std::move(*limited));
  }
  std::optional<SourceKind> kind = sourceKindFromName(integration->kind);
  if (!kind) {
    return respond(
        storeFailure(internalError("integration " + integration->id + " has unknown kind")));
  }
  accept(*integration, *kind, request.body,
         // Captures no `this`: the answer may come from the store's writer after the router
         // (and this receiver) are gone at shutdown.
         [respond = std::move(respond), integration_id = integration->id,
          confirmed = options_.cloudwatch_verify](Result<Accepted> accepted) {
           if (!accepted) {
             const Status& status = accepted.status();
             switch (status.code()) {
               case Errc::InvalidArgument:
                 return respond(http::Response::error(400, "bad_request", status.message()));
               case Errc::ResourceExhausted:
                 if (status.message().starts_with("store: ")) {
                   return respond(storeFailure(status));
                 }
                 return respond(http::Response::error(413, "payload_too_large", status.message()));
               case Errc::FailedPrecondition:
                 return respond(http::Response::error(501, "not_implemented", status.message()));
               case Errc::Unauthenticated:
                 // A signature (or certificate URL) that does not prove the body came from SNS.
                 return respond(http::Response::error(403, "bad_signature", status.message()));
               default: return respond(storeFailure(status));
             }
           }
           json events = json::array();
           for (std::size_t i = 0; i < accepted->decisions.size(); ++i) {
             const store::EventDecision& decision = accepted->decisions[i];
             const Event& event = (*accepted->events)[i];
             json entry = {{"id", decision.event_id},
                           {"fingerprint", event.fingerprint},
                           {"status", eventStatusName(event.status)},
                           {"decision", store::noiseDecisionName(decision.decision)},
                           {"reason", decision.reason}};
             if (!decision.rule_id.empty()) {
               entry["rule_id"] = decision.rule_id;
             }
             events.push_back(std::move(entry));
           }
           json body = {{"accepted", accepted->decisions.size()}, {"events", std::move(events)}};
           const auto& sns = accepted->sns;
           if (sns && sns->type == "SubscriptionConfirmation") {
             // Verified and confirmed by the SnsVerifier (unless verification is off in tests).
             log::info("webhooks", std::string("SNS subscription ") +
                                       (confirmed ? "confirmed" : "to confirm by hand") +
                                       " for integration " + integration_id + " (topic " +
                                       sns->topic_arn + ")");
             body["subscription_confirmed"] = confirmed;
           }
           respond(http::Response::json(202, dumpJson(body)));
         });
}

void WebhookReceiver::enqueuePagerDuty(const http::Request& request, http::Respond respond) {
  if (auto limited = limitAddress(request)) {
    return respond(std::move(*limited));
  }
  std::string key;
  if (const std::string* in_path = request.pathParam("key"); in_path != nullptr) {
    key = *in_path;
  } else {
    if (request.body.size() > options_.limits.max_body_bytes) {
      return respond(http::Response::error(
          413, "payload_too_large",
          "payload is larger than " + std::to_string(options_.limits.max_body_bytes) + " bytes"));
    }
    json doc = json::parse(request.body, nullptr, false);
    if (!doc.is_object()) {
      return respond(pagerDutyInvalid("Event object is invalid", "Body is not a JSON object"));
    }
    auto routing_key = doc.find("routing_key");
    if (routing_key == doc.end() || !routing_key->is_string()) {
      return respond(
          pagerDutyInvalid("Event object is invalid", "'routing_key' is missing or blank"));
    }
    key = routing_key->get<std::string>();
  }
  auto integration = integrationForKey(key);
  if (!integration) {
    if (integration.code() != Errc::NotFound) {
      return respond(storeFailure(integration.status()));
    }
    return respond(unknownKey());
  }
  if (integration->kind != sourceKindName(SourceKind::kPagerDuty)) {
    return respond(pagerDutyInvalid(
        "Event object is invalid",
        "this key belongs to a " + integration->kind + " integration, not pagerduty"));
  }
  if (auto limited = limit(*integration)) {
    return respond(std::move(*limited));
  }
  accept(*integration, SourceKind::kPagerDuty, request.body,
         [respond = std::move(respond)](Result<Accepted> accepted) {
           if (!accepted) {
             const Status& status = accepted.status();
             if (status.code() == Errc::InvalidArgument) {
               return respond(pagerDutyInvalid("Event object is invalid", status.message()));
             }
             if (status.code() == Errc::ResourceExhausted &&
                 !status.message().starts_with("store: ")) {
               return respond(http::Response::error(413, "payload_too_large", status.message()));
             }
             return respond(storeFailure(status));
           }
           std::string dedup_key;
           if (!accepted->events->empty()) {
             dedup_key = accepted->events->front().source_dedup_key;
           }
           respond(http::Response::json(202, dumpJson(json{{"status", "success"},
                                                           {"message", "Event processed"},
                                                           {"dedup_key", dedup_key}})));
         });
}

void addWebhookRoutes(http::Router& router, std::shared_ptr<WebhookReceiver> receiver) {
  using Handler = void (WebhookReceiver::*)(const http::Request&, http::Respond);
  auto bind = [&receiver](Handler handler, const char* what) {
    return [receiver, handler, what](http::Request&& request, http::Respond respond) {
      // The request must outlive the asynchronous part: the receiver copies what it keeps.
      auto once = std::make_shared<std::atomic<bool>>(false);
      http::Respond guarded = [respond, once](http::Response response) {
        if (!once->exchange(true)) {
          respond(std::move(response));
        }
      };
      try {
        ((*receiver).*handler)(request, guarded);
      } catch (const std::exception& e) {
        log::error("webhooks", std::string(what) + " threw: " + e.what());
        guarded(http::Response::error(500, "internal", std::string(what) + " failed"));
      }
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
