#pragma once

// Runbooks synced from a folder (issue 8: "Markdown uploaded through the API or synced from a
// folder"). A team keeps its runbooks as Markdown in git and checks them out on the aggregator's
// host; `ai.runbook_folders` names a folder per tenant and the server re-reads it every
// `ai.runbook_sync_interval`, or `faultline-aggregator admin runbooks sync` does it once.
//
// Every regular *.md file under the folder (subfolders too; hidden ones skipped) is one
// runbook, id "folder-" + the slug of its path ("db/Disk Full.md" -> "folder-db-disk-full").
// Its title is the front matter's `title:`, else its first "# " heading, else its file name;
// its services the front matter's `services:` ("a, b" or "[a, b]"). Front matter is an
// optional block between "---" lines at the very top.
//
// A pass writes only what changed, and removes the tenant's "folder-" runbooks whose file is
// gone. A folder that cannot be read removes nothing (an unmounted disk must not wipe the
// knowledge base); a file that cannot be used (too large, unreadable, its id taken by another
// file) is reported and keeps its last stored version. The "folder-" ids belong to the sync:
// the API refuses to write or delete them.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "aggregator/audit/audit_event.h"
#include "aggregator/knowledge/embeddings.h"
#include "aggregator/store/store.h"

namespace faultline::aggregator::knowledge {

inline constexpr std::string_view kFolderRunbookPrefix = "folder-";
/// Markdown files one folder may hold at most (more: the pass refuses the folder).
inline constexpr std::size_t kMaxFolderRunbooks = 2000;

/// One `ai.runbook_folders` entry: "tenant: /path" (the tenant's name).
struct RunbookFolder {
  std::string tenant;
  std::string path;
};

/// Parses the entries (config::parseTenantEntries, as ai.tenant_policy). InvalidArgument
/// (naming ai.runbook_folders and the entry) for a missing colon, an empty tenant or path, a
/// tenant listed twice.
Result<std::vector<RunbookFolder>> parseRunbookFolders(const std::vector<std::string>& entries);

/// Whether a runbook id is kept by the folder sync.
bool isFolderRunbookId(std::string_view id);

/// The runbook id of a file's path relative to the folder ("db/Disk Full.md").
std::string folderRunbookId(std::string_view relative_path);

/// What a Markdown file says about itself.
struct RunbookFile {
  std::string title;
  std::vector<std::string> services;
  std::string markdown;  // without the front matter
};
/// `fallback_title` is used when neither front matter nor a "# " heading gives one.
RunbookFile parseRunbookFile(std::string_view text, std::string_view fallback_title);

struct FolderSyncReport {
  std::size_t files = 0;  // Markdown files found
  std::size_t added = 0;
  std::size_t updated = 0;
  std::size_t unchanged = 0;
  std::size_t removed = 0;
  std::vector<std::string> failures;  // "relative/path.md: why", sorted by path

  bool changed() const { return added + updated + removed > 0; }
};

/// One pass over `folder` for the tenant (its id). The pass is audited (action
/// "runbook.sync", with the counts) when it changed something. Fails (nothing removed) when the
/// folder cannot be listed or holds more than kMaxFolderRunbooks files. With `embeddings`, each
/// runbook written gets its passages' vectors (an embedding failure leaves it BM25 only).
Result<FolderSyncReport> syncRunbookFolder(store::Store& store, audit::AuditRecorder& audit,
                                           std::string_view tenant_id, const std::string& folder,
                                           std::string_view actor, std::int64_t now_ns,
                                           KnowledgeEmbeddings* embeddings = nullptr);

/// The server's folders, read on start and every interval on a thread of its own (file reads
/// and index writes never run on a request's thread). Failures are logged and counted; the
/// next pass tries again.
class RunbookFolderSyncer {
 public:
  /// `embeddings` may be null (BM25 only).
  RunbookFolderSyncer(store::Store& store, audit::AuditRecorder& audit,
                      std::vector<RunbookFolder> folders, std::chrono::nanoseconds interval,
                      std::shared_ptr<KnowledgeEmbeddings> embeddings = nullptr);
  ~RunbookFolderSyncer();
  RunbookFolderSyncer(const RunbookFolderSyncer&) = delete;
  RunbookFolderSyncer& operator=(const RunbookFolderSyncer&) = delete;

  /// Starts the thread (its first pass at once). Nothing when there are no folders.
  void start();
  /// Stops the thread after the pass in progress.
  void stop();
  /// One pass over every folder, on the caller's thread.
  void syncAll();

  struct Stats {
    std::uint64_t passes = 0;           // passes over all folders
    std::uint64_t changes = 0;          // runbooks added, updated or removed
    std::uint64_t folder_failures = 0;  // a folder not synced: unreadable, unknown tenant, store
    std::uint64_t file_failures = 0;    // files skipped (too large, unreadable, id taken)
  };
  Stats stats() const;

 private:
  store::Store& store_;
  audit::AuditRecorder& audit_;
  const std::vector<RunbookFolder> folders_;
  const std::chrono::nanoseconds interval_;
  const std::shared_ptr<KnowledgeEmbeddings> embeddings_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> passes_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::uint64_t> folder_failures_{0};
  std::atomic<std::uint64_t> file_failures_{0};
};

}  // namespace faultline::aggregator::knowledge
