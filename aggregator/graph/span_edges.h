#pragma once

// Call edges learned from trace spans (POST /v1/service-graph/spans). A span whose parent span
// belongs to another service is one call parent -> child (caller -> callee); pairs within one
// service are not edges. No timing is used: only who called whom, and how often.
//
// Accepted bodies (JSON, untrusted, size-limited here):
//   OTLP/JSON ExportTraceServiceRequest: resourceSpans[].resource.attributes[] service.name,
//     resourceSpans[].scopeSpans[].spans[] {traceId, spanId, parentSpanId}
//   compact: {"spans": [{"trace_id", "span_id", "parent_span_id", "service"}]}

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aggregator/store/graph_records.h"
#include "shared/util/status.h"

namespace faultline::aggregator::graph {

inline constexpr std::size_t kMaxSpanBodyBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxSpansPerRequest = 100'000;
inline constexpr std::size_t kMaxSpanIdBytes = 64;

struct SpanRecord {
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;  // empty for a root span
  std::string service;
};

struct ParsedSpans {
  std::vector<SpanRecord> spans;
  std::size_t skipped = 0;  // spans without a usable service name or span id
};

/// InvalidArgument with the offending path; ResourceExhausted over the limits above.
Result<ParsedSpans> parseSpans(std::string_view body);

/// Pairs spans with their parents into call counts. A parent may arrive in an earlier or a
/// later request than its child: each tenant keeps its most recent spans (span -> service) and
/// the children still waiting for their parent, both bounded (oldest forgotten first).
/// Thread-safe.
class SpanEdgeLearner {
 public:
  explicit SpanEdgeLearner(std::size_t max_remembered_per_tenant = 200'000,
                           std::size_t max_tenants = 1'000);

  /// The call edges (origin spans, weight = calls, seen at `now_ns`) that `spans` complete,
  /// by (from, to); remembers the spans for later requests.
  std::vector<store::GraphEdge> pair(std::string_view tenant_id,
                                     const std::vector<SpanRecord>& spans, std::int64_t now_ns);

 private:
  struct TenantSpans {
    std::unordered_map<std::string, std::string> service_of;    // trace+span id -> service
    std::deque<std::string> order;                              // ids, oldest first
    std::unordered_multimap<std::string, std::string> waiting;  // parent id -> child service
    std::deque<std::string> waiting_order;
  };

  std::size_t max_remembered_;
  std::size_t max_tenants_;
  std::mutex mutex_;
  std::map<std::string, TenantSpans, std::less<>> tenants_;
};

}  // namespace faultline::aggregator::graph
