// Mines the lines of the input (split at '\n') with one small miner and aborts when a mined
// line does not render back to itself or its id is not templateId(text). Also renders the first
// line as a template with the other lines as parameters, and reads the input as CSV.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "shared/logtemplate/line_reader.h"
#include "shared/logtemplate/miner.h"

using namespace faultline::logtemplate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  std::size_t cur = 0;
  for (std::size_t nl = input.find('\n'); nl != std::string_view::npos;
       nl = input.find('\n', cur)) {
    lines.push_back(input.substr(cur, nl - cur));
    cur = nl + 1;
  }
  lines.push_back(input.substr(cur));

  MinerOptions options;
  options.max_clusters = 8;  // evictions and merges happen with small inputs
  options.max_line_bytes = 4096;
  options.max_tokens = 64;
  TemplateMiner miner(options);
  MinedLine mined;
  std::string rendered;
  for (int pass = 0; pass < 2; ++pass) {  // the second pass takes the cached paths
    for (std::string_view line : lines) {
      miner.mine(line, mined);
      if (mined.template_id == 0) {
        continue;
      }
      rendered.clear();
      if (!renderLine(mined.template_text, mined.params, rendered).isOk() || rendered != line ||
          mined.template_id != templateId(mined.template_text)) {
        __builtin_trap();
      }
    }
  }
  (void)miner.clusters();
  (void)miner.memoryBytes();

  std::vector<std::string_view> params(lines.begin() + 1, lines.end());
  rendered.clear();
  (void)renderLine(lines[0], params, rendered);

  std::string copy(input);
  if (std::FILE* f = fmemopen(copy.data(), copy.size(), "rb"); f != nullptr) {
    CsvReader reader(f, 1024);
    std::vector<std::string> fields;
    for (int i = 0; i < 1000; ++i) {
      auto more = reader.next(fields);
      if (!more || !*more) {
        break;
      }
    }
    std::fclose(f);
  }
  return 0;
}
