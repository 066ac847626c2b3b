#include "shared/wire/batch.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "shared/logtemplate/miner.h"
#include "shared/wire/batch_body.h"
#include "shared/wire/msgpack_reader.h"

namespace faultline::wire {
namespace {

Status bad(const std::string& what) {
  return invalidArgument("bad batch: " + what);
}

Status decodeTemplates(MsgpackReader& in, DecodedBatch& batch, const Limits& limits) {
  std::uint32_t n = 0;
  if (!in.readArrayHeader(&n)) {
    return bad(in.error());
  }
  if (n > limits.max_templates) {
    return bad("too many templates: " + std::to_string(n));
  }
  batch.templates.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t fields = 0;
    Template tmpl;
    bool has_id = false, has_text = false;
    if (!in.readMapHeader(&fields)) {
      return bad(in.error());
    }
    for (std::uint32_t j = 0; j < fields; ++j) {
      std::string_view key;
      if (!in.readString(&key)) {
        return bad(in.error());
      }
      if (key == "id" && !has_id) {
        has_id = in.readUint(&tmpl.id);
      } else if (key == "text" && !has_text) {
        has_text = in.readString(&tmpl.text);
      } else {
        return bad("unknown or repeated template key '" + std::string(key.substr(0, 64)) + "'");
      }
      if (in.failed()) {
        return bad(in.error());
      }
    }
    if (!has_id || !has_text || tmpl.text.size() > limits.max_string_bytes) {
      return bad("template needs id and text (at most " + std::to_string(limits.max_string_bytes) +
                 " bytes)");
    }
    // Content addressing: an id names exactly one text, so no sender can make another
    // sender's id render differently.
    if (logtemplate::templateId(tmpl.text) != tmpl.id) {
      return bad("template " + templateIdText(tmpl.id) + ": id does not match its text");
    }
    batch.templates.push_back(tmpl);
  }
  return Status::ok();
}

Status decodeV1Records(MsgpackReader& in, DecodedBatch& batch, const Limits& limits) {
  std::uint32_t n = 0;
  if (!in.readArrayHeader(&n)) {
    return bad(in.error());
  }
  if (n > limits.max_records) {
    return bad("too many records: " + std::to_string(n));
  }
  batch.records.reserve(n);
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
    record.last_ts_ns = record.ts_ns;
    batch.line_bytes += record.line.size();
    batch.records.push_back(record);
  }
  return Status::ok();
}

Result<std::unique_ptr<DecodedBatch>> decodeOwned(std::unique_ptr<DecodedBatch> batch,
                                                  const Limits& limits) {
  std::string_view data(batch->storage.get(), batch->storage_size);
  MsgpackReader in(data);
  std::uint32_t fields = 0;
  if (!in.readMapHeader(&fields)) {
    return bad(in.error());
  }
  bool seen_v = false, seen_agent = false, seen_epoch = false, seen_seq = false,
       seen_sent_at = false, seen_records = false, seen_sources = false, seen_templates = false,
       seen_n = false, seen_lb = false, seen_body = false;
  std::uint64_t record_count = 0;
  std::string_view body;
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
    auto duplicate = [&]() {
      return bad(in.failed() ? in.error() : "duplicate key '" + std::string(key) + "'");
    };
    if (key == "v") {
      std::uint64_t v = 0;
      if (!once(seen_v) || !in.readUint(&v)) {
        return duplicate();
      }
      if (v != kBatchVersion && v != kBatchVersionV1) {
        return bad("unsupported version " + std::to_string(v) + " (this build reads " +
                   std::to_string(kBatchVersionV1) + " and " + std::to_string(kBatchVersion) + ")");
      }
      batch->version = static_cast<std::uint32_t>(v);
    } else if (key == "agent") {
      std::string_view agent;
      if (!once(seen_agent) || !in.readString(&agent)) {
        return duplicate();
      }
      if (agent.empty() || agent.size() > limits.max_string_bytes) {
        return bad("agent id empty or too long");
      }
      batch->header.agent = std::string(agent);
    } else if (key == "epoch") {
      if (!once(seen_epoch) || !in.readUint(&batch->header.epoch)) {
        return duplicate();
      }
    } else if (key == "seq") {
      if (!once(seen_seq) || !in.readUint(&batch->header.seq)) {
        return duplicate();
      }
    } else if (key == "sent_at") {
      if (!once(seen_sent_at) || !in.readInt(&batch->header.sent_at_ns)) {
        return duplicate();
      }
    } else if (key == "sources") {
      std::uint32_t n = 0;
      if (!once(seen_sources) || !in.readArrayHeader(&n)) {
        return duplicate();
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
      if (!once(seen_templates)) {
        return duplicate();
      }
      FL_RETURN_IF_ERROR(decodeTemplates(in, *batch, limits));
    } else if (key == "records") {
      if (!once(seen_records)) {
        return duplicate();
      }
      FL_RETURN_IF_ERROR(decodeV1Records(in, *batch, limits));
    } else if (key == "n") {
      if (!once(seen_n) || !in.readUint(&record_count)) {
        return duplicate();
      }
      if (record_count > limits.max_records) {
        return bad("too many records: " + std::to_string(record_count));
      }
    } else if (key == "lb") {
      if (!once(seen_lb) || !in.readUint(&batch->line_bytes)) {
        return duplicate();
      }
    } else if (key == "body") {
      if (!once(seen_body) || !in.readBinary(&body)) {
        return duplicate();
      }
    } else {
      return bad("unknown key '" + std::string(key.substr(0, 64)) + "'");
    }
  }
  if (!in.atEnd()) {
    return bad("trailing bytes after the batch map");
  }
  if (!seen_v || !seen_agent || !seen_epoch || !seen_seq) {
    return bad("missing one of v, agent, epoch, seq");
  }
  if (batch->version == kBatchVersionV1) {
    if (!seen_records || seen_n || seen_lb || seen_body) {
      return bad("a v1 batch has records (and no n, lb, body)");
    }
  } else {
    if (seen_records || !seen_n || !seen_body) {
      return bad("a v2 batch has n and body (and no records)");
    }
    FL_RETURN_IF_ERROR(body::decode(*batch, body, record_count, limits));
    // Link slots to the texts carried here; a carried text must fit its slot's parameters.
    std::unordered_map<std::uint64_t, std::int32_t> carried;
    for (std::size_t i = 0; i < batch->templates.size(); ++i) {
      if (!carried.emplace(batch->templates[i].id, static_cast<std::int32_t>(i)).second) {
        return bad("template " + templateIdText(batch->templates[i].id) + " carried twice");
      }
    }
    batch->template_text.assign(batch->template_ids.size(), -1);
    for (std::size_t slot = 0; slot < batch->template_ids.size(); ++slot) {
      auto it = carried.find(batch->template_ids[slot]);
      if (it == carried.end()) {
        continue;
      }
      const std::size_t holes =
          countHoles(batch->templates[static_cast<std::size_t>(it->second)].text);
      if (holes != batch->template_params[slot]) {
        return bad("template " + templateIdText(batch->template_ids[slot]) + " has " +
                   std::to_string(holes) + " holes but its records carry " +
                   std::to_string(batch->template_params[slot]) + " parameters");
      }
      batch->template_text[slot] = it->second;
    }
  }
  bool first = true;
  for (std::size_t i = 0; i < batch->records.size(); ++i) {
    const Record& record = batch->records[i];
    if (record.source >= batch->sources.size()) {
      return bad("record " + std::to_string(i) + " names source " + std::to_string(record.source) +
                 " of " + std::to_string(batch->sources.size()));
    }
    const std::int64_t low = std::min(record.ts_ns, record.last_ts_ns);
    const std::int64_t high = std::max(record.ts_ns, record.last_ts_ns);
    if (first || low < batch->min_ts_ns) {
      batch->min_ts_ns = low;
    }
    if (first || high > batch->max_ts_ns) {
      batch->max_ts_ns = high;
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
    return Status(Errc::ResourceExhausted,
                  "batch larger than " + std::to_string(limits.max_decompressed_bytes) + " bytes");
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
    return Status(
        Errc::ResourceExhausted,
        "compressed batch larger than " + std::to_string(limits.max_compressed_bytes) + " bytes");
  }
  // Fast path: one complete frame that declares its size (the agent always pledges it) is
  // decompressed straight into the batch's storage, with one reused context per thread.
  std::uint32_t magic = 0;
  if (compressed.size() >= 4) {
    std::memcpy(&magic, compressed.data(), 4);
  }
  unsigned long long declared = magic == ZSTD_MAGICNUMBER
                                    ? ZSTD_getFrameContentSize(compressed.data(), compressed.size())
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
    std::size_t n = ZSTD_decompressDCtx(dctx.get(), batch->storage.get(), size, compressed.data(),
                                        compressed.size());
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

}  // namespace faultline::wire
