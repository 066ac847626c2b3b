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
// authorized (serve/routes.cpp: the caller's own tenant, Permission::ReadAudit).

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

}  // namespace faultline::aggregator::audit
