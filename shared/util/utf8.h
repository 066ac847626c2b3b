#pragma once

// Strict UTF-8 decoding of one sequence: no overlong forms, no surrogates, nothing above
// U+10FFFF. Shared by the JSON log writer (which escapes what is not valid) and the audit log
// (which refuses it), so both agree on what "valid" means.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace faultline {

/// Length (1 to 4) of the valid UTF-8 sequence starting at text[i], or 0 when it is not one.
/// `i` must be < text.size().
inline std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = static_cast<unsigned char>(text[i]);
  if (byte < 0x80) {
    return 1;
  }
  std::size_t length = 0;
  std::uint32_t code = 0;
  if ((byte & 0xe0) == 0xc0) {
    length = 2;
    code = byte & 0x1f;
  } else if ((byte & 0xf0) == 0xe0) {
    length = 3;
    code = byte & 0x0f;
  } else if ((byte & 0xf8) == 0xf0) {
    length = 4;
    code = byte & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xc0) != 0x80) {
      return 0;
    }
    code = (code << 6) | (next & 0x3f);
  }
  static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinForLength[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
    return 0;
  }
  return length;
}

}  // namespace faultline
