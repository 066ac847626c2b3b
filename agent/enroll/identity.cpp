#include "agent/enroll/identity.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "shared/util/crypto.h"
#include "shared/util/fs.h"

namespace faultline::agent {

std::string identityPath(const std::string& state_dir) {
  return fs::join(state_dir, kIdentityFile);
}

Result<Identity> loadIdentity(const std::string& state_dir) {
  std::string path = identityPath(state_dir);
  auto text = fs::readFile(path, 64 * 1024);
  if (!text) {
    if (text.code() == Errc::NotFound) {
      return Status(Errc::NotFound, "not enrolled: " + path +
                                        " does not exist (run `faultline-agent enroll --server "
                                        "URL --token TOKEN` first)");
    }
    return text.status();
  }
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return dataLoss(path + " is not a JSON object");
  }
  Identity out;
  auto field = [&](const char* name, std::string* into, bool required) -> Status {
    auto it = doc.find(name);
    if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
      if (!required) {
        return Status::ok();
      }
      return dataLoss(path + ": missing or invalid \"" + name + "\"");
    }
    *into = it->get<std::string>();
    return Status::ok();
  };
  FL_RETURN_IF_ERROR(field("server", &out.server_url, true));
  FL_RETURN_IF_ERROR(field("agent_id", &out.agent_id, true));
  FL_RETURN_IF_ERROR(field("secret", &out.secret, true));
  FL_RETURN_IF_ERROR(field("tenant", &out.tenant, false));
  FL_RETURN_IF_ERROR(field("tenant_id", &out.tenant_id, false));
  FL_RETURN_IF_ERROR(field("enrolled_at", &out.enrolled_at, false));
  return out;
}

Status saveIdentity(const std::string& state_dir, const Identity& identity) {
  FL_RETURN_IF_ERROR(fs::ensureDir(state_dir, 0700));
  nlohmann::json doc = {
      {"server", identity.server_url},   {"agent_id", identity.agent_id},
      {"secret", identity.secret},       {"tenant", identity.tenant},
      {"tenant_id", identity.tenant_id}, {"enrolled_at", identity.enrolled_at},
  };
  return fs::writeFileAtomic(identityPath(state_dir), doc.dump(2) + "\n", 0600);
}

Result<std::uint64_t> loadOrCreateEpoch(const std::string& state_dir, bool fresh_state) {
  std::string path = fs::join(state_dir, kEpochFile);
  if (!fresh_state) {
    auto text = fs::readFile(path, 64);
    if (text) {
      std::string_view digits = *text;
      while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' ')) {
        digits.remove_suffix(1);
      }
      std::uint64_t epoch = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), epoch);
      if (ec != std::errc() || ptr != digits.data() + digits.size() || epoch == 0) {
        return dataLoss(path + ": not a valid epoch number");
      }
      return epoch;
    }
    if (text.code() != Errc::NotFound) {
      return text.status();
    }
  }
  std::uint64_t epoch = 0;
  while (epoch == 0) {
    std::string hex = crypto::randomHex(8);
    std::from_chars(hex.data(), hex.data() + hex.size(), epoch, 16);
    epoch &= (1ULL << 63) - 1;
  }
  FL_RETURN_IF_ERROR(fs::writeFileAtomic(path, std::to_string(epoch) + "\n", 0600));
  return epoch;
}

}  // namespace faultline::agent
