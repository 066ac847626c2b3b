#include "aggregator/api/enrollment_api.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "aggregator/admin/admin.h"
#include "aggregator/api/pagination.h"
#include "aggregator/api/replies.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::size_t kMaxBodyBytes = 4 * 1024;
constexpr std::chrono::nanoseconds kDefaultTtl = std::chrono::hours(24);
constexpr std::chrono::nanoseconds kMinTtl = std::chrono::minutes(15);
constexpr std::chrono::nanoseconds kMaxTtl = std::chrono::hours(24 * 30);

http::Response unavailable(std::string_view what, const Status& status) {
  return storeUnavailable("api", what, status);
}

std::string prefixOf(const std::string& token_hash) {
  return token_hash.substr(0, admin::kEnrollmentTokenPrefix);
}

ordered_json tokenJson(const store::EnrollmentToken& token, std::int64_t now_ns) {
  const char* state = token.used_at_ns != 0           ? "used"
                      : token.revoked_at_ns != 0      ? "revoked"
                      : token.expires_at_ns <= now_ns ? "expired"
                                                      : "unused";
  return {{"id", std::to_string(token.id)},
          {"prefix", prefixOf(token.token_hash)},
          {"created_at", formatRfc3339Nanos(token.created_at_ns)},
          {"expires_at", formatRfc3339Nanos(token.expires_at_ns)},
          {"state", state},
          {"used_at", token.used_at_ns == 0 ? ordered_json(nullptr)
                                            : ordered_json(formatRfc3339Nanos(token.used_at_ns))},
          {"used_by_agent",
           token.used_by_agent.empty() ? ordered_json(nullptr) : ordered_json(token.used_by_agent)},
          {"revoked_at", token.revoked_at_ns == 0
                             ? ordered_json(nullptr)
                             : ordered_json(formatRfc3339Nanos(token.revoked_at_ns))}};
}

}  // namespace

http::Response createEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                     const auth::Principal& principal, const http::Request& request,
                                     std::int64_t now_ns) {
  if (request.body.size() > kMaxBodyBytes) {
    return http::Response::error(413, "payload_too_large",
                                 "at most " + std::to_string(kMaxBodyBytes) + " bytes");
  }
  std::chrono::nanoseconds ttl = kDefaultTtl;
  if (!request.body.empty()) {
    json body = json::parse(request.body, nullptr, false);
    if (!body.is_object()) {
      return badRequest("expected a JSON object {ttl?}");
    }
    if (auto it = body.find("ttl"); it != body.end() && !it->is_null()) {
      if (!it->is_string()) {
        return badRequest("ttl: expected a duration such as \"24h\"");
      }
      auto parsed = parseDuration(it->get<std::string>());
      if (!parsed) {
        return badRequest("ttl: " + parsed.status().message());
      }
      ttl = *parsed;
    }
  }
  if (ttl < kMinTtl || ttl > kMaxTtl) {
    return badRequest("ttl: between 15m and 30d");
  }
  auto issued = admin::issueEnrollmentToken(
      store, audit, principal.tenant_id, {principal.actor(), request.remote_address}, ttl, now_ns);
  if (!issued) {
    return unavailable("create enrollment token", issued.status());
  }
  return orderedJsonReply(201, {{"id", std::to_string(issued->id)},
                                {"prefix", prefixOf(issued->token_hash)},
                                {"token", issued->token},
                                {"created_at", formatRfc3339Nanos(issued->created_at_ns)},
                                {"expires_at", formatRfc3339Nanos(issued->expires_at_ns)}});
}

http::Response listEnrollmentTokens(store::Store& store, std::string_view tenant_id,
                                    const http::Request& request, std::int64_t now_ns) {
  auto limit = parseLimit(request);
  if (!limit) {
    return badRequest(limit.status().message());
  }
  // Keyset on the id, newest first: the cursor is the last id of the previous page.
  std::int64_t before_id = 0;
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    auto fields = decodeCursor(*cursor, 1);
    if (!fields) {
      return badRequest(fields.status().message());
    }
    auto id = cursorNumber((*fields)[0]);
    if (!id || *id <= 0) {
      return badRequest("cursor: not one of this list's");
    }
    before_id = *id;
  }
  // One more than asked: whether there is a next page.
  auto tokens = store.listEnrollmentTokens(tenant_id, *limit + 1, before_id);
  if (!tokens) {
    return unavailable("list enrollment tokens", tokens.status());
  }
  std::string next_cursor;
  if (tokens->size() > *limit) {
    tokens->resize(*limit);
    next_cursor = encodeCursor({std::to_string(tokens->back().id)});
  }
  ordered_json list = ordered_json::array();
  for (const store::EnrollmentToken& token : *tokens) {
    list.push_back(tokenJson(token, now_ns));
  }
  return orderedJsonReply(200, {{"enrollment_tokens", std::move(list)},
                                {"next_cursor", next_cursor.empty() ? ordered_json(nullptr)
                                                                    : ordered_json(next_cursor)}});
}

http::Response revokeEnrollmentToken(store::Store& store, audit::AuditRecorder& audit,
                                     const auth::Principal& principal, const http::Request& request,
                                     std::int64_t now_ns) {
  auto not_found = [] {
    return http::Response::error(404, "not_found", "no such unused enrollment token");
  };
  const std::string* id = request.pathParam("id");
  std::int64_t token_id = 0;
  if (id == nullptr || id->empty() || id->size() > 19 ||
      std::from_chars(id->data(), id->data() + id->size(), token_id).ptr !=
          id->data() + id->size() ||
      token_id <= 0) {
    return not_found();
  }
  auto revoked = store.revokeEnrollmentToken(principal.tenant_id, token_id, now_ns);
  if (revoked.code() == Errc::NotFound) {
    return not_found();
  }
  if (!revoked) {
    return unavailable("revoke enrollment token", revoked.status());
  }
  audit::AuditEvent event;
  event.tenant_id = principal.tenant_id;
  event.actor = principal.actor();
  event.client_address = request.remote_address;
  event.action = "enrollment_token.revoke";
  event.target = "enrollment_token:" + prefixOf(revoked->token_hash);
  event.at_ns = now_ns;
  event.detail_json = json{{"id", *id}}.dump();
  if (Status recorded = audit.record(event); !recorded.isOk()) {
    // The token is revoked either way; say so, but as an error: the trail is incomplete.
    log::error("api", "enrollment token revoked but not audited: " + recorded.toString());
    return http::Response::error(500, "internal", "revoked, but the audit log did not record it");
  }
  return orderedJsonReply(200, {{"id", *id}, {"revoked", true}});
}

}  // namespace faultline::aggregator::api
