#include "agent/ship/curl_util.h"

#include <mutex>
#include <nlohmann/json.hpp>

namespace faultline::agent {

void ensureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string joinUrl(std::string_view base, std::string_view path) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') {
    out.pop_back();
  }
  out += path;
  return out;
}

std::string describeErrorBody(std::string_view body, std::string* code_out) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    auto err = doc.find("error");
    if (err != doc.end() && err->is_object()) {
      auto code = err->find("code");
      auto message = err->find("message");
      if (code_out != nullptr && code != err->end() && code->is_string()) {
        *code_out = code->get<std::string>();
      }
      if (message != err->end() && message->is_string()) {
        return message->get<std::string>();
      }
    }
  }
  constexpr std::size_t kMaxShown = 200;
  std::string shown(body.substr(0, kMaxShown));
  if (body.size() > kMaxShown) {
    shown += "...";
  }
  return shown.empty() ? "(empty response body)" : shown;
}

}  // namespace faultline::agent
