#include "aggregator/http/response_encoder.h"

#include <http_parser.h>

#include <array>
#include <cstdio>
#include <ctime>

namespace faultline::aggregator::http {
namespace {
bool equalsLower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != lower[i]) {
      return false;
    }
  }
  return true;
}

bool safeHeaderText(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool serverOwned(std::string_view name) {
  return equalsLower(name, "content-length") || equalsLower(name, "connection") ||
         equalsLower(name, "date") || equalsLower(name, "transfer-encoding");
}
}  // namespace

bool statusForbidsBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

std::string_view reasonPhrase(int status) {
  if (status < 100 || status > 599) {
    return "Unknown";
  }
  std::string_view text = http_status_str(static_cast<http_status>(status));
  if (text.empty() || text == "<unknown>") {
    return "Unknown";
  }
  return text;
}

std::string httpDate(std::int64_t unix_seconds) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                kDays[static_cast<std::size_t>(tm.tm_wday) % 7], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon) % 12], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

std::string encodeResponse(const Response& response, const EncodeOptions& options) {
  const bool no_body = statusForbidsBody(response.status);
  std::string out;
  out.reserve(128 + response.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += reasonPhrase(response.status);
  out += "\r\n";
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || serverOwned(name) || !safeHeaderText(name) || !safeHeaderText(value)) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  // 1xx and 204 must not carry Content-Length (RFC 9110 8.6); everything else always does,
  // HEAD and 304 included (the length a GET would have sent).
  if (!options.streamed && !(response.status >= 100 && response.status < 200) &&
      response.status != 204) {
    out += "Content-Length: ";
    out += std::to_string(response.body.size());
    out += "\r\n";
  }
  if (options.close) {
    out += "Connection: close\r\n";
  } else if (options.keep_alive_header) {
    out += "Connection: keep-alive\r\n";
  }
  if (!options.date.empty()) {
    out += "Date: ";
    out += options.date;
    out += "\r\n";
  }
  out += "\r\n";
  if (!no_body && !options.head_request && !options.streamed) {
    out += response.body;
  }
  return out;
}

}  // namespace faultline::aggregator::http
