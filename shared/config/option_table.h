#pragma once

// Declared configuration: each component lists its options once (key, type, default, help);
// the same table validates a TOML file (unknown keys are errors, with file:line:column), fills
// defaults, takes command-line overrides and prints --help-config.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::config {

enum class OptionType : std::uint8_t {
  String,
  Int,
  Bool,
  Duration,    // "30s", "15m"
  ByteSize,    // 65536, "64MiB"
  StringList,  // ["a", "b"]
};

/// One declared option. `key` is dotted: "server.listen" is `listen` in table `[server]`.
struct Option {
  std::string key;
  OptionType type;
  std::string default_value;  // text form; for StringList, entries separated by '\n'
  std::string description;
};

/// Holds the declared options and their current values. Not thread-safe: fill it at start-up,
/// then read it.
class OptionTable {
 public:
  explicit OptionTable(std::vector<Option> options);

  /// Parses a TOML file and applies its values. Errors name the file, line, column and key.
  Status loadFile(const std::string& path);
  /// Same for TOML text; `source_name` is used in errors.
  Status loadString(std::string_view toml_text, const std::string& source_name);

  /// Overrides one value from its text form (used for command-line flags).
  Status set(std::string_view key, std::string_view value);
  /// Appends to a StringList option.
  Status append(std::string_view key, std::string_view value);

  std::string getString(std::string_view key) const;
  std::int64_t getInt(std::string_view key) const;
  bool getBool(std::string_view key) const;
  std::chrono::nanoseconds getDuration(std::string_view key) const;
  std::uint64_t getByteSize(std::string_view key) const;
  std::vector<std::string> getStringList(std::string_view key) const;

  /// One line per option: key, type, default, description.
  std::string helpText() const;

 private:
  struct Value {
    const Option* option;
    std::string text;                // String, Int, Bool, Duration, ByteSize (validated text)
    std::vector<std::string> items;  // StringList
  };
  Status setValue(Value& value, std::string_view text) const;
  const Value& find(std::string_view key) const;

  std::vector<Option> options_;
  std::map<std::string, Value, std::less<>> values_;
};

}  // namespace faultline::config
