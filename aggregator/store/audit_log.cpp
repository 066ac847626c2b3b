#include "aggregator/store/audit_log.h"

#include "shared/util/crypto.h"
#include "shared/util/utf8.h"

namespace faultline::aggregator::store {
namespace {

constexpr std::string_view kEncodingTag = "faultline.audit.v1";

void appendInt(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void appendField(std::string& out, std::string_view field) {
  appendInt(out, field.size());
  out.append(field);
}

/// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) without NUL.
bool cleanUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0) {
      return false;
    }
    if (byte < 0x80) {
      ++i;
      continue;
    }
    const std::size_t length = utf8SequenceLength(text, i);
    if (length == 0) {
      return false;
    }
    i += length;
  }
  return true;
}

Status checkField(std::string_view name, std::string_view value, std::size_t max_bytes) {
  if (value.size() > max_bytes) {
    return invalidArgument("audit " + std::string(name) + ": longer than " +
                           std::to_string(max_bytes) + " bytes");
  }
  if (!cleanUtf8(value)) {
    return invalidArgument("audit " + std::string(name) + ": not valid UTF-8 or contains NUL");
  }
  return Status::ok();
}

}  // namespace

Status validateAuditEvent(const audit::AuditEvent& event) {
  if (event.actor.empty()) {
    return invalidArgument("audit actor: must not be empty");
  }
  if (event.action.empty()) {
    return invalidArgument("audit action: must not be empty");
  }
  if (event.outcome != "success" && event.outcome != "failure" && event.outcome != "denied") {
    return invalidArgument("audit outcome: expected success, failure or denied, got '" +
                           event.outcome.substr(0, 32) + "'");
  }
  if (event.detail_json.empty() || event.detail_json.front() != '{') {
    return invalidArgument("audit detail_json: must be a JSON object");
  }
  FL_RETURN_IF_ERROR(checkField("tenant_id", event.tenant_id, kAuditMaxFieldBytes));
  FL_RETURN_IF_ERROR(checkField("actor", event.actor, kAuditMaxFieldBytes));
  FL_RETURN_IF_ERROR(checkField("action", event.action, kAuditMaxFieldBytes));
  FL_RETURN_IF_ERROR(checkField("target", event.target, kAuditMaxFieldBytes));
  FL_RETURN_IF_ERROR(checkField("client_address", event.client_address, kAuditMaxFieldBytes));
  return checkField("detail_json", event.detail_json, kAuditMaxDetailBytes);
}

std::string auditEncoding(const AuditEntry& entry) {
  std::string out;
  out.reserve(kEncodingTag.size() + 10 * 8 + entry.prev_hash.size() + entry.tenant_id.size() +
              entry.actor.size() + entry.action.size() + entry.target.size() +
              entry.outcome.size() + entry.client_address.size() + entry.detail_json.size());
  out.append(kEncodingTag);
  appendField(out, entry.prev_hash);
  appendField(out, entry.tenant_id);
  appendInt(out, static_cast<std::uint64_t>(entry.seq));
  appendInt(out, static_cast<std::uint64_t>(entry.at_ns));
  appendField(out, entry.actor);
  appendField(out, entry.action);
  appendField(out, entry.target);
  appendField(out, entry.outcome);
  appendField(out, entry.client_address);
  appendField(out, entry.detail_json);
  return out;
}

std::string auditEntryHash(const AuditEntry& entry) {
  // hashSecret is exactly hex(crypto_generichash) with the 32-byte default: BLAKE2b-256.
  return crypto::hashSecret(auditEncoding(entry));
}

AuditEntry chainAuditEntry(const audit::AuditEvent& event,
                           const std::optional<AuditChainHead>& head) {
  AuditEntry entry;
  entry.tenant_id = event.tenant_id;
  entry.seq = head ? head->seq + 1 : 1;
  entry.at_ns = event.at_ns;
  entry.actor = event.actor;
  entry.action = event.action;
  entry.target = event.target;
  entry.outcome = event.outcome;
  entry.client_address = event.client_address;
  entry.detail_json = event.detail_json;
  entry.prev_hash = head ? head->hash : std::string(kAuditGenesisHash);
  entry.hash = auditEntryHash(entry);
  return entry;
}

void AuditChainVerifier::breakAt(std::int64_t seq, std::string reason) {
  result_.intact = false;
  result_.broken_at_seq = seq;
  result_.reason = std::move(reason);
}

bool AuditChainVerifier::add(const AuditEntry& entry) {
  if (!result_.intact) {
    return false;
  }
  const std::int64_t expected = last_seq_ + 1;
  if (entry.seq != expected) {
    breakAt(expected, "entry " + std::to_string(expected) +
                          " is missing (removed); the next stored entry is " +
                          std::to_string(entry.seq));
    return false;
  }
  if (auditEntryHash(entry) != entry.hash) {
    breakAt(entry.seq, "hash mismatch: the entry was edited after it was written");
    return false;
  }
  if (entry.prev_hash != last_hash_) {
    breakAt(entry.seq, "prev_hash does not match the hash of entry " + std::to_string(last_seq_) +
                           " (an entry was edited or replaced)");
    return false;
  }
  last_seq_ = entry.seq;
  last_hash_ = entry.hash;
  ++result_.entries;
  return true;
}

AuditVerification AuditChainVerifier::finish(const std::optional<AuditChainHead>& head) {
  if (result_.intact) {
    if (!head) {
      if (last_seq_ > 0) {
        breakAt(1, "the chain head record is missing (removed)");
      }
    } else if (head->seq > last_seq_) {
      breakAt(last_seq_ + 1, "entries " + std::to_string(last_seq_ + 1) + " to " +
                                 std::to_string(head->seq) +
                                 " are missing: the chain was truncated at the end");
    } else if (head->seq < last_seq_) {
      breakAt(head->seq + 1, "entries after the recorded head (seq " + std::to_string(head->seq) +
                                 ") were added outside the store");
    } else if (head->hash != last_hash_) {
      breakAt(last_seq_, "the last entry's hash does not match the recorded chain head");
    }
  }
  if (result_.intact) {
    result_.head_hash = last_hash_;
  }
  return result_;
}

}  // namespace faultline::aggregator::store
