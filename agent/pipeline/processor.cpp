#include "agent/pipeline/processor.h"

#include <fnmatch.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstdio>
#include <deque>

#include "shared/util/time.h"

namespace faultline::agent {
namespace {
using logparse::Severity;

bool globMatches(const std::string& glob, std::string_view path) {
  std::string p(path);
  return ::fnmatch(glob.c_str(), p.c_str(), 0) == 0;
}

// Lines without a severity are treated as info by sampling and folding: neither may touch a
// line known to be an error, and an unlabelled line is most often routine output.
Severity effectiveSeverity(Severity s) {
  return s == Severity::kUnknown ? Severity::kInfo : s;
}

std::string hexId(std::uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}
}  // namespace

struct Processor::Settings {
  PipelineConfig config;
  std::unique_ptr<logparse::Parser> default_parser;
  std::vector<std::pair<std::string, std::unique_ptr<logparse::Parser>>> source_parsers;
  std::unique_ptr<redact::Redactor> redactor;
  std::vector<std::unique_ptr<re2::RE2>> drop;
  std::vector<std::unique_ptr<re2::RE2>> keep;
};

struct Processor::SourceSettings {
  const logparse::Parser* parser = nullptr;
  std::string multiline_mode;  // "off" or a joiner mode
  bool dropped = false;
};

struct Processor::StreamState {
  std::string source;
  const SourceSettings* settings = nullptr;  // owned by sources_; both cleared together
  std::string multiline_mode;
  std::unique_ptr<logparse::MultilineJoiner> joiner;  // null when multiline is off
  // End offset and read time of each line inside the joiner, oldest first: an emitted event of
  // n lines ends where its n-th line ended.
  std::deque<std::pair<std::uint64_t, std::int64_t>> pending;
  std::int64_t last_add_mono_ns = 0;
  logparse::EventTimeCarry event_time;  // untimed lines take their neighbour's time
};

struct Processor::TemplateState {
  std::uint64_t template_id = 0;  // the id the aggregate decision below was made for
  bool aggregate = false;
  std::uint64_t seen = 0;  // for 1-in-N sampling
  double tokens = 0;       // rate-limit bucket
  std::int64_t refilled_mono_ns = 0;
};

Processor::Processor(uv_loop_t* loop, RecordSink* sink, PipelineMetrics* metrics)
    : loop_(loop),
      sink_(sink),
      metrics_(metrics),
      flush_timer_(loop, [this] { flushIdle(loopNowNs()); }) {}

Processor::~Processor() = default;

// The loop's cached clock (ms resolution): no system call per line.
std::int64_t Processor::loopNowNs() const {
  return static_cast<std::int64_t>(uv_now(loop_)) * 1'000'000;
}

Result<std::unique_ptr<Processor::Settings>> Processor::buildSettings(
    const PipelineConfig& config) {
  auto settings = std::make_unique<Settings>();
  settings->config = config;
  FL_ASSIGN_OR_RETURN(settings->default_parser, logparse::Parser::create(config.parser));
  for (const GlobRule& rule : config.source_formats) {
    logparse::ParserOptions options = config.parser;
    auto format = logparse::formatFromName(rule.value);
    if (!format) {
      return format.status().withContext("parse.sources " + rule.glob);
    }
    options.format = *format;
    auto parser = logparse::Parser::create(options);
    if (!parser) {
      return parser.status().withContext("parse.sources " + rule.glob);
    }
    settings->source_parsers.emplace_back(rule.glob, std::move(*parser));
  }
  auto check_multiline = [&](const std::string& mode, const std::string& where) -> Status {
    if (mode == "off") {
      return Status::ok();
    }
    logparse::MultilineOptions options = config.multiline;
    options.mode = mode;
    auto joiner = logparse::MultilineJoiner::create(options);
    return joiner ? Status::ok() : joiner.status().withContext(where);
  };
  FL_RETURN_IF_ERROR(check_multiline(config.multiline_mode, "multiline.mode"));
  for (const GlobRule& rule : config.source_multiline) {
    FL_RETURN_IF_ERROR(check_multiline(rule.value, "multiline.sources " + rule.glob));
  }
  if (config.redact) {
    FL_ASSIGN_OR_RETURN(settings->redactor, redact::Redactor::create(config.redact_options));
  }
  auto compile = [](const std::vector<std::string>& patterns, const std::string& key,
                    std::vector<std::unique_ptr<re2::RE2>>& out) -> Status {
    re2::RE2::Options options;
    options.set_log_errors(false);
    for (const std::string& pattern : patterns) {
      auto re = std::make_unique<re2::RE2>(pattern, options);
      if (!re->ok()) {
        return invalidArgument(key + ": bad pattern '" + pattern + "': " + re->error());
      }
      out.push_back(std::move(re));
    }
    return Status::ok();
  };
  FL_RETURN_IF_ERROR(compile(config.drop_patterns, "filter.drop", settings->drop));
  FL_RETURN_IF_ERROR(compile(config.keep_patterns, "filter.keep", settings->keep));
  if (config.aggregate_max_severity > Severity::kWarn) {
    return invalidArgument(
        "reduce.aggregate_max_severity: errors are never folded; use warn or "
        "lower");
  }
  return settings;
}

Result<std::unique_ptr<Processor>> Processor::create(uv_loop_t* loop, const PipelineConfig& config,
                                                     RecordSink* sink, PipelineMetrics* metrics) {
  FL_ASSIGN_OR_RETURN(auto settings, buildSettings(config));
  std::unique_ptr<Processor> processor(new Processor(loop, sink, metrics));
  processor->settings_ = std::move(settings);
  return processor;
}

Status Processor::reconfigure(const PipelineConfig& config) {
  FL_ASSIGN_OR_RETURN(auto settings, buildSettings(config));
  flushAll();
  settings_ = std::move(settings);
  // Joiners follow the new rules from the next line on; their open events were just flushed.
  last_stream_ = nullptr;
  streams_.clear();
  sources_.clear();
  for (auto& [cluster, state] : template_state_) {
    state.template_id = 0;  // re-decide aggregation against the new list
  }
  return Status::ok();
}

const Processor::SourceSettings& Processor::sourceSettings(std::string_view source) {
  auto it = sources_.find(std::string(source));
  if (it != sources_.end()) {
    return *it->second;
  }
  const PipelineConfig& config = settings_->config;
  auto s = std::make_unique<SourceSettings>();
  s->parser = settings_->default_parser.get();
  for (const auto& [glob, parser] : settings_->source_parsers) {
    if (globMatches(glob, source)) {
      s->parser = parser.get();
      break;
    }
  }
  s->multiline_mode = config.multiline_mode;
  for (const GlobRule& rule : config.source_multiline) {
    if (globMatches(rule.glob, source)) {
      s->multiline_mode = rule.value;
      break;
    }
  }
  for (const std::string& glob : config.drop_sources) {
    if (globMatches(glob, source)) {
      s->dropped = true;
      break;
    }
  }
  // Sources are file paths: a handful per agent, so this cache stays small.
  return *sources_.emplace(std::string(source), std::move(s)).first->second;
}

Processor::StreamState& Processor::streamState(tail::StreamId stream, std::string_view source) {
  // Lines come in runs of one stream (a read chunk at a time): remember the last one.
  if (last_stream_ != nullptr && last_stream_id_ == stream) {
    return *last_stream_;
  }
  auto it = streams_.find(stream);
  if (it == streams_.end()) {
    it = streams_.emplace(stream, newStreamState(source)).first;
  }
  last_stream_id_ = stream;
  last_stream_ = it->second.get();
  return *last_stream_;
}

std::unique_ptr<Processor::StreamState> Processor::newStreamState(std::string_view source) {
  auto state = std::make_unique<StreamState>();
  state->source = std::string(source);
  const SourceSettings& s = sourceSettings(source);
  state->settings = &s;
  state->multiline_mode = s.multiline_mode;
  if (s.multiline_mode != "off") {
    logparse::MultilineOptions options = settings_->config.multiline;
    options.mode = s.multiline_mode;
    auto joiner = logparse::MultilineJoiner::create(options);
    if (joiner) {  // validated in buildSettings
      state->joiner = std::move(*joiner);
    }
  }
  return state;
}

void Processor::onLine(tail::StreamId stream, std::string_view source, std::string_view line,
                       std::uint64_t end_offset, bool no_newline, std::int64_t read_ts_ns) {
  ++metrics_->lines_in;
  metrics_->bytes_in += line.size();
  StreamState& state = streamState(stream, source);
  if (state.joiner == nullptr) {
    processEvent(stream, state, line, end_offset, no_newline, read_ts_ns);
    return;
  }
  if (no_newline) {
    // A piece of an overlong line (or an unterminated last line) is never joined: the event
    // before it leaves first, then the piece on its own.
    flushStream(stream, state);
    processEvent(stream, state, line, end_offset, no_newline, read_ts_ns);
    return;
  }
  state.pending.emplace_back(end_offset, read_ts_ns);
  state.last_add_mono_ns = loopNowNs();
  std::size_t before = state.pending.size();
  state.joiner->add(line, [&](std::string_view event, std::size_t lines) {
    std::uint64_t event_end = 0;
    std::int64_t event_ts = 0;
    for (std::size_t i = 0; i < lines && !state.pending.empty(); ++i) {
      std::tie(event_end, event_ts) = state.pending.front();
      state.pending.pop_front();
    }
    metrics_->multiline_joined += lines > 0 ? lines - 1 : 0;
    processEvent(stream, state, event, event_end, false, event_ts);
  });
  (void)before;
  if (state.joiner->hasOpenEvent()) {
    armFlushTimer();
  }
}

void Processor::onReadPassDone() {
  sink_->onReadPassDone();
}

void Processor::flushStream(tail::StreamId stream, StreamState& state) {
  if (state.joiner == nullptr || !state.joiner->hasOpenEvent()) {
    return;
  }
  state.joiner->flush([&](std::string_view event, std::size_t lines) {
    std::uint64_t event_end = 0;
    std::int64_t event_ts = 0;
    for (std::size_t i = 0; i < lines && !state.pending.empty(); ++i) {
      std::tie(event_end, event_ts) = state.pending.front();
      state.pending.pop_front();
    }
    metrics_->multiline_joined += lines > 0 ? lines - 1 : 0;
    processEvent(stream, state, event, event_end, false, event_ts);
  });
}

void Processor::flushAll() {
  for (auto& [stream, state] : streams_) {
    flushStream(stream, *state);
  }
  flush_timer_.stop();
}

void Processor::flushIdle(std::int64_t now_ns) {
  const std::int64_t timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(settings_->config.multiline_flush)
          .count();
  bool any_open = false;
  for (auto it = streams_.begin(); it != streams_.end();) {
    StreamState& state = *it->second;
    if (state.joiner != nullptr && state.joiner->hasOpenEvent() &&
        now_ns - state.last_add_mono_ns >= timeout_ns) {
      flushStream(it->first, state);
    }
    if (state.joiner != nullptr && state.joiner->hasOpenEvent()) {
      any_open = true;
    }
    ++it;
  }
  if (!any_open) {
    flush_timer_.stop();  // idle agents must not wake up for nothing
  }
}

void Processor::armFlushTimer() {
  if (flush_timer_.active()) {
    return;
  }
  auto period = std::max<std::chrono::milliseconds>(settings_->config.multiline_flush / 2,
                                                    std::chrono::milliseconds(20));
  flush_timer_.start(period, period);
}

void Processor::processEvent(tail::StreamId stream, StreamState& state,
                             std::string_view event, std::uint64_t end_offset, bool no_newline,
                             std::int64_t read_ts_ns) {
  ++metrics_->events;
  const Settings& settings = *settings_;
  const PipelineConfig& config = settings.config;
  const SourceSettings& source_settings = *state.settings;
  const std::string_view source = state.source;
  if (source_settings.dropped) {
    ++metrics_->dropped_source;
    sink_->onSkipped(stream, end_offset);
    return;
  }

  source_settings.parser->parse(event, parsed_);
  if (parsed_.format != logparse::Format::kPlain) {
    ++metrics_->parsed_structured;
  }
  if (parsed_.ts_ns != 0) {
    ++metrics_->with_timestamp;
  }
  if (parsed_.severity != Severity::kUnknown) {
    ++metrics_->with_severity;
  }
  const Severity severity = parsed_.severity;
  const std::int64_t event_ts = state.event_time.resolve(parsed_.ts_ns, read_ts_ns);

  std::string_view line = event;
  if (settings.redactor != nullptr && settings.redactor->redact(event, redacted_, redact_stats_)) {
    line = redacted_;
    ++metrics_->lines_redacted;
    for (std::size_t k = 0; k < metrics_->redactions.size() && k < redact_stats_.by_kind.size();
         ++k) {
      metrics_->redactions[k] = redact_stats_.by_kind[k];
    }
  }

  if (config.min_severity != Severity::kUnknown && severity != Severity::kUnknown &&
      severity < config.min_severity) {
    ++metrics_->dropped_severity;
    sink_->onSkipped(stream, end_offset);
    return;
  }
  if (!settings.drop.empty() || !settings.keep.empty()) {
    re2::StringPiece text(line.data(), line.size());
    bool drop = std::any_of(settings.drop.begin(), settings.drop.end(),
                            [&](const auto& re) { return re2::RE2::PartialMatch(text, *re); });
    if (!drop && !settings.keep.empty()) {
      drop = std::none_of(settings.keep.begin(), settings.keep.end(),
                          [&](const auto& re) { return re2::RE2::PartialMatch(text, *re); });
    }
    if (drop) {
      ++metrics_->dropped_pattern;
      sink_->onSkipped(stream, end_offset);
      return;
    }
  }

  PipelineRecord record;
  record.stream = stream;
  record.source = source;
  record.end_offset = end_offset;
  record.no_newline = no_newline;
  record.read_ts_ns = read_ts_ns;
  record.line = line;
  record.severity = severity;
  record.event_ts_ns = event_ts;
  record.dedupe = config.dedupe;

  if (config.templates) {
    miner_.mine(line, mined_);
    record.mined = &mined_;
    if (mined_.template_id != 0) {
      TemplateState& ts = template_state_[mined_.cluster];
      const Severity effective = effectiveSeverity(severity);
      if (config.sample_one_in > 1 && effective <= config.sample_max_severity) {
        if (ts.seen++ % config.sample_one_in != 0) {
          ++metrics_->dropped_sampled;
          sink_->onSkipped(stream, end_offset);
          return;
        }
      }
      if (config.template_rate_limit > 0) {
        const std::int64_t now = loopNowNs();
        const double burst = std::max<double>(config.template_burst, config.template_rate_limit);
        if (ts.refilled_mono_ns == 0) {
          ts.tokens = burst;
        } else {
          ts.tokens = std::min(burst, ts.tokens + static_cast<double>(now - ts.refilled_mono_ns) *
                                                      config.template_rate_limit / 1e9);
        }
        ts.refilled_mono_ns = now;
        if (ts.tokens < 1.0) {
          ++metrics_->dropped_rate_limited;
          sink_->onSkipped(stream, end_offset);
          return;
        }
        ts.tokens -= 1.0;
      }
      if (!config.aggregate_templates.empty()) {
        if (ts.template_id != mined_.template_id) {
          ts.template_id = mined_.template_id;
          const std::string id_hex = hexId(mined_.template_id);
          ts.aggregate =
              std::any_of(config.aggregate_templates.begin(), config.aggregate_templates.end(),
                          [&](const std::string& wanted) {
                            return wanted == mined_.template_text || wanted == id_hex ||
                                   wanted == miner_.clusterTemplate(mined_.cluster);
                          });
        }
        record.aggregate = ts.aggregate && effective <= config.aggregate_max_severity;
      }
    }
    metrics_->templates_known = miner_.clusterCount();
  }
  sink_->onRecord(record);
}

}  // namespace faultline::agent
