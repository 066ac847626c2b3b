#include "agent/config/agent_config.h"

#include <sstream>

#include "shared/util/fs.h"
#include "shared/util/log.h"

namespace faultline::agent {
namespace {
using config::Option;
using config::OptionType;

std::chrono::milliseconds toMillis(std::chrono::nanoseconds ns) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ns);
}

// "file:line: " for a dotted key when the file assigns it; the table reports unknown keys and
// type errors with positions itself, this covers the semantic checks done afterwards.
std::string locate(const std::string& source, const std::string& dotted_key) {
  if (source.empty()) {
    return "";
  }
  auto text = fs::readFile(source, 1 << 20);
  if (!text) {
    return source + ": ";
  }
  std::string table = dotted_key.substr(0, dotted_key.find('.'));
  std::string leaf = dotted_key.substr(dotted_key.find('.') + 1);
  std::istringstream in(*text);
  std::string line;
  std::string current;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) {
      continue;
    }
    std::string_view rest(line.data() + start, line.size() - start);
    if (rest.front() == '[') {
      auto close = rest.find(']');
      current = std::string(rest.substr(1, close == std::string_view::npos ? 0 : close - 1));
      continue;
    }
    auto matches = [&](std::string_view key) {
      return rest.substr(0, key.size()) == key &&
             rest.substr(key.size()).find_first_not_of(" \t") != std::string_view::npos &&
             rest[rest.find_first_not_of(" \t", key.size())] == '=';
    };
    if ((current == table && matches(leaf)) || (current.empty() && matches(dotted_key))) {
      return source + ":" + std::to_string(number) + ": ";
    }
  }
  return source + ": ";
}
}  // namespace

config::OptionTable makeAgentOptionTable() {
  return config::OptionTable({
      {"agent.state_dir", OptionType::String, kDefaultStateDir,
       "Directory for identity, offsets, spool and status."},
      {"agent.log_level", OptionType::String, "info", "debug, info, warn or error."},
      {"server.url", OptionType::String, "",
       "Aggregator base URL; overrides the URL saved at enrollment."},
      {"server.ca_file", OptionType::String, "",
       "PEM file of CA certificates to verify the aggregator with (default: system store)."},
      {"server.timeout", OptionType::Duration, "30s", "Timeout of one request to the aggregator."},
      {"inputs.paths", OptionType::StringList, "", "Globs of files to tail."},
      {"inputs.start_at", OptionType::String, "end",
       "Where files present on the very first run start: \"end\" or \"beginning\"."},
      {"inputs.scan_interval", OptionType::Duration, "1s", "How often globs are re-scanned."},
      {"inputs.max_line_bytes", OptionType::ByteSize, "1MiB",
       "Longer lines are split into pieces of this size."},
      {"batch.max_bytes", OptionType::ByteSize, "1MiB",
       "A batch is sealed when its line bytes reach this size."},
      {"batch.max_age", OptionType::Duration, "1s",
       "A batch is sealed at the latest this long after its first line."},
      {"batch.compression_level", OptionType::Int, "1", "zstd level, 1 (fast) to 19."},
      {"spool.max_bytes", OptionType::ByteSize, "256MiB",
       "Disk spool cap; when full, reading pauses (nothing is dropped)."},
      {"retry.initial_backoff", OptionType::Duration, "500ms",
       "First retry delay after a failure."},
      {"retry.max_backoff", OptionType::Duration, "30s", "Longest retry delay."},
  });
}

Result<AgentConfig> agentConfigFromTable(const config::OptionTable& table,
                                         const std::string& source) {
  AgentConfig out;
  auto bad = [&](const std::string& key, const std::string& why) {
    return Status(Errc::InvalidArgument, locate(source, key) + key + ": " + why);
  };
  out.state_dir = table.getString("agent.state_dir");
  if (out.state_dir.empty()) {
    return bad("agent.state_dir", "must not be empty");
  }
  out.log_level = table.getString("agent.log_level");
  log::Level level{};
  if (!log::parseLevel(out.log_level, &level)) {
    return bad("agent.log_level",
               "expected debug, info, warn or error, got '" + out.log_level + "'");
  }
  out.server_url = table.getString("server.url");
  if (!out.server_url.empty() && out.server_url.rfind("http://", 0) != 0 &&
      out.server_url.rfind("https://", 0) != 0) {
    return bad("server.url", "must start with http:// or https://, got '" + out.server_url + "'");
  }
  out.ca_file = table.getString("server.ca_file");
  out.server_timeout = toMillis(table.getDuration("server.timeout"));
  out.paths = table.getStringList("inputs.paths");
  for (const std::string& path : out.paths) {
    if (path.empty() || path.front() != '/') {
      return bad("inputs.paths", "globs must be absolute paths, got '" + path + "'");
    }
  }
  std::string start_at = table.getString("inputs.start_at");
  if (start_at != "end" && start_at != "beginning") {
    return bad("inputs.start_at", "expected \"end\" or \"beginning\", got '" + start_at + "'");
  }
  out.start_at_beginning = start_at == "beginning";
  out.scan_interval = toMillis(table.getDuration("inputs.scan_interval"));
  std::uint64_t max_line = table.getByteSize("inputs.max_line_bytes");
  if (max_line < 64 || max_line > (16ULL << 20)) {
    return bad("inputs.max_line_bytes", "must be between 64 bytes and 16MiB");
  }
  out.max_line_bytes = max_line;
  std::uint64_t batch_bytes = table.getByteSize("batch.max_bytes");
  if (batch_bytes < 1024 || batch_bytes > (8ULL << 20)) {
    return bad("batch.max_bytes", "must be between 1KiB and 8MiB");
  }
  out.batch_max_bytes = batch_bytes;
  out.batch_max_age = toMillis(table.getDuration("batch.max_age"));
  if (out.batch_max_age.count() < 1) {
    return bad("batch.max_age", "must be at least 1ms");
  }
  std::int64_t level_value = table.getInt("batch.compression_level");
  if (level_value < 1 || level_value > 19) {
    return bad("batch.compression_level", "must be between 1 and 19");
  }
  out.compression_level = static_cast<int>(level_value);
  out.spool_max_bytes = table.getByteSize("spool.max_bytes");
  if (out.spool_max_bytes < 2 * batch_bytes) {
    return bad("spool.max_bytes", "must be at least twice batch.max_bytes");
  }
  out.retry_initial_backoff = toMillis(table.getDuration("retry.initial_backoff"));
  out.retry_max_backoff = toMillis(table.getDuration("retry.max_backoff"));
  if (out.retry_initial_backoff.count() < 1 || out.retry_max_backoff < out.retry_initial_backoff) {
    return bad("retry.max_backoff", "must be at least retry.initial_backoff (and both >= 1ms)");
  }
  if (out.server_timeout.count() < 1) {
    return bad("server.timeout", "must be at least 1ms");
  }
  return out;
}

Result<AgentConfig> loadAgentConfig(config::OptionTable& table, const std::string& path) {
  if (!path.empty()) {
    FL_RETURN_IF_ERROR(table.loadFile(path));
  }
  return agentConfigFromTable(table, path);
}

}  // namespace faultline::agent
