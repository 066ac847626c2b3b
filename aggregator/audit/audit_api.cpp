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
constexpr std::size_t kMinTokenChars = 32;
constexpr std::string_view kNdjson = "application/x-ndjson";
// "tenant" is read by the guard in front (it picks the chain), not by the handler.
constexpr std::string_view kKnownParams[] = {"since", "until",  "actor",  "action", "outcome",
                                             "limit", "cursor", "format", "tenant"};

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

AdminTokenGuard::AdminTokenGuard(store::Store& store, AuditRecorder* audit, std::string token)
    : store_(store), audit_(audit), token_(std::move(token)) {}

Result<std::string> AdminTokenGuard::loadToken(const std::string& path) {
  auto text = fs::readFile(path, 4096);
  if (!text) {
    return invalidArgument("audit.api_token_file " + path + ": " + text.status().message());
  }
  std::string_view token = *text;
  token = token.substr(0, token.find('\n'));
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
    token.remove_suffix(1);
  }
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
    token.remove_prefix(1);
  }
  if (token.size() < kMinTokenChars) {
    return invalidArgument("audit.api_token_file " + path + ": the token must be at least " +
                           std::to_string(kMinTokenChars) + " characters");
  }
  return std::string(token);
}

Response AdminTokenGuard::handle(const Request& request) {
  auto refuse = [&](std::string_view reason) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    if (audit_ != nullptr) {
      const std::int64_t now = nowUnixNanos();
      std::uint64_t suppressed = 0;
      if (failure_throttle_.admit(clientHost(request.remote_address), now, &suppressed)) {
        AuditEvent event;
        event.actor = "anonymous";
        event.action = "audit.api_auth_failed";
        event.outcome = "failure";
        event.client_address = request.remote_address;
        event.at_ns = now;
        event.detail_json = nlohmann::json{
            {"reason", std::string(reason)},
            {"suppressed_since_last",
             suppressed}}.dump();
        Status recorded = audit_->record(event);
        if (!recorded.isOk()) {
          log::warn("audit-api", "audit entry not recorded",
                    {{"action", event.action}, {"error", recorded.toString()}});
        }
      }
    }
    Response response = Response::error(401, "unauthenticated", "a valid bearer token is required");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
  };
  if (token_.empty()) {
    return refuse("no audit.api_token_file configured");
  }
  const std::string* header = request.header("authorization");
  if (header == nullptr || header->size() < 7 ||
      (header->compare(0, 7, "Bearer ") != 0 && header->compare(0, 7, "bearer ") != 0)) {
    return refuse("missing bearer token");
  }
  std::string_view presented = std::string_view(*header).substr(7);
  while (!presented.empty() && presented.front() == ' ') {
    presented.remove_prefix(1);
  }
  // Hash both sides first: constantTimeEqual needs equal lengths, and the hash hides ours.
  if (!crypto::constantTimeEqual(crypto::hashSecret(presented), crypto::hashSecret(token_))) {
    return refuse("wrong bearer token");
  }
  std::string tenant_id;
  if (auto tenant = request.queryParam("tenant"); tenant != nullptr && !tenant->empty()) {
    auto found = store_.findTenantByName(*tenant);
    if (!found) {
      if (found.code() == Errc::NotFound) {
        return Response::error(404, "not_found", "no such tenant");
      }
      return storeError("find tenant", found.status());
    }
    tenant_id = found->id;
  }
  return handleAuditQuery(store_, tenant_id, request);
}

void addAuditRoute(http::Router& router, AdminTokenGuard& guard) {
  router.add("GET", "/v1/audit", [&guard](Request&& request, http::Respond respond) {
    Response response;
    try {
      response = guard.handle(request);
    } catch (const std::exception& e) {
      log::error("audit-api", std::string("audit route threw: ") + e.what());
      response = Response::error(500, "internal", "audit query failed");
    }
    respond(std::move(response));
  });
}

}  // namespace faultline::aggregator::audit
