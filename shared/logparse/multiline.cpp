#include "shared/logparse/multiline.h"

#include <re2/re2.h>

#include "shared/logparse/text_util.h"

namespace faultline::logparse {
namespace {

using text::isDigit;
using text::isSpace;
using text::startsWith;

/// "pkg.sub.SomeException" or "pkg.Error: message": a qualified Java/Kotlin throwable name at
/// the start of a line, as logback/log4j print it after the log message.
bool isJavaExceptionHeader(std::string_view line) {
  std::size_t i = 0;
  bool dotted = false;
  std::size_t name_start = 0;
  while (i < line.size()) {
    char c = line[i];
    if (text::isAlnum(c) || c == '_' || c == '$') {
      ++i;
    } else if (c == '.' && i > 0 && line[i - 1] != '.') {
      dotted = true;
      name_start = ++i;
    } else {
      break;
    }
  }
  if (!dotted || i == 0 || (i < line.size() && line[i] != ':')) {
    return false;
  }
  std::string_view name = line.substr(name_start, i - name_start);
  auto endsWith = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return endsWith("Exception") || endsWith("Error") || endsWith("Throwable");
}

/// Java stack-trace continuations: "\tat ...", "    at ...", "Caused by: ...", "\t... 12 more",
/// "\tSuppressed: ...", any tab-indented line, and a qualified exception name line.
bool isJavaContinuation(std::string_view line) {
  if (line.empty()) {
    return false;
  }
  if (line[0] == '\t') {
    return true;
  }
  if (line[0] == ' ') {
    std::size_t i = text::skipSpaces(line, 0);
    std::string_view rest = line.substr(i);
    return startsWith(rest, "at ") || startsWith(rest, "... ") || startsWith(rest, "Caused by: ") ||
           startsWith(rest, "Suppressed: ");
  }
  if (line[0] == 'C') {
    return startsWith(line, "Caused by: ");
  }
  return text::isAlpha(line[0]) && isJavaExceptionHeader(line);
}

/// The last line of a Python traceback: "ValueError: bad", "KeyError", "pkg.mod.Error: x".
bool isPythonExceptionLine(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && (text::isAlnum(line[i]) || line[i] == '_' || line[i] == '.')) {
    ++i;
  }
  return i > 0 && !isDigit(line[0]) && (i == line.size() || line[i] == ':');
}

/// "main.main()", "net/http.(*conn).serve(0xc000, {0x6e8f40, 0xc00009e0c0})", "panic({...})".
bool isGoFunctionLine(std::string_view line) {
  if (line.empty() || line.back() != ')') {
    return false;
  }
  std::size_t paren = line.find('(');
  if (paren == std::string_view::npos || paren == 0) {
    return false;
  }
  return line.substr(0, paren).find(' ') == std::string_view::npos;
}

/// The built-in rules (any of java / python / go, all three for "auto") or, when `start_re` is
/// set, the custom start pattern. One stream, one thread; the open event is copied into `event_`
/// because the caller's line buffers do not outlive add().
class BuiltinJoiner final : public MultilineJoiner {
 public:
  BuiltinJoiner(const MultilineOptions& options, bool java, bool python, bool go,
                std::unique_ptr<re2::RE2> start_re)
      : max_lines_(options.max_lines),
        max_bytes_(options.max_bytes),
        java_(java),
        python_(python),
        go_(go),
        start_re_(std::move(start_re)) {}

  void add(std::string_view line, const Emit& emit) override {
    bool continuation = classify(line) && open_;
    if (continuation && event_.size() + 1 + line.size() > max_bytes_) {
      continuation = false;  // the cap splits the event; the rest starts a new one
    }
    if (continuation) {
      event_.push_back('\n');
      event_.append(line);
      ++lines_;
    } else {
      if (open_) {
        emitOpen(emit);
      }
      event_.assign(line);
      lines_ = 1;
      open_ = true;
    }
    if (lines_ >= max_lines_ || event_.size() >= max_bytes_) {
      emitOpen(emit);
    }
  }

  void flush(const Emit& emit) override {
    if (open_) {
      emitOpen(emit);
    }
  }

  bool hasOpenEvent() const override { return open_; }

 private:
  enum class PythonState : std::uint8_t { kNone, kTraceback, kAfterException, kChainIntro };
  enum class GoState : std::uint8_t { kNone, kTrace };

  void emitOpen(const Emit& emit) {
    open_ = false;
    emit(event_, lines_);
    event_.clear();
    lines_ = 0;
  }

  /// Whether `line` continues the open event; advances the per-language states.
  bool classify(std::string_view line) {
    if (start_re_) {
      return !re2::RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *start_re_);
    }
    // Fast path, most lines of most logs: a timestamp-led line outside any trace.
    if (!line.empty() && isDigit(line[0]) && python_state_ == PythonState::kNone &&
        go_state_ == GoState::kNone) {
      return false;
    }
    bool java = java_ && isJavaContinuation(line);
    bool python = python_ && pythonStep(line);
    bool go = go_ && goStep(line);
    return java || python || go;
  }

  bool pythonStep(std::string_view line) {
    constexpr std::string_view kTraceback = "Traceback (most recent call last):";
    switch (python_state_) {
      case PythonState::kTraceback:
        if (!line.empty() && isSpace(line[0])) {
          return true;
        }
        if (isPythonExceptionLine(line)) {
          python_state_ = PythonState::kAfterException;
          return true;
        }
        break;
      case PythonState::kAfterException:
      case PythonState::kChainIntro:
        if (line.empty()) {
          return true;
        }
        if (startsWith(line, "During handling of the above exception") ||
            startsWith(line, "The above exception was the direct cause")) {
          python_state_ = PythonState::kChainIntro;
          return true;
        }
        if (python_state_ == PythonState::kChainIntro && startsWith(line, kTraceback)) {
          python_state_ = PythonState::kTraceback;
          return true;
        }
        break;
      case PythonState::kNone: break;
    }
    // A traceback right after a log line belongs to it (logging.exception); after a finished
    // traceback it is a new one.
    bool after_finished = python_state_ == PythonState::kAfterException;
    python_state_ = PythonState::kNone;
    if (startsWith(line, kTraceback)) {
      python_state_ = PythonState::kTraceback;
      return !after_finished;
    }
    return false;
  }

  bool goStep(std::string_view line) {
    if (startsWith(line, "panic: ") || startsWith(line, "fatal error: ")) {
      go_state_ = GoState::kTrace;
      return false;  // a panic starts its own event
    }
    if (startsWith(line, "goroutine ") && line.back() == ':') {
      go_state_ = GoState::kTrace;
      return true;  // debug.Stack() output after a log line, or the panic's goroutine dump
    }
    if (go_state_ == GoState::kNone) {
      return false;
    }
    if (line.empty() || isSpace(line[0]) || startsWith(line, "[signal ") ||
        startsWith(line, "created by ") || startsWith(line, "...additional frames elided...") ||
        isGoFunctionLine(line)) {
      return true;
    }
    if (startsWith(line, "exit status ")) {  // `go run` reports the exit after the dump
      go_state_ = GoState::kNone;
      return true;
    }
    go_state_ = GoState::kNone;
    return false;
  }

  const std::size_t max_lines_;
  const std::size_t max_bytes_;
  const bool java_;
  const bool python_;
  const bool go_;
  const std::unique_ptr<re2::RE2> start_re_;

  std::string event_;
  std::size_t lines_ = 0;
  bool open_ = false;
  PythonState python_state_ = PythonState::kNone;
  GoState go_state_ = GoState::kNone;
};

}  // namespace

Result<std::unique_ptr<MultilineJoiner>> MultilineJoiner::create(const MultilineOptions& options) {
  if (options.max_lines == 0 || options.max_bytes == 0) {
    return invalidArgument("multiline: max_lines and max_bytes must be at least 1");
  }
  const std::string& mode = options.mode;
  if (mode != "regex" && !options.start_regex.empty()) {
    return invalidArgument("multiline: start_regex is only used with mode \"regex\"");
  }
  if (mode == "auto") {
    return std::unique_ptr<MultilineJoiner>(new BuiltinJoiner(options, true, true, true, nullptr));
  }
  if (mode == "java" || mode == "python" || mode == "go") {
    return std::unique_ptr<MultilineJoiner>(
        new BuiltinJoiner(options, mode == "java", mode == "python", mode == "go", nullptr));
  }
  if (mode != "regex") {
    return invalidArgument("multiline: unknown mode \"" + mode +
                           "\" (auto, java, python, go, regex)");
  }
  if (options.start_regex.empty()) {
    return invalidArgument("multiline: mode \"regex\" needs start_regex");
  }
  re2::RE2::Options re_options;
  re_options.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(options.start_regex, re_options);
  if (!re->ok()) {
    return invalidArgument("multiline: bad start_regex \"" + options.start_regex +
                           "\": " + re->error());
  }
  return std::unique_ptr<MultilineJoiner>(
      new BuiltinJoiner(options, false, false, false, std::move(re)));
}

}  // namespace faultline::logparse
