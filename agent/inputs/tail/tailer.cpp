#include "agent/inputs/tail/tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "shared/util/c_deleter.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::agent::tail {
namespace {

constexpr std::string_view kLog = "tail";
/// Fingerprints sharing fewer bytes than this are too weak to call one file a copy of another.
constexpr std::size_t kMinFingerprintBytes = 16;
/// Finished streams whose file has not been seen for this long are forgotten.
constexpr std::int64_t kForgetAfterNs = 24LL * 3600 * 1000 * 1000 * 1000;

std::int64_t toNs(std::chrono::milliseconds ms) { return static_cast<std::int64_t>(ms.count()) * 1000000; }

std::int64_t mtimeNs(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

/// Reads the first kFingerprintBytes of `fd` into `out`; returns the count or -1.
ssize_t readFingerprint(int fd, char* out) {
  std::size_t got = 0;
  while (got < kFingerprintBytes) {
    ssize_t n = ::pread(fd, out + got, kFingerprintBytes - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -1;
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

/// True when one fingerprint is a prefix of the other (the shorter was taken earlier).
bool prefixMatch(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  return std::memcmp(a.data(), b.data(), n) == 0;
}

/// A prefix match long enough to identify a copy.
bool strongMatch(std::string_view a, std::string_view b) {
  return std::min(a.size(), b.size()) >= kMinFingerprintBytes && prefixMatch(a, b);
}

/// One file matched by a glob, opened so that its identity cannot change under us.
struct Candidate {
  std::string path;
  std::string source;
  UniqueFd fd;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string fingerprint;
};

struct Match {
  std::string path;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

Result<Candidate> openCandidate(const Match& m) {
  Candidate c;
  int fd = ::open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status(Errc::Unavailable, "open " + m.path + ": " + std::strerror(errno));
  }
  c.fd.reset(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Status(Errc::Unavailable, "fstat " + m.path + ": " + std::strerror(errno));
  }
  c.path = m.path;
  c.dev = static_cast<std::uint64_t>(st.st_dev);
  c.ino = static_cast<std::uint64_t>(st.st_ino);
  c.size = static_cast<std::uint64_t>(st.st_size);
  c.mtime_ns = mtimeNs(st);
  char fp[kFingerprintBytes];
  ssize_t n = readFingerprint(fd, fp);
  if (n < 0) {
    return Status(Errc::Unavailable, "read " + m.path + ": " + std::strerror(errno));
  }
  c.fingerprint.assign(fp, static_cast<std::size_t>(n));
  return c;
}

/// `path` looks like a rotated generation of `base`: base + [.-_] + digit (app.log.1,
/// app.log-20240101).
bool isGenerationOf(std::string_view path, std::string_view base) {
  return path.size() > base.size() + 1 && path.substr(0, base.size()) == base &&
         (path[base.size()] == '.' || path[base.size()] == '-' || path[base.size()] == '_') &&
         path[base.size() + 1] >= '0' && path[base.size() + 1] <= '9';
}

enum class StreamMode : std::uint8_t {
  Live,      // fd open, being read
  Closing,   // fd closed; waiting until everything read is committed
  Finished,  // durable as finished; kept to recognize the file and its copies
};

enum class StepResult : std::uint8_t { Progress, Idle };

}  // namespace

struct Tailer::Impl {
  struct Stream {
    StreamState st;  // st.offset is unused in memory: pos and committed hold the truth
    StreamMode mode = StreamMode::Live;
    UniqueFd fd;
    std::uint64_t pos = 0;        // bytes handed to the sink (always at a line boundary)
    std::uint64_t committed = 0;  // bytes checkpointed
    std::uint64_t size = 0;       // size at the last fstat
    std::int64_t mtime_ns = 0;
    bool rotated = false;
    bool at_eof = false;
    bool flush_partial = false;          // emit the unterminated tail on the next read
    std::int64_t partial_since_ns = 0;   // monotonic; 0 when no partial line waits
    std::int64_t last_change_ns = 0;     // monotonic: data read, growth or rotation
    std::int64_t last_seen_ns = 0;       // monotonic: the file or a copy was in the globs
    bool stale = false;  // finished, and its inode now holds another file; kept for copies
  };

  Impl(uv_loop_t* loop_in, TailerOptions opts, OffsetStore* store_in, LineSink* sink_in)
      : loop(loop_in), options(std::move(opts)), store(store_in), sink(sink_in) {}

  uv_loop_t* loop;
  TailerOptions options;
  OffsetStore* store;
  LineSink* sink;

  // Handles are heap-allocated and freed in their close callbacks, which may run after Impl is
  // gone.
  uv_timer_t* timer = nullptr;
  uv_idle_t* idle = nullptr;
  bool idle_active = false;

  bool started = false;
  bool stopped = false;
  bool paused = false;
  bool first_run = false;

  std::unique_ptr<char[]> buf;
  std::size_t buf_cap = 0;

  std::vector<std::unique_ptr<Stream>> streams;
  std::unordered_map<StreamId, Stream*> by_id;
  std::vector<Stream*> order;  // live streams sorted by (source, id): the read order
  bool order_dirty = true;
  std::unordered_map<std::string, std::int64_t> deferred;  // path -> first seen (ambiguous)
  std::unordered_set<std::string> warned_paths;
  TailerStats stats;

  // --- helpers -------------------------------------------------------------------------------

  void persist(Stream* s) {
    Status st = store->upsertStream(&s->st);
    if (!st.isOk()) {
      log::error(kLog, "persist stream " + std::to_string(s->st.id) + ": " + st.toString());
    }
  }

  void warnOnce(const std::string& path, const std::string& message) {
    if (warned_paths.insert(path).second) {
      log::warn(kLog, message);
    }
  }

  std::vector<Match> listMatches() {
    std::vector<Match> out;
    std::unordered_set<std::string> seen;
    for (const auto& pattern : options.globs) {
      for (auto& path : fs::globFiles(pattern)) {
        if (!seen.insert(path).second) {
          continue;
        }
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
          continue;
        }
        out.push_back(Match{std::move(path), static_cast<std::uint64_t>(st.st_dev),
                            static_cast<std::uint64_t>(st.st_ino),
                            static_cast<std::uint64_t>(st.st_size), mtimeNs(st)});
      }
    }
    return out;
  }

  Stream* liveByInode(std::uint64_t dev, std::uint64_t ino) {
    for (auto& s : streams) {
      if (s->mode == StreamMode::Live && s->st.dev == dev && s->st.ino == ino) {
        return s.get();
      }
    }
    return nullptr;
  }

  /// The lineage a new file belongs to: the longest known source it is a generation of.
  std::string lineageOf(const std::string& path, const std::vector<std::string>& sources) {
    const std::string* best = nullptr;
    for (const auto& base : sources) {
      if (isGenerationOf(path, base) && (best == nullptr || base.size() > best->size())) {
        best = &base;
      }
    }
    return best != nullptr ? *best : path;
  }

  void rebuildOrder() {
    order.clear();
    for (auto& s : streams) {
      if (s->mode == StreamMode::Live) {
        order.push_back(s.get());
      }
    }
    std::sort(order.begin(), order.end(), [](const Stream* a, const Stream* b) {
      if (a->st.source != b->st.source) {
        return a->st.source < b->st.source;
      }
      return a->st.id < b->st.id;
    });
    order_dirty = false;
  }

  void maybeFinish(Stream* s) {
    if (s->mode != StreamMode::Closing || s->committed < s->pos) {
      return;
    }
    s->st.finished = true;
    Status st = store->upsertStream(&s->st);
    if (!st.isOk()) {
      s->st.finished = false;  // retried by the next scan
      log::error(kLog, "finish stream " + std::to_string(s->st.id) + ": " + st.toString());
      return;
    }
    s->mode = StreamMode::Finished;
    s->last_seen_ns = monotonicNanos();
  }

  void closeStream(Stream* s) {
    s->fd.reset();
    s->mode = StreamMode::Closing;
    order_dirty = true;
    maybeFinish(s);
  }

  /// Looks among `matches` for a copy of `fingerprint` holding bytes past `pos`. The largest
  /// wins: it is the most complete.
  Result<Candidate> findCopy(const std::string& fingerprint, std::uint64_t pos,
                             std::uint64_t dev, std::uint64_t ino,
                             const std::vector<Match>& matches) {
    if (fingerprint.size() < kMinFingerprintBytes) {
      return notFound("fingerprint too short to match a copy");
    }
    Result<Candidate> best = notFound("no copy");
    for (const auto& m : matches) {
      // m.size is not trusted here (see handleTruncation); the candidate's own fstat decides.
      if ((m.dev == dev && m.ino == ino) || liveByInode(m.dev, m.ino) != nullptr) {
        continue;
      }
      auto c = openCandidate(m);
      if (!c.isOk() || c->size <= pos || !strongMatch(c->fingerprint, fingerprint)) {
        continue;
      }
      if (!best.isOk() || c->size > best->size) {
        best = std::move(c);
      }
    }
    return best;
  }

  /// The file under `s` shrank or changed its first bytes (copytruncate, or truncate and
  /// rewrite). Reads the rest of this stream from a copy when one exists; the truncated file
  /// then becomes a new stream.
  void handleTruncation(Stream* s, std::uint64_t size_before) {
    ++stats.truncations;
    // Always a fresh listing: a scan's own listing can predate the copy, or hold the size of a
    // copy that was still being written (seen under load: the copy was skipped as too short).
    const std::vector<Match> fresh = listMatches();
    const std::vector<Match>* known = &fresh;
    auto copy = findCopy(s->st.fingerprint, s->pos, s->st.dev, s->st.ino, *known);
    if (copy.isOk()) {
      log::info(kLog, "stream " + std::to_string(s->st.id) + " (" + s->st.source +
                          ") truncated at " + std::to_string(s->pos) + "; reading the rest from " +
                          copy->path);
      s->fd = std::move(copy->fd);
      s->st.dev = copy->dev;
      s->st.ino = copy->ino;
      s->st.path = copy->path;
      s->size = copy->size;
      s->mtime_ns = copy->mtime_ns;
      s->rotated = true;
      s->at_eof = false;
      s->flush_partial = false;
      s->partial_since_ns = 0;
      s->last_change_ns = monotonicNanos();
      persist(s);
    } else {
      const std::uint64_t lost = size_before > s->pos ? size_before - s->pos : 0;
      stats.truncated_bytes_lost += lost;
      log::warn(kLog, s->st.path + " was truncated with " + std::to_string(lost) +
                          " bytes unread and no copy found among the glob matches (fingerprint " +
                          std::to_string(s->st.fingerprint.size()) + " bytes): they are lost");
      s->rotated = true;
      closeStream(s);
    }
    order_dirty = true;
    // The truncated file is now nobody's: it is found again as a new file, read from byte 0,
    // after any older unknown generations.
    discover(*known, false);
  }

  /// fstat + fingerprint check of a live stream. Returns false when the file was truncated.
  bool verify(Stream* s, std::uint64_t read_end) {
    struct stat st {};
    if (::fstat(s->fd.get(), &st) != 0) {
      return true;  // cannot tell; reading will report errors
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::int64_t mtime = mtimeNs(st);
    const bool changed = size != s->size || mtime != s->mtime_ns;
    if (size != s->size) {
      s->partial_since_ns = 0;
      s->flush_partial = false;
      s->last_change_ns = monotonicNanos();
    }
    s->size = size;
    s->mtime_ns = mtime;
    if (st.st_nlink == 0 && !s->rotated) {
      s->rotated = true;
      ++stats.rotations;
      s->last_change_ns = monotonicNanos();
    }
    if (size < read_end) {
      return false;
    }
    if (!changed && read_end == s->pos) {
      return true;
    }
    char fp[kFingerprintBytes];
    const ssize_t n = readFingerprint(s->fd.get(), fp);
    if (n < 0) {
      return true;
    }
    const auto got = static_cast<std::size_t>(n);
    if (got < s->st.fingerprint.size() ||
        std::memcmp(fp, s->st.fingerprint.data(), s->st.fingerprint.size()) != 0) {
      return false;
    }
    if (got > s->st.fingerprint.size()) {
      s->st.fingerprint.assign(fp, got);
      persist(s);
    }
    return true;
  }

  // --- discovery -----------------------------------------------------------------------------

  /// Starts streams for glob matches that are no known file and no copy of one.
  void discover(const std::vector<Match>& matches, bool initial) {
    const std::int64_t now = monotonicNanos();
    std::vector<Candidate> fresh;
    std::vector<std::string> sources;
    for (auto& s : streams) {
      sources.push_back(s->st.source);
    }
    for (const auto& m : matches) {
      if (liveByInode(m.dev, m.ino) != nullptr) {
        continue;
      }
      auto opened = openCandidate(m);
      if (!opened.isOk()) {
        warnOnce(m.path, opened.status().toString());
        continue;
      }
      Candidate c = std::move(opened).value();
      if (c.dev != m.dev || c.ino != m.ino) {
        continue;  // replaced between stat and open; the next scan sees the new one
      }
      if (knownFile(c, now)) {
        continue;
      }
      sources.push_back(c.path);
      fresh.push_back(std::move(c));
    }
    for (auto& c : fresh) {
      c.source = lineageOf(c.path, sources);
    }
    // Oldest first; on equal mtimes the file at its lineage's own path is the newest, and a
    // higher generation number (app.log.2) is older than a lower one (app.log.1).
    std::sort(fresh.begin(), fresh.end(), [](const Candidate& a, const Candidate& b) {
      if (a.mtime_ns != b.mtime_ns) {
        return a.mtime_ns < b.mtime_ns;
      }
      const bool a_base = a.path == a.source;
      const bool b_base = b.path == b.source;
      if (a_base != b_base) {
        return b_base;
      }
      return a.path > b.path;
    });
    for (auto& c : fresh) {
      if (isCopyOrDeferred(c, now)) {
        continue;
      }
      deferred.erase(c.path);
      auto s = std::make_unique<Stream>();
      s->st.source = c.source;
      s->st.path = c.path;
      s->st.dev = c.dev;
      s->st.ino = c.ino;
      s->st.fingerprint = c.fingerprint;
      s->st.discovered_ns = nowUnixNanos();
      s->pos = (initial && first_run && !options.start_at_beginning) ? c.size : 0;
      s->st.offset = s->pos;
      Status st = store->upsertStream(&s->st);
      if (!st.isOk()) {
        // Without a durable id its lines could not be checkpointed; the next scan retries.
        log::error(kLog, "register " + c.path + ": " + st.toString());
        continue;
      }
      s->committed = s->pos;
      s->fd = std::move(c.fd);
      s->size = c.size;
      s->mtime_ns = c.mtime_ns;
      s->rotated = c.path != c.source;
      s->last_change_ns = now;
      s->last_seen_ns = now;
      ++stats.files_opened;
      log::info(kLog, "following " + c.path + " as stream " + std::to_string(s->st.id) +
                          " (source " + c.source + ") from offset " + std::to_string(s->pos));
      by_id[s->st.id] = s.get();
      streams.push_back(std::move(s));
      order_dirty = true;
    }
  }

  /// A non-live stream already covers this inode (same file: prefix fingerprint and no shrink).
  /// One inode can host several streams in turn (copytruncate keeps the inode and starts a new
  /// fingerprint), so only when none of them matches is the inode taken as reused. A stream
  /// whose inode was reused stays (stale) with its fingerprint, so copies of it are still
  /// recognised, until the normal forget time.
  bool knownFile(const Candidate& c, std::int64_t now) {
    for (auto& owned : streams) {
      Stream* s = owned.get();
      if (s->mode == StreamMode::Live || s->stale || s->st.dev != c.dev || s->st.ino != c.ino) {
        continue;
      }
      if (prefixMatch(s->st.fingerprint, c.fingerprint) && c.size >= s->pos) {
        s->last_seen_ns = now;
        return true;
      }
    }
    for (auto& owned : streams) {
      Stream* s = owned.get();
      if (s->mode == StreamMode::Finished && !s->stale && s->st.dev == c.dev &&
          s->st.ino == c.ino) {
        log::info(kLog, "inode of finished stream " + std::to_string(s->st.id) +
                            " reused by " + c.path);
        s->stale = true;
        // It no longer owns the inode, durably; its fingerprint stays to recognise copies.
        s->st.dev = 0;
        s->st.ino = 0;
        Status st = store->upsertStream(&s->st);
        if (!st.isOk()) {
          log::warn(kLog, "forget inode of stream " + std::to_string(s->st.id) + ": " +
                              st.toString());
        }
      }
    }
    return false;
  }

  bool isCopyOrDeferred(const Candidate& c, std::int64_t now) {
    for (auto& s : streams) {
      if (c.path != s->st.source && strongMatch(s->st.fingerprint, c.fingerprint)) {
        s->last_seen_ns = now;
        return true;  // a copy of a stream: reading it would duplicate every line
      }
    }
    if (c.fingerprint.size() >= kMinFingerprintBytes) {
      return false;
    }
    if (c.path == c.source) {
      // A file with fewer than kMinFingerprintBytes has no reliable identity yet: registered
      // now, it would take whatever bytes it holds when next looked at as its own, even a later
      // generation written after a copytruncate the tailer never saw (and read that before the
      // copy). Wait until it grows, or rotate_wait passes for a file that stays that small.
      auto [it, inserted] = deferred.try_emplace(c.path, now);
      return c.fingerprint.empty() || now - it->second < toNs(options.rotate_wait);
    }
    // A short file beside a lineage may be a copy being written or a real new generation;
    // wait (it holds no line worth the risk) until it grows or rotate_wait passes.
    bool ambiguous = c.fingerprint.empty();
    for (auto& s : streams) {
      if (c.path != s->st.source && prefixMatch(s->st.fingerprint, c.fingerprint) &&
          s->st.fingerprint.size() >= c.fingerprint.size()) {
        ambiguous = true;
      }
    }
    if (!ambiguous) {
      return false;
    }
    auto [it, inserted] = deferred.try_emplace(c.path, now);
    return c.fingerprint.empty() || now - it->second < toNs(options.rotate_wait);
  }

  // --- start-up --------------------------------------------------------------------------------

  void restore(StreamState state, const std::vector<Match>& matches) {
    auto owned = std::make_unique<Stream>();
    Stream* s = owned.get();
    s->st = std::move(state);
    s->pos = s->committed = s->st.offset;
    s->last_seen_ns = s->last_change_ns = monotonicNanos();
    by_id[s->st.id] = s;
    streams.push_back(std::move(owned));
    if (s->st.finished) {
      s->mode = StreamMode::Finished;
      return;
    }
    s->mode = StreamMode::Closing;
    // Where is the file now: among the matches, else at its last path.
    std::vector<Match> where;
    for (const auto& m : matches) {
      if (m.dev == s->st.dev && m.ino == s->st.ino) {
        where.push_back(m);
      }
    }
    struct stat pst {};
    if (where.empty() && ::stat(s->st.path.c_str(), &pst) == 0 &&
        static_cast<std::uint64_t>(pst.st_dev) == s->st.dev &&
        static_cast<std::uint64_t>(pst.st_ino) == s->st.ino) {
      where.push_back(Match{s->st.path, s->st.dev, s->st.ino, 0, 0});
    }
    for (const auto& m : where) {
      auto c = openCandidate(m);
      if (!c.isOk() || c->dev != s->st.dev || c->ino != s->st.ino) {
        continue;
      }
      if (c->size >= s->pos && c->fingerprint.size() >= s->st.fingerprint.size() &&
          prefixMatch(c->fingerprint, s->st.fingerprint)) {
        adopt(s, std::move(c).value());
        return;
      }
    }
    auto copy = findCopy(s->st.fingerprint, s->pos, s->st.dev, s->st.ino, matches);
    if (copy.isOk()) {
      log::info(kLog, "stream " + std::to_string(s->st.id) + " (" + s->st.source +
                          ") continues from its copy " + copy->path);
      adopt(s, std::move(copy).value());
      return;
    }
    log::warn(kLog, "stream " + std::to_string(s->st.id) + " (" + s->st.path +
                        ") is gone or was truncated while the agent was down; lines after offset " +
                        std::to_string(s->pos) + " may be lost");
    maybeFinish(s);
  }

  void adopt(Stream* s, Candidate c) {
    const bool identity_changed =
        c.dev != s->st.dev || c.ino != s->st.ino || c.path != s->st.path ||
        c.fingerprint.size() > s->st.fingerprint.size();
    s->mode = StreamMode::Live;
    s->fd = std::move(c.fd);
    s->st.dev = c.dev;
    s->st.ino = c.ino;
    s->st.path = c.path;
    if (c.fingerprint.size() > s->st.fingerprint.size()) {
      s->st.fingerprint = c.fingerprint;
    }
    s->size = c.size;
    s->mtime_ns = c.mtime_ns;
    s->rotated = c.path != s->st.source;
    ++stats.files_opened;
    if (identity_changed) {
      persist(s);
    }
    order_dirty = true;
  }

  // --- scanning ------------------------------------------------------------------------------

  void scan() {
    const std::int64_t now = monotonicNanos();
    std::vector<Match> matches = listMatches();
    // Known files first, so a truncation's new stream is numbered before later files.
    std::vector<Stream*> live;
    for (auto& s : streams) {
      if (s->mode == StreamMode::Live) {
        live.push_back(s.get());
      }
    }
    for (Stream* s : live) {
      if (s->mode != StreamMode::Live) {
        continue;
      }
      const Match* at = nullptr;
      for (const auto& m : matches) {
        if (m.dev == s->st.dev && m.ino == s->st.ino) {
          at = &m;
          break;
        }
      }
      if (at != nullptr && at->path != s->st.path) {
        s->st.path = at->path;
        persist(s);
      }
      if (!s->rotated && (at == nullptr || at->path != s->st.source)) {
        s->rotated = true;
        ++stats.rotations;
        s->last_change_ns = now;
      }
      s->last_seen_ns = now;
      const std::uint64_t size_before = s->size;
      if (!verify(s, s->pos)) {
        handleTruncation(s, size_before);
      }
    }
    discover(matches, false);
    housekeeping(matches, now);
  }

  void housekeeping(const std::vector<Match>& matches, std::int64_t now) {
    std::vector<StreamId> forget;
    for (auto& s : streams) {
      switch (s->mode) {
        case StreamMode::Live:
          if (s->partial_since_ns != 0 &&
              now - s->partial_since_ns >= toNs(options.partial_line_flush)) {
            s->flush_partial = true;
          }
          if (s->rotated && s->at_eof && s->pos >= s->size &&
              now - s->last_change_ns >= toNs(options.rotate_wait)) {
            log::info(kLog, "done with rotated " + s->st.path + " (stream " +
                                std::to_string(s->st.id) + ")");
            closeStream(s.get());
          }
          break;
        case StreamMode::Closing:
          maybeFinish(s.get());
          break;
        case StreamMode::Finished:
          if (now - s->last_seen_ns >= kForgetAfterNs) {
            forget.push_back(s->st.id);
          }
          break;
      }
    }
    if (!forget.empty()) {
      Status st = store->forget(forget);
      if (st.isOk()) {
        for (StreamId id : forget) {
          by_id.erase(id);
        }
        std::erase_if(streams, [&](const auto& s) {
          return std::find(forget.begin(), forget.end(), s->st.id) != forget.end();
        });
      }
    }
    std::erase_if(deferred, [&](const auto& entry) {
      return std::none_of(matches.begin(), matches.end(),
                          [&](const Match& m) { return m.path == entry.first; });
    });
  }

  // --- reading -------------------------------------------------------------------------------

  bool halted() const { return paused || stopped; }

  /// One bounded read of a stream: up to a chunk (more only to complete an overlong line).
  StepResult readStep(Stream* s, bool has_successor, std::int64_t read_ts, bool* delivered) {
    std::size_t len = 0;
    bool hit_eof = false;
    if (buf == nullptr) {
      // Not zero-filled: only the pages reads reach become resident (a chunk, not the
      // max_line_bytes reserve).
      buf = std::make_unique_for_overwrite<char[]>(buf_cap);
    }
    while (true) {
      const std::size_t want = std::min(options.read_chunk_bytes, buf_cap - len);
      const ssize_t n = ::pread(s->fd.get(), buf.get() + len, want,
                                static_cast<off_t>(s->pos + len));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        warnOnce(s->st.path, "read " + s->st.path + ": " + std::strerror(errno));
        return StepResult::Idle;
      }
      if (n == 0) {
        hit_eof = true;
        break;
      }
      const auto got = static_cast<std::size_t>(n);
      len += got;
      if (got < want) {
        hit_eof = true;
        break;
      }
      if (std::memchr(buf.get() + len - got, '\n', got) != nullptr ||
          len > options.max_line_bytes) {
        break;
      }
    }
    const std::uint64_t size_before = s->size;
    if (!verify(s, s->pos + len)) {
      // What was just read may belong to the rewritten file: drop it, recover from a copy.
      handleTruncation(s, std::max(size_before, s->pos + len));
      return StepResult::Progress;
    }
    if (len == 0) {
      s->at_eof = true;
      return StepResult::Idle;
    }
    // A rotated file whose successor already has data will not see the rest of its last line.
    if (hit_eof && s->rotated && has_successor) {
      s->flush_partial = true;
    }
    const std::size_t used = deliver(s, len, hit_eof, read_ts);
    if (used > 0) {
      *delivered = true;
      s->at_eof = false;
      s->partial_since_ns = 0;
      s->last_change_ns = monotonicNanos();
    }
    if (halted()) {
      return StepResult::Progress;
    }
    if (used == len || !hit_eof) {
      return used > 0 ? StepResult::Progress : StepResult::Idle;
    }
    // An unterminated line waits at EOF.
    s->at_eof = true;
    if (s->partial_since_ns == 0) {
      s->partial_since_ns = monotonicNanos();
    }
    return used > 0 ? StepResult::Progress : StepResult::Idle;
  }

  /// Hands the complete lines in buf[0, len) to the sink; returns the bytes consumed.
  std::size_t deliver(Stream* s, std::size_t len, bool hit_eof, std::int64_t read_ts) {
    const char* data = buf.get();
    const std::size_t max_line = options.max_line_bytes;
    std::size_t p = 0;
    auto emit = [&](std::size_t n, std::size_t skip, bool no_newline) {
      sink->onLine(s->st.id, s->st.source, std::string_view(data + p, n), s->pos + p + n + skip,
                   no_newline, read_ts);
      ++stats.lines;
      stats.bytes += n + skip;
      p += n + skip;
    };
    while (p < len && !halted()) {
      const auto* nl = static_cast<const char*>(std::memchr(data + p, '\n', len - p));
      std::size_t line_len = nl != nullptr ? static_cast<std::size_t>(nl - (data + p)) : len - p;
      if (line_len > max_line) {
        ++stats.long_line_splits;
        emit(max_line, 0, true);
        continue;
      }
      if (nl != nullptr) {
        emit(line_len, 1, false);
      } else if (hit_eof && s->flush_partial) {
        s->flush_partial = false;
        emit(line_len, 0, true);
      } else {
        break;
      }
    }
    s->pos += p;
    return p;
  }

  /// One round over the live streams. Within a source only the oldest stream with data is read,
  /// so a rotated file is drained before its successor.
  bool readRound() {
    if (halted()) {
      return false;
    }
    if (order_dirty) {
      rebuildOrder();
    }
    const std::vector<Stream*> snapshot = order;  // discovery may add streams meanwhile
    const std::int64_t read_ts = nowUnixNanos();
    bool progress = false;
    bool delivered = false;
    const std::string* group = nullptr;
    bool blocked = false;
    for (std::size_t i = 0; i < snapshot.size(); ++i) {
      Stream* s = snapshot[i];
      if (group == nullptr || *group != s->st.source) {
        group = &s->st.source;
        blocked = false;
      }
      if (blocked || s->mode != StreamMode::Live) {
        continue;
      }
      const bool has_successor = i + 1 < snapshot.size() && snapshot[i + 1]->st.source == s->st.source;
      if (readStep(s, has_successor, read_ts, &delivered) == StepResult::Progress) {
        progress = true;
        blocked = true;
      }
      if (halted()) {
        break;
      }
    }
    if (delivered) {
      sink->onReadPassDone();
    }
    return progress && !halted();
  }

  void startReading() {
    if (halted() || idle == nullptr || idle_active) {
      return;
    }
    idle_active = true;
    uv_idle_start(idle, [](uv_idle_t* h) noexcept {
      auto* self = static_cast<Impl*>(h->data);
      if (!self->readRound()) {
        self->idle_active = false;
        uv_idle_stop(h);
      }
    });
  }

  void stopReading() {
    if (idle != nullptr && idle_active) {
      uv_idle_stop(idle);
    }
    idle_active = false;
  }
};

Tailer::Tailer(uv_loop_t* loop, TailerOptions options, OffsetStore* store, LineSink* sink)
    : impl_(std::make_unique<Impl>(loop, std::move(options), store, sink)) {}

Tailer::~Tailer() { stop(); }

Status Tailer::start() {
  Impl& d = *impl_;
  if (d.started) {
    return {Errc::FailedPrecondition, "tailer already started"};
  }
  const TailerOptions& o = d.options;
  if (o.globs.empty()) {
    return invalidArgument("tail: no file globs configured");
  }
  if (o.read_chunk_bytes == 0 || o.max_line_bytes == 0 || o.scan_interval.count() <= 0) {
    return invalidArgument("tail: read_chunk_bytes, max_line_bytes and scan_interval must be > 0");
  }
  if (d.store == nullptr || d.sink == nullptr || d.loop == nullptr) {
    return invalidArgument("tail: loop, store and sink are required");
  }
  FL_ASSIGN_OR_RETURN(auto loaded, d.store->loadStreams());
  FL_ASSIGN_OR_RETURN(std::uint64_t seq, d.store->checkpointSeq());
  d.first_run = loaded.empty() && seq == 0;
  d.buf_cap = o.max_line_bytes + o.read_chunk_bytes;

  const std::vector<Match> matches = d.listMatches();
  for (auto& state : loaded) {
    d.restore(std::move(state), matches);
  }
  d.discover(matches, true);
  d.started = true;

  d.timer = new uv_timer_t;
  uv_timer_init(d.loop, d.timer);
  d.timer->data = &d;
  d.idle = new uv_idle_t;
  uv_idle_init(d.loop, d.idle);
  d.idle->data = &d;
  const auto interval = static_cast<std::uint64_t>(o.scan_interval.count());
  uv_timer_start(
      d.timer,
      [](uv_timer_t* h) noexcept {
        auto* self = static_cast<Impl*>(h->data);
        self->scan();
        self->startReading();
      },
      interval, interval);
  d.startReading();
  return Status::ok();
}

void Tailer::setGlobs(std::vector<std::string> globs) {
  impl_->options.globs = std::move(globs);
}

void Tailer::releaseIdleMemory() {
  // Nothing survives in the buffer between two reads: each read step starts at offset 0.
  impl_->buf.reset();
}

void Tailer::pause() {
  impl_->paused = true;
  impl_->stopReading();
}

void Tailer::resume() {
  impl_->paused = false;
  impl_->startReading();
}

bool Tailer::paused() const { return impl_->paused; }

void Tailer::markCommitted(const std::vector<OffsetCheckpoint>& offsets) {
  for (const auto& c : offsets) {
    auto it = impl_->by_id.find(c.stream);
    if (it == impl_->by_id.end()) {
      continue;
    }
    Impl::Stream* s = it->second;
    s->committed = std::max(s->committed, c.offset);
    impl_->maybeFinish(s);
  }
}

void Tailer::stop() {
  Impl& d = *impl_;
  if (d.stopped) {
    return;
  }
  d.stopped = true;
  d.stopReading();
  if (d.timer != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(d.timer),
             [](uv_handle_t* h) noexcept { delete reinterpret_cast<uv_timer_t*>(h); });
    d.timer = nullptr;
  }
  if (d.idle != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(d.idle),
             [](uv_handle_t* h) noexcept { delete reinterpret_cast<uv_idle_t*>(h); });
    d.idle = nullptr;
  }
  for (auto& s : d.streams) {
    s->fd.reset();
  }
}

std::vector<FileStatus> Tailer::fileStatus() const {
  std::vector<FileStatus> out;
  for (const auto& s : impl_->streams) {
    if (s->mode == StreamMode::Finished) {
      continue;
    }
    out.push_back(FileStatus{s->st.id, s->st.source, s->st.path, s->size, s->pos, s->committed,
                             s->rotated});
  }
  return out;
}

TailerStats Tailer::stats() const { return impl_->stats; }

}  // namespace faultline::agent::tail
