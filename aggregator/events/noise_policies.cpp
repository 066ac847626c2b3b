#include "aggregator/events/noise_policies.h"

#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::events {

namespace {
constexpr std::size_t kMaxCachedTenants = 10'000;
}  // namespace

NoisePolicies::NoisePolicies(store::Store& store, std::chrono::milliseconds ttl,
                             store::FlapPolicy flap, store::TransientPolicy transient)
    : store_(store), flap_(flap), transient_(transient), cache_(ttl, kMaxCachedTenants) {}

Result<std::shared_ptr<const NoisePolicy>> NoisePolicies::policyFor(std::string_view tenant_id) {
  const std::string key(tenant_id);
  const std::int64_t now = monotonicNanos();
  if (auto cached = cache_.get(key, now)) {
    return *cached;
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::NoiseRule> rules, store_.listNoiseRules(tenant_id));
  std::vector<std::string> skipped;
  auto policy = std::make_shared<const NoisePolicy>(NoisePolicy::compile(rules, &skipped));
  for (const std::string& why : skipped) {
    log::warn("noise", "tenant " + key + ": rule skipped: " + why);
  }
  cache_.put(key, policy, now);
  return policy;
}

Result<store::RecordContext> NoisePolicies::contextFor(std::string_view tenant_id,
                                                       const std::vector<Event>& events) {
  store::RecordContext context;
  context.flap = flap_;
  context.transient = transient_;
  FL_ASSIGN_OR_RETURN(std::shared_ptr<const NoisePolicy> policy, policyFor(tenant_id));
  if (policy->rules().empty()) {
    return context;  // the common case: no per-event work
  }
  context.mutes.reserve(events.size());
  for (const Event& event : events) {
    context.mutes.push_back(policy->muteFor(event));
  }
  return context;
}

}  // namespace faultline::aggregator::events
