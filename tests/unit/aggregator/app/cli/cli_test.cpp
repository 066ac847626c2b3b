// The real faultline-aggregator binary: serve on port 0, enroll and ingest over a real socket,
// export with the admin command while the server runs, stop with SIGTERM.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "shared/util/c_deleter.h"
#include "tests/unit/aggregator/app/test_support.h"

using namespace faultline;
using namespace faultline::aggregator::testing;

namespace {

const std::string kBinary = FAULTLINE_AGGREGATOR_BIN;

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

/// Runs a shell command, capturing stdout (stderr goes to the test log).
CommandResult runCommand(const std::string& command) {
  CommandResult result;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    result.out.append(buffer, got);
  }
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
};

/// One HTTP/1.1 request on a fresh connection (Connection: close), read to EOF.
HttpReply httpPost(int port, const std::string& path,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  UniqueFd owner(fd);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) {
    request += name + ": " + value + "\r\n";
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    response.append(buffer, static_cast<std::size_t>(n));
  }
  HttpReply reply;
  std::size_t end = response.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  reply.head = response.substr(0, end);
  reply.body = response.substr(end + 4);
  REQUIRE(reply.head.size() > 12);
  reply.status = std::stoi(reply.head.substr(9, 3));
  return reply;
}

/// A running `serve` child; SIGTERM on destruction if the test did not stop it.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& data_dir) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      ::execl(kBinary.c_str(), kBinary.c_str(), "serve", "--listen", "127.0.0.1:0", "--data-dir",
              data_dir.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = ::fdopen(out[0], "r");
    REQUIRE(stdout_ != nullptr);
    char line[256] = {};
    REQUIRE(std::fgets(line, sizeof line, stdout_) != nullptr);
    std::string text = trimmed(line);
    const std::string prefix = "faultline-aggregator listening on http://127.0.0.1:";
    REQUIRE_MESSAGE(text.rfind(prefix, 0) == 0, text);
    port_ = std::stoi(text.substr(prefix.size()));
    REQUIRE(port_ > 0);
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ != nullptr) {
      std::fclose(stdout_);
    }
  }
  int port() const { return port_; }
  /// SIGTERM, then the exit code.
  int stop() {
    REQUIRE(::kill(pid_, SIGTERM) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  std::FILE* stdout_ = nullptr;
  int port_ = 0;
};

}  // namespace

TEST_CASE("cli: serve, enroll, ingest, export while serving, and stop on SIGTERM") {
  TempDir dir;
  const std::string common = " --data-dir " + dir.path();
  CommandResult tenant = runCommand(kBinary + " admin tenant create acme" + common);
  REQUIRE(tenant.exit_code == 0);
  CHECK(trimmed(tenant.out).rfind("tnt_", 0) == 0);
  CHECK(tenant.out.find('\n') == tenant.out.size() - 1);
  CHECK(runCommand(kBinary + " admin tenant create acme" + common + " 2>/dev/null").exit_code == 1);
  CHECK(runCommand(kBinary + " admin tenant create NOPE" + common + " 2>/dev/null").exit_code == 2);
  CommandResult token =
      runCommand(kBinary + " admin enrollment-token create --tenant acme --ttl 10m" + common);
  REQUIRE(token.exit_code == 0);
  std::string token_text = trimmed(token.out);
  CHECK(token_text.rfind("fet_", 0) == 0);

  ServeProcess server(dir.path());
  HttpReply enrolled = httpPost(server.port(), "/v1/agents/enroll",
                                {{"Content-Type", "application/json"}}, enrollBody(token_text));
  REQUIRE_MESSAGE(enrolled.status == 201, enrolled.body);
  auto identity = nlohmann::json::parse(enrolled.body);
  std::string agent_id = identity["agent_id"].get<std::string>();
  std::string secret = identity["secret"].get<std::string>();

  const std::string binary_line("caf\xc3\xa9 \xff\r", 8);
  std::string batch = makeBatch(agent_id, 1, 1,
                                {{"/var/log/app.log", 1, "one"},
                                 {"/var/log/app.log", 2, binary_line},
                                 {"/var/log/app.log", 3, ""},
                                 {"/var/log/other.log", 4, "tail", true}});
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer " + secret},
      {"Content-Type", std::string(wire::kBatchContentType)},
      {"Content-Encoding", "zstd"}};
  HttpReply ack = httpPost(server.port(), "/v1/ingest", headers, batch);
  REQUIRE_MESSAGE(ack.status == 200, ack.body);
  CHECK(ack.body == R"({"agent":")" + agent_id + R"(","epoch":1,"seq":1,"records":4})");
  HttpReply again = httpPost(server.port(), "/v1/ingest", headers, batch);
  CHECK(again.status == 200);
  CHECK(again.body == ack.body);
  CHECK(again.head.find("Faultline-Duplicate: true") != std::string::npos);

  CommandResult exported = runCommand(kBinary + " admin logs export --tenant acme" + common);
  CHECK(exported.exit_code == 0);
  CHECK(exported.out == "one\n" + binary_line + "\n\ntail");
  CommandResult filtered =
      runCommand(kBinary + " admin logs export --tenant acme --source '*/app.log'" + common);
  CHECK(filtered.out == "one\n" + binary_line + "\n\n");
  CommandResult agents = runCommand(kBinary + " admin agents list --tenant acme" + common);
  CHECK(agents.exit_code == 0);
  CHECK(agents.out.find(agent_id) != std::string::npos);
  CHECK(agents.out.find("\t1\t4\t-\t-\n") != std::string::npos);

  CHECK(server.stop() == 0);
  // Acked data survives the restart.
  CHECK(runCommand(kBinary + " admin logs export --tenant acme" + common).out == exported.out);
}

TEST_CASE("cli: bad flags, config and listen address fail with exit code 2") {
  TempDir dir;
  CHECK(runCommand(kBinary + " 2>/dev/null").exit_code == 2);
  CHECK(runCommand(kBinary + " serve --no-such-flag 2>/dev/null").exit_code == 2);
  CHECK(runCommand(kBinary + " serve --listen nonsense --data-dir " + dir.path() + " 2>/dev/null")
            .exit_code == 2);
  std::string config = dir.file("bad.toml");
  {
    std::FILE* file = std::fopen(config.c_str(), "w");
    REQUIRE(file != nullptr);
    std::fputs("[server]\nlisen = \"127.0.0.1:0\"\n", file);
    std::fclose(file);
  }
  CommandResult bad_config = runCommand(kBinary + " serve --config " + config + " 2>&1");
  CHECK(bad_config.exit_code == 2);
  CHECK(bad_config.out.find("lisen") != std::string::npos);
  CommandResult help = runCommand(kBinary + " --help-config");
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("limits.max_decompressed_bytes") != std::string::npos);
  CHECK(runCommand(kBinary + " admin enrollment-token create --tenant ghost --data-dir " +
                   dir.path() + " 2>/dev/null")
            .exit_code == 1);
  CHECK(runCommand(kBinary + " admin enrollment-token create --tenant ghost --ttl 0s --data-dir " +
                   dir.path() + " 2>/dev/null")
            .exit_code == 2);
}
