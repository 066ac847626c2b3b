#pragma once

// The miner's caches from a line key (value-free key or tokenized shape) to the cluster the
// line went to. Internal to shared/logtemplate.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faultline::logtemplate {

inline constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;

struct CacheEntry {
  std::uint64_t key = 0;
  std::uint32_t cluster = kNoSlot;
  std::uint32_t generation = 0;
  std::uint64_t variant = 0;  // the fast path's text: 0 canonical, else Variant::gap_hash
};

// key -> clusters, 4-way set associative: a key's entries live in one set of 4 slots, most
// recent first. One key may name several clusters (lines that differ only in digits can
// still be different templates: Handler0, Handler1). Grows from kMinEntries to
// kMaxEntries while sets overflow.
class ClusterCache {
 public:
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kMinEntries = 4096;
  static constexpr std::size_t kMaxEntries = std::size_t{1} << 16;

  ClusterCache() : slots_(kMinEntries) {}

  /// The entries of `key`, most recent first: slots [first, first + count) of the set, with
  /// entries of other keys to be skipped by the caller.
  const CacheEntry* set(std::uint64_t key) const { return &slots_[setOf(key)]; }

  void store(const CacheEntry& entry) {
    std::size_t set = setOf(entry.key);
    std::size_t last = kWays - 1;  // the slot to give up: the oldest, or the entry itself
    for (std::size_t k = 0; k < kWays; ++k) {
      const CacheEntry& e = slots_[set + k];
      if (e.key == entry.key && e.cluster == entry.cluster) {
        last = k;
        break;
      }
    }
    if (last == kWays - 1 && slots_[set + last].cluster != kNoSlot &&
        !(slots_[set + last].key == entry.key && slots_[set + last].cluster == entry.cluster) &&
        ++collisions_ > slots_.size() / 8 && slots_.size() < kMaxEntries) {
      grow();
      store(entry);
      return;
    }
    for (std::size_t k = last; k > 0; --k) {
      slots_[set + k] = slots_[set + k - 1];
    }
    slots_[set] = entry;
  }

  std::size_t memoryBytes() const { return slots_.capacity() * sizeof(CacheEntry); }

 private:
  std::size_t setOf(std::uint64_t key) const { return (key & (slots_.size() / kWays - 1)) * kWays; }

  void grow() {
    std::vector<CacheEntry> old(slots_.size() * 2);
    old.swap(slots_);
    collisions_ = 0;
    // Oldest first, so that each set ends up most recent first again.
    for (std::size_t way = kWays; way-- > 0;) {
      for (std::size_t i = way; i < old.size(); i += kWays) {
        const CacheEntry& e = old[i];
        if (e.cluster != kNoSlot) {
          std::size_t set = setOf(e.key);
          for (std::size_t k = kWays - 1; k > 0; --k) {
            slots_[set + k] = slots_[set + k - 1];
          }
          slots_[set] = e;
        }
      }
    }
  }

  std::vector<CacheEntry> slots_;
  std::size_t collisions_ = 0;
};

}  // namespace faultline::logtemplate
