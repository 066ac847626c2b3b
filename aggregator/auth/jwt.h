#pragma once

// Short-lived JWT access tokens (HS256 with libsodium's crypto_auth_hmacsha256) and the ring of
// signing keys behind them, kept in the store so that every aggregator shares them. A new key
// is made every `rotate_every`; an old one keeps verifying until the last token it signed has
// expired (rotate_every + token_ttl after its creation). Tokens name their key in the `kid`
// header. Anything but {"alg":"HS256"} is refused, `none` above all.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/auth/principal.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::auth {

struct JwtOptions {
  std::chrono::seconds token_ttl{900};
  std::chrono::seconds rotate_every{24 * 3600};
  std::size_t max_token_bytes = 4096;  // longer bearer tokens are refused unparsed
};

struct IssuedToken {
  std::string token;
  std::int64_t expires_at_ns = 0;
};

/// Thread-safe. Does not own the store, which must outlive it.
class JwtKeys {
 public:
  JwtKeys(store::Store& store, JwtOptions options);

  /// A token for a user principal, signed with the current key (made now when the newest is
  /// older than rotate_every).
  Result<IssuedToken> issue(const Principal& user, std::int64_t now_ns);
  /// The user principal a token stands for. Unauthenticated for anything wrong with it (the
  /// message is for logs, never for the client); Unavailable when the store is.
  Result<Principal> verify(std::string_view token, std::int64_t now_ns);

  const JwtOptions& options() const { return options_; }

 private:
  struct Key {
    std::string kid;
    std::string secret;  // 32 raw bytes
    std::int64_t created_at_ns = 0;
  };
  /// Reloads the keys that may still verify. Caller holds mutex_.
  Status reloadLocked(std::int64_t now_ns);
  std::int64_t verifyWindowNs() const;

  store::Store& store_;
  JwtOptions options_;
  std::mutex mutex_;
  std::vector<Key> keys_;  // newest first
  std::int64_t last_reload_ns_ = 0;
  bool loaded_ = false;
};

}  // namespace faultline::aggregator::auth
