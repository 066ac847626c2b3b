#pragma once

// GET /v1/audit: a tenant's audit entries, filtered and paged, as JSON or as a JSON Lines export.
//
//   ?since=&until=   RFC 3339, a date or unix seconds; since inclusive, until exclusive
//   ?actor=&action=&outcome=   exact matches (outcome: success, failure or denied)
//   ?limit=N         entries per page, 1..1000 (default 100; export pages default to 1000)
//   ?cursor=C        the next_cursor of the previous page
//   ?format=jsonl or Accept: application/x-ndjson   one JSON object per line; a following page
//                    is named by the Faultline-Next-Cursor response header
//
// → 200 {"entries":[{seq, at, at_ns, tenant_id, actor, action, target, outcome,
//         client_address, detail, prev_hash, hash}, ...], "next_cursor": "C" or null}
// Unknown parameters and bad values: 400 naming the parameter; nothing is read.
//
// Who may call it is decided before: handleAuditQuery takes a tenant id that is already
// authorized. Until users and roles exist, AdminTokenGuard stands in front of it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "aggregator/audit/store_audit_recorder.h"
#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::audit {

/// Answers GET /v1/audit for `tenant_id` ("" is the system chain). Blocks on the store; call it
/// from a worker thread. Never throws.
http::Response handleAuditQuery(store::Store& store, std::string_view tenant_id,
                                const http::Request& request);

/// Stand-in authorization for /v1/audit while principals do not exist on this branch: a bearer
/// token read from `audit.api_token_file` (compared in constant time) grants access to any
/// tenant's chain, named by ?tenant=NAME (?tenant= absent or empty: the system chain). Without a
/// configured token every request is answered 401. Role checks replace this guard when users,
/// sessions and API keys merge. Thread-safe; does not own the store or the recorder.
class AdminTokenGuard {
 public:
  /// `token` empty: the route is closed (401 for everyone). `audit` may be null (then failed
  /// attempts are not recorded).
  AdminTokenGuard(store::Store& store, AuditRecorder* audit, std::string token);

  /// Reads the token file (first line, trimmed; at least 32 characters). InvalidArgument names
  /// the file when it is unreadable, empty or too short.
  static Result<std::string> loadToken(const std::string& path);

  http::Response handle(const http::Request& request);
  /// Requests refused so far (for /metrics). Any thread.
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  store::Store& store_;
  AuditRecorder* audit_;
  std::string token_;
  AuditThrottle failure_throttle_;
  std::atomic<std::uint64_t> failures_{0};
};

/// Adds GET /v1/audit, guarded by `guard` (which must outlive the router).
void addAuditRoute(http::Router& router, AdminTokenGuard& guard);

}  // namespace faultline::aggregator::audit
