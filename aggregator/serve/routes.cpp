#include "aggregator/serve/routes.h"

#include <functional>
#include <string_view>

#include "aggregator/api/agents_api.h"
#include "aggregator/api/ai_api.h"
#include "aggregator/api/enrollment_api.h"
#include "aggregator/api/events_api.h"
#include "aggregator/api/graph_api.h"
#include "aggregator/api/incidents_api.h"
#include "aggregator/api/knowledge_api.h"
#include "aggregator/api/noise_api.h"
#include "aggregator/api/notify_api.h"
#include "aggregator/api/openapi.h"
#include "aggregator/audit/audit_api.h"
#include "aggregator/web/dashboard_routes.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::serve {

http::Router buildServerRouter(const RouteHandlers& handlers) {
  http::Router router = ingest::buildRouter(*handlers.agent_api);
  api::addOpenApiRoute(router);
  web::addDashboardRoutes(router);  // the page at /, public like any login page
  auth::addAuthRoutes(router, *handlers.auth_api);
  auth::AuthApi& auth = *handlers.auth_api;
  store::Store& store = *handlers.store;
  // A route behind one permission: the action runs only after the principal is authenticated,
  // limited and authorized, and an exception becomes a 500 naming `what`.
  using PrincipalAction =
      std::function<http::Response(const auth::Principal& principal, const http::Request&)>;
  auto guardedChange = [&auth](const char* what, auth::Permission permission,
                               PrincipalAction action) {
    return [&auth, what, permission, action = std::move(action)](http::Request&& request,
                                                                 http::Respond respond) {
      http::Response response;
      try {
        response = auth.guarded(request, permission, [&](const auth::Principal& principal) {
          return action(principal, request);
        });
      } catch (const std::exception& e) {
        log::error("api", std::string(what) + " threw: " + e.what());
        response = http::Response::error(500, "internal", std::string(what) + " failed");
      }
      respond(std::move(response));
    };
  };
  // A read of the caller's own tenant needs only the tenant id, not the whole principal.
  using TenantRead =
      std::function<http::Response(std::string_view tenant_id, const http::Request& request)>;
  auto guardedRead = [&guardedChange](const char* what, auth::Permission permission,
                                      TenantRead read) {
    return guardedChange(
        what, permission,
        [read = std::move(read)](const auth::Principal& principal, const http::Request& request) {
          return read(principal.tenant_id, request);
        });
  };
  router.add("GET", "/v1/agents",
             guardedRead("list agents", auth::Permission::ListAgents,
                         [&store](std::string_view tenant_id, const http::Request& request) {
                           return api::listAgents(store, tenant_id, request);
                         }));
  router.add("GET", "/v1/audit",
             guardedRead("audit query", auth::Permission::ReadAudit,
                         [&store](std::string_view tenant_id, const http::Request& request) {
                           return audit::handleAuditQuery(store, tenant_id, request);
                         }));
  if (handlers.uploader != nullptr) {
    ingest::LogUploader& uploader = *handlers.uploader;
    router.add("POST", "/v1/logs/upload",
               guardedChange(
                   "log upload", auth::Permission::UploadLogs,
                   [&uploader](const auth::Principal& principal, const http::Request& request) {
                     return uploader.handle(
                         {principal.tenant_id, principal.actor(), request.remote_address}, request);
                   }));
  }
  router.add("GET", "/v1/events",
             guardedRead("list events", auth::Permission::ReadEvents,
                         [&store](std::string_view tenant_id, const http::Request& request) {
                           return api::listEvents(store, tenant_id, request);
                         }));
  std::shared_ptr<events::EventHub> hub = handlers.event_hub;
  if (hub == nullptr) {
    hub = std::make_shared<events::EventHub>(events::EventHubLimits{}, api::eventStreamFrame);
  }
  auto streams = std::make_shared<api::EventStreams>(store, hub, handlers.event_streams);
  // Not guardedRead: the stream's replay runs after its response is handed over.
  router.add(
      "GET", "/v1/events/stream", [&auth, streams](http::Request&& request, http::Respond respond) {
        std::function<void()> then;
        http::Response response;
        try {
          response = auth.guarded(
              request, auth::Permission::ReadEvents, [&](const auth::Principal& principal) {
                api::EventStreams::Opened opened = streams->open(principal.tenant_id, request);
                then = std::move(opened.then);
                return std::move(opened.response);
              });
        } catch (const std::exception& e) {
          log::error("api", std::string("event stream threw: ") + e.what());
          response = http::Response::error(500, "internal", "event stream failed");
        }
        respond(std::move(response));
        if (then) {
          then();  // catches what it throws
        }
      });
  router.add("GET", "/v1/events/stats",
             guardedRead("event stats", auth::Permission::ReadEvents,
                         [&store](std::string_view tenant_id, const http::Request&) {
                           return api::eventStats(store, tenant_id);
                         }));
  router.add("GET", "/v1/events/{id}",
             guardedRead("get event", auth::Permission::ReadEvents,
                         [&store](std::string_view tenant_id, const http::Request& request) {
                           return api::getEvent(store, tenant_id, request);
                         }));
  router.add("GET", "/v1/integrations",
             guardedRead("list integrations", auth::Permission::ListIntegrations,
                         [&store](std::string_view tenant_id, const http::Request&) {
                           return api::listIntegrations(store, tenant_id);
                         }));
  audit::AuditRecorder* recorder = handlers.audit;
  auto needsAudit = [](const char* what) {
    log::error("api", std::string(what) + ": no audit recorder configured");
    return http::Response::error(500, "internal", std::string(what) + " cannot be audited");
  };
  router.add("POST", "/v1/integrations",
             guardedChange("create integration", auth::Permission::CreateIntegration,
                           [&store, recorder, needsAudit](const auth::Principal& principal,
                                                          const http::Request& request) {
                             if (recorder == nullptr) {
                               return needsAudit("create integration");
                             }
                             return api::createIntegration(store, *recorder, principal, request,
                                                           nowUnixNanos());
                           }));
  std::shared_ptr<events::NoisePolicies> noise = handlers.noise;
  if (!noise) {
    noise = std::make_shared<events::NoisePolicies>(store, std::chrono::seconds(5),
                                                    store::FlapPolicy{});
  }
  router.add("GET", "/v1/alerts",
             guardedRead("list alerts", auth::Permission::ReadEvents,
                         [&store, noise](std::string_view tenant_id, const http::Request& request) {
                           return api::listAlerts(store, *noise, tenant_id, request,
                                                  nowUnixNanos());
                         }));
  for (const auto& route : {std::pair<std::string, events::NoiseRuleKind>{
                                "/v1/suppression-rules", events::NoiseRuleKind::kSuppression},
                            {"/v1/maintenance-windows", events::NoiseRuleKind::kMaintenance}}) {
    // Named copies: lambdas cannot capture structured bindings (clang 14).
    const std::string& path = route.first;
    const events::NoiseRuleKind kind = route.second;
    router.add(
        "GET", path,
        guardedRead("list noise rules", auth::Permission::ReadNoiseRules,
                    [&store, kind](std::string_view tenant_id, const http::Request& request) {
                      return api::listNoiseRules(store, kind, tenant_id, request, nowUnixNanos());
                    }));
    router.add("POST", path,
               guardedChange("create noise rule", auth::Permission::ManageNoiseRules,
                             [&store, recorder, needsAudit, noise, kind](
                                 const auth::Principal& principal, const http::Request& request) {
                               if (recorder == nullptr) {
                                 return needsAudit("create noise rule");
                               }
                               return api::createNoiseRule(store, *recorder, *noise, kind,
                                                           principal, request, nowUnixNanos());
                             }));
    router.add("DELETE", path + "/{id}",
               guardedChange("delete noise rule", auth::Permission::ManageNoiseRules,
                             [&store, recorder, needsAudit, noise, kind](
                                 const auth::Principal& principal, const http::Request& request) {
                               if (recorder == nullptr) {
                                 return needsAudit("delete noise rule");
                               }
                               return api::deleteNoiseRule(store, *recorder, *noise, kind,
                                                           principal, request, nowUnixNanos());
                             }));
  }
  std::shared_ptr<incidents::IncidentEngine> engine = handlers.incidents;
  if (engine == nullptr) {
    engine = std::make_shared<incidents::IncidentEngine>(store, incidents::IncidentEngineOptions{});
  }
  // Recorded events go live (the hub) and into correlation (the engine).
  events::EventSink recorded_sink = [hub, engine](std::string_view tenant_id,
                                                  const std::vector<store::StoredEvent>& recorded) {
    hub->publish(tenant_id, recorded);
    engine->publish(tenant_id, recorded);
  };
  auto incidents_api =
      std::make_shared<api::IncidentsApi>(store, handlers.audit, *engine, recorded_sink);
  // The API object keeps the engine alive as long as the routes that use it.
  auto keep_engine = std::make_shared<std::shared_ptr<incidents::IncidentEngine>>(engine);
  auto incidentRead = [&guardedRead, incidents_api, keep_engine](
                          const char* what, http::Response (api::IncidentsApi::*read)(
                                                std::string_view, const http::Request&)) {
    return guardedRead(what, auth::Permission::ReadIncidents,
                       [incidents_api, keep_engine, read](std::string_view tenant_id,
                                                          const http::Request& request) {
                         return ((*incidents_api).*read)(tenant_id, request);
                       });
  };
  using IncidentChange = http::Response (api::IncidentsApi::*)(const auth::Principal&,
                                                               const http::Request&, std::int64_t);
  auto incidentChange = [&guardedChange, incidents_api, keep_engine](
                            const char* what, auth::Permission permission, IncidentChange change) {
    return guardedChange(what, permission,
                         [incidents_api, keep_engine, change](const auth::Principal& principal,
                                                              const http::Request& request) {
                           return ((*incidents_api).*change)(principal, request, nowUnixNanos());
                         });
  };
  router.add("GET", "/v1/incidents", incidentRead("list incidents", &api::IncidentsApi::list));
  router.add("GET", "/v1/incidents/{id}", incidentRead("show incident", &api::IncidentsApi::show));
  router.add("PATCH", "/v1/incidents/{id}",
             incidentChange("update incident", auth::Permission::ManageIncidents,
                            &api::IncidentsApi::update));
  for (const auto& action : {std::pair<std::string, incidents::IncidentStatus>{
                                 "acknowledge", incidents::IncidentStatus::kAcknowledged},
                             {"resolve", incidents::IncidentStatus::kResolved},
                             {"close", incidents::IncidentStatus::kClosed}}) {
    const incidents::IncidentStatus status = action.second;  // named: clang 14 and bindings
    router.add("POST", "/v1/incidents/{id}/" + action.first,
               guardedChange("incident transition", auth::Permission::ManageIncidents,
                             [incidents_api, keep_engine, status](const auth::Principal& principal,
                                                                  const http::Request& request) {
                               return incidents_api->transition(principal, request, status,
                                                                nowUnixNanos());
                             }));
  }
  router.add("POST", "/v1/incidents/{id}/comments",
             incidentChange("comment incident", auth::Permission::ManageIncidents,
                            &api::IncidentsApi::comment));
  router.add("PUT", "/v1/incidents/{id}/postmortem",
             incidentChange("write postmortem", auth::Permission::ManageIncidents,
                            &api::IncidentsApi::putPostmortem));
  router.add("GET", "/v1/incidents/{id}/postmortem",
             incidentRead("show postmortem", &api::IncidentsApi::showPostmortem));
  router.add("POST", "/v1/incidents/{id}/split",
             incidentChange("split incident", auth::Permission::ManageIncidents,
                            &api::IncidentsApi::split));
  router.add("POST", "/v1/incidents/{id}/merge",
             incidentChange("merge incidents", auth::Permission::ManageIncidents,
                            &api::IncidentsApi::merge));
  router.add(
      "GET", "/v1/correlation-rules",
      guardedRead("correlation rules", auth::Permission::ReadIncidents,
                  [incidents_api, keep_engine](std::string_view tenant_id, const http::Request&) {
                    return incidents_api->getRules(tenant_id);
                  }));
  router.add("PUT", "/v1/correlation-rules",
             incidentChange("set correlation rules", auth::Permission::ManageIncidents,
                            &api::IncidentsApi::putRules));
  router.add(
      "POST", "/v1/changes",
      incidentChange("post change", auth::Permission::PostChanges, &api::IncidentsApi::postChange));
  // The tenant's knowledge: search, similar incidents, runbooks (issue 8, retrieval).
  auto knowledge_api =
      std::make_shared<api::KnowledgeApi>(store, handlers.audit, handlers.knowledge_embeddings);
  router.add("POST", "/v1/search",
             guardedRead("search", auth::Permission::ReadIncidents,
                         [knowledge_api](std::string_view tenant_id, const http::Request& request) {
                           return knowledge_api->search(tenant_id, request);
                         }));
  router.add("GET", "/v1/incidents/{id}/similar",
             guardedRead("similar incidents", auth::Permission::ReadIncidents,
                         [knowledge_api](std::string_view tenant_id, const http::Request& request) {
                           return knowledge_api->similar(tenant_id, request);
                         }));
  router.add("GET", "/v1/runbooks",
             guardedRead("list runbooks", auth::Permission::ReadIncidents,
                         [knowledge_api](std::string_view tenant_id, const http::Request& request) {
                           return knowledge_api->listRunbooks(tenant_id, request);
                         }));
  router.add("GET", "/v1/runbooks/{id}",
             guardedRead("show runbook", auth::Permission::ReadIncidents,
                         [knowledge_api](std::string_view tenant_id, const http::Request& request) {
                           return knowledge_api->showRunbook(tenant_id, request);
                         }));
  router.add("POST", "/v1/runbooks",
             guardedChange(
                 "put runbook", auth::Permission::ManageIncidents,
                 [knowledge_api](const auth::Principal& principal, const http::Request& request) {
                   return knowledge_api->putRunbook(principal, request, nowUnixNanos());
                 }));
  router.add("DELETE", "/v1/runbooks/{id}",
             guardedChange(
                 "delete runbook", auth::Permission::ManageIncidents,
                 [knowledge_api](const auth::Principal& principal, const http::Request& request) {
                   return knowledge_api->deleteRunbook(principal, request, nowUnixNanos());
                 }));
  // AI runbooks per incident (issue 8): written by the provider router, edited by responders.
  auto ai_api = std::make_shared<api::AiApi>(store, handlers.audit, handlers.ai_writer,
                                             handlers.ai_cost, handlers.ai_narrator);
  ai_api->setKnowledgeEmbeddings(handlers.knowledge_embeddings);
  router.add(
      "POST", "/v1/incidents/{id}/runbook",
      guardedChange("write runbook", auth::Permission::ManageIncidents,
                    [ai_api](const auth::Principal& principal, const http::Request& request) {
                      return ai_api->generate(principal, request, nowUnixNanos());
                    }));
  router.add("GET", "/v1/incidents/{id}/runbook",
             guardedRead("show incident runbook", auth::Permission::ReadIncidents,
                         [ai_api](std::string_view tenant_id, const http::Request& request) {
                           return ai_api->show(tenant_id, request);
                         }));
  router.add(
      "PUT", "/v1/incidents/{id}/runbook",
      guardedChange("edit runbook", auth::Permission::ManageIncidents,
                    [ai_api](const auth::Principal& principal, const http::Request& request) {
                      return ai_api->edit(principal, request, nowUnixNanos());
                    }));
  // AI summaries and explanations per incident (issue 8): the same router, stored per task.
  const struct {
    ai::Task task;
    const char* path;
    const char* write;  // what the guard names (string literals: it keeps the pointer)
    const char* show;
  } narrative_routes[] = {
      {ai::Task::Summary, "/v1/incidents/{id}/summary", "write summary", "show incident summary"},
      {ai::Task::Explanation, "/v1/incidents/{id}/explanation", "write explanation",
       "show incident explanation"},
  };
  for (const auto& entry : narrative_routes) {
    const ai::Task task = entry.task;
    router.add("POST", entry.path,
               guardedChange(
                   entry.write, auth::Permission::ManageIncidents,
                   [ai_api, task](const auth::Principal& principal, const http::Request& request) {
                     return ai_api->narrate(task, principal, request, nowUnixNanos());
                   }));
    router.add(
        "GET", entry.path,
        guardedRead(entry.show, auth::Permission::ReadIncidents,
                    [ai_api, task](std::string_view tenant_id, const http::Request& request) {
                      return ai_api->showNarrative(task, tenant_id, request);
                    }));
  }
  // AI cost control (issue 8): the tenant's model usage and token budget.
  router.add("GET", "/v1/ai/usage",
             guardedRead("ai usage", auth::Permission::ReadIncidents,
                         [ai_api](std::string_view tenant_id, const http::Request& request) {
                           return ai_api->usage(tenant_id, request);
                         }));
  // The service graph: declared, imported and learned from spans; versioned.
  std::shared_ptr<graph::GraphCache> graph_cache = handlers.graph_cache;
  if (!graph_cache) {
    graph_cache = std::make_shared<graph::GraphCache>(store, std::chrono::seconds(5));
  }
  std::shared_ptr<graph::SpanEdgeLearner> span_edges = handlers.span_edges;
  if (!span_edges) {
    span_edges = std::make_shared<graph::SpanEdgeLearner>();
  }
  auto graph_api = std::make_shared<api::GraphApi>(store, recorder, graph_cache, span_edges);
  router.add("GET", "/v1/services",
             guardedRead("list services", auth::Permission::ReadGraph,
                         [graph_api](std::string_view tenant_id, const http::Request& request) {
                           return graph_api->listServices(tenant_id, request);
                         }));
  router.add(
      "PUT", "/v1/services/{name}",
      guardedChange("put service", auth::Permission::ManageGraph,
                    [graph_api](const auth::Principal& principal, const http::Request& request) {
                      return graph_api->putService(principal, request, nowUnixNanos());
                    }));
  router.add(
      "DELETE", "/v1/services/{name}",
      guardedChange("delete service", auth::Permission::ManageGraph,
                    [graph_api](const auth::Principal& principal, const http::Request& request) {
                      return graph_api->deleteService(principal, request, nowUnixNanos());
                    }));
  router.add(
      "POST", "/v1/service-graph/import",
      guardedChange("import service graph", auth::Permission::ManageGraph,
                    [graph_api](const auth::Principal& principal, const http::Request& request) {
                      return graph_api->importGraph(principal, request, nowUnixNanos());
                    }));
  router.add(
      "POST", "/v1/service-graph/spans",
      guardedChange("post spans", auth::Permission::ManageGraph,
                    [graph_api](const auth::Principal& principal, const http::Request& request) {
                      return graph_api->postSpans(principal, request, nowUnixNanos());
                    }));
  router.add("GET", "/v1/service-graph",
             guardedRead("read service graph", auth::Permission::ReadGraph,
                         [graph_api](std::string_view tenant_id, const http::Request& request) {
                           return graph_api->getGraph(tenant_id, request);
                         }));
  router.add("GET", "/v1/service-graph/versions",
             guardedRead("list graph versions", auth::Permission::ReadGraph,
                         [graph_api](std::string_view tenant_id, const http::Request& request) {
                           return graph_api->listVersions(tenant_id, request);
                         }));
  router.add(
      "POST", "/v1/changes",
      incidentChange("post change", auth::Permission::PostChanges, &api::IncidentsApi::postChange));
  // Notification channels: read with incidents.read, changed (and tested) with
  // incidents.manage.
  std::shared_ptr<notify::Notifier> notifier = handlers.notifier;
  if (notifier == nullptr) {
    auto made = notify::Notifier::create(store, notify::NotifierOptions{});
    if (made) {
      notifier = std::move(*made);
    } else {
      log::error("api", "notifications: " + made.status().toString());
    }
  }
  std::shared_ptr<api::NotifyApi> notify_api;
  if (notifier != nullptr && recorder != nullptr) {
    notify_api = std::make_shared<api::NotifyApi>(store, *recorder, *notifier);
  }
  auto keep_notifier = std::make_shared<std::shared_ptr<notify::Notifier>>(notifier);
  auto notifyRead = [&guardedRead, notify_api, keep_notifier, needsAudit](
                        const char* what, http::Response (api::NotifyApi::*read)(
                                              std::string_view, const http::Request&)) {
    return guardedRead(what, auth::Permission::ReadIncidents,
                       [notify_api, keep_notifier, needsAudit, what, read](
                           std::string_view tenant_id, const http::Request& request) {
                         if (notify_api == nullptr) {
                           return needsAudit(what);
                         }
                         return ((*notify_api).*read)(tenant_id, request);
                       });
  };
  using NotifyChange = http::Response (api::NotifyApi::*)(const auth::Principal&,
                                                          const http::Request&, std::int64_t);
  auto notifyChange = [&guardedChange, notify_api, keep_notifier, needsAudit](const char* what,
                                                                              NotifyChange change) {
    return guardedChange(what, auth::Permission::ManageIncidents,
                         [notify_api, keep_notifier, needsAudit, what, change](
                             const auth::Principal& principal, const http::Request& request) {
                           if (notify_api == nullptr) {
                             return needsAudit(what);
                           }
                           return ((*notify_api).*change)(principal, request, nowUnixNanos());
                         });
  };
  router.add("GET", "/v1/notification-channels",
             notifyRead("list notification channels", &api::NotifyApi::list));
  router.add("POST", "/v1/notification-channels",
             notifyChange("create notification channel", &api::NotifyApi::create));
  router.add("DELETE", "/v1/notification-channels/{id}",
             notifyChange("delete notification channel", &api::NotifyApi::remove));
  router.add("POST", "/v1/notification-channels/{id}/test",
             notifyChange("test notification channel", &api::NotifyApi::test));
  router.add("GET", "/v1/notification-channels/{id}/deliveries",
             notifyRead("list notification deliveries", &api::NotifyApi::deliveries));
  // The receivers cache key lookups: a revocation through this node drops them at once.
  events::WebhookOptions webhook_options = handlers.webhooks;
  webhook_options.noise = noise;
  if (!webhook_options.on_recorded) {
    webhook_options.on_recorded = recorded_sink;
  }
  auto receiver = std::make_shared<events::WebhookReceiver>(store, webhook_options);
  router.add("DELETE", "/v1/integrations/{id}",
             guardedChange("revoke integration", auth::Permission::RevokeIntegration,
                           [&store, recorder, needsAudit, receiver](
                               const auth::Principal& principal, const http::Request& request) {
                             if (recorder == nullptr) {
                               return needsAudit("revoke integration");
                             }
                             http::Response response = api::revokeIntegration(
                                 store, *recorder, principal, request, nowUnixNanos());
                             if (response.status == 200) {
                               receiver->forgetCachedKeys();  // refused from the next request
                             }
                             return response;
                           }));
  // Enrollment tokens from the API (the dashboard's Agents view), as the admin CLI makes them.
  router.add("POST", "/v1/enrollment-tokens",
             guardedChange("create enrollment token", auth::Permission::EnrollAgents,
                           [&store, recorder, needsAudit](const auth::Principal& principal,
                                                          const http::Request& request) {
                             if (recorder == nullptr) {
                               return needsAudit("create enrollment token");
                             }
                             return api::createEnrollmentToken(store, *recorder, principal, request,
                                                               nowUnixNanos());
                           }));
  router.add("GET", "/v1/enrollment-tokens",
             guardedRead("list enrollment tokens", auth::Permission::EnrollAgents,
                         [&store](std::string_view tenant_id, const http::Request& request) {
                           return api::listEnrollmentTokens(store, tenant_id, request,
                                                            nowUnixNanos());
                         }));
  router.add("DELETE", "/v1/enrollment-tokens/{id}",
             guardedChange("revoke enrollment token", auth::Permission::EnrollAgents,
                           [&store, recorder, needsAudit](const auth::Principal& principal,
                                                          const http::Request& request) {
                             if (recorder == nullptr) {
                               return needsAudit("revoke enrollment token");
                             }
                             return api::revokeEnrollmentToken(store, *recorder, principal, request,
                                                               nowUnixNanos());
                           }));
  events::addWebhookRoutes(router, receiver);
  if (handlers.ops != nullptr) {
    handlers.ops->addRoutes(router);
  }
  return router;
}

}  // namespace faultline::aggregator::serve
