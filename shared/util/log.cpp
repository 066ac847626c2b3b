#include "shared/util/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "shared/util/time.h"

namespace faultline::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};

std::string_view levelName(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info ";
    case Level::Warn: return "warn ";
    case Level::Error: return "error";
  }
  return "?    ";
}
}  // namespace

void setLevel(Level new_level) { g_level.store(static_cast<int>(new_level)); }
Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool parseLevel(std::string_view text, Level* out) {
  if (text == "debug") {
    *out = Level::Debug;
  } else if (text == "info") {
    *out = Level::Info;
  } else if (text == "warn" || text == "warning") {
    *out = Level::Warn;
  } else if (text == "error") {
    *out = Level::Error;
  } else {
    return false;
  }
  return true;
}

void write(Level msg_level, std::string_view component, std::string_view message) {
  if (static_cast<int>(msg_level) < g_level.load(std::memory_order_relaxed)) {
    return;
  }
  std::string line = formatRfc3339Millis(nowUnixNanos());
  line += ' ';
  line += levelName(msg_level);
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  line += '\n';
  // One write per line; a short write on stderr is not worth retrying.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace faultline::log
