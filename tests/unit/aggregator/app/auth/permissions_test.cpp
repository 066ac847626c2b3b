// The permission matrix in code and in docs/permissions.md must be the same table.
#include "aggregator/auth/permissions.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "aggregator/auth/principal.h"

using namespace faultline::aggregator::auth;

namespace {
std::string trim(const std::string& text) {
  std::size_t begin = text.find_first_not_of(" \t`");
  std::size_t end = text.find_last_not_of(" \t`");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream stream(line);
  std::string cell;
  std::getline(stream, cell, '|');  // before the first '|'
  while (std::getline(stream, cell, '|')) {
    out.push_back(trim(cell));
  }
  if (!out.empty() && out.back().empty()) {
    out.pop_back();
  }
  return out;
}

/// The first table of the file whose header starts with "Permission": name → column → yes/no.
std::map<std::string, std::map<std::string, std::string>> docMatrix(
    std::vector<std::string>* columns) {
  std::ifstream file(FAULTLINE_SOURCE_DIR "/docs/permissions.md");
  REQUIRE_MESSAGE(file.good(), "cannot read docs/permissions.md");
  std::map<std::string, std::map<std::string, std::string>> matrix;
  std::string line;
  bool in_table = false;
  while (std::getline(file, line)) {
    if (line.rfind('|', 0) != 0) {
      if (in_table) {
        break;
      }
      continue;
    }
    std::vector<std::string> row = cells(line);
    if (!in_table) {
      if (!row.empty() && row[0] == "Permission") {
        in_table = true;
        columns->assign(row.begin() + 1, row.end());
      }
      continue;
    }
    if (row.empty() || row[0].find("---") != std::string::npos) {
      continue;
    }
    REQUIRE_MESSAGE(row.size() == columns->size() + 1, "bad row: " << line);
    for (std::size_t i = 0; i < columns->size(); ++i) {
      matrix[row[0]][(*columns)[i]] = row[i + 1];
    }
  }
  return matrix;
}
}  // namespace

TEST_CASE("permissions: docs/permissions.md shows exactly the code's matrix") {
  std::vector<std::string> columns;
  auto doc = docMatrix(&columns);
  const std::vector<Column> kColumns = {Column::Owner,  Column::Admin, Column::Responder,
                                        Column::Viewer, Column::Agent, Column::Integration};
  REQUIRE(columns.size() == kColumns.size());
  for (std::size_t i = 0; i < kColumns.size(); ++i) {
    CHECK(columns[i] == columnName(kColumns[i]));
  }
  CHECK(doc.size() == allPermissions().size());
  for (Permission permission : allPermissions()) {
    const std::string name(permissionName(permission));
    INFO(name);
    REQUIRE_MESSAGE(doc.count(name) == 1, "docs/permissions.md has no row " << name);
    for (Column column : kColumns) {
      const std::string cell = doc[name][std::string(columnName(column))];
      INFO(columnName(column));
      REQUIRE((cell == "yes" || cell == "no"));
      CHECK((cell == "yes") == allowed(column, permission));
    }
  }
}

TEST_CASE("permissions: roles are ordered and each role holds what the roles below hold") {
  CHECK(parseRole("owner") == Role::Owner);
  CHECK(parseRole("viewer") == Role::Viewer);
  CHECK_FALSE(parseRole("root").has_value());
  CHECK_FALSE(parseRole("Owner").has_value());
  CHECK(roleAtLeast(Role::Owner, Role::Admin));
  CHECK(roleAtLeast(Role::Admin, Role::Admin));
  CHECK_FALSE(roleAtLeast(Role::Responder, Role::Admin));
  const Column ladder[] = {Column::Owner, Column::Admin, Column::Responder, Column::Viewer};
  for (Permission permission : allPermissions()) {
    for (std::size_t higher = 0; higher + 1 < std::size(ladder); ++higher) {
      if (allowed(ladder[higher + 1], permission)) {
        CHECK_MESSAGE(allowed(ladder[higher], permission), permissionName(permission));
      }
    }
  }
}

TEST_CASE("permissions: agents and integrations hold only their narrow rights") {
  for (Permission permission : allPermissions()) {
    INFO(permissionName(permission));
    const bool agent_right =
        permission == Permission::IngestBatches || permission == Permission::SendHeartbeat;
    CHECK(allowed(Column::Agent, permission) == agent_right);
    CHECK(allowed(Column::Integration, permission) == (permission == Permission::PostEvents));
  }
  Principal agent;
  agent.kind = PrincipalKind::Agent;
  agent.role = Role::Owner;  // ignored: agents have no tenant role
  CHECK_FALSE(agent.can(Permission::ListMembers));
  CHECK(agent.can(Permission::IngestBatches));
  Principal key;
  key.kind = PrincipalKind::ApiKey;
  key.role = Role::Viewer;
  CHECK(key.can(Permission::ListMembers));
  CHECK_FALSE(key.can(Permission::CreateApiKey));
}
