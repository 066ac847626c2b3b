#pragma once

// `faultline-agent enroll`: trades a one-time enrollment token for an agent identity.
// Blocking (one HTTP request); start-up code.

#include <chrono>
#include <string>

#include "agent/enroll/identity.h"
#include "shared/util/status.h"

namespace faultline::agent {

struct EnrollRequest {
  std::string server_url;  // "https://faultline.example.com"
  std::string token;
  std::string hostname;
  std::string version;
  std::string ca_file;  // empty: system CA store
  std::chrono::milliseconds timeout{30'000};
};

/// POSTs {token, hostname, version} to SERVER/v1/agents/enroll. On 201 returns the identity
/// (not yet saved). Errors carry the server's message: Unauthenticated (invalid_token),
/// AlreadyExists (token_used), FailedPrecondition (token_expired), InvalidArgument
/// (bad_request or a malformed answer), Unavailable (cannot reach the server, 5xx).
Result<Identity> enroll(const EnrollRequest& request);

/// Enrolls and writes identity.json (0600) into `state_dir`. Refuses to replace an existing
/// identity unless `force`.
Result<Identity> enrollAndSave(const EnrollRequest& request, const std::string& state_dir,
                               bool force);

}  // namespace faultline::agent
