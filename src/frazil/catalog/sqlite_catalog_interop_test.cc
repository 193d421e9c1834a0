// Driver for tests/resources/catalog/check_layout.py, which proves that PyIceberg's
// SqlCatalog and Spark's JdbcCatalog share a catalog file with frazil. Skipped unless
// FRAZIL_CATALOG_INTEROP_DIR is set; FRAZIL_CATALOG_INTEROP_PHASE selects the step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "frazil/catalog/catalog_test_util.h"
#include "frazil/catalog/sqlite_catalog.h"

namespace frazil::catalog {
namespace {

std::unique_ptr<SqliteCatalog> OpenInteropCatalog(const std::string& dir) {
  SqliteCatalogOptions options;
  options.name = "frazil";
  options.path = dir + "/catalog.db";
  options.warehouse = "file://" + dir + "/warehouse";
  auto catalog = SqliteCatalog::Make(options, io::NewLocalFileIO());
  EXPECT_TRUE(catalog) << catalog.error().ToString();
  return catalog ? std::move(*catalog) : nullptr;
}

TEST(SqliteCatalogInterop, Phase) {
  const char* dir = std::getenv("FRAZIL_CATALOG_INTEROP_DIR");
  const char* phase = std::getenv("FRAZIL_CATALOG_INTEROP_PHASE");
  if (dir == nullptr || phase == nullptr) GTEST_SKIP() << "run by check_layout.py only";
  auto catalog = OpenInteropCatalog(dir);
  ASSERT_TRUE(catalog);
  TableIdentifier frazil_table{{"interop"}, "frazil_table"};

  if (std::string(phase) == "create") {
    // A namespace and a table created by frazil, then one more version by a commit.
    ASSERT_TRUE(catalog->CreateNamespace({"interop"}, {{"comment", "made by frazil"}}));
    auto created = catalog->CreateTable(frazil_table, testing::TestSchema(), {}, {}, std::nullopt,
                                        {{"written-by", "frazil"}});
    ASSERT_TRUE(created) << created.error().ToString();
    auto committed = catalog->CommitTable(frazil_table, {iceberg::req::AssertTableUuid{created->metadata.table_uuid}},
                                          {iceberg::upd::SetProperties{{{"frazil.commit", "1"}}}});
    ASSERT_TRUE(committed) << committed.error().ToString();
    std::printf("FRAZIL created %s at %s\n", frazil_table.ToString().c_str(),
                committed->metadata_location.c_str());
    return;
  }
  ASSERT_EQ(std::string(phase), "verify");
  // Tables the peers created (or committed to) load in frazil, and frazil commits on them.
  auto tables = catalog->ListTables({"interop"});
  ASSERT_TRUE(tables) << tables.error().ToString();
  for (const TableIdentifier& id : *tables) {
    auto loaded = catalog->LoadTable(id);
    ASSERT_TRUE(loaded) << id.ToString() << ": " << loaded.error().ToString();
    std::printf("FRAZIL loaded %s: %zu snapshot(s), metadata %s\n", id.ToString().c_str(),
                loaded->metadata.snapshots.size(), loaded->metadata_location.c_str());
    auto committed = catalog->CommitTable(id, {iceberg::req::AssertTableUuid{loaded->metadata.table_uuid}},
                                          {iceberg::upd::SetProperties{{{"frazil.verified", "true"}}}});
    ASSERT_TRUE(committed) << id.ToString() << ": " << committed.error().ToString();
  }
  for (const char* name : {"frazil_table", "py_table", "spark_table"}) {
    EXPECT_TRUE(std::find(tables->begin(), tables->end(), TableIdentifier{{"interop"}, name}) != tables->end())
        << name;
  }
  auto frazil_loaded = catalog->LoadTable(frazil_table);
  ASSERT_TRUE(frazil_loaded);
  EXPECT_FALSE(frazil_loaded->metadata.snapshots.empty()) << "Spark's insert into frazil_table is missing";
}

}  // namespace
}  // namespace frazil::catalog
