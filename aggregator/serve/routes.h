#pragma once

// Every route the aggregator serves, in one table: serve() listens with it and the OpenAPI
// coverage test checks it, so what is served and what is documented cannot drift apart.

#include <memory>

#include "aggregator/api/ai_api.h"
#include "aggregator/api/event_stream.h"
#include "aggregator/audit/audit_event.h"
#include "aggregator/auth/auth_api.h"
#include "aggregator/events/event_hub.h"
#include "aggregator/events/noise_policies.h"
#include "aggregator/events/webhook_receiver.h"
#include "aggregator/graph/graph_cache.h"
#include "aggregator/graph/span_edges.h"
#include "aggregator/http/server.h"
#include "aggregator/incidents/incident_engine.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/ingest/log_upload.h"
#include "aggregator/knowledge/embeddings.h"
#include "aggregator/notify/notifier.h"
#include "aggregator/serve/ops_api.h"

namespace faultline::aggregator::serve {

/// The handlers behind the routes; each must outlive the router.
struct RouteHandlers {
  ingest::AgentApi* agent_api = nullptr;
  auth::AuthApi* auth_api = nullptr;
  store::Store* store = nullptr;            // read-only endpoints (agents, audit)
  OpsApi* ops = nullptr;                    // /readyz, /metrics
  ingest::LogUploader* uploader = nullptr;  // POST /v1/logs/upload; null: not served
  /// Integration changes are audited here; without it the integration routes answer 500.
  audit::AuditRecorder* audit = nullptr;
  /// The webhook receivers (/v1/hooks...), which the router owns.
  events::WebhookOptions webhooks;
  /// Suppression rules, maintenance windows and flapping, applied to every recorded event and
  /// served under /v1/suppression-rules, /v1/maintenance-windows, /v1/alerts. Null: the router
  /// makes one with the defaults.
  std::shared_ptr<events::NoisePolicies> noise;
  /// Live events (GET /v1/events/stream); the receivers publish into it unless
  /// webhooks.on_recorded is set. Null: the router makes one with default limits.
  std::shared_ptr<events::EventHub> event_hub;
  api::EventStreamOptions event_streams;
  /// Correlation of recorded events into incidents, and the /v1/incidents routes. Null: the
  /// router makes one with the defaults (no dependency graph).
  std::shared_ptr<incidents::IncidentEngine> incidents;
  /// Each tenant's service graph (/v1/services, /v1/service-graph...), shared with whoever
  /// reads it (the correlator). Null: the router makes one (5 s TTL).
  std::shared_ptr<graph::GraphCache> graph_cache;
  /// Spans waiting for their parents across requests. Null: the router makes one.
  std::shared_ptr<graph::SpanEdgeLearner> span_edges;
  /// Outbound incident notifications (/v1/notification-channels). Null: the router makes one
  /// with the defaults, not started (channels are managed and tested, nothing is dispatched).
  std::shared_ptr<notify::Notifier> notifier;
  /// Writes incident runbooks (/v1/incidents/{id}/runbook): the AI provider router. Null: the
  /// offline provider alone.
  api::RunbookWriter ai_writer;
  /// Token budgets, response cache and usage ledger (GET /v1/ai/usage), shared with the
  /// providers. Null: the router makes one over the store with no limits.
  std::shared_ptr<ai::CostControl> ai_cost;
  /// Writes incident summaries and explanations (/v1/incidents/{id}/summary, .../explanation):
  /// the same router. Null: the offline provider alone.
  api::NarrativeWriter ai_narrator;
  /// Embeddings in the knowledge index (ai.embeddings.*), shared with the incident engine.
  /// Null: BM25 only.
  std::shared_ptr<knowledge::KnowledgeEmbeddings> knowledge_embeddings;
};

http::Router buildServerRouter(const RouteHandlers& handlers);

}  // namespace faultline::aggregator::serve
