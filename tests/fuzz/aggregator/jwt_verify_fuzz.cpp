// Feeds arbitrary bytes to JWT verification (as a Bearer token) and to the session-cookie
// parser. Nothing an attacker sends may crash either, and no forged token may verify: the ring
// holds one real key whose secret the fuzzer never sees.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "aggregator/auth/authenticator.h"
#include "aggregator/auth/jwt.h"
#include "aggregator/store/sqlite/sqlite_store.h"
#include "shared/util/time.h"

namespace {
using namespace faultline::aggregator;

struct Ring {
  std::unique_ptr<store::sqlite::SqliteStore> store;
  std::unique_ptr<auth::JwtKeys> keys;
  std::int64_t now = 0;
};

Ring& ring() {
  static Ring* ring = [] {
    auto* r = new Ring();
    std::string dir = (std::filesystem::temp_directory_path() / "fl-fuzz-jwt-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) {
      __builtin_trap();
    }
    store::sqlite::SqliteStoreOptions options;
    options.path = dir + "/db.sqlite";
    auto opened = store::sqlite::SqliteStore::open(options);
    if (!opened) {
      __builtin_trap();
    }
    r->store = std::move(opened).value();
    r->keys = std::make_unique<auth::JwtKeys>(*r->store, auth::JwtOptions{});
    r->now = faultline::nowUnixNanos();
    auth::Principal user;
    user.id = "usr_fuzz";
    user.tenant_id = "tnt_fuzz";
    if (!r->keys->issue(user, r->now)) {  // creates the one key
      __builtin_trap();
    }
    return r;
  }();
  return *ring;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Ring& r = ring();
  if (r.keys->verify(input, r.now).isOk()) {
    __builtin_trap();  // a token the fuzzer made up verified
  }
  http::Request request;
  request.method = "POST";
  request.headers.emplace_back("cookie", std::string(input));
  std::string cookie = auth::Authenticator::sessionCookie(request);
  if (cookie.size() > input.size()) {
    __builtin_trap();
  }
  return 0;
}
