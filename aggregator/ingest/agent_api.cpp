#include "aggregator/ingest/agent_api.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>

#include "aggregator/ingest/enroll_request.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::ingest {
namespace {

using http::Request;
using http::Response;

constexpr std::size_t kMaxSecretBytes = 256;
// A status document with a few hundred tailed files fits easily; anything larger is refused.
constexpr std::size_t kMaxHeartbeatBytes = 256 * 1024;

std::string lowerTrim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

/// The media type of a Content-Type header without parameters, lower-cased.
std::string mediaType(const Request& request) {
  const std::string* value = request.header("content-type");
  if (value == nullptr) {
    return {};
  }
  std::string_view text = *value;
  return lowerTrim(text.substr(0, text.find(';')));
}

Response unauthenticated(std::string_view message) {
  Response response = Response::error(401, "unauthenticated", message);
  response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

Response internal(std::string_view what, const Status& status) {
  log::error("agent-api", std::string(what) + ": " + status.toString());
  return Response::error(500, "internal", std::string(what) + " failed");
}

Response storeUnavailable(const Status& status) {
  Response response = status.code() == Errc::ResourceExhausted
                          ? Response::error(503, "overloaded", status.message())
                          : Response::error(503, "unavailable", status.message());
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

bool isTransient(const Status& status) {
  return status.code() == Errc::ResourceExhausted || status.code() == Errc::Unavailable;
}

void safely(const char* what, const std::function<Response()>& handle,
            const http::Respond& respond) {
  Response response;
  try {
    response = handle();
  } catch (const std::exception& e) {
    log::error("agent-api", std::string(what) + " threw: " + e.what());
    response = Response::error(500, "internal", std::string(what) + " failed");
  }
  respond(std::move(response));
}

}  // namespace

AgentApi::AgentApi(store::Store& store, AgentApiOptions options)
    : store_(store),
      options_(std::move(options)),
      auth_cache_(options_.auth_cache_ttl, options_.auth_cache_max_entries) {}

AgentApi::Stats AgentApi::stats() const {
  return {batches_.load(std::memory_order_relaxed), records_.load(std::memory_order_relaxed),
          bytes_.load(std::memory_order_relaxed), auth_failures_.load(std::memory_order_relaxed)};
}

void AgentApi::recordAuthFailure(const Request& request, std::string_view action,
                                 std::string_view reason) {
  auth_failures_.fetch_add(1, std::memory_order_relaxed);
  if (options_.audit == nullptr) {
    return;
  }
  Status recorded =
      audit::recordThrottledFailure(*options_.audit, failure_throttle_, request.remote_address,
                                    request.path, action, reason, nowUnixNanos());
  if (!recorded.isOk()) {
    log::warn("agent-api", "audit entry not recorded",
              {{"action", std::string(action)}, {"error", recorded.toString()}});
  }
}

void AgentApi::health(Request&& request, const http::Respond& respond) {
  safely(
      "health", [&] { return handleHealth(request); }, respond);
}
void AgentApi::enroll(Request&& request, const http::Respond& respond) {
  safely(
      "enroll", [&] { return handleEnroll(request); }, respond);
}
void AgentApi::ingest(Request&& request, const http::Respond& respond) {
  safely(
      "ingest", [&] { return handleIngest(request); }, respond);
}

Response AgentApi::handleHealth(const Request& /*request*/) {
  Status status = store_.ping();
  if (!status.isOk()) {
    log::warn("agent-api", "health check: " + status.toString());
    return Response::error(503, "unavailable", "store unreachable");
  }
  return Response::json(200, R"({"status":"ok"})");
}

std::optional<Response> AgentApi::rateLimited(const Request& request,
                                              const store::AgentIdentity* identity) const {
  if (options_.rate_limits == nullptr) {
    return std::nullopt;
  }
  if (identity == nullptr) {
    return options_.rate_limits->admit(request.remote_address, {}, {});
  }
  return options_.rate_limits->admit({}, "agent:" + identity->agent_id, identity->tenant_id);
}

Response AgentApi::handleEnroll(const Request& request) {
  if (auto limited = rateLimited(request, nullptr)) {
    return std::move(*limited);
  }
  if (mediaType(request) != "application/json") {
    return Response::error(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  auto parsed = parseEnrollRequest(request.body);
  if (!parsed) {
    if (parsed.code() == Errc::ResourceExhausted) {
      return Response::error(413, "payload_too_large", parsed.status().message());
    }
    return Response::error(400, "bad_request", parsed.status().message());
  }
  store::NewAgent agent;
  agent.token_hash = crypto::hashSecret(parsed->token);
  agent.agent_id = "agt_" + crypto::randomHex(16);
  std::string secret = crypto::randomToken("fas_");
  agent.secret_hash = crypto::hashSecret(secret);
  agent.hostname = std::move(parsed->hostname);
  agent.version = std::move(parsed->version);
  agent.now_ns = nowUnixNanos();
  auto enrolled = store_.enrollAgent(agent);
  if (!enrolled) {
    switch (enrolled.code()) {
      case Errc::NotFound:
        recordAuthFailure(request, "agent.enroll", "invalid_token");
        return Response::error(401, "invalid_token", "unknown enrollment token");
      case Errc::AlreadyExists:
        recordAuthFailure(request, "agent.enroll", "token_used");
        return Response::error(401, "token_used", "enrollment token already used");
      case Errc::FailedPrecondition:
        recordAuthFailure(request, "agent.enroll", "token_expired");
        return Response::error(401, "token_expired", "enrollment token expired");
      case Errc::PermissionDenied:
        recordAuthFailure(request, "agent.enroll", "token_revoked");
        return Response::error(401, "token_revoked", "enrollment token revoked");
      default:
        if (isTransient(enrolled.status())) {
          return storeUnavailable(enrolled.status());
        }
        return internal("enroll", enrolled.status());
    }
  }
  if (options_.audit != nullptr) {
    audit::AuditEvent event;
    event.tenant_id = enrolled->tenant_id;
    event.actor = "agent:" + enrolled->agent_id;
    event.action = "agent.enroll";
    event.target = "agent:" + enrolled->agent_id;
    event.client_address = request.remote_address;
    event.at_ns = agent.now_ns;
    event.detail_json =
        nlohmann::json{{"hostname", agent.hostname}, {"version", agent.version}}.dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace);
    Status recorded = options_.audit->record(event);
    if (!recorded.isOk()) {
      // The agent exists but is not handed its secret: an unaudited enrollment is not done.
      // The token is spent; the operator issues a new one.
      log::error("agent-api",
                 "audit agent.enroll of " + enrolled->agent_id + ": " + recorded.toString());
      Response response = Response::error(503, "audit_unavailable",
                                          "enrollment could not be recorded in the audit log");
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
  }
  // The hostname is client text; it is stored, not logged.
  log::info("agent-api",
            "enrolled agent " + enrolled->agent_id + " for tenant " + enrolled->tenant_name);
  nlohmann::ordered_json body = {{"agent_id", enrolled->agent_id},
                                 {"secret", secret},
                                 {"tenant", enrolled->tenant_name},
                                 {"tenant_id", enrolled->tenant_id}};
  return Response::json(201, body.dump());
}

Result<store::AgentIdentity> AgentApi::authenticate(const Request& request) {
  const std::string* header = request.header("authorization");
  if (header == nullptr) {
    return Status(Errc::Unauthenticated, "missing Authorization header");
  }
  std::string_view value = *header;
  if (value.size() < 7 || lowerTrim(value.substr(0, 7)) != "bearer") {
    return Status(Errc::Unauthenticated, "Authorization must be 'Bearer <agent secret>'");
  }
  value.remove_prefix(7);
  while (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  while (!value.empty() && value.back() == ' ') {
    value.remove_suffix(1);
  }
  if (value.empty() || value.size() > kMaxSecretBytes) {
    return Status(Errc::Unauthenticated, "invalid agent secret");
  }
  std::string hash = crypto::hashSecret(value);
  const std::int64_t now = monotonicNanos();
  if (auto cached = auth_cache_.get(hash, now)) {
    return std::move(*cached);
  }
  auto identity = store_.findAgentBySecretHash(hash);
  if (!identity) {
    if (identity.code() == Errc::NotFound) {
      return Status(Errc::Unauthenticated, "invalid agent secret");
    }
    return identity.status();
  }
  auth_cache_.put(hash, *identity, now);
  return identity;
}

Response AgentApi::handleIngest(const Request& request) {
  if (auto limited = rateLimited(request, nullptr)) {
    return std::move(*limited);
  }
  auto identity = authenticate(request);
  if (!identity) {
    if (identity.code() == Errc::Unauthenticated) {
      recordAuthFailure(request, "agent.auth_failed", identity.status().message());
      return unauthenticated(identity.status().message());
    }
    if (isTransient(identity.status())) {
      return storeUnavailable(identity.status());
    }
    return internal("authenticate", identity.status());
  }
  if (auto limited = rateLimited(request, &*identity)) {
    return std::move(*limited);
  }
  if (mediaType(request) != wire::kBatchContentType) {
    return Response::error(415, "unsupported_media_type",
                           "Content-Type must be " + std::string(wire::kBatchContentType));
  }
  const std::string* encoding = request.header("content-encoding");
  if (encoding == nullptr || lowerTrim(*encoding) != wire::kBatchContentEncoding) {
    return Response::error(415, "unsupported_media_type", "Content-Encoding must be zstd");
  }
  if (request.body.size() > options_.batch_limits.max_compressed_bytes) {
    return Response::error(413, "payload_too_large",
                           "batch larger than " +
                               std::to_string(options_.batch_limits.max_compressed_bytes) +
                               " bytes");
  }
  auto decoded = wire::decodeBatch(request.body, options_.batch_limits);
  if (!decoded) {
    if (decoded.code() == Errc::ResourceExhausted) {
      return Response::error(413, "payload_too_large", decoded.status().message());
    }
    return Response::error(400, "bad_batch", decoded.status().message());
  }
  const wire::DecodedBatch& batch = **decoded;
  if (batch.header.agent != identity->agent_id) {
    return Response::error(403, "agent_mismatch",
                           "batch is for another agent than the one authenticated");
  }
  store::NewBatch row;
  row.tenant_id = identity->tenant_id;
  row.agent_id = identity->agent_id;
  row.epoch = batch.header.epoch;
  row.seq = batch.header.seq;
  row.record_count = batch.records.size();
  row.line_bytes = batch.line_bytes;
  row.min_ts_ns = batch.min_ts_ns;
  row.max_ts_ns = batch.max_ts_ns;
  row.received_at_ns = nowUnixNanos();
  row.sources.assign(batch.sources.begin(), batch.sources.end());
  // Texts are verified against their ids by the decoder; they join the tenant's dictionary.
  row.templates.reserve(batch.templates.size());
  for (const wire::Template& tmpl : batch.templates) {
    row.templates.push_back({tmpl.id, tmpl.text});
  }
  row.payload = request.body;
  auto stored = store_.storeBatch(row);
  if (!stored) {
    if (isTransient(stored.status())) {
      return storeUnavailable(stored.status());
    }
    if (stored.code() == Errc::PermissionDenied) {
      return Response::error(403, "agent_mismatch", stored.status().message());
    }
    if (stored.code() == Errc::InvalidArgument) {
      return Response::error(400, "bad_batch", stored.status().message());
    }
    return internal("store batch", stored.status());
  }
  if (!stored->duplicate) {
    batches_.fetch_add(1, std::memory_order_relaxed);
    records_.fetch_add(row.record_count, std::memory_order_relaxed);
    bytes_.fetch_add(request.body.size(), std::memory_order_relaxed);
    if (options_.log_events != nullptr) {
      // After the commit: the batch is accepted whatever happens here (onBatch never fails).
      options_.log_events->onBatch({row.tenant_id, identity->hostname, row.received_at_ns}, batch);
    }
  }
  nlohmann::ordered_json ack = {{"agent", row.agent_id},
                                {"epoch", row.epoch},
                                {"seq", row.seq},
                                {"records", stored->record_count}};
  Response response = Response::json(200, ack.dump());
  if (stored->duplicate) {
    response.headers.emplace_back("Faultline-Duplicate", "true");
  }
  return response;
}

void AgentApi::heartbeat(http::Request&& request, const http::Respond& respond) {
  safely(
      "heartbeat", [&] { return handleHeartbeat(request); }, respond);
}

Response AgentApi::handleHeartbeat(const Request& request) {
  if (auto limited = rateLimited(request, nullptr)) {
    return std::move(*limited);
  }
  auto identity = authenticate(request);
  if (!identity) {
    if (identity.code() == Errc::Unauthenticated) {
      recordAuthFailure(request, "agent.auth_failed", identity.status().message());
      return unauthenticated(identity.status().message());
    }
    if (isTransient(identity.status())) {
      return storeUnavailable(identity.status());
    }
    return internal("authenticate", identity.status());
  }
  if (auto limited = rateLimited(request, &*identity)) {
    return std::move(*limited);
  }
  if (mediaType(request) != "application/json") {
    return Response::error(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  if (request.body.size() > kMaxHeartbeatBytes) {
    return Response::error(
        413, "payload_too_large",
        "heartbeat larger than " + std::to_string(kMaxHeartbeatBytes) + " bytes");
  }
  nlohmann::json doc = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return Response::error(400, "bad_heartbeat", "heartbeat must be a JSON object");
  }
  store::AgentHeartbeat beat;
  beat.tenant_id = identity->tenant_id;
  beat.agent_id = identity->agent_id;
  auto version = doc.find("version");
  if (version != doc.end() && version->is_string() && version->get<std::string>().size() <= 64) {
    beat.version = version->get<std::string>();
  }
  beat.status_json = doc.dump();  // re-serialised: only valid JSON is ever stored
  beat.received_at_ns = nowUnixNanos();
  Status stored = store_.recordHeartbeat(beat);
  if (!stored.isOk()) {
    if (isTransient(stored)) {
      return storeUnavailable(stored);
    }
    if (stored.code() == Errc::NotFound) {
      recordAuthFailure(request, "agent.auth_failed", "unknown agent");
      return unauthenticated("unknown agent");
    }
    return internal("record heartbeat", stored);
  }
  return Response::json(200, R"({"status":"ok"})");
}

http::Router buildRouter(AgentApi& api) {
  http::Router router;
  router.add("GET", "/healthz", [&api](Request&& request, http::Respond respond) {
    api.health(std::move(request), respond);
  });
  router.add("POST", "/v1/agents/enroll", [&api](Request&& request, http::Respond respond) {
    api.enroll(std::move(request), respond);
  });
  router.add("POST", "/v1/ingest", [&api](Request&& request, http::Respond respond) {
    api.ingest(std::move(request), respond);
  });
  router.add("POST", "/v1/agents/heartbeat", [&api](Request&& request, http::Respond respond) {
    api.heartbeat(std::move(request), respond);
  });
  return router;
}

}  // namespace faultline::aggregator::ingest
