#pragma once

// Status and Result<T>: the error model of the whole code base.
// Shaped like C++23 std::expected; no exceptions on the data path.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace faultline {

/// Coarse error classes: coarse enough for a caller to choose "retry" or "give up".
enum class Errc : std::uint8_t {
  Ok = 0,
  InvalidArgument,     // bad input: never retry the same bytes
  NotFound,            // the thing named does not exist (or is not visible to the caller)
  AlreadyExists,       // unique constraint, token already used
  PermissionDenied,    // authenticated but not allowed
  Unauthenticated,     // missing or wrong credentials
  ResourceExhausted,   // size cap, spool full, rate limit
  FailedPrecondition,  // state does not allow the operation (expired token, ...)
  Unavailable,         // transient: peer down, busy database; retry later
  DataLoss,            // corruption detected
  Internal,            // a bug or an unexpected library failure
};

std::string_view errcName(Errc code);

/// The result of an operation that returns nothing. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool isOk() const { return code_ == Errc::Ok; }
  explicit operator bool() const { return isOk(); }
  Errc code() const { return code_; }
  const std::string& message() const { return message_; }

  /// "invalid_argument: <message>"
  std::string toString() const;

  /// Prefixes the message with context: "open spool: " + message.
  Status withContext(std::string_view context) const;

 private:
  Errc code_ = Errc::Ok;
  std::string message_;
};

/// Shorthand constructors.
inline Status invalidArgument(std::string m) { return {Errc::InvalidArgument, std::move(m)}; }
inline Status notFound(std::string m) { return {Errc::NotFound, std::move(m)}; }
inline Status internalError(std::string m) { return {Errc::Internal, std::move(m)}; }
inline Status unavailable(std::string m) { return {Errc::Unavailable, std::move(m)}; }
inline Status dataLoss(std::string m) { return {Errc::DataLoss, std::move(m)}; }

/// Either a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : value_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  Result(Errc code, std::string message) : value_(Status(code, std::move(message))) {}

  bool isOk() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return isOk(); }

  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &std::get<T>(value_); }
  const T* operator->() const { return &std::get<T>(value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  /// The error; Status::ok() when a value is held.
  Status status() const {
    if (isOk()) {
      return Status::ok();
    }
    return std::get<Status>(value_);
  }
  Errc code() const { return isOk() ? Errc::Ok : std::get<Status>(value_).code(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace faultline

/// Returns early from a function returning Status or Result<T> when `expr` fails.
#define FL_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::faultline::Status fl_status_ = (expr);  \
    if (!fl_status_.isOk()) {                 \
      return fl_status_;                      \
    }                                         \
  } while (false)

#define FL_CONCAT_INNER(a, b) a##b
#define FL_CONCAT(a, b) FL_CONCAT_INNER(a, b)
/// `FL_ASSIGN_OR_RETURN(auto x, makeX());` declares x from a Result or returns its error.
#define FL_ASSIGN_OR_RETURN(decl, expr) \
  FL_ASSIGN_OR_RETURN_IMPL(FL_CONCAT(fl_result_, __LINE__), decl, expr)
#define FL_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                              \
  if (!tmp.isOk()) {                              \
    return tmp.status();                          \
  }                                               \
  decl = std::move(tmp).value()
