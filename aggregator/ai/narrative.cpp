#include "aggregator/ai/narrative.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace faultline::aggregator::ai {
namespace {

using nlohmann::json;

/// The JSON keys of a task's text, claims and checks.
struct Keys {
  const char* text;
  const char* claims;
  const char* checks;  // nullptr: the task has none
};

Keys keysOf(Task task) {
  return task == Task::Explanation ? Keys{"cause", "chain", "checks"}
                                   : Keys{"summary", "claims", nullptr};
}

json claimsToJson(const std::vector<Claim>& claims) {
  json out = json::array();
  for (const Claim& claim : claims) {
    out.push_back({{"text", claim.text}, {"evidence", claim.evidence}});
  }
  return out;
}

Result<std::vector<Claim>> claimsFromJson(const json& body, const char* key, bool required) {
  std::vector<Claim> out;
  if (!body.contains(key)) {
    if (required) {
      return invalidArgument(std::string(key) + ": an array of 1 to " + std::to_string(kMaxClaims) +
                             " claims is required");
    }
    return out;
  }
  const json& list = body[key];
  if (!list.is_array() || list.size() > kMaxClaims || (required && list.empty())) {
    return invalidArgument(std::string(key) + ": an array of " + (required ? "1" : "0") + " to " +
                           std::to_string(kMaxClaims) + " claims");
  }
  for (const json& item : list) {
    if (!item.is_object() || !item.contains("text") || !item["text"].is_string() ||
        item["text"].get_ref<const std::string&>().empty() ||
        item["text"].get_ref<const std::string&>().size() > kMaxNarrativeTextBytes) {
      return invalidArgument(std::string(key) + ": each an object with a text of 1 to " +
                             std::to_string(kMaxNarrativeTextBytes) + " bytes");
    }
    Claim claim;
    claim.text = item["text"].get<std::string>();
    if (!item.contains("evidence") || !item["evidence"].is_array() || item["evidence"].empty() ||
        item["evidence"].size() > kMaxEvidencePerClaim) {
      return invalidArgument(std::string(key) + ": each claim cites 1 to " +
                             std::to_string(kMaxEvidencePerClaim) + " evidence ids");
    }
    for (const json& id : item["evidence"]) {
      if (!id.is_string() || id.get_ref<const std::string&>().empty() ||
          id.get_ref<const std::string&>().size() > 256) {
        return invalidArgument(std::string(key) + ": each evidence id a string of 1 to 256 bytes");
      }
      claim.evidence.push_back(id.get<std::string>());
    }
    out.push_back(std::move(claim));
  }
  return out;
}

}  // namespace

const char* taskName(Task task) {
  switch (task) {
    case Task::Runbook: return "runbook";
    case Task::Summary: return "summary";
    case Task::Explanation: return "explanation";
  }
  return "runbook";
}

std::string narrativeToJson(const Narrative& narrative) {
  const Keys keys = keysOf(narrative.task);
  json out = {{"task", taskName(narrative.task)},
              {"incident_id", narrative.incident_id},
              {keys.text, narrative.text},
              {keys.claims, claimsToJson(narrative.claims)},
              {"confidence", std::round(narrative.confidence * 1000.0) / 1000.0},
              {"provider", narrative.provider},
              {"fallbacks", narrative.fallbacks},
              {"cached", narrative.cached}};
  if (keys.checks != nullptr) {
    out[keys.checks] = claimsToJson(narrative.checks);
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Narrative> narrativeFromJson(Task task, std::string_view text) {
  if (task == Task::Runbook) {
    return invalidArgument("a runbook is not a narrative (runbook.h)");
  }
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return invalidArgument(std::string(taskName(task)) + ": a JSON object is required");
  }
  const Keys keys = keysOf(task);
  Narrative narrative;
  narrative.task = task;
  if (!body.contains(keys.text) || !body[keys.text].is_string() ||
      body[keys.text].get_ref<const std::string&>().empty() ||
      body[keys.text].get_ref<const std::string&>().size() > kMaxNarrativeTextBytes) {
    return invalidArgument(std::string(keys.text) + ": a string of 1 to " +
                           std::to_string(kMaxNarrativeTextBytes) + " bytes is required");
  }
  narrative.text = body[keys.text].get<std::string>();
  FL_ASSIGN_OR_RETURN(narrative.claims, claimsFromJson(body, keys.claims, true));
  if (keys.checks != nullptr) {
    FL_ASSIGN_OR_RETURN(narrative.checks, claimsFromJson(body, keys.checks, false));
  }
  if (body.contains("confidence")) {
    if (!body["confidence"].is_number() || !(body["confidence"].get<double>() >= 0.0) ||
        body["confidence"].get<double>() > 1.0) {
      return invalidArgument("confidence: a number in [0, 1]");
    }
    narrative.confidence = body["confidence"].get<double>();
  }
  return narrative;
}

std::vector<std::string> citedIds(const Narrative& narrative) {
  std::vector<std::string> out;
  for (const std::vector<Claim>* list : {&narrative.claims, &narrative.checks}) {
    for (const Claim& claim : *list) {
      for (const std::string& id : claim.evidence) {
        if (std::find(out.begin(), out.end(), id) == out.end()) {
          out.push_back(id);
        }
      }
    }
  }
  return out;
}

}  // namespace faultline::aggregator::ai
