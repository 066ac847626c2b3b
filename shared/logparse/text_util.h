#pragma once

// Byte-level helpers shared by the line parsers. ASCII only on purpose: log lines are bytes, and a
// locale-dependent <cctype> call per byte would be slower and not thread-agnostic.

#include <cstddef>
#include <string_view>

namespace faultline::logparse::text {

constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool isUpper(char c) {
  return c >= 'A' && c <= 'Z';
}
constexpr bool isLower(char c) {
  return c >= 'a' && c <= 'z';
}
constexpr bool isAlpha(char c) {
  return isUpper(c) || isLower(c);
}
constexpr bool isAlnum(char c) {
  return isAlpha(c) || isDigit(c);
}
constexpr bool isSpace(char c) {
  return c == ' ' || c == '\t';
}
constexpr char toLower(char c) {
  return isUpper(c) ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// Digits value of text[pos, pos+n), or -1 when any of them is not a digit or out of range.
constexpr int digitsAt(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos > text.size() || text.size() - pos < n) {
    return -1;
  }
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (!isDigit(c)) {
      return -1;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

/// Case-insensitive ASCII equality; `lower` must already be lower case.
constexpr bool equalsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (toLower(text[i]) != lower[i]) {
      return false;
    }
  }
  return true;
}

constexpr bool startsWith(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.substr(0, prefix.size()) == prefix;
}

/// Index of the first byte at or after `pos` that is not a space or tab.
constexpr std::size_t skipSpaces(std::string_view text, std::size_t pos) {
  while (pos < text.size() && isSpace(text[pos])) {
    ++pos;
  }
  return pos;
}

/// Index of the first space at or after `pos` (text.size() when none).
constexpr std::size_t findSpace(std::string_view text, std::size_t pos) {
  while (pos < text.size() && text[pos] != ' ') {
    ++pos;
  }
  return pos;
}

}  // namespace faultline::logparse::text
