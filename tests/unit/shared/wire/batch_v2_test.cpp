// Batch v2: templates, typed parameters, dedupe counts, aggregates, strict decoding; and v1
// batches (older agents' spools) still decoding.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "shared/logtemplate/miner.h"
#include "shared/wire/batch.h"
#include "shared/wire/batch_body.h"
#include "shared/wire/batch_v1_builder.h"
#include "shared/wire/msgpack_writer.h"
#include "shared/wire/varint.h"

using namespace faultline;
using namespace faultline::wire;
using logtemplate::templateId;

// Counts global operator new calls while armed: the steady-state builder must not allocate
// per record.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

// new and delete below are malloc and free; GCC cannot see that they match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

BatchHeader header(std::uint64_t seq) {
  return {"agt_v2", 5, seq, 1'800'000'000'000'000'000};
}

/// A template dictionary like the aggregator's: texts by id.
struct Dictionary {
  std::map<std::uint64_t, std::string> texts;
  void learn(const DecodedBatch& batch) {
    for (const Template& t : batch.templates) {
      texts.emplace(t.id, std::string(t.text));
    }
  }
  TemplateLookup lookup() const {
    return [this](std::uint64_t id) -> std::optional<std::string_view> {
      auto it = texts.find(id);
      if (it == texts.end()) {
        return std::nullopt;
      }
      return std::string_view(it->second);
    };
  }
};

/// Every line of a batch as export writes it: duplicates expanded, aggregates skipped.
std::string renderAll(const DecodedBatch& batch, const TemplateLookup& lookup) {
  std::string out;
  for (const Record& record : batch.records) {
    if (record.kind == RecordKind::Aggregate) {
      continue;
    }
    for (std::uint64_t copy = 0; copy < record.count; ++copy) {
      Status status = renderRecordLine(batch, record, lookup, out);
      REQUIRE_MESSAGE(status.isOk(), status.toString());
      if (!record.no_newline) {
        out.push_back('\n');
      }
    }
  }
  return out;
}

std::unique_ptr<DecodedBatch> decodeOk(const std::string& sealed, const Limits& limits = {}) {
  auto decoded = decodeBatch(sealed, limits);
  REQUIRE_MESSAGE(decoded.isOk(), decoded.status().toString());
  return std::move(decoded).value();
}

/// A one-template batch carrying `params` in `records` records (the text sent).
std::unique_ptr<DecodedBatch> roundTripParams(const std::vector<std::string>& params,
                                              std::string* text_out = nullptr) {
  std::string text = "value ";
  for (std::size_t i = 0; i < params.size(); ++i) {
    text += i == 0 ? "<*>" : " <*>";
  }
  BatchBuilder builder;
  std::uint32_t src = builder.sourceIndex("/p");
  std::vector<std::string_view> views(params.begin(), params.end());
  builder.addTemplated({src, 1, false, 0, 0}, templateId(text), text, true, views);
  auto sealed = builder.seal(header(1));
  REQUIRE(sealed.isOk());
  if (text_out != nullptr) {
    *text_out = text;
  }
  return decodeOk(*sealed);
}

/// The line a template and its parameters stand for, written independently of the codec.
std::string renderByHand(std::string_view text, const std::vector<std::string_view>& params) {
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (text.substr(i, 3) == "<*>") {
      out += params.at(next++);
      i += 3;
    } else {
      out += text[i++];
    }
  }
  REQUIRE(next == params.size());
  return out;
}

std::string renderedParam(const DecodedBatch& batch, std::size_t i) {
  std::string out;
  renderParam(batch.params[i], out);
  return out;
}

// --- hand-built v2 batches for the strict-decoding tests ---------------------------------------

struct RawBatch {
  std::vector<std::pair<std::uint64_t, std::string>> templates;
  std::vector<std::string> sources = {"/s"};
  std::uint64_t n = 0;
  std::array<std::string, body::kStreamCount> streams;
  std::string body_override;  // when set, sent instead of the streams
  bool has_body = true;
  bool add_records_key = false;
};

std::string encode(const RawBatch& raw) {
  std::string body = raw.body_override;
  if (body.empty()) {
    putVarint(body, body::kStreamCount);
    for (const std::string& stream : raw.streams) {
      putVarint(body, stream.size());
    }
    for (const std::string& stream : raw.streams) {
      body += stream;
    }
  }
  std::string out;
  MsgpackWriter pk(&out);
  pk.map(8 + (raw.has_body ? 1 : 0) + (raw.add_records_key ? 1 : 0));
  pk.str("v");
  pk.u64(2);
  pk.str("agent");
  pk.str("agt_raw");
  pk.str("epoch");
  pk.u64(1);
  pk.str("seq");
  pk.u64(1);
  pk.str("sent_at");
  pk.i64(0);
  pk.str("sources");
  pk.array(static_cast<std::uint32_t>(raw.sources.size()));
  for (const std::string& s : raw.sources) {
    pk.str(s);
  }
  pk.str("templates");
  pk.array(static_cast<std::uint32_t>(raw.templates.size()));
  for (const auto& [id, text] : raw.templates) {
    pk.map(2);
    pk.str("id");
    pk.u64(id);
    pk.str("text");
    pk.str(text);
  }
  pk.str("n");
  pk.u64(raw.n);
  if (raw.has_body) {
    pk.str("body");
    pk.bin(body);
  }
  if (raw.add_records_key) {
    pk.str("records");
    pk.array(0);
  }
  return out;
}

/// One templated record of a one-parameter template whose parameter is the decimal 42.
RawBatch validOneRecord() {
  RawBatch raw;
  const std::string text = "x=<*>";
  raw.templates = {{templateId(text), text}};
  raw.n = 1;
  putVarint(raw.streams[body::kSlots], 1);
  putFixed64(raw.streams[body::kSlots], templateId(text));
  putVarint(raw.streams[body::kSlots], 1);
  putVarint(raw.streams[body::kKinds], 1);  // templated, slot 0
  raw.streams[body::kFlags].push_back(static_cast<char>(body::kFlagReadTime));
  putVarint(raw.streams[body::kTimes], zigzag(1000));
  raw.streams[body::kTags].push_back(static_cast<char>(body::kDec));
  putVarint(raw.streams[body::kNums], 42);
  return raw;
}

}  // namespace

TEST_CASE("v2 round trip: raw, templated, deduped and aggregate records with their metadata") {
  const std::string login = "user <*> logged in from <*> after <*>ms";
  const std::string bye = "user <*> left";
  BatchBuilder builder;
  const std::uint32_t a = builder.sourceIndex("/var/log/a.log");
  const std::uint32_t b = builder.sourceIndex("/var/log/b.log");
  std::size_t r0 =
      builder.addTemplated({a, 100, false, 3, 1'700'000'000'123'000'000}, templateId(login), login,
                           true, {"alice", "10.0.0.1", "15"});
  builder.addRecord({b, 101, true, 6, 0}, std::string("raw \x00\xff bytes", 13));
  builder.addTemplated({a, 102, false, 3, 1'700'000'000'124'000'000}, templateId(login), login,
                       false, {"bob", "10.0.0.2", "7"});
  builder.markDuplicate(r0, 150);
  builder.markDuplicate(r0, 160);
  builder.addAggregate(b, templateId(bye), bye, true, 2, 1234, 90, 190);
  std::size_t r4 =
      builder.addTemplated({b, 170, false, 5, 0}, templateId(bye), bye, false, {"eve"});
  builder.markDuplicate(r4, 175);
  CHECK(builder.recordCount() == 5);
  const std::size_t login_size =
      std::string("user alice logged in from 10.0.0.1 after 15ms").size();
  const std::size_t bob_size = std::string("user bob logged in from 10.0.0.2 after 7ms").size();
  CHECK(builder.lineBytes() ==
        3 * login_size + 13 + bob_size + 2 * std::string("user eve left").size());

  auto sealed = builder.seal(header(9), 3);
  REQUIRE(sealed.isOk());
  auto batch = decodeOk(*sealed);
  CHECK(batch->version == 2);
  CHECK(batch->header.agent == "agt_v2");
  CHECK(batch->header.seq == 9);
  CHECK(batch->line_bytes == builder.lineBytes());
  REQUIRE(batch->records.size() == 5);
  REQUIRE(batch->template_ids.size() == 2);
  REQUIRE(batch->templates.size() == 2);  // both texts were sent by some record

  const Record& first = batch->records[0];
  CHECK(first.kind == RecordKind::Templated);
  CHECK(batch->template_ids[first.template_slot] == templateId(login));
  CHECK(first.source == a);
  CHECK(first.severity == 3);
  CHECK(first.event_ts_ns == 1'700'000'000'123'000'000);
  CHECK(first.ts_ns == 100);
  CHECK(first.count == 3);
  CHECK(first.last_ts_ns == 160);
  CHECK(first.param_count == 3);

  const Record& raw = batch->records[1];
  CHECK(raw.kind == RecordKind::Raw);
  CHECK(raw.line == std::string_view("raw \x00\xff bytes", 13));
  CHECK(raw.no_newline);
  CHECK(raw.severity == 6);
  CHECK(raw.event_ts_ns == 0);
  CHECK(raw.source == b);

  const Record& aggregate = batch->records[3];
  CHECK(aggregate.kind == RecordKind::Aggregate);
  CHECK(batch->template_ids[aggregate.template_slot] == templateId(bye));
  CHECK(aggregate.count == 1234);
  CHECK(aggregate.ts_ns == 90);
  CHECK(aggregate.last_ts_ns == 190);
  CHECK(aggregate.severity == 2);
  std::string ignored;
  CHECK(renderRecordLine(*batch, aggregate, {}, ignored).code() == Errc::InvalidArgument);

  CHECK(batch->min_ts_ns == 90);
  CHECK(batch->max_ts_ns == 190);
  const std::string expected =
      "user alice logged in from 10.0.0.1 after 15ms\n"
      "user alice logged in from 10.0.0.1 after 15ms\n"
      "user alice logged in from 10.0.0.1 after 15ms\n" +
      std::string("raw \x00\xff bytes", 13) +  // no newline
      "user bob logged in from 10.0.0.2 after 7ms\n"
      "user eve left\nuser eve left\n";
  CHECK(renderAll(*batch, {}) == expected);
}

TEST_CASE("v2: a template sent in an earlier batch resolves through the caller's dictionary") {
  const std::string text = "GET <*> took <*>ms";
  BatchBuilder builder;
  Dictionary dictionary;
  builder.addTemplated({builder.sourceIndex("/s"), 1, false, 0, 0}, templateId(text), text, true,
                       {"/a", "3"});
  auto first = decodeOk(*builder.seal(header(1)));
  CHECK(first->templates.size() == 1);
  dictionary.learn(*first);

  builder.reset();
  builder.addTemplated({builder.sourceIndex("/s"), 2, false, 0, 0}, templateId(text), text, false,
                       {"/b", "4"});
  auto second = decodeOk(*builder.seal(header(2)));
  CHECK(second->templates.empty());
  REQUIRE(second->records.size() == 1);
  std::string line;
  Status missing = renderRecordLine(*second, second->records[0], {}, line);
  CHECK(missing.code() == Errc::NotFound);
  CHECK(missing.message().find(templateIdText(templateId(text))) != std::string::npos);
  CHECK(renderAll(*second, dictionary.lookup()) == "GET /b took 4ms\n");

  // A lookup that returns a text with the wrong number of holes is caught at render.
  TemplateLookup wrong = [](std::uint64_t) -> std::optional<std::string_view> {
    return std::string_view("only <*>");
  };
  line.clear();
  CHECK(renderRecordLine(*second, second->records[0], wrong, line).code() == Errc::InvalidArgument);
}

TEST_CASE("v2 typed parameters render back exactly, each in its expected form") {
  struct Case {
    std::string text;
    ParamKind kind;
  };
  const std::string binary("\x00\x01\xff\xfe\x7f", 5);
  const std::vector<Case> cases = {
      {"0", ParamKind::Decimal},
      {"42", ParamKind::Decimal},
      {"18446744073709551615", ParamKind::Decimal},   // uint64 max
      {"18446744073709551616", ParamKind::HexLower},  // one more: digits as hex, still exact
      {"007", ParamKind::ZeroPadded},
      {"00", ParamKind::ZeroPadded},
      {"00000000000000000001", ParamKind::ZeroPadded},  // 20 digits
      {"-5", ParamKind::Negative},
      {"-0", ParamKind::String},
      {"-007", ParamKind::String},
      {"+5", ParamKind::String},
      {"--5", ParamKind::String},
      {"5-", ParamKind::String},
      {"abc", ParamKind::HexLower},  // odd length
      {"deadbeef", ParamKind::HexLower},
      {"ABC", ParamKind::HexUpper},
      {"DEADBEEF0", ParamKind::HexUpper},
      {"aBc", ParamKind::String},  // mixed case
      {"0x1f", ParamKind::String},
      {"123e4567-e89b-12d3-a456-426614174000", ParamKind::UuidLower},
      {"123E4567-E89B-12D3-A456-426614174000", ParamKind::UuidUpper},
      {"123e4567-E89B-12d3-a456-426614174000", ParamKind::String},  // mixed case
      {"123e4567-e89b-12d3-a456-42661417400", ParamKind::String},   // short
      {"123e4567e-89b-12d3-a456-426614174000", ParamKind::String},  // dash misplaced
      {"", ParamKind::String},
      {binary, ParamKind::String},
      {std::string(200'000, 'q'), ParamKind::String},
      {"10.0.0.1", ParamKind::String},                  // shaped
      {"2026-08-20T00:00:00.007Z", ParamKind::String},  // shaped, zero-padded runs
      {std::string("a\0"
                   "12",
                   4),
       ParamKind::String},                              // NUL inside a shaped value
      {"x" + std::string(25, '9'), ParamKind::String},  // a run too long for a shape
  };
  std::vector<std::string> params;
  for (const Case& c : cases) {
    params.push_back(c.text);
  }
  std::string text;
  auto batch = roundTripParams(params, &text);
  REQUIRE(batch->records.size() == 1);
  REQUIRE(batch->params.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i << ": " << cases[i].text.substr(0, 40));
    CHECK(batch->params[i].kind == cases[i].kind);
    CHECK(renderedParam(*batch, i) == cases[i].text);
  }
  CHECK(batch->params[0].number == 0);
  CHECK(batch->params[4].number == 7);
  CHECK(batch->params[4].width == 3);
  CHECK(batch->params[7].number == 5);
  CHECK(batch->params[13].odd);
  CHECK(batch->params[13].bytes == std::string_view("\x0a\xbc", 2));
  std::string line;
  REQUIRE(renderRecordLine(*batch, batch->records[0], {}, line).isOk());
  std::string expected = "value ";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    expected += (i == 0 ? "" : " ") + cases[i].text;
  }
  CHECK(line == expected);
}

TEST_CASE("v2 columns: repeats, deltas, shapes and recent-value lists survive many records") {
  // Values chosen to exercise every column state: repeated strings beyond the recent list,
  // monotone and random numbers, shapes that come back after eviction, zero-padded deltas.
  const std::string text = "<*> <*> <*> <*> <*> <*>";
  std::mt19937_64 rng(7);
  BatchBuilder builder;
  const std::uint32_t src = builder.sourceIndex("/s");
  std::string expected;
  std::vector<std::string> values(6);
  for (std::int64_t i = 0; i < 3000; ++i) {
    values[0] = "2026-08-20T00:" + std::string(i % 60 < 10 ? "0" : "") + std::to_string(i % 60) +
                ":00." + std::to_string(100 + i % 900) + "Z";
    values[1] = "host-" + std::to_string(rng() % 12);  // 12 values, 8 remembered
    values[2] = std::to_string(1'000'000 + i * 3);     // monotone
    values[3] = std::to_string(rng());                 // random 64-bit
    const int shape = static_cast<int>(rng() % 4);
    values[4] = shape == 0   ? std::to_string(rng() % 256) + "." + std::to_string(rng() % 256)
                : shape == 1 ? "v" + std::to_string(rng() % 10) + "-" + std::to_string(rng() % 99)
                : shape == 2 ? std::string("no digits")
                             : "0" + std::to_string(rng() % 10) + "/x";
    values[5] = i % 7 == 0 ? "-" + std::to_string(i + 1) : "0" + std::to_string(i % 10);
    std::vector<std::string_view> views(values.begin(), values.end());
    builder.addTemplated({src, 1000 + i / 10, false, 0, 1'700'000'000'000'000'000 + i * 1'000'000},
                         templateId(text), text, i == 0, views);
    expected += values[0] + " " + values[1] + " " + values[2] + " " + values[3] + " " + values[4] +
                " " + values[5] + "\n";
  }
  for (int level : {1, 3}) {
    auto batch = decodeOk(*builder.seal(header(1), level));
    CHECK(renderAll(*batch, {}) == expected);
    CHECK(batch->records[2999].event_ts_ns == 1'700'000'000'000'000'000 + 2999LL * 1'000'000);
    CHECK(batch->records[2999].ts_ns == 1000 + 299);
  }
}

TEST_CASE("v2 random parameters round-trip (property test)") {
  // Parameters drawn from the characters the classifiers care about, across several
  // templates and positions, must always render back byte for byte.
  const std::string alphabet = std::string("0123456789abcdefABCDEF-.:/_xZ \x00\xff", 33);
  std::mt19937_64 rng(20261126);
  const std::vector<std::string> texts = {"<*>", "a <*> b <*>", "<*><*><*>", "k=<*>, <*>=<*> <*>",
                                          "<*> <*> <*> <*> <*> <*> <*> <*> <*> <*>"};
  for (int round = 0; round < 20; ++round) {
    BatchBuilder builder;
    const std::uint32_t src = builder.sourceIndex("/r");
    std::string expected;
    std::vector<std::string> storage;
    for (int i = 0; i < 400; ++i) {
      const std::string& text = texts[rng() % texts.size()];
      const std::size_t holes = countHoles(text);
      storage.assign(holes, "");
      for (std::string& param : storage) {
        const std::size_t length = rng() % 4 == 0 ? rng() % 40 : rng() % 8;
        for (std::size_t k = 0; k < length; ++k) {
          param.push_back(alphabet[rng() % alphabet.size()]);
        }
        if (rng() % 5 == 0) {
          param = std::to_string(rng() >> (rng() % 64));
        }
      }
      std::vector<std::string_view> views(storage.begin(), storage.end());
      builder.addTemplated({src, i, false, 0, 0}, templateId(text), text, true, views);
      expected += renderByHand(text, views) + "\n";
    }
    auto batch = decodeOk(*builder.seal(header(round)));
    REQUIRE(renderAll(*batch, {}) == expected);
  }
}

TEST_CASE("v1 batches of older agents still decode and render") {
  V1BatchBuilder v1;
  const std::uint32_t a = v1.sourceIndex("/old.log");
  v1.addRecord(a, 10, "first");
  v1.addRecord(a, 11, std::string("\x00bin", 4), true);
  auto batch = decodeOk(*v1.seal(header(3)));
  CHECK(batch->version == 1);
  REQUIRE(batch->records.size() == 2);
  CHECK(batch->records[0].kind == RecordKind::Raw);
  CHECK(batch->records[0].count == 1);
  CHECK(batch->records[0].last_ts_ns == 10);
  CHECK(batch->template_ids.empty());
  CHECK(renderAll(*batch, {}) == "first\n" + std::string("\x00bin", 4));
}

TEST_CASE("builder: lines the template cannot carry go raw, losslessly") {
  BatchBuilder builder;
  const std::uint32_t src = builder.sourceIndex("/s");
  // Over the 4096-byte text limit: sent as a raw line.
  const std::string long_text = std::string(5000, 't') + " <*>";
  builder.addTemplated({src, 1, false, 0, 0}, templateId(long_text), long_text, true, {"p"});
#ifdef NDEBUG
  // Release builds tolerate a parameter count that does not match the holes (debug asserts).
  const std::string text = "a <*> b <*>";
  builder.addTemplated({src, 2, false, 0, 0}, templateId(text), text, true, {"1"});
  builder.addTemplated({src, 3, false, 0, 0}, templateId(text), text, true, {"1", "2", "3"});
#endif
  auto batch = decodeOk(*builder.seal(header(1)));
  REQUIRE(!batch->records.empty());
  CHECK(batch->records[0].kind == RecordKind::Raw);
  std::string expected = std::string(5000, 't') + " p\n";
#ifdef NDEBUG
  expected += "a 1 b \na 1 b 23\n";
#endif
  CHECK(renderAll(*batch, {}) == expected);
}

TEST_CASE("builder: reuse after reset, and no allocation per record once warm") {
  const std::string text = "req <*> from <*> status <*> took <*>ms trace <*>";
  BatchBuilder builder;
  std::vector<std::string> lines;
  std::vector<std::array<std::string, 5>> params(2000);
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i] = {std::to_string(i * 7919 % 100000), "10.1." + std::to_string(i % 256) + ".9",
                 i % 5 == 0 ? "500" : "200", std::to_string(i % 1000),
                 std::to_string(i * 2654435761u) + "abcdef"};
  }
  std::vector<std::string_view> views(5);  // the caller's, allocated before counting
  auto fill = [&](bool send) {
    const std::uint32_t src = builder.sourceIndex("/s");
    for (std::size_t i = 0; i < params.size(); ++i) {
      for (std::size_t k = 0; k < 5; ++k) {
        views[k] = params[i][k];
      }
      const std::size_t index =
          builder.addTemplated({src, static_cast<std::int64_t>(i), false, 3, 0}, templateId(text),
                               text, send && i == 0, views);
      if (i % 10 == 0) {
        builder.markDuplicate(index, static_cast<std::int64_t>(i) + 1);
      }
      builder.addRecord({src, static_cast<std::int64_t>(i), false, 0, 0}, "raw line");
    }
  };
  fill(true);
  auto first = decodeOk(*builder.seal(header(1)));
  builder.reset();
  CHECK(builder.recordCount() == 0);
  CHECK(builder.lineBytes() == 0);
  fill(false);  // warm-up of every buffer at this size
  (void)builder.seal(header(2));
  builder.reset();
  g_allocations = 0;
  g_count_allocations = true;
  fill(false);
  g_count_allocations = false;
  CHECK(g_allocations.load() == 0);
  auto third = decodeOk(*builder.seal(header(3)));
  CHECK(third->templates.empty());  // the text went in the first batch only
  Dictionary dictionary;
  dictionary.learn(*first);
  CHECK(renderAll(*third, dictionary.lookup()) == renderAll(*first, {}));
}

TEST_CASE("builder: templates keep their own columns while the template set changes") {
  // Each template keeps its column state for the next batch it occurs in; slot numbers are
  // still handed out per batch in order of first use. Batches with changing, overlapping
  // template sets (and the shared compression context freed in between) render exactly.
  const std::vector<std::string> texts = {"open <*> as <*>", "read <*> bytes from <*> in <*>ms",
                                          "close <*>", "user <*> logged in from <*>"};
  const std::vector<std::vector<std::size_t>> batches = {{0, 1}, {1, 2}, {3}, {0, 3, 2, 1},
                                                         {2, 0}, {},     {1}};
  BatchBuilder builder;
  Dictionary dictionary;
  std::uint64_t seq = 0;
  std::size_t n = 0;
  for (const auto& used : batches) {
    std::string expected;
    const std::uint32_t src = builder.sourceIndex("/var/log/mixed.log");
    for (std::size_t round = 0; round < 50; ++round) {
      for (std::size_t t : used) {
        const std::string& text = texts[t];
        const std::size_t holes = countHoles(text);
        std::vector<std::string> values;
        for (std::size_t h = 0; h < holes; ++h) {
          values.push_back(h % 2 == 0 ? std::to_string(++n * 37 % 1000)
                                      : "f" + std::to_string(n % 7) + "_x");
        }
        std::vector<std::string_view> views(values.begin(), values.end());
        builder.addTemplated({src, static_cast<std::int64_t>(n), false, 3, 0}, templateId(text),
                             text, !dictionary.texts.count(templateId(text)), views);
        std::string line;
        std::size_t next = 0;
        std::string_view rest = text;
        for (std::size_t at = rest.find("<*>"); at != std::string_view::npos;
             at = rest.find("<*>")) {
          line.append(rest.substr(0, at)).append(values[next++]);
          rest.remove_prefix(at + 3);
        }
        expected.append(line).append(rest).push_back('\n');
      }
    }
    auto sealed = builder.seal(header(++seq));
    REQUIRE(sealed.isOk());
    auto decoded = decodeOk(*sealed);
    dictionary.learn(*decoded);
    CHECK(decoded->template_ids.size() == used.size());
    CHECK(renderAll(*decoded, dictionary.lookup()) == expected);
    builder.reset();
    if (seq % 2 == 0) {
      BatchBuilder::releaseCompressionMemory();
    }
  }
}

TEST_CASE("strict v2 decoding: a hand-built valid batch decodes, each corruption is refused") {
  auto decodes = [](const RawBatch& raw, const Limits& limits = {}) {
    return decodeBatchMsgpack(encode(raw), limits);
  };
  {
    auto ok = decodes(validOneRecord());
    REQUIRE_MESSAGE(ok.isOk(), ok.status().toString());
    std::string line;
    REQUIRE(renderRecordLine(**ok, (*ok)->records[0], {}, line).isOk());
    CHECK(line == "x=42");
  }
  auto refused = [&](const RawBatch& raw, std::string_view needle, const Limits& limits = {}) {
    auto decoded = decodes(raw, limits);
    REQUIRE_FALSE(decoded.isOk());
    CHECK(decoded.code() == Errc::InvalidArgument);
    INFO(decoded.status().message());
    CHECK(decoded.status().message().find(needle) != std::string::npos);
  };
  SUBCASE("a carried text whose id is not its hash (one agent poisoning another's ids)") {
    RawBatch raw = validOneRecord();
    raw.templates[0].second = "y=<*>";
    refused(raw, "does not match its text");
  }
  SUBCASE("a carried text with more holes than its slot has parameters") {
    RawBatch raw = validOneRecord();
    const std::string text = "x=<*> y=<*>";
    raw.templates = {{templateId(text), text}};
    raw.streams[body::kSlots].clear();
    putVarint(raw.streams[body::kSlots], 1);
    putFixed64(raw.streams[body::kSlots], templateId(text));
    putVarint(raw.streams[body::kSlots], 1);
    refused(raw, "holes");
  }
  SUBCASE("a record naming a slot that does not exist") {
    RawBatch raw = validOneRecord();
    raw.streams[body::kKinds].clear();
    putVarint(raw.streams[body::kKinds], 3);  // slot 1 of 1
    refused(raw, "slot");
  }
  SUBCASE("a source index past the sources table") {
    RawBatch raw = validOneRecord();
    raw.streams[body::kFlags][0] = static_cast<char>(body::kFlagReadTime | body::kFlagSource);
    putVarint(raw.streams[body::kSources], 1);
    refused(raw, "source");
  }
  SUBCASE("a truncated parameter column") {
    RawBatch raw = validOneRecord();
    raw.streams[body::kNums].clear();
    refused(raw, "parameter");
  }
  SUBCASE("trailing bytes in a stream") {
    RawBatch raw = validOneRecord();
    putVarint(raw.streams[body::kNums], 7);
    refused(raw, "trailing");
    RawBatch flags = validOneRecord();
    flags.streams[body::kFlags].push_back('\0');
    refused(flags, "trailing");
  }
  SUBCASE("stream lengths that do not add up") {
    RawBatch raw = validOneRecord();
    std::string body = encode(raw);
    RawBatch broken = validOneRecord();
    putVarint(broken.body_override, body::kStreamCount);
    for (std::size_t i = 0; i < body::kStreamCount; ++i) {
      putVarint(broken.body_override, i == body::kNums ? 5 : broken.streams[i].size());
    }
    for (const std::string& stream : broken.streams) {
      broken.body_override += stream;
    }
    refused(broken, "add up");
  }
  SUBCASE("unknown tags, bad modes, bad widths, bad hex padding, repeats of nothing") {
    const std::vector<std::pair<std::string, std::string>> bad_columns = {
        {std::string(1, '\x7f'), ""},                                   // unknown tag
        {std::string(1, static_cast<char>(body::kStrRef)) + '\0', ""},  // repeat of nothing
        // 127 zero-padded to 3 digits has no leading zero: not a kZpad value.
        {std::string(1, static_cast<char>(body::kZpad)) + '\x03', std::string(1, '\x7f')},
        {std::string(1, static_cast<char>(body::kZpad)) + '\x01', std::string(1, '\x05')},
        {std::string(1, static_cast<char>(body::kNeg)), std::string(1, '\0')},   // -0
        {std::string(1, static_cast<char>(body::kShapeRef)) + '\0' + '\0', ""},  // no shapes yet
    };
    for (const auto& column : bad_columns) {
      RawBatch raw = validOneRecord();
      raw.streams[body::kTags] = column.first;
      raw.streams[body::kNums] = column.second;
      const int tag = static_cast<unsigned char>(column.first[0]);
      INFO("tag " << tag);
      CHECK_FALSE(decodes(raw).isOk());
    }
    RawBatch hex = validOneRecord();
    hex.streams[body::kTags] = std::string(1, static_cast<char>(body::kHexLower)) + '\x03';
    hex.streams[body::kNums].clear();
    hex.streams[body::kBin] = std::string("\xab\xcd", 2);  // odd: the pad nibble must be 0
    refused(hex, "nibble");
  }
  SUBCASE("a non-minimal varint") {
    RawBatch raw = validOneRecord();
    raw.streams[body::kNums] = std::string("\xaa\x00", 2);
    refused(raw, "malformed");
  }
  SUBCASE("v1 and v2 keys mixed, or v2 keys missing") {
    RawBatch mixed = validOneRecord();
    mixed.add_records_key = true;
    refused(mixed, "v2 batch");
    RawBatch no_body = validOneRecord();
    no_body.has_body = false;
    refused(no_body, "v2 batch");
  }
  SUBCASE("an aggregate without its count and window") {
    RawBatch raw = validOneRecord();
    raw.streams[body::kKinds].clear();
    putVarint(raw.streams[body::kKinds], 2);  // aggregate of slot 0
    raw.streams[body::kTags].clear();
    raw.streams[body::kNums].clear();
    refused(raw, "aggregate");
  }
  SUBCASE("limits: records, slots, parameters, columns, expanded lines") {
    Limits limits;
    limits.max_records = 0;
    refused(validOneRecord(), "too many records", limits);
    limits = {};
    limits.max_templates = 0;
    refused(validOneRecord(), "templates", limits);
    RawBatch no_texts = validOneRecord();
    no_texts.templates.clear();
    refused(no_texts, "slot count", limits);
    limits = {};
    limits.max_template_params = 0;
    refused(validOneRecord(), "parameters, over the limit", limits);
    limits = {};
    limits.max_columns = 0;
    refused(validOneRecord(), "columns", limits);
    limits = {};
    limits.max_params = 0;
    refused(validOneRecord(), "parameters in the batch", limits);
    RawBatch counted = validOneRecord();
    counted.streams[body::kFlags][0] = static_cast<char>(body::kFlagReadTime | body::kFlagCounted);
    putVarint(counted.streams[body::kCounts], 1'000'000);
    putVarint(counted.streams[body::kCounts], 0);
    limits = {};
    limits.max_expanded_lines = 1'000'000;
    refused(counted, "expand", limits);
    limits.max_expanded_lines = 1'000'001;
    CHECK(decodes(counted, limits).isOk());
  }
}

TEST_CASE("decoded views stay inside the batch's own memory") {
  BatchBuilder builder;
  const std::string text = "<*> <*>";
  const std::uint32_t src = builder.sourceIndex("/s");
  for (int i = 0; i < 50; ++i) {
    builder.addTemplated({src, i, false, 0, 0}, templateId(text), text, i == 0,
                         {"10.0.0." + std::to_string(i), "word" + std::string(i % 3, 'x')});
  }
  auto sealed = builder.seal(header(1));
  auto batch = decodeOk(*sealed);
  auto inside = [&](std::string_view view) {
    if (view.empty()) {
      return true;
    }
    const char* begin = batch->storage.get();
    if (view.data() >= begin && view.data() + view.size() <= begin + batch->storage_size) {
      return true;
    }
    for (const auto& chunk : batch->arena) {
      if (view.data() >= chunk.data.get() &&
          view.data() + view.size() <= chunk.data.get() + chunk.size) {
        return true;
      }
    }
    return false;
  };
  for (const Param& param : batch->params) {
    CHECK(inside(param.bytes));
  }
}
