#include "frazil/catalog/metadata_files.h"

#include <cstdio>

#include "frazil/base/random.h"
#include "frazil/io/file_io.h"

namespace frazil::catalog {

int64_t ParseMetadataVersion(std::string_view metadata_location) {
  size_t slash = metadata_location.rfind('/');
  std::string_view file =
      slash == std::string_view::npos ? metadata_location : metadata_location.substr(slash + 1);
  if (file.starts_with("v")) file.remove_prefix(1);  // Hadoop tables' vN.metadata.json
  size_t end = 0;
  while (end < file.size() && file[end] >= '0' && file[end] <= '9') ++end;
  if (end == 0 || end > 18 || end >= file.size() || (file[end] != '-' && file[end] != '.')) {
    return -1;
  }
  int64_t version = 0;
  for (size_t i = 0; i < end; ++i) version = version * 10 + (file[i] - '0');
  return version;
}

std::string NewMetadataLocation(const iceberg::TableMetadata& metadata, int64_t version) {
  std::string folder = metadata.Property(kMetadataPathProperty, "");
  if (folder.empty()) folder = io::JoinLocation(metadata.location, "metadata");
  char prefix[32];
  std::snprintf(prefix, sizeof(prefix), "%05lld", static_cast<long long>(version));
  return io::JoinLocation(folder, std::string(prefix) + "-" + NewUuid() + ".metadata.json");
}

void AppendMetadataLog(iceberg::TableMetadata* metadata, const std::string& previous_location,
                       int64_t previous_updated_ms) {
  metadata->metadata_log.push_back(
      iceberg::MetadataLogEntry{.timestamp_ms = previous_updated_ms, .metadata_file = previous_location});
  int64_t max = metadata->PropertyInt(kPreviousVersionsMaxProperty, kPreviousVersionsMaxDefault);
  if (max < 1) max = 1;
  auto& log = metadata->metadata_log;
  if (static_cast<int64_t>(log.size()) > max) {
    log.erase(log.begin(), log.end() - max);
  }
}

std::string DefaultTableLocation(std::string_view warehouse, const TableIdentifier& id,
                                 std::string_view namespace_location) {
  std::string root;
  if (!namespace_location.empty()) {
    root = std::string(namespace_location);
  } else {
    root = std::string(warehouse);
    for (const std::string& level : id.ns) root = io::JoinLocation(root, level);
  }
  return io::JoinLocation(root, id.name + "-" + NewUuid());
}

}  // namespace frazil::catalog
