#include "aggregator/api/notify_api.h"

#include <nlohmann/json.hpp>

#include "aggregator/api/replies.h"
#include "aggregator/notify/http_client.h"
#include "aggregator/notify/notification.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;

constexpr std::size_t kDefaultDeliveries = 50;
constexpr std::size_t kMaxDeliveries = 100;

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("notify-api", what, status);
}

http::Response channelNotFound() {
  return http::Response::error(404, "not_found", "no such notification channel");
}

json splitEvents(std::string_view events) {
  json out = json::array();
  while (!events.empty()) {
    std::size_t comma = events.find(',');
    out.push_back(std::string(events.substr(0, comma)));
    events = comma == std::string_view::npos ? std::string_view() : events.substr(comma + 1);
  }
  return out;
}

/// The channel as the API shows it: never the secret, the URL as its origin only.
json channelJson(const store::NotificationChannel& channel) {
  return {{"id", channel.id},
          {"name", channel.name},
          {"kind", channel.kind},
          {"url", notify::redactedUrl(channel.url)},
          {"signed", !channel.secret.empty()},
          {"events", splitEvents(channel.events)},
          {"min_severity", channel.min_severity},
          {"created_by", channel.created_by},
          {"created_at", formatRfc3339Nanos(channel.created_at_ns)}};
}

json timeOrNull(std::int64_t at_ns) {
  return at_ns == 0 ? json(nullptr) : json(formatRfc3339Nanos(at_ns));
}

json deliveryJson(const store::NotificationDelivery& delivery) {
  return {{"idempotency_key", delivery.idempotency_key},
          {"channel_id", delivery.channel_id},
          {"incident_id", delivery.incident_id},
          {"change", delivery.change},
          {"state", delivery.state},
          {"attempts", delivery.attempts},
          {"last_status", delivery.last_status},
          {"last_error", delivery.last_error},
          {"created_at", formatRfc3339Nanos(delivery.created_at_ns)},
          {"next_attempt_at", delivery.state == store::kDeliveryPending
                                  ? timeOrNull(delivery.next_attempt_at_ns)
                                  : json(nullptr)},
          {"delivered_at", timeOrNull(delivery.delivered_at_ns)}};
}

/// The tenant's channel named by the {id} path parameter; NotFound otherwise.
Result<store::NotificationChannel> findChannel(store::Store& store, std::string_view tenant_id,
                                               const http::Request& request) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr || id->size() > 64) {
    return faultline::notFound("no such channel");
  }
  FL_ASSIGN_OR_RETURN(auto channels, store.listNotificationChannels(tenant_id));
  for (store::NotificationChannel& channel : channels) {
    if (channel.id == *id) {
      return std::move(channel);
    }
  }
  return faultline::notFound("no such channel");
}

}  // namespace

http::Response NotifyApi::list(std::string_view tenant_id, const http::Request&) {
  auto channels = store_.listNotificationChannels(tenant_id);
  if (!channels) {
    return unavailable("list notification channels", channels.status());
  }
  json list = json::array();
  for (const store::NotificationChannel& channel : *channels) {
    list.push_back(channelJson(channel));
  }
  return jsonReply(200, {{"channels", std::move(list)}});
}

http::Response NotifyApi::create(const auth::Principal& principal, const http::Request& request,
                                 std::int64_t now_ns) {
  if (request.body.size() > notify::kMaxChannelSpecBytes) {
    return http::Response::error(
        413, "payload_too_large",
        "at most " + std::to_string(notify::kMaxChannelSpecBytes) + " bytes");
  }
  auto spec = notify::ChannelSpec::parse(request.body);
  if (!spec) {
    return http::Response::error(400, "bad_request", spec.status().message());
  }
  auto existing = store_.listNotificationChannels(principal.tenant_id);
  if (!existing) {
    return unavailable("create notification channel", existing.status());
  }
  if (existing->size() >= store::kMaxChannelsPerTenant) {
    return http::Response::error(409, "limit_reached",
                                 "a tenant keeps at most " +
                                     std::to_string(store::kMaxChannelsPerTenant) +
                                     " notification channels; delete some first");
  }
  store::NotificationChannel channel;
  channel.id = "nch_" + crypto::randomHex(12);
  channel.tenant_id = principal.tenant_id;
  channel.name = spec->name;
  channel.kind = spec->kind;
  channel.url = spec->url;
  channel.secret = spec->secret;
  for (const std::string& event : spec->events) {
    channel.events += (channel.events.empty() ? "" : ",") + event;
  }
  channel.min_severity = spec->min_severity;
  channel.created_by = principal.actor();
  channel.created_at_ns = now_ns;
  if (Status created = store_.createNotificationChannel(channel); !created.isOk()) {
    return unavailable("create notification channel", created);
  }
  json shown = channelJson(channel);
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = "notification_channel.create";
  event.target = "notification_channel:" + channel.id;
  event.client_address = request.remote_address;
  event.detail_json = json{{"name", channel.name},      {"kind", channel.kind},
                           {"url", shown["url"]},       {"signed", shown["signed"]},
                           {"events", shown["events"]}, {"min_severity", channel.min_severity}}
                          .dump(-1, ' ', false, json::error_handler_t::replace);
  event.at_ns = now_ns;
  if (Status recorded = audit_.record(event); !recorded.isOk()) {
    (void)store_.deleteNotificationChannel(channel.tenant_id, channel.id, now_ns);
    return unavailable("audit notification channel", recorded);
  }
  return jsonReply(201, shown);
}

http::Response NotifyApi::remove(const auth::Principal& principal, const http::Request& request,
                                 std::int64_t now_ns) {
  const std::string* id = request.pathParam("id");
  if (id == nullptr || id->size() > 64) {
    return channelNotFound();
  }
  Status deleted = store_.deleteNotificationChannel(principal.tenant_id, *id, now_ns);
  if (deleted.code() == Errc::NotFound) {
    return channelNotFound();
  }
  if (!deleted.isOk()) {
    return unavailable("delete notification channel", deleted);
  }
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = "notification_channel.delete";
  event.target = "notification_channel:" + *id;
  event.client_address = request.remote_address;
  event.at_ns = now_ns;
  if (Status recorded = audit_.record(event); !recorded.isOk()) {
    return unavailable("audit notification channel delete", recorded);
  }
  return jsonReply(200, {{"id", *id}, {"deleted", true}});
}

http::Response NotifyApi::test(const auth::Principal& principal, const http::Request& request,
                               std::int64_t now_ns) {
  auto channel = findChannel(store_, principal.tenant_id, request);
  if (channel.status().code() == Errc::NotFound) {
    return channelNotFound();
  }
  if (!channel) {
    return unavailable("test notification channel", channel.status());
  }
  notify::TestResult result = notifier_.sendTest(*channel, now_ns);
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.action = "notification_channel.test";
  event.target = "notification_channel:" + channel->id;
  event.client_address = request.remote_address;
  event.detail_json = json{{"delivered", result.delivered}, {"status", result.status}}.dump();
  event.at_ns = now_ns;
  if (Status recorded = audit_.record(event); !recorded.isOk()) {
    return unavailable("audit notification channel test", recorded);
  }
  return jsonReply(200, {{"delivered", result.delivered},
                         {"status", result.status},
                         {"error", result.error.empty() ? json(nullptr) : json(result.error)}});
}

http::Response NotifyApi::deliveries(std::string_view tenant_id, const http::Request& request) {
  std::size_t limit = kDefaultDeliveries;
  if (auto text = request.queryParam("limit"); text != nullptr) {
    char* end = nullptr;
    const long value = std::strtol(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || value < 1 || value > static_cast<long>(kMaxDeliveries)) {
      return http::Response::error(400, "bad_request",
                                   "limit: 1.." + std::to_string(kMaxDeliveries));
    }
    limit = static_cast<std::size_t>(value);
  }
  auto channel = findChannel(store_, tenant_id, request);
  if (channel.status().code() == Errc::NotFound) {
    return channelNotFound();
  }
  if (!channel) {
    return unavailable("list notification deliveries", channel.status());
  }
  auto rows = store_.listNotifications(tenant_id, channel->id, limit);
  if (!rows) {
    return unavailable("list notification deliveries", rows.status());
  }
  json list = json::array();
  for (const store::NotificationDelivery& delivery : *rows) {
    list.push_back(deliveryJson(delivery));
  }
  return jsonReply(200, {{"deliveries", std::move(list)}});
}

}  // namespace faultline::aggregator::api
