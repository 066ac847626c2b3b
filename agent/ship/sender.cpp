#include "agent/ship/sender.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_set>

#include "agent/pipeline/uv_timer.h"
#include "agent/ship/curl_util.h"
#include "shared/util/log.h"
#include "shared/util/time.h"
#include "shared/wire/batch.h"

namespace faultline::agent::ship {
namespace {
constexpr std::string_view kLog = "sender";
constexpr std::size_t kMaxResponseBytes = 64 * 1024;

bool iequalsPrefix(std::string_view text, std::string_view lower_prefix) {
  if (text.size() < lower_prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != lower_prefix[i]) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() &&
         (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n')) {
    v.remove_suffix(1);
  }
  return v;
}
}  // namespace

std::chrono::milliseconds parseRetryAfter(std::string_view value, std::int64_t now_unix_ns) {
  value = trim(value);
  if (value.empty()) {
    return std::chrono::milliseconds(-1);
  }
  std::uint64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && ptr == value.data() + value.size()) {
    seconds = std::min<std::uint64_t>(seconds, 1ULL << 31);
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds) * 1000);
  }
  std::string date(value);
  time_t when = curl_getdate(date.c_str(), nullptr);
  if (when < 0) {
    return std::chrono::milliseconds(-1);
  }
  std::int64_t delta_ms = static_cast<std::int64_t>(when) * 1000 - now_unix_ns / 1'000'000;
  return std::chrono::milliseconds(std::max<std::int64_t>(delta_ms, 0));
}

/// One POST of one spool entry.
struct Transfer {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::uint64_t records = 0;
  std::uint64_t line_bytes = 0;
  std::string payload;
  CurlEasy easy;
  CurlSlist headers;
  std::string response;
  bool response_overflow = false;
  std::string retry_after;
  bool duplicate = false;
  char errbuf[CURL_ERROR_SIZE] = {0};
};

struct Sender::Impl {
  struct SocketCtx {
    uv_poll_t poll{};
    curl_socket_t fd = CURL_SOCKET_BAD;
    Impl* impl = nullptr;
  };

  Impl(uv_loop_t* l, SenderOptions o, Spool* s, AgentMetrics* m)
      : loop(l),
        options(std::move(o)),
        spool(s),
        metrics(m),
        curl_timer(l, [this] { onCurlTimeout(); }),
        retry_timer(l, [this] { onRetryTimer(); }),
        rng(std::random_device{}()) {
    ensureCurlGlobalInit();
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::onSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::onCurlTimer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.window));
    ingest_url = joinUrl(options.server_url, "/v1/ingest");
    heartbeat_url = joinUrl(options.server_url, "/v1/agents/heartbeat");
    auth_header = "Authorization: Bearer " + options.secret;
  }

  // --- curl <-> libuv glue (all trampolines noexcept) ---
  static int onSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp,
                      void* socketp) noexcept {
    auto* self = static_cast<Impl*>(userp);
    auto* ctx = static_cast<SocketCtx*>(socketp);
    if (what == CURL_POLL_REMOVE) {
      if (ctx != nullptr) {
        self->closeSocket(ctx);
        curl_multi_assign(self->multi, fd, nullptr);
      }
      return 0;
    }
    if (ctx == nullptr) {
      ctx = new SocketCtx;
      ctx->fd = fd;
      ctx->impl = self;
      if (uv_poll_init_socket(self->loop, &ctx->poll, fd) != 0) {
        delete ctx;
        return -1;
      }
      ctx->poll.data = ctx;
      self->sockets.insert(ctx);
      curl_multi_assign(self->multi, fd, ctx);
    }
    int events = 0;
    if ((what & CURL_POLL_IN) != 0) {
      events |= UV_READABLE;
    }
    if ((what & CURL_POLL_OUT) != 0) {
      events |= UV_WRITABLE;
    }
    uv_poll_start(&ctx->poll, events, &Impl::onPoll);
    return 0;
  }

  static void onPoll(uv_poll_t* handle, int status, int events) noexcept {
    auto* ctx = static_cast<SocketCtx*>(handle->data);
    Impl* self = ctx->impl;
    int flags = 0;
    if (status < 0) {
      flags = CURL_CSELECT_ERR;
    } else {
      if ((events & UV_READABLE) != 0) {
        flags |= CURL_CSELECT_IN;
      }
      if ((events & UV_WRITABLE) != 0) {
        flags |= CURL_CSELECT_OUT;
      }
    }
    int running = 0;
    curl_multi_socket_action(self->multi, ctx->fd, flags, &running);
    self->drainMessages();
  }

  static int onCurlTimer(CURLM* /*multi*/, long timeout_ms, void* userp) noexcept {
    auto* self = static_cast<Impl*>(userp);
    if (timeout_ms < 0) {
      self->curl_timer.stop();
    } else {
      // Even a 0 timeout goes through the loop: curl forbids re-entering socket_action here.
      self->curl_timer.start(std::chrono::milliseconds(timeout_ms));
    }
    return 0;
  }

  void onCurlTimeout() {
    int running = 0;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drainMessages();
  }

  void closeSocket(SocketCtx* ctx) {
    sockets.erase(ctx);
    uv_poll_stop(&ctx->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&ctx->poll),
             [](uv_handle_t* h) noexcept { delete static_cast<SocketCtx*>(h->data); });
  }

  static size_t onWrite(char* ptr, size_t size, size_t nmemb, void* userp) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    size_t n = size * nmemb;
    if (t->response.size() + n > kMaxResponseBytes) {
      t->response_overflow = true;
      return 0;
    }
    t->response.append(ptr, n);
    return n;
  }

  static size_t onHeader(char* buffer, size_t size, size_t nitems, void* userp) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    std::string_view line(buffer, size * nitems);
    if (iequalsPrefix(line, "retry-after:")) {
      t->retry_after = std::string(trim(line.substr(12)));
    } else if (iequalsPrefix(line, "faultline-duplicate:")) {
      t->duplicate = trim(line.substr(20)) == "true";
    }
    return size * nitems;
  }

  // --- sending ---
  void pump() {
    if (stopped || retry_timer.active()) {
      return;
    }
    // Pick first: startTransfer may move a bad entry out of the spool's map.
    std::vector<SpoolEntry> next;
    for (const auto& [seq, entry] : spool->entries()) {
      if (in_flight.size() + next.size() >= options.window) {
        break;
      }
      if (in_flight.count(seq) == 0) {
        next.push_back(entry);
      }
    }
    for (const SpoolEntry& entry : next) {
      if (stopped || retry_timer.active() || !startTransfer(entry)) {
        break;
      }
    }
  }

  bool startTransfer(const SpoolEntry& entry) {
    auto file = spool->read(entry.seq);
    if (!file) {
      if (file.code() == Errc::DataLoss) {
        // The entry went bad on disk after it was written; keep it for an operator.
        log::error(kLog, file.status().message() + "; moving it to rejected/");
        Status moved = spool->reject(entry.seq);
        if (!moved.isOk()) {
          log::error(kLog, moved.toString());
          backoff("cannot read spool entry");
          return false;
        }
        ++metrics->batches_rejected;
        notifyFreed();
        return true;
      }
      log::error(kLog, "cannot read spool entry " + std::to_string(entry.seq) + ": " +
                           file.status().toString());
      backoff("spool read error");
      return false;
    }
    auto t = std::make_unique<Transfer>();
    t->seq = entry.seq;
    t->epoch = entry.epoch;
    t->records = entry.records;
    t->line_bytes = entry.line_bytes;
    t->payload = std::move(file->payload);
    t->easy.reset(curl_easy_init());
    if (!t->easy) {
      backoff("curl_easy_init failed");
      return false;
    }
    if (!prepare(*t, ingest_url,
                 {auth_header, "Content-Type: " + std::string(wire::kBatchContentType),
                  "Content-Encoding: " + std::string(wire::kBatchContentEncoding),
                  std::string("Expect:")})) {
      backoff("out of memory");
      return false;
    }
    CURLMcode mc = curl_multi_add_handle(multi, t->easy.get());
    if (mc != CURLM_OK) {
      backoff(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
      return false;
    }
    ++metrics->batches_sent;
    in_flight.emplace(t->seq, std::move(t));
    return true;
  }

  // Headers and options shared by batch posts and heartbeats. False when out of memory.
  bool prepare(Transfer& transfer, const std::string& url,
               std::initializer_list<std::string> header_lines) {
    Transfer* t = &transfer;
    curl_slist* list = nullptr;
    for (const std::string& header : header_lines) {
      curl_slist* next = curl_slist_append(list, header.c_str());
      if (next == nullptr) {
        curl_slist_free_all(list);
        return false;
      }
      list = next;
    }
    t->headers.reset(list);
    CURL* h = t->easy.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->payload.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->payload.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::onWrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<std::int64_t>(options.timeout.count(), 10'000)));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!options.ca_file.empty()) {
      curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
    }
    return true;
  }

  // One heartbeat at a time; a new one while the last is still out is skipped (the next
  // carries fresher numbers anyway). Failures are counted, never retried, never block batches.
  void postHeartbeat(std::string body) {
    if (stopped || heartbeat != nullptr || metrics->unauthorized) {
      return;
    }
    auto t = std::make_unique<Transfer>();
    t->payload = std::move(body);
    t->easy.reset(curl_easy_init());
    if (!t->easy || !prepare(*t, heartbeat_url,
                             {auth_header, std::string("Content-Type: application/json"),
                              std::string("Expect:")})) {
      return;
    }
    if (curl_multi_add_handle(multi, t->easy.get()) != CURLM_OK) {
      return;
    }
    heartbeat = std::move(t);
  }

  void finishHeartbeat(CURLcode result) {
    long status = 0;
    curl_easy_getinfo(heartbeat->easy.get(), CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK && (status == 200 || status == 204)) {
      ++metrics->heartbeats_sent;
    } else {
      ++metrics->heartbeat_errors;
      log::debug(kLog, "heartbeat failed: " +
                           (result != CURLE_OK ? std::string(curl_easy_strerror(result))
                                               : "HTTP " + std::to_string(status) + ": " +
                                                     describeErrorBody(heartbeat->response)));
    }
    heartbeat.reset();
  }

  void drainMessages() {
    int pending = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &pending)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      CURL* easy = msg->easy_handle;
      CURLcode result = msg->data.result;
      Transfer* raw = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
      curl_multi_remove_handle(multi, easy);
      if (raw == heartbeat.get()) {
        finishHeartbeat(result);
        continue;
      }
      auto it = in_flight.find(raw->seq);
      std::unique_ptr<Transfer> t = std::move(it->second);
      in_flight.erase(it);
      finish(*t, result);
    }
    pump();
  }

  void finish(Transfer& t, CURLcode result) {
    std::string batch = "batch " + std::to_string(t.seq);
    if (result != CURLE_OK) {
      std::string why = t.response_overflow   ? "response larger than 64 KiB"
                        : t.errbuf[0] != '\0' ? std::string(t.errbuf)
                                              : curl_easy_strerror(result);
      fail(batch + ": " + ingest_url + ": " + why, std::chrono::milliseconds(-1));
      return;
    }
    long status = 0;
    curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
    std::string http = "HTTP " + std::to_string(status);
    if (status == 200) {
      Status ack = checkAck(t);
      if (!ack.isOk()) {
        fail(batch + ": " + ack.message(), std::chrono::milliseconds(-1));
        return;
      }
      Status removed = spool->remove(t.seq);
      if (!removed.isOk()) {
        log::error(kLog, batch + " acked but not removed from the spool: " + removed.toString());
      }
      ++metrics->batches_acked;
      if (t.duplicate) {
        ++metrics->duplicate_acks;
      }
      metrics->lines_sent += t.records;
      metrics->bytes_sent += t.line_bytes;
      metrics->last_ack_seq = t.seq;
      metrics->last_ack_unix_ns = nowUnixNanos();
      if (attempt > 0 || metrics->unauthorized) {
        log::info(kLog, "aggregator accepts batches again");
      }
      attempt = 0;
      metrics->unauthorized = false;
      notifyFreed();
      return;
    }
    std::string message = describeErrorBody(t.response);
    if (status == 429 || status == 503) {
      auto delay = parseRetryAfter(t.retry_after, nowUnixNanos());
      if (delay > std::chrono::milliseconds(options.max_retry_after)) {
        delay = options.max_retry_after;
      }
      fail(batch + ": aggregator busy (" + http + "): " + message, delay);
      return;
    }
    if (status == 400 || status == 413 || status == 415) {
      ++metrics->batches_rejected;
      log::error(kLog, batch + " rejected by the aggregator (" + http + "): " + message +
                           "; moved to " + spool->dir() + "/rejected/ and not retried");
      Status moved = spool->reject(t.seq);
      if (!moved.isOk()) {
        log::error(kLog, "cannot move " + batch + " to rejected/: " + moved.toString());
        fail(batch + ": " + moved.message(), std::chrono::milliseconds(-1));
        return;
      }
      notifyFreed();
      return;
    }
    if (status == 401 || status == 403) {
      ++metrics->send_errors;
      metrics->last_send_error = http + ": " + message;
      if (!metrics->unauthorized) {
        log::error(kLog, "the aggregator refused this agent's credentials (" + http + ": " +
                             message +
                             "); sending stopped, every batch stays in the spool; "
                             "retrying every " +
                             std::to_string(options.unauthorized_retry.count() / 1000) +
                             "s (re-enroll if the agent was revoked)");
      }
      metrics->unauthorized = true;
      startRetryTimer(options.unauthorized_retry);
      return;
    }
    fail(batch + ": " + http + ": " + message, std::chrono::milliseconds(-1));
  }

  Status checkAck(const Transfer& t) {
    nlohmann::json doc = nlohmann::json::parse(t.response, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) {
      return invalidArgument("ack is not a JSON object: " + describeErrorBody(t.response));
    }
    auto seq = doc.find("seq");
    auto epoch = doc.find("epoch");
    if (seq == doc.end() || !seq->is_number_unsigned() || epoch == doc.end() ||
        !epoch->is_number_unsigned()) {
      return invalidArgument("ack lacks seq/epoch: " + describeErrorBody(t.response));
    }
    if (seq->get<std::uint64_t>() != t.seq || epoch->get<std::uint64_t>() != t.epoch) {
      return invalidArgument("ack names epoch " + std::to_string(epoch->get<std::uint64_t>()) +
                             " seq " + std::to_string(seq->get<std::uint64_t>()) +
                             ", expected epoch " + std::to_string(t.epoch) + " seq " +
                             std::to_string(t.seq));
    }
    auto agent = doc.find("agent");
    if (agent != doc.end() && agent->is_string() && !options.agent_id.empty() &&
        agent->get<std::string>() != options.agent_id) {
      return invalidArgument("ack names agent " + agent->get<std::string>());
    }
    return Status::ok();
  }

  // A retryable failure: wait `delay` (when >= 0) or the next backoff step.
  void fail(const std::string& what, std::chrono::milliseconds delay) {
    ++metrics->send_errors;
    metrics->last_send_error = what;
    if (retry_timer.active()) {
      log::debug(kLog, what);
      return;  // already waiting; concurrent failures do not stack up the backoff
    }
    if (delay.count() < 0) {
      delay = nextBackoff();
    }
    log::warn(kLog, what + "; retrying in " + std::to_string(delay.count()) + "ms");
    startRetryTimer(delay);
  }

  void backoff(const std::string& what) { fail(what, std::chrono::milliseconds(-1)); }

  std::chrono::milliseconds nextBackoff() {
    // Full jitter between the initial delay and the exponential ceiling.
    std::int64_t lo = options.initial_backoff.count();
    std::int64_t ceiling = lo;
    for (unsigned i = 0; i < attempt && ceiling < options.max_backoff.count(); ++i) {
      ceiling *= 2;
    }
    ceiling = std::min<std::int64_t>(ceiling, options.max_backoff.count());
    ++attempt;
    std::uniform_int_distribution<std::int64_t> dist(lo, std::max(lo, ceiling));
    return std::chrono::milliseconds(dist(rng));
  }

  void startRetryTimer(std::chrono::milliseconds delay) { retry_timer.start(delay); }

  void onRetryTimer() { pump(); }

  void notifyFreed() {
    metrics->spool_batches = spool->count();
    metrics->spool_bytes = spool->bytes();
    if (on_freed) {
      on_freed();
    }
  }

  void stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    retry_timer.stop();
    for (auto& [seq, t] : in_flight) {
      curl_multi_remove_handle(multi, t->easy.get());
    }
    in_flight.clear();
    if (heartbeat != nullptr) {
      curl_multi_remove_handle(multi, heartbeat->easy.get());
      heartbeat.reset();
    }
    curl_multi_cleanup(multi);
    multi = nullptr;
    curl_timer.stop();
    for (SocketCtx* ctx : std::vector<SocketCtx*>(sockets.begin(), sockets.end())) {
      closeSocket(ctx);
    }
  }

  uv_loop_t* loop;
  SenderOptions options;
  Spool* spool;
  AgentMetrics* metrics;
  CURLM* multi = nullptr;
  std::string ingest_url;
  std::string heartbeat_url;
  std::unique_ptr<Transfer> heartbeat;
  std::string auth_header;
  UvTimer curl_timer;
  UvTimer retry_timer;
  std::mt19937_64 rng;
  unsigned attempt = 0;
  bool stopped = false;
  std::map<std::uint64_t, std::unique_ptr<Transfer>> in_flight;
  std::unordered_set<SocketCtx*> sockets;
  std::function<void()> on_freed;
};

Sender::Sender(uv_loop_t* loop, SenderOptions options, Spool* spool, AgentMetrics* metrics)
    : impl_(std::make_unique<Impl>(loop, std::move(options), spool, metrics)) {}

Sender::~Sender() {
  impl_->stop();
}

void Sender::setOnFreed(std::function<void()> callback) {
  impl_->on_freed = std::move(callback);
}
void Sender::wake() {
  impl_->pump();
}
void Sender::stop() {
  impl_->stop();
}
void Sender::postHeartbeat(std::string json_body) {
  impl_->postHeartbeat(std::move(json_body));
}
std::size_t Sender::inFlight() const {
  return impl_->in_flight.size();
}
bool Sender::backingOff() const {
  return impl_->retry_timer.active();
}

}  // namespace faultline::agent::ship
