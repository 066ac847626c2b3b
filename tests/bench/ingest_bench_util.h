#pragma once
// Shared by the ingest benches (SQLite and PostgreSQL): process CPU time and the synthetic
// ~200-byte web-server lines both feed, so their figures stay comparable.
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

#include "shared/util/time.h"

namespace faultline::bench {

inline double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Web-server-like lines of about 200 bytes with varying ids, paths and numbers.
inline std::string makeLine(std::mt19937_64& rng, std::int64_t ts) {
  static const char* kLevels[] = {"INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"};
  static const char* kPaths[] = {"/api/v1/items", "/api/v1/users",  "/api/v2/orders",
                                 "/healthz",      "/static/app.js", "/api/v1/search"};
  char buffer[320];
  int size = std::snprintf(
      buffer, sizeof buffer,
      "%s %-5s http request_id=%016llx method=GET path=%s/%llu status=%d duration_ms=%.3f "
      "bytes=%llu client=10.%u.%u.%u user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\"",
      formatRfc3339Millis(ts).c_str(), kLevels[rng() % 6], static_cast<unsigned long long>(rng()),
      kPaths[rng() % 6], static_cast<unsigned long long>(rng() % 100000),
      rng() % 10 == 0 ? 500 : 200, static_cast<double>(rng() % 100000) / 1000.0,
      static_cast<unsigned long long>(rng() % 50000), static_cast<unsigned>(rng() % 256),
      static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 256));
  return std::string(buffer, static_cast<std::size_t>(size));
}

}  // namespace faultline::bench
