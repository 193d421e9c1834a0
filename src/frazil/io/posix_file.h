// What the local and S3 FileIOs share of POSIX files: a descriptor that closes itself and
// the error for a failed system call (NotFound for ENOENT, IOError otherwise).
#pragma once

#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>

#include "frazil/base/result.h"

namespace frazil::io {

// "<what> <path>: <strerror>".
inline Error SysError(std::string_view what, const std::string& path, int err) {
  return Error{err == ENOENT ? ErrorKind::kNotFound : ErrorKind::kIOError,
               std::string(what) + " " + path + ": " + std::strerror(err)};
}

// A file descriptor that closes itself.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace frazil::io
