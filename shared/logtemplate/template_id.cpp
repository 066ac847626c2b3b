// templateId(): the content address of a template text (declared in miner.h). The wire
// decoder and the aggregator's dictionary verify texts against it, so it lives on its own,
// apart from the miner.
#include <sodium.h>

#include "shared/logtemplate/miner.h"

namespace faultline::logtemplate {

std::uint64_t templateId(std::string_view template_text) {
  // First 8 bytes (little-endian) of the 32-byte unkeyed BLAKE2b of the text; 0 is reserved
  // for "no template", so it maps to 1.
  unsigned char digest[crypto_generichash_BYTES];
  static_assert(crypto_generichash_BYTES == 32);
  crypto_generichash(digest, sizeof digest,
                     reinterpret_cast<const unsigned char*>(template_text.data()),
                     template_text.size(), nullptr, 0);
  std::uint64_t id = 0;
  for (int i = 7; i >= 0; --i) {
    id = (id << 8) | digest[i];
  }
  return id == 0 ? 1 : id;
}

}  // namespace faultline::logtemplate
