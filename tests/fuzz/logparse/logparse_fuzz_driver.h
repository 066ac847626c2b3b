#pragma once

// The checks behind the logparse fuzz targets, shared with the unit test that replays the seed
// corpus and committed regressions. Each function takes arbitrary bytes, runs one parser family
// and returns false when an invariant breaks (the fuzz target then aborts):
//   - no crash, no read outside the input (ASan),
//   - every view in a ParsedLine lies in the input line or in ParsedLine::scratch,
//   - consumed lengths never exceed the text,
//   - multiline events joined by '\n' equal the input lines joined by '\n'.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/logparse/multiline.h"
#include "shared/logparse/parser.h"
#include "shared/logparse/timestamp.h"

namespace faultline::logparse::fuzz {

enum class Family : std::uint8_t {
  kAuto,
  kJson,
  kLogfmt,
  kSyslog,
  kWebLog,     // access, nginx error, apache error
  kContainer,  // docker json-file, CRI
  kRegex,
  kTimestamp,
  kMultiline,
};

/// Corpus directory names under tests/fuzz/corpus/ and regressions/.
inline std::string_view familyName(Family f) {
  switch (f) {
    case Family::kAuto: return "logparse_auto";
    case Family::kJson: return "logparse_json";
    case Family::kLogfmt: return "logparse_logfmt";
    case Family::kSyslog: return "logparse_syslog";
    case Family::kWebLog: return "logparse_weblog";
    case Family::kContainer: return "logparse_container";
    case Family::kRegex: return "logparse_regex";
    case Family::kTimestamp: return "logparse_timestamp";
    case Family::kMultiline: return "logparse_multiline";
  }
  return "";
}

inline bool within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) {
    return true;
  }
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

/// Views must lie in the line or the scratch; keys may also be static or parser-owned strings
/// (fixed-schema names, regex group names), which ASan checks by reading them.
inline bool checkViews(const ParsedLine& out, std::string_view line) {
  std::string_view scratch(out.scratch.data(), out.scratch.size());
  auto ok = [&](std::string_view v) { return within(v, line) || within(v, scratch); };
  if (!ok(out.message) || !ok(out.inner)) {
    return false;
  }
  volatile char sink = 0;
  for (const Attribute& a : out.attrs) {
    if (!ok(a.value)) {
      return false;
    }
    for (char c : a.key) {
      sink = static_cast<char>(sink ^ c);
    }
  }
  (void)sink;
  return out.attrs.size() <= 256;
}

inline const Parser& parserFor(Format format) {
  static std::unique_ptr<Parser> parsers[11];
  auto& slot = parsers[static_cast<std::size_t>(format)];
  if (!slot) {
    ParserOptions options;
    options.format = format;
    options.default_year = 2024;
    slot = std::move(Parser::create(options).value());
  }
  return *slot;
}

inline const Parser& regexParser(std::uint8_t which) {
  static const char* kPatterns[] = {
      R"(^(?P<time>\S+ \S+) (?P<level>[A-Z]+) (?P<message>.*)$)",
      R"(^(?P<time>\d+)\s+(?P<pid>\d+)?\s*(?P<message>.*)$)",
      R"((?P<level>\w+): (?P<key>[^=]*)=(?P<value>\S*))",
      R"(^\[(?P<time>[^\]]*)\] (?:(?P<a>x)|(?P<b>y))?(?P<message>.*))",
  };
  static std::unique_ptr<Parser> parsers[4];
  std::size_t i = which % 4;
  if (!parsers[i]) {
    ParserOptions options;
    options.format = Format::kRegex;
    options.regex = kPatterns[i];
    options.time_formats = {"%d.%m.%Y %H:%M:%S"};
    parsers[i] = std::move(Parser::create(options).value());
  }
  return *parsers[i];
}

/// Parses the whole input as one line, then each '\n'-separated line, reusing one ParsedLine.
inline bool parseEach(const Parser& parser, std::string_view input) {
  thread_local ParsedLine out;
  parser.parse(input, out);
  if (!checkViews(out, input)) {
    return false;
  }
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) {
      end = input.size();
    }
    std::string_view line = input.substr(start, end - start);
    parser.parse(line, out);
    if (!checkViews(out, line)) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

inline bool runParsers(Family family, std::string_view input) {
  std::uint8_t selector = input.empty() ? 0 : static_cast<std::uint8_t>(input[0]);
  switch (family) {
    case Family::kAuto: return parseEach(parserFor(Format::kAuto), input);
    case Family::kJson: return parseEach(parserFor(Format::kJson), input);
    case Family::kLogfmt: return parseEach(parserFor(Format::kLogfmt), input);
    case Family::kSyslog: return parseEach(parserFor(Format::kSyslog), input);
    case Family::kWebLog: {
      const Format formats[] = {Format::kNginxAccess, Format::kNginxError, Format::kApacheError};
      return parseEach(parserFor(formats[selector % 3]), input) &&
             parseEach(parserFor(Format::kAuto), input);
    }
    case Family::kContainer:
      return parseEach(parserFor(selector % 2 ? Format::kDocker : Format::kCri), input) &&
             parseEach(parserFor(Format::kAuto), input);
    case Family::kRegex: return parseEach(regexParser(selector), input);
    default: return true;
  }
}

/// Input: a layout, a NUL byte, then the text (no NUL: the text alone, built-ins only).
inline bool runTimestamp(std::string_view input) {
  std::string_view layout;
  std::string_view text = input;
  if (std::size_t nul = input.find('\0'); nul != std::string_view::npos) {
    layout = input.substr(0, nul);
    text = input.substr(nul + 1);
  }
  TimeContext ctx;
  ctx.default_year = 2024;
  std::int64_t ns = 0;
  if (parseBuiltinTimestamp(text, ctx, true, &ns) > text.size()) {
    return false;
  }
  (void)parseTimestampValue(text, ctx, &ns);
  (void)parseEpochNumber(text, &ns);
  if (!layout.empty() && validateTimeLayout(layout).isOk() &&
      parseLayoutTimestamp(text, layout, ctx, &ns) > text.size()) {
    return false;
  }
  ParserOptions options;
  if (!layout.empty() && validateTimeLayout(layout).isOk()) {
    options.time_formats = {std::string(layout)};
  }
  std::size_t consumed = 0;
  (void)findTimestamp(text, options, &consumed);
  if (consumed > text.size()) {
    return false;
  }
  (void)findSeverity(text);
  return true;
}

/// Input byte 0 picks the mode, byte 1 the caps; the rest is lines.
inline bool runMultiline(std::string_view input) {
  if (input.size() < 2) {
    return true;
  }
  static const char* kModes[] = {"auto", "java", "python", "go", "regex"};
  MultilineOptions options;
  options.mode = kModes[static_cast<std::uint8_t>(input[0]) % 5];
  if (options.mode == "regex") {
    options.start_regex = R"(^\d{4}-|^\[)";
  }
  auto caps = static_cast<std::uint8_t>(input[1]);
  options.max_lines = 1 + caps % 16;
  options.max_bytes = 1 + static_cast<std::size_t>(caps) * 4;
  auto joiner = MultilineJoiner::create(options);
  if (!joiner.isOk()) {
    return false;
  }
  std::string_view body = input.substr(2);
  std::string output;
  std::size_t events = 0;
  std::size_t lines_out = 0;
  bool ok = true;
  MultilineJoiner::Emit emit = [&](std::string_view event, std::size_t lines) {
    if (events++ > 0) {
      output.push_back('\n');
    }
    output.append(event);
    lines_out += lines;
    ok = ok && lines >= 1 && lines <= options.max_lines &&
         (event.size() <= options.max_bytes || lines == 1);
  };
  std::size_t lines_in = 0;
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos) {
      end = body.size();
    }
    (*joiner)->add(body.substr(start, end - start), emit);
    ++lines_in;
    start = end + 1;
  }
  (*joiner)->flush(emit);
  return ok && output == body && lines_out == lines_in && !(*joiner)->hasOpenEvent();
}

inline bool run(Family family, const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  switch (family) {
    case Family::kTimestamp: return runTimestamp(input);
    case Family::kMultiline: return runMultiline(input);
    default: return runParsers(family, input);
  }
}

}  // namespace faultline::logparse::fuzz
