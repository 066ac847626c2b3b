#pragma once

// Outbound incident notifications: turns the incident engine's notices into durable outbox
// rows (one per interested channel, keyed by an idempotency key) and sends them from one
// dispatcher thread, retrying network errors, 5xx and 429 with exponential backoff and jitter
// (honouring Retry-After) until delivered, refused (another 4xx) or given up. Rows live in the
// store, so a restart resumes pending deliveries: at-least-once, and the Idempotency-Key header
// lets receivers drop repeats.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "aggregator/incidents/incident_engine.h"
#include "aggregator/notify/http_client.h"
#include "aggregator/notify/notification.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::notify {

struct NotifierOptions {
  RetryPolicy retry;
  std::chrono::milliseconds request_timeout{10'000};
  std::size_t max_response_bytes = 64 * 1024;
  /// How often the outbox is read for due deliveries when nothing wakes the dispatcher.
  std::chrono::milliseconds poll_interval{500};
  /// Due deliveries read per pass.
  std::size_t batch = 32;
  /// Notices waiting to be written to the outbox; beyond, new ones are dropped (and counted).
  std::size_t max_queued_notices = 10'000;
  HttpClientOptions http;
};

struct NotifierStats {
  std::uint64_t enqueued = 0;   // outbox rows offered (a key already there is kept once)
  std::uint64_t delivered = 0;  // deliveries a receiver accepted (2xx)
  std::uint64_t retried = 0;    // attempts that failed and were scheduled again
  std::uint64_t failed = 0;     // deliveries given up or refused (final 4xx)
  std::uint64_t dropped = 0;    // notices dropped because the queue was full
};

/// The outcome of a test send (POST /v1/notification-channels/{id}/test).
struct TestResult {
  bool delivered = false;
  int status = 0;     // HTTP status; 0 when no response
  std::string error;  // empty when delivered
};

/// Thread-safe. `notice()` may be called from any thread (it only queues). Owns the
/// dispatcher thread: start() starts it, the destructor (or stop()) joins it.
class Notifier {
 public:
  static Result<std::unique_ptr<Notifier>> create(store::Store& store, NotifierOptions options);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void start();
  void stop();

  /// The incident engine's observer: queues the notice for the dispatcher.
  void notice(const incidents::IncidentNotice& notice);

  /// Writes the outbox rows for `notice` now (the dispatcher does this for queued notices).
  Status enqueue(const incidents::IncidentNotice& notice, std::int64_t now_ns);
  /// One pass over the due deliveries at `now_ns`; returns how many were attempted.
  Result<std::size_t> dispatchDue(std::int64_t now_ns);
  /// Sends a test body to the channel once (no outbox, no retry). Blocking.
  TestResult sendTest(const store::NotificationChannel& channel, std::int64_t now_ns);

  NotifierStats stats() const;

 private:
  Notifier(store::Store& store, NotifierOptions options, std::unique_ptr<HttpClient> client);
  void run();
  /// Sends one delivery and writes its outcome.
  Status attempt(store::NotificationDelivery delivery, const store::NotificationChannel* channel,
                 std::int64_t now_ns);
  /// POSTs `body` to the channel; the status (0 when none), Retry-After and an error text.
  struct Sent {
    int status = 0;
    std::optional<std::int64_t> retry_after_seconds;
    std::string error;
  };
  Sent post(const store::NotificationChannel& channel, const std::string& body,
            const std::string& key) const;

  store::Store& store_;
  NotifierOptions options_;
  std::unique_ptr<HttpClient> client_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<incidents::IncidentNotice> queue_;
  bool stopping_ = false;
  std::thread thread_;

  std::atomic<std::uint64_t> enqueued_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> retried_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace faultline::aggregator::notify
