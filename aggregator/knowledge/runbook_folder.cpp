#include "aggregator/knowledge/runbook_folder.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "aggregator/config/tenant_entries.h"
#include "aggregator/knowledge/knowledge.h"
#include "shared/util/crypto.h"
#include "shared/util/fs.h"
#include "shared/util/log.h"
#include "shared/util/time.h"

namespace faultline::aggregator::knowledge {
namespace {

namespace stdfs = std::filesystem;

/// "a, b" or "[a, b]" (quotes around names dropped).
std::vector<std::string> serviceList(std::string_view value) {
  std::string text = config::trimmedSpaces(value);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t comma = text.find(',', at);
    std::string name = config::trimmedSpaces(std::string_view(text).substr(
        at, comma == std::string::npos ? std::string::npos : comma - at));
    if (name.size() >= 2 && (name.front() == '"' || name.front() == '\'') &&
        name.back() == name.front()) {
      name = name.substr(1, name.size() - 2);
    }
    if (!name.empty() && name.size() <= 256 && out.size() < 64 &&
        std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(validUtf8(name));
    }
    if (comma == std::string::npos) {
      break;
    }
    at = comma + 1;
  }
  return out;
}

/// Where a file's fault is reported: its path relative to the folder.
std::string relativeName(const stdfs::path& file, const stdfs::path& root) {
  std::error_code ec;
  stdfs::path relative = stdfs::relative(file, root, ec);
  return ec ? file.filename().generic_string() : relative.generic_string();
}

}  // namespace

Result<std::vector<RunbookFolder>> parseRunbookFolders(const std::vector<std::string>& entries) {
  FL_ASSIGN_OR_RETURN(std::vector<config::TenantEntry> parsed,
                      config::parseTenantEntries("ai.runbook_folders", entries, "'tenant: /path'"));
  std::vector<RunbookFolder> out;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    if (parsed[i].value.empty()) {
      return invalidArgument("ai.runbook_folders: '" + entries[i] + "': no path");
    }
    out.push_back({std::move(parsed[i].tenant), std::move(parsed[i].value)});
  }
  return out;
}

bool isFolderRunbookId(std::string_view id) {
  return id.substr(0, kFolderRunbookPrefix.size()) == kFolderRunbookPrefix;
}

std::string folderRunbookId(std::string_view relative_path) {
  std::string_view stem = relative_path;
  if (stem.size() > 3 && stem.substr(stem.size() - 3) == ".md") {
    stem.remove_suffix(3);
  }
  std::string slug;
  for (char c : stem) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool keep = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9');
    if (keep) {
      slug.push_back(lower);
    } else if (!slug.empty() && slug.back() != '-') {
      slug.push_back('-');
    }
  }
  while (!slug.empty() && slug.back() == '-') {
    slug.pop_back();
  }
  // Ids are at most 64 bytes: a long path keeps its start and a hash of the whole path, so
  // two long paths with the same start still differ.
  constexpr std::size_t kRoom = 64 - kFolderRunbookPrefix.size();
  if (slug.empty() || slug.size() > kRoom) {
    std::string hash = crypto::hashSecret(relative_path).substr(0, 12);
    slug = slug.substr(0, kRoom - hash.size() - 1);
    while (!slug.empty() && slug.back() == '-') {
      slug.pop_back();
    }
    slug = slug.empty() ? hash : slug + "-" + hash;
  }
  return std::string(kFolderRunbookPrefix) + slug;
}

RunbookFile parseRunbookFile(std::string_view text, std::string_view fallback_title) {
  RunbookFile file;
  std::string_view body = text;
  if (text.substr(0, 4) == "---\n" || text.substr(0, 5) == "---\r\n") {
    std::size_t start = text.find('\n') + 1;
    std::size_t at = start;
    while (at < text.size()) {
      std::size_t end = text.find('\n', at);
      std::string_view line =
          text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
      if (config::trimmedSpaces(line) == "---") {
        // The block is front matter only when it closes.
        for (std::size_t from = start; from < at;) {
          std::size_t stop = text.find('\n', from);
          std::string_view entry = text.substr(from, stop - from);
          std::size_t colon = entry.find(':');
          if (colon != std::string_view::npos) {
            std::string key = config::trimmedSpaces(entry.substr(0, colon));
            std::string value = config::trimmedSpaces(entry.substr(colon + 1));
            if (key == "title" && !value.empty()) {
              if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
                  value.back() == value.front()) {
                value = value.substr(1, value.size() - 2);
              }
              file.title = value;
            } else if (key == "services") {
              file.services = serviceList(value);
            }
          }
          from = stop + 1;
        }
        body = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        break;
      }
      if (end == std::string_view::npos) {
        break;
      }
      at = end + 1;
    }
  }
  file.markdown = validUtf8(body);
  if (file.title.empty()) {
    std::size_t at = 0;
    bool in_code = false;
    while (at < file.markdown.size()) {
      std::size_t end = file.markdown.find('\n', at);
      std::string_view line = std::string_view(file.markdown).substr(at, end - at);
      if (line.substr(0, 3) == "```" || line.substr(0, 3) == "~~~") {
        in_code = !in_code;
      } else if (!in_code && line.substr(0, 2) == "# ") {
        file.title = config::trimmedSpaces(line.substr(2));
        break;
      }
      if (end == std::string::npos) {
        break;
      }
      at = end + 1;
    }
  }
  if (file.title.empty()) {
    file.title = std::string(fallback_title);
  }
  file.title = validUtf8(file.title.substr(0, 512));
  return file;
}

Result<FolderSyncReport> syncRunbookFolder(store::Store& store, audit::AuditRecorder& audit,
                                           std::string_view tenant_id, const std::string& folder,
                                           std::string_view actor, std::int64_t now_ns,
                                           KnowledgeEmbeddings* embeddings) {
  const stdfs::path root(folder);
  std::error_code ec;
  if (!stdfs::is_directory(root, ec)) {
    return Status(Errc::NotFound, folder + ": not a readable folder" +
                                      (ec ? " (" + ec.message() + ")" : std::string()));
  }
  // List first, completely: a folder that cannot be read to the end removes nothing.
  std::vector<stdfs::path> files;
  stdfs::recursive_directory_iterator it(root, stdfs::directory_options::none, ec);
  for (; !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    const stdfs::path& path = it->path();
    std::string name = path.filename().string();
    if (!name.empty() && name.front() == '.') {
      if (it->is_directory(ec)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (path.extension() == ".md" && it->is_regular_file(ec)) {
      files.push_back(path);
      if (files.size() > kMaxFolderRunbooks) {
        return invalidArgument(folder + ": more than " + std::to_string(kMaxFolderRunbooks) +
                               " Markdown files");
      }
    }
  }
  if (ec) {
    return Status(Errc::Unavailable, folder + ": cannot be listed (" + ec.message() + ")");
  }
  std::sort(files.begin(), files.end());

  FolderSyncReport report;
  report.files = files.size();
  std::map<std::string, std::string> path_of_id;  // the ids this pass keeps
  for (const stdfs::path& path : files) {
    const std::string relative = relativeName(path, root);
    const std::string id = folderRunbookId(relative);
    if (auto taken = path_of_id.find(id); taken != path_of_id.end()) {
      report.failures.push_back(relative + ": its id " + id + " is already " + taken->second +
                                "'s (rename one of them)");
      continue;
    }
    path_of_id[id] = relative;  // kept even if unusable below: its last version stays
    auto text = fs::readFile(path.string(), kMaxRunbookBytes);
    if (!text) {
      report.failures.push_back(relative + ": " + text.status().message());
      continue;
    }
    RunbookFile file = parseRunbookFile(*text, path.stem().string());
    store::KnowledgeDocument document =
        runbookDocument(tenant_id, id, file.title, file.markdown, file.services, now_ns);
    if (document.passages.size() > store::kMaxKnowledgePassages) {
      report.failures.push_back(relative + ": too many sections");
      continue;
    }
    auto stored = store.findKnowledgeDocument(tenant_id, "runbook", id);
    if (stored.isOk() && stored->body == document.body && stored->title == document.title &&
        stored->services == document.services) {
      ++report.unchanged;
      continue;
    }
    if (!stored.isOk() && stored.status().code() != Errc::NotFound) {
      return stored.status();
    }
    if (embeddings != nullptr) {
      embeddings->embedDocument(&document);  // a failure leaves BM25 only, never refuses
    }
    FL_RETURN_IF_ERROR(store.putKnowledgeDocument(document));
    ++(stored.isOk() ? report.updated : report.added);
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::KnowledgeSummary> listed,
                      store.listKnowledgeDocuments(tenant_id, "runbook", 1'000'000));
  for (const store::KnowledgeSummary& runbook : listed) {
    if (isFolderRunbookId(runbook.id) && path_of_id.count(runbook.id) == 0) {
      Status deleted = store.deleteKnowledgeDocument(tenant_id, "runbook", runbook.id);
      if (!deleted.isOk() && deleted.code() != Errc::NotFound) {
        return deleted;
      }
      ++report.removed;
    }
  }
  if (report.changed()) {
    audit::AuditEvent event;
    event.tenant_id = std::string(tenant_id);
    event.actor = std::string(actor);
    event.action = "runbook.sync";
    event.target = "runbook-folder";
    event.detail_json =
        nlohmann::json{{"folder", folder},          {"files", report.files},
                       {"added", report.added},     {"updated", report.updated},
                       {"removed", report.removed}, {"failed", report.failures.size()}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    event.at_ns = now_ns;
    FL_RETURN_IF_ERROR(audit.record(event).withContext("runbooks were synced but not audited"));
  }
  return report;
}

RunbookFolderSyncer::RunbookFolderSyncer(store::Store& store, audit::AuditRecorder& audit,
                                         std::vector<RunbookFolder> folders,
                                         std::chrono::nanoseconds interval,
                                         std::shared_ptr<KnowledgeEmbeddings> embeddings)
    : store_(store),
      audit_(audit),
      folders_(std::move(folders)),
      interval_(interval),
      embeddings_(std::move(embeddings)) {}

RunbookFolderSyncer::~RunbookFolderSyncer() {
  stop();
}

void RunbookFolderSyncer::start() {
  if (folders_.empty() || thread_.joinable()) {
    return;
  }
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      syncAll();
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
  });
}

void RunbookFolderSyncer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void RunbookFolderSyncer::syncAll() {
  for (const RunbookFolder& folder : folders_) {
    auto tenant = store_.findTenantByName(folder.tenant);
    if (!tenant) {
      folder_failures_.fetch_add(1, std::memory_order_relaxed);
      log::warn("runbooks", "folder " + folder.path + ": tenant " + folder.tenant + ": " +
                                tenant.status().message());
      continue;
    }
    auto report =
        syncRunbookFolder(store_, audit_, tenant->id, folder.path, "runbook-sync", nowUnixNanos());
    if (!report) {
      folder_failures_.fetch_add(1, std::memory_order_relaxed);
      log::warn("runbooks", "tenant " + folder.tenant + ": " + report.status().message());
      continue;
    }
    file_failures_.fetch_add(report->failures.size(), std::memory_order_relaxed);
    changes_.fetch_add(report->added + report->updated + report->removed,
                       std::memory_order_relaxed);
    for (const std::string& failure : report->failures) {
      log::warn("runbooks", "tenant " + folder.tenant + ": " + folder.path + "/" + failure);
    }
    if (report->changed()) {
      log::info("runbooks", "tenant " + folder.tenant + ": " + folder.path + ": " +
                                std::to_string(report->added) + " added, " +
                                std::to_string(report->updated) + " updated, " +
                                std::to_string(report->removed) + " removed");
    }
  }
  passes_.fetch_add(1, std::memory_order_relaxed);
}

RunbookFolderSyncer::Stats RunbookFolderSyncer::stats() const {
  Stats stats;
  stats.passes = passes_.load(std::memory_order_relaxed);
  stats.changes = changes_.load(std::memory_order_relaxed);
  stats.folder_failures = folder_failures_.load(std::memory_order_relaxed);
  stats.file_failures = file_failures_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace faultline::aggregator::knowledge
