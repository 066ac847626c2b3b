#pragma once

// The ids of the template texts a miner has handed out (MinedLine::new_template). Internal to
// shared/logtemplate.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace faultline::logtemplate {

class SeenIds {
 public:
  /// True when `id` was not in the set (and adds it). Forgets everything when full, which can
  /// only make a text look new again (the caller then resends it: harmless).
  bool insert(std::uint64_t id, std::size_t max_entries) {
    if (slots_.empty() || (size_ + 1) * 2 > slots_.size()) {
      grow(max_entries);
    }
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = (id * 0x9E3779B97F4A7C15ULL) >> 7 & mask;; i = (i + 1) & mask) {
      if (slots_[i] == id) {
        return false;
      }
      if (slots_[i] == 0) {
        slots_[i] = id;
        ++size_;
        return true;
      }
    }
  }
  std::size_t memoryBytes() const { return slots_.capacity() * sizeof(std::uint64_t); }

 private:
  void grow(std::size_t max_entries) {
    std::size_t want = slots_.empty() ? 256 : slots_.size() * 2;
    if (want > max_entries) {
      std::fill(slots_.begin(), slots_.end(), 0);  // full: start over
      size_ = 0;
      return;
    }
    std::vector<std::uint64_t> old;
    old.swap(slots_);
    slots_.assign(want, 0);
    size_ = 0;
    for (std::uint64_t id : old) {
      if (id != 0) {
        insert(id, max_entries);
      }
    }
  }

  std::vector<std::uint64_t> slots_;  // ids are never 0, so 0 marks an empty slot
  std::size_t size_ = 0;
};

}  // namespace faultline::logtemplate
