// Feeds arbitrary text to the TOML option loader with a representative option table.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/config/option_table.h"

using faultline::config::Option;
using faultline::config::OptionType;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  faultline::config::OptionTable table({
      {"server.listen", OptionType::String, "127.0.0.1:7070", ""},
      {"server.max_body", OptionType::ByteSize, "16MiB", ""},
      {"server.timeout", OptionType::Duration, "30s", ""},
      {"server.workers", OptionType::Int, "4", ""},
      {"server.tls", OptionType::Bool, "false", ""},
      {"inputs.paths", OptionType::StringList, "", ""},
  });
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)table.loadString(text, "fuzz.toml");
  return 0;
}
