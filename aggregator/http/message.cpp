// Request/Response helpers shared by the server and every handler.
#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "aggregator/http/server.h"

namespace faultline::aggregator::http {
namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
               hexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

const std::string* Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return &value;
    }
  }
  return nullptr;
}

std::unique_ptr<std::string> Request::queryParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string key = percentDecode(pair.substr(0, eq));
    if (key == name) {
      return std::make_unique<std::string>(
          eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1)));
    }
  }
  return nullptr;
}

Response Response::json(int status, std::string body) {
  Response response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "application/json");
  response.body = std::move(body);
  return response;
}

Response Response::streamed(int status, std::string content_type,
                            std::shared_ptr<ResponseStream> stream) {
  Response response;
  response.status = status;
  response.headers.emplace_back("Content-Type", std::move(content_type));
  response.stream = std::move(stream);
  return response;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  // Replace invalid UTF-8 rather than throwing: messages may quote client bytes.
  return json(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

const std::string* Request::pathParam(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

namespace {
std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      slash = path.size();
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

bool isParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}
}  // namespace

void Router::add(std::string method, std::string path, Handler handler) {
  Route route{std::move(method), std::move(path), std::move(handler), {}};
  const std::vector<std::string_view> segments = splitPath(route.path);
  const bool pattern = std::any_of(segments.begin(), segments.end(), isParam);
  if (pattern) {
    route.segments.assign(segments.begin(), segments.end());
    patterns_.push_back(routes_.size());
  } else {
    exact_[route.path].push_back(routes_.size());
  }
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  const Route* get_route = nullptr;
  const Route* chosen = nullptr;
  auto consider = [&](const Route& route) {
    result.allowed.push_back(route.method);
    if (route.method == method) {
      chosen = &route;
    } else if (route.method == "GET") {
      get_route = &route;
    }
  };
  auto exact = exact_.find(std::string(path));
  if (exact != exact_.end()) {
    for (std::size_t index : exact->second) {
      consider(routes_[index]);
    }
  } else if (!patterns_.empty()) {
    const std::vector<std::string_view> segments = splitPath(path);
    for (std::size_t index : patterns_) {
      const Route& route = routes_[index];
      if (route.segments.size() != segments.size()) {
        continue;
      }
      bool same = true;
      for (std::size_t i = 0; i < segments.size() && same; ++i) {
        same = isParam(route.segments[i]) ? !segments[i].empty() : route.segments[i] == segments[i];
      }
      if (same) {
        consider(route);
      }
    }
  }
  if (chosen == nullptr && method == "HEAD") {
    chosen = get_route;  // HEAD is GET without the body
  }
  if (chosen != nullptr) {
    result.handler = &chosen->handler;
    if (!chosen->segments.empty()) {
      const std::vector<std::string_view> segments = splitPath(path);
      for (std::size_t i = 0; i < segments.size(); ++i) {
        const std::string& pattern = chosen->segments[i];
        if (isParam(pattern)) {
          result.params.emplace_back(pattern.substr(1, pattern.size() - 2), segments[i]);
        }
      }
    }
  }
  if (std::find(result.allowed.begin(), result.allowed.end(), "GET") != result.allowed.end()) {
    result.allowed.emplace_back("HEAD");
  }
  std::sort(result.allowed.begin(), result.allowed.end());
  result.allowed.erase(std::unique(result.allowed.begin(), result.allowed.end()),
                       result.allowed.end());
  return result;
}

Result<std::pair<std::string, int>> parseListenAddress(std::string_view text) {
  auto bad = [&] {
    return Status(Errc::InvalidArgument, "invalid listen address '" + std::string(text) +
                                             "': expected HOST:PORT or [V6]:PORT");
  };
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad();
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return bad();
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 0 || port > 65535 ||
      host.empty()) {
    return bad();
  }
  return std::make_pair(host, port);
}

}  // namespace faultline::aggregator::http
