#include "agent/pipeline/agent_runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "agent/inputs/tail/offset_store.h"
#include "agent/inputs/tail/tailer.h"
#include "agent/pipeline/collector.h"
#include "agent/pipeline/processor.h"
#include "agent/pipeline/uv_timer.h"
#include "agent/ship/sender.h"
#include "agent/ship/spool.h"
#include "agent/status/metrics_server.h"
#include "agent/status/status_file.h"
#include "shared/util/c_deleter.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"
#include "shared/util/memory.h"
#include "shared/util/time.h"

namespace faultline::agent {
namespace {
constexpr std::string_view kLog = "agent";

/// Adapts the tailer to the collector's back-pressure and commit notices.
class TailerControl final : public InputControl {
 public:
  explicit TailerControl(tail::Tailer* tailer) : tailer_(tailer) {}
  void pauseInput() override { tailer_->pause(); }
  void resumeInput() override { tailer_->resume(); }
  void committed(const std::vector<tail::OffsetCheckpoint>& offsets) override {
    tailer_->markCommitted(offsets);
  }

 private:
  tail::Tailer* tailer_;
};

/// A uv_signal_t on the heap, freed by its close callback.
class UvSignal {
 public:
  UvSignal(uv_loop_t* loop, std::function<void(int)> callback)
      : state_(new State{uv_signal_t{}, std::move(callback)}) {
    uv_signal_init(loop, &state_->handle);
    state_->handle.data = state_;
  }
  ~UvSignal() {
    uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
             [](uv_handle_t* h) noexcept { delete static_cast<State*>(h->data); });
  }
  UvSignal(const UvSignal&) = delete;
  UvSignal& operator=(const UvSignal&) = delete;
  void start(int signum) {
    uv_signal_start(
        &state_->handle,
        [](uv_signal_t* h, int sig) noexcept { static_cast<State*>(h->data)->callback(sig); },
        signum);
  }

 private:
  struct State {
    uv_signal_t handle;
    std::function<void(int)> callback;
  };
  State* state_;
};
}  // namespace

struct AgentRunner::Impl {
  uv_loop_t* loop = nullptr;
  AgentConfig config;
  Identity identity;
  UniqueFd lock_fd;
  std::uint64_t epoch = 0;
  AgentMetrics metrics;
  std::unique_ptr<tail::OffsetStore> store;
  std::unique_ptr<ship::Spool> spool;
  std::unique_ptr<Collector> collector;
  std::unique_ptr<Processor> processor;
  std::unique_ptr<tail::Tailer> tailer;
  std::unique_ptr<MetricsServer> metrics_server;
  ConfigLoader reload;
  std::unique_ptr<TailerControl> control;
  std::unique_ptr<ship::Sender> sender;
  std::unique_ptr<UvTimer> status_timer;
  std::unique_ptr<UvTimer> heartbeat_timer;
  std::unique_ptr<UvTimer> idle_timer;
  std::uint64_t lines_at_last_idle_check = 0;
  bool idle_released = false;
  std::vector<std::unique_ptr<UvSignal>> signals;
  std::int64_t started_ns = 0;
  bool shutting_down = false;

  StatusSnapshot snapshot(const std::string& state) {
    StatusSnapshot s;
    s.pid = static_cast<int>(::getpid());
    s.state = state;
    s.started_unix_ns = started_ns;
    s.updated_unix_ns = nowUnixNanos();
    s.version = FAULTLINE_VERSION;
    s.agent_id = identity.agent_id;
    s.tenant = identity.tenant;
    s.server_url = config.server_url.empty() ? identity.server_url : config.server_url;
    s.epoch = epoch;
    s.next_seq = collector ? collector->nextSeq() : 0;
    s.sender_backing_off = sender ? sender->backingOff() : false;
    if (tailer) {
      s.files = tailer->fileStatus();
    }
    metrics.spool_batches = spool ? spool->count() : 0;
    metrics.spool_bytes = spool ? spool->bytes() : 0;
    if (processor) {
      metrics.lines_read = metrics.pipeline.lines_in;
      metrics.bytes_read = metrics.pipeline.bytes_in;
      metrics.pipeline.templates_known = processor->miner().clusterCount();
      metrics.pipeline.miner_bytes = processor->miner().memoryBytes();
    }
    s.metrics = metrics;
    return s;
  }

  void writeStatus(const std::string& state) {
    StatusSnapshot s = snapshot(state);
    Status written = writeStatusFile(config.state_dir, s);
    if (!written.isOk()) {
      log::warn(kLog, "status file: " + written.toString());
    }
  }
};

AgentRunner::AgentRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AgentRunner::~AgentRunner() {
  // Handles close through their own close callbacks; the collector orphans a job in flight.
  impl_->metrics_server.reset();
  impl_->sender.reset();
  impl_->tailer.reset();
  impl_->processor.reset();
  impl_->collector.reset();
}

Result<std::unique_ptr<AgentRunner>> AgentRunner::create(uv_loop_t* loop, const AgentConfig& config,
                                                         const Identity& identity,
                                                         ConfigLoader reload) {
  auto d = std::make_unique<Impl>();
  d->reload = std::move(reload);
  d->loop = loop;
  d->config = config;
  d->identity = identity;
  d->started_ns = nowUnixNanos();
  if (config.paths.empty()) {
    return invalidArgument("no files to tail: set inputs.paths in the config or pass --path GLOB");
  }
  FL_RETURN_IF_ERROR(fs::ensureDir(config.state_dir, 0700));

  // One agent per state dir: two would interleave sequence numbers and offsets.
  std::string lock_path = fs::join(config.state_dir, "agent.lock");
  d->lock_fd.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!d->lock_fd.valid()) {
    return unavailable("open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(d->lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return Status(Errc::FailedPrecondition,
                  "another faultline-agent is already running with state dir " + config.state_dir);
  }

  std::string offsets_path = fs::join(config.state_dir, "offsets.db");
  struct stat st {};
  bool fresh = ::stat(offsets_path.c_str(), &st) != 0;
  FL_ASSIGN_OR_RETURN(d->epoch, loadOrCreateEpoch(config.state_dir, fresh));
  FL_ASSIGN_OR_RETURN(d->store, tail::OffsetStore::open(offsets_path));
  FL_ASSIGN_OR_RETURN(d->spool, ship::Spool::open(fs::join(config.state_dir, "spool")));
  FL_ASSIGN_OR_RETURN(std::uint64_t checkpoint_seq, d->store->checkpointSeq());
  FL_ASSIGN_OR_RETURN(ship::SpoolRecovery recovery, d->spool->recover(checkpoint_seq));
  for (const ship::SpoolEntry& entry : recovery.reapply) {
    Status reapplied = d->store->checkpoint(entry.offsets, entry.seq);
    if (!reapplied.isOk()) {
      return reapplied.withContext("re-apply offsets of spooled batch " +
                                   std::to_string(entry.seq));
    }
  }
  log::info(kLog, "state " + config.state_dir + ": epoch " + std::to_string(d->epoch) +
                      ", checkpoint seq " + std::to_string(checkpoint_seq) + ", " +
                      std::to_string(d->spool->count()) + " batches spooled (" +
                      std::to_string(recovery.reapply.size()) + " re-applied), next seq " +
                      std::to_string(recovery.next_seq));

  CollectorOptions collector_options;
  collector_options.agent_id = identity.agent_id;
  collector_options.epoch = d->epoch;
  collector_options.batch_max_bytes = config.batch_max_bytes;
  collector_options.batch_max_age = config.batch_max_age;
  collector_options.compression_level = config.compression_level;
  collector_options.spool_max_bytes = config.spool_max_bytes;
  collector_options.dedupe_window = config.pipeline.dedupe_window;
  d->collector = std::make_unique<Collector>(loop, collector_options, d->spool.get(),
                                             d->store.get(), &d->metrics, recovery.next_seq);
  d->collector->setPipelineMetrics(&d->metrics.pipeline);
  FL_ASSIGN_OR_RETURN(d->processor, Processor::create(loop, config.pipeline, d->collector.get(),
                                                      &d->metrics.pipeline));

  tail::TailerOptions tail_options;
  tail_options.globs = config.paths;
  tail_options.start_at_beginning = config.start_at_beginning;
  tail_options.scan_interval = config.scan_interval;
  tail_options.max_line_bytes = config.max_line_bytes;
  d->tailer =
      std::make_unique<tail::Tailer>(loop, tail_options, d->store.get(), d->processor.get());
  d->control = std::make_unique<TailerControl>(d->tailer.get());
  d->collector->setInput(d->control.get());

  ship::SenderOptions sender_options;
  sender_options.server_url = config.server_url.empty() ? identity.server_url : config.server_url;
  sender_options.agent_id = identity.agent_id;
  sender_options.secret = identity.secret;
  sender_options.ca_file = config.ca_file;
  sender_options.timeout = config.server_timeout;
  sender_options.initial_backoff = config.retry_initial_backoff;
  sender_options.max_backoff = config.retry_max_backoff;
  sender_options.unauthorized_retry =
      std::max<std::chrono::milliseconds>(config.retry_max_backoff, std::chrono::seconds(60));
  sender_options.user_agent = std::string("faultline-agent/") + FAULTLINE_VERSION;
  d->sender = std::make_unique<ship::Sender>(loop, sender_options, d->spool.get(), &d->metrics);

  Collector* collector = d->collector.get();
  ship::Sender* sender = d->sender.get();
  d->collector->setOnSpooled([sender] { sender->wake(); });
  d->sender->setOnFreed([collector] { collector->onSpoolFreed(); });
  return std::unique_ptr<AgentRunner>(new AgentRunner(std::move(d)));
}

Status AgentRunner::start() {
  Impl& d = *impl_;
  FL_RETURN_IF_ERROR(d.tailer->start());
  d.sender->wake();  // whatever recovery left in the spool
  d.status_timer = std::make_unique<UvTimer>(d.loop, [&d] { d.writeStatus("running"); });
  d.status_timer->start(std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
  // Going idle after a burst: give the batch buffers and free heap back, once per idle spell.
  d.idle_timer = std::make_unique<UvTimer>(d.loop, [&d] {
    std::uint64_t lines = d.metrics.pipeline.lines_in;
    bool quiet = lines == d.lines_at_last_idle_check && d.spool->count() == 0;
    d.lines_at_last_idle_check = lines;
    if (!quiet) {
      d.idle_released = false;
      return;
    }
    if (!d.idle_released) {
      d.collector->releaseIdleMemory();
      d.tailer->releaseIdleMemory();
      releaseFreeMemory();
      d.idle_released = true;
    }
  });
  d.idle_timer->start(std::chrono::seconds(5), std::chrono::seconds(5));
  // Heartbeats carry the status document (version, files, lag, spool, pipeline counters).
  d.heartbeat_timer = std::make_unique<UvTimer>(
      d.loop, [&d] { d.sender->postHeartbeat(statusToJson(d.snapshot("running"))); });
  d.heartbeat_timer->start(std::min<std::chrono::milliseconds>(d.config.heartbeat_interval,
                                                               std::chrono::seconds(2)),
                           d.config.heartbeat_interval);
  for (int signum : {SIGTERM, SIGINT}) {
    auto handler = std::make_unique<UvSignal>(d.loop, [this](int sig) {
      log::info(kLog, std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                          ": flushing the open batch and stopping");
      shutdown();
    });
    handler->start(signum);
    d.signals.push_back(std::move(handler));
  }
  auto hup = std::make_unique<UvSignal>(d.loop, [this](int) {
    Status reloaded = reload();
    if (reloaded.isOk()) {
      log::info(kLog, "SIGHUP: config reloaded");
    } else {
      log::error(kLog, "SIGHUP: config not reloaded, the previous one stays: " +
                           reloaded.toString());
    }
  });
  hup->start(SIGHUP);
  d.signals.push_back(std::move(hup));
  if (!d.config.metrics_listen.empty()) {
    auto server = MetricsServer::start(d.loop, d.config.metrics_listen, [&d] {
      return prometheusText(d.snapshot("running"));
    });
    if (!server) {
      return server.status().withContext("metrics.listen");
    }
    d.metrics_server = std::move(*server);
    log::info(kLog, "metrics on http://" + d.metrics_server->address() + "/metrics");
  }
  log::info(kLog, "running as " + d.identity.agent_id + ", sending to " +
                      (d.config.server_url.empty() ? d.identity.server_url : d.config.server_url));
  return Status::ok();
}

void AgentRunner::shutdown(std::function<void()> done) {
  Impl& d = *impl_;
  if (d.shutting_down) {
    return;
  }
  d.shutting_down = true;
  d.tailer->pause();
  d.processor->flushAll();  // open multiline events go into the last batch
  d.collector->flush([this, done = std::move(done)] {
    Impl& i = *impl_;
    i.metrics_server.reset();
    i.tailer->stop();
    i.sender->stop();
    i.status_timer.reset();
    i.heartbeat_timer.reset();
    i.idle_timer.reset();
    i.signals.clear();
    i.writeStatus("stopped");
    log::info(kLog, "stopped: " + std::to_string(i.spool->count()) +
                        " batches remain in the spool for the next start");
    if (done) {
      done();
    }
  });
}

Status AgentRunner::reload() {
  Impl& d = *impl_;
  if (!d.reload) {
    return Status(Errc::FailedPrecondition, "no config file to reload from");
  }
  auto fresh = d.reload();
  if (!fresh) {
    ++d.metrics.config_reload_errors;
    return fresh.status();
  }
  Status applied = d.processor->reconfigure(fresh->pipeline);
  if (!applied.isOk()) {
    ++d.metrics.config_reload_errors;
    return applied;
  }
  d.tailer->setGlobs(fresh->paths);
  d.collector->setDedupeWindow(fresh->pipeline.dedupe_window);
  log::Level level{};
  if (log::parseLevel(fresh->log_level, &level)) {
    log::setLevel(level);
  }
  auto differs = [&](bool changed, const char* what) {
    if (changed) {
      log::warn(kLog, std::string(what) + " changed in the config: takes effect after a restart");
    }
  };
  differs(fresh->state_dir != d.config.state_dir, "agent.state_dir");
  differs(fresh->server_url != d.config.server_url || fresh->ca_file != d.config.ca_file,
          "server");
  differs(fresh->spool_max_bytes != d.config.spool_max_bytes, "spool.max_bytes");
  differs(fresh->batch_max_bytes != d.config.batch_max_bytes ||
              fresh->batch_max_age != d.config.batch_max_age ||
              fresh->compression_level != d.config.compression_level,
          "batch");
  differs(fresh->metrics_listen != d.config.metrics_listen, "metrics.listen");
  PipelineConfig pipeline = fresh->pipeline;
  std::vector<std::string> paths = fresh->paths;
  std::string log_level = fresh->log_level;
  d.config.pipeline = std::move(pipeline);
  d.config.paths = std::move(paths);
  d.config.log_level = std::move(log_level);
  ++d.metrics.config_reloads;
  return Status::ok();
}

Status runAgent(const AgentConfig& config, const Identity& identity, ConfigLoader reload) {
  // Writes to a closed socket must fail with EPIPE, not kill the agent.
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (int rc = uv_loop_init(&loop); rc != 0) {
    return internalError(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  Status result = Status::ok();
  {
    auto runner = AgentRunner::create(&loop, config, identity, std::move(reload));
    if (!runner) {
      result = runner.status();
    } else {
      result = (*runner)->start();
      if (result.isOk()) {
        uv_run(&loop, UV_RUN_DEFAULT);
      }
    }
  }
  // Let every closed handle run its close callback, then the loop must be empty.
  uv_run(&loop, UV_RUN_DEFAULT);
  if (int rc = uv_loop_close(&loop); rc != 0 && result.isOk()) {
    result = internalError(std::string("uv_loop_close: ") + uv_strerror(rc));
  }
  return result;
}

}  // namespace faultline::agent
