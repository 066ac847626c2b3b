#include "shared/logtemplate/miner.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "shared/logtemplate/byte_ops.h"
#include "shared/logtemplate/cluster_cache.h"
#include "shared/logtemplate/seen_ids.h"
#include "shared/logtemplate/template_parse.h"
#include "shared/logtemplate/tokenizer.h"
#include "shared/logtemplate/value_key.h"
#include "shared/logtemplate/word_pattern.h"

namespace faultline::logtemplate {
namespace {

constexpr std::uint32_t kNone = 0xFFFFFFFFu;

constexpr std::uint64_t kWildcard = 0;  // tree key of a word with a hole
constexpr std::size_t kMaxVariants = 4;

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  h *= 0xFF51AFD7ED558CCDULL;
  return h ^ (h >> 32);
}

enum class PatternKind : std::uint8_t {
  Shape,  // the word's own bytes with masked holes; matches words of the same shape
  Glob,   // holes match any bytes: "user=<*>", "<*>:<*>"
};

struct Position {
  std::uint32_t offset = 0;  // into Cluster::text
  std::uint32_t length = 0;
  std::uint32_t prefix = 0;  // Glob with one hole: literal bytes before it
  std::uint32_t suffix = 0;  // Glob with one hole: literal bytes after it
  std::uint32_t holes = 0;
  std::uint64_t shape_hash = 0;
  PatternKind kind = PatternKind::Shape;
  bool has_literal = false;  // counts toward similarity
  bool join_next = false;    // ends with a hole and the next starts with one: one parameter
};

// The template text for lines whose whitespace differs from single spaces.
struct Variant {
  std::uint64_t gap_hash = 0;
  std::uint64_t id = 0;
  std::string text;
  std::vector<Piece> pieces;
  bool returned = false;
};

struct Cluster {
  std::vector<Piece> pieces;  // `text` cut at its holes (the last piece may be empty)
  std::string patterns;       // the position patterns, joined by single spaces
  std::string text;           // canonical template: `patterns` with "<*> <*>" runs as one "<*>"
  std::vector<Position> positions;
  std::vector<Variant> variants;
  std::uint64_t id = 0;
  std::uint64_t count = 0;
  std::uint32_t generation = 0;
  std::uint32_t leaf = kNone;
  std::uint32_t forward = kNone;  // set when merged into another cluster
  std::uint32_t forward_generation = 0;
  std::uint32_t literal_positions = 0;  // positions whose pattern is not just "<*>"
  std::uint32_t lru_prev = kNone;
  std::uint32_t lru_next = kNone;
  bool live = false;
  bool returned = false;  // `text` was handed out by mine()

  std::string_view positionText(std::size_t i) const {
    return std::string_view(patterns).substr(positions[i].offset, positions[i].length);
  }
};

struct Candidate {
  std::uint32_t cluster = kNone;
  std::uint32_t similar = 0;  // matching positions that have literal bytes, plus value changes
  std::uint32_t literal_positions = 0;
  std::uint32_t params = 0;
  std::uint32_t literal_changes = 0;  // hole-free word against hole-free word: "a" vs "b"
  std::uint32_t literal_pos[4] = {};  // the first of them
  std::uint32_t structural = 0;       // words of different shapes: "f(<*>)" vs "g:<*>"

  double similarity() const {
    return literal_positions == 0 ? 1.0 : static_cast<double>(similar) / literal_positions;
  }
};

}  // namespace

struct TemplateMiner::Impl {
  explicit Impl(MinerOptions opts) : options(opts) {
    if (options.max_clusters == 0) {
      options.max_clusters = 1;
    }
    if (options.tree_depth < 3) {
      options.tree_depth = 3;
    }
    if (options.values_to_generalize < 2) {
      options.values_to_generalize = 2;
    }
  }

  MinerOptions options;
  std::vector<Cluster> clusters;
  std::vector<std::uint32_t> free_slots;
  std::vector<std::uint32_t> tombstones;  // merged clusters, reused oldest first
  std::size_t tombstone_head = 0;
  std::size_t live_count = 0;
  std::uint32_t lru_head = kNone;
  std::uint32_t lru_tail = kNone;

  // The prefix tree, flattened: leaf key -> leaf, node key -> number of literal children.
  std::vector<std::vector<std::uint32_t>> leaves;
  std::unordered_map<std::uint64_t, std::uint32_t> leaf_index;
  std::unordered_set<std::uint64_t> known_nodes;                  // literal children made so far
  std::unordered_map<std::uint64_t, std::uint32_t> child_counts;  // node -> literal children

  // Where lines went last time: by their value-free key (the fast path: parse the line with
  // that cluster's template) and by their tokenized shape.
  ClusterCache fast_cache;
  ClusterCache shape_cache;
  std::string key_scratch;
  std::vector<ByteSpan> gap_scratch;

  SeenIds seen;
  TokenizedLine tokens;
  std::vector<Candidate> candidates;
  std::vector<std::string> scratch_texts;
  mutable std::string scratch_shape;

  // ---- matching ----------------------------------------------------------------------

  // Whether `word` matches position `pos`; appends its parameters to `params` when given.
  bool matchPosition(const Cluster& c, std::size_t pos, std::string_view line,
                     const WordToken& word, std::vector<std::string_view>* params) const {
    const Position& p = c.positions[pos];
    const char* pattern = c.patterns.data() + p.offset;
    const char* s = line.data();
    if (p.kind == PatternKind::Glob && p.holes != 1) {
      return globMatch(std::string_view(pattern, p.length),
                       line.substr(word.begin, word.end - word.begin), params);
    }
    if (p.kind == PatternKind::Glob) {
      std::uint32_t len = word.end - word.begin;
      if (len < p.prefix + p.suffix || !sameBytes(pattern, s + word.begin, p.prefix) ||
          !sameBytes(pattern + p.length - p.suffix, s + word.end - p.suffix, p.suffix)) {
        return false;
      }
      if (params != nullptr) {
        params->push_back(line.substr(word.begin + p.prefix, len - p.prefix - p.suffix));
      }
      return true;
    }
    if (tokens.word_hashes && p.shape_hash != word.shape_hash) {
      return false;  // the slow path's quick reject
    }
    // Same shape (almost surely): check the literal bytes so that a hash collision can never
    // break the round trip.
    std::uint32_t at = 0;
    std::uint32_t cur = word.begin;
    const ByteSpan* holes = tokens.holes.data() + word.first_hole;
    for (std::uint32_t h = 0; h < word.hole_count; ++h) {
      std::uint32_t len = holes[h].begin - cur;
      if (at + len + kHole.size() > p.length || !sameBytes(pattern + at, s + cur, len) ||
          !isHoleAt(pattern + at + len)) {
        return false;
      }
      at += len + static_cast<std::uint32_t>(kHole.size());
      cur = holes[h].end;
    }
    std::uint32_t len = word.end - cur;
    if (p.length - at != len || !sameBytes(pattern + at, s + cur, len)) {
      return false;
    }
    if (params != nullptr) {
      for (std::uint32_t h = 0; h < word.hole_count; ++h) {
        params->push_back(line.substr(holes[h].begin, holes[h].end - holes[h].begin));
      }
    }
    return true;
  }

  bool matchAll(const Cluster& c, std::string_view line, std::vector<std::string_view>* params) {
    if (c.positions.size() != tokens.words.size()) {
      return false;
    }
    for (std::size_t i = 0; i < c.positions.size(); ++i) {
      std::size_t before = params != nullptr ? params->size() : 0;
      if (!matchPosition(c, i, line, tokens.words[i], params)) {
        return false;
      }
      if (params != nullptr && i > 0 && c.positions[i - 1].join_next && before > 0 &&
          params->size() > before) {
        // The hole that ends the previous word and the one that opens this word are one
        // parameter, whitespace included.
        std::string_view a = (*params)[before - 1];
        std::string_view b = (*params)[before];
        (*params)[before - 1] =
            std::string_view(a.data(), static_cast<std::size_t>(b.data() + b.size() - a.data()));
        params->erase(params->begin() + static_cast<std::ptrdiff_t>(before));
      }
    }
    return true;
  }

  // ---- cluster slots, LRU ------------------------------------------------------------

  void lruUnlink(std::uint32_t id) {
    Cluster& c = clusters[id];
    if (c.lru_prev != kNone) {
      clusters[c.lru_prev].lru_next = c.lru_next;
    } else {
      lru_head = c.lru_next;
    }
    if (c.lru_next != kNone) {
      clusters[c.lru_next].lru_prev = c.lru_prev;
    } else {
      lru_tail = c.lru_prev;
    }
    c.lru_prev = c.lru_next = kNone;
  }

  void lruPushFront(std::uint32_t id) {
    Cluster& c = clusters[id];
    c.lru_prev = kNone;
    c.lru_next = lru_head;
    if (lru_head != kNone) {
      clusters[lru_head].lru_prev = id;
    }
    lru_head = id;
    if (lru_tail == kNone) {
      lru_tail = id;
    }
  }

  void touch(std::uint32_t id) {
    if (lru_head != id) {
      lruUnlink(id);
      lruPushFront(id);
    }
  }

  std::uint32_t allocateSlot() {
    std::uint32_t id;
    if (!free_slots.empty()) {
      id = free_slots.back();
      free_slots.pop_back();
    } else if (tombstones.size() - tombstone_head > options.max_clusters) {
      id = tombstones[tombstone_head++];
      if (tombstone_head * 2 > tombstones.size()) {
        tombstones.erase(tombstones.begin(),
                         tombstones.begin() + static_cast<std::ptrdiff_t>(tombstone_head));
        tombstone_head = 0;
      }
    } else {
      id = static_cast<std::uint32_t>(clusters.size());
      clusters.emplace_back();
    }
    Cluster& c = clusters[id];
    ++c.generation;
    c.forward = kNone;
    c.count = 0;
    c.live = true;
    c.returned = false;
    ++live_count;
    lruPushFront(id);
    return id;
  }

  void removeFromLeaf(std::uint32_t id) {
    auto& leaf = leaves[clusters[id].leaf];
    auto it = std::find(leaf.begin(), leaf.end(), id);
    if (it != leaf.end()) {
      *it = leaf.back();
      leaf.pop_back();
    }
  }

  void releaseMemory(Cluster& c) {
    std::string().swap(c.text);
    std::string().swap(c.patterns);
    std::vector<Piece>().swap(c.pieces);
    std::vector<Position>().swap(c.positions);
    std::vector<Variant>().swap(c.variants);
  }

  void evictLeastRecentlyUsed() {
    std::uint32_t id = lru_tail;
    lruUnlink(id);
    removeFromLeaf(id);
    Cluster& c = clusters[id];
    releaseMemory(c);
    c.live = false;
    ++c.generation;  // cache entries and forwards to it go stale
    --live_count;
    free_slots.push_back(id);
  }

  void mergeInto(std::uint32_t from, std::uint32_t into) {
    Cluster& c = clusters[from];
    clusters[into].count += c.count;
    lruUnlink(from);
    removeFromLeaf(from);
    releaseMemory(c);
    c.live = false;
    c.forward = into;
    c.forward_generation = clusters[into].generation;
    --live_count;
    tombstones.push_back(from);
  }

  // Follows merges; kNone when the cluster (or what it was merged into) was evicted.
  std::uint32_t resolve(std::uint32_t id, std::uint32_t generation) const {
    for (int hops = 0; id < clusters.size() && hops < 64; ++hops) {
      const Cluster& c = clusters[id];
      if (c.generation != generation) {
        return kNone;
      }
      if (c.live) {
        return id;
      }
      if (c.forward == kNone) {
        return kNone;
      }
      generation = c.forward_generation;
      id = c.forward;
    }
    return kNone;
  }

  // ---- text --------------------------------------------------------------------------

  // Rebuilds patterns, text, offsets and id from `scratch_texts` (one pattern per position).
  void setPositions(Cluster& c) {
    std::size_t total = 0;
    for (const std::string& t : scratch_texts) {
      total += t.size() + 1;
    }
    std::string patterns;
    patterns.reserve(total);
    c.positions.resize(scratch_texts.size());
    for (std::size_t i = 0; i < scratch_texts.size(); ++i) {
      if (i != 0) {
        patterns.push_back(' ');
      }
      const std::string& t = scratch_texts[i];
      Position& p = c.positions[i];
      p.offset = static_cast<std::uint32_t>(patterns.size());
      p.length = static_cast<std::uint32_t>(t.size());
      patterns.append(t);
      std::size_t first = t.find(kHole);
      p.holes = 0;
      for (std::size_t at = first; at != std::string::npos; at = t.find(kHole, at + kHole.size())) {
        ++p.holes;
      }
      p.has_literal = t != kHole;
      p.shape_hash = 0;
      p.prefix = p.suffix = 0;
      if (p.kind == PatternKind::Glob) {
        p.prefix = static_cast<std::uint32_t>(first);
        p.suffix = static_cast<std::uint32_t>(t.size() - t.rfind(kHole) - kHole.size());
      } else {
        p.shape_hash = shapeHashOfPattern(t);
      }
      p.join_next = false;
      if (i > 0) {
        const std::string& prev = scratch_texts[i - 1];
        c.positions[i - 1].join_next =
            prev.size() >= kHole.size() &&
            prev.compare(prev.size() - kHole.size(), kHole.size(), kHole) == 0 &&
            t.compare(0, kHole.size(), kHole) == 0;
      }
    }
    c.patterns = std::move(patterns);
    c.literal_positions = 0;
    for (const Position& p : c.positions) {
      c.literal_positions += p.has_literal ? 1 : 0;
    }
    c.text.clear();
    appendTemplate(c, nullptr, c.text);
    cutPieces(c.text, c.pieces);
    c.id = templateId(c.text);
    c.returned = false;
    c.variants.clear();
  }

  // The template text of `c`: the patterns joined by single spaces, or by the gaps of the
  // current line when `line` is given; a run of holes across a gap is one hole.
  void appendTemplate(const Cluster& c, const std::string_view* line, std::string& out) const {
    std::uint32_t cur = 0;
    for (std::size_t i = 0; i < c.positions.size(); ++i) {
      std::string_view t = c.positionText(i);
      bool joined = i > 0 && c.positions[i - 1].join_next;
      if (joined) {
        t.remove_prefix(kHole.size());
      }
      if (line != nullptr) {
        if (!joined) {
          out.append(line->substr(cur, tokens.words[i].begin - cur));
        }
        cur = tokens.words[i].end;
      } else if (i > 0 && !joined) {
        out.push_back(' ');
      }
      out.append(t);
    }
    if (line != nullptr) {
      out.append(line->substr(cur));
    }
  }

  // The same hash the tokenizer gives a word of this shape.
  static std::uint64_t shapeHashOfPattern(std::string_view pattern) {
    // Re-tokenizing the pattern would re-mask literal bytes; hash the pieces between holes
    // exactly as the tokenizer does instead.
    WordToken w;
    std::vector<ByteSpan> holes;
    std::string bytes;
    std::size_t cur = 0;
    for (std::size_t at = pattern.find(kHole); at != std::string_view::npos;
         at = pattern.find(kHole, cur)) {
      bytes.append(pattern.substr(cur, at - cur));
      holes.push_back(
          {static_cast<std::uint32_t>(bytes.size()), static_cast<std::uint32_t>(bytes.size()) + 1});
      bytes.push_back('#');
      cur = at + kHole.size();
    }
    bytes.append(pattern.substr(cur));
    w.begin = 0;
    w.end = static_cast<std::uint32_t>(bytes.size());
    w.first_hole = 0;
    w.hole_count = static_cast<std::uint32_t>(holes.size());
    return wordShapeHash(bytes.data(), w, holes.data());
  }

  void wordPattern(std::string_view line, const WordToken& w, std::string& out) const {
    out.clear();
    std::uint32_t cur = w.begin;
    for (std::uint32_t h = 0; h < w.hole_count; ++h) {
      const ByteSpan& hole = tokens.holes[w.first_hole + h];
      out.append(line.substr(cur, hole.begin - cur));
      out.append(kHole);
      cur = hole.end;
    }
    out.append(line.substr(cur, w.end - cur));
  }

  Literals wordLiterals(std::string_view line, const WordToken& w) const {
    std::string_view word = line.substr(w.begin, w.end - w.begin);
    if (w.hole_count == 0) {
      return {word, word, false, false};
    }
    const ByteSpan& first = tokens.holes[w.first_hole];
    const ByteSpan& last = tokens.holes[w.first_hole + w.hole_count - 1];
    return {word.substr(0, first.begin - w.begin), word.substr(last.end - w.begin), true,
            w.hole_count == 1 && first.begin == w.begin && last.end == w.end};
  }

  // ---- tree --------------------------------------------------------------------------

  std::uint32_t leafFor(std::string_view line) {
    const auto& words = tokens.words;
    std::uint64_t node = mix(0x51ED270B27A2F3A1ULL, words.size());
    std::size_t levels = std::min(options.tree_depth - 3, words.size());
    for (std::size_t l = 0; l < levels; ++l) {
      const WordToken& w = words[l];
      std::uint64_t key = kWildcard;
      if (w.hole_count == 0) {
        key = hashBytes(line.data() + w.begin, w.end - w.begin, 0x7F4A7C15u) | 1;
      }
      std::uint64_t child = mix(node, key);
      // A node has at most max_children literal children (Drain's rule); more first words
      // share the wildcard child. This also bounds the tree's memory.
      if (key != kWildcard && known_nodes.count(child) == 0) {
        std::uint32_t& children = child_counts[node];
        if (children >= options.max_children) {
          child = mix(node, kWildcard);
        } else {
          ++children;
          known_nodes.insert(child);
        }
      }
      node = child;
    }
    auto [it, inserted] = leaf_index.try_emplace(node, static_cast<std::uint32_t>(leaves.size()));
    if (inserted) {
      leaves.emplace_back();
    }
    return it->second;
  }

  // ---- mining ------------------------------------------------------------------------

  std::uint32_t newCluster(std::string_view line, std::uint32_t leaf) {
    std::uint32_t id = allocateSlot();
    Cluster& c = clusters[id];
    c.leaf = leaf;
    scratch_texts.resize(tokens.words.size());
    c.positions.assign(tokens.words.size(), Position{});
    for (std::size_t i = 0; i < tokens.words.size(); ++i) {
      wordPattern(line, tokens.words[i], scratch_texts[i]);
    }
    setPositions(c);
    leaves[leaf].push_back(id);
    if (live_count > options.max_clusters) {
      evictLeastRecentlyUsed();
    }
    return id;
  }

  void evaluate(std::uint32_t id, std::string_view line, Candidate& out) const {
    const Cluster& c = clusters[id];
    out = Candidate{};
    out.cluster = id;
    out.literal_positions = c.literal_positions;
    // Once this many literal positions fail, only the one-word-differs rule could still pick
    // this cluster, and that needs a single literal change.
    const double budget = (1.0 - options.similarity_threshold) * c.literal_positions;
    std::uint32_t failed = 0;
    for (std::size_t i = 0; i < c.positions.size(); ++i) {
      const Position& p = c.positions[i];
      if (matchPosition(c, i, line, tokens.words[i], nullptr)) {
        out.similar += p.has_literal ? 1 : 0;
        out.params += p.has_literal ? 0 : 1;
        continue;
      }
      switch (changeAt(c, i, line)) {
        case Change::HoleValue: out.similar += p.has_literal ? 1 : 0; break;
        case Change::LiteralValue: out.similar += 1; [[fallthrough]];
        case Change::LiteralWord:
          if (out.literal_changes < 4) {
            out.literal_pos[out.literal_changes] = static_cast<std::uint32_t>(i);
          }
          ++out.literal_changes;
          break;
        case Change::Structural: ++out.structural; break;
      }
      failed += p.has_literal ? 1 : 0;
      if (static_cast<double>(failed) > budget + 1 && out.literal_changes + out.structural >= 2) {
        out.similar = 0;  // hopeless: neither widening nor the one-word rule can apply
        out.structural = 1;
        return;
      }
    }
  }

  // How the line's word at `i` differs from position `i` of `c` (which it does not match).
  Change changeAt(const Cluster& c, std::size_t i, std::string_view line) const {
    std::string_view pattern = c.positionText(i);
    const WordToken& w = tokens.words[i];
    const Position& p = c.positions[i];
    if (p.holes != 0 && globFits(pattern, line.substr(w.begin, w.end - w.begin))) {
      return Change::HoleValue;  // "<*>:<*>" and "host-a:80": another shape of the same value
    }
    if (w.hole_count != 0 && !isWholeHole(w)) {
      wordPattern(line, w, scratch_shape);
      if (globFits(scratch_shape, pattern)) {
        return Change::HoleValue;
      }
    }
    if (i > 0 && p.holes == 0 && w.hole_count == 0 && endsWithHoleWord(tokens.words[i - 1]) &&
        endsWithHole(c.positionText(i - 1)) && isUnit(pattern) &&
        isUnit(line.substr(w.begin, w.end - w.begin))) {
      return Change::HoleValue;  // "5.2 KB" and "93 B": the unit goes with the number
    }
    return classifyChange(patternLiterals(pattern), wordLiterals(line, w));
  }

  static bool endsWithHole(std::string_view pattern) {
    return pattern.size() >= kHole.size() && pattern.substr(pattern.size() - kHole.size()) == kHole;
  }

  bool endsWithHoleWord(const WordToken& w) const {
    return w.hole_count > 0 && tokens.holes[w.first_hole + w.hole_count - 1].end == w.end;
  }

  // The narrowest pattern (from the rules above) matching both `pattern` and the word.
  std::string generalizeWord(std::string_view pattern, std::string_view line, const WordToken& w) {
    if (globFits(pattern, line.substr(w.begin, w.end - w.begin))) {
      return std::string(pattern);
    }
    if (w.hole_count != 0 && !isWholeHole(w)) {
      wordPattern(line, w, scratch_shape);
      if (globFits(scratch_shape, pattern)) {
        return scratch_shape;
      }
    }
    return generalizeLiterals(patternLiterals(pattern), wordLiterals(line, w));
  }

  bool isWholeHole(const WordToken& w) const {
    return w.hole_count == 1 && tokens.holes[w.first_hole].begin == w.begin &&
           tokens.holes[w.first_hole].end == w.end;
  }

  static std::string generalizePatterns(std::string_view a, std::string_view b) {
    if (a == kHole || b == kHole) {
      return std::string(kHole);
    }
    if (globFits(a, b)) {
      return std::string(a);
    }
    if (globFits(b, a)) {
      return std::string(b);
    }
    return generalizeLiterals(patternLiterals(a), patternLiterals(b));
  }

  // Widens `c` so that it also matches the current line.
  void widen(Cluster& c, std::string_view line) {
    scratch_texts.resize(c.positions.size());
    for (std::size_t i = 0; i < c.positions.size(); ++i) {
      std::string_view current = c.positionText(i);
      if (matchPosition(c, i, line, tokens.words[i], nullptr)) {
        scratch_texts[i].assign(current);
        continue;
      }
      scratch_texts[i] = generalizeWord(current, line, tokens.words[i]);
      c.positions[i].kind = PatternKind::Glob;
    }
    setPositions(c);
  }

  // Folds the patterns of `from` into `into` position by position (both stay matchable).
  void absorbPatterns(Cluster& into, const Cluster& from) {
    scratch_texts.resize(into.positions.size());
    for (std::size_t i = 0; i < into.positions.size(); ++i) {
      std::string_view a = into.positionText(i);
      std::string_view b = from.positionText(i);
      if (a == b) {
        scratch_texts[i].assign(a);
        continue;
      }
      scratch_texts[i] = generalizePatterns(a, b);
      into.positions[i].kind = PatternKind::Glob;
    }
    setPositions(into);
  }

  // A cluster that differs from the line by one literal word at `pos`, apart from positions
  // that `family` already treats as variable.
  bool isWordSibling(const Candidate& cand, std::uint32_t pos, const Cluster& family) const {
    if (cand.structural != 0 || cand.literal_changes == 0 || cand.literal_changes > 4) {
      return false;
    }
    bool at_pos = false;
    for (std::uint32_t k = 0; k < cand.literal_changes; ++k) {
      std::uint32_t p = cand.literal_pos[k];
      if (p == pos) {
        at_pos = true;
      } else if (family.positions[p].kind != PatternKind::Glob) {
        return false;
      }
    }
    return at_pos;
  }

  std::uint32_t mineSlow(std::string_view line) {
    computeWordHashes(line, tokens);
    std::uint32_t leaf = leafFor(line);
    // A cluster that already matches (a new combination of known values, say): the most
    // specific one. Cheap: matching stops at the first differing word.
    std::uint32_t full = kNone;
    for (std::uint32_t id : leaves[leaf]) {
      if (matchAll(clusters[id], line, nullptr) &&
          (full == kNone || clusters[id].literal_positions > clusters[full].literal_positions)) {
        full = id;
      }
    }
    if (full != kNone) {
      return full;
    }
    candidates.clear();
    for (std::uint32_t id : leaves[leaf]) {
      Candidate cand;
      evaluate(id, line, cand);
      candidates.push_back(cand);
    }
    const Candidate* best = nullptr;
    for (const Candidate& cand : candidates) {
      if (best == nullptr || cand.similarity() > best->similarity() ||
          (cand.similarity() == best->similarity() && cand.params > best->params)) {
        best = &cand;
      }
    }
    if (best == nullptr) {
      return newCluster(line, leaf);
    }
    const std::uint32_t target = best->cluster;
    if (best->literal_changes == 1 && best->structural == 0) {
      // One literal word differs. Wait for several values before calling it a variable:
      // "from RUNNING to FAILED" and "from RUNNING to KILLED" are two templates, user names are
      // one variable. Capitalized words are message text or enumeration names: never.
      const std::uint32_t pos = best->literal_pos[0];
      const WordToken& w = tokens.words[pos];
      std::uint32_t first = w.begin;  // the first letter: '"GET' is capitalized too
      while (first < w.end && !std::isalnum(static_cast<unsigned char>(line[first]))) {
        ++first;
      }
      if (first < w.end && line[first] >= 'A' && line[first] <= 'Z') {
        return newCluster(line, leaf);
      }
      const Cluster& family = clusters[target];
      std::size_t values = 1;
      std::uint64_t total = 0;
      std::uint64_t largest = 0;
      for (const Candidate& cand : candidates) {
        if (isWordSibling(cand, pos, family)) {
          ++values;
          total += clusters[cand.cluster].count;
          largest = std::max(largest, clusters[cand.cluster].count);
        }
      }
      // One value that holds nearly all lines is a constant, the others exceptions.
      if (values < options.values_to_generalize ||
          (values<2 * options.values_to_generalize&& static_cast<double>(largest)> options
               .dominant_value_share *
           static_cast<double>(total))) {
        return newCluster(line, leaf);
      }
      for (const Candidate& cand : candidates) {
        if (cand.cluster != target && isWordSibling(cand, pos, clusters[target])) {
          absorbPatterns(clusters[target], clusters[cand.cluster]);
          mergeInto(cand.cluster, target);
        }
      }
    } else if (best->similarity() < options.similarity_threshold || best->structural != 0) {
      return newCluster(line, leaf);
    }
    widen(clusters[target], line);
    return target;
  }

  Gaps gapsOf(const Cluster& c, std::string_view line) const {
    Gaps g;
    std::uint32_t cur = 0;
    for (std::size_t i = 0; i < tokens.words.size(); ++i) {
      const WordToken& w = tokens.words[i];
      if (i == 0 || !c.positions[i - 1].join_next) {
        g.step(line.data() + cur, w.begin - cur, i == 0);
      }
      cur = w.end;
    }
    g.step(line.data() + cur, line.size() - cur, true);
    return g;
  }

  // The template text of `c` with the whitespace of `line` (whose gaps hash to `gap_hash`).
  Variant& variantFor(Cluster& c, std::string_view line, std::uint64_t gap_hash, bool tokenized) {
    for (Variant& v : c.variants) {
      if (v.gap_hash == gap_hash) {
        return v;
      }
    }
    Variant v;
    v.gap_hash = gap_hash;
    if (tokenized) {
      appendTemplate(c, &line, v.text);
    } else {
      // Parse again, recording the gaps, and put them where the canonical text has spaces.
      std::vector<std::string_view> params;
      Gaps g;
      gap_scratch.clear();
      (void)parseLine(c.text, line, params, g, &gap_scratch);
      std::size_t gap = 0;
      auto append_gap = [&] {
        if (gap < gap_scratch.size()) {
          v.text.append(
              line.substr(gap_scratch[gap].begin, gap_scratch[gap].end - gap_scratch[gap].begin));
        }
        ++gap;
      };
      append_gap();
      for (char ch : c.text) {
        if (ch == ' ') {
          append_gap();
        } else {
          v.text.push_back(ch);
        }
      }
      append_gap();
    }
    v.id = templateId(v.text);
    cutPieces(v.text, v.pieces);
    if (c.variants.size() >= kMaxVariants) {
      c.variants.erase(c.variants.begin());
    }
    c.variants.push_back(std::move(v));
    return c.variants.back();
  }

  void mine(std::string_view line, MinedLine& out) {
    out.template_id = 0;
    out.template_text = {};
    out.new_template = false;
    out.params.clear();
    out.cluster = kNoCluster;
    std::uint64_t key = 0;
    if (line.size() > options.max_line_bytes || line.size() >= 0xFFFFFFF0u ||
        !valueFreeKey(line, key_scratch, key)) {
      return;
    }
    // Fast path: a line like one seen before but for its numbers and hex ids is parsed with
    // that line's template, without tokenizing.
    std::uint32_t id = kNone;
    Gaps gaps;
    Variant* exact_variant = nullptr;  // the fast path parsed the line with this text
    bool exact_canonical = false;
    const CacheEntry* fast_set = fast_cache.set(key);
    for (std::size_t k = 0; k < ClusterCache::kWays && id == kNone; ++k) {
      const CacheEntry& e = fast_set[k];
      if (e.key != key || e.cluster == kNone) {
        continue;
      }
      const std::uint32_t hit = resolve(e.cluster, e.generation);
      if (hit == kNone) {
        continue;
      }
      Cluster& c = clusters[hit];
      if (e.variant == 0) {
        exact_canonical = parseExact(c.text, c.pieces, line, out.params);
      } else {
        for (Variant& v : c.variants) {
          if (v.gap_hash == e.variant) {
            exact_variant = parseExact(v.text, v.pieces, line, out.params) ? &v : nullptr;
            break;
          }
        }
      }
      if (!exact_canonical && exact_variant == nullptr) {
        out.params.clear();
        if (!parseLine(c.text, line, out.params, gaps, nullptr)) {
          out.params.clear();
          gaps = Gaps{};
          continue;
        }
      }
      if (out.params.size() > options.max_tokens) {
        out.params.clear();
        gaps = Gaps{};
        exact_canonical = false;
        exact_variant = nullptr;
        continue;
      }
      id = hit;
    }
    bool tokenized = false;
    if (id == kNone) {
      if (tokenizeLine(line, options.max_tokens, tokens) != TokenizeStatus::Ok) {
        return;
      }
      tokenized = true;
      const CacheEntry* shape_set = shape_cache.set(tokens.shape_hash);
      for (std::size_t k = 0; k < ClusterCache::kWays && id == kNone; ++k) {
        const CacheEntry& e = shape_set[k];
        if (e.key != tokens.shape_hash || e.cluster == kNone) {
          continue;
        }
        std::uint32_t hit = resolve(e.cluster, e.generation);
        if (hit != kNone && matchAll(clusters[hit], line, &out.params)) {
          id = hit;
        } else {
          out.params.clear();
        }
      }
      if (id == kNone) {
        id = mineSlow(line);
        if (!matchAll(clusters[id], line, &out.params)) {
          out.params.clear();  // cannot happen: widening always covers the line
          return;
        }
        shape_cache.store(CacheEntry{tokens.shape_hash, id, clusters[id].generation});
      }
      gaps = gapsOf(clusters[id], line);
    }
    Cluster& c = clusters[id];
    ++c.count;
    touch(id);
    out.cluster = id;
    bool* returned;
    if (exact_canonical || (exact_variant == nullptr && gaps.single)) {
      out.template_text = c.text;
      out.template_id = c.id;
      returned = &c.returned;
    } else {
      Variant& v =
          exact_variant != nullptr ? *exact_variant : variantFor(c, line, gaps.hash | 1, tokenized);
      out.template_text = v.text;
      out.template_id = v.id;
      returned = &v.returned;
    }
    if (!exact_canonical && exact_variant == nullptr) {
      // Next time, parse lines like this one straight with the text it got.
      fast_cache.store(CacheEntry{key, id, c.generation, gaps.single ? 0 : (gaps.hash | 1)});
    }
    if (!*returned) {
      *returned = true;
      out.new_template =
          seen.insert(out.template_id, std::max<std::size_t>(1024, options.max_clusters * 4));
    }
  }

  std::size_t memoryBytes() const {
    std::size_t total = sizeof(Impl) + clusters.capacity() * sizeof(Cluster);
    for (const Cluster& c : clusters) {
      total += c.text.capacity() + c.patterns.capacity() + c.pieces.capacity() * sizeof(Piece) +
               c.positions.capacity() * sizeof(Position) + c.variants.capacity() * sizeof(Variant);
      for (const Variant& v : c.variants) {
        total += v.text.capacity();
      }
    }
    for (const auto& leaf : leaves) {
      total += sizeof(leaf) + leaf.capacity() * sizeof(std::uint32_t);
    }
    // unordered_map: a node (key, value, next pointer, cached hash) plus a bucket pointer.
    total +=
        (leaf_index.size() + known_nodes.size() + child_counts.size()) * 40 +
        (leaf_index.bucket_count() + known_nodes.bucket_count() + child_counts.bucket_count()) *
            sizeof(void*);
    total += fast_cache.memoryBytes() + shape_cache.memoryBytes() + seen.memoryBytes() +
             key_scratch.capacity() + gap_scratch.capacity() * sizeof(ByteSpan);
    total += free_slots.capacity() * 4 + tombstones.capacity() * 4;
    total += tokens.words.capacity() * sizeof(WordToken) +
             tokens.holes.capacity() * sizeof(ByteSpan) + candidates.capacity() * sizeof(Candidate);
    return total;
  }
};

TemplateMiner::TemplateMiner(MinerOptions options) : impl_(std::make_unique<Impl>(options)) {}
TemplateMiner::~TemplateMiner() = default;

void TemplateMiner::mine(std::string_view line, MinedLine& out) {
  impl_->mine(line, out);
}

std::vector<TemplateMiner::ClusterInfo> TemplateMiner::clusters() const {
  std::vector<ClusterInfo> out;
  out.reserve(impl_->live_count);
  for (const Cluster& c : impl_->clusters) {
    if (c.live) {
      out.push_back(ClusterInfo{c.text, c.id, c.count});
    }
  }
  std::sort(out.begin(), out.end(), [](const ClusterInfo& a, const ClusterInfo& b) {
    return a.count != b.count ? a.count > b.count : a.template_text < b.template_text;
  });
  return out;
}

std::string_view TemplateMiner::clusterTemplate(std::uint32_t index) const {
  if (index >= impl_->clusters.size()) {
    return {};
  }
  std::uint32_t id = impl_->resolve(index, impl_->clusters[index].generation);
  return id == kNone ? std::string_view() : std::string_view(impl_->clusters[id].text);
}

std::size_t TemplateMiner::clusterCount() const {
  return impl_->live_count;
}

std::size_t TemplateMiner::memoryBytes() const {
  return impl_->memoryBytes();
}

}  // namespace faultline::logtemplate
