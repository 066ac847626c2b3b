#pragma once

// The body of POST /v1/agents/enroll, parsed strictly from untrusted bytes:
//   {"token": "...", "hostname": "...", "version": "..."}
// token is required; hostname and version are optional; unknown fields, duplicate fields,
// nested values and other types are errors.

#include <cstddef>
#include <string>
#include <string_view>

#include "shared/util/status.h"

namespace faultline::aggregator::ingest {

inline constexpr std::size_t kMaxEnrollBodyBytes = 64 * 1024;
inline constexpr std::size_t kMaxEnrollTokenBytes = 256;
inline constexpr std::size_t kMaxEnrollFieldBytes = 255;  // hostname, version

struct EnrollRequest {
  std::string token;
  std::string hostname;
  std::string version;
};

/// Parses an enroll body. InvalidArgument (with a message fit for the client) on anything but
/// a flat JSON object of the fields above; ResourceExhausted over kMaxEnrollBodyBytes.
/// Thread-safe; never throws.
Result<EnrollRequest> parseEnrollRequest(std::string_view body);

}  // namespace faultline::aggregator::ingest
