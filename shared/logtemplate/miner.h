#pragma once

// Online log template mining (Drain-style fixed-depth parse tree with generic masks) that stays
// lossless: every line becomes a template id plus parameters, and renderLine() rebuilds the
// exact bytes. Shared by the agent, the aggregator (log upload, reconstruction) and the
// `faultline-agent templates` tool.
//
// A template's text is the line with each variable part replaced by "<*>", every other byte
// kept exactly (whitespace included), e.g. "Connected to <*>:<*> in <*>ms". A literal "<*>" in
// a line is not representable; such lines come back without a template (send raw). The template
// id is derived from the text alone (first 8 bytes of BLAKE2b of the text), so it is the same
// across restarts, processes and agents. When a cluster widens (a constant position becomes a
// variable) its text, and therefore its id, changes; old ids stay valid forever because they
// name a text, not a cluster.
//
// Clustering works on whitespace-separated words, masks applied first (numbers, hex ids,
// IPv4/IPv6, UUIDs, paths, URLs, e-mail, dates/times, true/false/null: see tokenizer.h); the
// template text is the line's own bytes with the masked parts (e.g. the whole of "blk_123",
// the value of "pid=42") and the words that vary between lines replaced. A literal word that
// varies becomes "<*>" only after MinerOptions::values_to_generalize distinct values, so state
// names stay in the text. Holes separated only by whitespace are one parameter ("at <*>" for
// "at Fri Jun 17 07:07:00 2005"): a parameter may contain spaces. The configuration is
// generic: no per-data-set rules.
//
// Speed: a line that differs from an earlier one only in its digits and hex letters is parsed
// straight with that line's template (no tokenizing, no tree search).
//
// Memory: bounded by MinerOptions::max_clusters (least recently used clusters are evicted;
// their ids stay valid, a later line just starts a new cluster).
// Threads: one TemplateMiner per thread (or per stream); not thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::logtemplate {

inline constexpr std::string_view kHole = "<*>";

/// MinedLine::cluster of a line that was not mined.
inline constexpr std::uint32_t kNoCluster = 0xFFFFFFFFu;

/// The stable id of a template text: the first 8 bytes of its BLAKE2b digest
/// (crypto_generichash, 32-byte output, no key) read little-endian; 1 if that is 0.
std::uint64_t templateId(std::string_view template_text);

/// Rebuilds a line from a template text and its parameters (one per "<*>", in order). Error
/// when the counts differ. Appends to `out`.
Status renderLine(std::string_view template_text, const std::vector<std::string_view>& params,
                  std::string& out);

struct MinerOptions {
  /// Share of a cluster's literal words a line must match (a changed value counts as a match)
  /// to widen the cluster. One generic default: every Loghub data set scores within 0.01 GA
  /// of its best anywhere in 0.7-0.9 (docs/benchmarks.md).
  double similarity_threshold = 0.75;
  std::size_t tree_depth = 4;  // as Drain's: root, word count, tree_depth - 3 leading words, leaf
  std::size_t max_children = 100;
  std::size_t max_clusters = 20000;
  std::size_t max_line_bytes = 16 * 1024;  // longer lines are not mined (no template)
  std::size_t max_tokens = 256;            // lines with more tokens (words) are not mined
  /// A literal word that is the only difference between lines becomes "<*>" once this many
  /// distinct values were seen there; with fewer, each value keeps its own template (state
  /// names, enumerations: "from NEW to RUNNING" vs "from RUNNING to DONE").
  std::size_t values_to_generalize = 3;
  /// ...unless one value holds more than this share of those lines (a constant with rare
  /// exceptions: "user=root" vs "user=guest"); from 2 * values_to_generalize values on, it
  /// becomes a variable anyway.
  double dominant_value_share = 0.8;
};

struct MinedLine {
  std::uint64_t template_id = 0;   // 0 = no template (line must be sent raw)
  std::string_view template_text;  // valid until the next call to mine()
  /// True when this template text is new to this miner (never returned before): the caller
  /// sends its text once per stream.
  bool new_template = false;
  std::vector<std::string_view> params;  // views into the mined line
  /// The cluster's index (debug/tooling); kNoCluster when not mined. Indices of evicted
  /// clusters are reused; a merged cluster's index keeps naming the cluster it joined.
  std::uint32_t cluster = kNoCluster;
};

class TemplateMiner {
 public:
  explicit TemplateMiner(MinerOptions options = {});
  ~TemplateMiner();
  TemplateMiner(const TemplateMiner&) = delete;
  TemplateMiner& operator=(const TemplateMiner&) = delete;

  /// Mines one line (no '\n' inside expected, but handled: such lines are not mined). `out`
  /// is reused between calls. renderLine(out.template_text, out.params) == line always holds.
  void mine(std::string_view line, MinedLine& out);

  struct ClusterInfo {
    std::string template_text;  // the cluster's current (widest) template
    std::uint64_t template_id = 0;
    std::uint64_t count = 0;
  };
  /// Current clusters, most frequent first (the `templates` tool, tests).
  std::vector<ClusterInfo> clusters() const;
  /// The current template of cluster `index` (as in MinedLine::cluster), following merges;
  /// empty when the cluster was evicted. Valid until the next call to mine().
  std::string_view clusterTemplate(std::uint32_t index) const;

  std::size_t clusterCount() const;
  std::size_t memoryBytes() const;  // approximate, for metrics and the RSS budget

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::logtemplate
