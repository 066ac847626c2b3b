#include "aggregator/ingest/log_upload.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "shared/logparse/parser.h"
#include "shared/logtemplate/miner.h"
#include "shared/util/crypto.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::ingest {
namespace {

constexpr std::string_view kUploadHostname = "faultline-upload";
// Enrollment tokens for the upload agent are consumed at once; a short life is plenty.
constexpr std::int64_t kTokenTtlNs = 60'000'000'000;

/// Printable bytes only (UTF-8 allowed), no control characters: a source name ends up in
/// exports, the agents list and glob queries.
Status checkSource(std::string_view source, std::size_t max_bytes) {
  if (source.empty()) {
    return invalidArgument("source: required (?source=NAME)");
  }
  if (source.size() > max_bytes) {
    return invalidArgument("source: longer than " + std::to_string(max_bytes) + " bytes");
  }
  for (char c : source) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return invalidArgument("source: control characters are not allowed");
    }
  }
  return Status::ok();
}

/// One upload's processing state: the same per-line steps as the agent's Processor (parse,
/// redact, mine) feeding a BatchBuilder that is sealed and stored every batch_line_bytes.
class UploadWriter {
 public:
  UploadWriter(store::Store& store, const LogUploadOptions& options,
               const redact::Redactor& redactor, const logparse::Parser& parser,
               const UploadRequest& request, std::string agent_id, std::uint64_t epoch)
      : store_(store),
        options_(options),
        redactor_(redactor),
        parser_(parser),
        request_(request),
        agent_id_(std::move(agent_id)),
        epoch_(epoch),
        read_ts_ns_(nowUnixNanos()) {}

  Status addLine(std::string_view line, bool no_newline) {
    parser_.parse(line, parsed_);
    std::string_view text = line;
    if (redactor_.redact(line, redacted_, redact_stats_)) {
      text = redacted_;
    }
    miner_.mine(text, mined_);
    if (!source_added_) {
      source_ = builder_.sourceIndex(request_.source);
      source_added_ = true;
    }
    wire::RecordMeta meta;
    meta.source = source_;
    meta.read_ts_ns = read_ts_ns_;
    meta.no_newline = no_newline;
    meta.severity = static_cast<std::uint8_t>(parsed_.severity);
    meta.event_ts_ns = event_time_.resolve(parsed_.ts_ns, read_ts_ns_);
    if (mined_.template_id != 0) {
      // Every batch carries the texts it uses: an upload's batches stand alone.
      builder_.addTemplated(meta, mined_.template_id, mined_.template_text, true, mined_.params);
    } else {
      builder_.addRecord(meta, text);
    }
    if (builder_.lineBytes() >= options_.batch_line_bytes ||
        builder_.recordCount() >= options_.batch_max_records) {
      return seal();
    }
    return Status::ok();
  }

  /// Seals and stores the open batch, if it holds anything.
  Status seal() {
    if (builder_.recordCount() == 0) {
      return Status::ok();
    }
    wire::BatchHeader header;
    header.agent = agent_id_;
    header.epoch = epoch_;
    header.seq = ++seq_;
    header.sent_at_ns = read_ts_ns_;
    FL_ASSIGN_OR_RETURN(std::string sealed, builder_.seal(header, 1));
    builder_.reset();
    source_added_ = false;
    // Decoded as an agent batch is, so the stored row's facts come from the same code.
    auto decoded = wire::decodeBatch(sealed);
    if (!decoded.isOk()) {
      return internalError("upload batch does not decode: " + decoded.status().message());
    }
    const wire::DecodedBatch& batch = **decoded;
    store::NewBatch row;
    row.tenant_id = request_.tenant_id;
    row.agent_id = agent_id_;
    row.epoch = epoch_;
    row.seq = header.seq;
    row.record_count = batch.records.size();
    row.line_bytes = batch.line_bytes;
    row.min_ts_ns = batch.min_ts_ns;
    row.max_ts_ns = batch.max_ts_ns;
    row.received_at_ns = nowUnixNanos();
    row.sources.assign(batch.sources.begin(), batch.sources.end());
    for (const wire::Template& tmpl : batch.templates) {
      row.templates.push_back({tmpl.id, tmpl.text});
    }
    row.payload = sealed;
    auto stored = store_.storeBatch(row);
    if (!stored.isOk()) {
      // A full write queue is the store being busy, not the upload being too large.
      if (stored.code() == Errc::ResourceExhausted) {
        return unavailable("store busy: " + stored.status().message());
      }
      return stored.status();
    }
    all_duplicates_ = all_duplicates_ && stored->duplicate;
    if (!stored->duplicate && options_.log_events != nullptr) {
      // After the commit; never fails the upload (onBatch logs and counts its problems).
      options_.log_events->onBatch({request_.tenant_id, "", row.received_at_ns}, batch);
    }
    return Status::ok();
  }

  std::uint64_t batches() const { return seq_; }
  bool allDuplicates() const { return seq_ > 0 && all_duplicates_; }

 private:
  store::Store& store_;
  const LogUploadOptions& options_;
  const redact::Redactor& redactor_;
  const logparse::Parser& parser_;
  const UploadRequest& request_;
  std::string agent_id_;
  std::uint64_t epoch_;
  std::int64_t read_ts_ns_;
  logparse::EventTimeCarry event_time_;  // untimed lines take their neighbour's time
  wire::BatchBuilder builder_;
  bool source_added_ = false;
  std::uint32_t source_ = 0;
  logtemplate::TemplateMiner miner_;
  logtemplate::MinedLine mined_;
  logparse::ParsedLine parsed_;
  std::string redacted_;
  redact::RedactStats redact_stats_;
  std::uint64_t seq_ = 0;
  bool all_duplicates_ = true;
};

}  // namespace

LogUploader::LogUploader(store::Store& store, LogUploadOptions options,
                         std::unique_ptr<redact::Redactor> redactor)
    : store_(store), options_(std::move(options)), redactor_(std::move(redactor)) {}

Result<std::unique_ptr<LogUploader>> LogUploader::create(store::Store& store,
                                                         LogUploadOptions options) {
  if (options.max_decompressed_bytes == 0 || options.batch_line_bytes == 0 ||
      options.batch_max_records == 0 || options.max_line_bytes == 0 ||
      options.max_concurrent == 0) {
    return invalidArgument("log upload: sizes must be positive");
  }
  // Lines longer than the wire's limit could not be decoded back.
  options.max_line_bytes = std::min(options.max_line_bytes, wire::Limits{}.max_line_bytes);
  FL_ASSIGN_OR_RETURN(auto redactor, redact::Redactor::create(options.redact));
  return std::unique_ptr<LogUploader>(
      new LogUploader(store, std::move(options), std::move(redactor)));
}

std::string LogUploader::uploadAgentId(std::string_view tenant_id) {
  return "upl_" +
         crypto::hashSecret("faultline-upload-agent\n" + std::string(tenant_id)).substr(0, 32);
}

Status LogUploader::ensureUploadAgent(const std::string& tenant_id) {
  std::lock_guard lock(agents_mu_);
  if (agents_ready_.count(tenant_id) != 0) {
    return Status::ok();
  }
  const std::string agent_id = uploadAgentId(tenant_id);
  auto exists = [&]() -> Result<bool> {
    FL_ASSIGN_OR_RETURN(auto agents, store_.listAgents(tenant_id));
    return std::any_of(agents.begin(), agents.end(),
                       [&](const store::AgentSummary& a) { return a.agent_id == agent_id; });
  };
  FL_ASSIGN_OR_RETURN(bool found, exists());
  if (!found) {
    // An agent is made through the one enrollment path the store has: a token spent at once.
    // Its secret is random and thrown away, so nobody can ever send as it.
    const std::int64_t now = nowUnixNanos();
    store::NewAgent agent;
    agent.token_hash = crypto::hashSecret(crypto::randomToken("fet_"));
    agent.agent_id = agent_id;
    agent.secret_hash = crypto::hashSecret(crypto::randomToken("fas_"));
    agent.hostname = std::string(kUploadHostname);
    agent.version = "upload";
    agent.now_ns = now;
    FL_RETURN_IF_ERROR(
        store_.createEnrollmentToken(tenant_id, agent.token_hash, now, now + kTokenTtlNs).status());
    auto enrolled = store_.enrollAgent(agent);
    if (!enrolled.isOk()) {
      // Another aggregator node may have made it first: that is as good.
      FL_ASSIGN_OR_RETURN(bool made_elsewhere, exists());
      if (!made_elsewhere) {
        return enrolled.status().withContext("create upload agent");
      }
    } else {
      log::info("upload", "created upload agent " + agent_id + " for tenant " + tenant_id);
    }
  }
  agents_ready_.insert(tenant_id);
  return Status::ok();
}

Result<UploadResult> LogUploader::upload(const UploadRequest& request) {
  FL_RETURN_IF_ERROR(checkSource(request.source, options_.max_source_bytes));
  logparse::ParserOptions parser_options;
  auto format = logparse::formatFromName(request.format.empty() ? "auto" : request.format);
  if (!format.isOk()) {
    return format.status().withContext("format");
  }
  if (*format == logparse::Format::kRegex) {
    return invalidArgument("format: regex needs a pattern; not available for uploads");
  }
  parser_options.format = *format;
  FL_ASSIGN_OR_RETURN(auto parser, logparse::Parser::create(parser_options));
  FL_ASSIGN_OR_RETURN(UploadCompression compression,
                      detectCompression(request.body, request.content_encoding));

  UploadResult result;
  result.compression = compression;
  result.compressed_bytes = request.body.size();
  // Pass 1: the whole stream must decompress, within the cap, before anything is stored.
  FL_RETURN_IF_ERROR(decompressUpload(request.body, compression, options_.max_decompressed_bytes,
                                      [&](std::string_view chunk) {
                                        result.bytes += chunk.size();
                                        return Status::ok();
                                      }));

  FL_RETURN_IF_ERROR(ensureUploadAgent(request.tenant_id));
  // The content address of this upload: the same bytes under the same name and format are
  // the same batches (epoch fits in a signed 64-bit column).
  const std::string digest =
      crypto::hashSecret(request.source + '\0' + std::string(logparse::formatName(*format)) + '\0' +
                         crypto::hashSecret(request.body));
  const std::uint64_t epoch = std::stoull(digest.substr(0, 15), nullptr, 16);

  UploadWriter writer(store_, options_, *redactor_, *parser, request,
                      uploadAgentId(request.tenant_id), epoch);
  LineSplitter lines(options_.max_line_bytes, [&](std::string_view line, bool no_newline) {
    return writer.addLine(line, no_newline);
  });
  FL_RETURN_IF_ERROR(decompressUpload(request.body, compression, options_.max_decompressed_bytes,
                                      [&](std::string_view chunk) { return lines.feed(chunk); }));
  FL_RETURN_IF_ERROR(lines.finish());
  FL_RETURN_IF_ERROR(writer.seal());
  result.lines = lines.lines();
  result.batches = writer.batches();
  result.duplicate = writer.allDuplicates();
  return result;
}

LogUploader::Slot LogUploader::tryAcquireSlot() {
  if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= options_.max_concurrent) {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    return Slot();
  }
  return Slot(&in_flight_);
}

namespace {

http::Response uploadFailure(const Status& status, std::string_view tenant_id) {
  switch (status.code()) {
    case Errc::InvalidArgument: return http::Response::error(400, "bad_upload", status.message());
    case Errc::ResourceExhausted:
      return http::Response::error(413, "payload_too_large", status.message());
    case Errc::Unavailable: {
      http::Response response = http::Response::error(503, "unavailable", status.message());
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    default:
      log::error("upload",
                 "log upload for tenant " + std::string(tenant_id) + ": " + status.toString());
      return http::Response::error(500, "internal", "log upload failed");
  }
}

}  // namespace

http::Response LogUploader::handle(const UploadCaller& caller, const http::Request& request) {
  if (options_.audit == nullptr) {
    log::error("upload", "no audit recorder configured");
    return http::Response::error(500, "internal", "log upload cannot be audited");
  }
  Slot slot = tryAcquireSlot();
  if (!slot) {
    http::Response response = http::Response::error(
        503, "busy",
        "this node is already parsing " + std::to_string(options_.max_concurrent) +
            " uploads (upload.max_concurrent); retry later");
    response.headers.emplace_back("Retry-After", "5");
    return response;
  }
  UploadRequest upload_request;
  upload_request.tenant_id = caller.tenant_id;
  if (auto source = request.queryParam("source")) {
    upload_request.source = *source;
  }
  if (auto format = request.queryParam("format")) {
    upload_request.format = *format;
  }
  if (const std::string* encoding = request.header("content-encoding")) {
    upload_request.content_encoding = *encoding;
  }
  upload_request.body = request.body;
  auto result = upload(upload_request);

  audit::AuditEvent entry;
  entry.tenant_id = caller.tenant_id;
  entry.actor = caller.actor;
  entry.action = "logs.upload";
  entry.target = "source:" + upload_request.source;
  entry.client_address = caller.client_address;
  entry.at_ns = nowUnixNanos();
  nlohmann::ordered_json detail = {
      {"format", upload_request.format.empty() ? std::string("auto") : upload_request.format},
      {"compressed_bytes", request.body.size()}};
  if (result.isOk()) {
    detail["lines"] = result->lines;
    detail["batches"] = result->batches;
    detail["bytes"] = result->bytes;
    detail["duplicate"] = result->duplicate;
  } else {
    entry.outcome = "failure";
    detail["error"] = result.status().message();
  }
  entry.detail_json = detail.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  if (Status audited = options_.audit->record(entry); !audited.isOk()) {
    log::error("upload", "audit of a log upload: " + audited.toString());
    if (result.isOk()) {
      // Stored but not audited: not reported as done. Sending it again is answered as a
      // duplicate and audited then.
      http::Response response = http::Response::error(
          503, "unavailable", "the upload could not be audited; send it again");
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
  }
  if (!result.isOk()) {
    return uploadFailure(result.status(), caller.tenant_id);
  }
  nlohmann::ordered_json body = {{"lines", result->lines},
                                 {"batches", result->batches},
                                 {"bytes", result->bytes},
                                 {"compressed_bytes", result->compressed_bytes},
                                 {"compression", compressionName(result->compression)},
                                 {"duplicate", result->duplicate}};
  return http::Response::json(200, body.dump());
}

}  // namespace faultline::aggregator::ingest
