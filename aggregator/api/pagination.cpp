#include "aggregator/api/pagination.h"

#include <algorithm>
#include <charconv>

#include "shared/util/crypto.h"

namespace faultline::aggregator::api {
namespace {

constexpr std::string_view kCursorVersion = "c1.";
constexpr char kFieldSeparator = '\x1f';  // unit separator: fields are hex-encoded, so safe

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

}  // namespace

Result<std::size_t> parseLimit(const http::Request& request, std::size_t default_limit,
                               std::size_t max_limit) {
  auto value = request.queryParam("limit");
  if (value == nullptr) {
    return default_limit;
  }
  std::size_t limit = 0;
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, limit);
  if (ec != std::errc() || ptr != end || limit < 1 || limit > max_limit) {
    return invalidArgument("limit: expected an integer from 1 to " + std::to_string(max_limit));
  }
  return limit;
}

std::string encodeCursor(const std::vector<std::string>& fields) {
  std::string joined;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) {
      joined.push_back(kFieldSeparator);
    }
    joined += fields[i];
  }
  return std::string(kCursorVersion) + crypto::hexEncode(joined);
}

Result<std::vector<std::string>> decodeCursor(std::string_view cursor,
                                              std::size_t expected_fields) {
  auto bad = [] { return invalidArgument("cursor: not a cursor this server handed out"); };
  if (cursor.size() > kMaxCursorBytes || !cursor.starts_with(kCursorVersion)) {
    return bad();
  }
  std::string_view hex = cursor.substr(kCursorVersion.size());
  if (hex.size() % 2 != 0) {
    return bad();
  }
  std::vector<std::string> fields(1);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = hexValue(hex[i]);
    const int low = hexValue(hex[i + 1]);
    if (high < 0 || low < 0) {
      return bad();
    }
    const char c = static_cast<char>(high << 4 | low);
    if (c == kFieldSeparator) {
      fields.emplace_back();
    } else {
      fields.back().push_back(c);
    }
  }
  if (fields.size() != expected_fields) {
    return bad();
  }
  return fields;
}

Result<PageSlice> pageOfSorted(const http::Request& request,
                               const std::vector<std::string>& sorted_keys) {
  FL_ASSIGN_OR_RETURN(std::size_t limit, parseLimit(request));
  PageSlice slice;
  if (auto cursor = request.queryParam("cursor"); cursor != nullptr) {
    FL_ASSIGN_OR_RETURN(std::vector<std::string> fields, decodeCursor(*cursor, 1));
    // Keyset: the first item after the last one shown, even if that one is gone since.
    slice.begin = static_cast<std::size_t>(
        std::upper_bound(sorted_keys.begin(), sorted_keys.end(), fields[0]) - sorted_keys.begin());
  }
  slice.end = std::min(sorted_keys.size(), slice.begin + limit);
  if (slice.end < sorted_keys.size()) {
    slice.next_cursor = encodeCursor({sorted_keys[slice.end - 1]});
  }
  return slice;
}

Result<std::int64_t> cursorNumber(std::string_view field) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size()) {
    return invalidArgument("cursor: not a cursor this server handed out");
  }
  return value;
}

std::string sortableNumber(std::int64_t value) {
  // Offset into unsigned so negative values sort first, then fixed width.
  const std::uint64_t shifted = static_cast<std::uint64_t>(value) ^ (std::uint64_t{1} << 63);
  std::string text = std::to_string(shifted);
  return std::string(20 - text.size(), '0') + text;
}

}  // namespace faultline::aggregator::api
