#pragma once

// Randomness and hashing for secrets (libsodium). Thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

namespace faultline::crypto {

/// Lower-case hex of any bytes (2 characters per byte).
std::string hexEncode(std::string_view bytes);

/// `bytes` random bytes from the OS CSPRNG, hex-encoded (2 * bytes characters).
std::string randomHex(std::size_t bytes);

/// A random URL-safe token: prefix + base64url of `bytes` random bytes, no padding.
std::string randomToken(std::string_view prefix, std::size_t bytes = 32);

/// Hex BLAKE2b-256 of `data`. For high-entropy secrets (tokens, agent secrets) a fast hash is
/// the right tool; passwords use argon2id instead.
std::string hashSecret(std::string_view data);

/// Constant-time comparison of two equally long strings (false when lengths differ).
bool constantTimeEqual(std::string_view a, std::string_view b);

}  // namespace faultline::crypto
