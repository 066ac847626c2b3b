#include "aggregator/auth/password.h"

#include <sodium.h>

#include "shared/util/crypto.h"

namespace faultline::aggregator::auth {
namespace {
Result<std::string> hashWith(const PasswordHashing& limits, std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), limits.ops_limit,
                        limits.mem_limit) != 0) {
    return Status(Errc::ResourceExhausted, "password hashing ran out of memory");
  }
  return std::string(out);
}
}  // namespace

PasswordHasher::PasswordHasher(PasswordHashing limits) : limits_(limits) {
  (void)crypto::randomHex(1);  // initializes libsodium
  auto dummy = hashWith(limits_, crypto::randomToken("", 24));
  dummy_hash_ = dummy.isOk() ? *dummy : std::string();
}

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  if (password.size() < kMinPasswordBytes) {
    return invalidArgument("password too short: use at least " + std::to_string(kMinPasswordBytes) +
                           " characters");
  }
  if (password.size() > kMaxPasswordBytes) {
    return invalidArgument("password too long: at most " + std::to_string(kMaxPasswordBytes) +
                           " bytes");
  }
  return hashWith(limits_, password);
}

bool PasswordHasher::verify(std::string_view hash, std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) {
    verifyDummy(password.substr(0, kMaxPasswordBytes));
    return false;
  }
  std::string terminated(hash);  // crypto_pwhash_str_verify wants a C string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

void PasswordHasher::verifyDummy(std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) {
    password = password.substr(0, kMaxPasswordBytes);
  }
  // The result is always "no match"; only the work matters.
  [[maybe_unused]] const int ignored =
      crypto_pwhash_str_verify(dummy_hash_.c_str(), password.data(), password.size());
}

}  // namespace faultline::aggregator::auth
