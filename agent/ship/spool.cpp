#include "agent/ship/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "shared/util/c_deleter.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"

namespace faultline::agent::ship {
namespace {
constexpr char kMagic[8] = {'F', 'L', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kFixedHeader = 8 + 4 + 4 + 8 * 5;
constexpr std::size_t kOffsetBytes = 16;
constexpr std::uint32_t kMaxOffsets = 1u << 16;
constexpr std::string_view kSuffix = ".batch";
constexpr std::string_view kLog = "spool";

void putU32(std::string* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}
void putU64(std::string* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}
std::uint64_t getLe(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

std::uint32_t crcUpdate(std::uint32_t crc, std::string_view data) {
  return static_cast<std::uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(data.data()), data.size()));
}

Status errnoStatus(std::string_view what, const std::string& path, int err) {
  Errc code = (err == ENOENT)                    ? Errc::NotFound
              : (err == ENOSPC || err == EDQUOT) ? Errc::ResourceExhausted
              : (err == EACCES || err == EPERM)  ? Errc::PermissionDenied
                                                 : Errc::Unavailable;
  return {code, std::string(what) + " " + path + ": " + std::strerror(err)};
}

// Parses "00000000000000000042.batch"; false for anything else.
bool parseEntryName(std::string_view name, std::uint64_t* seq) {
  if (name.size() != 20 + kSuffix.size() || name.substr(20) != kSuffix) {
    return false;
  }
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *seq = value;
  return true;
}
}  // namespace

std::string Spool::fileName(std::uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(seq));
  return std::string(buf) + std::string(kSuffix);
}

std::string Spool::pathOf(std::uint64_t seq) const {
  return fs::join(dir_, fileName(seq));
}

Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir) {
  FL_RETURN_IF_ERROR(fs::ensureDir(dir, 0700));
  FL_RETURN_IF_ERROR(fs::ensureDir(fs::join(dir, "rejected"), 0700));
  FL_RETURN_IF_ERROR(fs::ensureDir(fs::join(dir, "corrupt"), 0700));
  return std::unique_ptr<Spool>(new Spool(dir));
}

Result<std::uint64_t> Spool::writeEntryFile(const std::string& dir, const SpoolEntry& entry,
                                            std::string_view payload) {
  if (entry.offsets.size() > kMaxOffsets) {
    return invalidArgument("spool entry covers too many streams");
  }
  std::string header(kMagic, sizeof(kMagic));
  putU32(&header, kVersion);
  putU32(&header, static_cast<std::uint32_t>(entry.offsets.size()));
  putU64(&header, entry.epoch);
  putU64(&header, entry.seq);
  putU64(&header, entry.records);
  putU64(&header, entry.line_bytes);
  putU64(&header, payload.size());
  for (const tail::OffsetCheckpoint& cp : entry.offsets) {
    putU64(&header, static_cast<std::uint64_t>(cp.stream));
    putU64(&header, cp.offset);
  }
  std::uint32_t crc = crcUpdate(crcUpdate(0, header), payload);
  std::string trailer;
  putU32(&trailer, crc);

  std::string name = fileName(entry.seq);
  std::string tmp = fs::join(dir, "." + name + ".tmp");
  std::string path = fs::join(dir, name);
  Status written = fs::writeFileAtomicParts(path, tmp, {header, payload, trailer}, 0600);
  if (!written.isOk()) {
    return written.withContext("write spool entry");
  }
  return static_cast<std::uint64_t>(header.size() + payload.size() + trailer.size());
}

Result<SpoolFile> Spool::readEntryFile(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string data, fs::readFile(path, kMaxPayloadBytes + kFixedHeader +
                                                               kMaxOffsets * kOffsetBytes + 4));
  auto corrupt = [&](const std::string& why) {
    return Status(Errc::DataLoss, "corrupt spool entry " + path + ": " + why);
  };
  if (data.size() < kFixedHeader + 4 || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt("bad magic or truncated header");
  }
  const char* p = data.data();
  if (getLe(p + 8, 4) != kVersion) {
    return corrupt("unsupported version " + std::to_string(getLe(p + 8, 4)));
  }
  std::uint64_t offset_count = getLe(p + 12, 4);
  SpoolFile out;
  out.entry.epoch = getLe(p + 16, 8);
  out.entry.seq = getLe(p + 24, 8);
  out.entry.records = getLe(p + 32, 8);
  out.entry.line_bytes = getLe(p + 40, 8);
  out.entry.payload_bytes = getLe(p + 48, 8);
  if (offset_count > kMaxOffsets || out.entry.payload_bytes > kMaxPayloadBytes) {
    return corrupt("implausible sizes");
  }
  std::size_t header_size = kFixedHeader + static_cast<std::size_t>(offset_count) * kOffsetBytes;
  if (data.size() != header_size + out.entry.payload_bytes + 4) {
    return corrupt("length " + std::to_string(data.size()) + " does not match its header");
  }
  std::uint32_t stored_crc = static_cast<std::uint32_t>(getLe(p + data.size() - 4, 4));
  if (crcUpdate(0, std::string_view(data).substr(0, data.size() - 4)) != stored_crc) {
    return corrupt("checksum mismatch");
  }
  out.entry.offsets.reserve(offset_count);
  for (std::uint64_t i = 0; i < offset_count; ++i) {
    const char* o = p + kFixedHeader + i * kOffsetBytes;
    out.entry.offsets.push_back({static_cast<tail::StreamId>(getLe(o, 8)), getLe(o + 8, 8)});
  }
  out.entry.file_bytes = data.size();
  out.payload = data.substr(header_size, out.entry.payload_bytes);
  return out;
}

Result<SpoolRecovery> Spool::recover(std::uint64_t checkpoint_seq) {
  SpoolRecovery report;
  std::vector<std::pair<std::uint64_t, std::string>> found;
  {
    CPtr<DIR, &::closedir> d(::opendir(dir_.c_str()));
    if (!d) {
      return errnoStatus("open spool directory", dir_, errno);
    }
    while (dirent* ent = ::readdir(d.get())) {
      std::string_view name = ent->d_name;
      if (name == "." || name == ".." || name == "rejected" || name == "corrupt") {
        continue;
      }
      std::uint64_t seq = 0;
      if (parseEntryName(name, &seq)) {
        found.emplace_back(seq, std::string(name));
      } else if (name.front() == '.' && name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
        // A write that never reached its rename: nothing was checkpointed for it.
        std::string path = fs::join(dir_, name);
        if (::unlink(path.c_str()) != 0) {
          return errnoStatus("remove spool temp file", path, errno);
        }
        ++report.temp_files_removed;
      } else {
        log::warn(kLog, "ignoring unexpected file " + fs::join(dir_, name));
      }
    }
  }
  std::sort(found.begin(), found.end());
  std::uint64_t highest = checkpoint_seq;
  bool reread_from_here = false;
  for (const auto& [seq, name] : found) {
    highest = std::max(highest, seq);
    std::string path = fs::join(dir_, name);
    auto file = readEntryFile(path);
    bool corrupt = !file.isOk();
    std::string why = corrupt ? file.status().message() : "";
    if (!corrupt && file->entry.seq != seq) {
      corrupt = true;
      why = "corrupt spool entry " + path + ": holds seq " + std::to_string(file->entry.seq);
    }
    if (corrupt) {
      if (file.code() != Errc::DataLoss && file.code() != Errc::Ok) {
        return file.status();  // an I/O error, not corruption: do not guess
      }
      std::string dest = fs::join(fs::join(dir_, "corrupt"), name);
      if (::rename(path.c_str(), dest.c_str()) != 0) {
        return errnoStatus("quarantine corrupt spool entry", path, errno);
      }
      if (seq <= checkpoint_seq) {
        ++report.corrupt_lost;
        log::error(kLog, why +
                             "; its offsets were already checkpointed, so its lines are LOST; "
                             "moved to " +
                             dest);
      } else {
        ++report.corrupt_reread;
        reread_from_here = true;
        log::error(kLog, why +
                             "; it was never checkpointed, so its lines will be read again "
                             "from the files; moved to " +
                             dest);
      }
      continue;
    }
    if (seq > checkpoint_seq && reread_from_here) {
      // Its offsets lie past the corrupt entry's lines: re-applying them would skip those
      // lines, so this entry is dropped and the files are re-read from the last checkpoint.
      if (::unlink(path.c_str()) != 0) {
        return errnoStatus("remove spool entry", path, errno);
      }
      ++report.discarded_reread;
      log::warn(kLog, "removed spool entry " + path +
                          " after a corrupt one; its lines will be read again from the files");
      continue;
    }
    if (seq > checkpoint_seq) {
      report.reapply.push_back(file->entry);
    }
    added(file->entry);
  }
  if (report.temp_files_removed > 0 || report.corrupt_lost > 0 || report.corrupt_reread > 0 ||
      report.discarded_reread > 0) {
    FL_RETURN_IF_ERROR(fs::syncDir(dir_));
  }
  report.next_seq = highest + 1;
  return report;
}

void Spool::added(const SpoolEntry& entry) {
  auto it = entries_.find(entry.seq);
  if (it != entries_.end()) {
    bytes_ -= it->second.file_bytes;
  }
  entries_.insert_or_assign(entry.seq, entry);
  bytes_ += entry.file_bytes;
}

Result<SpoolFile> Spool::read(std::uint64_t seq) const {
  if (entries_.find(seq) == entries_.end()) {
    return notFound("spool entry " + std::to_string(seq) + " is not in the spool");
  }
  return readEntryFile(pathOf(seq));
}

Status Spool::remove(std::uint64_t seq) {
  auto it = entries_.find(seq);
  if (it == entries_.end()) {
    return notFound("spool entry " + std::to_string(seq) + " is not in the spool");
  }
  std::string path = pathOf(seq);
  // No directory fsync: an entry that reappears after a crash is simply sent again and the
  // aggregator answers it as a duplicate.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errnoStatus("remove spool entry", path, errno);
  }
  bytes_ -= it->second.file_bytes;
  entries_.erase(it);
  return Status::ok();
}

Status Spool::moveTo(std::uint64_t seq, const char* subdir) {
  auto it = entries_.find(seq);
  if (it == entries_.end()) {
    return notFound("spool entry " + std::to_string(seq) + " is not in the spool");
  }
  std::string path = pathOf(seq);
  std::string dest_dir = fs::join(dir_, subdir);
  std::string dest = fs::join(dest_dir, fileName(seq));
  if (::rename(path.c_str(), dest.c_str()) != 0) {
    return errnoStatus("move spool entry to " + dest_dir + ":", path, errno);
  }
  FL_RETURN_IF_ERROR(fs::syncDir(dest_dir));
  FL_RETURN_IF_ERROR(fs::syncDir(dir_));
  bytes_ -= it->second.file_bytes;
  entries_.erase(it);
  return Status::ok();
}

Status Spool::reject(std::uint64_t seq) {
  return moveTo(seq, "rejected");
}

}  // namespace faultline::agent::ship
