#include <map>
#include <mutex>

#include "frazil/io/file_io.h"

namespace frazil::io {
namespace {

// Files in a map, for unit tests. Locations are used verbatim as keys.
class MemoryFileIO final : public FileIO {
 public:
  Result<std::string> Read(std::string_view location) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(std::string(location));
    if (it == files_.end()) return MakeError(ErrorKind::kNotFound, "no such file: " + std::string(location));
    return it->second;
  }
  Result<std::string> ReadRange(std::string_view location, int64_t offset, int64_t length) override {
    FRZ_ASSIGN_OR_RETURN(std::string all, Read(location));
    if (offset < 0 || length < 0 || static_cast<size_t>(offset + length) > all.size()) {
      return MakeError(ErrorKind::kCorrupt, "file " + std::string(location) + " is shorter than requested range");
    }
    return all.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
  }
  Status Write(std::string_view location, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    files_[std::string(location)] = std::string(data);
    return Ok();
  }
  Status WriteNew(std::string_view location, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = files_.emplace(std::string(location), std::string(data));
    if (!inserted) return MakeError(ErrorKind::kAlreadyExists, "file already exists: " + std::string(location));
    return Ok();
  }
  Result<bool> Exists(std::string_view location) override {
    std::lock_guard<std::mutex> lock(mu_);
    return files_.count(std::string(location)) > 0;
  }
  Result<int64_t> Size(std::string_view location) override {
    FRZ_ASSIGN_OR_RETURN(std::string all, Read(location));
    return static_cast<int64_t>(all.size());
  }
  Status Delete(std::string_view location) override {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(std::string(location));
    return Ok();
  }
  Result<std::vector<FileInfo>> List(std::string_view prefix) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<FileInfo> out;
    for (auto it = files_.lower_bound(std::string(prefix)); it != files_.end() && it->first.starts_with(prefix); ++it) {
      out.push_back(FileInfo{it->first, static_cast<int64_t>(it->second.size()), 0});
    }
    return out;
  }
  std::string LocalPath(std::string_view) const override { return ""; }

 private:
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> files_;
};

}  // namespace

std::unique_ptr<FileIO> NewMemoryFileIO() { return std::make_unique<MemoryFileIO>(); }

}  // namespace frazil::io
