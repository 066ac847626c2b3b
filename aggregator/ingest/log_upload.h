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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

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

  /// The HTTP handler body for an authorized caller of `tenant_id`: 200 with
  /// {"lines","batches","bytes","duplicate"}, 400/413/415/503 with an error body.
  http::Response handle(std::string_view tenant_id, const http::Request& request);

 private:
  LogUploader(store::Store& store, LogUploadOptions options,
              std::unique_ptr<redact::Redactor> redactor);
  Status ensureUploadAgent(const std::string& tenant_id);

  store::Store& store_;
  LogUploadOptions options_;
  std::unique_ptr<redact::Redactor> redactor_;
  std::mutex agents_mu_;
  std::set<std::string> agents_ready_;  // tenants whose upload agent exists
};

}  // namespace faultline::aggregator::ingest
