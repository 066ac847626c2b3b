#pragma once

// Cursor pagination for the /v1 list endpoints: `?limit=N&cursor=C`, answered with the page and
// `next_cursor` (null on the last page). A cursor is opaque to clients: the sort key of the last
// item of the previous page, so pages stay stable while rows are added (keyset, not offset).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/http/server.h"
#include "shared/util/status.h"

namespace faultline::aggregator::api {

inline constexpr std::size_t kDefaultPageLimit = 50;
inline constexpr std::size_t kMaxPageLimit = 500;
inline constexpr std::size_t kMaxCursorBytes = 1024;

/// `limit` from the query: default when absent; InvalidArgument (message fit for the client)
/// when not an integer in [1, max].
Result<std::size_t> parseLimit(const http::Request& request,
                               std::size_t default_limit = kDefaultPageLimit,
                               std::size_t max_limit = kMaxPageLimit);

/// An opaque cursor holding `fields` (any bytes).
std::string encodeCursor(const std::vector<std::string>& fields);

/// The fields of a cursor made by encodeCursor; InvalidArgument when it is malformed, too long
/// or does not have `expected_fields` fields.
Result<std::vector<std::string>> decodeCursor(std::string_view cursor, std::size_t expected_fields);

/// The page a request asks for out of a list read whole: for lists a tenant keeps small
/// (members, API keys, a user's tenants), sorted here by a unique key so that the order, and so
/// the cursor, do not depend on the engine's collation.
struct PageSlice {
  std::size_t begin = 0;
  std::size_t end = 0;      // exclusive
  std::string next_cursor;  // empty on the last page
};

/// `sorted_keys`: the items' unique keys in ascending byte order. InvalidArgument (fit for the
/// client) for a bad limit or cursor.
Result<PageSlice> pageOfSorted(const http::Request& request,
                               const std::vector<std::string>& sorted_keys);

/// A number field of a cursor (a time, written with std::to_string); InvalidArgument (fit for
/// the client) otherwise.
Result<std::int64_t> cursorNumber(std::string_view field);

/// A key that sorts like the number (for keys that start with a time).
std::string sortableNumber(std::int64_t value);

/// Sorts `items` by `key_of` (a unique key) and answers the requested page as
/// {"<name>": [to_json(item)...], "next_cursor": ...}; 400 for a bad limit or cursor.
template <typename T, typename KeyOf, typename ToJson>
http::Response pagedList(const http::Request& request, std::string_view name, std::vector<T> items,
                         KeyOf key_of, ToJson to_json) {
  std::vector<std::pair<std::string, std::size_t>> keyed;
  keyed.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    keyed.emplace_back(key_of(items[i]), i);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> keys;
  keys.reserve(keyed.size());
  for (const auto& entry : keyed) {
    keys.push_back(entry.first);
  }
  auto slice = pageOfSorted(request, keys);
  if (!slice) {
    return http::Response::error(400, "bad_request", slice.status().message());
  }
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = slice->begin; i < slice->end; ++i) {
    list.push_back(to_json(items[keyed[i].second]));
  }
  nlohmann::json body = {{std::string(name), std::move(list)}, {"next_cursor", nullptr}};
  if (!slice->next_cursor.empty()) {
    body["next_cursor"] = slice->next_cursor;
  }
  return http::Response::json(200,
                              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace faultline::aggregator::api
