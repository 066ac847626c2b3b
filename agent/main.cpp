// faultline-agent: enroll | run | check-config | status | templates. CLI wiring only.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "agent/config/agent_config.h"
#include "agent/enroll/enroll.h"
#include "agent/enroll/identity.h"
#include "agent/pipeline/agent_runner.h"
#include "agent/status/status_file.h"
#include "shared/logtemplate/templates_tool.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"
#include "shared/util/memory.h"
#include "shared/util/time.h"

using namespace faultline;
using namespace faultline::agent;

namespace {
int fail(const Status& status) {
  std::cerr << "faultline-agent: " << status.message() << "\n";
  return 1;
}

std::string hostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) {
    return "unknown";
  }
  return buf;
}

// Config file, then flags on top.
Result<AgentConfig> buildConfig(const std::string& config_file, const std::string& state_dir,
                                const std::vector<std::string>& paths) {
  config::OptionTable table = makeAgentOptionTable();
  if (!config_file.empty()) {
    FL_RETURN_IF_ERROR(table.loadFile(config_file));
  }
  if (!state_dir.empty()) {
    FL_RETURN_IF_ERROR(table.set("agent.state_dir", state_dir));
  }
  for (const std::string& path : paths) {
    FL_RETURN_IF_ERROR(table.append("inputs.paths", path));
  }
  return agentConfigFromTable(table, config_file);
}
}  // namespace

int main(int argc, char** argv) {
  faultline::tuneAllocatorForAgent();
  CLI::App app{"faultline-agent: ships log files to a Faultline aggregator"};
  app.require_subcommand(1);
  bool help_config = false;
  app.add_flag("--help-config", help_config, "Print every config option and exit");

  std::string server, token, state_dir, config_file;
  bool force = false;
  auto* enroll_cmd = app.add_subcommand("enroll", "Trade an enrollment token for an identity");
  enroll_cmd->add_option("--server", server, "Aggregator URL, e.g. https://faultline:8443")
      ->required();
  enroll_cmd->add_option("--token", token, "One-time enrollment token")->required();
  enroll_cmd->add_option("--state-dir", state_dir, "State directory");
  enroll_cmd->add_option("--config", config_file, "Config file (for server.ca_file, state_dir)");
  enroll_cmd->add_flag("--force", force, "Replace an existing identity");

  std::vector<std::string> paths;
  auto* run_cmd = app.add_subcommand("run", "Tail files and ship them");
  run_cmd->add_option("--config", config_file, "Config file (TOML)");
  run_cmd->add_option("--state-dir", state_dir, "State directory");
  run_cmd->add_option("--path", paths, "A glob of files to tail (repeatable)");

  auto* check_cmd = app.add_subcommand("check-config", "Validate a config file");
  check_cmd->add_option("--config", config_file, "Config file (TOML)")->required();

  bool json = false;
  auto* status_cmd = app.add_subcommand("status", "Show what the running agent reports");
  status_cmd->add_option("--state-dir", state_dir, "State directory");
  status_cmd->add_option("--config", config_file, "Config file (for agent.state_dir)");
  status_cmd->add_flag("--json", json, "Print the raw status.json");

  std::string templates_file, loghub_csv, templates_out;
  auto* templates_cmd =
      app.add_subcommand("templates", "Show the log templates the miner finds in a file");
  templates_cmd->add_option("file", templates_file, "Log file to mine");
  templates_cmd->add_option("--loghub-csv", loghub_csv,
                            "Mine the Content column of a Loghub structured CSV instead");
  templates_cmd->add_option("--out", templates_out,
                            "With --loghub-csv: write LineId,EventTemplate rows here");

  // --help-config needs no subcommand.
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help-config") {
      std::cout << makeAgentOptionTable().helpText();
      return 0;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (*templates_cmd) {
      logtemplate::MinerOptions options;
      if (!loghub_csv.empty()) {
        if (templates_out.empty() || !templates_file.empty()) {
          std::cerr << "faultline-agent: templates --loghub-csv CSV --out PRED.csv\n";
          return 2;
        }
        auto done = logtemplate::mineLoghubCsv(loghub_csv, templates_out, options);
        if (!done) {
          return fail(done.status());
        }
        std::cout << done->lines << " lines, " << done->templates << " templates -> "
                  << templates_out << "\n";
        return 0;
      }
      if (templates_file.empty() || !templates_out.empty()) {
        std::cerr << "faultline-agent: templates FILE (or --loghub-csv CSV --out PRED.csv)\n";
        return 2;
      }
      auto done = logtemplate::printTemplates(templates_file, options, std::cout);
      return done ? 0 : fail(done.status());
    }

    if (*check_cmd) {
      auto cfg = buildConfig(config_file, "", {});
      if (!cfg) {
        return fail(cfg.status());
      }
      std::cout << "config OK\n";
      return 0;
    }

    auto cfg = buildConfig(config_file, state_dir, paths);
    if (!cfg) {
      return fail(cfg.status());
    }
    log::Level level{};
    log::parseLevel(cfg->log_level, &level);
    log::setLevel(level);

    if (*enroll_cmd) {
      EnrollRequest request;
      request.server_url = server;
      request.token = token;
      request.hostname = hostName();
      request.version = FAULTLINE_VERSION;
      request.ca_file = cfg->ca_file;
      request.timeout = cfg->server_timeout;
      auto identity = enrollAndSave(request, cfg->state_dir, force);
      if (!identity) {
        return fail(identity.status());
      }
      std::cout << "enrolled as " << identity->agent_id << " in tenant " << identity->tenant
                << "\n";
      return 0;
    }

    if (*status_cmd) {
      std::string path = fs::join(cfg->state_dir, kStatusFile);
      auto text = fs::readFile(path, 16 << 20);
      if (!text) {
        if (text.code() == Errc::NotFound) {
          std::cerr << "faultline-agent: no status at " << path
                    << ": the agent has not run with this state dir\n";
          return 3;
        }
        return fail(text.status());
      }
      if (json) {
        std::cout << *text;
        return 0;
      }
      auto summary = formatStatus(*text, nowUnixNanos());
      if (!summary) {
        return fail(summary.status().withContext(path));
      }
      std::cout << *summary;
      return summary->rfind("agent: running", 0) == 0 ? 0 : 3;
    }

    if (*run_cmd) {
      auto identity = loadIdentity(cfg->state_dir);
      if (!identity) {
        return fail(identity.status());
      }
      // SIGHUP re-reads the same sources: the file plus the command-line overrides.
      ConfigLoader reload = [config_file, state_dir, paths]() {
        return buildConfig(config_file, state_dir, paths);
      };
      Status ran = runAgent(*cfg, *identity, reload);
      if (!ran.isOk()) {
        return fail(ran);
      }
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "faultline-agent: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
