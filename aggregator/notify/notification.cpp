#include "aggregator/notify/notification.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "aggregator/notify/http_client.h"
#include "shared/util/crypto.h"
#include "shared/util/time.h"

namespace faultline::aggregator::notify {
namespace {

using nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

logparse::Severity severityOf(std::string_view name) {
  return logparse::severityFromText(name).value_or(logparse::Severity::kUnknown);
}

bool printableUtf8(std::string_view text) {
  // JSON strings are valid UTF-8 already; refuse control characters (they reach logs and Slack).
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// Slack mrkdwn treats &, < and > as control characters.
std::string slackEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

/// Cuts UTF-8 text to at most `max` bytes without splitting a character.
std::string cutUtf8(std::string_view text, std::size_t max) {
  if (text.size() <= max) {
    return std::string(text);
  }
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(text.substr(0, end)) + "…";
}

json topCauseJson(const incidents::IncidentNotice& notice) {
  if (notice.top_cause.empty()) {
    return nullptr;
  }
  std::size_t colon = notice.top_cause.find(':');
  json cause = {{"id", notice.top_cause}, {"confidence", notice.top_confidence}};
  if (colon != std::string::npos) {
    cause["kind"] = notice.top_cause.substr(0, colon);
    cause["name"] = notice.top_cause.substr(colon + 1);
  } else {
    cause["kind"] = "";
    cause["name"] = notice.top_cause;
  }
  return cause;
}

std::string incidentPath(std::string_view incident_id) {
  return "/v1/incidents/" + std::string(incident_id);
}

}  // namespace

const std::vector<std::string_view>& knownChanges() {
  static const std::vector<std::string_view> kChanges = {
      "opened", "triggered", "acknowledged", "resolved", "closed", "reopened", "merged"};
  return kChanges;
}

Result<ChannelSpec> ChannelSpec::parse(std::string_view json_text) {
  if (json_text.size() > kMaxChannelSpecBytes) {
    return invalidArgument("channel: at most " + std::to_string(kMaxChannelSpecBytes) + " bytes");
  }
  json doc = json::parse(json_text, nullptr, false);
  if (!doc.is_object()) {
    return invalidArgument("channel: a JSON object is expected");
  }
  static const std::vector<std::string_view> kKeys = {"name",   "kind",   "url",
                                                      "secret", "events", "min_severity"};
  for (const auto& [key, value] : doc.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return invalidArgument("channel: unknown field '" + key.substr(0, 64) + "'");
    }
  }
  auto text = [&](const char* key) -> Result<std::string> {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) {
      return std::string();
    }
    if (!it->is_string()) {
      return invalidArgument(std::string("channel: ") + key + " must be a string");
    }
    return it->get<std::string>();
  };
  ChannelSpec spec;
  FL_ASSIGN_OR_RETURN(spec.name, text("name"));
  FL_ASSIGN_OR_RETURN(spec.kind, text("kind"));
  FL_ASSIGN_OR_RETURN(spec.url, text("url"));
  FL_ASSIGN_OR_RETURN(spec.secret, text("secret"));
  FL_ASSIGN_OR_RETURN(std::string min_severity, text("min_severity"));
  if (spec.name.empty() || spec.name.size() > kMaxChannelNameBytes || !printableUtf8(spec.name)) {
    return invalidArgument("channel: name is required, at most " +
                           std::to_string(kMaxChannelNameBytes) + " bytes, no control characters");
  }
  if (spec.kind != "webhook" && spec.kind != "slack") {
    return invalidArgument("channel: kind must be \"webhook\" or \"slack\"");
  }
  if (spec.url.empty() || spec.url.size() > kMaxChannelUrlBytes) {
    return invalidArgument("channel: url is required, at most " +
                           std::to_string(kMaxChannelUrlBytes) + " bytes");
  }
  auto url = parseHttpUrl(spec.url);
  if (!url) {
    return invalidArgument("channel: url: " + url.status().message());
  }
  if (!spec.secret.empty()) {
    if (spec.kind != "webhook") {
      return invalidArgument("channel: secret is for webhook channels only");
    }
    if (spec.secret.size() < kMinChannelSecretBytes ||
        spec.secret.size() > kMaxChannelSecretBytes || !printableUtf8(spec.secret)) {
      return invalidArgument("channel: secret must be " + std::to_string(kMinChannelSecretBytes) +
                             ".." + std::to_string(kMaxChannelSecretBytes) +
                             " bytes without control characters");
    }
  }
  if (min_severity.empty()) {
    spec.min_severity = "unknown";
  } else {
    auto severity = logparse::severityFromText(min_severity);
    if (!severity) {
      return invalidArgument("channel: min_severity is not a severity (trace .. critical)");
    }
    spec.min_severity = std::string(logparse::severityName(*severity));
  }
  auto events = doc.find("events");
  if (events == doc.end() || events->is_null()) {
    spec.events.assign(knownChanges().begin(), knownChanges().end());
  } else {
    if (!events->is_array() || events->empty()) {
      return invalidArgument("channel: events must be a non-empty array of changes");
    }
    std::vector<bool> wanted(knownChanges().size(), false);
    for (const json& event : *events) {
      if (!event.is_string()) {
        return invalidArgument("channel: events must be strings");
      }
      auto it = std::find(knownChanges().begin(), knownChanges().end(), event.get<std::string>());
      if (it == knownChanges().end()) {
        return invalidArgument("channel: unknown event '" + event.get<std::string>().substr(0, 32) +
                               "' (opened, triggered, acknowledged, resolved, closed, reopened, "
                               "merged)");
      }
      wanted[static_cast<std::size_t>(it - knownChanges().begin())] = true;
    }
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i]) {
        spec.events.emplace_back(knownChanges()[i]);
      }
    }
  }
  return spec;
}

bool channelWants(const store::NotificationChannel& channel,
                  const incidents::IncidentNotice& notice) {
  bool listed = false;
  std::string_view events = channel.events;
  while (!events.empty() && !listed) {
    std::size_t comma = events.find(',');
    listed = events.substr(0, comma) == notice.change;
    events = comma == std::string_view::npos ? std::string_view() : events.substr(comma + 1);
  }
  return listed && severityOf(notice.severity) >= severityOf(channel.min_severity);
}

std::string idempotencyKey(std::string_view channel_id, std::string_view incident_id,
                           std::string_view change, std::int64_t at_ns) {
  std::string material;
  for (std::string_view part : {channel_id, incident_id, change}) {
    material += std::to_string(part.size());
    material += ':';
    material += part;
  }
  material += std::to_string(at_ns);
  return "ntf_" + crypto::hashSecret(material).substr(0, 32);
}

std::string renderWebhookBody(const incidents::IncidentNotice& notice, std::string_view key) {
  json body = {
      {"version", 1},
      {"type", "incident." + notice.change},
      {"id", key},
      {"occurred_at", formatRfc3339Nanos(notice.at_ns)},
      {"tenant_id", notice.tenant_id},
      {"actor", notice.actor},
      {"incident",
       {{"id", notice.incident_id},
        {"title", notice.title},
        {"status", notice.status},
        {"severity", notice.severity},
        {"services", notice.services},
        {"first_event_at", notice.first_event_ns == 0
                               ? json(nullptr)
                               : json(formatRfc3339Nanos(notice.first_event_ns))},
        {"path", incidentPath(notice.incident_id)}}},
      {"top_cause", topCauseJson(notice)},
  };
  return dump(body);
}

std::string renderSlackBody(const incidents::IncidentNotice& notice) {
  const std::string headline = "Incident " + notice.change + ": " + cutUtf8(notice.title, 120);
  std::string services;
  for (const std::string& service : notice.services) {
    services += (services.empty() ? "" : ", ") + service;
  }
  std::string cause = "none yet";
  if (!notice.top_cause.empty()) {
    cause = notice.top_cause + " (" +
            std::to_string(static_cast<int>(std::lround(notice.top_confidence * 100))) + "%)";
  }
  auto field = [](std::string_view label, std::string_view value) {
    return json{{"type", "mrkdwn"},
                {"text", "*" + std::string(label) + "*\n" + cutUtf8(slackEscape(value), 1900)}};
  };
  json blocks = json::array();
  blocks.push_back(
      {{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", cutUtf8(headline, 140)}}}});
  blocks.push_back(
      {{"type", "section"},
       {"fields", json::array({field("Status", notice.status), field("Severity", notice.severity),
                               field("Services", services.empty() ? "-" : services),
                               field("Top cause", cause)})}});
  blocks.push_back(
      {{"type", "context"},
       {"elements", json::array({json{{"type", "mrkdwn"},
                                      {"text", slackEscape(notice.incident_id + " · " +
                                                           incidentPath(notice.incident_id) +
                                                           " · by " + notice.actor)}}})}});
  json body = {
      {"text", "[" + notice.severity + "] " + slackEscape(headline) + " (" + notice.status + ")"},
      {"blocks", std::move(blocks)}};
  return dump(body);
}

std::string renderBody(std::string_view kind, const incidents::IncidentNotice& notice,
                       std::string_view key) {
  return kind == "slack" ? renderSlackBody(notice) : renderWebhookBody(notice, key);
}

std::string renderTestBody(std::string_view kind, std::string_view channel_id, std::int64_t at_ns) {
  const std::string text = "Faultline test notification for channel " + std::string(channel_id);
  if (kind == "slack") {
    return dump({{"text", text},
                 {"blocks", json::array({json{{"type", "section"},
                                              {"text", {{"type", "mrkdwn"}, {"text", text}}}}})}});
  }
  return dump({{"version", 1},
               {"type", "notification.test"},
               {"channel_id", channel_id},
               {"occurred_at", formatRfc3339Nanos(at_ns)},
               {"text", text}});
}

std::string signatureHeader(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &length);
  return "sha256=" +
         crypto::hexEncode(std::string_view(reinterpret_cast<const char*>(mac), length));
}

std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, std::int64_t attempts,
                                       double jitter) {
  const double cap = static_cast<double>(policy.max_delay.count());
  const int shift = static_cast<int>(std::clamp<std::int64_t>(attempts - 1, 0, 40));
  const double full =
      std::min(cap, static_cast<double>(policy.base_delay.count()) * std::ldexp(1.0, shift));
  jitter = std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(full / 2 + full / 2 * jitter));
}

AttemptOutcome classifyStatus(int http_status) {
  if (http_status >= 200 && http_status < 300) {
    return AttemptOutcome::kDelivered;
  }
  if (http_status == 0 || http_status == 429 || http_status >= 500) {
    return AttemptOutcome::kRetry;
  }
  return AttemptOutcome::kFinal;
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out(text.substr(0, max));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      c = '?';
    }
  }
  return out;
}

}  // namespace faultline::aggregator::notify
