// The Store contract for notifications (migration 11): channels and the delivery outbox on
// every engine (store_engines.h), and every tenant-scoped call tried across tenants.
#include <doctest/doctest.h>

#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

store::Tenant tenantNamed(store::Store& store, const std::string& name) {
  auto tenant = store.createTenant(name, nowUnixNanos());
  REQUIRE_MESSAGE(tenant.isOk(), tenant.status().toString());
  return *tenant;
}

store::NotificationChannel channelFor(const store::Tenant& tenant, const std::string& name) {
  store::NotificationChannel channel;
  channel.id = "nch_" + crypto::randomHex(12);
  channel.tenant_id = tenant.id;
  channel.name = name;
  channel.kind = "webhook";
  channel.url = "https://hooks.example.com/" + name + "?token=t0k3n";
  channel.secret = "s3cret-s3cret-s3cret";
  channel.events = "opened,acknowledged";
  channel.min_severity = "warn";
  channel.created_by = "usr_1";
  channel.created_at_ns = 1000;
  return channel;
}

store::NotificationDelivery deliveryFor(const store::NotificationChannel& channel,
                                        const std::string& key, std::int64_t due_ns) {
  store::NotificationDelivery delivery;
  delivery.idempotency_key = key;
  delivery.tenant_id = channel.tenant_id;
  delivery.channel_id = channel.id;
  delivery.incident_id = "inc_1";
  delivery.change = "opened";
  delivery.body = R"({"type":"incident.opened"})";
  delivery.created_at_ns = due_ns;
  delivery.next_attempt_at_ns = due_ns;
  return delivery;
}

}  // namespace

TEST_CASE_TEMPLATE("notify channels: stored per tenant with their secret, deleted once", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::NotificationChannel ops = channelFor(a, "ops");
  REQUIRE(store->createNotificationChannel(ops).isOk());
  CHECK(store->createNotificationChannel(ops).code() == Errc::NotFound);  // duplicate id
  store::NotificationChannel stray = channelFor(a, "stray");
  stray.tenant_id = "tnt_nosuch";
  CHECK(store->createNotificationChannel(stray).code() == Errc::NotFound);

  auto listed = store->listNotificationChannels(a.id);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  const store::NotificationChannel& got = listed->front();
  CHECK(got.id == ops.id);
  CHECK(got.name == "ops");
  CHECK(got.kind == "webhook");
  CHECK(got.url == ops.url);
  CHECK(got.secret == ops.secret);
  CHECK(got.events == "opened,acknowledged");
  CHECK(got.min_severity == "warn");
  CHECK(got.created_by == "usr_1");
  CHECK(got.created_at_ns == 1000);
  CHECK(got.deleted_at_ns == 0);

  // Tenant B sees none of A's channels and cannot delete them.
  CHECK(store->listNotificationChannels(b.id)->empty());
  CHECK(store->deleteNotificationChannel(b.id, ops.id, 2000).code() == Errc::NotFound);
  CHECK(store->listNotificationChannels(a.id)->size() == 1);

  REQUIRE(store->deleteNotificationChannel(a.id, ops.id, 2000).isOk());
  CHECK(store->deleteNotificationChannel(a.id, ops.id, 3000).code() == Errc::NotFound);
  CHECK(store->listNotificationChannels(a.id)->empty());
}

TEST_CASE_TEMPLATE("notify outbox: one row per key, due soonest first, outcomes written", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::NotificationChannel ops_a = channelFor(a, "ops");
  store::NotificationChannel ops_b = channelFor(b, "ops");
  REQUIRE(store->createNotificationChannel(ops_a).isOk());
  REQUIRE(store->createNotificationChannel(ops_b).isOk());

  REQUIRE(store
              ->enqueueNotifications(
                  a.id, {deliveryFor(ops_a, "ntf_a1", 100), deliveryFor(ops_a, "ntf_a2", 300)})
              .isOk());
  REQUIRE(store->enqueueNotifications(b.id, {deliveryFor(ops_b, "ntf_b1", 200)}).isOk());
  // The same key again is the same delivery (at-least-once enqueue stays one row).
  store::NotificationDelivery again = deliveryFor(ops_a, "ntf_a1", 50);
  again.body = "changed";
  REQUIRE(store->enqueueNotifications(a.id, {again}).isOk());
  // A delivery of another tenant, or to another tenant's channel, is refused or dropped.
  CHECK(store->enqueueNotifications(a.id, {deliveryFor(ops_b, "ntf_x", 10)}).code() ==
        Errc::InvalidArgument);
  store::NotificationDelivery cross = deliveryFor(ops_b, "ntf_cross", 10);
  cross.tenant_id = a.id;  // A's row naming B's channel: nothing is inserted
  REQUIRE(store->enqueueNotifications(a.id, {cross}).isOk());

  auto due = store->dueNotifications(250, 10);
  REQUIRE(due.isOk());
  REQUIRE(due->size() == 2);
  CHECK((*due)[0].idempotency_key == "ntf_a1");
  CHECK((*due)[0].body == R"({"type":"incident.opened"})");
  CHECK((*due)[0].tenant_id == a.id);
  CHECK((*due)[1].idempotency_key == "ntf_b1");
  CHECK((*due)[1].tenant_id == b.id);
  CHECK(store->dueNotifications(1000, 1)->size() == 1);
  CHECK(store->dueNotifications(1000, 10)->size() == 3);

  // A retry moves it later; delivered leaves the due list for good.
  store::NotificationDelivery first = (*due)[0];
  first.attempts = 1;
  first.last_status = 503;
  first.last_error = "HTTP 503";
  first.next_attempt_at_ns = 5000;
  REQUIRE(store->updateNotification(a.id, first).isOk());
  // Tenant B cannot write A's delivery.
  CHECK(store->updateNotification(b.id, first).code() == Errc::NotFound);
  CHECK(store->dueNotifications(1000, 10)->size() == 2);
  first.state = std::string(store::kDeliveryDelivered);
  first.attempts = 2;
  first.last_status = 200;
  first.last_error.clear();
  first.delivered_at_ns = 6000;
  REQUIRE(store->updateNotification(a.id, first).isOk());
  CHECK(store->dueNotifications(10'000, 10)->size() == 2);

  auto listed = store->listNotifications(a.id, ops_a.id, 10);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].idempotency_key == "ntf_a2");  // newest first
  CHECK((*listed)[1].state == "delivered");
  CHECK((*listed)[1].attempts == 2);
  CHECK((*listed)[1].last_status == 200);
  CHECK((*listed)[1].delivered_at_ns == 6000);
  CHECK(store->listNotifications(a.id, ops_a.id, 1)->size() == 1);
  // B asking for A's channel sees nothing.
  CHECK(store->listNotifications(b.id, ops_a.id, 10)->empty());
  CHECK(store->listNotifications(a.id, ops_b.id, 10)->empty());

  // A deleted channel gets no new rows.
  REQUIRE(store->deleteNotificationChannel(b.id, ops_b.id, 7000).isOk());
  REQUIRE(store->enqueueNotifications(b.id, {deliveryFor(ops_b, "ntf_b2", 100)}).isOk());
  CHECK(store->listNotifications(b.id, ops_b.id, 10)->size() == 1);
}

TEST_CASE_TEMPLATE("notify row-level security: a transaction of tenant A sees none of B's rows",
                   TestType, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::NotificationChannel ops_b = channelFor(b, "ops");
  REQUIRE(store->createNotificationChannel(ops_b).isOk());
  REQUIRE(store->enqueueNotifications(b.id, {deliveryFor(ops_b, "ntf_b1", 100)}).isOk());
  for (const char* table : {"notify_channels", "notify_deliveries"}) {
    INFO(table);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table, a.id) == 0);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table + " WHERE tenant_id <> $1",
                          a.id) == 0);
    CHECK(engine.queryInt(std::string("SELECT COUNT(*) FROM ") + table, b.id) == 1);
  }
  // The dispatcher's policy shows due pending rows only, and only for reading.
  PgRaw raw(engine.url());
  raw.exec("BEGIN");
  raw.exec("SELECT set_config('faultline.notify_due_before', '50', true)");
  CHECK(raw.exec("SELECT COUNT(*) FROM notify_deliveries") == "0");
  raw.exec("SELECT set_config('faultline.notify_due_before', '100', true)");
  CHECK(raw.exec("SELECT COUNT(*) FROM notify_deliveries") == "1");
  CHECK(raw.exec("SELECT COUNT(*) FROM notify_channels") == "0");
  raw.exec("UPDATE notify_deliveries SET state = 'failed'");
  raw.exec("COMMIT");
  CHECK(engine.queryInt("SELECT COUNT(*) FROM notify_deliveries WHERE state = 'pending'", b.id) ==
        1);
}
