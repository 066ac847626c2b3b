#include "shared/util/crypto.h"

#include <sodium.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace faultline::crypto {
namespace {
void ensureInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::abort();  // no CSPRNG: nothing secure can be done
    }
  });
}
}  // namespace

std::string hexEncode(std::string_view bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  hex.resize(bytes.size() * 2);
  return hex;
}

std::string randomHex(std::size_t bytes) {
  ensureInit();
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  return hexEncode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

std::string randomToken(std::string_view prefix, std::size_t bytes) {
  ensureInit();
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string b64(sodium_base64_ENCODED_LEN(bytes, variant), '\0');
  sodium_bin2base64(b64.data(), b64.size(), raw.data(), raw.size(), variant);
  b64.resize(std::char_traits<char>::length(b64.c_str()));
  return std::string(prefix) + b64;
}

std::string hashSecret(std::string_view data) {
  ensureInit();
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), nullptr, 0);
  return hexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
  ensureInit();
  if (a.size() != b.size()) {
    return false;
  }
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace faultline::crypto
