#include "aggregator/serve/serve.h"

#include <uv.h>

#include <csignal>
#include <string>

#include "aggregator/admin/admin.h"
#include "aggregator/http/server.h"
#include "aggregator/ingest/agent_api.h"
#include "aggregator/store/store_url.h"
#include "shared/util/log.h"

namespace faultline::aggregator::serve {
namespace {

struct Signals {
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  http::Server* server = nullptr;
  bool stopping = false;
};

void onSignal(uv_signal_t* handle, int signum) noexcept {
  auto* signals = static_cast<Signals*>(handle->data);
  if (signals->stopping) {
    return;
  }
  signals->stopping = true;
  log::info("serve",
            std::string("received ") + (signum == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
  signals->server->close();
  // The handles live in run()'s frame, which outlives the loop: nothing to free on close.
  uv_close(reinterpret_cast<uv_handle_t*>(&signals->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&signals->sigterm), nullptr);
}

Status uvStatus(int rc, const std::string& what) {
  return internalError(what + ": " + uv_strerror(rc));
}

}  // namespace

Status run(const config::AggregatorConfig& config, std::FILE* out) {
  FL_ASSIGN_OR_RETURN(auto store, admin::openStore(config));
  ingest::AgentApiOptions api_options;
  api_options.batch_limits = config.batch_limits;
  ingest::AgentApi api(*store, api_options);

  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) {
    return uvStatus(rc, "create event loop");
  }
  Status result;
  {
    http::Server server(&loop, ingest::buildRouter(api), config.server_limits);
    Status listening = server.listen(config.listen_host, config.listen_port);
    if (!listening.isOk()) {
      server.close();
      uv_run(&loop, UV_RUN_DEFAULT);
      result = listening.withContext("listen on " + config.listen_host + ":" +
                                     std::to_string(config.listen_port));
    } else {
      Signals signals;
      signals.server = &server;
      uv_signal_init(&loop, &signals.sigint);
      uv_signal_init(&loop, &signals.sigterm);
      signals.sigint.data = &signals;
      signals.sigterm.data = &signals;
      uv_signal_start(&signals.sigint, &onSignal, SIGINT);
      uv_signal_start(&signals.sigterm, &onSignal, SIGTERM);

      bool v6 = config.listen_host.find(':') != std::string::npos;
      std::string host = v6 ? "[" + config.listen_host + "]" : config.listen_host;
      std::fprintf(out, "faultline-aggregator listening on http://%s:%d\n", host.c_str(),
                   server.port());
      std::fflush(out);
      log::info("serve", "store " + store::describeStoreLocation(config.store));
      uv_run(&loop, UV_RUN_DEFAULT);
    }
  }
  // Close anything still open (there should be nothing) so that uv_loop_close succeeds.
  uv_walk(
      &loop,
      [](uv_handle_t* handle, void*) {
        if (uv_is_closing(handle) == 0) {
          uv_close(handle, nullptr);
        }
      },
      nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&loop);
  if (rc != 0 && result.isOk()) {
    result = uvStatus(rc, "close event loop");
  }
  log::info("serve", "stopped");
  return result;
}

}  // namespace faultline::aggregator::serve
