#pragma once

// Helpers for the logparse tests: parse a line with given options and look attributes up.

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shared/logparse/parser.h"

namespace faultline::logparse::testing {

inline std::unique_ptr<Parser> makeParser(const ParserOptions& options = {}) {
  auto parser = Parser::create(options);
  REQUIRE_MESSAGE(parser.isOk(), parser.status().toString());
  return std::move(parser).value();
}

inline std::unique_ptr<Parser> makeParser(Format format) {
  ParserOptions options;
  options.format = format;
  options.default_year = 2024;
  return makeParser(options);
}

/// The value of the first attribute named `key`, if any.
inline std::optional<std::string> attr(const ParsedLine& out, std::string_view key) {
  for (const Attribute& a : out.attrs) {
    if (a.key == key) {
      return std::string(a.value);
    }
  }
  return std::nullopt;
}

/// True when every view of `out` lies inside `line` or inside out.scratch.
inline bool viewsAreInside(const ParsedLine& out, std::string_view line) {
  auto inside = [&](std::string_view v) {
    if (v.empty()) {
      return true;
    }
    auto within = [&](std::string_view outer) {
      return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
    };
    return within(line) || within(out.scratch);
  };
  if (!inside(out.message) || !inside(out.inner)) {
    return false;
  }
  for (const Attribute& a : out.attrs) {
    if (!inside(a.value)) {
      return false;
    }
  }
  return true;
}

}  // namespace faultline::logparse::testing
