#include "aggregator/serve/serve.h"

#include <uv.h>

#include <csignal>
#include <exception>
#include <map>
#include <memory>
#include <string>

#include "aggregator/admin/admin.h"
#include "aggregator/ai/chat_provider.h"
#include "aggregator/ai/guardrails.h"
#include "aggregator/ai/router.h"
#include "aggregator/audit/store_audit_recorder.h"
#include "aggregator/auth/auth_api.h"
#include "aggregator/http/server.h"
#include "aggregator/http/tls_context.h"
#include "aggregator/incidents/graph_source.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/knowledge/runbook_folder.h"
#include "aggregator/notify/notifier.h"
#include "aggregator/serve/ops_api.h"
#include "aggregator/serve/routes.h"
#include "aggregator/store/store_url.h"
#include "shared/util/log.h"

namespace faultline::aggregator::serve {
namespace {

struct Signals {
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  uv_signal_t sighup{};  // started only with TLS: reloads the certificate
  http::Server* server = nullptr;
  const http::TlsFiles* tls = nullptr;
  bool stopping = false;
};

/// Loads the certificate and key, logging what was loaded and any warning (expiry).
Result<std::unique_ptr<http::TlsContext>> loadTls(const http::TlsFiles& files) {
  auto loaded = http::TlsContext::load(files);
  if (!loaded) {
    return loaded.status();
  }
  for (const std::string& warning : (*loaded)->warnings()) {
    log::warn("serve", "TLS: " + warning);
  }
  log::info("serve", "TLS certificate " + (*loaded)->summary());
  return loaded;
}

void onReload(uv_signal_t* handle, int /*signum*/) noexcept {
  auto* signals = static_cast<Signals*>(handle->data);
  if (signals->stopping) {
    return;
  }
  try {
    log::info("serve", "received SIGHUP, reloading the TLS certificate");
    auto loaded = loadTls(*signals->tls);
    if (!loaded) {
      log::error("serve", "TLS reload failed, the previous certificate stays in use: " +
                              loaded.status().message());
      return;
    }
    Status swapped = signals->server->setTls(std::move(*loaded));
    if (!swapped.isOk()) {
      log::error("serve", "TLS reload failed: " + swapped.message());
    }
  } catch (const std::exception& e) {
    log::error("serve", std::string("TLS reload: ") + e.what());
  }
}

void onSignal(uv_signal_t* handle, int signum) noexcept {
  auto* signals = static_cast<Signals*>(handle->data);
  if (signals->stopping) {
    return;
  }
  signals->stopping = true;
  log::info("serve",
            std::string("received ") + (signum == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
  signals->server->close();
  // The handles live in run()'s frame, which outlives the loop: nothing to free on close.
  uv_close(reinterpret_cast<uv_handle_t*>(&signals->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&signals->sigterm), nullptr);
  if (signals->tls != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(&signals->sighup), nullptr);
  }
}

/// One counter of a component's Stats on /metrics.
template <typename Stats>
struct CounterField {
  const char* name;
  const char* help;
  std::uint64_t Stats::*field;
};

/// Each field a counter, read at every scrape from `read()` (the component's stats()).
template <typename Stats, std::size_t N, typename Read>
void addCounters(OpsApi& ops, const CounterField<Stats> (&fields)[N], Read read) {
  for (const CounterField<Stats>& counter : fields) {
    ops.addMetricSource(counter.name, "counter", counter.help,
                        [read, field = counter.field] { return read().*field; });
  }
}

/// faultline_knowledge_embedding_*: documents embedded or left to BM25, queries likewise.
void addEmbeddingMetrics(OpsApi& ops,
                         const std::shared_ptr<knowledge::KnowledgeEmbeddings>& embeddings) {
  if (embeddings == nullptr) {
    return;
  }
  using Stats = knowledge::KnowledgeEmbeddings::Stats;
  const CounterField<Stats> metrics[] = {
      {"faultline_knowledge_embedded_documents_total",
       "Knowledge documents written with their passages' embeddings.", &Stats::documents},
      {"faultline_knowledge_embedding_failures_total",
       "Knowledge documents written with BM25 only because embedding them failed (logged).",
       &Stats::document_failures},
      {"faultline_knowledge_embedding_queries_total", "Searches that used embeddings.",
       &Stats::queries},
      {"faultline_knowledge_embedding_query_failures_total",
       "Searches answered by BM25 only because embedding the query failed (logged).",
       &Stats::query_failures},
  };
  addCounters(ops, metrics, [embeddings] { return embeddings->stats(); });
}

Status uvStatus(int rc, const std::string& what) {
  return internalError(what + ": " + uv_strerror(rc));
}

}  // namespace

/// The knowledge index's embeddings (ai.embeddings.*), or null when off: the openai provider's
/// URL, key and timeout (ai.openai.*) with the embedding model. The key is never logged.
Result<std::shared_ptr<knowledge::KnowledgeEmbeddings>> makeKnowledgeEmbeddings(
    const config::AggregatorConfig& config) {
  if (config.ai.embeddings.provider.empty()) {
    return std::shared_ptr<knowledge::KnowledgeEmbeddings>();
  }
  FL_ASSIGN_OR_RETURN(std::unique_ptr<notify::HttpClient> client,
                      notify::HttpClient::create(notify::HttpClientOptions{}));
  knowledge::OpenAiEmbedderConfig embedder_config;
  embedder_config.url = config.ai.openai.url;
  embedder_config.model = config.ai.embeddings.model;
  embedder_config.api_key = config.ai.openai.api_key;
  embedder_config.timeout = config.ai.openai.timeout;
  FL_ASSIGN_OR_RETURN(
      std::unique_ptr<knowledge::OpenAiEmbedder> embedder,
      knowledge::OpenAiEmbedder::create(std::move(embedder_config), std::move(client)));
  knowledge::EmbeddingOptions options;
  options.min_similarity = config.ai.embeddings.min_similarity;
  options.vector_scan = config.ai.embeddings.vector_scan;
  log::info("serve", "knowledge: embeddings from " + config.ai.embeddings.provider + " (" +
                         config.ai.embeddings.model + ") combined with BM25");
  return std::make_shared<knowledge::KnowledgeEmbeddings>(std::move(embedder), options);
}

Status run(const config::AggregatorConfig& config, std::FILE* out) {
  const bool use_tls = !config.tls.cert_file.empty();
  std::unique_ptr<http::TlsContext> tls;
  if (use_tls) {
    // Before the store opens: a bad certificate is a config error, found at once.
    auto loaded = loadTls(config.tls);
    if (!loaded) {
      return invalidArgument(loaded.status().message());
    }
    tls = std::move(*loaded);
  }
  FL_ASSIGN_OR_RETURN(auto store, admin::openStore(config));
  audit::StoreAuditRecorder recorder(*store);
  ingest::AgentApiOptions api_options;
  api_options.batch_limits = config.batch_limits;
  const http::RateLimits rate_limits = http::RateLimits::create(
      config.rate_limits.client_address, config.rate_limits.principal, config.rate_limits.tenant);
  api_options.rate_limits = &rate_limits;
  api_options.audit = &recorder;
  api_options.auth_cache_ttl = config.auth.credential_cache_ttl;
  events::LogEventDeriver log_events(*store, config.log_events);
  if (config.log_events.enabled) {
    api_options.log_events = &log_events;
  }
  ingest::AgentApi api(*store, api_options);
  auth::PasswordHashing hashing;
  hashing.mem_limit = config.auth.password_memory;
  hashing.ops_limit = config.auth.password_passes;
  auth::PasswordHasher passwords(hashing);
  auth::JwtOptions jwt_options;
  jwt_options.token_ttl = config.auth.access_token_ttl;
  jwt_options.rotate_every = config.auth.signing_key_rotation;
  auth::JwtKeys jwt_keys(*store, jwt_options);
  auth::ThrottleOptions throttle_options;
  throttle_options.free_failures = config.auth.login_free_failures;
  throttle_options.max_lock = config.auth.login_max_lockout;
  auth::LoginThrottle login_throttle(throttle_options);
  auth::AuthApiOptions auth_options;
  auth_options.session_ttl = config.auth.session_ttl;
  auth_options.invitation_ttl = config.auth.invitation_ttl;
  auth_options.secure_cookie = config.auth.secure_cookie;
  auth_options.rate_limits = &rate_limits;
  auth_options.authenticator.credential_cache_ttl = config.auth.credential_cache_ttl;
  auth::AuthApi auth_api(*store, recorder, passwords, jwt_keys, login_throttle, auth_options);
  serve::OpsOptions ops_options;
  ops_options.ready_max_pending_writes = config.ready_max_pending_writes;
  ops_options.metrics_enabled = config.metrics_enabled;
  serve::OpsApi ops(*store, api, ops_options);
  ingest::LogUploadOptions upload_options;
  upload_options.max_decompressed_bytes = config.upload_max_bytes;
  upload_options.log_events = api_options.log_events;
  upload_options.max_concurrent = config.upload_max_concurrent;
  upload_options.audit = &recorder;
  FL_ASSIGN_OR_RETURN(auto uploader, ingest::LogUploader::create(*store, upload_options));

  events::SnsVerifierOptions sns_options;
  sns_options.cert_host_pattern = config.webhooks.sns_cert_host_pattern;
  sns_options.extra_ca_file = config.webhooks.sns_extra_ca_file;
  FL_ASSIGN_OR_RETURN(auto sns_verifier, events::SnsVerifier::create(sns_options));
  events::WebhookOptions webhook_options;
  webhook_options.cloudwatch_verify = config.webhooks.cloudwatch_verify;
  webhook_options.sns_verifier = sns_verifier.get();
  webhook_options.rate_limits = &rate_limits;
  webhook_options.key_cache_ttl = config.auth.credential_cache_ttl;
  auto noise = std::make_shared<events::NoisePolicies>(
      *store, std::chrono::duration_cast<std::chrono::milliseconds>(config.noise.rules_cache_ttl),
      store::FlapPolicy{config.noise.flap_window.count(), config.noise.flap_changes},
      store::TransientPolicy{config.noise.transient_window.count(),
                             config.noise.transient_max_duration.count(),
                             config.noise.transient_episodes});
  // Live events: the receivers publish into the hub, GET /v1/events/stream subscribes to it.
  auto event_hub =
      std::make_shared<events::EventHub>(events::EventHubLimits{config.events.stream_max_per_tenant,
                                                                config.events.stream_max_per_node},
                                         api::eventStreamFrame);
  // Log-derived events meet the same rules and reach the same live streams as webhooks.
  // Recorded events are correlated into incidents on this node.
  // Each tenant's service graph, read by the graph routes and by correlation and RCA, which
  // also teach it which services fire together.
  auto graph_cache = std::make_shared<graph::GraphCache>(*store, std::chrono::seconds(5));
  auto cooccurrence = std::make_shared<graph::CooccurrenceLearner>(
      *store, graph::CooccurrenceOptions{},
      [graph_cache](std::string_view tenant_id) { graph_cache->forget(tenant_id); });
  FL_ASSIGN_OR_RETURN(std::shared_ptr<knowledge::KnowledgeEmbeddings> knowledge_embeddings,
                      makeKnowledgeEmbeddings(config));
  incidents::IncidentEngineOptions incident_options;
  incident_options.embeddings = knowledge_embeddings;
  incident_options.transient_pause_ns = config.noise.transient_max_duration.count();
  auto incident_engine = std::make_shared<incidents::IncidentEngine>(
      *store, std::move(incident_options),
      std::make_shared<incidents::CachedGraphSource>(graph_cache, cooccurrence));
  log_events.setRecordHooks(
      noise, [event_hub, incident_engine](std::string_view tenant_id,
                                          const std::vector<store::StoredEvent>& recorded) {
        event_hub->publish(tenant_id, recorded);
        incident_engine->publish(tenant_id, recorded);
      });
  // Incident changes become outbound notifications: the observer only queues; the notifier's
  // own thread writes the outbox and sends (and resumes what a restart left pending).
  FL_ASSIGN_OR_RETURN(std::shared_ptr<notify::Notifier> notifier,
                      notify::Notifier::create(*store, notify::NotifierOptions{}));
  incident_engine->setObserver(
      [notifier](const incidents::IncidentNotice& notice) { notifier->notice(notice); });
  notifier->start();
  ops.addMetricSource("faultline_notifications_delivered_total", "counter",
                      "Incident notifications a receiver accepted.",
                      [notifier] { return notifier->stats().delivered; });
  ops.addMetricSource("faultline_notifications_retried_total", "counter",
                      "Notification attempts that failed and were scheduled again.",
                      [notifier] { return notifier->stats().retried; });
  ops.addMetricSource("faultline_notifications_failed_total", "counter",
                      "Notifications given up or refused by their receiver.",
                      [notifier] { return notifier->stats().failed; });
  ops.addMetricText([incident_engine] { return incidents::metricsText(incident_engine->stats()); });
  // Runbooks kept as Markdown folders (ai.runbook_folders), read on a thread of their own.
  FL_ASSIGN_OR_RETURN(std::vector<knowledge::RunbookFolder> runbook_folders,
                      knowledge::parseRunbookFolders(config.ai.runbook_folders));
  // Lives in this frame (stopped by its destructor before the recorder and the store go); the
  // server, and so every scrape, stops before it.
  auto runbook_syncer = std::make_unique<knowledge::RunbookFolderSyncer>(
      *store, recorder, std::move(runbook_folders), config.ai.runbook_sync_interval,
      knowledge_embeddings);
  runbook_syncer->start();
  using SyncStats = knowledge::RunbookFolderSyncer::Stats;
  const CounterField<SyncStats> runbook_sync_metrics[] = {
      {"faultline_runbook_sync_passes_total", "Passes over the runbook folders.",
       &SyncStats::passes},
      {"faultline_runbook_sync_changes_total",
       "Runbooks the folder sync added, updated or removed.", &SyncStats::changes},
      {"faultline_runbook_sync_folder_failures_total",
       "Runbook folders a pass could not sync (unreadable, unknown tenant, store).",
       &SyncStats::folder_failures},
      {"faultline_runbook_sync_file_failures_total",
       "Runbook files a pass skipped (too large, unreadable, id taken).",
       &SyncStats::file_failures},
  };
  addCounters(ops, runbook_sync_metrics,
              [syncer = runbook_syncer.get()] { return syncer->stats(); });
  addEmbeddingMetrics(ops, knowledge_embeddings);
  // log_events lives in this frame; the server (and so every scrape) stops before it goes.
  using LogEventStats = events::LogEventDeriver::Stats;
  const CounterField<LogEventStats> log_event_metrics[] = {
      {"faultline_log_event_batches_total", "Stored log batches that events were derived from.",
       &LogEventStats::batches},
      {"faultline_log_events_total", "Events derived from log lines and recorded.",
       &LogEventStats::events},
      {"faultline_log_events_dropped_total",
       "Log-derived events dropped: over the per-batch cap or the background queue.",
       &LogEventStats::dropped_events},
      {"faultline_log_event_folded_templates_total",
       "New templates counted in a per-service summary event instead of one event each.",
       &LogEventStats::folded_templates},
      {"faultline_log_event_failures_total",
       "Batches whose event derivation or recording failed (logged).", &LogEventStats::failures},
  };
  addCounters(ops, log_event_metrics, [&log_events] { return log_events.stats(); });
  // AI: the configured model providers, one of each, on the routes of the tasks that name them
  // (ai.route.<task>) in order, narrowed per tenant (ai.tenant_policy); offline last.
  ai::CostOptions cost_options;
  cost_options.daily_tokens = config.ai.daily_tokens;
  cost_options.monthly_tokens = config.ai.monthly_tokens;
  cost_options.cache = config.ai.cache;
  cost_options.cache_ttl = config.ai.cache_ttl;
  for (const std::string& price : config.ai.prices) {
    FL_ASSIGN_OR_RETURN(auto parsed, ai::parseModelPrice(price));
    cost_options.prices[parsed.first] = parsed.second;
  }
  auto ai_cost = std::make_shared<ai::CostControl>(*store, std::move(cost_options));
  const std::pair<ai::Task, const std::vector<std::string>*> ai_route_names[] = {
      {ai::Task::Runbook, &config.ai.route_runbook},
      {ai::Task::Summary, &config.ai.route_summary},
      {ai::Task::Explanation, &config.ai.route_explanation}};
  std::map<std::string, std::shared_ptr<ai::Provider>> ai_by_name;
  std::shared_ptr<const notify::HttpClient> ai_http_client;  // made for the first provider
  // Redacts every context before any provider sees it (the offline one too: its answer quotes
  // event titles) and what is sent to a model again (guardrails.h).
  FL_ASSIGN_OR_RETURN(std::unique_ptr<redact::Redactor> ai_redactor,
                      redact::Redactor::create(redact::RedactOptions{}));
  std::shared_ptr<const redact::Redactor> ai_shared_redactor = std::move(ai_redactor);
  std::map<ai::Task, ai::Route> ai_routes;
  for (const auto& entry : ai_route_names) {
    for (const std::string& name : *entry.second) {
      if (ai_by_name.count(name) == 0) {
        if (ai_by_name.empty()) {
          FL_ASSIGN_OR_RETURN(std::unique_ptr<notify::HttpClient> ai_client,
                              notify::HttpClient::create(notify::HttpClientOptions{}));
          ai_http_client = std::move(ai_client);
        }
        const auto& settings = name == "openai" ? config.ai.openai : config.ai.anthropic;
        ai::ChatProviderConfig provider_config;
        provider_config.name = name;
        provider_config.url = settings.url;
        provider_config.model = settings.model;
        provider_config.api_key = settings.api_key;
        provider_config.timeout = settings.timeout;
        provider_config.max_context_bytes = config.ai.max_context_bytes;
        FL_ASSIGN_OR_RETURN(std::unique_ptr<ai::ChatProvider> provider,
                            ai::ChatProvider::create(std::move(provider_config), ai_http_client,
                                                     ai_shared_redactor, ai_cost));
        ai_by_name[name] = std::move(provider);
      }
      ai_routes[entry.first].push_back(ai_by_name[name]);
      log::info("serve",
                std::string("ai: ") + ai::taskName(entry.first) + " may be written by " + name);
    }
  }
  FL_ASSIGN_OR_RETURN(ai::TenantPolicy ai_policy,
                      ai::TenantPolicy::parse(config.ai.tenant_policy, {"openai", "anthropic"}));
  // Entries name tenants as operators know them; the router sees ids. The store outlives the
  // router (both live in this frame, the server stops first).
  ai_policy.resolveNamesWith([tenants = store.get()](std::string_view name) -> Result<std::string> {
    FL_ASSIGN_OR_RETURN(store::Tenant tenant, tenants->findTenantByName(name));
    return tenant.id;
  });
  auto ai_router = std::make_shared<ai::Router>(std::move(ai_routes), std::move(ai_policy));
  api::RunbookWriter ai_writer = [ai_router, ai_shared_redactor](const ai::AiContext& context) {
    ai::AiContext redacted = context;
    ai::redactContext(redacted, *ai_shared_redactor);
    return ai_router->write(redacted);
  };
  api::NarrativeWriter ai_narrator = [ai_router, ai_shared_redactor](ai::Task task,
                                                                     const ai::AiContext& context) {
    ai::AiContext redacted = context;
    ai::redactContext(redacted, *ai_shared_redactor);
    return ai_router->narrate(task, redacted);
  };
  api::EventStreamOptions stream_options;
  stream_options.heartbeat = config.events.stream_heartbeat;
  stream_options.buffer_bytes = config.events.stream_buffer_bytes;
  stream_options.replay_max = config.events.stream_replay_max;
  ops.addMetricSource("faultline_event_stream_subscribers", "gauge",
                      "Live event stream subscribers on this node.",
                      [event_hub] { return event_hub->stats().subscribers; });
  ops.addMetricSource("faultline_event_stream_published_total", "counter",
                      "Events published to the live event hub.",
                      [event_hub] { return event_hub->stats().published; });
  ops.addMetricSource("faultline_event_stream_lagged_total", "counter",
                      "Event stream subscribers dropped because they fell behind.",
                      [event_hub] { return event_hub->stats().lagged; });

  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) {
    return uvStatus(rc, "create event loop");
  }
  Status result;
  {
    http::Server server(
        &loop,
        ops.instrument(buildServerRouter({.agent_api = &api,
                                          .auth_api = &auth_api,
                                          .store = store.get(),
                                          .ops = &ops,
                                          .uploader = uploader.get(),
                                          .audit = &recorder,
                                          .webhooks = webhook_options,
                                          .noise = noise,
                                          .event_hub = event_hub,
                                          .event_streams = stream_options,
                                          .incidents = incident_engine,
                                          .graph_cache = graph_cache,
                                          .span_edges = nullptr,
                                          .notifier = notifier,
                                          .ai_writer = ai_writer,
                                          .ai_cost = ai_cost,
                                          .ai_narrator = ai_narrator,
                                          .knowledge_embeddings = knowledge_embeddings})),
        config.server_limits);
    ops.addMetricSource("faultline_http_streams_open", "gauge",
                        "Streamed HTTP responses (event streams) open now.",
                        [&server] { return server.stats().streams_open; });
    ops.addMetricSource("faultline_http_stream_slow_consumers_total", "counter",
                        "Streamed responses cut off because their client fell behind.",
                        [&server] { return server.stats().streams_slow_consumers_dropped; });
    ops.setTlsFailureSource([&server] { return server.stats().tls_handshake_failures; });
    Status listening = use_tls ? server.setTls(std::move(tls)) : Status::ok();
    if (listening.isOk()) {
      listening = server.listen(config.listen_host, config.listen_port);
    }
    if (!listening.isOk()) {
      server.close();
      uv_run(&loop, UV_RUN_DEFAULT);
      result = listening.withContext("listen on " + config.listen_host + ":" +
                                     std::to_string(config.listen_port));
    } else {
      Signals signals;
      signals.server = &server;
      uv_signal_init(&loop, &signals.sigint);
      uv_signal_init(&loop, &signals.sigterm);
      signals.sigint.data = &signals;
      signals.sigterm.data = &signals;
      uv_signal_start(&signals.sigint, &onSignal, SIGINT);
      uv_signal_start(&signals.sigterm, &onSignal, SIGTERM);
      if (use_tls) {
        signals.tls = &config.tls;
        uv_signal_init(&loop, &signals.sighup);
        signals.sighup.data = &signals;
        uv_signal_start(&signals.sighup, &onReload, SIGHUP);
      }

      bool v6 = config.listen_host.find(':') != std::string::npos;
      std::string host = v6 ? "[" + config.listen_host + "]" : config.listen_host;
      std::fprintf(out, "faultline-aggregator listening on %s://%s:%d\n",
                   use_tls ? "https" : "http", host.c_str(), server.port());
      std::fflush(out);
      log::info("serve", "store " + store::describeStoreLocation(config.store));
      uv_run(&loop, UV_RUN_DEFAULT);
    }
  }
  // Close anything still open (there should be nothing) so that uv_loop_close succeeds.
  uv_walk(
      &loop,
      [](uv_handle_t* handle, void*) {
        if (uv_is_closing(handle) == 0) {
          uv_close(handle, nullptr);
        }
      },
      nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&loop);
  if (rc != 0 && result.isOk()) {
    result = uvStatus(rc, "close event loop");
  }
  // No request runs now. Shutdown order: the writes the receivers queued complete (their
  // callbacks publish to the hub and the engine), then the engine correlates what it was given
  // and writes its last incidents, all while the store is open. Without this, a queued write's
  // callback could hold the last reference to the engine and stop it on the store's writer
  // thread, or the engine could write into a store being destroyed.
  runbook_syncer->stop();
  log_events.flush();
  store->drainAsyncWrites();
  incident_engine->flush();
  log::info("serve", "stopped");
  return result;
}

}  // namespace faultline::aggregator::serve
