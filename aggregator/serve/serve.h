#pragma once

// `faultline-aggregator serve`: the store, the agent API and the HTTP server on one libuv loop,
// until SIGINT or SIGTERM.

#include <cstdio>

#include "aggregator/config/aggregator_config.h"
#include "shared/util/status.h"

namespace faultline::aggregator::serve {

/// Runs the aggregator on the calling thread until SIGINT/SIGTERM, then stops gracefully
/// (in-flight requests finish, queued writes commit). Once listening, writes
/// "faultline-aggregator listening on http://HOST:PORT\n" (the bound port) to `out`.
Status run(const config::AggregatorConfig& config, std::FILE* out);

}  // namespace faultline::aggregator::serve
