// The PostgreSQL engine's notification storage (migration 11): channels and the delivery
// outbox. Kept apart from the other files so that they grow without stepping on each other.
#include <string>

#include "aggregator/store/postgres/postgres_store.h"

namespace faultline::aggregator::store::postgres {
namespace {

// Transaction-local settings the row-level security policies read (see migrations.cpp).
constexpr std::string_view kTenantSetting = "faultline.tenant_id";
constexpr std::string_view kDueBeforeSetting = "faultline.notify_due_before";

constexpr Statement kInsertChannel{
    "fl_insert_notify_channel",
    "INSERT INTO notify_channels(tenant_id, id, name, kind, url, secret, events, min_severity, "
    "created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"};
constexpr Statement kListChannels{
    "fl_list_notify_channels",
    "SELECT tenant_id, id, name, kind, url, secret, events, min_severity, created_by, "
    "created_at, deleted_at FROM notify_channels WHERE tenant_id = $1 AND deleted_at = 0 "
    "ORDER BY created_at, id COLLATE \"C\""};
constexpr Statement kDeleteChannel{
    "fl_delete_notify_channel",
    "UPDATE notify_channels SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2 "
    "AND deleted_at = 0"};
// The channel must be the tenant's and in use: the subquery makes a stray id insert nothing.
constexpr Statement kEnqueueDelivery{
    "fl_enqueue_notify_delivery",
    "INSERT INTO notify_deliveries(tenant_id, idempotency_key, channel_id, incident_id, change, "
    "body, state, attempts, created_at, next_attempt_at, delivered_at, last_status, last_error) "
    "SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::bigint, "
    "$9::bigint, $10::bigint, $11::bigint, $12::bigint, $13::text WHERE EXISTS (SELECT 1 FROM "
    "notify_channels WHERE tenant_id = $1::text AND id = $3::text AND deleted_at = 0) "
    "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING"};
#define FL_DELIVERY_SELECT                                                                      \
  "SELECT tenant_id, idempotency_key, channel_id, incident_id, change, body, state, attempts, " \
  "created_at, next_attempt_at, delivered_at, last_status, last_error FROM notify_deliveries "
// Row-level security shows only due pending rows here (policy due_deliveries); the WHERE
// says the same so the index serves it.
constexpr Statement kDueDeliveries{"fl_due_notify_deliveries", FL_DELIVERY_SELECT
                                   "WHERE state = 'pending' AND next_attempt_at <= $1 "
                                   "ORDER BY next_attempt_at, tenant_id COLLATE \"C\", "
                                   "idempotency_key COLLATE \"C\" LIMIT $2"};
constexpr Statement kChannelDeliveries{
    "fl_channel_notify_deliveries", FL_DELIVERY_SELECT
    "WHERE tenant_id = $1 AND channel_id = $2 "
    "ORDER BY created_at DESC, idempotency_key COLLATE \"C\" DESC LIMIT $3"};
#undef FL_DELIVERY_SELECT
constexpr Statement kUpdateDelivery{
    "fl_update_notify_delivery",
    "UPDATE notify_deliveries SET state = $3, attempts = $4, next_attempt_at = $5, "
    "delivered_at = $6, last_status = $7, last_error = $8 WHERE tenant_id = $1 "
    "AND idempotency_key = $2"};

std::string column(const PgResult& r, int row, int col) {
  return std::string(r.bytes(row, col));
}

NotificationChannel readChannel(const PgResult& r, int row) {
  NotificationChannel channel;
  channel.tenant_id = column(r, row, 0);
  channel.id = column(r, row, 1);
  channel.name = column(r, row, 2);
  channel.kind = column(r, row, 3);
  channel.url = column(r, row, 4);
  channel.secret = column(r, row, 5);
  channel.events = column(r, row, 6);
  channel.min_severity = column(r, row, 7);
  channel.created_by = column(r, row, 8);
  channel.created_at_ns = r.int64(row, 9);
  channel.deleted_at_ns = r.int64(row, 10);
  return channel;
}

NotificationDelivery readDelivery(const PgResult& r, int row) {
  NotificationDelivery delivery;
  delivery.tenant_id = column(r, row, 0);
  delivery.idempotency_key = column(r, row, 1);
  delivery.channel_id = column(r, row, 2);
  delivery.incident_id = column(r, row, 3);
  delivery.change = column(r, row, 4);
  delivery.body = column(r, row, 5);
  delivery.state = column(r, row, 6);
  delivery.attempts = r.int64(row, 7);
  delivery.created_at_ns = r.int64(row, 8);
  delivery.next_attempt_at_ns = r.int64(row, 9);
  delivery.delivered_at_ns = r.int64(row, 10);
  delivery.last_status = r.int64(row, 11);
  delivery.last_error = column(r, row, 12);
  return delivery;
}

}  // namespace

Status PostgresStore::createNotificationChannel(const NotificationChannel& channel) {
  Params params;
  params.text(channel.tenant_id)
      .text(channel.id)
      .text(channel.name)
      .text(channel.kind)
      .text(channel.url)
      .text(channel.secret)
      .text(channel.events)
      .text(channel.min_severity)
      .text(channel.created_by)
      .int64(channel.created_at_ns);
  Status status = scopedWrite(kTenantSetting, channel.tenant_id, kInsertChannel, params).status();
  if (status.code() == Errc::AlreadyExists) {
    return notFound("create notification channel: no such tenant (or a duplicate id)");
  }
  return status;
}

Result<std::vector<NotificationChannel>> PostgresStore::listNotificationChannels(
    std::string_view tenant_id) {
  Params params;
  params.text(tenant_id);
  return readRows<NotificationChannel>(kTenantSetting, tenant_id, kListChannels, params,
                                       readChannel);
}

Status PostgresStore::deleteNotificationChannel(std::string_view tenant_id,
                                                std::string_view channel_id, std::int64_t now_ns) {
  Params params;
  params.text(tenant_id).text(channel_id).int64(now_ns);
  FL_ASSIGN_OR_RETURN(std::int64_t changed,
                      scopedWrite(kTenantSetting, tenant_id, kDeleteChannel, params));
  if (changed == 0) {
    return notFound("no such notification channel in this tenant");
  }
  return Status::ok();
}

Status PostgresStore::enqueueNotifications(std::string_view tenant_id,
                                           const std::vector<NotificationDelivery>& deliveries) {
  if (deliveries.size() > kMaxChannelsPerTenant) {
    return invalidArgument("enqueue notifications: more than " +
                           std::to_string(kMaxChannelsPerTenant) + " deliveries at once");
  }
  for (const NotificationDelivery& delivery : deliveries) {
    if (delivery.tenant_id != tenant_id) {
      return invalidArgument("enqueue notifications: a delivery of another tenant");
    }
  }
  if (deliveries.empty()) {
    return Status::ok();
  }
  return inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, tenant_id));
    for (const NotificationDelivery& d : deliveries) {
      Params params;
      params.text(tenant_id)
          .text(d.idempotency_key)
          .text(d.channel_id)
          .text(d.incident_id)
          .text(d.change)
          .text(d.body)
          .text(d.state)
          .int64(d.attempts)
          .int64(d.created_at_ns)
          .int64(d.next_attempt_at_ns)
          .int64(d.delivered_at_ns)
          .int64(d.last_status)
          .text(d.last_error);
      FL_RETURN_IF_ERROR(connection.exec(kEnqueueDelivery, params).status());
    }
    return Status::ok();
  });
}

Result<std::vector<NotificationDelivery>> PostgresStore::dueNotifications(std::int64_t now_ns,
                                                                          std::size_t limit) {
  Params params;
  params.int64(now_ns).int64(static_cast<std::int64_t>(limit));
  return readRows<NotificationDelivery>(kDueBeforeSetting, std::to_string(now_ns), kDueDeliveries,
                                        params, readDelivery);
}

Status PostgresStore::updateNotification(std::string_view tenant_id,
                                         const NotificationDelivery& delivery) {
  Params params;
  params.text(tenant_id)
      .text(delivery.idempotency_key)
      .text(delivery.state)
      .int64(delivery.attempts)
      .int64(delivery.next_attempt_at_ns)
      .int64(delivery.delivered_at_ns)
      .int64(delivery.last_status)
      .text(delivery.last_error);
  FL_ASSIGN_OR_RETURN(std::int64_t changed,
                      scopedWrite(kTenantSetting, tenant_id, kUpdateDelivery, params));
  if (changed == 0) {
    return notFound("no such notification delivery in this tenant");
  }
  return Status::ok();
}

Result<std::vector<NotificationDelivery>> PostgresStore::listNotifications(
    std::string_view tenant_id, std::string_view channel_id, std::size_t limit) {
  Params params;
  params.text(tenant_id).text(channel_id).int64(static_cast<std::int64_t>(limit));
  return readRows<NotificationDelivery>(kTenantSetting, tenant_id, kChannelDeliveries, params,
                                        readDelivery);
}

}  // namespace faultline::aggregator::store::postgres
