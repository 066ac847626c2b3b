#include <doctest/doctest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "agent/config/agent_config.h"
#include "agent/status/status_file.h"
#include "shared/util/fs.h"
#include "shared/util/time.h"
#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using faultline::testing::TempDir;

namespace {
Result<AgentConfig> loadText(const TempDir& tmp, const std::string& text) {
  std::string path = fs::join(tmp.path(), "agent.toml");
  REQUIRE(fs::writeFileAtomic(path, text).isOk());
  config::OptionTable table = makeAgentOptionTable();
  return loadAgentConfig(table, path);
}
}  // namespace

TEST_CASE("config defaults and a full valid file") {
  config::OptionTable table = makeAgentOptionTable();
  auto defaults = agentConfigFromTable(table);
  REQUIRE(defaults.isOk());
  CHECK(defaults->state_dir == "/var/lib/faultline-agent");
  CHECK(defaults->batch_max_bytes == (1u << 20));
  CHECK(defaults->batch_max_age == std::chrono::milliseconds(1000));
  CHECK(defaults->spool_max_bytes == (256ULL << 20));
  CHECK(defaults->server_timeout == std::chrono::milliseconds(30'000));
  CHECK_FALSE(defaults->start_at_beginning);
  CHECK(table.helpText().find("spool.max_bytes") != std::string::npos);

  TempDir tmp;
  auto cfg = loadText(tmp, R"(
[agent]
state_dir = "/tmp/x"
log_level = "debug"
[server]
url = "https://agg.example.com"
timeout = "5s"
[inputs]
paths = ["/var/log/*.log", "/srv/app/log"]
start_at = "beginning"
[batch]
max_bytes = "256KiB"
max_age = "250ms"
compression_level = 3
[spool]
max_bytes = "64MiB"
[retry]
initial_backoff = "100ms"
max_backoff = "10s"
)");
  REQUIRE(cfg.isOk());
  CHECK(cfg->paths.size() == 2);
  CHECK(cfg->start_at_beginning);
  CHECK(cfg->batch_max_bytes == 256u * 1024);
  CHECK(cfg->batch_max_age == std::chrono::milliseconds(250));
  CHECK(cfg->compression_level == 3);
  CHECK(cfg->retry_max_backoff == std::chrono::milliseconds(10'000));
}

TEST_CASE("config errors name the file and line") {
  TempDir tmp;
  auto unknown = loadText(tmp, "[inputs]\npaths = [\"/a\"]\n\n[batch]\nmax_bites = 5\n");
  REQUIRE_FALSE(unknown.isOk());
  CHECK(unknown.status().message().find("agent.toml:5") != std::string::npos);
  CHECK(unknown.status().message().find("batch.max_bites") != std::string::npos);

  auto duration = loadText(tmp, "[batch]\nmax_age = \"soon\"\n");
  REQUIRE_FALSE(duration.isOk());
  CHECK(duration.status().message().find("agent.toml:2") != std::string::npos);
  CHECK(duration.status().message().find("invalid duration") != std::string::npos);

  auto start_at = loadText(tmp, "# comment\n[inputs]\nstart_at = \"middle\"\n");
  REQUIRE_FALSE(start_at.isOk());
  CHECK(start_at.status().message().find("agent.toml:3: inputs.start_at") != std::string::npos);

  auto level = loadText(tmp, "[batch]\ncompression_level = 99\n");
  REQUIRE_FALSE(level.isOk());
  CHECK(level.status().message().find("agent.toml:2") != std::string::npos);

  auto relative = loadText(tmp, "[inputs]\npaths = [\"logs/*.log\"]\n");
  CHECK_FALSE(relative.isOk());
  auto url = loadText(tmp, "[server]\nurl = \"agg:80\"\n");
  CHECK_FALSE(url.isOk());
  auto syntax = loadText(tmp, "[batch\n");
  REQUIRE_FALSE(syntax.isOk());
  CHECK(syntax.status().message().find("agent.toml:1") != std::string::npos);
}

TEST_CASE("status.json is written atomically and summarised, live and stale") {
  TempDir tmp;
  StatusSnapshot s;
  s.pid = static_cast<int>(::getpid());
  s.started_unix_ns = nowUnixNanos() - 5'000'000'000;
  s.updated_unix_ns = nowUnixNanos();
  s.agent_id = "agt_x";
  s.tenant = "acme";
  s.server_url = "http://127.0.0.1:1";
  s.epoch = 5;
  s.next_seq = 12;
  tail::FileStatus file;
  file.path = "/var/log/app.log";
  file.size = 5000;
  file.read_offset = 4000;
  file.committed_offset = 3000;
  s.files.push_back(file);
  s.metrics.spool_batches = 3;
  s.metrics.spool_bytes = 3 * 1024 * 1024;
  s.metrics.paused_spool_full = true;
  s.metrics.last_ack_seq = 8;
  s.metrics.last_ack_unix_ns = nowUnixNanos();
  s.metrics.send_errors = 2;
  s.metrics.last_send_error = "HTTP 503: busy";
  s.metrics.lines_read = 1234;
  REQUIRE(writeStatusFile(tmp.path(), s).isOk());
  auto text = fs::readFile(fs::join(tmp.path(), kStatusFile));
  REQUIRE(text.isOk());
  nlohmann::json doc = nlohmann::json::parse(*text);
  CHECK(doc["pid"] == s.pid);
  CHECK(doc["files"][0]["committed_offset"] == 3000);
  CHECK(doc["spool"]["paused_spool_full"] == true);

  auto summary = formatStatus(*text, nowUnixNanos());
  REQUIRE(summary.isOk());
  CAPTURE(*summary);
  CHECK(summary->find("agent: running") != std::string::npos);
  CHECK(summary->find("/var/log/app.log") != std::string::npos);
  CHECK(summary->find("size 5000  read 4000  committed 3000") != std::string::npos);
  CHECK(summary->find("3 batches, 3.0 MiB  paused: spool full") != std::string::npos);
  CHECK(summary->find("last ack: seq 8") != std::string::npos);
  CHECK(summary->find("send errors: 2 (last: HTTP 503: busy)") != std::string::npos);
  CHECK(summary->find("read: 1234 lines") != std::string::npos);

  auto stale = formatStatus(*text, nowUnixNanos() + 60'000'000'000);
  REQUIRE(stale.isOk());
  CHECK(stale->find("STALE") != std::string::npos);

  // A pid that cannot exist: the agent died without a clean shutdown.
  s.pid = 0x3ffffff0;
  REQUIRE(writeStatusFile(tmp.path(), s).isOk());
  auto dead = formatStatus(fs::readFile(fs::join(tmp.path(), kStatusFile)).value(), nowUnixNanos());
  CHECK(dead->find("NOT RUNNING") != std::string::npos);

  s.state = "stopped";
  REQUIRE(writeStatusFile(tmp.path(), s).isOk());
  auto stopped =
      formatStatus(fs::readFile(fs::join(tmp.path(), kStatusFile)).value(), nowUnixNanos());
  CHECK(stopped->find("not running (stopped cleanly") != std::string::npos);

  CHECK(formatStatus("{}", nowUnixNanos()).code() == Errc::InvalidArgument);
  CHECK(formatStatus("nonsense", nowUnixNanos()).code() == Errc::InvalidArgument);
}
