#pragma once

// The body of fuzz_webhook, shared with the unit test that replays tests/fuzz/corpus/webhook/
// and tests/fuzz/regressions/webhook/. Input: byte 0 picks the receiver (modulo 6), the rest is
// the body. Invariants: no crash; an error is InvalidArgument, ResourceExhausted; every event
// has a 32-hex fingerprint, sorted unique labels within the limits, title and body within the
// limits, a status and a monitoring severity.

#include <algorithm>
#include <string>
#include <string_view>

#include "aggregator/events/normalize.h"

namespace faultline::aggregator::events::fuzz {

inline std::string checkInvariants(std::string_view input) {
  if (input.empty()) {
    return {};
  }
  static constexpr SourceKind kKinds[] = {SourceKind::kAlertmanager, SourceKind::kGrafana,
                                          SourceKind::kPagerDuty,    SourceKind::kDatadog,
                                          SourceKind::kCloudWatch,   SourceKind::kGeneric};
  const SourceKind kind = kKinds[static_cast<unsigned char>(input[0]) % 6];
  static const GenericMapping mapping = [] {
    GenericMapping m;
    m.events = "/alerts";
    m.title = "/title";
    m.body = "/body";
    m.severity = "/severity";
    m.status = "/status";
    m.dedup_key = "/key";
    m.occurred_at = "/time";
    m.labels = "/labels";
    return m;
  }();
  NormalizeContext ctx;
  ctx.tenant_id = "tnt_fuzz";
  ctx.integration_id = "int_fuzz";
  ctx.received_at_ns = 1'700'000'000'000'000'000;
  ctx.limits.max_body_bytes = 64 * 1024;
  ctx.mapping = &mapping;
  auto result = normalize(kind, input.substr(1), ctx);
  if (!result.isOk()) {
    if (result.code() != Errc::InvalidArgument && result.code() != Errc::ResourceExhausted) {
      return "unexpected error code: " + result.status().toString();
    }
    if (result.status().message().empty()) {
      return "error without a message";
    }
    return {};
  }
  for (const Event& e : result->events) {
    if (e.fingerprint.size() != 32) {
      return "fingerprint is not 32 hex digits";
    }
    if (e.labels.size() > ctx.limits.max_labels) {
      return "too many labels";
    }
    for (std::size_t i = 0; i < e.labels.size(); ++i) {
      if (e.labels[i].first.size() > ctx.limits.max_label_bytes ||
          e.labels[i].second.size() > ctx.limits.max_label_bytes) {
        return "label longer than the limit";
      }
      if (i > 0 && !(e.labels[i - 1].first < e.labels[i].first)) {
        return "labels not sorted and unique";
      }
    }
    if (e.title.empty() || e.title.size() > ctx.limits.max_title_bytes) {
      return "title empty or over the limit";
    }
    if (e.body.size() > ctx.limits.max_text_bytes) {
      return "body over the limit";
    }
    if (e.severity != Severity::kInfo && e.severity != Severity::kWarn &&
        e.severity != Severity::kError && e.severity != Severity::kCritical) {
      return "severity is not a monitoring severity";
    }
    if (e.occurred_at_ns == 0) {
      return "event without a time";
    }
  }
  return {};
}

}  // namespace faultline::aggregator::events::fuzz
