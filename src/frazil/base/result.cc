#include "frazil/base/result.h"

namespace frazil {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "BadRequest";
    case ErrorKind::kNotFound: return "NotFound";
    case ErrorKind::kNoSuchNamespace: return "NoSuchNamespace";
    case ErrorKind::kNoSuchTable: return "NoSuchTable";
    case ErrorKind::kAlreadyExists: return "AlreadyExists";
    case ErrorKind::kNamespaceNotEmpty: return "NamespaceNotEmpty";
    case ErrorKind::kCommitFailed: return "CommitFailed";
    case ErrorKind::kCommitStateUnknown: return "CommitStateUnknown";
    case ErrorKind::kCorrupt: return "Corrupt";
    case ErrorKind::kUnsupported: return "Unsupported";
    case ErrorKind::kIOError: return "IOError";
    case ErrorKind::kInternal: return "Internal";
    case ErrorKind::kNotAuthorized: return "NotAuthorized";
    case ErrorKind::kForbidden: return "Forbidden";
  }
  return "Unknown";
}

std::string Error::ToString() const {
  std::string out(ErrorKindName(kind));
  out += ": ";
  out += message;
  return out;
}

}  // namespace frazil
