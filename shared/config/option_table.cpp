#include "shared/config/option_table.h"

#include <charconv>
#include <cstdlib>
#include <functional>
#include <sstream>

#include <toml++/toml.h>

#include "shared/util/fs.h"
#include "shared/util/time.h"

namespace faultline::config {
namespace {
std::string_view typeName(OptionType type) {
  switch (type) {
    case OptionType::String: return "string";
    case OptionType::Int: return "integer";
    case OptionType::Bool: return "bool";
    case OptionType::Duration: return "duration";
    case OptionType::ByteSize: return "size";
    case OptionType::StringList: return "list of strings";
  }
  return "?";
}

std::string where(const std::string& source, const toml::source_region& region) {
  return source + ":" + std::to_string(region.begin.line) + ":" +
         std::to_string(region.begin.column);
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) {
    return out;
  }
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(line);
  }
  return out;
}
}  // namespace

OptionTable::OptionTable(std::vector<Option> options) : options_(std::move(options)) {
  for (const Option& option : options_) {
    Value value{&option, {}, {}};
    if (option.type == OptionType::StringList) {
      value.items = splitLines(option.default_value);
    } else {
      value.text = option.default_value;
    }
    values_.emplace(option.key, std::move(value));
  }
}

Status OptionTable::setValue(Value& value, std::string_view text) const {
  const Option& option = *value.option;
  auto bad = [&](std::string_view why) {
    return invalidArgument("option '" + option.key + "': " + std::string(why));
  };
  switch (option.type) {
    case OptionType::String:
      break;
    case OptionType::Int: {
      std::int64_t parsed = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
      if (ec != std::errc() || ptr != text.data() + text.size()) {
        return bad("expected an integer, got '" + std::string(text) + "'");
      }
      break;
    }
    case OptionType::Bool:
      if (text != "true" && text != "false") {
        return bad("expected true or false, got '" + std::string(text) + "'");
      }
      break;
    case OptionType::Duration: {
      auto parsed = parseDuration(text);
      if (!parsed) {
        return bad(parsed.status().message());
      }
      break;
    }
    case OptionType::ByteSize: {
      auto parsed = parseByteSize(text);
      if (!parsed) {
        return bad(parsed.status().message());
      }
      break;
    }
    case OptionType::StringList:
      value.items = {std::string(text)};
      return Status::ok();
  }
  value.text = std::string(text);
  return Status::ok();
}

Status OptionTable::set(std::string_view key, std::string_view text) {
  auto it = values_.find(key);
  if (it == values_.end()) {
    return invalidArgument("unknown option '" + std::string(key) + "'");
  }
  return setValue(it->second, text);
}

Status OptionTable::append(std::string_view key, std::string_view text) {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.option->type != OptionType::StringList) {
    return invalidArgument("'" + std::string(key) + "' is not a list option");
  }
  it->second.items.emplace_back(text);
  return Status::ok();
}

Status OptionTable::loadFile(const std::string& path) {
  auto text = fs::readFile(path, 1 << 20);
  if (!text) {
    return text.status().withContext("read config");
  }
  return loadString(*text, path);
}

Status OptionTable::loadString(std::string_view toml_text, const std::string& source_name) {
  if (toml_text.size() > (1 << 20)) {
    return invalidArgument(source_name + ": config larger than 1 MiB");
  }
  // Debian's toml++ is built with exceptions; config parsing is start-up code, not the data path.
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& err) {
    return invalidArgument(where(source_name, err.source()) + ": " +
                           std::string(err.description()));
  }
  Status status = Status::ok();
  // Walk every leaf; each must be a declared option of the right type.
  std::function<void(const toml::table&, const std::string&)> walk =
      [&](const toml::table& table, const std::string& prefix) {
        for (const auto& [raw_key, node] : table) {
          if (!status.isOk()) {
            return;
          }
          std::string key = prefix.empty() ? std::string(raw_key.str())
                                           : prefix + "." + std::string(raw_key.str());
          auto it = values_.find(key);
          if (node.is_table() && it == values_.end()) {
            walk(*node.as_table(), key);
            continue;
          }
          std::string at = where(source_name, node.source());
          if (it == values_.end()) {
            status = invalidArgument(at + ": unknown key '" + key + "'");
            return;
          }
          Value& value = it->second;
          const OptionType type = value.option->type;
          std::string text;
          if (type == OptionType::StringList) {
            const toml::array* arr = node.as_array();
            if (arr == nullptr) {
              status = invalidArgument(at + ": '" + key + "' must be a list of strings");
              return;
            }
            std::vector<std::string> items;
            for (const toml::node& item : *arr) {
              if (!item.is_string()) {
                status = invalidArgument(at + ": '" + key + "' must contain only strings");
                return;
              }
              items.emplace_back(item.as_string()->get());
            }
            value.items = std::move(items);
            continue;
          }
          if (node.is_string() && type != OptionType::Int && type != OptionType::Bool) {
            text = node.as_string()->get();
          } else if (node.is_integer() &&
                     (type == OptionType::Int || type == OptionType::ByteSize)) {
            text = std::to_string(node.as_integer()->get());
          } else if (node.is_boolean() && type == OptionType::Bool) {
            text = node.as_boolean()->get() ? "true" : "false";
          } else {
            status = invalidArgument(at + ": '" + key + "' must be a " +
                                     std::string(typeName(type)));
            return;
          }
          Status set_status = setValue(value, text);
          if (!set_status.isOk()) {
            status = invalidArgument(at + ": " + set_status.message());
            return;
          }
        }
      };
  walk(root, "");
  return status;
}

const OptionTable::Value& OptionTable::find(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    // Reading an undeclared option is a programming error, not an input error.
    std::abort();
  }
  return it->second;
}

std::string OptionTable::getString(std::string_view key) const { return find(key).text; }

std::int64_t OptionTable::getInt(std::string_view key) const {
  const std::string& text = find(key).text;
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

bool OptionTable::getBool(std::string_view key) const { return find(key).text == "true"; }

std::chrono::nanoseconds OptionTable::getDuration(std::string_view key) const {
  auto parsed = parseDuration(find(key).text);
  return parsed ? *parsed : std::chrono::nanoseconds(0);
}

std::uint64_t OptionTable::getByteSize(std::string_view key) const {
  auto parsed = parseByteSize(find(key).text);
  return parsed ? *parsed : 0;
}

std::vector<std::string> OptionTable::getStringList(std::string_view key) const {
  return find(key).items;
}

std::string OptionTable::helpText() const {
  std::string out;
  for (const Option& option : options_) {
    out += option.key + " (" + std::string(typeName(option.type)) + ", default ";
    if (option.type == OptionType::StringList) {
      out += "[" + option.default_value + "]";
    } else {
      out += option.default_value.empty() ? "\"\"" : option.default_value;
    }
    out += ")\n    " + option.description + "\n";
  }
  return out;
}

}  // namespace faultline::config
