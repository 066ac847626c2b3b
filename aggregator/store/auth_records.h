#pragma once

// Rows of the identity tables (migration 4): users, tenant memberships, sessions, API keys,
// invitations and the JWT signing keys. Secrets are never stored: tokens and keys appear here
// only as hashes (crypto::hashSecret), passwords as argon2id strings.

#include <cstdint>
#include <string>

namespace faultline::aggregator::store {

/// A person who can log in. Not tenant data: a user may belong to several tenants.
struct User {
  std::string id;     // "usr_<hex>"
  std::string email;  // stored lower-cased; unique case-insensitively
  std::string password_hash;
  std::int64_t created_at_ns = 0;
  std::int64_t disabled_at_ns = 0;  // 0: active
};

/// A user's role in one tenant.
struct Membership {
  std::string tenant_id;
  std::string tenant_name;
  std::string user_id;
  std::string email;
  std::string role;  // "owner", "admin", "responder", "viewer"
  std::int64_t created_at_ns = 0;
};

struct Session {
  std::string token_hash;
  std::string user_id;
  std::string tenant_id;
  std::string csrf_hash;
  std::int64_t created_at_ns = 0;
  std::int64_t expires_at_ns = 0;
  std::int64_t revoked_at_ns = 0;  // 0: not revoked
  std::string role;  // the membership's current role (read-only; filled by findSession)
};

struct ApiKey {
  std::string id;  // "key_<hex>"
  std::string tenant_id;
  std::string name;
  std::string role;
  std::string key_hash;
  std::string created_by;  // actor that created it ("user:<id>", "admin-cli")
  std::int64_t created_at_ns = 0;
  std::int64_t expires_at_ns = 0;  // 0: never
  std::int64_t revoked_at_ns = 0;  // 0: not revoked
  std::int64_t last_used_ns = 0;   // 0: never used
};

struct Invitation {
  std::string id;  // "inv_<hex>"
  std::string tenant_id;
  std::string email;  // lower-cased
  std::string role;
  std::string token_hash;
  std::string invited_by;
  std::int64_t created_at_ns = 0;
  std::int64_t expires_at_ns = 0;
  std::int64_t accepted_at_ns = 0;  // 0: not yet
};

/// An HMAC key for JWT access tokens. Shared by all tenants (tokens name their tenant).
struct SigningKey {
  std::string kid;         // "jwk_<hex>"
  std::string secret_hex;  // 32 random bytes, hex
  std::int64_t created_at_ns = 0;
};

}  // namespace faultline::aggregator::store
