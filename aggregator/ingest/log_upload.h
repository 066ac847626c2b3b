#pragma once

// Log file upload: POST /v1/logs/upload?source=NAME&format=auto|json|logfmt|syslog|...
//
// The body (plain, gzip or zstd; aggregator/ingest/upload_decoder.h) is checked in a first pass
// (decompresses completely, within the cap) so that a corrupt or oversized upload stores
// nothing; a second pass streams it in chunks through the same code the agent runs on each
// line (shared/logparse parser, shared/redact redactor, shared/logtemplate miner) into wire
// batches (shared/wire BatchBuilder), stored by Store::storeBatch exactly like agent batches.
//
// Idempotency: the batches belong to the tenant's upload agent ("upl_" + a hash of the tenant
// id, hostname "faultline-upload", created on first use with no usable secret); the epoch is a
// content hash of (source, format, body) and the seq counts batches from 1. A re-upload of the
// same bytes therefore finds every batch stored and is answered as a duplicate; an upload
// interrupted half-way is completed by sending it again.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "aggregator/audit/audit_event.h"
#include "aggregator/events/log_events.h"
#include "aggregator/http/server.h"
#include "aggregator/ingest/upload_decoder.h"
#include "aggregator/store/store.h"
#include "shared/redact/redactor.h"
#include "shared/util/status.h"
#include "shared/wire/batch.h"

namespace faultline::aggregator::ingest {

struct LogUploadOptions {
  std::size_t max_decompressed_bytes = 256u << 20;  // upload.max_bytes; beyond: 413
  std::size_t batch_line_bytes = 1u << 20;          // seal a batch at this many line bytes
  std::size_t batch_max_records = 16384;
  std::size_t max_line_bytes = 64u << 10;  // longer lines go as pieces
  std::size_t max_source_bytes = 256;
  redact::RedactOptions redact;  // the agent's defaults: every built-in detector
  /// Derives log events from each newly stored batch (not owned; must outlive the uploader).
  /// Null: none are derived.
  events::LogEventDeriver* log_events = nullptr;
  /// Uploads parsed at once on this node (upload.max_concurrent); beyond: 503 with Retry-After.
  /// Each holds a worker thread and a CPU for the whole file.
  std::size_t max_concurrent = 2;
  /// Where handle() records each upload ("logs.upload"; not owned). Null: handle() refuses.
  audit::AuditRecorder* audit = nullptr;
};

/// Who posts an upload, for the audit log.
struct UploadCaller {
  std::string tenant_id;
  std::string actor;           // "user:<id>", "api_key:<id>"
  std::string client_address;  // as the server saw it
};

struct UploadRequest {
  std::string tenant_id;
  std::string source;            // the name the lines are stored under
  std::string format;            // logparse format name; empty: auto
  std::string_view body;         // as received; must outlive upload()
  std::string content_encoding;  // the header, empty when absent
};

struct UploadResult {
  std::uint64_t lines = 0;    // lines read (a last line without '\n' counts)
  std::uint64_t batches = 0;  // batches the upload became
  std::uint64_t bytes = 0;    // decompressed bytes
  std::uint64_t compressed_bytes = 0;
  UploadCompression compression = UploadCompression::None;
  bool duplicate = false;  // every batch was already stored: nothing new written
};

/// Turns uploads into stored batches. Thread-safe: upload() runs on HTTP worker threads and
/// blocks on the store (and on CPU: parsing and mining the whole file). Does not own the store.
class LogUploader {
 public:
  /// InvalidArgument when the redaction options do not validate.
  static Result<std::unique_ptr<LogUploader>> create(store::Store& store, LogUploadOptions options);

  /// InvalidArgument: bad source, format, encoding, or a corrupt/truncated stream (nothing
  /// stored). ResourceExhausted: decompresses beyond max_decompressed_bytes (nothing stored).
  /// Store errors as the store returns them (batches already stored stay: sending the same
  /// upload again completes it).
  Result<UploadResult> upload(const UploadRequest& request);

  /// The upload agent of a tenant ("upl_<hex>").
  static std::string uploadAgentId(std::string_view tenant_id);

  /// The HTTP handler body for an authorized caller: 200 with
  /// {"lines","batches","bytes","duplicate"}, 400/413/415/503 with an error body. Every upload
  /// that got past the concurrency cap is audited ("logs.upload", success or failure); when
  /// the audit entry cannot be written the answer is 503 (the batches stay stored: the same
  /// upload again is a duplicate, then audited).
  http::Response handle(const UploadCaller& caller, const http::Request& request);

  /// A place among the max_concurrent uploads, held while it lives; empty when all are taken.
  class Slot {
   public:
    Slot() = default;
    explicit Slot(std::atomic<std::size_t>* in_flight) : in_flight_(in_flight) {}
    Slot(Slot&& other) noexcept : in_flight_(std::exchange(other.in_flight_, nullptr)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (in_flight_ != nullptr) {
        in_flight_->fetch_sub(1, std::memory_order_acq_rel);
      }
    }
    explicit operator bool() const { return in_flight_ != nullptr; }

   private:
    std::atomic<std::size_t>* in_flight_ = nullptr;
  };
  Slot tryAcquireSlot();

 private:
  LogUploader(store::Store& store, LogUploadOptions options,
              std::unique_ptr<redact::Redactor> redactor);
  Status ensureUploadAgent(const std::string& tenant_id);

  store::Store& store_;
  LogUploadOptions options_;
  std::unique_ptr<redact::Redactor> redactor_;
  std::mutex agents_mu_;
  std::set<std::string> agents_ready_;  // tenants whose upload agent exists
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace faultline::aggregator::ingest
