// Helpers shared by the catalog tests: a temporary warehouse, a one-column schema and a
// commit that appends an (empty) snapshot on top of a given base.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "frazil/base/random.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/io/file_io.h"

namespace frazil::catalog::testing {

// A fresh folder under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("frazil-catalog-" + NewUuid())) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline iceberg::Schema TestSchema() {
  return iceberg::Schema(
      0, {iceberg::NestedField{.id = 1, .name = "id", .required = true,
                               .type = iceberg::Primitive(iceberg::TypeId::kLong)},
          iceberg::NestedField{.id = 2, .name = "name", .required = false,
                               .type = iceberg::Primitive(iceberg::TypeId::kString)}});
}

inline SqliteCatalogOptions TestOptions(const TempDir& dir, std::string name = "frazil") {
  SqliteCatalogOptions options;
  options.name = std::move(name);
  options.path = dir.path() + "/catalog.db";
  options.warehouse = "file://" + dir.path() + "/warehouse";
  return options;
}

// Files directly in `<table location>/metadata` whose name ends with ".metadata.json".
inline std::vector<std::string> MetadataFiles(const iceberg::TableMetadata& metadata) {
  std::vector<std::string> out;
  std::filesystem::path folder(io::StripFileScheme(metadata.location) + "/metadata");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".metadata.json")) out.push_back(entry.path().string());
  }
  return out;
}

// The updates of an append: a new snapshot on top of `base`'s main branch.
inline std::vector<iceberg::TableUpdate> AppendUpdates(const iceberg::TableMetadata& base,
                                                       int64_t* snapshot_id = nullptr) {
  iceberg::Snapshot snapshot;
  snapshot.snapshot_id = NewPositiveId();
  snapshot.parent_snapshot_id = base.current_snapshot_id;
  snapshot.sequence_number = base.last_sequence_number + 1;
  snapshot.timestamp_ms = base.last_updated_ms + 1;
  snapshot.manifest_list = base.location + "/metadata/snap-" + std::to_string(snapshot.snapshot_id) + ".avro";
  snapshot.summary = {{"operation", "append"}};
  snapshot.schema_id = base.current_schema_id;
  if (snapshot_id != nullptr) *snapshot_id = snapshot.snapshot_id;
  iceberg::SnapshotRef ref{.snapshot_id = snapshot.snapshot_id};
  return {iceberg::upd::AddSnapshot{snapshot}, iceberg::upd::SetSnapshotRef{"main", ref}};
}

// Requirement: main is still where `base` had it.
inline std::vector<iceberg::TableRequirement> MainIs(const iceberg::TableMetadata& base) {
  return {iceberg::req::AssertRefSnapshotId{"main", base.current_snapshot_id}};
}

}  // namespace frazil::catalog::testing
