#pragma once

// File helpers that get durability right: atomic replace with fsync of file and directory.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/status.h"

namespace faultline::fs {

/// Creates `path` and missing parents with `mode` (existing directories are left as they are).
Status ensureDir(const std::string& path, unsigned mode = 0755);

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync of
/// the directory. `mode` applies to the new file (0600 for secrets).
Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0644);

/// writeFileAtomic for data in several parts, written through the given temporary path (which
/// must be in the same directory; callers that clean up stray temp files choose its name).
Status writeFileAtomicParts(const std::string& path, const std::string& tmp_path,
                            std::initializer_list<std::string_view> parts, unsigned mode);

/// Reads a whole file; fails with ResourceExhausted when it is larger than `max_bytes`.
Result<std::string> readFile(const std::string& path, std::uint64_t max_bytes = 64ULL << 20);

/// fsyncs a directory so that renames and unlinks inside it are durable.
Status syncDir(const std::string& path);

/// Joins two path parts with exactly one '/'.
std::string join(std::string_view a, std::string_view b);

/// Expands a glob pattern (no brace expansion); returns sorted matches (files only).
std::vector<std::string> globFiles(const std::string& pattern);

}  // namespace faultline::fs
