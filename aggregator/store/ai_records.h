#pragma once

// Rows of the AI tables (migration 13): the runbook generated for an incident (and edited by a
// responder), one per incident and tenant. The body is the runbook's JSON (aggregator/ai).

#include <cstdint>
#include <string>

namespace faultline::aggregator::store {

struct AiRunbookRecord {
  std::string tenant_id;
  std::string incident_id;
  std::string body_json;   // aggregator/ai/runbook.h: runbookToJson
  std::string provider;    // who wrote it: "offline", a provider's name, "edited"
  std::string updated_by;  // "system" or the principal that saved it
  std::int64_t updated_at_ns = 0;
};

/// Bytes of a stored runbook's JSON at most.
inline constexpr std::size_t kMaxAiRunbookBytes = 256 * 1024;

}  // namespace faultline::aggregator::store
