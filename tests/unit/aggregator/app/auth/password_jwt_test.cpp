// Password hashing (argon2id) and JWT access tokens with key rotation, on a real SQLite store.
#include <doctest/doctest.h>
#include <sodium.h>

#include "aggregator/auth/jwt.h"
#include "aggregator/auth/password.h"
#include "tests/unit/aggregator/app/auth/auth_test_support.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {
std::string b64(std::string_view text) {
  std::string out(sodium_base64_ENCODED_LEN(text.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                    text.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

auth::Principal alice(const std::string& tenant_id) {
  auth::Principal user;
  user.kind = auth::PrincipalKind::User;
  user.id = "usr_alice";
  user.tenant_id = tenant_id;
  user.role = auth::Role::Responder;
  return user;
}
}  // namespace

TEST_CASE("password: argon2id hashes verify, refuse wrong and short passwords") {
  auth::PasswordHasher hasher(fastHashing());
  auto hash = hasher.hash("correct horse battery");
  REQUIRE(hash.isOk());
  CHECK(hash->rfind("$argon2id$", 0) == 0);
  CHECK(hasher.verify(*hash, "correct horse battery"));
  CHECK_FALSE(hasher.verify(*hash, "correct horse batterY"));
  CHECK_FALSE(hasher.verify(*hash, ""));
  CHECK_FALSE(hasher.verify("not a hash", "correct horse battery"));
  auto again = hasher.hash("correct horse battery");
  CHECK(*again != *hash);  // salted
  CHECK(hasher.hash("short pw 11").code() == Errc::InvalidArgument);
  CHECK(hasher.hash(std::string(auth::kMaxPasswordBytes + 1, 'x')).code() == Errc::InvalidArgument);
  CHECK_FALSE(hasher.verify(*hash, std::string(auth::kMaxPasswordBytes + 1, 'x')));
  hasher.verifyDummy("anything at all");  // must not crash; returns nothing
}

TEST_CASE("jwt: issued tokens verify to their user; wrong key, alg none and tampering refused") {
  faultline::testing::TempDir dir;
  auto store = openStoreAt(dir);
  auth::JwtKeys keys(*store, auth::JwtOptions{});
  const std::int64_t now = nowUnixNanos();
  auto issued = keys.issue(alice("tnt_a"), now);
  REQUIRE_MESSAGE(issued.isOk(), issued.status().toString());
  CHECK(issued->expires_at_ns > now);
  auto principal = keys.verify(issued->token, now);
  REQUIRE_MESSAGE(principal.isOk(), principal.status().toString());
  CHECK(principal->id == "usr_alice");
  CHECK(principal->tenant_id == "tnt_a");
  CHECK(principal->role == auth::Role::Responder);
  CHECK(principal->via == auth::Principal::Via::Jwt);

  const std::string& token = issued->token;
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.find('.', dot1 + 1);
  const std::string payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  // alg none with no signature, and alg none with the original signature.
  const std::string none_header = b64(R"({"alg":"none","typ":"JWT"})");
  CHECK(keys.verify(none_header + "." + payload + ".", now).code() == Errc::Unauthenticated);
  CHECK(keys.verify(none_header + "." + payload + token.substr(dot2), now).code() ==
        Errc::Unauthenticated);
  // A payload changed to another tenant and role, signature kept.
  const std::string forged =
      b64(R"({"sub":"usr_alice","tid":"tnt_b","role":"owner","iat":1,"exp":99999999999})");
  CHECK(keys.verify(token.substr(0, dot1 + 1) + forged + token.substr(dot2), now).code() ==
        Errc::Unauthenticated);
  // The same claims signed by another ring (another key and secret).
  faultline::testing::TempDir other_dir;
  auto other_store = openStoreAt(other_dir);
  auth::JwtKeys other(*other_store, auth::JwtOptions{});
  auto foreign = other.issue(alice("tnt_a"), now);
  REQUIRE(foreign.isOk());
  CHECK(keys.verify(foreign->token, now).code() == Errc::Unauthenticated);
  // Garbage of every shape.
  for (std::string bad : {"", "a.b", "a.b.c.d", "...", "!!.??.**", "eyJ.eyJ.sig"}) {
    CHECK(keys.verify(bad, now).code() == Errc::Unauthenticated);
  }
  CHECK(keys.verify(std::string(5000, 'a') + ".b.c", now).code() == Errc::Unauthenticated);
  // Expiry.
  CHECK(keys.verify(token, issued->expires_at_ns).code() == Errc::Unauthenticated);
  // Only users get tokens.
  auth::Principal key = alice("tnt_a");
  key.kind = auth::PrincipalKind::ApiKey;
  CHECK(keys.issue(key, now).code() == Errc::PermissionDenied);
}

TEST_CASE("jwt: keys rotate; an old key verifies until its last token expires, then retires") {
  faultline::testing::TempDir dir;
  auto store = openStoreAt(dir);
  auth::JwtOptions options;
  options.token_ttl = std::chrono::seconds(60);
  options.rotate_every = std::chrono::seconds(3600);
  auth::JwtKeys keys(*store, options);
  const std::int64_t t0 = nowUnixNanos();
  auto first = keys.issue(alice("tnt_a"), t0);
  auto same_key = keys.issue(alice("tnt_a"), t0 + 1800 * kSecNs);
  REQUIRE((first.isOk() && same_key.isOk()));
  auto kid = [](const std::string& token) { return token.substr(0, token.find('.')); };
  CHECK(kid(first->token) == kid(same_key->token));  // same header: same kid
  // A ring with a longer token_ttl on the same store signs a token that outlives the key's
  // window in this ring (used at the end).
  auth::JwtOptions long_lived = options;
  long_lived.token_ttl = std::chrono::seconds(24 * 3600);
  auth::JwtKeys lenient(*store, long_lived);
  auto old_key_token = lenient.issue(alice("tnt_a"), t0 + 10 * kSecNs);
  REQUIRE(old_key_token.isOk());
  CHECK(kid(old_key_token->token) == kid(first->token));

  // An hour later a new key signs; the old one still verifies the token it signed last.
  const std::int64_t t1 = t0 + 3600 * kSecNs + 1;
  auto rotated = keys.issue(alice("tnt_a"), t1 - 30 * kSecNs - 1);
  REQUIRE(rotated.isOk());
  CHECK(kid(rotated->token) == kid(first->token));
  auto fresh = keys.issue(alice("tnt_a"), t1);
  REQUIRE(fresh.isOk());
  CHECK(kid(fresh->token) != kid(first->token));
  CHECK(store->listSigningKeys(0)->size() == 2);
  CHECK(keys.verify(rotated->token, t1 + 10 * kSecNs).isOk());
  CHECK(keys.verify(fresh->token, t1 + 10 * kSecNs).isOk());

  // Another aggregator on the same store verifies both and signs with the newest key.
  auth::JwtKeys peer(*store, options);
  CHECK(peer.verify(fresh->token, t1 + 10 * kSecNs).isOk());
  auto from_peer = peer.issue(alice("tnt_a"), t1 + 20 * kSecNs);
  REQUIRE(from_peer.isOk());
  CHECK(kid(from_peer->token) == kid(fresh->token));
  CHECK(store->listSigningKeys(0)->size() == 2);

  // Past rotate_every + token_ttl after its creation, the old key verifies nothing, even a
  // token that has not expired.
  CHECK(keys.verify(old_key_token->token, t0 + 3600 * kSecNs).isOk());
  const std::int64_t retired = t0 + (3600 + 60) * kSecNs + 1;
  CHECK(keys.verify(old_key_token->token, retired).code() == Errc::Unauthenticated);
  CHECK(keys.verify(fresh->token, t1 + 59 * kSecNs).isOk());
}
