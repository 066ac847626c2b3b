#pragma once

// Service graph files: what POST /v1/service-graph/import and `admin graph import` read.
//
//   JSON: {"services": [{"name": "web", "owner": "team-a", "environment": "prod",
//                        "tier": "frontend", "labels": {"k": "v"}, "depends_on": ["api"]}]}
//   TOML: [[services]]
//         name = "web"
//         depends_on = ["api"]
//
// Only "name" is required. Unknown keys are errors, and every error names the offending path
// ("services[2].depends_on[0]: expected a string"). Input is untrusted: size-limited here.

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "aggregator/store/graph_records.h"
#include "shared/util/status.h"

namespace faultline::aggregator::graph {

inline constexpr std::size_t kMaxGraphImportBytes = 4 * 1024 * 1024;

enum class GraphFileFormat : std::uint8_t { Json, Toml };

/// The format a Content-Type names: application/json, application/toml; text/plain or none:
/// sniffed (a body starting with '{' is JSON, otherwise TOML). nullopt for other types.
std::optional<GraphFileFormat> graphFileFormat(std::string_view content_type,
                                               std::string_view body);

/// The services a file declares, in file order. InvalidArgument with the path of the first
/// problem; ResourceExhausted over kMaxGraphImportBytes or kMaxGraphServices services.
Result<std::vector<store::ServiceDeclaration>> parseGraphFile(std::string_view text,
                                                              GraphFileFormat format);

/// The body of PUT /v1/services/{name}: one service object (every key optional; "name", when
/// given, must be `name`). InvalidArgument naming the offending key.
Result<store::ServiceDeclaration> parseServiceJson(std::string_view body, std::string_view name);

}  // namespace faultline::aggregator::graph
