#pragma once

// Configured RE2 patterns ("custom" detectors), run only on lines their literal prefilter admits.
// Internal to faultline_redact.
//
// RE2's FilteredRE2 extracts from every pattern the literal strings ("atoms") one of which any
// match must contain. A line is lower-cased once and searched for the atoms with memmem; only
// patterns whose atoms are present run, each as a single RE2 search loop. A pattern with no
// usable atom (e.g. "\d{6}") runs on every line: the slow case, documented for users.
//
// Threads: immutable after create(); find() may run on many threads at once.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/redact/detectors.h"
#include "shared/redact/redactor.h"
#include "shared/util/status.h"

namespace re2 {
class FilteredRE2;
}

namespace faultline::redact {

inline constexpr std::size_t kMaxCustomPatterns = 64;
inline constexpr std::size_t kMaxCustomPatternBytes = 4096;
inline constexpr std::size_t kMaxCustomNameBytes = 32;

class CustomPatterns {
 public:
  /// Validates every pattern (name [a-z0-9_]{1,32}, not a built-in kind name, unique; pattern
  /// compiles, is at most 4 KiB and cannot match the empty string) and compiles the prefilter.
  static Result<std::unique_ptr<CustomPatterns>> create(const std::vector<CustomPattern>& patterns);
  ~CustomPatterns();
  CustomPatterns(const CustomPatterns&) = delete;
  CustomPatterns& operator=(const CustomPatterns&) = delete;

  /// Appends a Finding (kind kCustom, custom = pattern index) for every match in `line`: the
  /// span of capture group 1 when the pattern has one, else the whole match. Matches that
  /// overlap or touch a placeholder already in the line ("[REDACTED:...]") are dropped so
  /// redaction stays idempotent.
  void find(std::string_view line, std::vector<Finding>& findings) const;

 private:
  CustomPatterns();
  std::unique_ptr<re2::FilteredRE2> filter_;
  std::vector<std::string> atoms_;  // lower case
  std::vector<bool> has_group_;     // by pattern index
};

}  // namespace faultline::redact
