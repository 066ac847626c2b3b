#include "aggregator/events/normalize.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "shared/logparse/timestamp.h"
#include "shared/util/crypto.h"

namespace faultline::aggregator::events {
namespace {

using nlohmann::json;

Status invalid(std::string message) {
  return invalidArgument(std::move(message));
}

/// Cuts to at most `max` bytes without splitting a UTF-8 sequence.
std::string cut(std::string text, std::size_t max) {
  if (text.size() <= max) {
    return text;
  }
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  text.resize(end);
  return text;
}

Result<json> parseJson(std::string_view body, const NormalizeLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return Status(Errc::ResourceExhausted, "payload is " + std::to_string(body.size()) +
                                               " bytes; the limit is " +
                                               std::to_string(limits.max_body_bytes));
  }
  bool too_deep = false;
  json::parser_callback_t guard = [&](int depth, json::parse_event_t, json&) {
    if (static_cast<std::size_t>(depth) > limits.max_depth) {
      too_deep = true;
      return false;
    }
    return true;
  };
  json parsed = json::parse(body.begin(), body.end(), guard, /*allow_exceptions=*/false);
  if (too_deep) {
    return invalid("JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  if (parsed.is_discarded()) {
    return invalid("body is not valid JSON");
  }
  if (!parsed.is_object()) {
    return invalid("body must be a JSON object");
  }
  return parsed;
}

/// A scalar as text: strings as they are, numbers and booleans as JSON; "" otherwise.
std::string text(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_number() || value.is_boolean()) {
    return value.dump();
  }
  return {};
}

std::string field(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  auto it = object.find(key);
  return it == object.end() ? std::string() : text(*it);
}

std::string lower(std::string value) {
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return value;
}

/// Monitoring severities are info, warning, error and critical; common words map onto them.
std::optional<Severity> monitoringSeverity(std::string_view word) {
  const std::string w = lower(std::string(word));
  if (w == "page" || w == "p1" || w == "sev1" || w == "disaster") {
    return Severity::kCritical;
  }
  if (w == "high" || w == "major" || w == "p2" || w == "sev2") {
    return Severity::kError;
  }
  if (w == "medium" || w == "moderate" || w == "minor" || w == "average" || w == "p3" ||
      w == "sev3") {
    return Severity::kWarn;
  }
  if (w == "low" || w == "none" || w == "p4" || w == "p5" || w == "sev4" || w == "sev5") {
    return Severity::kInfo;
  }
  auto parsed = logparse::severityFromText(w);
  if (!parsed || *parsed == Severity::kUnknown) {
    return std::nullopt;
  }
  if (*parsed <= Severity::kNotice) {
    return Severity::kInfo;
  }
  return *parsed;
}

/// A time value: RFC 3339 and similar text, or an epoch number. 0 when absent or unusable
/// (Alertmanager's "0001-01-01T00:00:00Z" for "not ended" is outside the accepted years).
std::int64_t timeOf(const json& value) {
  std::int64_t ns = 0;
  logparse::TimeContext ctx;
  if (value.is_number_unsigned() || value.is_number_integer()) {
    return logparse::parseEpochNumber(value.dump(), &ns) ? ns : 0;
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    return logparse::parseTimestampValue(s, ctx, &ns) ? ns : 0;
  }
  return 0;
}

class EventBuilder {
 public:
  EventBuilder(const NormalizeContext& ctx, SourceKind source) : ctx_(ctx) {
    event_.tenant_id = ctx.tenant_id;
    event_.integration_id = ctx.integration_id;
    event_.source = source;
    event_.received_at_ns = ctx.received_at_ns;
  }
  Event& event() { return event_; }
  void label(std::string key, std::string value) {
    if (key.empty()) {
      return;
    }
    labels_.emplace_back(cut(std::move(key), ctx_.limits.max_label_bytes),
                         cut(std::move(value), ctx_.limits.max_label_bytes));
  }
  void labelsFrom(const json& object) {
    if (!object.is_object()) {
      return;
    }
    for (const auto& [key, value] : object.items()) {
      std::string v = text(value);
      if (v.empty() && (value.is_object() || value.is_array())) {
        v = value.dump();
      }
      label(key, std::move(v));
    }
  }
  const std::string* findLabel(std::string_view key) const {
    for (const auto& [k, v] : labels_) {
      if (k == key) {
        return &v;
      }
    }
    return nullptr;
  }
  std::string firstLabel(std::initializer_list<std::string_view> keys) const {
    for (std::string_view key : keys) {
      if (const std::string* v = findLabel(key); v != nullptr && !v->empty()) {
        return *v;
      }
    }
    return {};
  }
  Event finish(std::string raw) {
    // First value wins for a repeated key; sorted for the fingerprint and for display.
    std::stable_sort(labels_.begin(), labels_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    labels_.erase(std::unique(labels_.begin(), labels_.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  labels_.end());
    if (labels_.size() > ctx_.limits.max_labels) {
      const std::size_t dropped = labels_.size() - ctx_.limits.max_labels;
      labels_.resize(ctx_.limits.max_labels);
      event_.body += cut("\n(" + std::to_string(dropped) + " more labels dropped)", 64);
    }
    event_.labels = std::move(labels_);
    event_.title = cut(std::move(event_.title), ctx_.limits.max_title_bytes);
    event_.body = cut(std::move(event_.body), ctx_.limits.max_text_bytes);
    event_.service = cut(std::move(event_.service), ctx_.limits.max_label_bytes);
    event_.host = cut(std::move(event_.host), ctx_.limits.max_label_bytes);
    event_.environment = cut(std::move(event_.environment), ctx_.limits.max_label_bytes);
    event_.source_dedup_key = cut(std::move(event_.source_dedup_key), ctx_.limits.max_label_bytes);
    if (event_.occurred_at_ns == 0) {
      event_.occurred_at_ns = event_.received_at_ns;
    }
    if (event_.severity == Severity::kUnknown) {
      event_.severity = event_.status == EventStatus::kInfo ? Severity::kInfo : Severity::kWarn;
    }
    event_.raw = std::move(raw);
    event_.fingerprint = computeFingerprint(event_);
    return std::move(event_);
  }

 private:
  const NormalizeContext& ctx_;
  Event event_;
  std::vector<std::pair<std::string, std::string>> labels_;
};

// ---- Alertmanager and Grafana: the same group-of-alerts shape -------------------------------

Result<Normalized> alertGroup(SourceKind kind, const json& doc, const NormalizeContext& ctx) {
  const std::string version = field(doc, "version");
  if (kind == SourceKind::kAlertmanager && version != "4") {
    return invalid("version: Alertmanager webhook version \"4\" expected, got \"" +
                   cut(version, 16) + "\"");
  }
  auto alerts = doc.find("alerts");
  if (alerts == doc.end() || !alerts->is_array()) {
    return invalid("alerts: an array is required");
  }
  if (alerts->size() > ctx.limits.max_events) {
    return Status(Errc::ResourceExhausted, "alerts: " + std::to_string(alerts->size()) +
                                               " alerts; the limit is " +
                                               std::to_string(ctx.limits.max_events));
  }
  const std::string receiver = field(doc, "receiver");
  const std::string external_url = field(doc, "externalURL");
  Normalized out;
  std::size_t index = 0;
  for (const json& alert : *alerts) {
    const std::string where = "alerts[" + std::to_string(index++) + "]";
    if (!alert.is_object()) {
      return invalid(where + ": an object is required");
    }
    EventBuilder b(ctx, kind);
    Event& e = b.event();
    const std::string status = field(alert, "status");
    if (status == "firing") {
      e.status = EventStatus::kFiring;
    } else if (status == "resolved") {
      e.status = EventStatus::kResolved;
    } else {
      return invalid(where + ".status: \"firing\" or \"resolved\" expected");
    }
    auto labels = alert.find("labels");
    if (labels == alert.end() || !labels->is_object()) {
      return invalid(where + ".labels: an object is required");
    }
    b.labelsFrom(*labels);
    const json empty = json::object();
    auto annotations_it = alert.find("annotations");
    const json& annotations =
        annotations_it != alert.end() && annotations_it->is_object() ? *annotations_it : empty;
    e.title = field(annotations, "summary");
    if (e.title.empty()) {
      e.title = field(annotations, "title");
    }
    if (e.title.empty()) {
      e.title = b.firstLabel({"alertname"});
    }
    if (e.title.empty()) {
      e.title = "(alert without a name)";
    }
    e.body = field(annotations, "description");
    if (e.body.empty()) {
      e.body = field(annotations, "message");
    }
    for (const auto& [key, value] : annotations.items()) {
      if (key != "summary" && key != "description") {
        b.label("annotation." + key, text(value));
      }
    }
    if (auto severity = monitoringSeverity(b.firstLabel({"severity", "priority", "level"}))) {
      e.severity = *severity;
    }
    e.service = b.firstLabel({"service", "job", "app", "application"});
    e.host = b.firstLabel({"instance", "host", "hostname", "node", "pod"});
    e.environment = b.firstLabel({"env", "environment"});
    e.source_dedup_key = field(alert, "fingerprint");
    auto time_key = e.status == EventStatus::kResolved ? "endsAt" : "startsAt";
    if (auto t = alert.find(time_key); t != alert.end()) {
      e.occurred_at_ns = timeOf(*t);
    }
    if (!receiver.empty()) {
      b.label("receiver", receiver);
    }
    if (const std::string url = field(alert, "generatorURL"); !url.empty()) {
      b.label("generator_url", url);
    }
    if (!external_url.empty()) {
      b.label("external_url", external_url);
    }
    std::string raw = alert.dump(-1, ' ', false, json::error_handler_t::replace);
    out.events.push_back(b.finish(std::move(raw)));
  }
  return out;
}

// ---- PagerDuty Events API v2 -----------------------------------------------------------------

Result<Normalized> pagerDuty(const json& doc, const NormalizeContext& ctx) {
  const std::string action = field(doc, "event_action");
  EventBuilder b(ctx, SourceKind::kPagerDuty);
  Event& e = b.event();
  e.source_dedup_key = field(doc, "dedup_key");
  if (action == "trigger") {
    e.status = EventStatus::kFiring;
  } else if (action == "acknowledge" || action == "resolve") {
    if (e.source_dedup_key.empty()) {
      return invalid("dedup_key: required for " + action);
    }
    e.status = action == "resolve" ? EventStatus::kResolved : EventStatus::kFiring;
    e.action = action;
  } else {
    return invalid("event_action: \"trigger\", \"acknowledge\" or \"resolve\" expected");
  }
  if (e.source_dedup_key.size() > 255) {
    return invalid("dedup_key: at most 255 characters");
  }
  const json empty = json::object();
  auto payload_it = doc.find("payload");
  const bool has_payload = payload_it != doc.end() && payload_it->is_object();
  const json& payload = has_payload ? *payload_it : empty;
  if (action == "trigger") {
    if (!has_payload) {
      return invalid("payload: an object is required for trigger");
    }
    e.title = field(payload, "summary");
    e.host = field(payload, "source");
    const std::string severity = field(payload, "severity");
    if (e.title.empty()) {
      return invalid("payload.summary: required");
    }
    if (e.title.size() > 1024) {
      return invalid("payload.summary: at most 1024 characters");
    }
    if (e.host.empty()) {
      return invalid("payload.source: required");
    }
    if (severity != "critical" && severity != "error" && severity != "warning" &&
        severity != "info") {
      return invalid("payload.severity: critical, error, warning or info expected");
    }
    e.severity = *monitoringSeverity(severity);
    if (e.source_dedup_key.empty()) {
      // PagerDuty makes a new key for a trigger without one: each such trigger is its own alert.
      e.source_dedup_key = crypto::randomHex(16);
    }
  } else {
    e.title = action == "resolve" ? "resolved" : "acknowledged";
    e.severity = Severity::kInfo;
  }
  e.service = field(payload, "component");
  if (auto t = payload.find("timestamp"); t != payload.end()) {
    e.occurred_at_ns = timeOf(*t);
  }
  for (const char* key : {"group", "class"}) {
    if (std::string v = field(payload, key); !v.empty()) {
      b.label(key, std::move(v));
    }
  }
  if (std::string client = field(doc, "client"); !client.empty()) {
    b.label("client", std::move(client));
  }
  if (std::string url = field(doc, "client_url"); !url.empty()) {
    b.label("client_url", std::move(url));
  }
  if (auto details = payload.find("custom_details"); details != payload.end()) {
    if (details->is_object()) {
      for (const auto& [key, value] : details->items()) {
        std::string v = text(value);
        b.label("detail." + key, v.empty() ? value.dump() : v);
      }
    } else if (!details->is_null()) {
      e.body = details->is_string() ? details->get<std::string>() : details->dump();
    }
  }
  // routing_key is the integration key; it must not be kept as a label or in the raw copy.
  json kept = doc;
  kept.erase("routing_key");
  return Normalized{{b.finish(kept.dump(-1, ' ', false, json::error_handler_t::replace))}, {}};
}

// ---- Datadog ---------------------------------------------------------------------------------

Result<Normalized> datadog(const json& doc, const NormalizeContext& ctx) {
  EventBuilder b(ctx, SourceKind::kDatadog);
  Event& e = b.event();
  e.title = field(doc, "title");
  if (e.title.empty()) {
    e.title = field(doc, "event_title");
  }
  if (e.title.empty()) {
    return invalid("title: required");
  }
  e.body = field(doc, "body");
  const std::string transition = lower(field(doc, "alert_transition"));
  const std::string title_lower = lower(e.title);
  if (transition == "recovered" || (transition.empty() && title_lower.starts_with("[recovered"))) {
    e.status = EventStatus::kResolved;
  } else if (transition.empty() && !title_lower.starts_with("[") &&
             lower(field(doc, "event_type")).find("alert") == std::string::npos) {
    e.status = EventStatus::kInfo;
  } else {
    e.status = EventStatus::kFiring;
  }
  if (auto severity = monitoringSeverity(field(doc, "alert_priority"))) {
    e.severity = *severity;
  } else if (transition == "warn" || title_lower.starts_with("[warn")) {
    e.severity = Severity::kWarn;
  } else if (e.status == EventStatus::kFiring) {
    e.severity = Severity::kError;
  }
  for (const char* key : {"alert_cycle_key", "aggreg_key", "alert_id", "id"}) {
    e.source_dedup_key = field(doc, key);
    if (!e.source_dedup_key.empty()) {
      break;
    }
  }
  e.host = field(doc, "hostname");
  for (const char* key : {"date", "last_updated"}) {
    if (auto t = doc.find(key); t != doc.end() && e.occurred_at_ns == 0) {
      e.occurred_at_ns = timeOf(*t);
    }
  }
  std::string tags = field(doc, "tags");
  std::size_t start = 0;
  while (start < tags.size()) {
    std::size_t comma = tags.find(',', start);
    if (comma == std::string::npos) {
      comma = tags.size();
    }
    std::string tag = tags.substr(start, comma - start);
    start = comma + 1;
    tag.erase(0, tag.find_first_not_of(' '));
    tag.erase(tag.find_last_not_of(' ') + 1);
    if (tag.empty()) {
      continue;
    }
    const std::size_t colon = tag.find(':');
    if (colon == std::string::npos) {
      b.label(tag, "");
    } else {
      b.label(tag.substr(0, colon), tag.substr(colon + 1));
    }
  }
  e.service = b.firstLabel({"service", "app"});
  e.environment = b.firstLabel({"env", "environment"});
  for (const char* key : {"event_type", "alert_transition", "alert_scope", "link", "alert_id"}) {
    if (std::string v = field(doc, key); !v.empty()) {
      b.label(key, std::move(v));
    }
  }
  if (auto org = doc.find("org"); org != doc.end() && org->is_object()) {
    b.label("org", field(*org, "name"));
  }
  return Normalized{{b.finish(doc.dump(-1, ' ', false, json::error_handler_t::replace))}, {}};
}

// ---- CloudWatch through SNS ------------------------------------------------------------------

Result<Normalized> cloudWatch(const json& doc, const NormalizeContext& ctx) {
  SnsEnvelope sns;
  sns.type = field(doc, "Type");
  sns.message_id = field(doc, "MessageId");
  sns.topic_arn = field(doc, "TopicArn");
  sns.signature_version = field(doc, "SignatureVersion");
  sns.signature = field(doc, "Signature");
  sns.signing_cert_url = field(doc, "SigningCertURL");
  if (sns.signing_cert_url.empty()) {
    sns.signing_cert_url = field(doc, "SigningCertUrl");  // Lambda record casing
  }
  const std::string message = field(doc, "Message");
  const std::string timestamp = field(doc, "Timestamp");
  if (sns.message_id.empty() || sns.topic_arn.empty() || timestamp.empty()) {
    return invalid("SNS envelope: MessageId, TopicArn and Timestamp are required");
  }
  // The string SNS signs: fixed keys in this order, each "Key\nvalue\n" (Subject only when
  // present, and only for notifications).
  auto add = [&](const char* key, const std::string& value) {
    sns.string_to_sign.append(key).append("\n").append(value).append("\n");
  };
  Normalized out;
  if (sns.type == "SubscriptionConfirmation" || sns.type == "UnsubscribeConfirmation") {
    sns.subscribe_url = field(doc, "SubscribeURL");
    if (sns.subscribe_url.empty()) {
      return invalid("SubscribeURL: required in a " + sns.type);
    }
    add("Message", message);
    add("MessageId", sns.message_id);
    add("SubscribeURL", sns.subscribe_url);
    add("Timestamp", timestamp);
    add("Token", field(doc, "Token"));
    add("TopicArn", sns.topic_arn);
    add("Type", sns.type);
    out.sns = std::move(sns);
    return out;
  }
  if (sns.type != "Notification") {
    return invalid("Type: Notification, SubscriptionConfirmation or UnsubscribeConfirmation");
  }
  add("Message", message);
  add("MessageId", sns.message_id);
  if (doc.contains("Subject") && doc["Subject"].is_string()) {
    add("Subject", doc["Subject"].get<std::string>());
  }
  add("Timestamp", timestamp);
  add("TopicArn", sns.topic_arn);
  add("Type", sns.type);

  auto alarm = parseJson(message, ctx.limits);
  if (!alarm) {
    return invalid("Message: " + alarm.status().message());
  }
  EventBuilder b(ctx, SourceKind::kCloudWatch);
  Event& e = b.event();
  e.title = field(*alarm, "AlarmName");
  if (e.title.empty()) {
    return invalid("Message.AlarmName: required");
  }
  const std::string state = field(*alarm, "NewStateValue");
  if (state == "ALARM") {
    e.status = EventStatus::kFiring;
    e.severity = Severity::kError;
  } else if (state == "OK") {
    e.status = EventStatus::kResolved;
    e.severity = Severity::kInfo;
  } else if (state == "INSUFFICIENT_DATA") {
    e.status = EventStatus::kInfo;
    e.severity = Severity::kInfo;
  } else {
    return invalid("Message.NewStateValue: ALARM, OK or INSUFFICIENT_DATA expected");
  }
  e.body = field(*alarm, "NewStateReason");
  if (std::string description = field(*alarm, "AlarmDescription"); !description.empty()) {
    e.body = description + "\n" + e.body;
  }
  e.source_dedup_key = field(*alarm, "AlarmArn");
  if (e.source_dedup_key.empty()) {
    e.source_dedup_key =
        field(*alarm, "AWSAccountId") + ":" + field(*alarm, "Region") + ":" + e.title;
  }
  if (auto t = alarm->find("StateChangeTime"); t != alarm->end()) {
    e.occurred_at_ns = timeOf(*t);
  }
  b.label("region", field(*alarm, "Region"));
  b.label("account", field(*alarm, "AWSAccountId"));
  b.label("old_state", field(*alarm, "OldStateValue"));
  b.label("topic_arn", sns.topic_arn);
  if (auto trigger = alarm->find("Trigger"); trigger != alarm->end() && trigger->is_object()) {
    b.label("namespace", field(*trigger, "Namespace"));
    b.label("metric", field(*trigger, "MetricName"));
    if (auto dims = trigger->find("Dimensions"); dims != trigger->end() && dims->is_array()) {
      for (const json& dim : *dims) {
        b.label("dimension." + field(dim, "name"), field(dim, "value"));
      }
    }
  }
  e.host = b.firstLabel({"dimension.InstanceId", "dimension.DBInstanceIdentifier"});
  e.service = b.firstLabel({"dimension.ServiceName", "dimension.FunctionName", "namespace"});
  out.events.push_back(b.finish(alarm->dump(-1, ' ', false, json::error_handler_t::replace)));
  out.sns = std::move(sns);
  return out;
}

// ---- Generic JSON ----------------------------------------------------------------------------

const json* at(const json& doc, const std::string& pointer) {
  if (pointer.empty()) {
    return nullptr;
  }
  try {
    json::json_pointer p(pointer);
    return doc.contains(p) ? &doc.at(p) : nullptr;
  } catch (const json::exception&) {
    return nullptr;  // validated when the integration is saved; never fatal here
  }
}

std::string textAt(const json& doc, const std::string& pointer) {
  const json* value = at(doc, pointer);
  return value == nullptr ? std::string() : text(*value);
}

Result<Event> genericOne(const json& item, const std::string& where, const GenericMapping& m,
                         const NormalizeContext& ctx) {
  if (!item.is_object()) {
    return invalid(where + ": an object is required");
  }
  EventBuilder b(ctx, SourceKind::kGeneric);
  Event& e = b.event();
  e.title = textAt(item, m.title);
  if (e.title.empty()) {
    return invalid(where + m.title + ": the title is required (mapping \"title\")");
  }
  e.body = textAt(item, m.body);
  const std::string status = lower(textAt(item, m.status));
  if (std::find(m.resolved_values.begin(), m.resolved_values.end(), status) !=
      m.resolved_values.end()) {
    e.status = EventStatus::kResolved;
  } else if (std::find(m.info_values.begin(), m.info_values.end(), status) != m.info_values.end()) {
    e.status = EventStatus::kInfo;
  }
  if (auto severity = monitoringSeverity(textAt(item, m.severity))) {
    e.severity = *severity;
  }
  e.service = textAt(item, m.service);
  e.host = textAt(item, m.host);
  e.environment = textAt(item, m.environment);
  e.source_dedup_key = textAt(item, m.dedup_key);
  if (const json* t = at(item, m.occurred_at)) {
    e.occurred_at_ns = timeOf(*t);
  }
  if (const json* labels = at(item, m.labels)) {
    b.labelsFrom(*labels);
  }
  return b.finish(item.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<Normalized> generic(const json& doc, const NormalizeContext& ctx) {
  if (ctx.mapping == nullptr) {
    return Status(Errc::FailedPrecondition, "generic integration without a field mapping");
  }
  const GenericMapping& m = *ctx.mapping;
  Normalized out;
  if (m.events.empty()) {
    FL_ASSIGN_OR_RETURN(Event e, genericOne(doc, "", m, ctx));
    out.events.push_back(std::move(e));
    return out;
  }
  const json* list = at(doc, m.events);
  if (list == nullptr || !list->is_array()) {
    return invalid(m.events + ": an array of events is required (mapping \"events\")");
  }
  if (list->size() > ctx.limits.max_events) {
    return Status(Errc::ResourceExhausted, m.events + ": " + std::to_string(list->size()) +
                                               " events; the limit is " +
                                               std::to_string(ctx.limits.max_events));
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    FL_ASSIGN_OR_RETURN(Event e,
                        genericOne((*list)[i], m.events + "/" + std::to_string(i), m, ctx));
    out.events.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Result<Normalized> normalize(SourceKind kind, std::string_view body, const NormalizeContext& ctx) {
  FL_ASSIGN_OR_RETURN(json doc, parseJson(body, ctx.limits));
  switch (kind) {
    case SourceKind::kAlertmanager:
    case SourceKind::kGrafana: return alertGroup(kind, doc, ctx);
    case SourceKind::kPagerDuty: return pagerDuty(doc, ctx);
    case SourceKind::kDatadog: return datadog(doc, ctx);
    case SourceKind::kCloudWatch: return cloudWatch(doc, ctx);
    case SourceKind::kGeneric: return generic(doc, ctx);
    case SourceKind::kLog:
    case SourceKind::kChange: break;
  }
  return invalidArgument("log events are not webhook payloads");
}

}  // namespace faultline::aggregator::events
