#include "agent/status/metrics_server.h"

#include <netinet/in.h>

#include <cstring>
#include <set>
#include <string_view>

#include "shared/logparse/severity.h"
#include "shared/redact/redactor.h"

namespace faultline::agent {
namespace {
constexpr std::size_t kMaxRequestBytes = 8 * 1024;
constexpr std::uint64_t kRequestTimeoutMs = 5000;

void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " counter\n";
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void gauge(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " gauge\n";
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

// Label values escape backslash, quote and newline (text format 0.0.4).
std::string labelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

std::string prometheusText(const StatusSnapshot& s) {
  const AgentMetrics& m = s.metrics;
  const PipelineMetrics& p = m.pipeline;
  std::string out;
  out.reserve(8192);
  gauge(out, "faultline_agent_up", "1 while the agent runs.", s.state == "running" ? 1 : 0);
  counter(out, "faultline_agent_lines_read_total", "Lines read from files.", p.lines_in);
  counter(out, "faultline_agent_bytes_read_total", "Bytes read from files (without newlines).",
          p.bytes_in);
  counter(out, "faultline_agent_events_total", "Events after multiline joining.", p.events);
  counter(out, "faultline_agent_multiline_joined_lines_total",
          "Lines appended to the event before them.", p.multiline_joined);
  counter(out, "faultline_agent_lines_parsed_total", "Events a structured parser recognised.",
          p.parsed_structured);
  counter(out, "faultline_agent_lines_redacted_total", "Events with at least one redaction.",
          p.lines_redacted);
  out += "# HELP faultline_agent_redactions_total Redactions by detector.\n"
         "# TYPE faultline_agent_redactions_total counter\n";
  for (std::size_t k = 0; k < p.redactions.size(); ++k) {
    out += "faultline_agent_redactions_total{kind=\"";
    out += redact::kindName(static_cast<redact::Kind>(k));
    out += "\"} " + std::to_string(p.redactions[k]) + "\n";
  }
  out += "# HELP faultline_agent_dropped_total Events dropped, by reason.\n"
         "# TYPE faultline_agent_dropped_total counter\n";
  const std::pair<const char*, std::uint64_t> drops[] = {
      {"severity", p.dropped_severity}, {"pattern", p.dropped_pattern},
      {"source", p.dropped_source},     {"sampled", p.dropped_sampled},
      {"rate_limited", p.dropped_rate_limited}};
  for (const auto& [reason, value] : drops) {
    out += "faultline_agent_dropped_total{reason=\"";
    out += reason;
    out += "\"} " + std::to_string(value) + "\n";
  }
  counter(out, "faultline_agent_deduped_total", "Events folded into an identical record's count.",
          p.deduped);
  counter(out, "faultline_agent_aggregated_total", "Events folded into aggregate counts.",
          p.aggregated);
  counter(out, "faultline_agent_records_total", "Records added to batches.", p.records);
  counter(out, "faultline_agent_records_templated_total",
          "Records sent as template id and parameters.", p.templated);
  counter(out, "faultline_agent_templates_sent_total", "Template texts shipped.", p.templates_sent);
  gauge(out, "faultline_agent_templates", "Templates the miner holds.", p.templates_known);
  gauge(out, "faultline_agent_miner_bytes", "Approximate memory of the template miner.",
        p.miner_bytes);
  counter(out, "faultline_agent_batches_sealed_total", "Batches written to the spool.",
          m.batches_sealed);
  counter(out, "faultline_agent_spooled_bytes_total",
          "Compressed bytes written to the spool (what goes on the wire).", m.bytes_compressed);
  counter(out, "faultline_agent_batches_acked_total", "Batches the aggregator acknowledged.",
          m.batches_acked);
  counter(out, "faultline_agent_lines_sent_total", "Records in acknowledged batches.",
          m.lines_sent);
  counter(out, "faultline_agent_send_errors_total", "Failed sends (retried).", m.send_errors);
  counter(out, "faultline_agent_batches_rejected_total", "Batches the aggregator refused.",
          m.batches_rejected);
  counter(out, "faultline_agent_spool_write_errors_total", "Failed spool writes (retried).",
          m.spool_write_errors);
  counter(out, "faultline_agent_heartbeats_total", "Heartbeats the aggregator accepted.",
          m.heartbeats_sent);
  counter(out, "faultline_agent_heartbeat_errors_total", "Heartbeats that failed.",
          m.heartbeat_errors);
  counter(out, "faultline_agent_config_reloads_total", "Successful config reloads.",
          m.config_reloads);
  counter(out, "faultline_agent_config_reload_errors_total", "Refused config reloads.",
          m.config_reload_errors);
  gauge(out, "faultline_agent_spool_batches", "Batches waiting in the spool.", m.spool_batches);
  gauge(out, "faultline_agent_spool_bytes", "Bytes waiting in the spool.", m.spool_bytes);
  gauge(out, "faultline_agent_spool_full", "1 while reading is paused because the spool is full.",
        m.paused_spool_full ? 1 : 0);
  out += "# HELP faultline_agent_file_lag_bytes Bytes of a file not yet read.\n"
         "# TYPE faultline_agent_file_lag_bytes gauge\n";
  for (const tail::FileStatus& f : s.files) {
    std::uint64_t lag = f.size > f.read_offset ? f.size - f.read_offset : 0;
    out += "faultline_agent_file_lag_bytes{path=\"" + labelValue(f.path) + "\"} " +
           std::to_string(lag) + "\n";
  }
  out += "# HELP faultline_agent_file_uncommitted_bytes Bytes read but not yet checkpointed.\n"
         "# TYPE faultline_agent_file_uncommitted_bytes gauge\n";
  for (const tail::FileStatus& f : s.files) {
    std::uint64_t pending =
        f.read_offset > f.committed_offset ? f.read_offset - f.committed_offset : 0;
    out += "faultline_agent_file_uncommitted_bytes{path=\"" + labelValue(f.path) + "\"} " +
           std::to_string(pending) + "\n";
  }
  return out;
}

struct MetricsServer::State {
  struct Conn {
    uv_tcp_t tcp{};
    uv_timer_t timer{};
    State* server = nullptr;
    std::string request;
    std::string response;
    uv_write_t write{};
    int open_handles = 0;
    bool closing = false;
  };

  uv_loop_t* loop = nullptr;
  uv_tcp_t listener{};
  Render render;
  std::string address;
  std::set<Conn*> conns;
  bool stopping = false;
  bool listener_closed = false;

  void maybeFree() {
    if (stopping && listener_closed && conns.empty()) {
      delete this;
    }
  }

  static void closeConn(Conn* c) {
    if (c->closing) {
      return;
    }
    c->closing = true;
    auto on_close = [](uv_handle_t* h) noexcept {
      auto* conn = static_cast<Conn*>(h->data);
      if (--conn->open_handles == 0) {
        State* st = conn->server;
        st->conns.erase(conn);
        delete conn;
        st->maybeFree();
      }
    };
    uv_timer_stop(&c->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_close);
  }

  void respond(Conn* c) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    std::string_view req(c->request);
    bool metrics = req.rfind("GET /metrics ", 0) == 0 || req.rfind("GET /metrics?", 0) == 0;
    std::string body = metrics ? render() : std::string("not found: try GET /metrics\n");
    c->response = std::string(metrics ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n") +
                  (metrics ? "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                           : "Content-Type: text/plain; charset=utf-8\r\n") +
                  "Content-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n\r\n" + body;
    uv_buf_t buf = uv_buf_init(c->response.data(), static_cast<unsigned>(c->response.size()));
    c->write.data = c;
    int rc = uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
                      [](uv_write_t* w, int) noexcept { closeConn(static_cast<Conn*>(w->data)); });
    if (rc != 0) {
      closeConn(c);
    }
  }

  void accept() {
    auto* c = new Conn();
    c->server = this;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    conns.insert(c);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener),
                  reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      closeConn(c);
      return;
    }
    uv_timer_start(
        &c->timer, [](uv_timer_t* t) noexcept { closeConn(static_cast<Conn*>(t->data)); },
        kRequestTimeoutMs, 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t, uv_buf_t* buf) noexcept {
          static thread_local char scratch[4096];
          *buf = uv_buf_init(scratch, sizeof scratch);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
          auto* conn = static_cast<Conn*>(s->data);
          if (n < 0) {
            closeConn(conn);
            return;
          }
          conn->request.append(buf->base, static_cast<std::size_t>(n));
          if (conn->request.find("\r\n\r\n") != std::string::npos ||
              conn->request.find("\n\n") != std::string::npos) {
            conn->server->respond(conn);
          } else if (conn->request.size() > kMaxRequestBytes) {
            closeConn(conn);
          }
        });
  }
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(uv_loop_t* loop,
                                                           const std::string& listen,
                                                           Render render) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return invalidArgument("expected host:port, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return invalidArgument("bad port in '" + listen + "'");
  }
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return invalidArgument("bad address '" + host + "' (an IP address is expected)");
  }
  auto* st = new State();
  st->loop = loop;
  st->render = std::move(render);
  uv_tcp_init(loop, &st->listener);
  st->listener.data = st;
  auto fail = [st](const std::string& what, int rc) {
    st->stopping = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&st->listener), [](uv_handle_t* h) noexcept {
      auto* s = static_cast<State*>(h->data);
      s->listener_closed = true;
      s->maybeFree();
    });
    return Status(Errc::Unavailable, what + ": " + uv_strerror(rc));
  };
  if (int rc = uv_tcp_bind(&st->listener, reinterpret_cast<sockaddr*>(&addr), 0); rc != 0) {
    return fail("bind " + listen, rc);
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&st->listener), 16,
                         [](uv_stream_t* s, int status) noexcept {
                           if (status == 0) {
                             static_cast<State*>(s->data)->accept();
                           }
                         });
      rc != 0) {
    return fail("listen " + listen, rc);
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&st->listener, reinterpret_cast<sockaddr*>(&bound), &len);
  char ip[64] = {0};
  int bound_port = 0;
  if (bound.ss_family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&bound);
    uv_ip6_name(a6, ip, sizeof ip);
    bound_port = ntohs(a6->sin6_port);
    st->address = std::string("[") + ip + "]:" + std::to_string(bound_port);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&bound);
    uv_ip4_name(a4, ip, sizeof ip);
    bound_port = ntohs(a4->sin_port);
    st->address = std::string(ip) + ":" + std::to_string(bound_port);
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(st));
}

MetricsServer::~MetricsServer() {
  State* st = state_;
  st->stopping = true;
  for (State::Conn* c : std::set<State::Conn*>(st->conns)) {
    State::closeConn(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&st->listener), [](uv_handle_t* h) noexcept {
    auto* s = static_cast<State*>(h->data);
    s->listener_closed = true;
    s->maybeFree();
  });
}

std::string MetricsServer::address() const {
  return state_->address;
}

}  // namespace faultline::agent
