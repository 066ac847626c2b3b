#include "aggregator/graph/span_edges.h"

#include <nlohmann/json.hpp>

namespace faultline::aggregator::graph {
namespace {

using nlohmann::json;

Status atPath(const std::string& path, std::string_view what) {
  return invalidArgument(path + ": " + std::string(what));
}

/// An optional string member: "" when absent or null; InvalidArgument for another type or an
/// over-long value.
Result<std::string> member(const json& object, std::string_view key, const std::string& path,
                           std::size_t max_bytes) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return std::string();
  }
  if (!it->is_string()) {
    return atPath(path + "." + std::string(key), "expected a string");
  }
  std::string value = it->get<std::string>();
  if (value.size() > max_bytes) {
    return atPath(path + "." + std::string(key), "at most " + std::to_string(max_bytes) + " bytes");
  }
  return value;
}

Status addSpan(ParsedSpans& out, SpanRecord span) {
  if (out.spans.size() >= kMaxSpansPerRequest) {
    return Status(Errc::ResourceExhausted,
                  "at most " + std::to_string(kMaxSpansPerRequest) + " spans per request");
  }
  if (span.span_id.empty() || !store::validServiceName(span.service)) {
    ++out.skipped;
    return Status::ok();
  }
  out.spans.push_back(std::move(span));
  return Status::ok();
}

/// The service.name attribute of an OTLP resource ("" when absent).
Result<std::string> resourceService(const json& resource_spans, const std::string& path) {
  auto resource = resource_spans.find("resource");
  if (resource == resource_spans.end() || resource->is_null()) {
    return std::string();
  }
  if (!resource->is_object()) {
    return atPath(path + ".resource", "expected an object");
  }
  auto attributes = resource->find("attributes");
  if (attributes == resource->end() || attributes->is_null()) {
    return std::string();
  }
  if (!attributes->is_array()) {
    return atPath(path + ".resource.attributes", "expected an array");
  }
  for (std::size_t i = 0; i < attributes->size(); ++i) {
    const json& attribute = (*attributes)[i];
    const std::string at = path + ".resource.attributes[" + std::to_string(i) + "]";
    if (!attribute.is_object()) {
      return atPath(at, "expected an object");
    }
    auto key = attribute.find("key");
    if (key == attribute.end() || !key->is_string() || *key != "service.name") {
      continue;
    }
    auto value = attribute.find("value");
    if (value == attribute.end() || !value->is_object()) {
      return atPath(at + ".value", "expected an AnyValue object");
    }
    return member(*value, "stringValue", at + ".value", store::kMaxServiceNameBytes);
  }
  return std::string();
}

Result<ParsedSpans> parseOtlp(const json& root) {
  ParsedSpans out;
  const json& resource_list = *root.find("resourceSpans");
  if (!resource_list.is_array()) {
    return atPath("resourceSpans", "expected an array");
  }
  for (std::size_t r = 0; r < resource_list.size(); ++r) {
    const std::string path = "resourceSpans[" + std::to_string(r) + "]";
    const json& resource_spans = resource_list[r];
    if (!resource_spans.is_object()) {
      return atPath(path, "expected an object");
    }
    FL_ASSIGN_OR_RETURN(std::string service, resourceService(resource_spans, path));
    // instrumentationLibrarySpans: the name before OTLP 0.15, still sent by old exporters.
    for (std::string_view scopes_key : {"scopeSpans", "instrumentationLibrarySpans"}) {
      auto scopes = resource_spans.find(scopes_key);
      if (scopes == resource_spans.end() || scopes->is_null()) {
        continue;
      }
      const std::string scopes_path = path + "." + std::string(scopes_key);
      if (!scopes->is_array()) {
        return atPath(scopes_path, "expected an array");
      }
      for (std::size_t s = 0; s < scopes->size(); ++s) {
        const std::string scope_path = scopes_path + "[" + std::to_string(s) + "]";
        const json& scope = (*scopes)[s];
        if (!scope.is_object()) {
          return atPath(scope_path, "expected an object");
        }
        auto spans = scope.find("spans");
        if (spans == scope.end() || spans->is_null()) {
          continue;
        }
        if (!spans->is_array()) {
          return atPath(scope_path + ".spans", "expected an array");
        }
        for (std::size_t i = 0; i < spans->size(); ++i) {
          const std::string at = scope_path + ".spans[" + std::to_string(i) + "]";
          const json& span = (*spans)[i];
          if (!span.is_object()) {
            return atPath(at, "expected an object");
          }
          SpanRecord record;
          FL_ASSIGN_OR_RETURN(record.trace_id, member(span, "traceId", at, kMaxSpanIdBytes));
          FL_ASSIGN_OR_RETURN(record.span_id, member(span, "spanId", at, kMaxSpanIdBytes));
          FL_ASSIGN_OR_RETURN(record.parent_span_id,
                              member(span, "parentSpanId", at, kMaxSpanIdBytes));
          record.service = service;
          FL_RETURN_IF_ERROR(addSpan(out, std::move(record)));
        }
      }
    }
  }
  return out;
}

Result<ParsedSpans> parseCompact(const json& root) {
  ParsedSpans out;
  const json& spans = *root.find("spans");
  if (!spans.is_array()) {
    return atPath("spans", "expected an array");
  }
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const std::string at = "spans[" + std::to_string(i) + "]";
    const json& span = spans[i];
    if (!span.is_object()) {
      return atPath(at, "expected an object");
    }
    SpanRecord record;
    FL_ASSIGN_OR_RETURN(record.trace_id, member(span, "trace_id", at, kMaxSpanIdBytes));
    FL_ASSIGN_OR_RETURN(record.span_id, member(span, "span_id", at, kMaxSpanIdBytes));
    FL_ASSIGN_OR_RETURN(record.parent_span_id, member(span, "parent_span_id", at, kMaxSpanIdBytes));
    FL_ASSIGN_OR_RETURN(record.service, member(span, "service", at, store::kMaxServiceNameBytes));
    FL_RETURN_IF_ERROR(addSpan(out, std::move(record)));
  }
  return out;
}

/// Span ids are unique within a trace: the trace id is part of the key.
std::string spanKey(std::string_view trace_id, std::string_view span_id) {
  std::string key;
  key.reserve(trace_id.size() + span_id.size() + 1);
  key.append(trace_id).push_back('/');
  key.append(span_id);
  return key;
}

}  // namespace

Result<ParsedSpans> parseSpans(std::string_view body) {
  if (body.size() > kMaxSpanBodyBytes) {
    return Status(Errc::ResourceExhausted,
                  "a span request holds at most " + std::to_string(kMaxSpanBodyBytes) + " bytes");
  }
  json root = json::parse(body, nullptr, false);
  if (root.is_discarded()) {
    return invalidArgument("not valid JSON");
  }
  if (!root.is_object()) {
    return atPath("$", "expected an object");
  }
  const bool otlp = root.contains("resourceSpans");
  const bool compact = root.contains("spans");
  if (otlp == compact) {
    return atPath("$", "expected either \"resourceSpans\" (OTLP/JSON) or \"spans\"");
  }
  return otlp ? parseOtlp(root) : parseCompact(root);
}

SpanEdgeLearner::SpanEdgeLearner(std::size_t max_remembered_per_tenant, std::size_t max_tenants)
    : max_remembered_(max_remembered_per_tenant), max_tenants_(max_tenants) {}

std::vector<store::GraphEdge> SpanEdgeLearner::pair(std::string_view tenant_id,
                                                    const std::vector<SpanRecord>& spans,
                                                    std::int64_t now_ns) {
  std::map<std::pair<std::string, std::string>, std::int64_t> calls;
  auto count = [&](const std::string& parent, const std::string& child) {
    if (parent != child) {
      ++calls[{parent, child}];
    }
  };
  std::lock_guard lock(mutex_);
  auto it = tenants_.find(tenant_id);
  if (it == tenants_.end()) {
    if (tenants_.size() >= max_tenants_) {
      tenants_.clear();  // bounded: forgetting only loses pairs split across requests
    }
    it = tenants_.emplace(std::string(tenant_id), TenantSpans{}).first;
  }
  TenantSpans& known = it->second;
  // This request's spans first, so that a child listed before its parent still pairs.
  std::unordered_map<std::string, const std::string*> in_request;
  in_request.reserve(spans.size());
  for (const SpanRecord& span : spans) {
    in_request.emplace(spanKey(span.trace_id, span.span_id), &span.service);
  }
  for (const SpanRecord& span : spans) {
    const std::string key = spanKey(span.trace_id, span.span_id);
    // Children that arrived before this span.
    auto [first, last] = known.waiting.equal_range(key);
    for (auto waiting = first; waiting != last; ++waiting) {
      count(span.service, waiting->second);
    }
    known.waiting.erase(first, last);
    if (span.parent_span_id.empty()) {
      continue;
    }
    const std::string parent_key = spanKey(span.trace_id, span.parent_span_id);
    if (auto parent = in_request.find(parent_key); parent != in_request.end()) {
      count(*parent->second, span.service);
    } else if (auto remembered = known.service_of.find(parent_key);
               remembered != known.service_of.end()) {
      count(remembered->second, span.service);
    } else {
      known.waiting.emplace(parent_key, span.service);
      known.waiting_order.push_back(parent_key);
    }
  }
  for (const SpanRecord& span : spans) {
    std::string key = spanKey(span.trace_id, span.span_id);
    if (known.service_of.insert_or_assign(key, span.service).second) {
      known.order.push_back(std::move(key));
    }
  }
  while (known.order.size() > max_remembered_) {
    known.service_of.erase(known.order.front());
    known.order.pop_front();
  }
  while (known.waiting_order.size() > max_remembered_) {
    // Forgets every child waiting on the oldest parent id (ids repeat in the order list; a
    // later repeat then finds nothing to erase).
    known.waiting.erase(known.waiting_order.front());
    known.waiting_order.pop_front();
  }
  std::vector<store::GraphEdge> edges;
  edges.reserve(calls.size());
  for (const auto& [pair, weight] : calls) {
    edges.push_back(store::GraphEdge{pair.first, pair.second, store::EdgeOrigin::Spans, weight,
                                     now_ns, now_ns});
  }
  return edges;
}

}  // namespace faultline::aggregator::graph
