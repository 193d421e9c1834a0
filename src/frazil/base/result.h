// One error type for all of frazil: Result<T> = std::expected<T, Error>.
// ErrorKind mirrors the Iceberg REST catalog error types so that catalog errors map
// one-to-one onto HTTP responses later. No exception crosses a module boundary.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace frazil {

enum class ErrorKind {
  kInvalidArgument,    // bad input from a user or a file (400 BadRequest)
  kNotFound,           // generic missing thing
  kNoSuchNamespace,    // 404 NoSuchNamespaceException
  kNoSuchTable,        // 404 NoSuchTableException
  kAlreadyExists,      // 409 AlreadyExistsException
  kNamespaceNotEmpty,  // 409 NamespaceNotEmptyException
  kCommitFailed,       // 409 CommitFailedException: a requirement failed, retry possible
  kCommitStateUnknown, // 5xx: a commit may or may not have happened; clean up nothing
  kCorrupt,            // a file frazil reads is malformed or truncated
  kUnsupported,        // a valid input frazil does not support (yet)
  kIOError,            // file system / network failure
  kInternal,           // a bug: an invariant frazil itself broke
  kNotAuthorized,      // 401 NotAuthorizedException: missing or invalid credentials
  kForbidden,          // 403 ForbiddenException: the credentials do not allow this
};

std::string_view ErrorKindName(ErrorKind kind);

struct [[nodiscard]] Error {
  ErrorKind kind;
  std::string message;

  // "CommitFailed: <message>"
  std::string ToString() const;
};

template <typename T>
using Result = std::expected<T, Error>;

// A Result with no value: success or an Error.
using Status = std::expected<void, Error>;

inline std::unexpected<Error> MakeError(ErrorKind kind, std::string message) {
  return std::unexpected<Error>(Error{kind, std::move(message)});
}

inline Status Ok() { return {}; }

}  // namespace frazil

#define FRZ_CONCAT_INNER(a, b) a##b
#define FRZ_CONCAT(a, b) FRZ_CONCAT_INNER(a, b)

// Returns the error of a failed Result/Status from the enclosing function.
#define FRZ_RETURN_IF_ERROR(expr)                              \
  do {                                                         \
    auto&& frz_status_ = (expr);                               \
    if (!frz_status_) return std::unexpected(frz_status_.error()); \
  } while (0)

#define FRZ_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

// FRZ_ASSIGN_OR_RETURN(auto x, MakeX()); assigns the value or returns the error.
#define FRZ_ASSIGN_OR_RETURN(lhs, expr) \
  FRZ_ASSIGN_OR_RETURN_IMPL(FRZ_CONCAT(frz_result_, __LINE__), lhs, expr)
