#include "aggregator/auth/jwt.h"

#include <sodium.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "shared/util/crypto.h"

namespace faultline::aggregator::auth {
namespace {
constexpr int kB64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
constexpr std::int64_t kNsPerSec = 1'000'000'000;
// A token naming an unknown key reloads the ring at most this often (no store storm).
constexpr std::int64_t kReloadIntervalNs = kNsPerSec;
// Clock skew tolerated between aggregators for `iat`.
constexpr std::int64_t kSkewSec = 60;

std::string base64url(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kB64), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kB64);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

bool unbase64url(std::string_view text, std::string* out) {
  out->assign(text.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(),
                        text.size(), nullptr, &len, nullptr, kB64) != 0) {
    return false;
  }
  out->resize(len);
  return true;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()),
                                data.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof(mac));
}

Status refused(std::string message) {
  return Status(Errc::Unauthenticated, "access token refused: " + std::move(message));
}
}  // namespace

JwtKeys::JwtKeys(store::Store& store, JwtOptions options) : store_(store), options_(options) {}

std::int64_t JwtKeys::verifyWindowNs() const {
  return (options_.rotate_every.count() + options_.token_ttl.count()) * kNsPerSec;
}

Status JwtKeys::reloadLocked(std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(auto stored, store_.listSigningKeys(now_ns - verifyWindowNs()));
  std::vector<Key> keys;
  for (const store::SigningKey& key : stored) {
    std::string secret(key.secret_hex.size() / 2, '\0');
    std::size_t len = 0;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(secret.data()), secret.size(),
                       key.secret_hex.data(), key.secret_hex.size(), nullptr, &len, nullptr) != 0 ||
        len != crypto_auth_hmacsha256_KEYBYTES) {
      continue;  // not a key this code made: never sign or verify with it
    }
    keys.push_back({key.kid, std::move(secret), key.created_at_ns});
  }
  keys_ = std::move(keys);
  last_reload_ns_ = now_ns;
  loaded_ = true;
  return Status::ok();
}

Result<IssuedToken> JwtKeys::issue(const Principal& user, std::int64_t now_ns) {
  if (user.kind != PrincipalKind::User) {
    return Status(Errc::PermissionDenied, "access tokens are issued to users only");
  }
  Key key;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t rotate_ns = options_.rotate_every.count() * kNsPerSec;
    auto stale = [&] { return keys_.empty() || keys_.front().created_at_ns + rotate_ns <= now_ns; };
    if (!loaded_ || stale()) {
      FL_RETURN_IF_ERROR(reloadLocked(now_ns));  // another aggregator may have rotated
    }
    if (stale()) {
      Key fresh{"jwk_" + crypto::randomHex(8), std::string(crypto_auth_hmacsha256_KEYBYTES, '\0'),
                now_ns};
      randombytes_buf(fresh.secret.data(), fresh.secret.size());
      std::string hex(fresh.secret.size() * 2 + 1, '\0');
      sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<unsigned char*>(fresh.secret.data()),
                     fresh.secret.size());
      hex.resize(fresh.secret.size() * 2);
      FL_RETURN_IF_ERROR(store_.addSigningKey({fresh.kid, hex, now_ns}));
      keys_.insert(keys_.begin(), fresh);
    }
    key = keys_.front();
  }
  const std::int64_t now_s = now_ns / kNsPerSec;
  const std::int64_t exp_s = now_s + options_.token_ttl.count();
  nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", key.kid}};
  nlohmann::json claims = {{"sub", user.id},
                           {"tid", user.tenant_id},
                           {"role", std::string(roleName(user.role))},
                           {"iat", now_s},
                           {"exp", exp_s}};
  std::string signing_input = base64url(header.dump()) + "." + base64url(claims.dump());
  std::string token = signing_input + "." + base64url(hmac(key.secret, signing_input));
  return IssuedToken{std::move(token), exp_s * kNsPerSec};
}

Result<Principal> JwtKeys::verify(std::string_view token, std::int64_t now_ns) {
  if (token.size() > options_.max_token_bytes) {
    return refused("too long");
  }
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refused("not three parts");
  }
  std::string header_json;
  std::string claims_json;
  std::string signature;
  if (!unbase64url(token.substr(0, dot1), &header_json) ||
      !unbase64url(token.substr(dot1 + 1, dot2 - dot1 - 1), &claims_json) ||
      !unbase64url(token.substr(dot2 + 1), &signature)) {
    return refused("bad base64url");
  }
  nlohmann::json header = nlohmann::json::parse(header_json, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || header["alg"] != "HS256" ||
      !header.contains("kid") || !header["kid"].is_string()) {
    return refused("header must be {\"alg\":\"HS256\",\"kid\":...}");
  }
  const std::string kid = header["kid"].get<std::string>();
  std::string secret;
  {
    std::lock_guard lock(mutex_);
    auto find = [&] {
      const std::int64_t oldest = now_ns - verifyWindowNs();
      for (const Key& key : keys_) {
        if (key.kid == kid && key.created_at_ns >= oldest) {
          secret = key.secret;
          return true;
        }
      }
      return false;
    };
    if (!find() && (!loaded_ || now_ns - last_reload_ns_ >= kReloadIntervalNs)) {
      FL_RETURN_IF_ERROR(reloadLocked(now_ns));
      (void)find();
    }
  }
  if (secret.empty()) {
    return refused("unknown or retired key");
  }
  const std::string expected = hmac(secret, token.substr(0, dot2));
  if (signature.size() != expected.size() ||
      crypto_verify_32(reinterpret_cast<const unsigned char*>(signature.data()),
                       reinterpret_cast<const unsigned char*>(expected.data())) != 0) {
    return refused("bad signature");
  }
  nlohmann::json claims = nlohmann::json::parse(claims_json, nullptr, false);
  if (!claims.is_object()) {
    return refused("claims are not an object");
  }
  auto str = [&](const char* name) -> std::string {
    auto it = claims.find(name);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* name) -> std::int64_t {
    auto it = claims.find(name);
    return it != claims.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
  };
  const std::int64_t now_s = now_ns / kNsPerSec;
  const std::int64_t exp = num("exp");
  const std::int64_t iat = num("iat");
  if (exp <= now_s || iat < 0 || iat > now_s + kSkewSec) {
    return refused("expired or not yet valid");
  }
  auto role = parseRole(str("role"));
  Principal principal;
  principal.kind = PrincipalKind::User;
  principal.id = str("sub");
  principal.tenant_id = str("tid");
  if (!role || principal.id.empty() || principal.tenant_id.empty()) {
    return refused("missing claims");
  }
  principal.role = *role;
  principal.via = Principal::Via::Jwt;
  return principal;
}

}  // namespace faultline::aggregator::auth
