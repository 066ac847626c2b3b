// Serves GET /hello on 127.0.0.1:<port> until SIGINT/SIGTERM, for load tests:
//   http_hello 8088 [worker_threads] & wrk -t2 -c50 -d5s http://127.0.0.1:8088/hello
// With a PEM certificate and key it serves HTTPS instead:
//   http_hello 8443 4 cert.pem key.pem & wrk -t2 -c50 -d5s https://127.0.0.1:8443/hello
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "aggregator/http/server.h"
#include "aggregator/http/tls_context.h"

namespace http = faultline::aggregator::http;

namespace {
struct App {
  http::Server* server = nullptr;
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
};

void onSignal(uv_signal_t* handle, int /*signum*/) noexcept {
  auto* app = static_cast<App*>(handle->data);
  app->server->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sigterm), nullptr);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: http_hello PORT [WORKER_THREADS [CERT_PEM KEY_PEM]]\n");
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  http::Router router;
  router.add("GET", "/hello", [](http::Request&&, http::Respond respond) {
    http::Response response;
    response.headers.emplace_back("Content-Type", "text/plain");
    response.body = "hello\n";
    respond(std::move(response));
  });
  http::ServerLimits limits;
  if (argc > 2) {
    limits.worker_threads = static_cast<unsigned>(std::atoi(argv[2]));
  }
  http::Server server(&loop, std::move(router), limits);
  faultline::Status status;
  if (argc > 4) {
    auto tls = http::TlsContext::load({argv[3], argv[4]});
    if (!tls) {
      std::fprintf(stderr, "%s\n", tls.status().toString().c_str());
      return 1;
    }
    status = server.setTls(std::move(*tls));
  }
  if (status.isOk()) {
    status = server.listen("127.0.0.1", std::atoi(argv[1]));
  }
  if (!status.isOk()) {
    std::fprintf(stderr, "%s\n", status.toString().c_str());
    return 1;
  }
  App app;
  app.server = &server;
  uv_signal_init(&loop, &app.sigint);
  uv_signal_init(&loop, &app.sigterm);
  app.sigint.data = &app;
  app.sigterm.data = &app;
  uv_signal_start(&app.sigint, onSignal, SIGINT);
  uv_signal_start(&app.sigterm, onSignal, SIGTERM);
  std::printf("listening on %s://127.0.0.1:%d\n", server.tlsEnabled() ? "https" : "http",
              server.port());
  std::fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  auto stats = server.stats();
  std::printf("requests=%llu connections=%llu tls_handshake_failures=%llu\n",
              static_cast<unsigned long long>(stats.requests),
              static_cast<unsigned long long>(stats.connections_accepted),
              static_cast<unsigned long long>(stats.tls_handshake_failures));
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}
