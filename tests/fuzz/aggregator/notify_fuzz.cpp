// Untrusted input of outbound notifications, the first byte choosing which: a channel spec
// (POST /v1/notification-channels) through ChannelSpec::parse, a URL through parseHttpUrl, or a
// receiver's raw HTTP response through parseHttpResponse.
// Invariants: no crash; refusals are InvalidArgument (spec, URL) or Unavailable /
// ResourceExhausted (response); an accepted spec's URL parses and its redacted form never holds
// more than the URL's origin; a parsed response's body respects the cap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "aggregator/notify/http_client.h"
#include "aggregator/notify/notification.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_notify: %s: %s\n", what, detail.c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace faultline;
  using namespace faultline::aggregator::notify;
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto spec = ChannelSpec::parse(input);
      if (!spec) {
        if (spec.code() != Errc::InvalidArgument) {
          fail("spec refusal", spec.status().toString());
        }
        return 0;
      }
      if (!parseHttpUrl(spec->url).isOk() || spec->events.empty()) {
        fail("accepted spec", spec->url);
      }
      break;
    }
    case 1: {
      auto url = parseHttpUrl(input);
      if (!url && url.code() != Errc::InvalidArgument) {
        fail("url refusal", url.status().toString());
      }
      // The redacted form is an origin and at most a "/..." marker: no path, query or userinfo.
      const std::string shown = redactedUrl(input);
      const std::size_t scheme = shown.find("://");
      if (scheme != std::string::npos) {
        const std::string rest = shown.substr(scheme + 3);
        const std::size_t slash = rest.find_first_of("/?#@");
        if (slash != std::string::npos && rest.substr(slash) != "/...") {
          fail("redacted URL shows more than the origin", shown);
        }
      }
      break;
    }
    default: {
      constexpr std::size_t kCap = 4096;
      auto response = parseHttpResponse(input, kCap, "fuzz");
      if (!response) {
        if (response.code() != Errc::Unavailable && response.code() != Errc::ResourceExhausted) {
          fail("response refusal", response.status().toString());
        }
        return 0;
      }
      if (response->body.size() > kCap || response->status < 0 || response->status > 999) {
        fail("accepted response", std::to_string(response->status));
      }
      break;
    }
  }
  return 0;
}
