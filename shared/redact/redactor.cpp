#include "shared/redact/redactor.h"

#include <algorithm>
#include <array>

#include "shared/redact/block_scanner.h"
#include "shared/redact/custom_patterns.h"
#include "shared/redact/detectors.h"

namespace faultline::redact {
namespace {

constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::kCount_);
constexpr std::uint32_t kBuiltinKinds = ((1u << kKinds) - 1) & ~kindBit(Kind::kCustom);

// When findings overlap they become one placeholder, named after the most specific kind.
constexpr std::array<std::uint8_t, kKinds> kPriority = [] {
  std::array<std::uint8_t, kKinds> p{};
  p[static_cast<std::size_t>(Kind::kPrivateKey)] = 9;
  p[static_cast<std::size_t>(Kind::kCloudKey)] = 8;
  p[static_cast<std::size_t>(Kind::kJwt)] = 7;
  p[static_cast<std::size_t>(Kind::kBearer)] = 6;
  p[static_cast<std::size_t>(Kind::kUrlPassword)] = 5;
  p[static_cast<std::size_t>(Kind::kPassword)] = 4;
  p[static_cast<std::size_t>(Kind::kCustom)] = 3;
  p[static_cast<std::size_t>(Kind::kCard)] = 2;
  p[static_cast<std::size_t>(Kind::kEmail)] = 1;
  return p;
}();

std::uint8_t priority(Kind kind) {
  return kPriority[static_cast<std::size_t>(kind)];
}

std::string placeholder(std::string_view name) {
  return "[REDACTED:" + std::string(name) + "]";
}

// Stateless apart from the immutable configuration; see Redactor.
class RedactorImpl final : public Redactor {
 public:
  RedactorImpl(std::uint32_t enabled, std::unique_ptr<CustomPatterns> custom,
               std::vector<std::string> custom_placeholders, SimdLevel level)
      : enabled_(enabled),
        custom_(std::move(custom)),
        custom_placeholders_(std::move(custom_placeholders)),
        scan_(scanFunction(level)) {
    for (std::size_t k = 0; k < kKinds; ++k) {
      placeholders_[k] = placeholder(kindName(static_cast<Kind>(k)));
    }
  }

  bool redact(std::string_view line, std::string& out, RedactStats& stats) const override {
    // Reused line after line: no allocation once warm.
    thread_local std::vector<Finding> findings;
    if (!find(line, findings)) {
      return false;
    }
    finish(line, findings, out, stats);
    return true;
  }

 private:
  /// Every detector over `line`; true when anything was found.
  bool find(std::string_view line, std::vector<Finding>& findings) const {
    findings.clear();
    if (enabled_ != 0) {
      LineScan scan;
      scan.line = line;
      scan.enabled = enabled_;
      scan.findings = &findings;
      scan_(scan);
    }
    if (!custom_placeholders_.empty()) {
      custom_->find(line, findings);
    }
    return !findings.empty();
  }

  // Out of line so the common path (nothing found) stays a small function.
  //
  // A replacement can make a new match: a card number with spaces inside a URL password hid
  // the password (spaces end it) until the card became one placeholder word. So the output is
  // scanned again until nothing more is found, which makes redaction idempotent: what leaves
  // here never holds anything a detector would take.
  [[gnu::noinline]] void finish(std::string_view line, std::vector<Finding>& findings,
                                std::string& out, RedactStats& stats) const {
    constexpr int kMaxPasses = 8;
    mergeOverlaps(findings);
    write(line, findings, out, stats);
    ++stats.lines_redacted;
    thread_local std::string previous;
    for (int pass = 1; pass < kMaxPasses && find(out, findings); ++pass) {
      previous.swap(out);
      mergeOverlaps(findings);
      write(previous, findings, out, stats);
    }
  }

  static void mergeOverlaps(std::vector<Finding>& findings) {
    std::sort(findings.begin(), findings.end(),
              [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
    std::size_t kept = 0;
    for (const Finding& f : findings) {
      if (kept > 0 && f.begin < findings[kept - 1].end) {
        Finding& last = findings[kept - 1];
        last.end = std::max(last.end, f.end);
        if (priority(f.kind) > priority(last.kind)) {
          last.kind = f.kind;
          last.custom = f.custom;
        }
      } else {
        findings[kept++] = f;
      }
    }
    findings.resize(kept);
  }

  void write(std::string_view line, const std::vector<Finding>& findings, std::string& out,
             RedactStats& stats) const {
    out.clear();
    out.reserve(line.size() + findings.size() * (kMaxCustomNameBytes + 11));
    std::size_t pos = 0;
    for (const Finding& f : findings) {
      out.append(line.data() + pos, f.begin - pos);
      ++stats.by_kind[static_cast<std::size_t>(f.kind)];
      if (f.kind == Kind::kCustom) {
        out.append(custom_placeholders_[f.custom]);
        if (stats.custom.size() < custom_placeholders_.size()) {
          stats.custom.resize(custom_placeholders_.size());
        }
        ++stats.custom[f.custom];
      } else {
        out.append(placeholders_[static_cast<std::size_t>(f.kind)]);
      }
      pos = f.end;
    }
    out.append(line.data() + pos, line.size() - pos);
  }

  std::uint32_t enabled_;
  std::unique_ptr<CustomPatterns> custom_;
  std::vector<std::string> custom_placeholders_;
  ScanFunction scan_;
  std::array<std::string, kKinds> placeholders_;
};

}  // namespace

std::string_view kindName(Kind kind) {
  switch (kind) {
    case Kind::kBearer: return "bearer";
    case Kind::kJwt: return "jwt";
    case Kind::kCloudKey: return "cloud_key";
    case Kind::kUrlPassword: return "url_password";
    case Kind::kPassword: return "password";
    case Kind::kPrivateKey: return "private_key";
    case Kind::kEmail: return "email";
    case Kind::kCard: return "card";
    case Kind::kCustom: return "custom";
    case Kind::kCount_: break;
  }
  return "unknown";
}

Result<std::unique_ptr<Redactor>> createRedactorWithSimd(const RedactOptions& options,
                                                         SimdLevel level) {
  if (!simdLevelSupported(level)) {
    return invalidArgument("redact: SIMD level " + std::string(simdLevelName(level)) +
                           " is not supported on this CPU");
  }
  std::uint32_t enabled = options.detectors.empty() ? kBuiltinKinds : 0;
  for (const std::string& name : options.detectors) {
    std::uint32_t bit = 0;
    for (std::size_t k = 0; k < kKinds; ++k) {
      if (name == kindName(static_cast<Kind>(k))) {
        bit = kindBit(static_cast<Kind>(k));
      }
    }
    if (bit == kindBit(Kind::kCustom)) {
      return invalidArgument(
          "redact: \"custom\" is not a built-in detector; custom patterns are enabled by "
          "listing them");
    }
    if (bit == 0) {
      return invalidArgument("redact: unknown detector \"" + name +
                             "\" (known: bearer, jwt, cloud_key, url_password, password, "
                             "private_key, email, card)");
    }
    enabled |= bit;
  }
  FL_ASSIGN_OR_RETURN(auto custom, CustomPatterns::create(options.custom));
  std::vector<std::string> custom_placeholders;
  custom_placeholders.reserve(options.custom.size());
  for (const CustomPattern& p : options.custom) {
    custom_placeholders.push_back(placeholder(p.name));
  }
  return std::unique_ptr<Redactor>(
      new RedactorImpl(enabled, std::move(custom), std::move(custom_placeholders), level));
}

Result<std::unique_ptr<Redactor>> Redactor::create(const RedactOptions& options) {
  return createRedactorWithSimd(options, bestSimdLevel());
}

}  // namespace faultline::redact
