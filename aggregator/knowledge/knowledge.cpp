#include "aggregator/knowledge/knowledge.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "aggregator/incidents/incident.h"
#include "aggregator/knowledge/embeddings.h"

namespace faultline::aggregator::knowledge {
namespace {

using nlohmann::json;

const std::set<std::string, std::less<>>& stopWords() {
  static const std::set<std::string, std::less<>> kWords = {
      "a",   "an",   "and",  "are",  "as",  "at",  "be",   "by",   "for",  "from",
      "has", "have", "in",   "is",   "it",  "its", "no",   "not",  "of",   "on",
      "or",  "that", "the",  "this", "to",  "was", "were", "will", "with", "we",
      "you", "if",   "then", "than", "but", "so",  "do",   "does", "can",  "into"};
  return kWords;
}

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// Splits `text` at the last blank line, line break or space before `max` bytes.
std::size_t cutAt(std::string_view text, std::size_t max) {
  if (text.size() <= max) {
    return text.size();
  }
  std::string_view head = text.substr(0, max);
  for (std::string_view sep : {"\n\n", "\n", " "}) {
    std::size_t at = head.rfind(sep);
    if (at != std::string_view::npos && at > max / 4) {
      return at + sep.size();
    }
  }
  // No separator: cut at a UTF-8 character boundary.
  std::size_t at = max;
  while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) {
    --at;
  }
  return at == 0 ? max : at;
}

std::string trimmed(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) {
    return {};
  }
  std::size_t end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

void addSection(std::vector<store::KnowledgePassage>* out, const std::string& heading,
                std::string_view text) {
  std::string body = trimmed(text);
  while (!body.empty()) {
    std::size_t cut = cutAt(body, kMaxPassageBytes);
    std::string piece = trimmed(std::string_view(body).substr(0, cut));
    if (!piece.empty()) {
      out->push_back({heading, std::move(piece), {}});
    }
    body = trimmed(std::string_view(body).substr(cut));
  }
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos && !heading.empty()) {
    out->push_back({heading, "", {}});  // a heading alone is still findable
  }
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace

std::string validUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len == 2 && c < 0xC2) {
      ok = false;  // overlong
    }
    if (ok && len == 3) {
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = c <= 0xF4 && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    if (c == 0) {
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

std::vector<std::string> queryTerms(std::string_view text, std::size_t max_terms) {
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  std::size_t i = 0;
  while (i < text.size() && out.size() < max_terms) {
    if (!isAlnum(text[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < text.size() && isAlnum(text[i])) {
      ++i;
    }
    std::string word(text.substr(start, i - start));
    std::transform(word.begin(), word.end(), word.begin(), [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    bool digits =
        std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (word.size() < 2 || word.size() > 64 || digits || stopWords().count(word) != 0) {
      continue;
    }
    if (seen.insert(word).second) {
      out.push_back(std::move(word));
    }
  }
  return out;
}

std::vector<store::KnowledgePassage> chunkMarkdown(std::string_view markdown) {
  std::vector<store::KnowledgePassage> out;
  std::string heading;
  std::string section;
  bool in_code = false;
  std::size_t pos = 0;
  while (pos <= markdown.size()) {
    std::size_t end = markdown.find('\n', pos);
    if (end == std::string_view::npos) {
      end = markdown.size();
    }
    std::string_view line = markdown.substr(pos, end - pos);
    std::string_view stripped = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    if (stripped.substr(0, 3) == "```" || stripped.substr(0, 3) == "~~~") {
      in_code = !in_code;
    }
    std::size_t hashes = 0;
    while (hashes < line.size() && line[hashes] == '#') {
      ++hashes;
    }
    bool is_heading = !in_code && hashes >= 1 && hashes <= 6 &&
                      (hashes == line.size() || line[hashes] == ' ' || line[hashes] == '\t');
    if (is_heading) {
      if (!heading.empty() || !trimmed(section).empty()) {
        addSection(&out, heading, section);
      }
      std::string text = trimmed(line.substr(hashes));
      while (!text.empty() && text.back() == '#') {  // closing hashes
        text.pop_back();
      }
      heading = trimmed(text);
      section.clear();
    } else {
      section.append(line);
      section += '\n';
    }
    if (end == markdown.size()) {
      break;
    }
    pos = end + 1;
  }
  if (!heading.empty() || !trimmed(section).empty()) {
    addSection(&out, heading, section);
  }
  return out;
}

store::KnowledgeDocument incidentDocument(std::string_view tenant_id, const IncidentFacts& facts,
                                          std::int64_t now_ns) {
  store::KnowledgeDocument document;
  document.tenant_id = std::string(tenant_id);
  document.kind = "incident";
  document.id = facts.id;
  document.title = validUtf8(facts.title);
  for (const std::string& service : facts.services) {
    document.services.push_back(validUtf8(service));
  }
  document.updated_at_ns = now_ns;
  std::string summary = document.title + "\nstatus: " + facts.status + "\nservices:";
  for (const std::string& service : document.services) {
    summary += " " + service;
  }
  std::vector<store::KnowledgePassage> passages;
  passages.push_back({"Incident", summary, {}});
  addSection(&passages, "Events", validUtf8(joinLines(facts.event_lines)));
  addSection(&passages, "Likely causes", validUtf8(joinLines(facts.causes)));
  addSection(&passages, "Resolution notes", validUtf8(joinLines(facts.comments)));
  for (store::KnowledgePassage& section : chunkMarkdown(validUtf8(facts.postmortem))) {
    section.heading = section.heading.empty() ? "Postmortem" : "Postmortem: " + section.heading;
    passages.push_back(std::move(section));
  }
  // Only passages with text (addSection keeps an empty heading-only passage).
  for (store::KnowledgePassage& passage : passages) {
    if (!passage.text.empty() && document.passages.size() < store::kMaxKnowledgePassages) {
      document.passages.push_back(std::move(passage));
    }
  }
  for (const store::KnowledgePassage& passage : document.passages) {
    document.body += "## " + passage.heading + "\n" + passage.text + "\n\n";
  }
  return document;
}

namespace {

/// Services and causes first (they say the most), then the title and the events.
std::string incidentText(const IncidentFacts& facts) {
  std::string text;
  for (const std::string& service : facts.services) {
    text += service + ' ';
  }
  return text + joinLines(facts.causes) + facts.title + '\n' + joinLines(facts.event_lines);
}

}  // namespace

std::string incidentQueryText(const IncidentFacts& facts) {
  std::string text = incidentText(facts);
  if (text.size() > kMaxIncidentQueryTextBytes) {
    std::size_t cut = text.rfind('\n', kMaxIncidentQueryTextBytes);
    text.resize(cut == std::string::npos ? kMaxIncidentQueryTextBytes : cut);
  }
  return validUtf8(text);
}

std::vector<std::string> incidentQueryTerms(const IncidentFacts& facts) {
  return queryTerms(incidentText(facts));
}

bool indexedStatus(std::string_view status) {
  return status == "resolved" || status == "closed";
}

store::KnowledgeDocument runbookDocument(std::string_view tenant_id, std::string_view id,
                                         std::string_view title, std::string_view markdown,
                                         const std::vector<std::string>& services,
                                         std::int64_t now_ns) {
  store::KnowledgeDocument document;
  document.tenant_id = std::string(tenant_id);
  document.kind = "runbook";
  document.id = std::string(id);
  document.title = std::string(title);
  document.services = services;
  document.body = std::string(markdown);
  document.passages = chunkMarkdown(document.body);
  std::string about = document.title;
  for (const std::string& service : document.services) {
    about += (about == document.title ? "\nservices: " : " ") + service;
  }
  document.passages.insert(document.passages.begin(), {"Runbook", about, {}});
  document.updated_at_ns = now_ns;
  return document;
}

Result<IncidentFacts> loadIncidentFacts(store::Store& store, std::string_view tenant_id,
                                        std::string_view incident_id) {
  FL_ASSIGN_OR_RETURN(store::IncidentRow row, store.findIncident(tenant_id, incident_id));
  IncidentFacts facts;
  facts.id = row.id;
  facts.title = row.title;
  facts.status = row.status;
  incidents::Incident incident;
  if (incidents::Incident::fromDocJson(row.doc_json, &incident).isOk()) {
    for (const auto& entry : incident.services) {
      facts.services.push_back(entry.first);
    }
    for (const incidents::Candidate& candidate : incident.candidates) {
      if (facts.causes.size() >= 5) {
        break;
      }
      std::ostringstream line;
      line.precision(2);
      line << candidate.kind << ' ' << candidate.name;
      if (candidate.service != candidate.name && !candidate.service.empty()) {
        line << " (service " << candidate.service << ')';
      }
      line << " confidence " << std::fixed << candidate.confidence;
      facts.causes.push_back(line.str());
    }
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::IncidentEventRow> links,
                      store.listIncidentEvents(tenant_id, incident_id, kMaxIncidentEventsIndexed));
  std::vector<std::string> ids;
  for (const store::IncidentEventRow& link : links) {
    if (ids.size() >= std::min(kMaxIncidentEventsIndexed, store::kMaxEventsPerRecord)) {
      break;
    }
    ids.push_back(link.event_id);
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> events, store.findEvents(tenant_id, ids));
  std::sort(events.begin(), events.end(),
            [](const store::StoredEvent& a, const store::StoredEvent& b) {
              return a.event.occurred_at_ns < b.event.occurred_at_ns;
            });
  std::set<std::string> seen;
  auto addLine = [&](const std::string& line) {
    if (!line.empty() && seen.insert(line).second) {
      facts.event_lines.push_back(line);
    }
  };
  for (const store::StoredEvent& stored : events) {
    addLine(stored.event.service.empty() ? stored.event.title
                                         : stored.event.service + ": " + stored.event.title);
    for (const auto& label : stored.event.labels) {
      if (label.first == "template") {
        addLine(label.second);
      }
    }
  }
  FL_ASSIGN_OR_RETURN(std::vector<store::IncidentTimelineRow> timeline,
                      store.listIncidentTimeline(tenant_id, incident_id));
  for (const store::IncidentTimelineRow& entry : timeline) {
    if (entry.kind != "comment") {
      continue;
    }
    json detail = json::parse(entry.detail_json, nullptr, false);
    if (detail.is_object() && detail.contains("text") && detail["text"].is_string()) {
      facts.comments.push_back(detail["text"].get<std::string>());
    }
  }
  auto postmortem = store.findAiAnswer(tenant_id, incident_id, kPostmortemTask);
  if (postmortem.isOk()) {
    facts.postmortem = postmortemMarkdown(*postmortem);
  } else if (postmortem.status().code() != Errc::NotFound) {
    return postmortem.status();
  }
  return facts;
}

store::AiAnswerRecord postmortemRecord(std::string_view tenant_id, std::string_view incident_id,
                                       const std::string& markdown, std::string_view actor,
                                       std::int64_t now_ns) {
  store::AiAnswerRecord record;
  record.tenant_id = std::string(tenant_id);
  record.incident_id = std::string(incident_id);
  record.task = std::string(kPostmortemTask);
  record.body_json = json{{"markdown", markdown}}.dump();
  record.provider = "person";
  record.updated_by = std::string(actor);
  record.updated_at_ns = now_ns;
  return record;
}

std::string postmortemMarkdown(const store::AiAnswerRecord& record) {
  json body = json::parse(record.body_json, nullptr, false);
  if (!body.is_object() || !body.contains("markdown") || !body["markdown"].is_string()) {
    return "";
  }
  return body["markdown"].get<std::string>();
}

Status indexIncident(store::Store& store, std::string_view tenant_id, std::string_view incident_id,
                     std::int64_t now_ns, KnowledgeEmbeddings* embeddings) {
  FL_ASSIGN_OR_RETURN(IncidentFacts facts, loadIncidentFacts(store, tenant_id, incident_id));
  if (!indexedStatus(facts.status)) {
    return Status::ok();
  }
  store::KnowledgeDocument document = incidentDocument(tenant_id, facts, now_ns);
  if (embeddings != nullptr) {
    embeddings->embedDocument(&document);
  }
  return store.putKnowledgeDocument(document);
}

}  // namespace faultline::aggregator::knowledge
