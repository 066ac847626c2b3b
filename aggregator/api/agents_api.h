#pragma once

// GET /v1/agents: the tenant's enrolled agents with their last heartbeat (version, files and
// lag, spool depth, pipeline counters), a page at a time.
//
//   ?limit=1..500 (default 50) &cursor=<next_cursor>
//   → 200 {"agents":[{"agent_id","hostname","version","enrolled_at","last_seen","last_heartbeat",
//                      "batches","records","status"}], "next_cursor": "..." | null}
// Times are RFC 3339 (null when never); status is the agent's last status document or null.

#include <string_view>

#include "aggregator/http/server.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::api {

/// The caller has already authorized the request for `tenant_id`.
http::Response listAgents(store::Store& store, std::string_view tenant_id,
                          const http::Request& request);

}  // namespace faultline::aggregator::api
