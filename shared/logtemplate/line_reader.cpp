#include "shared/logtemplate/line_reader.h"

namespace faultline::logtemplate {

bool ByteSource::refill() {
  if (error_ || in_ == nullptr) {
    return false;
  }
  end_ = std::fread(buffer_.data(), 1, buffer_.size(), in_);
  pos_ = 0;
  if (end_ == 0) {
    error_ = std::ferror(in_) != 0;
    return false;
  }
  return true;
}

Result<bool> LineReader::next(std::string& line, bool& truncated) {
  line.clear();
  truncated = false;
  int c = source_.next();
  if (c < 0) {
    if (source_.error()) {
      return Status(Errc::Unavailable, "read error");
    }
    return false;
  }
  for (; c >= 0 && c != '\n'; c = source_.next()) {
    if (line.size() < max_) {
      line.push_back(static_cast<char>(c));
    } else {
      truncated = true;
    }
  }
  if (source_.error()) {
    return Status(Errc::Unavailable, "read error");
  }
  return true;
}

Result<bool> CsvReader::next(std::vector<std::string>& fields) {
  fields.clear();
  int c = source_.next();
  if (c < 0) {
    if (source_.error()) {
      return Status(Errc::Unavailable, "read error");
    }
    return false;
  }
  ++record_;
  std::size_t bytes = 0;
  fields.emplace_back();
  bool quoted = false;      // inside a quoted field
  bool was_quoted = false;  // the current field started with a quote
  for (;; c = source_.next()) {
    if (c < 0) {
      if (source_.error()) {
        return Status(Errc::Unavailable, "read error");
      }
      if (quoted) {
        return invalidArgument("record " + std::to_string(record_) + ": unterminated quote");
      }
      return true;
    }
    if (++bytes > max_) {
      return Status(
          Errc::ResourceExhausted,
          "record " + std::to_string(record_) + ": longer than " + std::to_string(max_) + " bytes");
    }
    char ch = static_cast<char>(c);
    std::string& field = fields.back();
    if (quoted) {
      if (ch == '"') {
        quoted = false;  // either the end of the field or the first half of ""
      } else {
        field.push_back(ch);
      }
      continue;
    }
    if (ch == '"') {
      if (was_quoted) {
        field.push_back('"');  // "" inside quotes
        quoted = true;
      } else if (field.empty()) {
        was_quoted = quoted = true;
      } else {
        field.push_back('"');  // a stray quote inside an unquoted field is data
      }
    } else if (ch == ',') {
      fields.emplace_back();
      was_quoted = false;
    } else if (ch == '\n') {
      if (!was_quoted && !fields.back().empty() && fields.back().back() == '\r') {
        fields.back().pop_back();
      }
      return true;
    } else if (ch == '\r' && was_quoted) {
      // "...",\r\n: the CR after a closing quote belongs to the line ending.
    } else {
      field.push_back(ch);
    }
  }
}

std::string csvQuote(std::string_view field) {
  bool needs = !field.empty() && (field.front() == ' ' || field.back() == ' ');
  for (char c : field) {
    needs |= c == ',' || c == '"' || c == '\n' || c == '\r';
  }
  if (!needs) {
    return std::string(field);
  }
  std::string out;
  out.reserve(field.size() + 2);
  out.push_back('"');
  for (char c : field) {
    if (c == '"') {
      out.push_back('"');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace faultline::logtemplate
