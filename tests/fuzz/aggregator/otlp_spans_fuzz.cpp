// A span request (POST /v1/service-graph/spans: OTLP/JSON or compact) through parseSpans and
// the pairing of SpanEdgeLearner.
// Invariants: no crash; a refusal is InvalidArgument or ResourceExhausted; every edge joins
// two different valid service names with a positive weight, and the store's plan accepts them.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "aggregator/graph/span_edges.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline;
  using namespace faultline::aggregator;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = graph::parseSpans(body);
  if (!parsed) {
    if (parsed.code() != Errc::InvalidArgument && parsed.code() != Errc::ResourceExhausted) {
      std::fprintf(stderr, "fuzz_otlp_spans: %s\n", parsed.status().toString().c_str());
      __builtin_trap();
    }
    return 0;
  }
  static graph::SpanEdgeLearner learner(1024);  // memory across inputs, as across requests
  store::GraphChange change;
  change.learned = learner.pair("tnt_fuzz", parsed->spans, 1);
  for (const store::GraphEdge& edge : change.learned) {
    if (edge.from == edge.to || edge.weight <= 0 || !store::validServiceName(edge.from) ||
        !store::validServiceName(edge.to)) {
      std::fprintf(stderr, "fuzz_otlp_spans: bad edge %s -> %s\n", edge.from.c_str(),
                   edge.to.c_str());
      __builtin_trap();
    }
  }
  auto plan = store::planGraphChange(store::GraphSnapshotRecord{}, change);
  if (!plan) {
    std::fprintf(stderr, "fuzz_otlp_spans: plan refused: %s\n", plan.status().toString().c_str());
    __builtin_trap();
  }
  return 0;
}
