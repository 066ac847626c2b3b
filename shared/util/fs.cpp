#include "shared/util/fs.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "shared/util/c_deleter.h"

namespace faultline {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = fd;
}

namespace fs {
namespace {
Status errnoStatus(std::string_view what, const std::string& path, int err) {
  Errc code = (err == ENOENT) ? Errc::NotFound
              : (err == ENOSPC || err == EDQUOT) ? Errc::ResourceExhausted
              : (err == EACCES || err == EPERM) ? Errc::PermissionDenied
                                                : Errc::Unavailable;
  return {code, std::string(what) + " " + path + ": " + std::strerror(err)};
}

std::string dirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return path.substr(0, slash);
}
}  // namespace

Status ensureDir(const std::string& path, unsigned mode) {
  if (path.empty()) {
    return invalidArgument("empty directory path");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return {Errc::FailedPrecondition, path + " exists and is not a directory"};
    }
    return Status::ok();
  }
  std::string parent = dirName(path);
  if (parent != path && parent != "." && parent != "/") {
    FL_RETURN_IF_ERROR(ensureDir(parent, mode));
  }
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errnoStatus("create directory", path, errno);
  }
  return Status::ok();
}

Status syncDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return errnoStatus("open directory", path, errno);
  }
  if (::fsync(fd.get()) != 0) {
    return errnoStatus("fsync directory", path, errno);
  }
  return Status::ok();
}

Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  return writeFileAtomicParts(path, path + ".tmp." + std::to_string(::getpid()), {data}, mode);
}

Status writeFileAtomicParts(const std::string& path, const std::string& tmp,
                            std::initializer_list<std::string_view> parts, unsigned mode) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) {
    return errnoStatus("create", tmp, errno);
  }
  auto failed = [&](std::string_view what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return errnoStatus(what, tmp, err);
  };
  // The umask may have narrowed the mode; secrets rely on the exact bits.
  if (::fchmod(fd.get(), mode) != 0) {
    return failed("chmod");
  }
  for (std::string_view part : parts) {
    while (!part.empty()) {
      ssize_t n = ::write(fd.get(), part.data(), part.size());
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return failed("write");
      }
      part.remove_prefix(static_cast<size_t>(n));
    }
  }
  // fdatasync suffices for a new file: it flushes the data and the size needed to read it back.
  if (::fdatasync(fd.get()) != 0) {
    return failed("fsync");
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return errnoStatus("rename onto", path, err);
  }
  return syncDir(dirName(path));
}

Result<std::string> readFile(const std::string& path, std::uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return errnoStatus("open", path, errno);
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errnoStatus("read", path, errno);
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return Status(Errc::ResourceExhausted,
                    path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string join(std::string_view a, std::string_view b) {
  std::string out(a);
  if (!out.empty() && out.back() != '/') {
    out += '/';
  }
  while (!b.empty() && b.front() == '/') {
    b.remove_prefix(1);
  }
  out += b;
  return out;
}

std::vector<std::string> globFiles(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      struct stat st {};
      if (::stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) {
        out.emplace_back(g.gl_pathv[i]);
      }
    }
  }
  ::globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fs
}  // namespace faultline
