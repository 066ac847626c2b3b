#pragma once

// Writers of the Prometheus text exposition format (0.0.4), shared by every /metrics page so
// that the HELP/TYPE lines and number formatting are written one way.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace faultline::prometheus {

/// A value as Prometheus reads it: up to 9 significant digits ("0.005", "1e+09").
inline std::string number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  return buffer;
}

/// The "# HELP" and "# TYPE" lines of a metric family.
inline void family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
}

/// One sample without labels.
inline void sample(std::string& out, std::string_view name, std::uint64_t value) {
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

/// A counter family with its one sample.
inline void counter(std::string& out, std::string_view name, std::string_view help,
                    std::uint64_t value) {
  family(out, name, "counter", help);
  sample(out, name, value);
}

}  // namespace faultline::prometheus
