// A tenant's correlation rules (JSON from PUT /v1/correlation-rules) through
// CorrelationRules::fromJson. Invariants: no crash; a refusal is InvalidArgument; accepted rules
// round-trip through toJson; correlating a few events under them does not crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "aggregator/incidents/correlator.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline;
  using namespace faultline::aggregator::incidents;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto rules = CorrelationRules::fromJson(json);
  if (!rules) {
    if (rules.code() != Errc::InvalidArgument) {
      std::fprintf(stderr, "fuzz_correlation_rules: %s\n", rules.status().toString().c_str());
      __builtin_trap();
    }
    return 0;
  }
  auto again = CorrelationRules::fromJson(rules->toJson());
  if (!again || again->toJson() != rules->toJson()) {
    std::fprintf(stderr, "fuzz_correlation_rules: no round trip: %s\n", rules->toJson().c_str());
    __builtin_trap();
  }
  int next = 0;
  TenantCorrelator correlator("tnt_fuzz", *rules,
                              [&next] { return "inc_" + std::to_string(++next); });
  for (int i = 0; i < 8; ++i) {
    Signal signal;
    signal.event_id = "evt_" + std::to_string(i);
    signal.service = i % 2 == 0 ? "db" : "api";
    signal.fingerprint = "fp" + std::to_string(i % 3);
    signal.severity = aggregator::events::Severity::kCritical;
    signal.title = "disk full on host " + std::to_string(i);
    signal.labels = {{"cluster", "eu"}};
    signal.occurred_at_ns = static_cast<std::int64_t>(i) * 90'000'000'000;
    correlator.add(signal, i);
  }
  return 0;
}
