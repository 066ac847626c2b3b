#pragma once

// The stored form of the audit log and its hash chain, shared by every Store engine.
//
// Each tenant has its own chain (tenant_id "" is the system chain: events not tied to one
// tenant). Entries are numbered seq = 1, 2, ... per chain, and each carries
//
//   hash = hex(BLAKE2b-256(encoding))   (libsodium crypto_generichash, 32 bytes)
//
// where `encoding` is the canonical, length-prefixed byte string
//
//   "faultline.audit.v1" || field(prev_hash) || field(tenant_id) || int(seq) || int(at_ns)
//     || field(actor) || field(action) || field(target) || field(outcome)
//     || field(client_address) || field(detail_json)
//
//   field(s) = 8-byte big-endian length of s || the bytes of s
//   int(v)   = 8-byte big-endian two's complement of v
//
// prev_hash is the previous entry's hash as 64 lower-case hex characters (kAuditGenesisHash for
// seq 1). Length prefixes make the encoding injective: no two different entries encode alike, so
// moving bytes between fields changes the hash. A chain head row per chain (its last seq and
// hash) is written with every append, so removing the newest entries is detected too.
//
// What the chain proves: an entry edited, removed or reordered in the database after it was
// written, by anyone who does not also rewrite every later hash and the head. It does not stop
// someone with write access to the database from rebuilding the whole chain (the hash has no
// key); `admin audit verify` prints the head hash so operators can record it elsewhere.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/audit/audit_event.h"
#include "shared/util/status.h"

namespace faultline::aggregator::store {

/// prev_hash of each chain's first entry: 32 zero bytes, hex.
inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Field limits, checked before anything is written (InvalidArgument beyond them).
inline constexpr std::size_t kAuditMaxFieldBytes = 1024;        // actor, action, target, ...
inline constexpr std::size_t kAuditMaxDetailBytes = 16 * 1024;  // detail_json
/// Entries per queryAudit page at most.
inline constexpr std::size_t kAuditMaxPageEntries = 1000;

/// One stored entry of a chain.
struct AuditEntry {
  std::string tenant_id;  // "" for the system chain
  std::int64_t seq = 0;   // 1, 2, ... within the chain
  std::int64_t at_ns = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string outcome;
  std::string client_address;
  std::string detail_json;
  std::string prev_hash;  // hex
  std::string hash;       // hex
};

/// Which entries of one chain queryAudit returns, in seq order. Empty strings do not filter.
struct AuditQuery {
  std::int64_t since_ns = INT64_MIN;  // at_ns >= since
  std::int64_t until_ns = INT64_MAX;  // at_ns < until
  std::string actor;
  std::string action;
  std::string outcome;
  std::int64_t after_seq = 0;  // cursor: entries with seq > after_seq
  std::size_t limit = 100;     // 1..kAuditMaxPageEntries (clamped)
};

struct AuditPage {
  std::vector<AuditEntry> entries;
  /// Set when more entries may match: pass it as after_seq for the next page.
  std::optional<std::int64_t> next_after_seq;
};

/// The outcome of checking one chain from its first entry to its head.
struct AuditVerification {
  bool intact = true;
  std::int64_t entries = 0;        // entries checked
  std::string head_hash;           // the last entry's hash (kAuditGenesisHash for an empty chain)
  std::int64_t broken_at_seq = 0;  // when not intact: the first seq where the chain breaks
  std::string reason;              // when not intact: what was found there
};

/// The last seq and hash a chain recorded with its latest append.
struct AuditChainHead {
  std::int64_t seq = 0;
  std::string hash;
};

/// Checks an event before it is stored: outcome one of success/failure/denied, action and actor
/// not empty, fields within the limits, valid UTF-8 without NUL (PostgreSQL text refuses NUL,
/// and both engines must store the same bytes).
Status validateAuditEvent(const audit::AuditEvent& event);

/// The canonical encoding described above (exposed for tests).
std::string auditEncoding(const AuditEntry& entry);
/// hex(BLAKE2b-256(auditEncoding(entry))); reads every field except `hash`.
std::string auditEntryHash(const AuditEntry& entry);

/// The entry that follows `head` (nullopt: the chain is empty) in the event's chain, hashed.
AuditEntry chainAuditEntry(const audit::AuditEvent& event,
                           const std::optional<AuditChainHead>& head);

/// Walks a chain fed in seq order and reports the first break. Engines feed it rows from one
/// consistent snapshot.
class AuditChainVerifier {
 public:
  /// Checks the next stored entry; false once the chain is broken (further entries are ignored).
  bool add(const AuditEntry& entry);
  /// Compares the end of the chain with the recorded head (nullopt: no head row) and returns
  /// the verdict.
  AuditVerification finish(const std::optional<AuditChainHead>& head);

 private:
  void breakAt(std::int64_t seq, std::string reason);

  AuditVerification result_;
  std::int64_t last_seq_ = 0;
  std::string last_hash_{kAuditGenesisHash};
};

}  // namespace faultline::aggregator::store
