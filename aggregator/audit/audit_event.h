#pragma once

// What an authentication event or a change leaves in a tenant's audit log, and the one interface
// every part of the aggregator records it through. The store-backed recorder (hash-chained per
// tenant, append-only) lives beside this header; code that changes state takes an AuditRecorder&
// so it never needs to know how entries are kept.

#include <cstdint>
#include <string>

#include "shared/util/status.h"

namespace faultline::aggregator::audit {

struct AuditEvent {
  /// The tenant whose chain gets the entry. Empty: not tied to one tenant (a failed login for an
  /// unknown e-mail address, a tenant being created); such entries go to the system chain.
  std::string tenant_id;
  /// Who did it: "user:<id>", "api_key:<id>", "agent:<id>", "integration:<id>", "admin-cli",
  /// "anonymous".
  std::string actor;
  /// Dotted verb, stable for filtering: "auth.login", "auth.login_failed", "auth.logout",
  /// "api_key.create", "api_key.revoke", "member.role_change", "agent.enroll", ...
  std::string action;
  /// What it acted on ("user:<id>", "api_key:<id>", ...), empty when nothing in particular.
  std::string target;
  /// "success", "failure" or "denied".
  std::string outcome = "success";
  /// The client's address as the server saw it ("127.0.0.1:53422"); empty from the CLI.
  std::string client_address;
  /// A JSON object with further fields, "{}" when none. Never a secret, a password or a token.
  std::string detail_json = "{}";
  /// Wall-clock time of the event, nanoseconds since the Unix epoch.
  std::int64_t at_ns = 0;
};

class AuditRecorder {
 public:
  virtual ~AuditRecorder() = default;
  /// Appends the event durably before returning. A failure means the change it describes must
  /// not be reported as done. Thread-safe.
  virtual Status record(const AuditEvent& event) = 0;
};

}  // namespace faultline::aggregator::audit
