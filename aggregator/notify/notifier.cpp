#include "aggregator/notify/notifier.h"

#include <algorithm>
#include <map>
#include <random>

#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::notify {
namespace {

constexpr std::size_t kMaxErrorBytes = 300;
constexpr std::int64_t kNanosPerMilli = 1'000'000;

double randomJitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::int64_t nanos(std::chrono::milliseconds ms) {
  return static_cast<std::int64_t>(ms.count()) * kNanosPerMilli;
}

}  // namespace

Result<std::unique_ptr<Notifier>> Notifier::create(store::Store& store, NotifierOptions options) {
  if (options.batch == 0 || options.request_timeout.count() <= 0 ||
      options.retry.max_attempts < 1 || options.retry.base_delay.count() <= 0) {
    return invalidArgument("notifier: batch, timeout, attempts and delay must be positive");
  }
  FL_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::create(options.http));
  return std::unique_ptr<Notifier>(new Notifier(store, std::move(options), std::move(client)));
}

Notifier::Notifier(store::Store& store, NotifierOptions options, std::unique_ptr<HttpClient> client)
    : store_(store), options_(std::move(options)), client_(std::move(client)) {}

Notifier::~Notifier() {
  stop();
}

void Notifier::start() {
  std::lock_guard lock(mu_);
  if (!thread_.joinable() && !stopping_) {
    thread_ = std::thread([this] { run(); });
  }
}

void Notifier::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Notifier::notice(const incidents::IncidentNotice& notice) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queued_notices) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(notice);
  }
  wake_.notify_one();
}

Status Notifier::enqueue(const incidents::IncidentNotice& notice, std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(std::vector<store::NotificationChannel> channels,
                      store_.listNotificationChannels(notice.tenant_id));
  std::vector<store::NotificationDelivery> deliveries;
  for (const store::NotificationChannel& channel : channels) {
    if (!channelWants(channel, notice)) {
      continue;
    }
    store::NotificationDelivery delivery;
    delivery.idempotency_key =
        idempotencyKey(channel.id, notice.incident_id, notice.change, notice.at_ns);
    delivery.tenant_id = notice.tenant_id;
    delivery.channel_id = channel.id;
    delivery.incident_id = notice.incident_id;
    delivery.change = notice.change;
    delivery.body = renderBody(channel.kind, notice, delivery.idempotency_key);
    delivery.created_at_ns = now_ns;
    delivery.next_attempt_at_ns = now_ns;
    deliveries.push_back(std::move(delivery));
  }
  if (deliveries.size() > store::kMaxChannelsPerTenant) {
    deliveries.resize(store::kMaxChannelsPerTenant);  // the API never lets a tenant have more
  }
  FL_RETURN_IF_ERROR(store_.enqueueNotifications(notice.tenant_id, deliveries));
  enqueued_.fetch_add(deliveries.size(), std::memory_order_relaxed);
  return Status::ok();
}

Notifier::Sent Notifier::post(const store::NotificationChannel& channel, const std::string& body,
                              const std::string& key) const {
  Sent sent;
  const std::string what = "notify " + redactedUrl(channel.url);
  auto url = parseHttpUrl(channel.url);
  if (!url) {
    sent.error = url.status().message();
    return sent;
  }
  HttpRequest request;
  request.method = "POST";
  request.body = body;
  request.timeout = options_.request_timeout;
  request.max_response_bytes = options_.max_response_bytes;
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Idempotency-Key", key);
  if (channel.kind == "webhook" && !channel.secret.empty()) {
    request.headers.emplace_back("X-Faultline-Signature", signatureHeader(channel.secret, body));
  }
  auto response = client_->send(*url, request, what);
  if (!response) {
    sent.error = response.status().message();
    return sent;
  }
  sent.status = response->status;
  sent.retry_after_seconds = response->retry_after_seconds;
  if (classifyStatus(sent.status) != AttemptOutcome::kDelivered) {
    // Only the status: the receiver's body is not echoed to API callers (a channel may point
    // at an internal service; its answers must not be readable through Faultline).
    sent.error = "HTTP " + std::to_string(sent.status);
  }
  return sent;
}

Status Notifier::attempt(store::NotificationDelivery delivery,
                         const store::NotificationChannel* channel, std::int64_t now_ns) {
  const RetryPolicy& retry = options_.retry;
  auto give_up = [&](std::string why) {
    delivery.state = std::string(store::kDeliveryFailed);
    delivery.last_error = printable(why, kMaxErrorBytes);
    failed_.fetch_add(1, std::memory_order_relaxed);
    log::warn("notify", "delivery " + delivery.idempotency_key + " to channel " +
                            delivery.channel_id + " failed: " + delivery.last_error);
  };
  if (channel == nullptr) {
    give_up("the channel was deleted");
  } else if (now_ns - delivery.created_at_ns > nanos(retry.give_up_after)) {
    give_up("not delivered within the give-up time; last error: " + delivery.last_error);
  } else {
    Sent sent = post(*channel, delivery.body, delivery.idempotency_key);
    ++delivery.attempts;
    delivery.last_status = sent.status;
    switch (classifyStatus(sent.status)) {
      case AttemptOutcome::kDelivered:
        delivery.state = std::string(store::kDeliveryDelivered);
        delivery.delivered_at_ns = now_ns;
        delivery.last_error.clear();
        delivered_.fetch_add(1, std::memory_order_relaxed);
        break;
      case AttemptOutcome::kFinal: give_up(sent.error); break;
      case AttemptOutcome::kRetry:
        if (delivery.attempts >= retry.max_attempts) {
          give_up("gave up after " + std::to_string(delivery.attempts) +
                  " attempts: " + sent.error);
          break;
        }
        std::chrono::milliseconds wait = backoffDelay(retry, delivery.attempts, randomJitter());
        if (sent.retry_after_seconds) {
          wait =
              std::max(wait, std::min(std::chrono::milliseconds(*sent.retry_after_seconds * 1000),
                                      retry.max_retry_after));
        }
        delivery.next_attempt_at_ns = now_ns + nanos(wait);
        delivery.last_error = printable(sent.error, kMaxErrorBytes);
        retried_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
  return store_.updateNotification(delivery.tenant_id, delivery);
}

Result<std::size_t> Notifier::dispatchDue(std::int64_t now_ns) {
  FL_ASSIGN_OR_RETURN(std::vector<store::NotificationDelivery> due,
                      store_.dueNotifications(now_ns, options_.batch));
  std::map<std::string, std::vector<store::NotificationChannel>> channels;  // by tenant
  for (store::NotificationDelivery& delivery : due) {
    auto it = channels.find(delivery.tenant_id);
    if (it == channels.end()) {
      FL_ASSIGN_OR_RETURN(auto listed, store_.listNotificationChannels(delivery.tenant_id));
      it = channels.emplace(delivery.tenant_id, std::move(listed)).first;
    }
    const store::NotificationChannel* channel = nullptr;
    for (const store::NotificationChannel& candidate : it->second) {
      if (candidate.id == delivery.channel_id) {
        channel = &candidate;
      }
    }
    // Attempts take time: the outcome is timed from when each one ends.
    const std::int64_t at = std::max(now_ns, nowUnixNanos());
    Status written = attempt(std::move(delivery), channel, at);
    if (!written.isOk()) {
      log::warn("notify", "record a delivery attempt: " + written.toString());
    }
  }
  return due.size();
}

TestResult Notifier::sendTest(const store::NotificationChannel& channel, std::int64_t now_ns) {
  const std::string key = idempotencyKey(channel.id, "test", "test", now_ns);
  Sent sent = post(channel, renderTestBody(channel.kind, channel.id, now_ns), key);
  TestResult result;
  result.status = sent.status;
  result.delivered = classifyStatus(sent.status) == AttemptOutcome::kDelivered;
  result.error = printable(sent.error, kMaxErrorBytes);
  return result;
}

NotifierStats Notifier::stats() const {
  NotifierStats stats;
  stats.enqueued = enqueued_.load(std::memory_order_relaxed);
  stats.delivered = delivered_.load(std::memory_order_relaxed);
  stats.retried = retried_.load(std::memory_order_relaxed);
  stats.failed = failed_.load(std::memory_order_relaxed);
  stats.dropped = dropped_.load(std::memory_order_relaxed);
  return stats;
}

void Notifier::run() {
  std::deque<incidents::IncidentNotice> unwritten;  // the store refused them: try again later
  for (;;) {
    std::deque<incidents::IncidentNotice> notices;
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        break;
      }
      notices.swap(queue_);
    }
    notices.insert(notices.begin(), unwritten.begin(), unwritten.end());
    unwritten.clear();
    for (incidents::IncidentNotice& notice : notices) {
      Status written = enqueue(notice, nowUnixNanos());
      if (written.isOk()) {
        continue;
      }
      log::warn("notify", "queue notifications for incident " + notice.incident_id + ": " +
                              written.toString());
      if (written.code() == Errc::Unavailable && unwritten.size() < options_.max_queued_notices) {
        unwritten.push_back(std::move(notice));
      } else {
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    for (;;) {
      auto attempted = dispatchDue(nowUnixNanos());
      if (!attempted) {
        log::warn("notify", "read due deliveries: " + attempted.status().toString());
        break;
      }
      bool stopping;
      {
        std::lock_guard lock(mu_);
        stopping = stopping_;
      }
      if (*attempted < options_.batch || stopping) {
        break;
      }
    }
  }
}

}  // namespace faultline::aggregator::notify
