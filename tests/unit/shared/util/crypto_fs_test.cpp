#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "shared/util/crypto.h"
#include "shared/util/fs.h"

using namespace faultline;

TEST_CASE("random tokens are unique and hashes are stable") {
  std::string a = crypto::randomToken("flt_");
  std::string b = crypto::randomToken("flt_");
  CHECK(a != b);
  CHECK(a.rfind("flt_", 0) == 0);
  CHECK(a.size() == 4 + 43);
  CHECK(crypto::randomHex(8).size() == 16);
  CHECK(crypto::hashSecret("x") == crypto::hashSecret("x"));
  CHECK(crypto::hashSecret("x") != crypto::hashSecret("y"));
  CHECK(crypto::hashSecret("x").size() == 64);
  CHECK(crypto::constantTimeEqual("abc", "abc"));
  CHECK_FALSE(crypto::constantTimeEqual("abc", "abd"));
  CHECK_FALSE(crypto::constantTimeEqual("abc", "ab"));
}

TEST_CASE("writeFileAtomic writes with the exact mode and readFile enforces its cap") {
  char tmpl[] = "/tmp/faultline-fs-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = fs::join(tmpl, "nested/deeper");
  REQUIRE(fs::ensureDir(dir).isOk());
  std::string path = fs::join(dir, "secret");
  REQUIRE(fs::writeFileAtomic(path, "s3cret", 0600).isOk());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(*fs::readFile(path) == "s3cret");
  CHECK(fs::readFile(path, 3).code() == Errc::ResourceExhausted);
  CHECK(fs::readFile(path + ".missing").code() == Errc::NotFound);
  auto matches = fs::globFiles(fs::join(dir, "*"));
  REQUIRE(matches.size() == 1);
  CHECK(matches[0] == path);
  std::string cmd = std::string("rm -rf ") + tmpl;
  CHECK(std::system(cmd.c_str()) == 0);
}
