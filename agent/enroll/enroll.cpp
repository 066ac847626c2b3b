#include "agent/enroll/enroll.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "agent/ship/curl_util.h"
#include "shared/util/time.h"

namespace faultline::agent {
namespace {
constexpr std::size_t kMaxResponseBytes = 64 * 1024;

struct Body {
  std::string data;
  bool overflow = false;
};

extern "C" size_t writeBody(char* ptr, size_t size, size_t nmemb, void* user) noexcept {
  auto* body = static_cast<Body*>(user);
  size_t n = size * nmemb;
  if (body->data.size() + n > kMaxResponseBytes) {
    body->overflow = true;
    return 0;  // aborts the transfer
  }
  body->data.append(ptr, n);
  return n;
}

Errc errcForCode(const std::string& code, long http_status) {
  if (code == "invalid_token") {
    return Errc::Unauthenticated;
  }
  if (code == "token_used") {
    return Errc::AlreadyExists;
  }
  if (code == "token_expired") {
    return Errc::FailedPrecondition;
  }
  if (code == "bad_request") {
    return Errc::InvalidArgument;
  }
  if (http_status >= 500 || http_status == 429) {
    return Errc::Unavailable;
  }
  if (http_status == 401 || http_status == 403) {
    return Errc::Unauthenticated;
  }
  return Errc::InvalidArgument;
}
}  // namespace

Result<Identity> enroll(const EnrollRequest& request) {
  if (request.server_url.rfind("http://", 0) != 0 && request.server_url.rfind("https://", 0) != 0) {
    return invalidArgument("--server must be an http:// or https:// URL, got '" +
                           request.server_url + "'");
  }
  if (request.token.empty()) {
    return invalidArgument("--token must not be empty");
  }
  ensureCurlGlobalInit();
  CurlEasy curl(curl_easy_init());
  if (!curl) {
    return internalError("curl_easy_init failed");
  }
  std::string url = joinUrl(request.server_url, "/v1/agents/enroll");
  std::string payload = nlohmann::json{
      {"token", request.token},
      {"hostname", request.hostname},
      {"version",
       request.version}}.dump();
  CurlSlist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  curl_slist* tail = curl_slist_append(headers.get(), "Expect:");
  if (tail == nullptr) {
    return internalError("curl_slist_append failed");
  }
  Body body;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &writeBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!request.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, request.ca_file.c_str());
  }
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    if (body.overflow) {
      return invalidArgument("enroll: response from " + url + " is larger than 64 KiB");
    }
    return unavailable("enroll: cannot reach " + url + ": " +
                       (errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc)));
  }
  long http_status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status != 201 && http_status != 200) {
    std::string code;
    std::string message = describeErrorBody(body.data, &code);
    std::string what = "enrollment refused by " + request.server_url + " (HTTP " +
                       std::to_string(http_status) + (code.empty() ? "" : ", " + code) +
                       "): " + message;
    return Status(errcForCode(code, http_status), what);
  }
  nlohmann::json doc = nlohmann::json::parse(body.data, nullptr, /*allow_exceptions=*/false);
  auto str = [&](const char* key) -> std::string {
    if (!doc.is_object()) {
      return "";
    }
    auto it = doc.find(key);
    return (it != doc.end() && it->is_string()) ? it->get<std::string>() : "";
  };
  Identity identity;
  identity.server_url = request.server_url;
  identity.agent_id = str("agent_id");
  identity.secret = str("secret");
  identity.tenant = str("tenant");
  identity.tenant_id = str("tenant_id");
  identity.enrolled_at = formatRfc3339Millis(nowUnixNanos());
  if (identity.agent_id.empty() || identity.secret.empty()) {
    return invalidArgument("enroll: the server's answer lacks agent_id or secret: " +
                           describeErrorBody(body.data));
  }
  return identity;
}

Result<Identity> enrollAndSave(const EnrollRequest& request, const std::string& state_dir,
                               bool force) {
  std::string path = identityPath(state_dir);
  struct stat st {};
  if (!force && ::stat(path.c_str(), &st) == 0) {
    return Status(Errc::AlreadyExists,
                  "already enrolled: " + path + " exists (use --force to replace it)");
  }
  FL_ASSIGN_OR_RETURN(Identity identity, enroll(request));
  FL_RETURN_IF_ERROR(saveIdentity(state_dir, identity));
  return identity;
}

}  // namespace faultline::agent
