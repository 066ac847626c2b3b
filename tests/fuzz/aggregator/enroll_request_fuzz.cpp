// Feeds arbitrary bytes to the enroll request parser; an accepted request must respect the
// documented bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aggregator/ingest/enroll_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline::aggregator::ingest;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = parseEnrollRequest(input);
  if (parsed) {
    if (parsed->token.empty() || parsed->token.size() > kMaxEnrollTokenBytes ||
        parsed->hostname.size() > kMaxEnrollFieldBytes ||
        parsed->version.size() > kMaxEnrollFieldBytes || size > kMaxEnrollBodyBytes) {
      __builtin_trap();
    }
  }
  return 0;
}
