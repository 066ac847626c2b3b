// faultline-aggregator: CLI wiring only.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "aggregator/admin/admin.h"
#include "aggregator/audit/store_audit_recorder.h"
#include "aggregator/config/aggregator_config.h"
#include "aggregator/graph/graph_admin.h"
#include "aggregator/knowledge/runbook_folder.h"
#include "aggregator/serve/serve.h"
#include "shared/config/option_table.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"
#include "shared/util/memory.h"
#include "shared/util/time.h"

namespace {

using namespace faultline;
using faultline::aggregator::config::AggregatorConfig;

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
// `admin audit verify` only: 1 means the chain is broken, so "could not check" needs its own.
constexpr int kExitAuditUnchecked = 3;

struct CommonFlags {
  std::string config_file;
  std::string listen;
  std::string data_dir;
  std::string store_url;
};

int fail(const Status& status) {
  std::cerr << "faultline-aggregator: " << status.message() << '\n';
  return status.code() == Errc::InvalidArgument ? kExitUsage : kExitRuntime;
}

/// Defaults, then the config file, then flags.
Result<AggregatorConfig> loadConfig(const CommonFlags& flags) {
  config::OptionTable table(aggregator::config::aggregatorOptions());
  if (!flags.config_file.empty()) {
    Status loaded = table.loadFile(flags.config_file);
    if (!loaded.isOk()) {
      return invalidArgument(loaded.message());
    }
  }
  if (!flags.listen.empty()) {
    FL_RETURN_IF_ERROR(table.set("server.listen", flags.listen));
  }
  if (!flags.data_dir.empty()) {
    FL_RETURN_IF_ERROR(table.set("server.data_dir", flags.data_dir));
  }
  if (!flags.store_url.empty()) {
    FL_RETURN_IF_ERROR(table.set("store.url", flags.store_url));
  }
  FL_ASSIGN_OR_RETURN(AggregatorConfig resolved, aggregator::config::resolveConfig(table));
  log::setLevel(resolved.log_level);
  log::setFormat(resolved.log_format);
  return resolved;
}

Status writeStdout(std::string_view chunk) {
  if (std::fwrite(chunk.data(), 1, chunk.size(), stdout) != chunk.size()) {
    return Status(Errc::Unavailable, "write to stdout failed");
  }
  return Status::ok();
}

/// Stored batches were accepted under some earlier config; reading them back must not fail
/// because a limit was lowered since.
wire::Limits exportLimits(const wire::Limits& configured) {
  wire::Limits limits = configured;
  wire::Limits defaults;
  limits.max_compressed_bytes = std::max(limits.max_compressed_bytes, std::size_t{1} << 32);
  limits.max_decompressed_bytes = std::max(limits.max_decompressed_bytes, std::size_t{1} << 32);
  limits.max_records = std::max(limits.max_records, std::size_t{1} << 26);
  limits.max_sources = std::max(limits.max_sources, defaults.max_sources);
  limits.max_params = std::max(limits.max_params, std::size_t{1} << 28);
  limits.max_columns = std::max(limits.max_columns, defaults.max_columns);
  limits.max_expanded_lines = std::max(limits.max_expanded_lines, std::uint64_t{1} << 36);
  return limits;
}

}  // namespace

int main(int argc, char** argv) {
  faultline::tuneAllocatorForBatches();
  CLI::App app{"Faultline aggregator: receives agent log batches and stores them per tenant"};
  app.name("faultline-aggregator");
  app.require_subcommand(1);
  app.fallthrough();
  bool help_config = false;
  app.add_flag("--help-config", help_config, "print every config option and exit");

  CommonFlags flags;
  auto addCommon = [&](CLI::App* command, bool with_listen) {
    command->add_option("--config", flags.config_file, "TOML config file")
        ->check(CLI::ExistingFile);
    command->add_option("--data-dir", flags.data_dir, "data directory (server.data_dir)");
    command->add_option("--store", flags.store_url,
                        "store URL: sqlite:///PATH or postgres://USER@HOST:PORT/DB (store.url)");
    if (with_listen) {
      command->add_option("--listen", flags.listen, "HOST:PORT (server.listen)");
    }
  };

  CLI::App* serve = app.add_subcommand("serve", "run the aggregator");
  addCommon(serve, true);

  CLI::App* admin = app.add_subcommand("admin", "manage tenants, tokens, agents and logs");
  admin->require_subcommand(1);
  addCommon(admin, false);

  CLI::App* tenant = admin->add_subcommand("tenant", "tenants")->require_subcommand(1);
  CLI::App* tenant_create = tenant->add_subcommand("create", "create a tenant; prints its id");
  std::string tenant_name;
  tenant_create->add_option("NAME", tenant_name, "[a-z0-9][a-z0-9-]{0,62}")->required();

  CLI::App* token = admin->add_subcommand("enrollment-token", "agent enrollment tokens");
  token->require_subcommand(1);
  CLI::App* token_create = token->add_subcommand("create", "create a one-time token; prints it");
  std::string token_tenant;
  std::string token_ttl = "24h";
  token_create->add_option("--tenant", token_tenant, "tenant name")->required();
  token_create->add_option("--ttl", token_ttl, "validity, e.g. 15m, 24h, 7d")
      ->capture_default_str();

  CLI::App* logs = admin->add_subcommand("logs", "stored logs")->require_subcommand(1);
  CLI::App* logs_export = logs->add_subcommand("export", "write a tenant's lines to stdout");
  std::string export_tenant;
  std::optional<std::string> export_source;
  std::optional<std::string> export_since;
  std::optional<std::string> export_until;
  logs_export->add_option("--tenant", export_tenant, "tenant name")->required();
  logs_export->add_option("--source", export_source, "fnmatch glob on the source path");
  logs_export->add_option("--since", export_since, "records at or after (RFC 3339, date, unix s)");
  logs_export->add_option("--until", export_until, "records before (RFC 3339, date, unix s)");

  CLI::App* incidents_cmd =
      admin->add_subcommand("incidents", "incidents and their causes")->require_subcommand(1);
  CLI::App* incidents_list = incidents_cmd->add_subcommand("list", "list a tenant's incidents");
  std::string incidents_tenant;
  std::string incidents_status;
  incidents_list->add_option("--tenant", incidents_tenant, "tenant name")->required();
  incidents_list->add_option("--status", incidents_status,
                             "triggered, acknowledged, resolved, closed or merged");
  CLI::App* incidents_show =
      incidents_cmd->add_subcommand("show", "one incident: RCA ranking, event chain, timeline");
  std::string incident_id;
  incidents_show->add_option("ID", incident_id, "incident id")->required();
  incidents_show->add_option("--tenant", incidents_tenant, "tenant name")->required();
  CLI::App* agents = admin->add_subcommand("agents", "enrolled agents")->require_subcommand(1);
  CLI::App* agents_list = agents->add_subcommand("list", "list a tenant's agents");
  std::string agents_tenant;
  agents_list->add_option("--tenant", agents_tenant, "tenant name")->required();

  CLI::App* user = admin->add_subcommand("user", "users and memberships")->require_subcommand(1);
  CLI::App* user_create = user->add_subcommand(
      "create", "make a user a tenant member (password: one line on stdin); prints the user id");
  std::string user_tenant;
  std::string user_email;
  std::string user_role;
  user_create->add_option("--tenant", user_tenant, "tenant name")->required();
  user_create->add_option("--email", user_email, "e-mail address")->required();
  user_create->add_option("--role", user_role, "owner, admin, responder or viewer")->required();

  CLI::App* api_key = admin->add_subcommand("api-key", "API keys")->require_subcommand(1);
  CLI::App* api_key_create =
      api_key->add_subcommand("create", "create an API key; prints it once, nothing else");
  std::string key_tenant;
  std::string key_role;
  std::string key_name = "admin-cli";
  std::optional<std::string> key_ttl;
  api_key_create->add_option("--tenant", key_tenant, "tenant name")->required();
  api_key_create->add_option("--role", key_role, "owner, admin, responder, viewer, integration")
      ->required();
  api_key_create->add_option("--ttl", key_ttl, "validity, e.g. 30d (default: no expiry)");
  api_key_create->add_option("--name", key_name, "a label")->capture_default_str();
  CLI::App* audit = admin->add_subcommand("audit", "the tamper-evident audit log");
  audit->require_subcommand(1);
  CLI::App* audit_verify = audit->add_subcommand(
      "verify",
      "check a tenant's audit chain; exit 0 intact, 1 broken, 2 usage, 3 could not check");
  std::string audit_tenant;
  bool audit_system = false;
  audit_verify->add_option("--tenant", audit_tenant, "tenant name");
  audit_verify->add_flag("--system", audit_system, "the system chain (events of no one tenant)");
  CLI::App* audit_export =
      audit->add_subcommand("export", "write a tenant's audit entries to stdout");
  audit_export->add_option("--tenant", audit_tenant, "tenant name");
  audit_export->add_flag("--system", audit_system, "the system chain (events of no one tenant)");
  std::optional<std::string> audit_since;
  std::string audit_format = "jsonl";
  audit_export->add_option("--since", audit_since, "entries at or after (RFC 3339, date, unix s)");
  audit_export->add_option("--format", audit_format, "jsonl or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();

  CLI::App* integration =
      admin->add_subcommand("integration", "webhook integrations")->require_subcommand(1);
  CLI::App* integration_create = integration->add_subcommand(
      "create", "create an integration; prints its receiver path with the key, once");
  std::string integration_tenant;
  aggregator::events::IntegrationRequest integration_request;
  std::string integration_mapping_file;
  integration_create->add_option("--tenant", integration_tenant, "tenant name")->required();
  integration_create
      ->add_option("--kind", integration_request.kind,
                   "alertmanager, grafana, pagerduty, datadog, cloudwatch or generic")
      ->required();
  integration_create->add_option("--name", integration_request.name, "a label (default: kind)");
  integration_create->add_option("--mapping", integration_mapping_file,
                                 "generic only: a JSON file of JSON pointers (title required)");
  integration_create->add_option("--rps", integration_request.rps, "rate limit, requests/s");
  integration_create->add_option("--burst", integration_request.burst, "rate limit burst");
  CLI::App* integration_list = integration->add_subcommand("list", "list a tenant's integrations");
  integration_list->add_option("--tenant", integration_tenant, "tenant name")->required();
  CLI::App* integration_revoke =
      integration->add_subcommand("revoke", "revoke an integration; its key stops working");
  std::string integration_id;
  integration_revoke->add_option("--tenant", integration_tenant, "tenant name")->required();
  integration_revoke->add_option("id", integration_id, "integration id (int_...)")->required();
  CLI::App* graph = admin->add_subcommand("graph", "the service graph")->require_subcommand(1);
  CLI::App* graph_import = graph->add_subcommand(
      "import", "import a service graph file (JSON or TOML) as one new graph version");
  std::string graph_tenant;
  std::string graph_mode = "merge";
  std::string graph_file;
  graph_import->add_option("--tenant", graph_tenant, "tenant name")->required();
  graph_import->add_option("--mode", graph_mode, "merge (default) or replace")
      ->check(CLI::IsMember({"merge", "replace"}));
  graph_import->add_option("file", graph_file, "a .json or .toml file (else sniffed)")->required();

  CLI::App* runbooks = admin->add_subcommand("runbooks", "runbooks")->require_subcommand(1);
  CLI::App* runbooks_sync = runbooks->add_subcommand(
      "sync", "read a folder of Markdown runbooks into a tenant's knowledge base once");
  std::string runbooks_tenant;
  std::string runbooks_dir;
  runbooks_sync->add_option("--tenant", runbooks_tenant, "tenant name")->required();
  runbooks_sync->add_option("--dir", runbooks_dir, "the folder (*.md files, subfolders too)")
      ->required();

  // --help-config must work without a subcommand.
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help-config") {
      config::OptionTable table(aggregator::config::aggregatorOptions());
      std::cout << table.helpText();
      return 0;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, std::cout, std::cerr);
    return code == 0 ? 0 : kExitUsage;
  }

  try {
    auto config = loadConfig(flags);
    if (!config) {
      std::cerr << "faultline-aggregator: config: " << config.status().message() << '\n';
      return kExitUsage;
    }
    if (serve->parsed()) {
      Status status = aggregator::serve::run(*config, stdout);
      return status.isOk() ? 0 : fail(status);
    }

    if ((audit_verify->parsed() || audit_export->parsed()) &&
        audit_tenant.empty() == !audit_system) {
      std::cerr << "faultline-aggregator: give exactly one of --tenant NAME and --system\n";
      return kExitUsage;
    }
    auto store = aggregator::admin::openStore(*config);
    if (!store) {
      int code = fail(store.status());
      return audit_verify->parsed() ? kExitAuditUnchecked : code;
    }
    aggregator::audit::StoreAuditRecorder recorder(**store);
    if (audit_verify->parsed()) {
      auto verified = aggregator::admin::verifyAudit(**store, audit_tenant);
      if (!verified) {
        fail(verified.status());
        return kExitAuditUnchecked;
      }
      if (!verified->intact) {
        std::cout << "audit chain broken at seq " << verified->broken_at_seq << ": "
                  << verified->reason << std::endl;
        return 1;
      }
      std::cout << "audit chain intact: " << verified->entries << " entries, head "
                << verified->head_hash << std::endl;
      return 0;
    }
    if (audit_export->parsed()) {
      std::int64_t since_ns = INT64_MIN;
      if (audit_since) {
        auto since = parseTimestamp(*audit_since);
        if (!since) {
          return fail(invalidArgument("--since: " + since.status().message()));
        }
        since_ns = *since;
      }
      Status exported = aggregator::admin::exportAudit(**store, audit_tenant, since_ns,
                                                       audit_format == "csv"
                                                           ? aggregator::audit::ExportFormat::Csv
                                                           : aggregator::audit::ExportFormat::Jsonl,
                                                       &writeStdout);
      if (std::fflush(stdout) != 0 && exported.isOk()) {
        return fail(Status(Errc::Unavailable, "write to stdout failed"));
      }
      return exported.isOk() ? 0 : fail(exported);
    }
    if (tenant_create->parsed()) {
      auto created = aggregator::admin::createTenant(**store, recorder, tenant_name);
      if (!created) {
        return fail(created.status());
      }
      std::cout << created->id << std::endl;
      return 0;
    }
    if (token_create->parsed()) {
      auto ttl = parseDuration(token_ttl);
      if (!ttl) {
        return fail(invalidArgument("--ttl: " + ttl.status().message()));
      }
      auto created =
          aggregator::admin::createEnrollmentToken(**store, recorder, token_tenant, *ttl);
      if (!created) {
        return fail(created.status());
      }
      std::cout << *created << std::endl;
      return 0;
    }
    if (logs_export->parsed()) {
      aggregator::admin::ExportFilter filter;
      filter.source_glob = export_source;
      if (export_since) {
        auto since = parseTimestamp(*export_since);
        if (!since) {
          return fail(invalidArgument("--since: " + since.status().message()));
        }
        filter.since_ns = *since;
      }
      if (export_until) {
        auto until = parseTimestamp(*export_until);
        if (!until) {
          return fail(invalidArgument("--until: " + until.status().message()));
        }
        filter.until_ns = *until;
      }
      auto exported = aggregator::admin::exportLogs(
          **store, export_tenant, filter, exportLimits(config->batch_limits), &writeStdout);
      if (std::fflush(stdout) != 0 && exported) {
        return fail(Status(Errc::Unavailable, "write to stdout failed"));
      }
      if (!exported) {
        return fail(exported.status());
      }
      if (exported->aggregates > 0) {
        std::cerr << "faultline-aggregator: " << exported->aggregates
                  << " aggregate records (standing for " << exported->aggregated_lines
                  << " lines the agents counted instead of sending) were not printed\n";
      }
      return 0;
    }
    if (incidents_list->parsed() || incidents_show->parsed()) {
      auto text =
          incidents_list->parsed()
              ? aggregator::admin::listIncidents(**store, incidents_tenant, incidents_status)
              : aggregator::admin::showIncident(**store, incidents_tenant, incident_id);
      if (!text) {
        return fail(text.status());
      }
      std::cout << *text << std::flush;
      return 0;
    }
    if (agents_list->parsed()) {
      auto listed = aggregator::admin::listAgents(**store, agents_tenant);
      if (!listed) {
        return fail(listed.status());
      }
      std::cout << *listed << std::flush;
      return 0;
    }
    if (user_create->parsed()) {
      std::string password;
      if (!std::getline(std::cin, password)) {
        return fail(invalidArgument("read the password from standard input: nothing there"));
      }
      if (!password.empty() && password.back() == '\r') {
        password.pop_back();
      }
      aggregator::auth::PasswordHashing hashing;
      hashing.mem_limit = config->auth.password_memory;
      hashing.ops_limit = config->auth.password_passes;
      aggregator::auth::PasswordHasher passwords(hashing);
      auto created = aggregator::admin::createUser(**store, recorder, passwords, user_tenant,
                                                   user_email, user_role, password);
      if (!created) {
        return fail(created.status());
      }
      std::cout << created->user_id << std::endl;
      return 0;
    }
    if (api_key_create->parsed()) {
      std::optional<std::chrono::nanoseconds> ttl;
      if (key_ttl) {
        auto parsed = parseDuration(*key_ttl);
        if (!parsed) {
          return fail(invalidArgument("--ttl: " + parsed.status().message()));
        }
        ttl = *parsed;
      }
      auto created =
          aggregator::admin::createApiKey(**store, recorder, key_tenant, key_role, ttl, key_name);
      if (!created) {
        return fail(created.status());
      }
      std::cout << created->secret << std::endl;
      return 0;
    }
    if (integration_create->parsed()) {
      if (!integration_mapping_file.empty()) {
        auto mapping = fs::readFile(integration_mapping_file, aggregator::events::kMaxMappingBytes);
        if (!mapping) {
          return fail(invalidArgument("--mapping: " + mapping.status().message()));
        }
        integration_request.mapping_json = std::move(*mapping);
      }
      auto created = aggregator::admin::createIntegration(**store, recorder, integration_tenant,
                                                          integration_request);
      if (!created) {
        return fail(created.status());
      }
      std::cerr << "integration " << created->integration.id << " (" << created->integration.kind
                << "): the key is shown only now\n";
      std::cout << created->hook_path << std::endl;
      return 0;
    }
    if (integration_list->parsed()) {
      auto listed = aggregator::admin::listIntegrations(**store, integration_tenant);
      if (!listed) {
        return fail(listed.status());
      }
      std::cout << *listed << std::flush;
      return 0;
    }
    if (integration_revoke->parsed()) {
      Status revoked = aggregator::admin::revokeIntegration(**store, recorder, integration_tenant,
                                                            integration_id);
      return revoked.isOk() ? 0 : fail(revoked);
    }
    if (graph_import->parsed()) {
      auto text = fs::readFile(graph_file, aggregator::graph::kMaxGraphImportBytes);
      if (!text) {
        return fail(invalidArgument(graph_file + ": " + text.status().message()));
      }
      auto imported = aggregator::graph::importGraphFile(
          **store, recorder, graph_tenant, *text,
          aggregator::graph::graphFileFormatForPath(graph_file, *text), graph_mode == "replace",
          aggregator::admin::kAdminActor, nowUnixNanos());
      if (!imported) {
        return fail(imported.status().withContext(graph_file));
      }
      std::cout << "version " << imported->version << (imported->changed ? "" : " (unchanged)")
                << std::endl;
      return 0;
    }
    if (runbooks_sync->parsed()) {
      auto embeddings = aggregator::serve::makeKnowledgeEmbeddings(*config);  // null when off
      if (!embeddings) {
        return fail(embeddings.status());
      }
      auto runbooks_owner = (*store)->findTenantByName(runbooks_tenant);
      if (!runbooks_owner) {
        return fail(runbooks_owner.status());
      }
      auto report = aggregator::knowledge::syncRunbookFolder(
          **store, recorder, runbooks_owner->id, runbooks_dir, aggregator::admin::kAdminActor,
          nowUnixNanos(), embeddings->get());
      if (!report) {
        return fail(report.status());
      }
      std::cout << report->files << " files: " << report->added << " added, " << report->updated
                << " updated, " << report->unchanged << " unchanged, " << report->removed
                << " removed, " << report->failures.size() << " failed" << std::endl;
      for (const std::string& failure : report->failures) {
        std::cerr << "faultline-aggregator: " << failure << '\n';
      }
      return report->failures.empty() ? 0 : 1;
    }
    std::cerr << "faultline-aggregator: no command given (try --help)\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "faultline-aggregator: " << e.what() << '\n';
    return kExitRuntime;
  }
}
