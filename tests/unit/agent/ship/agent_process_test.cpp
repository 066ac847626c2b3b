// The real faultline-agent binary against the in-test HTTP peer: SIGKILL in the middle of a
// stream, restart, SIGTERM; the peer (deduplicating on seq like the aggregator) must end up
// with the file byte for byte, nothing lost, nothing twice.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>

#include "agent/enroll/identity.h"
#include "shared/util/fs.h"
#include "shared/util/time.h"
#include "shared/wire/batch.h"
#include "tests/unit/agent/ship/test_http_server.h"
#include "tests/unit/agent/ship/test_util.h"

using namespace faultline;
using namespace faultline::agent;
using faultline::testing::TempDir;
using faultline::testing::TestHttpServer;
using faultline::testing::TestRequest;
using faultline::testing::TestResponse;

namespace {
/// What an idempotent aggregator keeps: each (epoch, seq) once.
// The aggregator's part: keeps each batch once and renders the lines the way export does,
// templates resolved through every batch's texts (a text may arrive in an earlier batch).
struct Collected {
  std::mutex mu;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> batches;  // payload per batch
  int duplicates = 0;

  TestResponse handle(const TestRequest& req) {
    auto batch = wire::decodeBatch(req.body);
    if (!batch) {
      return {400, {}, R"({"error":{"code":"bad_batch","message":"undecodable"}})"};
    }
    const auto& h = (*batch)->header;
    bool dup = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto key = std::make_pair(h.epoch, h.seq);
      dup = batches.count(key) != 0;
      if (dup) {
        ++duplicates;
      } else {
        batches[key] = req.body;
      }
    }
    TestResponse resp{200,
                      {},
                      R"({"agent":")" + h.agent + R"(","epoch":)" + std::to_string(h.epoch) +
                          R"(,"seq":)" + std::to_string(h.seq) + R"(,"records":)" +
                          std::to_string((*batch)->records.size()) + "}"};
    if (dup) {
      resp.headers.emplace_back("Faultline-Duplicate", "true");
    }
    return resp;
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::unique_ptr<wire::DecodedBatch>> decoded;
    std::map<std::uint64_t, std::string> dictionary;
    for (const auto& [key, payload] : batches) {
      auto batch = wire::decodeBatch(payload);
      REQUIRE(batch.isOk());
      for (const wire::Template& t : (*batch)->templates) {
        dictionary[t.id] = std::string(t.text);
      }
      decoded.push_back(std::move(batch).value());
    }
    wire::TemplateLookup lookup = [&](std::uint64_t id) -> std::optional<std::string_view> {
      auto it = dictionary.find(id);
      return it == dictionary.end() ? std::nullopt : std::optional<std::string_view>(it->second);
    };
    std::string out;
    for (const auto& batch : decoded) {
      for (const wire::Record& r : batch->records) {
        if (r.kind == wire::RecordKind::Aggregate) {
          continue;
        }
        std::string line;
        if (!wire::renderRecordLine(*batch, r, lookup, line).isOk()) {
          continue;  // its template's text is in a batch that has not arrived yet
        }
        for (std::uint64_t i = 0; i < r.count; ++i) {
          out += line;
          if (!r.no_newline) {
            out.push_back('\n');
          }
        }
      }
    }
    return out;
  }
};

pid_t spawnAgent(const std::vector<std::string>& args, const std::string& log_path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* log = std::freopen(log_path.c_str(), "a", stderr);
    (void)log;
    std::vector<char*> argv;
    std::string binary = FAULTLINE_AGENT_BINARY;
    argv.push_back(binary.data());
    for (const std::string& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

int waitExit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

void appendLines(const std::string& path, int from, int to) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  for (int i = from; i < to; ++i) {
    out << "line " << i << " payload=" << std::string(static_cast<std::size_t>(i % 97), 'x')
        << "\n";
  }
}

bool waitFor(const std::function<bool()>& done, int timeout_ms) {
  std::int64_t deadline = monotonicNanos() + std::int64_t{timeout_ms} * 1'000'000;
  while (!done()) {
    if (monotonicNanos() > deadline) {
      return false;
    }
    ::usleep(10'000);
  }
  return true;
}
}  // namespace

TEST_CASE("agent process: SIGKILL mid-stream and restart lose and duplicate nothing") {
  TempDir tmp;
  Collected collected;
  TestHttpServer server([&](const TestRequest& req) { return collected.handle(req); });
  std::string state = fs::join(tmp.path(), "state");
  Identity identity{server.url(), "agt_e2e", "fas_e2e", "acme", "t1", "2026-01-01T00:00:00Z"};
  REQUIRE(saveIdentity(state, identity).isOk());
  std::string log_file = fs::join(tmp.path(), "app.log");
  std::string config = fs::join(tmp.path(), "agent.toml");
  REQUIRE(fs::writeFileAtomic(config,
                              "[inputs]\nstart_at = \"beginning\"\nscan_interval = \"50ms\"\n"
                              "[batch]\nmax_bytes = \"16KiB\"\nmax_age = \"50ms\"\n"
                              "[retry]\ninitial_backoff = \"50ms\"\nmax_backoff = \"200ms\"\n")
              .isOk());
  std::string agent_log = fs::join(tmp.path(), "agent.stderr");
  std::vector<std::string> args = {
      "run", "--config", config, "--state-dir", state, "--path", fs::join(tmp.path(), "*.log")};
  appendLines(log_file, 0, 20'000);

  pid_t pid = spawnAgent(args, agent_log);
  REQUIRE(pid > 0);
  // Kill it hard while it is in the middle of the stream.
  REQUIRE(waitFor([&] { return collected.text().size() > 200'000; }, 20'000));
  appendLines(log_file, 20'000, 25'000);
  ::kill(pid, SIGKILL);
  waitExit(pid);

  pid = spawnAgent(args, agent_log);
  appendLines(log_file, 25'000, 30'000);
  std::string expected = fs::readFile(log_file).value();
  REQUIRE(waitFor([&] { return collected.text().size() >= expected.size(); }, 30'000));
  // The status command sees the running agent.
  REQUIRE(waitFor([&] { return fs::readFile(fs::join(state, "status.json")).isOk(); }, 5000));
  ::kill(pid, SIGTERM);
  int status = waitExit(pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::string got = collected.text();
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
  auto status_json = fs::readFile(fs::join(state, "status.json"));
  REQUIRE(status_json.isOk());
  CHECK(status_json->find("\"state\": \"stopped\"") != std::string::npos);
  if (got != expected) {
    std::string log = fs::readFile(agent_log).value();
    MESSAGE(log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  }
}

TEST_CASE("agent process: run without an identity and check-config fail clearly") {
  TempDir tmp;
  std::string out = fs::join(tmp.path(), "stderr");
  pid_t pid = spawnAgent({"run", "--state-dir", tmp.path(), "--path", "/tmp/none-*.log"}, out);
  int status = waitExit(pid);
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(fs::readFile(out).value().find("not enrolled") != std::string::npos);

  std::string bad = fs::join(tmp.path(), "bad.toml");
  REQUIRE(fs::writeFileAtomic(bad, "[spool]\nmax_bytez = 1\n").isOk());
  pid = spawnAgent({"check-config", "--config", bad}, out);
  status = waitExit(pid);
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(fs::readFile(out).value().find("bad.toml:2") != std::string::npos);
}
