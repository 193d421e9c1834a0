#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "frazil/base/random.h"
#include "frazil/io/file_io.h"
#include "frazil/io/posix_file.h"

namespace frazil::io {
namespace {

namespace fs = std::filesystem;

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(SysError("write", path, errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Ok();
}

Status SyncDir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  if (fd.get() < 0) return std::unexpected(SysError("open dir", dir.string(), errno));
  if (::fsync(fd.get()) != 0) return std::unexpected(SysError("fsync dir", dir.string(), errno));
  return Ok();
}

class LocalFileIO final : public FileIO {
 public:
  Result<std::string> Read(std::string_view location) override {
    std::string path = StripFileScheme(location);
    Fd fd(::open(path.c_str(), O_RDONLY));
    if (fd.get() < 0) return std::unexpected(SysError("open", path, errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return std::unexpected(SysError("stat", path, errno));
    std::string out(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(SysError("read", path, errno));
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }

  Result<std::string> ReadRange(std::string_view location, int64_t offset, int64_t length) override {
    std::string path = StripFileScheme(location);
    Fd fd(::open(path.c_str(), O_RDONLY));
    if (fd.get() < 0) return std::unexpected(SysError("open", path, errno));
    std::string out(static_cast<size_t>(length), '\0');
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::pread(fd.get(), out.data() + got, out.size() - got, offset + static_cast<off_t>(got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(SysError("read", path, errno));
      }
      if (n == 0) {
        return MakeError(ErrorKind::kCorrupt, "file " + path + " is shorter than " +
                                                  std::to_string(offset + length) + " bytes");
      }
      got += static_cast<size_t>(n);
    }
    return out;
  }

  Status Write(std::string_view location, std::string_view data) override {
    return WriteImpl(location, data, /*only_new=*/false);
  }

  Status WriteNew(std::string_view location, std::string_view data) override {
    return WriteImpl(location, data, /*only_new=*/true);
  }

  Result<bool> Exists(std::string_view location) override {
    std::string path = StripFileScheme(location);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return std::unexpected(SysError("stat", path, errno));
  }

  Result<int64_t> Size(std::string_view location) override {
    std::string path = StripFileScheme(location);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::unexpected(SysError("stat", path, errno));
    return static_cast<int64_t>(st.st_size);
  }

  Status Delete(std::string_view location) override {
    std::string path = StripFileScheme(location);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return std::unexpected(SysError("delete", path, errno));
    }
    return Ok();
  }

  Result<std::vector<FileInfo>> List(std::string_view prefix) override {
    std::string root = StripFileScheme(prefix);
    // StripFileScheme only removes a leading part, so the caller's scheme form is the rest:
    // "file:///a" lists as "file:///a/x".
    std::string scheme_prefix(prefix.substr(0, prefix.size() - root.size()));
    std::vector<FileInfo> out;
    std::error_code ec;
    if (!fs::exists(root, ec)) return out;
    for (fs::recursive_directory_iterator it(root, ec), end; it != end && !ec; it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      FileInfo info;
      info.location = scheme_prefix + it->path().string();
      info.size = static_cast<int64_t>(it->file_size(ec));
      auto t = it->last_write_time(ec);
      info.modified_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::file_clock::to_sys(t).time_since_epoch())
                             .count();
      out.push_back(std::move(info));
    }
    if (ec) return MakeError(ErrorKind::kIOError, "list " + root + ": " + ec.message());
    return out;
  }

  std::string LocalPath(std::string_view location) const override { return StripFileScheme(location); }

 private:
  Status WriteImpl(std::string_view location, std::string_view data, bool only_new) {
    fs::path path(StripFileScheme(location));
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return MakeError(ErrorKind::kIOError, "create directory " + path.parent_path().string() + ": " + ec.message());
    // Write to a temp name in the same directory, fsync, then link/rename into place so a
    // reader never sees a partial file and a crash leaves at most a temp file behind.
    fs::path tmp = path;
    tmp += ".tmp-" + NewUuid();
    {
      Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd.get() < 0) return std::unexpected(SysError("create", tmp.string(), errno));
      Status s = WriteAll(fd.get(), data, tmp.string());
      if (s && ::fsync(fd.get()) != 0) s = std::unexpected(SysError("fsync", tmp.string(), errno));
      if (!s) {
        ::unlink(tmp.c_str());
        return s;
      }
    }
    if (only_new) {
      // link(2) fails with EEXIST if the target exists: an atomic create-if-absent.
      int rc = ::link(tmp.c_str(), path.c_str());
      int err = errno;
      ::unlink(tmp.c_str());
      if (rc != 0) {
        if (err == EEXIST) return MakeError(ErrorKind::kAlreadyExists, "file already exists: " + path.string());
        return std::unexpected(SysError("link", path.string(), err));
      }
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return std::unexpected(SysError("rename", path.string(), err));
    }
    return SyncDir(path.parent_path());
  }
};

}  // namespace

std::unique_ptr<FileIO> NewLocalFileIO() { return std::make_unique<LocalFileIO>(); }

std::string LocalLocation(std::string_view local_path) {
  if (local_path.starts_with("file:")) return std::string(local_path);
  return "file://" + std::string(local_path);
}

std::string StripFileScheme(std::string_view location) {
  if (location.starts_with("file:")) {
    location.remove_prefix(5);
    // file:///a -> /a ; file:/a -> /a ; file://host/a is not supported (treated as /host/a)
    size_t slashes = 0;
    while (slashes < location.size() && location[slashes] == '/') ++slashes;
    if (slashes > 1) location.remove_prefix(slashes - 1);
  }
  return std::string(location);
}

std::string JoinLocation(std::string_view base, std::string_view rel) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') out.pop_back();
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  out.push_back('/');
  out.append(rel);
  return out;
}

}  // namespace frazil::io
