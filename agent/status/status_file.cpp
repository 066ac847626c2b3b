#include "agent/status/status_file.h"

#include "shared/redact/redactor.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "shared/util/c_deleter.h"
#include "shared/util/fs.h"
#include "shared/util/time.h"

namespace faultline::agent {

std::string statusToJson(const StatusSnapshot& s) {
  nlohmann::json files = nlohmann::json::array();
  for (const tail::FileStatus& f : s.files) {
    files.push_back({{"stream", f.stream},
                     {"source", f.source},
                     {"path", f.path},
                     {"size", f.size},
                     {"read_offset", f.read_offset},
                     {"committed_offset", f.committed_offset},
                     {"rotated", f.rotated}});
  }
  const AgentMetrics& m = s.metrics;
  nlohmann::json doc = {
      {"pid", s.pid},
      {"state", s.state},
      {"started_at", formatRfc3339Millis(s.started_unix_ns)},
      {"updated_at", formatRfc3339Millis(s.updated_unix_ns)},
      {"updated_unix_ns", s.updated_unix_ns},
      {"version", s.version},
      {"agent_id", s.agent_id},
      {"tenant", s.tenant},
      {"server", s.server_url},
      {"epoch", s.epoch},
      {"next_seq", s.next_seq},
      {"files", files},
      {"spool",
       {{"batches", m.spool_batches},
        {"bytes", m.spool_bytes},
        {"paused_spool_full", m.paused_spool_full}}},
      {"sender",
       {{"backing_off", s.sender_backing_off},
        {"unauthorized", m.unauthorized},
        {"last_ack_seq", m.last_ack_seq},
        {"last_ack_at", m.last_ack_unix_ns == 0 ? "" : formatRfc3339Millis(m.last_ack_unix_ns)},
        {"send_errors", m.send_errors},
        {"last_error", m.last_send_error},
        {"batches_sent", m.batches_sent},
        {"batches_acked", m.batches_acked},
        {"duplicate_acks", m.duplicate_acks},
        {"batches_rejected", m.batches_rejected}}},
      {"counters",
       {{"lines_read", m.lines_read},
        {"bytes_read", m.bytes_read},
        {"batches_sealed", m.batches_sealed},
        {"lines_spooled", m.lines_spooled},
        {"bytes_compressed", m.bytes_compressed},
        {"lines_sent", m.lines_sent},
        {"bytes_sent", m.bytes_sent},
        {"spool_write_errors", m.spool_write_errors},
        {"checkpoint_errors", m.checkpoint_errors},
        {"config_reloads", m.config_reloads},
        {"config_reload_errors", m.config_reload_errors}}},
  };
  const PipelineMetrics& p = m.pipeline;
  nlohmann::json redactions = nlohmann::json::object();
  for (std::size_t k = 0; k < p.redactions.size(); ++k) {
    redactions[std::string(redact::kindName(static_cast<redact::Kind>(k)))] = p.redactions[k];
  }
  doc["pipeline"] = {
      {"lines_in", p.lines_in},
      {"bytes_in", p.bytes_in},
      {"events", p.events},
      {"multiline_joined", p.multiline_joined},
      {"parsed_structured", p.parsed_structured},
      {"with_timestamp", p.with_timestamp},
      {"with_severity", p.with_severity},
      {"lines_redacted", p.lines_redacted},
      {"redactions", redactions},
      {"dropped",
       {{"severity", p.dropped_severity},
        {"pattern", p.dropped_pattern},
        {"source", p.dropped_source},
        {"sampled", p.dropped_sampled},
        {"rate_limited", p.dropped_rate_limited}}},
      {"deduped", p.deduped},
      {"aggregated", p.aggregated},
      {"records", p.records},
      {"templated", p.templated},
      {"templates_sent", p.templates_sent},
      {"templates_known", p.templates_known},
      {"miner_bytes", p.miner_bytes},
  };
  return doc.dump(2) + "\n";
}

Status writeStatusFile(const std::string& state_dir, const StatusSnapshot& snapshot) {
  std::string path = fs::join(state_dir, kStatusFile);
  std::string tmp = path + ".tmp";
  std::string data = statusToJson(snapshot);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return unavailable("create " + tmp + ": " + std::strerror(errno));
  }
  std::string_view rest = data;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return unavailable("write " + tmp + ": " + std::strerror(errno));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return unavailable("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::ok();
}

bool processAlive(int pid) {
  if (pid <= 0) {
    return false;
  }
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

namespace {
std::string humanBytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

template <typename T>
T get(const nlohmann::json& obj, const char* key, T fallback) {
  if (!obj.is_object()) {
    return fallback;
  }
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return fallback;
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}
}  // namespace

Result<std::string> formatStatus(const std::string& json_text, std::int64_t now_unix_ns) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("pid") || !doc.contains("updated_unix_ns")) {
    return invalidArgument("status file is not an agent status document");
  }
  int pid = get<int>(doc, "pid", 0);
  std::string state = get<std::string>(doc, "state", "?");
  std::int64_t updated = get<std::int64_t>(doc, "updated_unix_ns", 0);
  double age_s = static_cast<double>(now_unix_ns - updated) / 1e9;
  bool alive = processAlive(pid);
  std::string out;
  char buf[256];
  if (state == "running" && alive && now_unix_ns - updated <= kStatusStaleNs) {
    std::snprintf(buf, sizeof(buf), "agent: running (pid %d, status updated %.1fs ago)\n", pid,
                  age_s);
  } else if (state == "running" && alive) {
    std::snprintf(buf, sizeof(buf),
                  "agent: STALE (pid %d exists but status not updated for %.0fs: hung?)\n", pid,
                  age_s);
  } else if (state == "running") {
    std::snprintf(buf, sizeof(buf),
                  "agent: NOT RUNNING (pid %d is gone; it did not shut down cleanly, last "
                  "status %.0fs ago)\n",
                  pid, age_s);
  } else {
    std::snprintf(buf, sizeof(buf), "agent: not running (stopped cleanly %.0fs ago, pid was %d)\n",
                  age_s, pid);
  }
  out += buf;
  out += "agent id: " + get<std::string>(doc, "agent_id", "?") +
         "  tenant: " + get<std::string>(doc, "tenant", "?") +
         "  server: " + get<std::string>(doc, "server", "?") + "\n";
  out += "epoch: " + std::to_string(get<std::uint64_t>(doc, "epoch", 0)) +
         "  next seq: " + std::to_string(get<std::uint64_t>(doc, "next_seq", 0)) + "\n";
  const nlohmann::json files = doc.value("files", nlohmann::json::array());
  out += "files (" + std::to_string(files.size()) + "):\n";
  for (const nlohmann::json& f : files) {
    std::uint64_t size = get<std::uint64_t>(f, "size", 0);
    std::uint64_t read = get<std::uint64_t>(f, "read_offset", 0);
    std::uint64_t committed = get<std::uint64_t>(f, "committed_offset", 0);
    out += "  " + get<std::string>(f, "path", "?") +
           (get<bool>(f, "rotated", false) ? " (rotated)" : "") + "\n";
    out += "    size " + std::to_string(size) + "  read " + std::to_string(read) + "  committed " +
           std::to_string(committed) + "  unread " + std::to_string(size > read ? size - read : 0) +
           "\n";
  }
  const nlohmann::json spool = doc.value("spool", nlohmann::json::object());
  out += "spool: " + std::to_string(get<std::uint64_t>(spool, "batches", 0)) + " batches, " +
         humanBytes(get<std::uint64_t>(spool, "bytes", 0)) +
         (get<bool>(spool, "paused_spool_full", false) ? "  paused: spool full" : "") + "\n";
  const nlohmann::json sender = doc.value("sender", nlohmann::json::object());
  std::string last_ack_at = get<std::string>(sender, "last_ack_at", "");
  out += "last ack: " +
         (last_ack_at.empty()
              ? std::string("none")
              : "seq " + std::to_string(get<std::uint64_t>(sender, "last_ack_seq", 0)) + " at " +
                    last_ack_at) +
         "\n";
  out += "send errors: " + std::to_string(get<std::uint64_t>(sender, "send_errors", 0));
  std::string last_error = get<std::string>(sender, "last_error", "");
  if (!last_error.empty()) {
    out += " (last: " + last_error + ")";
  }
  out += "\n";
  if (get<bool>(sender, "unauthorized", false)) {
    out += "sending: STOPPED, the aggregator refuses this agent's credentials\n";
  } else if (get<bool>(sender, "backing_off", false)) {
    out += "sending: backing off after errors\n";
  }
  out += "rejected batches: " + std::to_string(get<std::uint64_t>(sender, "batches_rejected", 0)) +
         "\n";
  const nlohmann::json c = doc.value("counters", nlohmann::json::object());
  out += "read: " + std::to_string(get<std::uint64_t>(c, "lines_read", 0)) + " lines, " +
         humanBytes(get<std::uint64_t>(c, "bytes_read", 0)) + "\n";
  out += "sent: " + std::to_string(get<std::uint64_t>(c, "lines_sent", 0)) + " lines, " +
         humanBytes(get<std::uint64_t>(c, "bytes_sent", 0)) + " (" +
         std::to_string(get<std::uint64_t>(sender, "batches_acked", 0)) + " batches acked)\n";
  out += "sealed: " + std::to_string(get<std::uint64_t>(c, "batches_sealed", 0)) + " batches, " +
         humanBytes(get<std::uint64_t>(c, "bytes_compressed", 0)) + " compressed\n";
  const nlohmann::json p = doc.value("pipeline", nlohmann::json::object());
  if (!p.empty()) {
    const nlohmann::json d = p.value("dropped", nlohmann::json::object());
    auto n = [](const nlohmann::json& j, const char* key) {
      return std::to_string(get<std::uint64_t>(j, key, 0));
    };
    out += "processed: " + n(p, "events") + " events (" + n(p, "multiline_joined") +
           " lines joined), " + n(p, "parsed_structured") + " structured, " +
           n(p, "lines_redacted") + " redacted\n";
    out += "dropped: severity " + n(d, "severity") + ", pattern " + n(d, "pattern") +
           ", source " + n(d, "source") + ", sampled " + n(d, "sampled") + ", rate-limited " +
           n(d, "rate_limited") + "\n";
    out += "reduced: " + n(p, "deduped") + " deduped, " + n(p, "aggregated") +
           " aggregated; " + n(p, "records") + " records (" + n(p, "templated") +
           " as templates), " + n(p, "templates_known") + " templates known\n";
  }
  return out;
}

}  // namespace faultline::agent
