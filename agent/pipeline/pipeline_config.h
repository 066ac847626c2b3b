#pragma once

// What the processing pipeline (parse → multiline → redact → filter → reduce) is told to do.
// Built from the agent's config file; rebuilt on SIGHUP. Plain data, validated by
// Processor::create (bad regexes, unknown formats) and by agentConfigFromTable (ranges).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/logparse/multiline.h"
#include "shared/logparse/parser.h"
#include "shared/logparse/severity.h"
#include "shared/redact/redactor.h"

namespace faultline::agent {

/// A glob (fnmatch, FNM_PATHNAME off so "*" spans directories) and the value it selects.
struct GlobRule {
  std::string glob;
  std::string value;
};

struct PipelineConfig {
  // Parse: the default format and per-source overrides ("/var/log/nginx/*.log" → nginx_access).
  logparse::ParserOptions parser;  // parser.format is the default for unmatched sources
  std::vector<GlobRule> source_formats;

  // Multiline: "off" or a MultilineOptions::mode, per source; events are flushed after
  // flush_timeout without a new line.
  std::string multiline_mode = "off";
  logparse::MultilineOptions multiline;
  std::vector<GlobRule> source_multiline;
  std::chrono::milliseconds multiline_flush{1000};

  // Redact.
  bool redact = true;
  redact::RedactOptions redact_options;

  // Filter. Lines below min_severity are dropped (kUnknown keeps everything; lines without a
  // severity always pass); drop/keep are RE2 patterns on the (redacted) line; drop_sources are
  // globs. sample_one_in keeps 1 of every N lines per template at or below sample_max_severity.
  // template_rate_limit caps lines per second per template (0 = off), template_burst its bucket.
  logparse::Severity min_severity = logparse::Severity::kUnknown;
  std::vector<std::string> drop_patterns;
  std::vector<std::string> keep_patterns;
  std::vector<std::string> drop_sources;
  std::uint32_t sample_one_in = 1;
  logparse::Severity sample_max_severity = logparse::Severity::kInfo;
  std::uint32_t template_rate_limit = 0;
  std::uint32_t template_burst = 0;

  // Reduce. Exact duplicate lines of one source within dedupe_window (and within one batch)
  // collapse into one record with a count. Template mining turns lines into id + params.
  // Templates listed in aggregate_templates (text or hex id) whose lines are at or below
  // aggregate_max_severity (never above warn) are folded into counts per batch window.
  bool dedupe = true;
  std::chrono::milliseconds dedupe_window{10'000};
  bool templates = true;
  std::vector<std::string> aggregate_templates;
  logparse::Severity aggregate_max_severity = logparse::Severity::kDebug;
};

}  // namespace faultline::agent
