#pragma once

// Password hashing with libsodium's argon2id (crypto_pwhash_str). Thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "shared/util/status.h"

namespace faultline::aggregator::auth {

struct PasswordHashing {
  // libsodium's INTERACTIVE limits by default (MODERATE is too slow for tests and logins).
  std::uint64_t ops_limit = 2;               // crypto_pwhash_OPSLIMIT_INTERACTIVE
  std::size_t mem_limit = 64 * 1024 * 1024;  // crypto_pwhash_MEMLIMIT_INTERACTIVE
};

/// Refused before hashing: shorter passwords are too weak, longer ones only cost CPU.
constexpr std::size_t kMinPasswordBytes = 12;
constexpr std::size_t kMaxPasswordBytes = 1024;

class PasswordHasher {
 public:
  explicit PasswordHasher(PasswordHashing limits = {});

  /// An argon2id string ("$argon2id$v=19$m=...") with its own salt and limits.
  /// InvalidArgument for a password outside [kMinPasswordBytes, kMaxPasswordBytes].
  Result<std::string> hash(std::string_view password) const;
  /// True when `password` matches `hash`. Costs the same with a wrong password.
  bool verify(std::string_view hash, std::string_view password) const;
  /// Verifies against a fixed hash of a random password (always false): unknown e-mails cost
  /// the same argon2 work as known ones, so timing does not tell them apart.
  void verifyDummy(std::string_view password) const;

 private:
  PasswordHashing limits_;
  std::string dummy_hash_;
};

}  // namespace faultline::aggregator::auth
