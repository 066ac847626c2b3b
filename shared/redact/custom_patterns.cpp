#include "shared/redact/custom_patterns.h"

#include <re2/filtered_re2.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstring>

namespace faultline::redact {
namespace {

constexpr int kMinAtomBytes = 3;
constexpr std::string_view kPlaceholderOpen = "[REDACTED:";

bool validName(std::string_view name) {
  if (name.empty() || name.size() > kMaxCustomNameBytes) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

RE2::Options patternOptions() {
  RE2::Options options;
  options.set_log_errors(false);
  return options;
}

}  // namespace

CustomPatterns::CustomPatterns() : filter_(std::make_unique<re2::FilteredRE2>(kMinAtomBytes)) {}
CustomPatterns::~CustomPatterns() = default;

Result<std::unique_ptr<CustomPatterns>> CustomPatterns::create(
    const std::vector<CustomPattern>& patterns) {
  if (patterns.size() > kMaxCustomPatterns) {
    return invalidArgument("redact: " + std::to_string(patterns.size()) +
                           " custom patterns, at most " + std::to_string(kMaxCustomPatterns));
  }
  std::unique_ptr<CustomPatterns> out(new CustomPatterns());
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const CustomPattern& p = patterns[i];
    const std::string where = "redact: custom pattern " + std::to_string(i) + " \"" + p.name + "\"";
    if (!validName(p.name)) {
      return invalidArgument(where + ": name must be 1-32 characters of [a-z0-9_]");
    }
    for (std::size_t k = 0; k < static_cast<std::size_t>(Kind::kCount_); ++k) {
      if (p.name == kindName(static_cast<Kind>(k))) {
        return invalidArgument(where + ": name is a built-in kind; choose another");
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (patterns[j].name == p.name) {
        return invalidArgument(where + ": name used twice");
      }
    }
    if (p.pattern.empty() || p.pattern.size() > kMaxCustomPatternBytes) {
      return invalidArgument(where + ": pattern must be 1-" +
                             std::to_string(kMaxCustomPatternBytes) + " bytes");
    }
    RE2 check(p.pattern, patternOptions());
    if (!check.ok()) {
      return invalidArgument(where + ": bad RE2 pattern: " + check.error());
    }
    if (RE2::FullMatch("", check)) {
      return invalidArgument(where + ": pattern matches the empty string");
    }
    int id = -1;
    if (out->filter_->Add(p.pattern, patternOptions(), &id) != RE2::NoError ||
        id != static_cast<int>(i)) {
      return internalError(where + ": RE2 refused a pattern it had compiled");
    }
    out->has_group_.push_back(check.NumberOfCapturingGroups() >= 1);
  }
  if (!patterns.empty()) {
    out->filter_->Compile(&out->atoms_);
  }
  return out;
}

void CustomPatterns::find(std::string_view line, std::vector<Finding>& findings) const {
  if (has_group_.empty()) {
    return;
  }
  thread_local std::string lowered;
  thread_local std::vector<int> matched_atoms;
  thread_local std::vector<int> candidates;
  lowered.resize(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    lowered[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  matched_atoms.clear();
  for (std::size_t a = 0; a < atoms_.size(); ++a) {
    if (memmem(lowered.data(), lowered.size(), atoms_[a].data(), atoms_[a].size()) != nullptr) {
      matched_atoms.push_back(static_cast<int>(a));
    }
  }
  filter_->AllPotentials(matched_atoms, &candidates);
  if (candidates.empty()) {
    return;
  }
  // Placeholders already in the line are not secrets: a match that overlaps or touches one is
  // dropped. Touching too, and judged on the whole match: "\bpin (\d{4})" must not match in
  // "[REDACTED:x]pin 1234" on a second pass when the first pass saw "ord-1pin 1234".
  thread_local std::vector<std::pair<std::size_t, std::size_t>> placeholders;
  placeholders.clear();
  for (std::size_t p = line.find(kPlaceholderOpen); p != std::string_view::npos;
       p = line.find(kPlaceholderOpen, p + 1)) {
    if (const std::size_t length = placeholderLengthAt(line, p); length != 0) {
      placeholders.emplace_back(p, p + length);
    }
  }
  const re2::StringPiece text(line.data(), line.size());
  re2::StringPiece groups[2];
  for (int id : candidates) {
    const RE2& re = filter_->GetRE2(id);
    const bool group = has_group_[static_cast<std::size_t>(id)];
    std::size_t pos = 0;
    while (pos <= line.size() &&
           re.Match(text, pos, line.size(), RE2::UNANCHORED, groups, group ? 2 : 1)) {
      const re2::StringPiece whole = groups[0];
      const auto whole_begin = static_cast<std::size_t>(whole.data() - line.data());
      const std::size_t whole_end = whole_begin + whole.size();
      pos = whole.empty() ? whole_end + 1 : whole_end;
      const bool near_placeholder = std::any_of(
          placeholders.begin(), placeholders.end(),
          [&](const auto& ph) { return whole_begin <= ph.second && whole_end >= ph.first; });
      const re2::StringPiece secret = group ? groups[1] : whole;
      if (!near_placeholder && secret.data() != nullptr && !secret.empty()) {
        const auto begin = static_cast<std::size_t>(secret.data() - line.data());
        findings.push_back(
            {begin, begin + secret.size(), Kind::kCustom, static_cast<std::uint16_t>(id)});
      }
    }
  }
}

}  // namespace faultline::redact
