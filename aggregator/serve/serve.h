#pragma once

// `faultline-aggregator serve`: the store, the agent API and the HTTP server on one libuv loop,
// until SIGINT or SIGTERM.

#include <cstdio>
#include <memory>

#include "aggregator/config/aggregator_config.h"
#include "aggregator/knowledge/embeddings.h"
#include "shared/util/status.h"

namespace faultline::aggregator::serve {

/// Runs the aggregator on the calling thread until SIGINT/SIGTERM, then stops gracefully
/// (in-flight requests finish, queued writes commit). Once listening, writes
/// "faultline-aggregator listening on http://HOST:PORT\n" (the bound port; "https" with TLS)
/// to `out`. With TLS, SIGHUP reloads the certificate and key for new connections (a failed
/// reload is logged and keeps the old ones). A certificate or key that cannot be loaded at
/// start is InvalidArgument, naming the file.
Status run(const config::AggregatorConfig& config, std::FILE* out);

/// The knowledge index's embeddings (ai.embeddings.*), or null when off: the openai provider's
/// URL, key and timeout (ai.openai.*) with the embedding model. The key is never logged.
Result<std::shared_ptr<knowledge::KnowledgeEmbeddings>> makeKnowledgeEmbeddings(
    const config::AggregatorConfig& config);

}  // namespace faultline::aggregator::serve
