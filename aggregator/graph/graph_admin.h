#pragma once

// `faultline-aggregator admin graph import --tenant NAME [--mode merge|replace] FILE`: the same
// import as POST /v1/service-graph/import, run against the store by an operator.

#include <string>
#include <string_view>

#include "aggregator/audit/audit_event.h"
#include "aggregator/graph/graph_import.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::graph {

/// The format a file name suggests: .json, .toml; otherwise sniffed from the text.
GraphFileFormat graphFileFormatForPath(std::string_view path, std::string_view text);

/// Parses `text` and applies it to the named tenant's graph as one change (replace: declared
/// services and edges the file does not name are removed), audited as service_graph.import by
/// `actor` when it made a version. Errors as parseGraphFile and Store::applyGraphChange.
Result<store::GraphChangeResult> importGraphFile(store::Store& store, audit::AuditRecorder& audit,
                                                 std::string_view tenant_name,
                                                 std::string_view text, GraphFileFormat format,
                                                 bool replace, std::string_view actor,
                                                 std::int64_t now_ns);

}  // namespace faultline::aggregator::graph
