#include "frazil/catalog/sqlite_catalog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <fstream>

#include "frazil/catalog/catalog_test_util.h"
#include "frazil/catalog/sqlite.h"

namespace frazil::catalog {
namespace {

using testing::MetadataFiles;
using testing::TempDir;
using testing::TestOptions;
using testing::TestSchema;

// The contract tests of the JDBC layout run against every store (SQLite, PostgreSQL).
class JdbcCatalogTest : public ::testing::TestWithParam<testing::Store> {
 protected:
  void SetUp() override {
    file_io_ = io::NewLocalFileIO();
    auto catalog = testing::MakeTestCatalog(GetParam(), dir_, file_io_);
    ASSERT_TRUE(catalog) << catalog.error().ToString();
    catalog_ = std::move(*catalog);
  }

  Result<LoadedTable> Create(const TableIdentifier& id, const Properties& props = {}) {
    return catalog_->CreateTable(id, TestSchema(), iceberg::PartitionSpec{}, iceberg::SortOrder{},
                                 std::nullopt, props);
  }

  TempDir dir_;
  std::shared_ptr<io::FileIO> file_io_;
  std::unique_ptr<JdbcCatalog> catalog_;
};

TEST_P(JdbcCatalogTest, NewFileHasTheV1Layout) {
  EXPECT_TRUE(catalog_->has_type_column());
  if (GetParam() != testing::Store::kSqlite) GTEST_SKIP() << "pg_catalog_test checks the PostgreSQL DDL";
  auto db = sqlite::Database::Open(dir_.path() + "/catalog.db", 1000);
  ASSERT_TRUE(db);
  for (const char* column : {"catalog_name", "table_namespace", "table_name", "metadata_location",
                             "previous_metadata_location", "iceberg_type"}) {
    EXPECT_TRUE(*db->HasColumn("iceberg_tables", column)) << column;
  }
  for (const char* column : {"catalog_name", "namespace", "property_key", "property_value"}) {
    EXPECT_TRUE(*db->HasColumn("iceberg_namespace_properties", column)) << column;
  }
}

TEST_P(JdbcCatalogTest, Namespaces) {
  ASSERT_TRUE(catalog_->CreateNamespace({"Sales"}, {{"owner", "ann"}}));
  ASSERT_TRUE(catalog_->CreateNamespace({"sales", "raw"}, {}));
  ASSERT_TRUE(catalog_->CreateNamespace({"hr"}, {}));
  auto dup = catalog_->CreateNamespace({"SALES"}, {});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::kAlreadyExists);

  auto top = catalog_->ListNamespaces({});
  ASSERT_TRUE(top) << top.error().ToString();
  EXPECT_EQ(*top, (std::vector<Namespace>{{"hr"}, {"sales"}}));
  auto children = catalog_->ListNamespaces({"sales"});
  ASSERT_TRUE(children);
  EXPECT_EQ(*children, (std::vector<Namespace>{{"sales", "raw"}}));
  EXPECT_EQ(catalog_->ListNamespaces({"nope"}).error().kind, ErrorKind::kNoSuchNamespace);

  auto props = catalog_->LoadNamespaceMetadata({"sales"});
  ASSERT_TRUE(props);
  EXPECT_EQ(*props, (Properties{{"exists", "true"}, {"owner", "ann"}}));
  ASSERT_TRUE(catalog_->UpdateNamespaceProperties({"sales"}, {"owner", "exists"}, {{"team", "x"}}));
  props = catalog_->LoadNamespaceMetadata({"sales"});
  EXPECT_EQ(*props, (Properties{{"exists", "true"}, {"team", "x"}}));
  EXPECT_EQ(catalog_->UpdateNamespaceProperties({"sales"}, {"a"}, {{"a", "1"}}).error().kind,
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(catalog_->LoadNamespaceMetadata({"nope"}).error().kind, ErrorKind::kNoSuchNamespace);

  // Not empty: a child namespace, then a table.
  EXPECT_EQ(catalog_->DropNamespace({"sales"}).error().kind, ErrorKind::kNamespaceNotEmpty);
  ASSERT_TRUE(catalog_->DropNamespace({"sales", "raw"}));
  ASSERT_TRUE(Create(TableIdentifier{{"sales"}, "orders"}));
  auto not_empty = catalog_->DropNamespace({"sales"});
  ASSERT_FALSE(not_empty);
  EXPECT_EQ(not_empty.error().kind, ErrorKind::kNamespaceNotEmpty);
  ASSERT_TRUE(catalog_->DropTable(TableIdentifier{{"sales"}, "orders"}, false));
  ASSERT_TRUE(catalog_->DropNamespace({"sales"}));
  EXPECT_FALSE(*catalog_->NamespaceExists({"sales"}));
  EXPECT_TRUE(*catalog_->NamespaceExists({"hr"}));
  EXPECT_EQ(catalog_->DropNamespace({"sales"}).error().kind, ErrorKind::kNoSuchNamespace);
}

TEST_P(JdbcCatalogTest, CreateLoadListDrop) {
  TableIdentifier id{{"db"}, "t"};
  EXPECT_EQ(Create(id).error().kind, ErrorKind::kNoSuchNamespace);
  ASSERT_TRUE(catalog_->CreateNamespace({"db"}, {}));
  auto created = Create(TableIdentifier{{"DB"}, "T"}, {{"format-version", "2"}, {"k", "v"}});
  ASSERT_TRUE(created) << created.error().ToString();
  std::string prefix = "file://" + dir_.path() + "/warehouse/db/t-";
  EXPECT_TRUE(created->metadata.location.starts_with(prefix)) << created->metadata.location;
  EXPECT_TRUE(created->metadata_location.starts_with(created->metadata.location + "/metadata/00000-"))
      << created->metadata_location;
  EXPECT_EQ(created->metadata.properties.count("format-version"), 0u);
  EXPECT_EQ(created->metadata.properties.at("k"), "v");
  EXPECT_TRUE(*file_io_->Exists(created->metadata_location));

  auto loaded = catalog_->LoadTable(id);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(loaded->metadata_location, created->metadata_location);
  EXPECT_EQ(loaded->metadata.table_uuid, created->metadata.table_uuid);
  EXPECT_TRUE(*catalog_->TableExists(id));
  EXPECT_EQ(Create(id).error().kind, ErrorKind::kAlreadyExists);
  EXPECT_EQ(MetadataFiles(created->metadata).size(), 1u);  // the failed create wrote nothing

  auto listed = catalog_->ListTables({"db"});
  ASSERT_TRUE(listed);
  EXPECT_EQ(*listed, (std::vector<TableIdentifier>{id}));

  ASSERT_TRUE(catalog_->DropTable(id, /*purge=*/false));
  EXPECT_EQ(catalog_->LoadTable(id).error().kind, ErrorKind::kNoSuchTable);
  EXPECT_EQ(catalog_->DropTable(id, false).error().kind, ErrorKind::kNoSuchTable);
  EXPECT_TRUE(*file_io_->Exists(created->metadata_location));  // no purge: files stay
}

TEST_P(JdbcCatalogTest, ExplicitLocationAndNamespaceLocation) {
  ASSERT_TRUE(catalog_->CreateNamespace({"db"}, {{"location", "file://" + dir_.path() + "/nsloc/"}}));
  auto a = Create(TableIdentifier{{"db"}, "a"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->metadata.location.starts_with("file://" + dir_.path() + "/nsloc/a-")) << a->metadata.location;
  auto b = catalog_->CreateTable(TableIdentifier{{"db"}, "b"}, TestSchema(), {}, {},
                                 "file://" + dir_.path() + "/explicit/", {});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->metadata.location, "file://" + dir_.path() + "/explicit");
}

TEST_P(JdbcCatalogTest, RenameAndRegister) {
  ASSERT_TRUE(catalog_->CreateNamespace({"a"}, {}));
  ASSERT_TRUE(catalog_->CreateNamespace({"b"}, {}));
  TableIdentifier from{{"a"}, "t"}, to{{"b"}, "u"};
  auto created = Create(from);
  ASSERT_TRUE(created);
  ASSERT_TRUE(Create(TableIdentifier{{"b"}, "taken"}));
  EXPECT_EQ(catalog_->RenameTable(from, TableIdentifier{{"b"}, "taken"}).error().kind,
            ErrorKind::kAlreadyExists);
  EXPECT_EQ(catalog_->RenameTable(from, TableIdentifier{{"nope"}, "t"}).error().kind,
            ErrorKind::kNoSuchNamespace);
  EXPECT_EQ(catalog_->RenameTable(TableIdentifier{{"a"}, "missing"}, to).error().kind,
            ErrorKind::kNoSuchTable);
  ASSERT_TRUE(catalog_->RenameTable(from, to));
  EXPECT_FALSE(*catalog_->TableExists(from));
  auto moved = catalog_->LoadTable(to);
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->metadata_location, created->metadata_location);

  TableIdentifier copy{{"a"}, "copy"};
  auto registered = catalog_->RegisterTable(copy, created->metadata_location);
  ASSERT_TRUE(registered) << registered.error().ToString();
  EXPECT_EQ(registered->metadata.table_uuid, created->metadata.table_uuid);
  EXPECT_EQ(catalog_->RegisterTable(copy, created->metadata_location).error().kind,
            ErrorKind::kAlreadyExists);
  EXPECT_EQ(catalog_->RegisterTable(TableIdentifier{{"a"}, "x"}, dir_.path() + "/missing.json").error().kind,
            ErrorKind::kNotFound);
  EXPECT_EQ(catalog_->RegisterTable(TableIdentifier{{"nope"}, "x"}, created->metadata_location).error().kind,
            ErrorKind::kNoSuchNamespace);
}

TEST_P(JdbcCatalogTest, PurgeDeletesTableFiles) {
  ASSERT_TRUE(catalog_->CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"};
  auto created = Create(id);
  ASSERT_TRUE(created);
  auto committed = catalog_->CommitTable(id, {}, testing::AppendUpdates(created->metadata));
  ASSERT_TRUE(committed) << committed.error().ToString();
  std::string data_file = created->metadata.location + "/data/part-0.parquet";
  ASSERT_TRUE(file_io_->Write(data_file, "not really parquet"));
  std::string other_table_file = "file://" + dir_.path() + "/warehouse/db/other/data/x.parquet";
  ASSERT_TRUE(file_io_->Write(other_table_file, "x"));

  ASSERT_TRUE(catalog_->DropTable(id, /*purge=*/true));
  EXPECT_FALSE(*file_io_->Exists(created->metadata_location));
  EXPECT_FALSE(*file_io_->Exists(committed->metadata_location));
  EXPECT_FALSE(*file_io_->Exists(data_file));
  EXPECT_TRUE(*file_io_->Exists(other_table_file));
  EXPECT_FALSE(*catalog_->TableExists(id));
}

TEST_P(JdbcCatalogTest, CorruptMetadataFileIsReportedByName) {
  ASSERT_TRUE(catalog_->CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"};
  auto created = Create(id);
  ASSERT_TRUE(created);
  ASSERT_TRUE(file_io_->Write(created->metadata_location, "{\"format-version\": 2, \"tab"));
  auto loaded = catalog_->LoadTable(id);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(loaded.error().message.find(created->metadata_location), std::string::npos)
      << loaded.error().message;
  // A commit on a corrupt table fails the same way and writes nothing.
  auto commit = catalog_->CommitTable(id, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
  ASSERT_FALSE(commit);
  EXPECT_EQ(commit.error().kind, ErrorKind::kCorrupt);
}

TEST_P(JdbcCatalogTest, SecondCatalogNameIsIsolated) {
  ASSERT_TRUE(catalog_->CreateNamespace({"db"}, {}));
  ASSERT_TRUE(Create(TableIdentifier{{"db"}, "t"}));
  auto other = testing::MakeTestCatalog(GetParam(), dir_, file_io_, "other");
  ASSERT_TRUE(other);
  EXPECT_TRUE((*other)->ListNamespaces({})->empty());
  EXPECT_FALSE(*(*other)->TableExists(TableIdentifier{{"db"}, "t"}));
}

TEST_P(JdbcCatalogTest, WriteLeaseExclusiveWaitsForWritersAndBlocksCommits) {
  auto shared1 = catalog_->AcquireWriteLease(false);
  auto shared2 = catalog_->AcquireWriteLease(false);  // writers do not wait for each other
  ASSERT_TRUE(shared1 && *shared1) << "a file-backed catalog has a lease";
  ASSERT_TRUE(shared2 && *shared2);
  std::atomic<bool> got{false};
  std::thread orphans([&] {
    auto ex = catalog_->AcquireWriteLease(true);
    ASSERT_TRUE(ex) << ex.error().ToString();
    got = true;
    // While it is held, a commit (which writes a metadata file) waits.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto exists = catalog_->TableExists(TableIdentifier{{"ns"}, "t"});
    ASSERT_TRUE(exists);
    EXPECT_FALSE(*exists) << "a table was created while the exclusive lease was held";
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load()) << "exclusive granted while writers hold the lease";
  shared1->reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got.load());
  shared2->reset();
  for (int i = 0; i < 200 && !got; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(got.load());
  ASSERT_TRUE(catalog_->CreateNamespace({"ns"}, {}));
  ASSERT_TRUE(Create(TableIdentifier{{"ns"}, "t"}));  // waits for the exclusive holder, then works
  EXPECT_TRUE(*catalog_->TableExists(TableIdentifier{{"ns"}, "t"}));
  orphans.join();
}

INSTANTIATE_TEST_SUITE_P(Stores, JdbcCatalogTest,
                         ::testing::Values(testing::Store::kSqlite, testing::Store::kPostgres),
                         testing::StoreName);

TEST(SqliteCatalogLeaseTest, InMemoryCatalogHasNoLease) {
  SqliteCatalogOptions o;
  o.path = ":memory:";
  o.name = "c";
  o.warehouse = "memory://wh";
  auto c = SqliteCatalog::Make(o, io::NewMemoryFileIO());
  ASSERT_TRUE(c) << c.error().ToString();
  auto lease = (*c)->AcquireWriteLease(true);
  ASSERT_TRUE(lease);
  EXPECT_EQ(*lease, nullptr);
}

TEST(SqliteCatalogLayoutTest, WorksOnAV0FileAndIgnoresViews) {
  TempDir dir;
  {
    auto db = sqlite::Database::Open(dir.path() + "/catalog.db", 1000);
    ASSERT_TRUE(db);
    // The JDBC catalog's V0 DDL (no iceberg_type column).
    ASSERT_TRUE(db->Exec(
        "CREATE TABLE iceberg_tables(catalog_name VARCHAR(255) NOT NULL,table_namespace VARCHAR(255) "
        "NOT NULL,table_name VARCHAR(255) NOT NULL,metadata_location VARCHAR(1000),"
        "previous_metadata_location VARCHAR(1000),PRIMARY KEY (catalog_name, table_namespace, "
        "table_name))",
        "test"));
  }
  auto catalog = SqliteCatalog::Make(TestOptions(dir), io::NewLocalFileIO());
  ASSERT_TRUE(catalog) << catalog.error().ToString();
  EXPECT_FALSE((*catalog)->has_type_column());
  ASSERT_TRUE((*catalog)->CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"};
  auto created = (*catalog)->CreateTable(id, TestSchema(), {}, {}, std::nullopt, {});
  ASSERT_TRUE(created) << created.error().ToString();
  auto committed = (*catalog)->CommitTable(id, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
  ASSERT_TRUE(committed) << committed.error().ToString();

  TempDir dir1;
  auto v1 = SqliteCatalog::Make(TestOptions(dir1), io::NewLocalFileIO());
  ASSERT_TRUE(v1);
  ASSERT_TRUE((*v1)->CreateNamespace({"db"}, {}));
  {
    auto db = sqlite::Database::Open(dir1.path() + "/catalog.db", 1000);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec("INSERT INTO iceberg_tables VALUES ('frazil', 'db', 'v', '/x.json', NULL, 'VIEW')",
                         "test"));
  }
  EXPECT_TRUE((*v1)->ListTables({"db"})->empty());
  EXPECT_FALSE(*(*v1)->TableExists(TableIdentifier{{"db"}, "v"}));
  EXPECT_EQ((*v1)->DropNamespace({"db"}).error().kind, ErrorKind::kNamespaceNotEmpty);
}

}  // namespace
}  // namespace frazil::catalog
