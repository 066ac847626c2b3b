// Wire format benchmark: batch v1 (raw lines) against v2 (templates + typed columns) on a log
// file. Usage: wire_bench FILE [batch_raw_bytes=1048576] [max_lines=all] [--streams]
// [--only-level1]
//
// Lines are cut into batches of about batch_raw_bytes of raw text, as the agent's collector
// does. For v2 each line is templated by the agent's template miner (shared/logtemplate,
// default options, one miner for the whole run as the agent keeps one); lines it does not
// mine travel raw. Severity and event time come from a stand-in parser (a leading ISO-8601
// UTC stamp, the first level word). Each template text is sent once per run, as the agent
// sends it once per stream. Mining and parsing are not timed; only the builder calls
// ("encode"), seal() ("seal") and decodeBatch + rendering every line ("decode+render") are,
// in thread CPU time. Every batch is checked to render back to the input byte for byte.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "shared/logtemplate/miner.h"
#include "shared/wire/batch.h"
#include "shared/wire/batch_body.h"
#include "shared/wire/batch_v1_builder.h"
#include "shared/wire/msgpack_reader.h"
#include "shared/wire/varint.h"

using namespace faultline;

namespace {

std::int64_t cpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Line {
  std::string_view text;
  bool no_newline = false;
};

/// The miner's output for one line, kept until the batch is encoded.
struct Templated {
  bool raw = true;
  std::uint64_t id = 0;
  const std::string* text = nullptr;  // interned
  std::vector<std::string_view> params;
  std::uint8_t severity = 0;
  std::int64_t event_ts_ns = 0;
};

/// The real template miner; template texts are interned by id, because MinedLine's text is
/// only valid until the next line is mined and a batch is mined before it is encoded.
class MinerTemplater {
 public:
  void templateLine(std::string_view line, Templated& out) {
    miner_.mine(line, mined_);
    out.params.clear();
    out.raw = mined_.template_id == 0;
    if (out.raw) {
      return;
    }
    auto it = texts_.find(mined_.template_id);
    if (it == texts_.end()) {
      it = texts_.emplace(mined_.template_id, std::string(mined_.template_text)).first;
    }
    out.id = mined_.template_id;
    out.text = &it->second;
    out.params.assign(mined_.params.begin(), mined_.params.end());
  }
  std::size_t templates() const { return texts_.size(); }
  std::size_t clusters() const { return miner_.clusterCount(); }

 private:
  logtemplate::TemplateMiner miner_;
  logtemplate::MinedLine mined_;
  // std::unordered_map never moves its values: the pointers in Templated stay valid.
  std::unordered_map<std::uint64_t, std::string> texts_;
};

int digitsAt(std::string_view s, std::size_t at, std::size_t n) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::int64_t daysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

/// Stand-in parser: "YYYY-MM-DDTHH:MM:SS.mmmZ" at the start (or after {"ts":"), and a level.
void standInParse(std::string_view line, Templated& out) {
  out.event_ts_ns = 0;
  out.severity = 0;
  std::size_t at = line.rfind("{\"ts\":\"", 0) == 0 ? 7 : 0;
  if (line.size() >= at + 24 && line[at + 4] == '-' && line[at + 10] == 'T' &&
      line[at + 19] == '.' && line[at + 23] == 'Z') {
    int y = digitsAt(line, at, 4), mo = digitsAt(line, at + 5, 2), d = digitsAt(line, at + 8, 2);
    int h = digitsAt(line, at + 11, 2), mi = digitsAt(line, at + 14, 2);
    int s = digitsAt(line, at + 17, 2), ms = digitsAt(line, at + 20, 3);
    if (y >= 0 && mo >= 0 && d >= 0 && h >= 0 && mi >= 0 && s >= 0 && ms >= 0) {
      out.event_ts_ns =
          ((daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms) * 1'000'000;
    }
  }
  static const std::pair<std::string_view, std::uint8_t> kLevels[] = {
      {"DEBUG", 2}, {"INFO", 3}, {"WARN", 5}, {"ERROR", 6},
      {"debug", 2}, {"info", 3}, {"warn", 5}, {"error", 6}};
  std::string_view head = line.substr(0, 80);
  for (const auto& [word, severity] : kLevels) {
    if (head.find(word) != std::string_view::npos) {
      out.severity = severity;
      break;
    }
  }
}

struct Totals {
  std::uint64_t wire_l1 = 0, wire_l3 = 0;
  std::int64_t encode_ns = 0, seal_l1_ns = 0, seal_l3_ns = 0, decode_ns = 0;
};

void printRow(const char* name, const Totals& t, std::uint64_t raw_bytes, std::uint64_t lines) {
  auto pct = [&](std::uint64_t bytes) {
    return 100.0 * static_cast<double>(bytes) / static_cast<double>(raw_bytes);
  };
  auto per = [&](std::int64_t ns) { return static_cast<double>(ns) / static_cast<double>(lines); };
  std::printf("| %-38s | %12llu | %6.2f%% | %12llu | %6.2f%% | %7.1f | %7.1f | %7.1f | %7.1f |\n",
              name, static_cast<unsigned long long>(t.wire_l1), pct(t.wire_l1),
              static_cast<unsigned long long>(t.wire_l3), pct(t.wire_l3), per(t.encode_ns),
              per(t.seal_l1_ns), per(t.seal_l3_ns), per(t.decode_ns));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  bool show_streams = false;
  bool only_level1 = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--streams") == 0) {
      show_streams = true;
    } else if (std::strcmp(argv[i], "--only-level1") == 0) {
      only_level1 = true;  // for instruction counts per level (valgrind --tool=callgrind)
    } else {
      args.emplace_back(argv[i]);
    }
  }
  if (args.empty()) {
    std::cerr << "usage: wire_bench FILE [batch_raw_bytes=1048576] [max_lines] [--streams] "
                 "[--only-level1]\n";
    return 2;
  }
  const std::size_t batch_bytes = args.size() > 1 ? std::stoull(args[1]) : 1u << 20;
  const std::size_t max_lines = args.size() > 2 ? std::stoull(args[2]) : SIZE_MAX;
  std::ifstream in(args[0], std::ios::binary);
  if (!in) {
    std::cerr << "wire_bench: cannot read " << args[0] << "\n";
    return 1;
  }
  std::string data;
  in.seekg(0, std::ios::end);
  data.resize(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));

  std::vector<Line> lines;
  for (std::size_t pos = 0; pos < data.size() && lines.size() < max_lines;) {
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back({std::string_view(data).substr(pos), true});
      break;
    }
    lines.push_back({std::string_view(data).substr(pos, nl - pos), false});
    pos = nl + 1;
  }
  std::uint64_t raw_bytes = 0;
  for (const Line& line : lines) {
    raw_bytes += line.text.size() + (line.no_newline ? 0 : 1);
  }

  wire::V1BatchBuilder v1;
  wire::BatchBuilder v2;
  MinerTemplater templater;
  std::unordered_set<std::uint64_t> sent;
  std::vector<Templated> batch_lines;
  Totals t1, t2;
  std::uint64_t templated_lines = 0, params = 0, batches = 0;
  std::vector<std::uint64_t> stream_bytes(wire::body::kStreamCount, 0);
  std::vector<std::uint64_t> stream_packed(wire::body::kStreamCount, 0);
  std::string rendered;
  std::unordered_map<std::uint64_t, std::string> dictionary;
  const wire::TemplateLookup lookup =
      [&dictionary](std::uint64_t id) -> std::optional<std::string_view> {
    auto it = dictionary.find(id);
    if (it == dictionary.end()) {
      return std::nullopt;
    }
    return std::string_view(it->second);
  };
  const std::int64_t base_ts = 1'790'000'000'000'000'000;
  std::uint64_t seq = 0;

  for (std::size_t begin = 0; begin < lines.size();) {
    // One batch: lines until batch_bytes of raw text.
    std::size_t end = begin;
    std::size_t bytes = 0;
    while (end < lines.size() && bytes < batch_bytes) {
      bytes += lines[end++].text.size() + 1;
    }
    batch_lines.resize(end - begin);
    for (std::size_t i = begin; i < end; ++i) {
      Templated& tl = batch_lines[i - begin];
      templater.templateLine(lines[i].text, tl);
      standInParse(lines[i].text, tl);
    }
    wire::BatchHeader header{"agt_bench", 1, ++seq, base_ts};
    // The agent reads in chunks: lines of one 64 KiB read share a read time.
    auto readTs = [&](std::size_t offset) {
      return base_ts + static_cast<std::int64_t>(offset / 65536) * 1'000'000;
    };

    // v1
    v1.reset();
    std::int64_t t0 = cpuNanos();
    std::uint32_t src1 = v1.sourceIndex("/var/log/app/bench.log");
    std::size_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      v1.addRecord(src1, readTs(offset), lines[i].text, lines[i].no_newline);
      offset += lines[i].text.size() + 1;
    }
    std::int64_t t_enc = cpuNanos();
    auto s1 = v1.seal(header, 1);
    std::int64_t t_s1 = cpuNanos();
    auto s3 = only_level1 ? s1 : v1.seal(header, 3);
    std::int64_t t_s3 = cpuNanos();
    if (!s1 || !s3) {
      std::cerr << "v1 seal failed\n";
      return 1;
    }
    t1.encode_ns += t_enc - t0;
    t1.seal_l1_ns += t_s1 - t_enc;
    t1.seal_l3_ns += t_s3 - t_s1;
    t1.wire_l1 += s1->size();
    t1.wire_l3 += s3->size();
    {
      std::int64_t d0 = cpuNanos();
      auto decoded = wire::decodeBatch(*s1);
      if (!decoded) {
        std::cerr << "v1 decode: " << decoded.status().toString() << "\n";
        return 1;
      }
      rendered.clear();
      for (const wire::Record& record : (*decoded)->records) {
        rendered.append(record.line);
        if (!record.no_newline) {
          rendered.push_back('\n');
        }
      }
      t1.decode_ns += cpuNanos() - d0;
    }

    // v2
    v2.reset();
    t0 = cpuNanos();
    std::uint32_t src2 = v2.sourceIndex("/var/log/app/bench.log");
    offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const Templated& tl = batch_lines[i - begin];
      wire::RecordMeta meta{src2, readTs(offset), lines[i].no_newline, tl.severity, tl.event_ts_ns};
      offset += lines[i].text.size() + 1;
      if (tl.raw) {
        v2.addRecord(meta, lines[i].text);
      } else {
        const bool send = sent.insert(tl.id).second;
        v2.addTemplated(meta, tl.id, *tl.text, send, tl.params);
      }
    }
    t_enc = cpuNanos();
    s1 = v2.seal(header, 1);
    t_s1 = cpuNanos();
    s3 = only_level1 ? s1 : v2.seal(header, 3);
    t_s3 = cpuNanos();
    if (!s1 || !s3) {
      std::cerr << "v2 seal failed\n";
      return 1;
    }
    t2.encode_ns += t_enc - t0;
    t2.seal_l1_ns += t_s1 - t_enc;
    t2.seal_l3_ns += t_s3 - t_s1;
    t2.wire_l1 += s1->size();
    t2.wire_l3 += s3->size();
    {
      std::int64_t d0 = cpuNanos();
      auto decoded = wire::decodeBatch(*s1);
      if (!decoded) {
        std::cerr << "v2 decode: " << decoded.status().toString() << "\n";
        return 1;
      }
      // Texts sent in earlier batches come from the run's own dictionary, as at export.
      for (const wire::Template& tmpl : (*decoded)->templates) {
        dictionary.emplace(tmpl.id, std::string(tmpl.text));
      }
      rendered.clear();
      for (const wire::Record& record : (*decoded)->records) {
        Status status = wire::renderRecordLine(**decoded, record, lookup, rendered);
        if (!status.isOk()) {
          std::cerr << "v2 render: " << status.toString() << "\n";
          return 1;
        }
        if (!record.no_newline) {
          rendered.push_back('\n');
        }
      }
      t2.decode_ns += cpuNanos() - d0;
      std::string_view expected(
          lines[begin].text.data(),
          static_cast<std::size_t>(lines[end - 1].text.data() + lines[end - 1].text.size() -
                                   lines[begin].text.data()) +
              (lines[end - 1].no_newline ? 0 : 1));
      if (rendered != expected) {
        std::cerr << "v2 batch " << seq << " does not render back to its input\n";
        return 1;
      }
    }
    for (const Templated& tl : batch_lines) {
      templated_lines += tl.raw ? 0 : 1;
      params += tl.params.size();
    }
    if (show_streams) {
      // Stream sizes of this batch, each also compressed alone at level 1.
      const std::string msgpack = v2.encodeMsgpack(header);
      wire::MsgpackReader reader(msgpack);
      std::uint32_t fields = 0;
      std::string_view body;
      reader.readMapHeader(&fields);
      for (std::uint32_t f = 0; f < fields && !reader.failed(); ++f) {
        std::string_view key;
        reader.readString(&key);
        if (key == "body") {
          reader.readBinary(&body);
        } else {
          reader.skip(8);
        }
      }
      wire::StreamReader r(body);
      std::uint64_t count = 0;
      std::vector<std::uint64_t> lengths(wire::body::kStreamCount);
      r.varint(&count);
      for (auto& length : lengths) {
        r.varint(&length);
      }
      std::size_t at = body.size() - r.remaining();
      for (std::size_t i = 0; i < lengths.size() && r.ok(); ++i) {
        const std::string_view part = body.substr(at, lengths[i]);
        at += lengths[i];
        stream_bytes[i] += part.size();
        if (!part.empty()) {
          stream_packed[i] += wire::zstdCompress(part, 1)->size();
        }
      }
    }
    ++batches;
    begin = end;
  }

  std::printf("wire_bench: %s: %zu lines, %llu bytes, %llu batches of ~%zu raw bytes\n",
              args[0].c_str(), lines.size(), static_cast<unsigned long long>(raw_bytes),
              static_cast<unsigned long long>(batches), batch_bytes);
  std::printf(
      "v2 templating: template miner: %llu of %zu lines templated, %zu template texts "
      "(%zu clusters at the end), %.2f params per templated line\n",
      static_cast<unsigned long long>(templated_lines), lines.size(), templater.templates(),
      templater.clusters(),
      templated_lines ? static_cast<double>(params) / static_cast<double>(templated_lines) : 0.0);
  std::printf(
      "\n| format                                 |  wire (zstd1) | %% raw   |  wire (zstd3) | %% "
      "raw   | enc ns/l | seal1 ns/l | seal3 ns/l | dec+render ns/l |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  printRow("v1 (raw lines, msgpack)", t1, raw_bytes, lines.size());
  printRow("v2 (miner templates, typed columns)", t2, raw_bytes, lines.size());
  if (show_streams) {
    static const char* kNames[] = {"slots",  "kinds",  "flags",  "sources", "times",
                                   "events", "counts", "rawlen", "raw",     "tags",
                                   "nums",   "bin",    "strs"};
    std::printf("\nv2 body streams (bytes, and each alone at zstd 1):\n");
    for (std::size_t i = 0; i < stream_bytes.size(); ++i) {
      std::printf("  %-8s %12llu %12llu\n", kNames[i],
                  static_cast<unsigned long long>(stream_bytes[i]),
                  static_cast<unsigned long long>(stream_packed[i]));
    }
  }
  return 0;
}
