#include "aggregator/events/event.h"

#include <sodium.h>

#include <array>

namespace faultline::aggregator::events {
namespace {

constexpr std::array<std::pair<SourceKind, std::string_view>, 7> kSourceNames = {{
    {SourceKind::kAlertmanager, "alertmanager"},
    {SourceKind::kGrafana, "grafana"},
    {SourceKind::kPagerDuty, "pagerduty"},
    {SourceKind::kDatadog, "datadog"},
    {SourceKind::kCloudWatch, "cloudwatch"},
    {SourceKind::kGeneric, "generic"},
    {SourceKind::kLog, "log"},
}};

// Length-prefixed so that ("ab","c") and ("a","bc") hash differently.
void absorb(crypto_generichash_state& state, std::string_view part) {
  const std::uint64_t size = part.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) {
    prefix[i] = static_cast<unsigned char>(size >> (8 * i));
  }
  crypto_generichash_update(&state, prefix, sizeof prefix);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                            part.size());
}

}  // namespace

std::string_view sourceKindName(SourceKind kind) {
  for (const auto& [k, name] : kSourceNames) {
    if (k == kind) {
      return name;
    }
  }
  return "unknown";
}

std::optional<SourceKind> sourceKindFromName(std::string_view name) {
  for (const auto& [k, known] : kSourceNames) {
    if (known == name) {
      return k;
    }
  }
  return std::nullopt;
}

std::string_view eventStatusName(EventStatus status) {
  switch (status) {
    case EventStatus::kFiring: return "firing";
    case EventStatus::kResolved: return "resolved";
    case EventStatus::kInfo: return "info";
  }
  return "unknown";
}

std::string computeFingerprint(const Event& event) {
  crypto_generichash_state state;
  constexpr std::size_t kBytes = 16;
  crypto_generichash_init(&state, nullptr, 0, kBytes);
  absorb(state, "faultline-event-v1");
  absorb(state, event.tenant_id);
  absorb(state, event.integration_id);
  absorb(state, sourceKindName(event.source));
  if (!event.source_dedup_key.empty()) {
    absorb(state, "key");
    absorb(state, event.source_dedup_key);
  } else if (!event.labels.empty()) {
    absorb(state, "labels");
    for (const auto& [key, value] : event.labels) {
      absorb(state, key);
      absorb(state, value);
    }
  } else {
    absorb(state, "title");
    absorb(state, event.title);
  }
  unsigned char digest[kBytes];
  crypto_generichash_final(&state, digest, kBytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(kBytes * 2);
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

}  // namespace faultline::aggregator::events
