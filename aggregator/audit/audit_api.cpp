#include "aggregator/audit/audit_api.h"

#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>

#include "aggregator/audit/audit_format.h"
#include "shared/util/crypto.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::audit {
namespace {

using http::Request;
using http::Response;

constexpr std::size_t kDefaultPageEntries = 100;
constexpr std::string_view kNdjson = "application/x-ndjson";
// "tenant" is read by the guard in front (it picks the chain), not by the handler.
constexpr std::string_view kKnownParams[] = {"since",   "until", "actor",  "action",
                                             "outcome", "limit", "cursor", "format"};

Response badRequest(std::string_view message) {
  return Response::error(400, "bad_request", message);
}

/// The first unknown parameter name in the raw query, or "".
std::string unknownParam(std::string_view query) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    std::string_view key = pair.substr(0, pair.find('='));
    if (!key.empty()) {
      bool known = false;
      for (std::string_view name : kKnownParams) {
        known = known || key == name;
      }
      if (!known) {
        return std::string(key.substr(0, 64));
      }
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return {};
}

Result<std::int64_t> positiveInt(std::string_view name, const std::string& text, std::int64_t max) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > max) {
    return invalidArgument(std::string(name) + ": expected an integer from 0 to " +
                           std::to_string(max));
  }
  return value;
}

bool wantsNdjson(const Request& request, const std::unique_ptr<std::string>& format) {
  if (format != nullptr) {
    return *format == "jsonl";
  }
  const std::string* accept = request.header("accept");
  return accept != nullptr && accept->find(kNdjson) != std::string::npos;
}

Response storeError(std::string_view what, const Status& status) {
  if (status.code() == Errc::Unavailable || status.code() == Errc::ResourceExhausted) {
    Response response = Response::error(503, "unavailable", "store busy or unreachable");
    response.headers.emplace_back("Retry-After", "1");
    return response;
  }
  log::error("audit-api", std::string(what) + ": " + status.toString());
  return Response::error(500, "internal", std::string(what) + " failed");
}

Response query(store::Store& store, std::string_view tenant_id, const Request& request) {
  std::string unknown = unknownParam(request.query);
  if (!unknown.empty()) {
    return badRequest("unknown parameter '" + unknown + "'");
  }
  store::AuditQuery query;
  auto format = request.queryParam("format");
  if (format != nullptr && *format != "json" && *format != "jsonl") {
    return badRequest("format: expected json or jsonl");
  }
  const bool ndjson = wantsNdjson(request, format);
  query.limit = ndjson ? store::kAuditMaxPageEntries : kDefaultPageEntries;
  for (auto [name, target] : {std::pair<const char*, std::int64_t*>{"since", &query.since_ns},
                              {"until", &query.until_ns}}) {
    auto text = request.queryParam(name);
    if (text != nullptr) {
      auto parsed = parseTimestamp(*text);
      if (!parsed) {
        return badRequest(std::string(name) + ": " + parsed.status().message());
      }
      *target = *parsed;
    }
  }
  for (auto [name, target] : {std::pair<const char*, std::string*>{"actor", &query.actor},
                              {"action", &query.action},
                              {"outcome", &query.outcome}}) {
    auto text = request.queryParam(name);
    if (text != nullptr) {
      if (text->size() > store::kAuditMaxFieldBytes) {
        return badRequest(std::string(name) + ": too long");
      }
      *target = *text;
    }
  }
  if (!query.outcome.empty() && query.outcome != "success" && query.outcome != "failure" &&
      query.outcome != "denied") {
    return badRequest("outcome: expected success, failure or denied");
  }
  if (auto limit = request.queryParam("limit"); limit != nullptr) {
    auto parsed = positiveInt("limit", *limit, store::kAuditMaxPageEntries);
    if (!parsed || *parsed == 0) {
      return badRequest("limit: expected an integer from 1 to " +
                        std::to_string(store::kAuditMaxPageEntries));
    }
    query.limit = static_cast<std::size_t>(*parsed);
  }
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto parsed = positiveInt("cursor", *cursor, INT64_MAX);
    if (!parsed) {
      return badRequest("cursor: not a cursor this server returned");
    }
    query.after_seq = *parsed;
  }
  auto page = store.queryAudit(tenant_id, query);
  if (!page) {
    return storeError("audit query", page.status());
  }
  std::string next = page->next_after_seq ? std::to_string(*page->next_after_seq) : "";
  if (ndjson) {
    Response response;
    response.status = 200;
    response.headers.emplace_back("Content-Type", std::string(kNdjson));
    for (const store::AuditEntry& entry : page->entries) {
      response.body += entryJson(entry);
      response.body += '\n';
    }
    if (!next.empty()) {
      response.headers.emplace_back("Faultline-Next-Cursor", next);
    }
    return response;
  }
  std::string body = "{\"entries\":[";
  for (std::size_t i = 0; i < page->entries.size(); ++i) {
    if (i > 0) {
      body += ',';
    }
    body += entryJson(page->entries[i]);
  }
  body += "],\"next_cursor\":";
  body += next.empty() ? "null" : "\"" + next + "\"";
  body += '}';
  return Response::json(200, std::move(body));
}

}  // namespace

Response handleAuditQuery(store::Store& store, std::string_view tenant_id, const Request& request) {
  try {
    return query(store, tenant_id, request);
  } catch (const std::exception& e) {
    log::error("audit-api", std::string("audit query threw: ") + e.what());
    return Response::error(500, "internal", "audit query failed");
  }
}

}  // namespace faultline::aggregator::audit
