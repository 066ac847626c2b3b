#pragma once

// The miner's fast-path key: a hash of a line's bytes other than hex digits. Lines that differ
// only in their numbers and hex ids share it (and almost always a template), so the miner can
// parse such a line with the template an earlier one got, without tokenizing it.
// Thread: pure functions; `scratch` belongs to the caller.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultline::logtemplate {

enum class KeyCode : std::uint8_t {
  Best,    // SSSE3 when the CPU has it, else portable
  Scalar,  // portable (tests compare the two)
};

/// Sets `key` and returns true, or returns false when `line` cannot be templated (it holds a
/// '\n' or a literal "<*>"). `scratch` is resized as needed and reused between calls.
bool valueFreeKey(std::string_view line, std::string& scratch, std::uint64_t& key,
                  KeyCode code = KeyCode::Best);

}  // namespace faultline::logtemplate
