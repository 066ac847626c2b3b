#include "aggregator/audit/audit_format.h"

#include <nlohmann/json.hpp>

#include "shared/util/time.h"

namespace faultline::aggregator::audit {
namespace {

std::string csvCell(const std::string& value) {
  std::string cell = value;
  if (!cell.empty() && (cell.front() == '=' || cell.front() == '+' || cell.front() == '-' ||
                        cell.front() == '@' || cell.front() == '\t' || cell.front() == '\r')) {
    cell.insert(cell.begin(), '\'');
  }
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') {
      out += '"';
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

std::string entryJson(const store::AuditEntry& entry) {
  nlohmann::ordered_json detail = nlohmann::ordered_json::parse(entry.detail_json, nullptr, false);
  if (detail.is_discarded()) {
    detail = entry.detail_json;  // stored before validation tightened: still shown, as text
  }
  nlohmann::ordered_json out = {{"seq", entry.seq},
                                {"at", formatRfc3339Millis(entry.at_ns)},
                                {"at_ns", entry.at_ns},
                                {"tenant_id", entry.tenant_id},
                                {"actor", entry.actor},
                                {"action", entry.action},
                                {"target", entry.target},
                                {"outcome", entry.outcome},
                                {"client_address", entry.client_address},
                                {"detail", std::move(detail)},
                                {"prev_hash", entry.prev_hash},
                                {"hash", entry.hash}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string csvHeader() {
  return "seq,at,at_ns,tenant_id,actor,action,target,outcome,client_address,detail_json,"
         "prev_hash,hash\n";
}

std::string csvRow(const store::AuditEntry& entry) {
  std::string row = std::to_string(entry.seq) + ',' + formatRfc3339Millis(entry.at_ns) + ',' +
                    std::to_string(entry.at_ns);
  for (const std::string* field :
       {&entry.tenant_id, &entry.actor, &entry.action, &entry.target, &entry.outcome,
        &entry.client_address, &entry.detail_json, &entry.prev_hash, &entry.hash}) {
    row += ',';
    row += csvCell(*field);
  }
  row += '\n';
  return row;
}

}  // namespace faultline::aggregator::audit
