// Runbooks synced from a folder (knowledge/runbook_folder.h) on every engine: real files in a
// temporary folder, a real store. Added, updated, unchanged and removed files; front matter and
// titles; a file too large or an id taken by another file keeps the last version; an unreadable
// folder removes nothing; another tenant's runbooks (synced or not) are never touched.
#include "aggregator/knowledge/runbook_folder.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "aggregator/audit/store_audit_recorder.h"
#include "aggregator/knowledge/knowledge.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::vector<std::string> runbookIds(store::Store& store, const std::string& tenant_id) {
  auto listed = store.listKnowledgeDocuments(tenant_id, "runbook", 100);
  REQUIRE(listed.isOk());
  std::vector<std::string> ids;
  for (const auto& summary : *listed) {
    ids.push_back(summary.id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> searchIds(store::Store& store, const std::string& tenant_id,
                                   const std::string& text) {
  store::KnowledgeQuery query;
  query.terms = knowledge::queryTerms(text);
  auto hits = store.searchKnowledge(tenant_id, query);
  REQUIRE(hits.isOk());
  std::vector<std::string> ids;
  for (const auto& hit : *hits) {
    ids.push_back(hit.id);
  }
  return ids;
}

std::size_t syncAudits(store::Store& store, const std::string& tenant_id) {
  store::AuditQuery query;
  query.action = "runbook.sync";
  auto page = store.queryAudit(tenant_id, query);
  REQUIRE(page.isOk());
  return page->entries.size();
}

}  // namespace

TEST_CASE("runbook folder: ids, titles and front matter") {
  CHECK(knowledge::folderRunbookId("db/Disk Full.md") == "folder-db-disk-full");
  CHECK(knowledge::folderRunbookId("payments.md") == "folder-payments");
  CHECK(knowledge::folderRunbookId("__.md").rfind("folder-", 0) == 0);
  std::string long_a = knowledge::folderRunbookId(std::string(100, 'a') + "/x.md");
  std::string long_b = knowledge::folderRunbookId(std::string(100, 'a') + "/y.md");
  CHECK(long_a.size() <= 64);
  CHECK(long_a != long_b);
  CHECK(knowledge::isFolderRunbookId("folder-x"));
  CHECK_FALSE(knowledge::isFolderRunbookId("rbk_folder-x"));

  auto file = knowledge::parseRunbookFile(
      "---\ntitle: \"Disk full on db\"\nservices: [db, 'ledger']\n---\n# Other\nprune\n", "x");
  CHECK(file.title == "Disk full on db");
  CHECK(file.services == std::vector<std::string>{"db", "ledger"});
  CHECK(file.markdown == "# Other\nprune\n");
  auto headed = knowledge::parseRunbookFile("```\n# not a title\n```\n# Card declines\n", "x");
  CHECK(headed.title == "Card declines");
  CHECK(knowledge::parseRunbookFile("no heading\n", "fallback").title == "fallback");
  // An unclosed block is not front matter: the text stays.
  auto open = knowledge::parseRunbookFile("---\ntitle: t\n", "f");
  CHECK(open.title == "f");
  CHECK(open.markdown == "---\ntitle: t\n");

  auto folders = knowledge::parseRunbookFolders({"acme: /srv/rb", " globex :/x "});
  REQUIRE(folders.isOk());
  CHECK((*folders)[1].tenant == "globex");
  CHECK((*folders)[1].path == "/x");
  CHECK_FALSE(knowledge::parseRunbookFolders({"acme /srv"}).isOk());
  CHECK_FALSE(knowledge::parseRunbookFolders({": /srv"}).isOk());
  CHECK_FALSE(knowledge::parseRunbookFolders({"acme: /a", "acme: /b"}).isOk());
}

TEST_CASE_TEMPLATE("runbook folder: a pass adds, updates, keeps and removes; tenants apart",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  audit::StoreAuditRecorder audit(*store);
  auto acme = store->createTenant("acme", nowUnixNanos());
  auto other = store->createTenant("other", nowUnixNanos());
  REQUIRE(acme.isOk());
  REQUIRE(other.isOk());
  faultline::testing::TempDir dir;
  const std::filesystem::path root = dir.file("runbooks");
  writeFile(root / "db" / "Disk Full.md",
            "---\nservices: db\n---\n# Disk full\n## Prune\nprune the wombat snapshots\n");
  writeFile(root / "payments.md", "# Card declines\nroll back the gateway\n");
  writeFile(root / ".git" / "notes.md", "# hidden\n");
  writeFile(root / "README.txt", "not markdown\n");
  // The other tenant's own runbooks, one with a folder id of the same name.
  REQUIRE(store
              ->putKnowledgeDocument(knowledge::runbookDocument(
                  other->id, "folder-payments", "Theirs", "# Theirs\nwombat\n", {}, 1))
              .isOk());

  auto first = knowledge::syncRunbookFolder(*store, audit, acme->id, root.string(), "test", 10);
  REQUIRE_MESSAGE(first.isOk(), first.status().toString());
  CHECK(first->files == 2);
  CHECK(first->added == 2);
  CHECK(first->failures.empty());
  CHECK(runbookIds(*store, acme->id) ==
        std::vector<std::string>{"folder-db-disk-full", "folder-payments"});
  auto disk = store->findKnowledgeDocument(acme->id, "runbook", "folder-db-disk-full");
  REQUIRE(disk.isOk());
  CHECK(disk->title == "Disk full");
  CHECK(disk->services == std::vector<std::string>{"db"});
  CHECK(searchIds(*store, acme->id, "wombat") == std::vector<std::string>{"folder-db-disk-full"});

  // Nothing changed: nothing written, nothing audited.
  CHECK(syncAudits(*store, acme->id) == 1);
  auto again = knowledge::syncRunbookFolder(*store, audit, acme->id, root.string(), "test", 20);
  REQUIRE(again.isOk());
  CHECK(again->unchanged == 2);
  CHECK_FALSE(again->changed());
  CHECK(syncAudits(*store, acme->id) == 1);

  // An edit, a removal, a file too large (keeps its last version), two files with one id.
  writeFile(root / "payments.md", "# Card declines\nfail over to the quokka gateway\n");
  std::filesystem::remove(root / "db" / "Disk Full.md");
  writeFile(root / "big.md", "# Big\n" + std::string(knowledge::kMaxRunbookBytes + 1, 'x'));
  writeFile(root / "db-disk-full.md", "# Disk, flat\nsame id as db/Disk Full.md was\n");
  writeFile(root / "db_disk_full.md", "# Twin\n");
  auto third = knowledge::syncRunbookFolder(*store, audit, acme->id, root.string(), "test", 30);
  REQUIRE(third.isOk());
  // payments.md changed; db-disk-full.md takes the id the removed file had: an update too.
  CHECK(third->updated == 2);
  CHECK(third->added == 0);
  CHECK(third->removed == 0);
  REQUIRE(third->failures.size() == 2);
  CHECK(third->failures[0].find("big.md") == 0);
  CHECK(third->failures[1].find("db_disk_full.md") == 0);
  CHECK(runbookIds(*store, acme->id) ==
        std::vector<std::string>{"folder-db-disk-full", "folder-payments"});
  CHECK(searchIds(*store, acme->id, "quokka") == std::vector<std::string>{"folder-payments"});
  CHECK(searchIds(*store, acme->id, "wombat").empty());

  std::filesystem::remove(root / "db-disk-full.md");
  std::filesystem::remove(root / "db_disk_full.md");
  auto fourth = knowledge::syncRunbookFolder(*store, audit, acme->id, root.string(), "test", 40);
  REQUIRE(fourth.isOk());
  CHECK(fourth->removed == 1);
  CHECK(runbookIds(*store, acme->id) == std::vector<std::string>{"folder-payments"});

  // A folder that is gone removes nothing.
  auto missing =
      knowledge::syncRunbookFolder(*store, audit, acme->id, (root / "nosuch").string(), "test", 50);
  CHECK_FALSE(missing.isOk());
  CHECK(runbookIds(*store, acme->id) == std::vector<std::string>{"folder-payments"});

  // The other tenant's runbook with the same id is its own, untouched.
  auto theirs = store->findKnowledgeDocument(other->id, "runbook", "folder-payments");
  REQUIRE(theirs.isOk());
  CHECK(theirs->title == "Theirs");
  CHECK(searchIds(*store, other->id, "quokka").empty());
  CHECK(syncAudits(*store, acme->id) == 3);
  CHECK(syncAudits(*store, other->id) == 0);
}
