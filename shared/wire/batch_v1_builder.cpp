#include "shared/wire/batch_v1_builder.h"

#include <zstd.h>

#include "shared/wire/msgpack_writer.h"

namespace faultline::wire {

struct V1BatchBuilder::Compressor {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Compressor() { ZSTD_freeCCtx(cctx); }
};

V1BatchBuilder::V1BatchBuilder() : compressor_(std::make_unique<Compressor>()) {}
V1BatchBuilder::~V1BatchBuilder() = default;

std::uint32_t V1BatchBuilder::sourceIndex(std::string_view path) {
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (sources_[i] == path) {
      return static_cast<std::uint32_t>(i);
    }
  }
  sources_.emplace_back(path);
  return static_cast<std::uint32_t>(sources_.size() - 1);
}

void V1BatchBuilder::addRecord(std::uint32_t source, std::int64_t ts_ns, std::string_view line,
                               bool no_newline) {
  const bool first = record_count_ == 0;
  const bool put_source = !first ? source != last_source_ : source != 0;
  const bool put_ts = first || ts_ns != last_ts_;
  MsgpackWriter pk(&records_);
  pk.map(1 + (put_source ? 1 : 0) + (put_ts ? 1 : 0) + (no_newline ? 1 : 0));
  pk.str("l");
  pk.bin(line);
  if (put_source) {
    pk.str("s");
    pk.u64(source);
  }
  if (put_ts) {
    pk.str("t");
    pk.i64(ts_ns);
  }
  if (no_newline) {
    pk.str("n");
    pk.boolean(true);
  }
  last_source_ = source;
  last_ts_ = ts_ns;
  ++record_count_;
  line_bytes_ += line.size();
}

std::string V1BatchBuilder::encodePreamble(const BatchHeader& header) const {
  std::string out;
  MsgpackWriter pk(&out);
  pk.map(8);
  pk.str("v");
  pk.u64(kBatchVersionV1);
  pk.str("agent");
  pk.str(header.agent);
  pk.str("epoch");
  pk.u64(header.epoch);
  pk.str("seq");
  pk.u64(header.seq);
  pk.str("sent_at");
  pk.i64(header.sent_at_ns);
  pk.str("sources");
  pk.array(static_cast<std::uint32_t>(sources_.size()));
  for (const std::string& source : sources_) {
    pk.str(source);
  }
  pk.str("templates");
  pk.array(0);
  pk.str("records");
  pk.array(static_cast<std::uint32_t>(record_count_));
  return out;
}

std::string V1BatchBuilder::encodeMsgpack(const BatchHeader& header) const {
  return encodePreamble(header) + records_;
}

Result<std::string> V1BatchBuilder::seal(const BatchHeader& header, int level) {
  std::string preamble = encodePreamble(header);
  ZSTD_CCtx* cctx = compressor_->cctx;
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  const std::size_t total = preamble.size() + records_.size();
  ZSTD_CCtx_setPledgedSrcSize(cctx, total);
  const std::size_t bound = ZSTD_compressBound(total);
  if (sealed_.size() < bound) {
    sealed_.resize(bound);
  }
  ZSTD_outBuffer output{sealed_.data(), sealed_.size(), 0};
  ZSTD_inBuffer first{preamble.data(), preamble.size(), 0};
  std::size_t rc = 0;
  while (first.pos < first.size && !ZSTD_isError(rc)) {
    rc = ZSTD_compressStream2(cctx, &output, &first, ZSTD_e_continue);
  }
  if (!ZSTD_isError(rc)) {
    ZSTD_inBuffer second{records_.data(), records_.size(), 0};
    do {
      rc = ZSTD_compressStream2(cctx, &output, &second, ZSTD_e_end);
    } while (!ZSTD_isError(rc) && rc != 0);
  }
  if (ZSTD_isError(rc)) {
    return internalError(std::string("zstd compress: ") + ZSTD_getErrorName(rc));
  }
  return std::string(sealed_.data(), output.pos);
}

void V1BatchBuilder::reset() {
  last_source_ = 0;
  last_ts_ = 0;
  sources_.clear();
  records_.clear();
  record_count_ = 0;
  line_bytes_ = 0;
}

}  // namespace faultline::wire
