#pragma once

// How audit entries leave the aggregator: one JSON object per entry (the API's entries and the
// JSON Lines export) or CSV rows (spreadsheet export). One definition for the CLI and HTTP.

#include <string>

#include "aggregator/store/audit_log.h"

namespace faultline::aggregator::audit {

enum class ExportFormat : std::uint8_t { Jsonl, Csv };

/// {"seq","at","at_ns","tenant_id","actor","action","target","outcome","client_address",
///  "detail","prev_hash","hash"}: detail is the stored JSON object itself.
std::string entryJson(const store::AuditEntry& entry);

/// The CSV header line (with "\n").
std::string csvHeader();
/// One CSV row (with "\n"), RFC 4180 quoting. Cells that a spreadsheet would run as a formula
/// (starting with = + - @ or a tab/CR) are prefixed with a single quote.
std::string csvRow(const store::AuditEntry& entry);

}  // namespace faultline::aggregator::audit
