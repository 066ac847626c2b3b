#pragma once

// Notification channels over the API (handlers run after AuthApi::guarded; they get the
// caller's tenant and principal). Secrets are never returned, and URLs only as their origin
// (a Slack webhook URL's path is its credential).
//
//   GET    /v1/notification-channels                   incidents.read
//   POST   /v1/notification-channels                   incidents.manage   spec → 201
//   DELETE /v1/notification-channels/{id}              incidents.manage
//   POST   /v1/notification-channels/{id}/test         incidents.manage   sends one test body
//   GET    /v1/notification-channels/{id}/deliveries   incidents.read     limit (<= 100)

#include <cstdint>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/principal.h"
#include "aggregator/http/server.h"
#include "aggregator/notify/notifier.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

/// Thread-safe (the store, recorder and notifier are).
class NotifyApi {
 public:
  NotifyApi(store::Store& store, audit::AuditRecorder& audit, notify::Notifier& notifier)
      : store_(store), audit_(audit), notifier_(notifier) {}

  http::Response list(std::string_view tenant_id, const http::Request& request);
  http::Response create(const auth::Principal& principal, const http::Request& request,
                        std::int64_t now_ns);
  http::Response remove(const auth::Principal& principal, const http::Request& request,
                        std::int64_t now_ns);
  http::Response test(const auth::Principal& principal, const http::Request& request,
                      std::int64_t now_ns);
  http::Response deliveries(std::string_view tenant_id, const http::Request& request);

 private:
  store::Store& store_;
  audit::AuditRecorder& audit_;
  notify::Notifier& notifier_;
};

}  // namespace faultline::aggregator::api
