#include "shared/wire/batch.h"

#include <msgpack.h>
#include <zstd.h>

#include <cstring>

#include "shared/wire/msgpack_reader.h"

namespace faultline::wire {
namespace {

int appendToString(void* data, const char* buf, size_t len) {
  static_cast<std::string*>(data)->append(buf, len);
  return 0;
}

class Packer {
 public:
  explicit Packer(std::string* out) { msgpack_packer_init(&pk_, out, appendToString); }
  void map(std::uint32_t n) { msgpack_pack_map(&pk_, n); }
  void array(std::uint32_t n) { msgpack_pack_array(&pk_, n); }
  void str(std::string_view s) {
    msgpack_pack_str(&pk_, s.size());
    msgpack_pack_str_body(&pk_, s.data(), s.size());
  }
  void bin(std::string_view s) {
    msgpack_pack_bin(&pk_, s.size());
    msgpack_pack_bin_body(&pk_, s.data(), s.size());
  }
  void u64(std::uint64_t v) { msgpack_pack_uint64(&pk_, v); }
  void i64(std::int64_t v) { msgpack_pack_int64(&pk_, v); }
  void boolean(bool v) {
    if (v) {
      msgpack_pack_true(&pk_);
    } else {
      msgpack_pack_false(&pk_);
    }
  }

 private:
  msgpack_packer pk_{};
};

Status bad(const std::string& what) { return invalidArgument("bad batch: " + what); }

Result<std::unique_ptr<DecodedBatch>> decodeOwned(std::unique_ptr<DecodedBatch> batch,
                                                  const Limits& limits) {
  std::string_view data(batch->storage.get(), batch->storage_size);
  MsgpackReader in(data);
  std::uint32_t fields = 0;
  if (!in.readMapHeader(&fields)) {
    return bad(in.error());
  }
  bool seen_v = false, seen_agent = false, seen_epoch = false, seen_seq = false,
       seen_records = false, seen_sources = false;
  std::vector<bool> seen_keys;
  for (std::uint32_t f = 0; f < fields; ++f) {
    std::string_view key;
    if (!in.readString(&key)) {
      return bad(in.error());
    }
    auto once = [&](bool& seen) {
      if (seen) {
        return false;
      }
      seen = true;
      return true;
    };
    if (key == "v") {
      std::uint64_t v = 0;
      if (!once(seen_v) || !in.readUint(&v)) {
        return bad(in.failed() ? in.error() : "duplicate key 'v'");
      }
      if (v != kBatchVersion) {
        return bad("unsupported version " + std::to_string(v) + " (this build reads " +
                   std::to_string(kBatchVersion) + ")");
      }
      batch->version = static_cast<std::uint32_t>(v);
    } else if (key == "agent") {
      std::string_view agent;
      if (!once(seen_agent) || !in.readString(&agent)) {
        return bad(in.failed() ? in.error() : "duplicate key 'agent'");
      }
      if (agent.empty() || agent.size() > limits.max_string_bytes) {
        return bad("agent id empty or too long");
      }
      batch->header.agent = std::string(agent);
    } else if (key == "epoch") {
      if (!once(seen_epoch) || !in.readUint(&batch->header.epoch)) {
        return bad(in.failed() ? in.error() : "duplicate key 'epoch'");
      }
    } else if (key == "seq") {
      if (!once(seen_seq) || !in.readUint(&batch->header.seq)) {
        return bad(in.failed() ? in.error() : "duplicate key 'seq'");
      }
    } else if (key == "sent_at") {
      if (!in.readInt(&batch->header.sent_at_ns)) {
        return bad(in.error());
      }
    } else if (key == "sources") {
      std::uint32_t n = 0;
      if (!once(seen_sources) || !in.readArrayHeader(&n)) {
        return bad(in.failed() ? in.error() : "duplicate key 'sources'");
      }
      if (n > limits.max_sources) {
        return bad("too many sources: " + std::to_string(n));
      }
      batch->sources.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        std::string_view source;
        if (!in.readString(&source)) {
          return bad(in.error());
        }
        if (source.size() > limits.max_string_bytes) {
          return bad("source name too long");
        }
        batch->sources.push_back(source);
      }
    } else if (key == "templates") {
      std::uint32_t n = 0;
      if (!in.readArrayHeader(&n)) {
        return bad(in.error());
      }
      if (n > limits.max_templates) {
        return bad("too many templates: " + std::to_string(n));
      }
      for (std::uint32_t i = 0; i < n; ++i) {
        std::uint32_t tfields = 0;
        Template tmpl;
        bool has_id = false, has_text = false;
        if (!in.readMapHeader(&tfields)) {
          return bad(in.error());
        }
        for (std::uint32_t j = 0; j < tfields; ++j) {
          std::string_view tkey;
          if (!in.readString(&tkey)) {
            return bad(in.error());
          }
          if (tkey == "id" && !has_id) {
            has_id = in.readUint(&tmpl.id);
          } else if (tkey == "text" && !has_text) {
            has_text = in.readString(&tmpl.text);
          } else {
            return bad("unknown or repeated template key '" + std::string(tkey) + "'");
          }
          if (in.failed()) {
            return bad(in.error());
          }
        }
        if (!has_id || !has_text || tmpl.text.size() > limits.max_string_bytes) {
          return bad("template needs id and text (at most " +
                     std::to_string(limits.max_string_bytes) + " bytes)");
        }
        batch->templates.push_back(tmpl);
      }
    } else if (key == "records") {
      std::uint32_t n = 0;
      if (!once(seen_records) || !in.readArrayHeader(&n)) {
        return bad(in.failed() ? in.error() : "duplicate key 'records'");
      }
      if (n > limits.max_records) {
        return bad("too many records: " + std::to_string(n));
      }
      batch->records.reserve(n);
      std::uint64_t previous_src = 0;
      std::int64_t previous_ts = 0;
      for (std::uint32_t i = 0; i < n; ++i) {
        std::uint32_t rfields = 0;
        if (!in.readMapHeader(&rfields)) {
          return bad(in.error());
        }
        Record record;
        std::uint64_t src = previous_src;
        record.ts_ns = previous_ts;
        bool has_src = false, has_ts = false, has_line = false, has_nonl = false;
        for (std::uint32_t j = 0; j < rfields; ++j) {
          std::string_view rkey;
          if (!in.readString(&rkey)) {
            return bad(in.error());
          }
          if (rkey == "l" && !has_line) {
            has_line = in.readBinary(&record.line);
          } else if (rkey == "s" && !has_src) {
            has_src = in.readUint(&src);
          } else if (rkey == "t" && !has_ts) {
            has_ts = in.readInt(&record.ts_ns);
          } else if (rkey == "n" && !has_nonl) {
            has_nonl = in.readBool(&record.no_newline);
          } else {
            return bad("record " + std::to_string(i) + ": unknown or repeated key '" +
                       std::string(rkey.substr(0, 64)) + "'");
          }
          if (in.failed()) {
            return bad(in.error());
          }
        }
        if (!has_line || (i == 0 && !has_ts)) {
          return bad("record " + std::to_string(i) + " needs l" + (i == 0 ? " and t" : ""));
        }
        previous_src = src;
        previous_ts = record.ts_ns;
        if (record.line.size() > limits.max_line_bytes) {
          return bad("record " + std::to_string(i) + ": line longer than " +
                     std::to_string(limits.max_line_bytes) + " bytes");
        }
        // Sources may come after records in the map, so the index is checked at the end.
        record.source = static_cast<std::uint32_t>(src > UINT32_MAX ? UINT32_MAX : src);
        batch->line_bytes += record.line.size();
        batch->records.push_back(record);
      }
    } else {
      return bad("unknown key '" + std::string(key.substr(0, 64)) + "'");
    }
  }
  if (!in.atEnd()) {
    return bad("trailing bytes after the batch map");
  }
  if (!seen_v || !seen_agent || !seen_epoch || !seen_seq || !seen_records) {
    return bad("missing one of v, agent, epoch, seq, records");
  }
  bool first = true;
  for (std::size_t i = 0; i < batch->records.size(); ++i) {
    const Record& record = batch->records[i];
    if (record.source >= batch->sources.size()) {
      return bad("record " + std::to_string(i) + " names source " +
                 std::to_string(record.source) + " of " + std::to_string(batch->sources.size()));
    }
    if (first || record.ts_ns < batch->min_ts_ns) {
      batch->min_ts_ns = record.ts_ns;
    }
    if (first || record.ts_ns > batch->max_ts_ns) {
      batch->max_ts_ns = record.ts_ns;
    }
    first = false;
  }
  return batch;
}

}  // namespace

Result<std::string> zstdDecompress(std::string_view data, std::size_t max_output) {
  std::uint32_t magic = 0;
  if (data.size() >= 4) {
    std::memcpy(&magic, data.data(), 4);  // the frame magic is little-endian
  }
  if (data.size() < 4 || magic != ZSTD_MAGICNUMBER) {
    return bad("not a zstd frame");
  }
  std::size_t frame_size = ZSTD_findFrameCompressedSize(data.data(), data.size());
  if (ZSTD_isError(frame_size)) {
    return bad(std::string("truncated or corrupt zstd frame: ") + ZSTD_getErrorName(frame_size));
  }
  if (frame_size != data.size()) {
    return bad("trailing bytes after the zstd frame");
  }
  unsigned long long declared = ZSTD_getFrameContentSize(data.data(), data.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return bad("corrupt zstd frame header");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_output) {
    return Status(Errc::ResourceExhausted, "batch decompresses to " + std::to_string(declared) +
                                               " bytes, more than " + std::to_string(max_output));
  }
  // Stream into a growing buffer so an unknown (or lying) content size cannot overrun the cap.
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) {
    return internalError("ZSTD_createDCtx failed");
  }
  std::string out;
  std::size_t capacity = declared != ZSTD_CONTENTSIZE_UNKNOWN
                             ? static_cast<std::size_t>(declared)
                             : std::min<std::size_t>(max_output, data.size() * 4 + 1024);
  out.resize(std::max<std::size_t>(capacity, 64));
  ZSTD_inBuffer input{data.data(), data.size(), 0};
  std::size_t produced = 0;
  while (true) {
    ZSTD_outBuffer output{out.data() + produced, out.size() - produced, 0};
    std::size_t rc = ZSTD_decompressStream(dctx.get(), &output, &input);
    if (ZSTD_isError(rc)) {
      return bad(std::string("zstd: ") + ZSTD_getErrorName(rc));
    }
    produced += output.pos;
    if (produced > max_output) {
      return Status(Errc::ResourceExhausted,
                    "batch decompresses to more than " + std::to_string(max_output) + " bytes");
    }
    if (rc == 0) {
      break;  // frame complete
    }
    if (input.pos == input.size && output.pos < output.size) {
      return bad("truncated zstd frame");
    }
    if (produced == out.size()) {
      std::size_t grown = std::min<std::size_t>(out.size() * 2, max_output + 1);
      if (grown <= out.size()) {
        return Status(Errc::ResourceExhausted,
                      "batch decompresses to more than " + std::to_string(max_output) + " bytes");
      }
      out.resize(grown);
    }
  }
  out.resize(produced);
  return out;
}

Result<std::string> zstdCompress(std::string_view data, int level) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) {
    return internalError(std::string("zstd compress: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

Result<std::unique_ptr<DecodedBatch>> decodeBatchMsgpack(std::string_view msgpack,
                                                         const Limits& limits) {
  if (msgpack.size() > limits.max_decompressed_bytes) {
    return Status(Errc::ResourceExhausted, "batch larger than " +
                                               std::to_string(limits.max_decompressed_bytes) +
                                               " bytes");
  }
  auto batch = std::make_unique<DecodedBatch>();
  // new char[] rather than make_unique<char[]>: no zero-fill of a buffer about to be overwritten.
  batch->storage.reset(new char[msgpack.size() + 1]);
  std::memcpy(batch->storage.get(), msgpack.data(), msgpack.size());
  batch->storage_size = msgpack.size();
  return decodeOwned(std::move(batch), limits);
}

Result<std::unique_ptr<DecodedBatch>> decodeBatch(std::string_view compressed,
                                                  const Limits& limits) {
  if (compressed.size() > limits.max_compressed_bytes) {
    return Status(Errc::ResourceExhausted, "compressed batch larger than " +
                                               std::to_string(limits.max_compressed_bytes) +
                                               " bytes");
  }
  // Fast path: one complete frame that declares its size (the agent always pledges it) is
  // decompressed straight into the batch's storage, with one reused context per thread.
  std::uint32_t magic = 0;
  if (compressed.size() >= 4) {
    std::memcpy(&magic, compressed.data(), 4);
  }
  unsigned long long declared =
      magic == ZSTD_MAGICNUMBER ? ZSTD_getFrameContentSize(compressed.data(), compressed.size())
                                : ZSTD_CONTENTSIZE_ERROR;
  if (declared != ZSTD_CONTENTSIZE_ERROR && declared != ZSTD_CONTENTSIZE_UNKNOWN &&
      ZSTD_findFrameCompressedSize(compressed.data(), compressed.size()) == compressed.size()) {
    if (declared > limits.max_decompressed_bytes) {
      return Status(Errc::ResourceExhausted, "batch decompresses to " + std::to_string(declared) +
                                                 " bytes, more than " +
                                                 std::to_string(limits.max_decompressed_bytes));
    }
    thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(),
                                                                            ZSTD_freeDCtx);
    if (!dctx) {
      return internalError("ZSTD_createDCtx failed");
    }
    auto batch = std::make_unique<DecodedBatch>();
    const auto size = static_cast<std::size_t>(declared);
    batch->storage.reset(new char[size + 1]);
    std::size_t n = ZSTD_decompressDCtx(dctx.get(), batch->storage.get(), size,
                                        compressed.data(), compressed.size());
    if (ZSTD_isError(n)) {
      return bad(std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    if (n != size) {
      return bad("zstd frame shorter than its declared size");
    }
    batch->storage_size = size;
    return decodeOwned(std::move(batch), limits);
  }
  auto raw = zstdDecompress(compressed, limits.max_decompressed_bytes);
  if (!raw) {
    return raw.status();
  }
  return decodeBatchMsgpack(*raw, limits);
}

// ---------------------------------------------------------------------------------------------

struct BatchBuilder::Compressor {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Compressor() { ZSTD_freeCCtx(cctx); }
};

BatchBuilder::BatchBuilder() : compressor_(std::make_unique<Compressor>()) {}
BatchBuilder::~BatchBuilder() = default;

std::uint32_t BatchBuilder::sourceIndex(std::string_view path) {
  // Batches name few sources; a linear scan beats hashing here.
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (sources_[i] == path) {
      return static_cast<std::uint32_t>(i);
    }
  }
  sources_.emplace_back(path);
  return static_cast<std::uint32_t>(sources_.size() - 1);
}

void BatchBuilder::addRecord(std::uint32_t source, std::int64_t ts_ns, std::string_view line,
                             bool no_newline) {
  const bool first = record_count_ == 0;
  const bool put_source = !first ? source != last_source_ : source != 0;
  const bool put_ts = first || ts_ns != last_ts_;
  Packer pk(&records_);
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

std::string BatchBuilder::encodePreamble(const BatchHeader& header) const {
  std::string out;
  Packer pk(&out);
  pk.map(8);
  pk.str("v");
  pk.u64(kBatchVersion);
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

std::string BatchBuilder::encodeMsgpack(const BatchHeader& header) const {
  std::string out = encodePreamble(header);
  out += records_;
  return out;
}

Result<std::string> BatchBuilder::seal(const BatchHeader& header, int level) {
  std::string preamble = encodePreamble(header);
  ZSTD_CCtx* cctx = compressor_->cctx;
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::size_t total = preamble.size() + records_.size();
  ZSTD_CCtx_setPledgedSrcSize(cctx, total);
  // Compress into a buffer kept across batches: a fresh zero-filled bound-sized string per
  // batch cost a memset and page faults on the agent's hot path.
  std::size_t bound = ZSTD_compressBound(total);
  if (sealed_.size() < bound) {
    sealed_.resize(bound);
  }
  ZSTD_outBuffer output{sealed_.data(), sealed_.size(), 0};
  // The preamble and the records are compressed as one frame without concatenating them.
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

void BatchBuilder::reset() {
  last_source_ = 0;
  last_ts_ = 0;
  sources_.clear();
  records_.clear();
  record_count_ = 0;
  line_bytes_ = 0;
}

}  // namespace faultline::wire
