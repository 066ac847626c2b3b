#include "agent/config/agent_config.h"

#include <functional>
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

using BadOption = std::function<Status(const std::string&, const std::string&)>;

// "GLOB=VALUE" items of a list option.
Result<std::vector<GlobRule>> globRules(const config::OptionTable& table, const std::string& key,
                                        const BadOption& bad) {
  std::vector<GlobRule> rules;
  for (const std::string& item : table.getStringList(key)) {
    auto eq = item.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return bad(key, "expected \"GLOB=VALUE\", got '" + item + "'");
    }
    rules.push_back({item.substr(0, eq), item.substr(eq + 1)});
  }
  return rules;
}

Result<logparse::Severity> severityOption(const config::OptionTable& table,
                                          const std::string& key, const BadOption& bad) {
  std::string text = table.getString(key);
  if (text.empty()) {
    return logparse::Severity::kUnknown;
  }
  auto severity = logparse::severityFromText(text);
  if (!severity) {
    return bad(key, "unknown severity '" + text + "'");
  }
  return *severity;
}

Status pipelineFromTable(const config::OptionTable& table, PipelineConfig& p,
                         const BadOption& bad) {
  auto format = logparse::formatFromName(table.getString("parse.format"));
  if (!format) {
    return bad("parse.format", format.status().message());
  }
  p.parser.format = *format;
  p.parser.regex = table.getString("parse.regex");
  if (p.parser.format == logparse::Format::kRegex && p.parser.regex.empty()) {
    return bad("parse.regex", "format regex needs parse.regex");
  }
  p.parser.time_formats = table.getStringList("parse.time_formats");
  p.parser.time_keys = table.getStringList("parse.time_keys");
  p.parser.level_keys = table.getStringList("parse.level_keys");
  FL_ASSIGN_OR_RETURN(p.source_formats, globRules(table, "parse.sources", bad));

  p.multiline_mode = table.getString("multiline.mode");
  p.multiline.start_regex = table.getString("multiline.start_regex");
  FL_ASSIGN_OR_RETURN(p.source_multiline, globRules(table, "multiline.sources", bad));
  p.multiline_flush = toMillis(table.getDuration("multiline.flush_timeout"));
  if (p.multiline_flush.count() < 10) {
    return bad("multiline.flush_timeout", "must be at least 10ms");
  }
  std::int64_t max_lines = table.getInt("multiline.max_lines");
  if (max_lines < 2 || max_lines > 100000) {
    return bad("multiline.max_lines", "must be between 2 and 100000");
  }
  p.multiline.max_lines = static_cast<std::size_t>(max_lines);
  p.multiline.max_bytes = table.getByteSize("multiline.max_bytes");
  if (p.multiline.max_bytes < 1024 || p.multiline.max_bytes > (16u << 20)) {
    return bad("multiline.max_bytes", "must be between 1KiB and 16MiB");
  }

  p.redact = table.getBool("redact.enabled");
  p.redact_options.detectors = table.getStringList("redact.detectors");
  for (const std::string& item : table.getStringList("redact.custom")) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return bad("redact.custom", "expected \"NAME=RE2\", got '" + item + "'");
    }
    p.redact_options.custom.push_back({item.substr(0, eq), item.substr(eq + 1)});
  }

  FL_ASSIGN_OR_RETURN(p.min_severity, severityOption(table, "filter.min_severity", bad));
  p.drop_patterns = table.getStringList("filter.drop");
  p.keep_patterns = table.getStringList("filter.keep");
  p.drop_sources = table.getStringList("filter.drop_sources");
  std::int64_t one_in = table.getInt("filter.sample_one_in");
  if (one_in < 1 || one_in > 1000000) {
    return bad("filter.sample_one_in", "must be between 1 and 1000000");
  }
  p.sample_one_in = static_cast<std::uint32_t>(one_in);
  FL_ASSIGN_OR_RETURN(p.sample_max_severity,
                      severityOption(table, "filter.sample_max_severity", bad));
  if (p.sample_max_severity >= logparse::Severity::kError) {
    return bad("filter.sample_max_severity", "errors are never sampled; use warn or lower");
  }
  std::int64_t rate = table.getInt("filter.template_rate_limit");
  std::int64_t burst = table.getInt("filter.template_burst");
  if (rate < 0 || rate > 10000000 || burst < 0 || burst > 10000000) {
    return bad("filter.template_rate_limit", "rate and burst must be between 0 and 10000000");
  }
  p.template_rate_limit = static_cast<std::uint32_t>(rate);
  p.template_burst = static_cast<std::uint32_t>(burst);

  p.dedupe = table.getBool("reduce.dedupe");
  p.dedupe_window = toMillis(table.getDuration("reduce.dedupe_window"));
  p.templates = table.getBool("reduce.templates");
  p.aggregate_templates = table.getStringList("reduce.aggregate_templates");
  if (!p.aggregate_templates.empty() && !p.templates) {
    return bad("reduce.aggregate_templates", "needs reduce.templates = true");
  }
  FL_ASSIGN_OR_RETURN(p.aggregate_max_severity,
                      severityOption(table, "reduce.aggregate_max_severity", bad));
  if (p.aggregate_max_severity > logparse::Severity::kWarn) {
    return bad("reduce.aggregate_max_severity", "errors are never folded; use warn or lower");
  }
  return Status::ok();
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
      {"parse.format", OptionType::String, "auto",
       "Default line format: auto, plain, json, logfmt, syslog, nginx_access, nginx_error, "
       "apache_error, docker, cri or regex."},
      {"parse.sources", OptionType::StringList, "",
       "Per-source formats as \"GLOB=FORMAT\" (first match wins), e.g. "
       "\"/var/log/nginx/*.log=nginx_access\"."},
      {"parse.regex", OptionType::String, "",
       "RE2 pattern for format regex; named groups time, level, message, others become "
       "attributes."},
      {"parse.time_formats", OptionType::StringList, "",
       "Extra timestamp layouts (%Y %m %d %H %M %S %f %b %z %s), tried first."},
      {"parse.time_keys", OptionType::StringList, "", "JSON/logfmt keys holding the time."},
      {"parse.level_keys", OptionType::StringList, "", "JSON/logfmt keys holding the level."},
      {"multiline.mode", OptionType::String, "off",
       "Join stack traces and continuation lines: off, auto (java+python+go), java, python, "
       "go or regex."},
      {"multiline.sources", OptionType::StringList, "",
       "Per-source multiline modes as \"GLOB=MODE\"."},
      {"multiline.start_regex", OptionType::String, "",
       "Mode regex: lines matching this RE2 pattern start a new event."},
      {"multiline.flush_timeout", OptionType::Duration, "1s",
       "An open event is sent after this long without a new line."},
      {"multiline.max_lines", OptionType::Int, "500", "Longest event in lines."},
      {"multiline.max_bytes", OptionType::ByteSize, "256KiB", "Longest event in bytes."},
      {"redact.enabled", OptionType::Bool, "true",
       "Replace secrets and personal data before anything is spooled or sent."},
      {"redact.detectors", OptionType::StringList, "",
       "Built-in detectors to use (empty = all): bearer, jwt, cloud_key, url_password, "
       "password, private_key, email, card."},
      {"redact.custom", OptionType::StringList, "",
       "Custom patterns as \"NAME=RE2\"; group 1 is replaced when present."},
      {"filter.min_severity", OptionType::String, "",
       "Drop lines below this severity (trace, debug, info, notice, warn, error, critical); "
       "lines without a severity are kept."},
      {"filter.drop", OptionType::StringList, "", "Drop lines matching any of these RE2 patterns."},
      {"filter.keep", OptionType::StringList, "",
       "When set, keep only lines matching one of these RE2 patterns."},
      {"filter.drop_sources", OptionType::StringList, "", "Drop every line of sources matching these globs."},
      {"filter.sample_one_in", OptionType::Int, "1",
       "Keep 1 of every N lines per template at or below filter.sample_max_severity."},
      {"filter.sample_max_severity", OptionType::String, "info",
       "Highest severity that sampling touches."},
      {"filter.template_rate_limit", OptionType::Int, "0",
       "Most lines per second per template (0 = unlimited)."},
      {"filter.template_burst", OptionType::Int, "0",
       "Bucket size of the per-template rate limit (default: the rate)."},
      {"reduce.dedupe", OptionType::Bool, "true",
       "Collapse identical lines of a source within the window into one record with a count."},
      {"reduce.dedupe_window", OptionType::Duration, "10s",
       "Dedupe window (bounded by the batch: batch.max_age)."},
      {"reduce.templates", OptionType::Bool, "true",
       "Mine templates and send lines as template id + parameters (lossless)."},
      {"reduce.aggregate_templates", OptionType::StringList, "",
       "Templates (text or 16-hex-digit id) whose low-severity lines are folded into counts."},
      {"reduce.aggregate_max_severity", OptionType::String, "debug",
       "Highest severity folded (at most warn: errors are never folded)."},
      {"metrics.listen", OptionType::String, "",
       "host:port for the local Prometheus endpoint (GET /metrics), e.g. 127.0.0.1:2021; "
       "empty = off."},
      {"heartbeat.interval", OptionType::Duration, "30s",
       "How often the agent reports its metrics to the aggregator."},
  });
}

Result<AgentConfig> agentConfigFromTable(const config::OptionTable& table,
                                         const std::string& source) {
  AgentConfig out;
  BadOption bad = [&](const std::string& key, const std::string& why) {
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
  FL_RETURN_IF_ERROR(pipelineFromTable(table, out.pipeline, bad));
  out.metrics_listen = table.getString("metrics.listen");
  if (!out.metrics_listen.empty() && out.metrics_listen.rfind(':') == std::string::npos) {
    return bad("metrics.listen", "expected host:port, got '" + out.metrics_listen + "'");
  }
  out.heartbeat_interval = toMillis(table.getDuration("heartbeat.interval"));
  if (out.heartbeat_interval.count() < 1000) {
    return bad("heartbeat.interval", "must be at least 1s");
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
