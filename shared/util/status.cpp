#include "shared/util/status.h"

namespace faultline {

std::string_view errcName(Errc code) {
  switch (code) {
    case Errc::Ok: return "ok";
    case Errc::InvalidArgument: return "invalid_argument";
    case Errc::NotFound: return "not_found";
    case Errc::AlreadyExists: return "already_exists";
    case Errc::PermissionDenied: return "permission_denied";
    case Errc::Unauthenticated: return "unauthenticated";
    case Errc::ResourceExhausted: return "resource_exhausted";
    case Errc::FailedPrecondition: return "failed_precondition";
    case Errc::Unavailable: return "unavailable";
    case Errc::DataLoss: return "data_loss";
    case Errc::Internal: return "internal";
  }
  return "unknown";
}

std::string Status::toString() const {
  if (isOk()) {
    return "ok";
  }
  std::string out(errcName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::withContext(std::string_view context) const {
  if (isOk()) {
    return *this;
  }
  std::string message(context);
  message += ": ";
  message += message_;
  return {code_, std::move(message)};
}

}  // namespace faultline
