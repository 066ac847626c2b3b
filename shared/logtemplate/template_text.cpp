// templateId() and renderLine(): the two functions both ends of the wire agree on.
#include <sodium.h>

#include <cstring>

#include "shared/logtemplate/miner.h"

namespace faultline::logtemplate {

std::uint64_t templateId(std::string_view template_text) {
  // sodium_init() picks the fastest BLAKE2b code; the reference code gives the same bytes.
  static const bool sodium_ready = sodium_init() >= 0;
  (void)sodium_ready;
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof(digest),
                     reinterpret_cast<const unsigned char*>(template_text.data()),
                     template_text.size(), nullptr, 0);
  std::uint64_t id = 0;
  for (int i = 7; i >= 0; --i) {
    id = (id << 8) | digest[i];  // the first 8 bytes, little-endian
  }
  return id == 0 ? 1 : id;
}

Status renderLine(std::string_view template_text, const std::vector<std::string_view>& params,
                  std::string& out) {
  std::size_t holes = 0;
  for (std::size_t pos = template_text.find(kHole); pos != std::string_view::npos;
       pos = template_text.find(kHole, pos + kHole.size())) {
    ++holes;
  }
  if (holes != params.size()) {
    return invalidArgument("template has " + std::to_string(holes) + " holes but " +
                           std::to_string(params.size()) + " parameters were given");
  }
  std::size_t cur = 0;
  for (std::string_view param : params) {
    std::size_t pos = template_text.find(kHole, cur);
    out.append(template_text.substr(cur, pos - cur));
    out.append(param);
    cur = pos + kHole.size();
  }
  out.append(template_text.substr(cur));
  return Status::ok();
}

}  // namespace faultline::logtemplate
