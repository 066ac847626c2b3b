#include "shared/logtemplate/templates_tool.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <vector>

#include "shared/logtemplate/line_reader.h"
#include "shared/util/c_deleter.h"

namespace faultline::logtemplate {
namespace {

using File = CPtr<std::FILE, &std::fclose>;

Result<File> openFile(const std::string& path, const char* mode) {
  File f(std::fopen(path.c_str(), mode));
  if (!f) {
    return Status(errno == ENOENT ? Errc::NotFound : Errc::Unavailable,
                  path + ": " + std::strerror(errno));
  }
  return f;
}

constexpr std::size_t kMaxCsvRecordBytes = 1 << 20;

}  // namespace

Result<TemplatesSummary> printTemplates(const std::string& path, const MinerOptions& options,
                                        std::ostream& out) {
  FL_ASSIGN_OR_RETURN(File in, openFile(path, "rb"));
  TemplateMiner miner(options);
  MinedLine mined;
  TemplatesSummary summary;
  // One byte over the limit is enough for the miner to refuse the line.
  LineReader reader(in.get(), options.max_line_bytes + 1);
  std::string line;
  bool truncated = false;
  for (;;) {
    Result<bool> more = reader.next(line, truncated);
    if (!more) {
      return more.status().withContext(path);
    }
    if (!*more) {
      break;
    }
    ++summary.lines;
    miner.mine(line, mined);
    summary.unmined += mined.template_id == 0 ? 1 : 0;
  }
  auto clusters = miner.clusters();
  summary.templates = clusters.size();
  out << std::setw(9) << "count"
      << "  " << std::left << std::setw(16) << "id" << std::right << "  template\n";
  for (const auto& c : clusters) {
    char id[17];
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(c.template_id));
    out << std::setw(9) << c.count << "  " << id << "  " << c.template_text << "\n";
  }
  out << summary.lines << " lines, " << summary.templates << " templates";
  if (summary.unmined != 0) {
    out << ", " << summary.unmined << " lines not mined (too long, too many words or \"<*>\")";
  }
  out << "\n";
  return summary;
}

Result<TemplatesSummary> mineLoghubCsv(const std::string& csv_path, const std::string& out_path,
                                       const MinerOptions& options) {
  FL_ASSIGN_OR_RETURN(File in, openFile(csv_path, "rb"));
  CsvReader reader(in.get(), kMaxCsvRecordBytes);
  std::vector<std::string> fields;
  Result<bool> header = reader.next(fields);
  if (!header) {
    return header.status().withContext(csv_path);
  }
  std::size_t id_col = fields.size();
  std::size_t content_col = fields.size();
  for (std::size_t i = 0; *header && i < fields.size(); ++i) {
    std::string_view name = fields[i];
    if (i == 0 && name.substr(0, 3) == "\xEF\xBB\xBF") {
      name.remove_prefix(3);  // UTF-8 byte order mark
    }
    if (name == "LineId") {
      id_col = i;
    } else if (name == "Content") {
      content_col = i;
    }
  }
  if (id_col == fields.size() || content_col == fields.size()) {
    return invalidArgument(csv_path + ": needs a header with LineId and Content columns");
  }

  struct Row {
    std::string line_id;
    std::uint32_t cluster;
    std::string raw;  // the Content of a line that was not mined
  };
  std::vector<Row> rows;
  TemplateMiner miner(options);
  MinedLine mined;
  TemplatesSummary summary;
  for (;;) {
    Result<bool> more = reader.next(fields);
    if (!more) {
      return more.status().withContext(csv_path);
    }
    if (!*more) {
      break;
    }
    if (fields.size() == 1 && fields[0].empty()) {
      continue;  // blank line
    }
    if (fields.size() <= std::max(id_col, content_col)) {
      return invalidArgument(csv_path + ": record " + std::to_string(rows.size() + 2) + " has " +
                             std::to_string(fields.size()) + " fields");
    }
    ++summary.lines;
    miner.mine(fields[content_col], mined);
    Row row{fields[id_col], mined.cluster, {}};
    if (mined.template_id == 0) {
      ++summary.unmined;
      row.raw = fields[content_col];
    }
    rows.push_back(std::move(row));
  }
  summary.templates = miner.clusterCount();

  FL_ASSIGN_OR_RETURN(File out, openFile(out_path, "wb"));
  std::string text = "LineId,EventTemplate\n";
  for (const Row& row : rows) {
    std::string_view tpl =
        row.cluster == kNoCluster ? std::string_view(row.raw) : miner.clusterTemplate(row.cluster);
    text.append(csvQuote(row.line_id));
    text.push_back(',');
    text.append(csvQuote(tpl));
    text.push_back('\n');
    if (text.size() > (1 << 16)) {
      if (std::fwrite(text.data(), 1, text.size(), out.get()) != text.size()) {
        return Status(Errc::Unavailable, out_path + ": write failed");
      }
      text.clear();
    }
  }
  if (std::fwrite(text.data(), 1, text.size(), out.get()) != text.size() ||
      std::fflush(out.get()) != 0) {
    return Status(Errc::Unavailable, out_path + ": write failed");
  }
  return summary;
}

}  // namespace faultline::logtemplate
