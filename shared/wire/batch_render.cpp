// Rendering decoded records back to their lines.
#include <cstring>

#include "shared/wire/batch.h"

namespace faultline::wire {
namespace {

constexpr char kLowerDigits[] = "0123456789abcdef";
constexpr char kUpperDigits[] = "0123456789ABCDEF";

void appendHex(std::string_view bytes, bool odd, const char* digits, std::string& out) {
  std::size_t i = 0;
  if (odd && !bytes.empty()) {
    out.push_back(digits[static_cast<std::uint8_t>(bytes[0]) & 0x0f]);
    i = 1;
  }
  for (; i < bytes.size(); ++i) {
    const auto b = static_cast<std::uint8_t>(bytes[i]);
    const char pair[2] = {digits[b >> 4], digits[b & 0x0f]};
    out.append(pair, 2);
  }
}

void appendDecimal(std::uint64_t value, std::size_t width, std::string& out) {
  char buf[20];
  std::size_t n = 0;
  do {
    buf[sizeof buf - 1 - n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  if (width > n) {
    out.append(width - n, '0');
  }
  out.append(buf + sizeof buf - n, n);
}

}  // namespace

std::string templateIdText(std::uint64_t template_id) {
  std::string out = "0x0000000000000000";
  for (std::size_t i = 17; i >= 2; --i) {
    out[i] = kLowerDigits[template_id & 0xf];
    template_id >>= 4;
  }
  return out;
}

std::size_t countHoles(std::string_view text) {
  std::size_t holes = 0;
  for (std::size_t at = text.find("<*>"); at != std::string_view::npos;
       at = text.find("<*>", at + 3)) {
    ++holes;
  }
  return holes;
}

void renderParam(const Param& param, std::string& out) {
  switch (param.kind) {
    case ParamKind::String: out.append(param.bytes); return;
    case ParamKind::Decimal: appendDecimal(param.number, 0, out); return;
    case ParamKind::Negative:
      out.push_back('-');
      appendDecimal(param.number, 0, out);
      return;
    case ParamKind::ZeroPadded: appendDecimal(param.number, param.width, out); return;
    case ParamKind::HexLower: appendHex(param.bytes, param.odd, kLowerDigits, out); return;
    case ParamKind::HexUpper: appendHex(param.bytes, param.odd, kUpperDigits, out); return;
    case ParamKind::UuidLower:
    case ParamKind::UuidUpper: {
      const char* digits = param.kind == ParamKind::UuidLower ? kLowerDigits : kUpperDigits;
      const std::string_view b = param.bytes;
      appendHex(b.substr(0, 4), false, digits, out);
      out.push_back('-');
      appendHex(b.substr(4, 2), false, digits, out);
      out.push_back('-');
      appendHex(b.substr(6, 2), false, digits, out);
      out.push_back('-');
      appendHex(b.substr(8, 2), false, digits, out);
      out.push_back('-');
      appendHex(b.substr(10, 6), false, digits, out);
      return;
    }
  }
}

Result<std::string_view> resolveTemplate(const DecodedBatch& batch, std::uint32_t slot,
                                         const TemplateLookup& lookup) {
  if (slot >= batch.template_ids.size()) {
    return invalidArgument("template slot " + std::to_string(slot) + " out of range");
  }
  if (slot < batch.template_text.size() && batch.template_text[slot] >= 0) {
    return batch.templates[static_cast<std::size_t>(batch.template_text[slot])].text;
  }
  const std::uint64_t id = batch.template_ids[slot];
  if (lookup) {
    if (std::optional<std::string_view> text = lookup(id)) {
      return *text;
    }
  }
  return notFound("unknown template " + templateIdText(id));
}

Status renderTemplatedLine(const DecodedBatch& batch, const Record& record,
                           std::string_view template_text, std::string& out) {
  std::uint32_t next = 0;
  std::string_view rest = template_text;
  for (std::size_t hole = rest.find("<*>"); hole != std::string_view::npos;
       hole = rest.find("<*>")) {
    if (next == record.param_count) {
      return invalidArgument("template " +
                             templateIdText(batch.template_ids[record.template_slot]) +
                             " has more holes than the record's " +
                             std::to_string(record.param_count) + " parameters");
    }
    out.append(rest.substr(0, hole));
    renderParam(batch.params[record.first_param + next++], out);
    rest.remove_prefix(hole + 3);
  }
  if (next != record.param_count) {
    return invalidArgument("template " + templateIdText(batch.template_ids[record.template_slot]) +
                           " has " + std::to_string(next) + " holes but the record has " +
                           std::to_string(record.param_count) + " parameters");
  }
  out.append(rest);
  return Status::ok();
}

Status renderRecordLine(const DecodedBatch& batch, const Record& record,
                        const TemplateLookup& lookup, std::string& out) {
  switch (record.kind) {
    case RecordKind::Raw: out.append(record.line); return Status::ok();
    case RecordKind::Aggregate: return invalidArgument("an aggregate record is not a line");
    case RecordKind::Templated: {
      FL_ASSIGN_OR_RETURN(std::string_view text,
                          resolveTemplate(batch, record.template_slot, lookup));
      return renderTemplatedLine(batch, record, text, out);
    }
  }
  return internalError("unknown record kind");
}

}  // namespace faultline::wire
