// A suppression rule or maintenance window spec (JSON from POST /v1/suppression-rules and
// /v1/maintenance-windows) through NoiseRuleSpec::parse, the first byte choosing the kind.
// Invariants: no crash; a refusal is InvalidArgument; an accepted spec's canonical form parses
// back to the same canonical form, and asking it about times and an event does not crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "aggregator/events/noise_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline;
  using namespace faultline::aggregator::events;
  if (size == 0) {
    return 0;
  }
  const NoiseRuleKind kind =
      (data[0] & 1) != 0 ? NoiseRuleKind::kMaintenance : NoiseRuleKind::kSuppression;
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto spec = NoiseRuleSpec::parse(kind, json);
  if (!spec) {
    if (spec.code() != Errc::InvalidArgument) {
      std::fprintf(stderr, "fuzz_noise_rule: %s\n", spec.status().toString().c_str());
      __builtin_trap();
    }
    return 0;
  }
  const std::string canonical = spec->canonicalJson();
  auto again = NoiseRuleSpec::parse(kind, canonical);
  if (!again || again->canonicalJson() != canonical) {
    std::fprintf(stderr, "fuzz_noise_rule: canonical form does not round-trip: %s\n",
                 canonical.c_str());
    __builtin_trap();
  }
  Event event;
  event.service = "db";
  event.labels = {{"alertname", "DiskFull"}};
  for (std::int64_t at : {INT64_MIN + 1, std::int64_t{0}, std::int64_t{1'795'000'000} * 1'000'000'000,
                          INT64_MAX - 1}) {
    (void)spec->activeUntil(at);
    (void)spec->nextStart(at);
  }
  (void)spec->matches(event);
  return 0;
}
