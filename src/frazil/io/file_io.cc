// The FileIO operations with a storage-independent default.
#include <filesystem>

#include "frazil/io/file_io.h"

namespace frazil::io {

Result<std::string> FileIO::WriteDir(std::string_view dir_location) {
  std::string local = LocalPath(dir_location);
  if (local.empty()) {
    return MakeError(ErrorKind::kUnsupported, "cannot write data files under " + std::string(dir_location) +
                                                  ": this storage has no local directory and no staging area");
  }
  return local;
}

Result<std::string> FileIO::Publish(std::string_view /*dir_location*/, const std::string& local_path) {
  return LocalLocation(local_path);
}

Status FileIO::DeleteMany(const std::vector<std::string>& locations) {
  for (const auto& l : locations) FRZ_RETURN_IF_ERROR(Delete(l));
  return Ok();
}

std::map<std::string, std::string> DeleteFiles(FileIO& io, const std::vector<std::string>& locations) {
  std::map<std::string, std::string> failed;
  if (locations.empty() || io.DeleteMany(locations)) return failed;
  for (const auto& l : locations) {
    if (Status s = io.Delete(l); !s) failed[l] = s.error().message;
  }
  return failed;
}

Result<int64_t> FileIO::AbortIncompleteUploads(std::string_view /*prefix*/, int64_t /*before_ms*/) { return 0; }

}  // namespace frazil::io
