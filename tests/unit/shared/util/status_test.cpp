#include "shared/util/status.h"

#include <doctest/doctest.h>

using namespace faultline;

namespace {
Result<int> half(int x) {
  if (x % 2 != 0) {
    return invalidArgument(std::to_string(x) + " is odd");
  }
  return x / 2;
}
Result<int> quarter(int x) {
  FL_ASSIGN_OR_RETURN(int h, half(x));
  FL_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}
}  // namespace

TEST_CASE("Result carries a value or an error, and the macros propagate errors") {
  CHECK(*quarter(8) == 2);
  auto odd = quarter(6);
  CHECK_FALSE(odd.isOk());
  CHECK(odd.code() == Errc::InvalidArgument);
  CHECK(odd.status().toString() == "invalid_argument: 3 is odd");
  CHECK(odd.status().withContext("quarter").message() == "quarter: 3 is odd");
}
