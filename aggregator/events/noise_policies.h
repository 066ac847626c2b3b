#pragma once

// The noise policy of each tenant as recorders need it: suppression rules and maintenance
// windows compiled once and cached for a short time (a webhook storm must not read the rule
// table per request), plus the node's flapping and transient-alert policies. Rule changes
// made through this node call forget() and apply at once; changes through another node apply
// within the TTL.

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "aggregator/auth/credential_cache.h"
#include "aggregator/events/noise_rules.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::events {

/// Thread-safe. Does not own the store.
class NoisePolicies {
 public:
  NoisePolicies(store::Store& store, std::chrono::milliseconds ttl, store::FlapPolicy flap,
                store::TransientPolicy transient = {});

  /// The tenant's compiled rules in force (from the cache when fresh).
  Result<std::shared_ptr<const NoisePolicy>> policyFor(std::string_view tenant_id);
  /// What recordEvents needs for `events` of `tenant_id`: a mute per event (or none), the
  /// flapping and the transient-alert policies.
  Result<store::RecordContext> contextFor(std::string_view tenant_id,
                                          const std::vector<Event>& events);
  /// Drops every cached policy: call after creating or deleting a rule.
  void forget() { cache_.clear(); }

  const store::FlapPolicy& flap() const { return flap_; }

 private:
  store::Store& store_;
  store::FlapPolicy flap_;
  store::TransientPolicy transient_;
  auth::CredentialCache<std::shared_ptr<const NoisePolicy>> cache_;
};

}  // namespace faultline::aggregator::events
