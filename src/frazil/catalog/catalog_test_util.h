// Helpers shared by the catalog tests: a temporary warehouse, a one-column schema, a
// commit that appends an (empty) snapshot on top of a given base, and the stores the
// contract tests run against (SQLite file, PostgreSQL server).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "frazil/base/random.h"
#include "frazil/catalog/pg_catalog.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/io/file_io.h"
#include "frazil/pg/test_pg_cluster.h"

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

enum class Store { kSqlite, kPostgres };

inline std::string StoreName(const ::testing::TestParamInfo<Store>& info) {
  return info.param == Store::kSqlite ? "Sqlite" : "Postgres";
}

// The PostgreSQL server every test of the binary shares, started on first use and stopped
// at exit. Tests isolate themselves by catalog name (PgTestOptions).
inline pg::TestPgCluster& SharedPg() {
  static std::unique_ptr<pg::TestPgCluster> cluster = [] {
    auto started = pg::TestPgCluster::Start();
    if (!started) {
      std::fprintf(stderr, "cannot start PostgreSQL: %s\n", started.error().ToString().c_str());
      std::abort();
    }
    return std::move(*started);
  }();
  return *cluster;
}

// The same catalog name and warehouse as TestOptions, on the shared server: the catalog
// name carries the test's folder, so tests never see each other's rows.
inline PostgresCatalogOptions PgTestOptions(const TempDir& dir, std::string name = "frazil") {
  PostgresCatalogOptions options;
  options.conninfo = SharedPg().conninfo();
  options.name = name + "@" + dir.path();
  options.warehouse = "file://" + dir.path() + "/warehouse";
  return options;
}

// A catalog of `store` over `dir` (SQLite: <dir>/catalog.db; PostgreSQL: the shared server).
// Two calls with the same arguments open two instances of the same catalog.
inline Result<std::unique_ptr<JdbcCatalog>> MakeTestCatalog(Store store, const TempDir& dir,
                                                            std::shared_ptr<io::FileIO> file_io,
                                                            std::string name = "frazil") {
  if (store == Store::kSqlite) {
    FRZ_ASSIGN_OR_RETURN(auto catalog, SqliteCatalog::Make(TestOptions(dir, std::move(name)), std::move(file_io)));
    return std::unique_ptr<JdbcCatalog>(std::move(catalog));
  }
  FRZ_ASSIGN_OR_RETURN(auto catalog, PostgresCatalog::Make(PgTestOptions(dir, std::move(name)), std::move(file_io)));
  return std::unique_ptr<JdbcCatalog>(std::move(catalog));
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
