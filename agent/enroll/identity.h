#pragma once

// The agent's identity (from enrollment) and its stream epoch, both kept in the state dir.
// Start-up code, single-threaded.

#include <cstdint>
#include <string>

#include "shared/util/status.h"

namespace faultline::agent {

/// What enrollment returned; stored as identity.json (mode 0600: it holds the secret).
struct Identity {
  std::string server_url;
  std::string agent_id;
  std::string secret;
  std::string tenant;
  std::string tenant_id;
  std::string enrolled_at;  // RFC 3339
};

inline constexpr const char* kIdentityFile = "identity.json";
inline constexpr const char* kEpochFile = "epoch";

std::string identityPath(const std::string& state_dir);

/// NotFound when the agent was never enrolled; InvalidArgument/DataLoss when the file is bad.
Result<Identity> loadIdentity(const std::string& state_dir);
Status saveIdentity(const std::string& state_dir, const Identity& identity);

/// The stream epoch: a random 63-bit number chosen the first time a state dir is used and kept
/// in `<state_dir>/epoch`. `fresh_state` (no offset database yet) forces a new epoch, so that
/// sequence numbers restarting at 1 are never mistaken by the aggregator for old duplicates.
Result<std::uint64_t> loadOrCreateEpoch(const std::string& state_dir, bool fresh_state);

}  // namespace faultline::agent
