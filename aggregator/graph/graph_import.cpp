#include "aggregator/graph/graph_import.h"

#include <toml++/toml.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace faultline::aggregator::graph {
namespace {

using nlohmann::json;

constexpr std::string_view kServiceKeys[] = {"name", "owner",  "environment",
                                             "tier", "labels", "depends_on"};

bool knownServiceKey(std::string_view key) {
  for (std::string_view known : kServiceKeys) {
    if (key == known) {
      return true;
    }
  }
  return false;
}

Status atPath(const std::string& path, std::string_view what) {
  return invalidArgument(path + ": " + std::string(what));
}

/// Checks what the store will check, with the path in the message; and duplicates.
Status finish(std::vector<store::ServiceDeclaration>& services) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < services.size(); ++i) {
    const std::string path = "services[" + std::to_string(i) + "]";
    Status valid = store::checkServiceDeclaration(services[i]);
    if (!valid.isOk()) {
      return atPath(path, valid.message());
    }
    if (!names.insert(services[i].service.name).second) {
      return atPath(path + ".name", "'" + services[i].service.name + "' is declared twice");
    }
  }
  return Status::ok();
}

// --- JSON

Result<std::string> jsonString(const json& value, const std::string& path) {
  if (!value.is_string()) {
    return atPath(path, "expected a string");
  }
  return value.get<std::string>();
}

/// One service object; `prefix` ("services[2]." or "") starts every path it reports.
Result<store::ServiceDeclaration> parseJsonEntry(const json& entry, const std::string& prefix) {
  store::ServiceDeclaration declaration;
  for (const auto& [key, value] : entry.items()) {
    const std::string at = prefix + key;
    if (!knownServiceKey(key)) {
      return atPath(at, "unknown key");
    }
    if (key == "labels") {
      if (!value.is_object()) {
        return atPath(at, "expected an object of strings");
      }
      for (const auto& [label, label_value] : value.items()) {
        FL_ASSIGN_OR_RETURN(std::string text_value, jsonString(label_value, at + "." + label));
        declaration.service.labels.insert_or_assign(label, std::move(text_value));
      }
    } else if (key == "depends_on") {
      if (!value.is_array()) {
        return atPath(at, "expected an array of service names");
      }
      for (std::size_t j = 0; j < value.size(); ++j) {
        FL_ASSIGN_OR_RETURN(std::string callee,
                            jsonString(value[j], at + "[" + std::to_string(j) + "]"));
        declaration.depends_on.push_back(std::move(callee));
      }
    } else {
      FL_ASSIGN_OR_RETURN(std::string field, jsonString(value, at));
      if (key == "name") {
        declaration.service.name = std::move(field);
      } else if (key == "owner") {
        declaration.service.owner = std::move(field);
      } else if (key == "environment") {
        declaration.service.environment = std::move(field);
      } else {
        declaration.service.tier = std::move(field);
      }
    }
  }
  if (entry.find("name") == entry.end()) {
    return atPath(prefix + "name", "required");
  }
  return declaration;
}

Result<std::vector<store::ServiceDeclaration>> parseJson(std::string_view text) {
  json root = json::parse(text, nullptr, false);
  if (root.is_discarded()) {
    return invalidArgument("not valid JSON");
  }
  if (!root.is_object()) {
    return atPath("$", "expected an object with \"services\"");
  }
  for (const auto& [key, value] : root.items()) {
    if (key != "services") {
      return atPath(key, "unknown key (expected \"services\")");
    }
  }
  auto list = root.find("services");
  if (list == root.end() || !list->is_array()) {
    return atPath("services", "expected an array of services");
  }
  if (list->size() > store::kMaxGraphServices) {
    return Status(Errc::ResourceExhausted,
                  "services: at most " + std::to_string(store::kMaxGraphServices));
  }
  std::vector<store::ServiceDeclaration> out;
  out.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string path = "services[" + std::to_string(i) + "]";
    const json& entry = (*list)[i];
    if (!entry.is_object()) {
      return atPath(path, "expected an object");
    }
    FL_ASSIGN_OR_RETURN(store::ServiceDeclaration declaration, parseJsonEntry(entry, path + "."));
    out.push_back(std::move(declaration));
  }
  return out;
}

// --- TOML

std::string tomlWhere(const toml::source_region& region) {
  return "line " + std::to_string(region.begin.line) + ", column " +
         std::to_string(region.begin.column);
}

Result<std::string> tomlString(const toml::node& node, const std::string& path) {
  const auto* value = node.as_string();
  if (value == nullptr) {
    return atPath(path, "expected a string (" + tomlWhere(node.source()) + ")");
  }
  return std::string(value->get());
}

Result<std::vector<store::ServiceDeclaration>> parseTomlTable(const toml::table& root) {
  for (const auto& [key, node] : root) {
    if (key.str() != "services") {
      return atPath(std::string(key.str()), "unknown key (expected [[services]] tables)");
    }
  }
  const toml::node* list_node = root.get("services");
  const toml::array* list = list_node != nullptr ? list_node->as_array() : nullptr;
  if (list == nullptr) {
    return atPath("services", "expected [[services]] tables");
  }
  if (list->size() > store::kMaxGraphServices) {
    return Status(Errc::ResourceExhausted,
                  "services: at most " + std::to_string(store::kMaxGraphServices));
  }
  std::vector<store::ServiceDeclaration> out;
  out.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string path = "services[" + std::to_string(i) + "]";
    const toml::table* entry = (*list)[i].as_table();
    if (entry == nullptr) {
      return atPath(path, "expected a table");
    }
    store::ServiceDeclaration declaration;
    for (const auto& [toml_key, node] : *entry) {
      const std::string key(toml_key.str());
      const std::string at = path + "." + key;
      if (!knownServiceKey(key)) {
        return atPath(at, "unknown key (" + tomlWhere(node.source()) + ")");
      }
      if (key == "labels") {
        const toml::table* labels = node.as_table();
        if (labels == nullptr) {
          return atPath(at, "expected a table of strings");
        }
        for (const auto& [label, label_value] : *labels) {
          FL_ASSIGN_OR_RETURN(std::string text_value,
                              tomlString(label_value, at + "." + std::string(label.str())));
          declaration.service.labels.insert_or_assign(std::string(label.str()),
                                                      std::move(text_value));
        }
      } else if (key == "depends_on") {
        const toml::array* callees = node.as_array();
        if (callees == nullptr) {
          return atPath(at, "expected an array of service names");
        }
        for (std::size_t j = 0; j < callees->size(); ++j) {
          FL_ASSIGN_OR_RETURN(std::string callee,
                              tomlString((*callees)[j], at + "[" + std::to_string(j) + "]"));
          declaration.depends_on.push_back(std::move(callee));
        }
      } else {
        FL_ASSIGN_OR_RETURN(std::string field, tomlString(node, at));
        if (key == "name") {
          declaration.service.name = std::move(field);
        } else if (key == "owner") {
          declaration.service.owner = std::move(field);
        } else if (key == "environment") {
          declaration.service.environment = std::move(field);
        } else {
          declaration.service.tier = std::move(field);
        }
      }
    }
    if (entry->get("name") == nullptr) {
      return atPath(path + ".name", "required");
    }
    out.push_back(std::move(declaration));
  }
  return out;
}

Result<std::vector<store::ServiceDeclaration>> parseToml(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& error) {
    return invalidArgument("not valid TOML: " + std::string(error.description()) + " (" +
                           tomlWhere(error.source()) + ")");
  }
  return parseTomlTable(root);
}

std::string_view trimmedType(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') {
    content_type.remove_suffix(1);
  }
  while (!content_type.empty() && content_type.front() == ' ') {
    content_type.remove_prefix(1);
  }
  return content_type;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<store::ServiceDeclaration> parseServiceJson(std::string_view body, std::string_view name) {
  if (body.size() > kMaxGraphImportBytes) {
    return Status(Errc::ResourceExhausted,
                  "a service holds at most " + std::to_string(kMaxGraphImportBytes) + " bytes");
  }
  json entry = json::parse(body.empty() ? std::string_view("{}") : body, nullptr, false);
  if (entry.is_discarded()) {
    return invalidArgument("not valid JSON");
  }
  if (!entry.is_object()) {
    return atPath("$", "expected an object");
  }
  if (auto given = entry.find("name"); given != entry.end()) {
    if (!given->is_string() || *given != name) {
      return atPath("name", "must be the name in the path (or be left out)");
    }
  }
  entry["name"] = std::string(name);
  FL_ASSIGN_OR_RETURN(store::ServiceDeclaration declaration, parseJsonEntry(entry, ""));
  FL_RETURN_IF_ERROR(store::checkServiceDeclaration(declaration));
  return declaration;
}

std::optional<GraphFileFormat> graphFileFormat(std::string_view content_type,
                                               std::string_view body) {
  const std::string_view type = trimmedType(content_type);
  if (equalsIgnoreCase(type, "application/json")) {
    return GraphFileFormat::Json;
  }
  if (equalsIgnoreCase(type, "application/toml")) {
    return GraphFileFormat::Toml;
  }
  if (!type.empty() && !equalsIgnoreCase(type, "text/plain")) {
    return std::nullopt;
  }
  std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && body[first] == '{') {
    return GraphFileFormat::Json;
  }
  return GraphFileFormat::Toml;
}

Result<std::vector<store::ServiceDeclaration>> parseGraphFile(std::string_view text,
                                                              GraphFileFormat format) {
  if (text.size() > kMaxGraphImportBytes) {
    return Status(Errc::ResourceExhausted, "a service graph file holds at most " +
                                               std::to_string(kMaxGraphImportBytes) + " bytes");
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::ServiceDeclaration> services,
                      format == GraphFileFormat::Json ? parseJson(text) : parseToml(text));
  FL_RETURN_IF_ERROR(finish(services));
  return services;
}

}  // namespace faultline::aggregator::graph
