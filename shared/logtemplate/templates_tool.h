#pragma once

// The logic of `faultline-agent templates`: mine a log file and show its templates, or mine the
// Content column of a Loghub structured CSV and write one template per line for scoring.
// Thread: any; each call owns its miner.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "shared/logtemplate/miner.h"
#include "shared/util/status.h"

namespace faultline::logtemplate {

struct TemplatesSummary {
  std::uint64_t lines = 0;
  std::uint64_t unmined = 0;  // too long, too many words, or holding a literal "<*>"
  std::size_t templates = 0;
};

/// Mines every line of the file at `path` (streamed: memory is bounded by the miner and
/// options.max_line_bytes) and prints a table to `out`, most frequent template first:
/// count, id (16 hex digits), template text.
Result<TemplatesSummary> printTemplates(const std::string& path, const MinerOptions& options,
                                        std::ostream& out);

/// Reads the LineId and Content columns of the Loghub structured CSV at `csv_path` (header row
/// required), mines every Content with one miner, then writes `LineId,EventTemplate` rows to
/// `out_path`: the final template of each line's cluster, or the Content itself when the line
/// was not mined. Keeps one id and cluster index per row in memory.
Result<TemplatesSummary> mineLoghubCsv(const std::string& csv_path, const std::string& out_path,
                                       const MinerOptions& options);

}  // namespace faultline::logtemplate
