#pragma once

// Test fixtures for Alertmanager webhooks: a one-alert body and an integration to post it to.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "aggregator/events/integrations.h"
#include "tests/unit/aggregator/app/auth/auth_test_support.h"

namespace faultline::aggregator::testing {

/// An Alertmanager v4 body with one InstanceDown alert on `instance` ("firing" or "resolved");
/// its fingerprint is "fp-<instance>".
inline nlohmann::json alertmanagerOneAlert(const std::string& status, const std::string& instance) {
  return {
      {"version", "4"},
      {"status", status},
      {"receiver", "faultline"},
      {"alerts",
       nlohmann::json::array(
           {{{"status", status},
             {"labels",
              {{"alertname", "InstanceDown"}, {"instance", instance}, {"severity", "critical"}}},
             {"annotations", {{"summary", "Instance " + instance + " down"}}},
             {"startsAt", "2026-11-26T08:24:38.326Z"},
             {"fingerprint", "fp-" + instance}}})}};
}

/// A new Alertmanager integration of `tenant`, created as the CLI would; its hook key.
inline std::string alertmanagerHookKey(AuthHarness& h, const store::Tenant& tenant) {
  events::IntegrationRequest request;
  request.kind = "alertmanager";
  auto created = events::createIntegration(h.store(), h.audit, tenant.id, request,
                                           {"admin-cli", ""}, nowUnixNanos());
  REQUIRE_MESSAGE(created.isOk(), created.status().toString());
  return created->key;
}

}  // namespace faultline::aggregator::testing
