#include "aggregator/api/agents_api.h"

#include <nlohmann/json.hpp>

#include "aggregator/api/pagination.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

nlohmann::ordered_json timeOrNull(std::int64_t unix_nanos) {
  return unix_nanos == 0 ? nlohmann::ordered_json(nullptr)
                         : nlohmann::ordered_json(formatRfc3339Millis(unix_nanos));
}

}  // namespace

http::Response listAgents(store::Store& store, std::string_view tenant_id,
                          const http::Request& request) {
  auto limit = parseLimit(request);
  if (!limit) {
    return http::Response::error(400, "bad_request", limit.status().message());
  }
  store::AgentPage page;
  page.limit = *limit + 1;  // one more than asked: is there a next page?
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto fields = decodeCursor(*cursor, 2);
    auto after = fields ? cursorNumber((*fields)[0]) : Result<std::int64_t>(fields.status());
    if (!after) {
      return http::Response::error(400, "bad_request", after.status().message());
    }
    page.after_enrolled_at_ns = *after;
    page.after_id = (*fields)[1];
  }
  auto agents = store.listAgents(tenant_id, page);
  if (!agents) {
    log::warn("api", "list agents: " + agents.status().toString());
    return http::Response::error(503, "unavailable", "the store did not answer; retry later");
  }
  const bool more = agents->size() > *limit;
  if (more) {
    agents->resize(*limit);
  }
  // Each agent's last status document is spliced in as stored: the heartbeat handler stores
  // only what it parsed and serialised itself (a JSON object), so a listing need not parse and
  // re-serialise up to 50 documents per request.
  std::string out = "{\"agents\":[";
  for (const store::AgentSummary& agent : *agents) {
    if (out.back() != '[') {
      out += ',';
    }
    // The tenant's log uploads are stored as batches of one pseudo-agent ("upl_…", see
    // ingest/log_upload.h): listed with its counts, marked so it is not taken for a host.
    const bool upload_agent = agent.agent_id.starts_with("upl_");
    nlohmann::ordered_json fields = {{"agent_id", agent.agent_id},
                                     {"kind", upload_agent ? "upload" : "agent"},
                                     {"hostname", agent.hostname},
                                     {"version", agent.version},
                                     {"enrolled_at", timeOrNull(agent.enrolled_at_ns)},
                                     {"last_seen", timeOrNull(agent.last_seen_ns)},
                                     {"last_heartbeat", timeOrNull(agent.last_heartbeat_ns)},
                                     {"batches", agent.batches},
                                     {"records", agent.records}};
    std::string object =
        fields.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    object.pop_back();  // the closing brace: "status" comes last
    out += object;
    out += ",\"status\":";
    const std::string& status = agent.heartbeat_json;
    out += status.size() >= 2 && status.front() == '{' && status.back() == '}' ? status : "null";
    out += '}';
  }
  out += "],\"next_cursor\":";
  if (more) {
    const store::AgentSummary& last = agents->back();
    out +=
        nlohmann::json(encodeCursor({std::to_string(last.enrolled_at_ns), last.agent_id})).dump();
  } else {
    out += "null";
  }
  out += '}';
  return http::Response::json(200, std::move(out));
}

}  // namespace faultline::aggregator::api
