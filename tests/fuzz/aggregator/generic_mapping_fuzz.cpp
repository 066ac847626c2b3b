// A generic integration's field mapping (JSON from the API or `admin integration create
// --mapping`) through parseGenericMapping, and an accepted mapping through the generic
// normalizer. Invariants: no crash; a refusal is InvalidArgument; an accepted mapping has a title.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "aggregator/events/integrations.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline;
  using namespace faultline::aggregator::events;
  auto mapping = parseGenericMapping(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!mapping) {
    if (mapping.code() != Errc::InvalidArgument) {
      std::fprintf(stderr, "fuzz_generic_mapping: %s\n", mapping.status().toString().c_str());
      __builtin_trap();
    }
    return 0;
  }
  if (mapping->title.empty()) {
    __builtin_trap();
  }
  NormalizeContext ctx;
  ctx.tenant_id = "tnt_fuzz";
  ctx.integration_id = "int_fuzz";
  ctx.received_at_ns = 1'700'000'000'000'000'000;
  ctx.mapping = &*mapping;
  constexpr std::string_view kBody =
      R"({"alerts":[{"title":"t","id":"1","state":"ok","labels":{"a":"b"},"time":1700000000}],)"
      R"("title":"x","nested":{"deep":[1,{"k":"v"}]}})";
  auto normalized = normalize(SourceKind::kGeneric, kBody, ctx);
  if (!normalized && normalized.code() != Errc::InvalidArgument &&
      normalized.code() != Errc::ResourceExhausted) {
    std::fprintf(stderr, "fuzz_generic_mapping: normalize: %s\n",
                 normalized.status().toString().c_str());
    __builtin_trap();
  }
  return 0;
}
