#include "aggregator/ai/runbook.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace faultline::aggregator::ai {
namespace {

using nlohmann::json;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  });
  return out;
}

/// Whitespace runs become one space (so "rm  -rf" and "rm\t-rf" match "rm -rf").
std::string squeezed(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) {
      out += ' ';
    }
    space = false;
    out += c;
  }
  return out;
}

/// Whether `word` occurs in `text` as a whole word (bounded by non-word characters).
bool hasWord(const std::string& text, std::string_view word) {
  auto isWordChar = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  for (std::size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    bool left = at == 0 || !isWordChar(text[at - 1]);
    std::size_t end = at + word.size();
    bool right = end >= text.size() || !isWordChar(text[end]);
    if (left && right) {
      return true;
    }
  }
  return false;
}

Result<std::string> textField(const json& object, const char* key, bool required) {
  if (!object.contains(key)) {
    if (required) {
      return invalidArgument(std::string(key) + ": a string is required");
    }
    return std::string();
  }
  if (!object[key].is_string() ||
      object[key].get_ref<const std::string&>().size() > kMaxTextBytes) {
    return invalidArgument(std::string(key) + ": a string of at most " +
                           std::to_string(kMaxTextBytes) + " bytes");
  }
  return object[key].get<std::string>();
}

Result<std::vector<std::string>> listField(const json& object, const char* key,
                                           std::size_t max_items) {
  std::vector<std::string> out;
  if (!object.contains(key)) {
    return out;
  }
  if (!object[key].is_array() || object[key].size() > max_items) {
    return invalidArgument(std::string(key) + ": an array of at most " + std::to_string(max_items) +
                           " strings");
  }
  for (const json& item : object[key]) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > kMaxTextBytes) {
      return invalidArgument(std::string(key) + ": each a string of at most " +
                             std::to_string(kMaxTextBytes) + " bytes");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

std::optional<std::string> destructiveCommand(std::string_view text) {
  std::string t = squeezed(lower(text));
  // Phrases matched as written (after lower-casing and squeezing whitespace).
  static const char* const kPhrases[] = {"rm -rf",
                                         "rm -fr",
                                         "rm -r -f",
                                         "rm -f -r",
                                         "rm --recursive",
                                         "drop table",
                                         "drop database",
                                         "drop schema",
                                         "truncate table",
                                         "delete from",
                                         "kubectl delete",
                                         "kubectl drain",
                                         "kubectl scale --replicas=0",
                                         "dd of=",
                                         "dd if=",
                                         "git push --force",
                                         "git push -f",
                                         "git reset --hard",
                                         "terraform destroy",
                                         "helm uninstall",
                                         "helm delete",
                                         "docker system prune",
                                         "docker rm -f",
                                         "systemctl stop",
                                         "systemctl disable",
                                         "iptables -f",
                                         "flushall",
                                         "flushdb",
                                         "chmod -r 777",
                                         ":(){",
                                         "> /dev/sd",
                                         "wipefs",
                                         "fdisk",
                                         "parted"};
  for (const char* phrase : kPhrases) {
    if (t.find(phrase) != std::string::npos) {
      return std::string(phrase);
    }
  }
  // Single words that are destructive as commands.
  static const char* const kWords[] = {"mkfs",     "shutdown", "reboot", "halt",
                                       "poweroff", "shred",    "init 0", "userdel"};
  for (const char* word : kWords) {
    if (hasWord(t, word)) {
      return std::string(word);
    }
  }
  if (t.find("mkfs.") != std::string::npos) {
    return std::string("mkfs");
  }
  return std::nullopt;
}

void flagDestructive(Runbook& runbook) {
  for (RunbookStep& step : runbook.steps) {
    std::optional<std::string> found = destructiveCommand(step.command);
    if (!found) {
      found = destructiveCommand(step.action);
    }
    step.needs_human = found.has_value();
    step.flag_reason =
        found ? "destructive command (" + *found + "): a human must confirm it" : std::string();
  }
}

std::string runbookToJson(const Runbook& runbook) {
  json steps = json::array();
  for (const RunbookStep& step : runbook.steps) {
    json item = {{"action", step.action},
                 {"command", step.command},
                 {"evidence", step.evidence},
                 {"needs_human", step.needs_human}};
    if (!step.flag_reason.empty()) {
      item["flag_reason"] = step.flag_reason;
    }
    steps.push_back(std::move(item));
  }
  json citations = json::array();
  for (const Citation& citation : runbook.citations) {
    citations.push_back({{"id", citation.id},
                         {"kind", citation.kind},
                         {"title", citation.title},
                         {"heading", citation.heading},
                         {"score", citation.score}});
  }
  json out = {{"incident_id", runbook.incident_id},
              {"summary", runbook.summary},
              {"diagnosis", runbook.diagnosis},
              {"steps", steps},
              {"rollback", runbook.rollback},
              {"verification", runbook.verification},
              {"citations", citations},
              {"confidence", std::round(runbook.confidence * 1000.0) / 1000.0},
              {"provider", runbook.provider},
              {"fallbacks", runbook.fallbacks},
              {"cached", runbook.cached}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Runbook> runbookFromJson(std::string_view text) {
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return invalidArgument("runbook: a JSON object is required");
  }
  Runbook runbook;
  FL_ASSIGN_OR_RETURN(runbook.summary, textField(body, "summary", true));
  FL_ASSIGN_OR_RETURN(runbook.diagnosis, textField(body, "diagnosis", true));
  if (!body.contains("steps") || !body["steps"].is_array() || body["steps"].empty() ||
      body["steps"].size() > kMaxSteps) {
    return invalidArgument("steps: an array of 1 to " + std::to_string(kMaxSteps) + " steps");
  }
  for (const json& item : body["steps"]) {
    if (!item.is_object()) {
      return invalidArgument("steps: each an object {action, command?, evidence?}");
    }
    RunbookStep step;
    FL_ASSIGN_OR_RETURN(step.action, textField(item, "action", true));
    if (step.action.empty()) {
      return invalidArgument("steps: each needs a non-empty action");
    }
    FL_ASSIGN_OR_RETURN(step.command, textField(item, "command", false));
    FL_ASSIGN_OR_RETURN(step.evidence, listField(item, "evidence", kMaxEvidencePerStep));
    runbook.steps.push_back(std::move(step));
  }
  FL_ASSIGN_OR_RETURN(runbook.rollback, listField(body, "rollback", kMaxListItems));
  FL_ASSIGN_OR_RETURN(runbook.verification, listField(body, "verification", kMaxListItems));
  if (body.contains("citations")) {
    if (!body["citations"].is_array() || body["citations"].size() > kMaxListItems) {
      return invalidArgument("citations: an array of at most " + std::to_string(kMaxListItems));
    }
    for (const json& item : body["citations"]) {
      Citation citation;
      if (item.is_string()) {
        citation.id = item.get<std::string>();
      } else if (item.is_object()) {
        FL_ASSIGN_OR_RETURN(citation.id, textField(item, "id", true));
        FL_ASSIGN_OR_RETURN(citation.kind, textField(item, "kind", false));
        FL_ASSIGN_OR_RETURN(citation.title, textField(item, "title", false));
        FL_ASSIGN_OR_RETURN(citation.heading, textField(item, "heading", false));
        if (item.contains("score") && item["score"].is_number()) {
          citation.score = item["score"].get<double>();
        }
      } else {
        return invalidArgument("citations: each an id or an object {id, ...}");
      }
      if (citation.id.empty() || citation.id.size() > 256) {
        return invalidArgument("citations: each id of 1 to 256 bytes");
      }
      runbook.citations.push_back(std::move(citation));
    }
  }
  if (body.contains("confidence")) {
    if (!body["confidence"].is_number() || !(body["confidence"].get<double>() >= 0.0) ||
        body["confidence"].get<double>() > 1.0) {
      return invalidArgument("confidence: a number in [0, 1]");
    }
    runbook.confidence = body["confidence"].get<double>();
  }
  flagDestructive(runbook);
  return runbook;
}

std::string runbookMarkdown(const Runbook& runbook, std::string_view title) {
  std::string out = "# " + std::string(title) + "\n\n";
  out += "## Summary\n\n" + runbook.summary + "\n\n";
  out += "## Diagnosis\n\n" + runbook.diagnosis + "\n\n";
  out += "## Steps\n\n";
  int n = 0;
  for (const RunbookStep& step : runbook.steps) {
    out += std::to_string(++n) + ". " + step.action;
    if (step.needs_human) {
      out += " (needs a human: " + step.flag_reason + ")";
    }
    out += "\n";
    if (!step.command.empty()) {
      out += "\n   ```\n   " + step.command + "\n   ```\n";
    }
  }
  auto list = [&](const char* heading, const std::vector<std::string>& items) {
    if (items.empty()) {
      return;
    }
    out += std::string("\n## ") + heading + "\n\n";
    for (const std::string& item : items) {
      out += "- " + item + "\n";
    }
  };
  list("Rollback", runbook.rollback);
  list("Verification", runbook.verification);
  return out;
}

}  // namespace faultline::aggregator::ai
