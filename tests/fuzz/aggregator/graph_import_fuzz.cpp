// A service graph file (POST /v1/service-graph/import, `admin graph import`) through
// parseGraphFile, the first byte choosing JSON or TOML.
// Invariants: no crash; a refusal is InvalidArgument or ResourceExhausted; every accepted
// service passes the store's own checks, so planning the import never refuses it either.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "aggregator/graph/graph_import.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline;
  using namespace faultline::aggregator;
  if (size == 0) {
    return 0;
  }
  const graph::GraphFileFormat format =
      (data[0] & 1) != 0 ? graph::GraphFileFormat::Toml : graph::GraphFileFormat::Json;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto services = graph::parseGraphFile(text, format);
  if (!services) {
    if (services.code() != Errc::InvalidArgument && services.code() != Errc::ResourceExhausted) {
      std::fprintf(stderr, "fuzz_graph_import: %s\n", services.status().toString().c_str());
      __builtin_trap();
    }
    return 0;
  }
  store::GraphChange change;
  change.declare = std::move(*services);
  auto plan = store::planGraphChange(store::GraphSnapshotRecord{}, change);
  if (!plan) {
    std::fprintf(stderr, "fuzz_graph_import: accepted file refused by the plan: %s\n",
                 plan.status().toString().c_str());
    __builtin_trap();
  }
  return 0;
}
