// What only the PostgreSQL store has: its DDL and V0 layout on a real server, several
// instances (pools) racing on one table, the advisory-lock write lease across instances,
// connection loss and server restarts, and conninfo passwords kept out of messages. The
// Catalog contract itself runs against both stores in sqlite_catalog_test.cc and
// commit_test.cc.
#include "frazil/catalog/pg_catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "frazil/catalog/catalog_test_util.h"

namespace frazil::catalog {
namespace {

using testing::AppendUpdates;
using testing::MainIs;
using testing::MetadataFiles;
using testing::PgTestOptions;
using testing::SharedPg;
using testing::TempDir;
using testing::TestSchema;

class PostgresCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { file_io_ = io::NewLocalFileIO(); }

  // Another instance (its own pool) of the test's catalog.
  std::unique_ptr<PostgresCatalog> Open(int pool_size = 4, const std::string& app = "frazil-catalog") {
    PostgresCatalogOptions o = PgTestOptions(dir_);
    o.pool_size = pool_size;
    o.application_name = app;
    auto catalog = PostgresCatalog::Make(o, file_io_);
    EXPECT_TRUE(catalog) << catalog.error().ToString();
    return catalog ? std::move(*catalog) : nullptr;
  }

  LoadedTable Create(Catalog& catalog, const TableIdentifier& id) {
    auto created = catalog.CreateTable(id, TestSchema(), {}, {}, std::nullopt, {});
    EXPECT_TRUE(created) << created.error().ToString();
    return created ? *created : LoadedTable{};
  }

  // Terminates the backends of `app` (optionally only those in `state`) and waits until
  // they are gone. Returns how many there were.
  int Terminate(const std::string& app, const std::string& state = "") {
    std::string filter = "application_name = '" + app + "'" + (state.empty() ? "" : " AND state = '" + state + "'");
    auto killed = SharedPg().Exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE " + filter);
    EXPECT_TRUE(killed) << killed.error().ToString();
    for (int i = 0; i < 200; ++i) {
      auto left = SharedPg().Exec("SELECT count(*) FROM pg_stat_activity WHERE " + filter);
      if (left && *left == "0") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return killed ? std::stoi(*killed) : -1;
  }

  TempDir dir_;
  std::shared_ptr<io::FileIO> file_io_;
  TableIdentifier id_{{"db"}, "t"};
};

TEST_F(PostgresCatalogTest, CreatesTheJdbcDdl) {
  auto catalog = Open();
  ASSERT_TRUE(catalog);
  EXPECT_TRUE(catalog->has_type_column());
  auto columns = SharedPg().Exec(
      "SELECT table_name, column_name, data_type, coalesce(character_maximum_length, 0), is_nullable "
      "FROM information_schema.columns WHERE table_name IN ('iceberg_tables', 'iceberg_namespace_properties') "
      "ORDER BY table_name, ordinal_position");
  ASSERT_TRUE(columns) << columns.error().ToString();
  EXPECT_EQ(*columns,
            "iceberg_namespace_properties|catalog_name|character varying|255|NO\n"
            "iceberg_namespace_properties|namespace|character varying|255|NO\n"
            "iceberg_namespace_properties|property_key|character varying|255|NO\n"
            "iceberg_namespace_properties|property_value|character varying|1000|YES\n"
            "iceberg_tables|catalog_name|character varying|255|NO\n"
            "iceberg_tables|table_namespace|character varying|255|NO\n"
            "iceberg_tables|table_name|character varying|255|NO\n"
            "iceberg_tables|metadata_location|character varying|1000|YES\n"
            "iceberg_tables|previous_metadata_location|character varying|1000|YES\n"
            "iceberg_tables|iceberg_type|character varying|5|YES");
  auto pk = SharedPg().Exec(
      "SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey, a.attnum)) FROM pg_index i "
      "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
      "WHERE i.indrelid = 'iceberg_tables'::regclass AND i.indisprimary");
  ASSERT_TRUE(pk);
  EXPECT_EQ(*pk, "catalog_name,table_namespace,table_name");

  // The rows are the JDBC catalog's: what Spark and PyIceberg read.
  ASSERT_TRUE(catalog->CreateNamespace({"db"}, {{"owner", "ann"}}));
  LoadedTable t = Create(*catalog, id_);
  auto committed = catalog->CommitTable(id_, MainIs(t.metadata), AppendUpdates(t.metadata));
  ASSERT_TRUE(committed) << committed.error().ToString();
  auto row = SharedPg().Exec(
      "SELECT table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type "
      "FROM iceberg_tables WHERE catalog_name = '" + catalog->name() + "'");
  ASSERT_TRUE(row);
  EXPECT_EQ(*row, "db|t|" + committed->metadata_location + "|" + t.metadata_location + "|TABLE");
  auto props = SharedPg().Exec("SELECT string_agg(property_key || '=' || property_value, ',' ORDER BY property_key) "
                               "FROM iceberg_namespace_properties WHERE catalog_name = '" + catalog->name() + "'");
  ASSERT_TRUE(props);
  EXPECT_EQ(*props, "exists=true,owner=ann");
}

TEST_F(PostgresCatalogTest, WorksOnAV0LayoutAndIgnoresViews) {
  ASSERT_TRUE(SharedPg().Exec("CREATE DATABASE v0"));
  // The JDBC catalog's V0 DDL (no iceberg_type column).
  ASSERT_TRUE(SharedPg().Exec(
      "CREATE TABLE iceberg_tables(catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, "
      "table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), previous_metadata_location "
      "VARCHAR(1000), PRIMARY KEY (catalog_name, table_namespace, table_name))",
      "v0"));
  PostgresCatalogOptions o = PgTestOptions(dir_);
  o.conninfo = SharedPg().conninfo("v0");
  auto catalog = PostgresCatalog::Make(o, file_io_);
  ASSERT_TRUE(catalog) << catalog.error().ToString();
  EXPECT_FALSE((*catalog)->has_type_column());
  ASSERT_TRUE((*catalog)->CreateNamespace({"db"}, {}));
  LoadedTable t = Create(**catalog, id_);
  auto committed = (*catalog)->CommitTable(id_, MainIs(t.metadata), AppendUpdates(t.metadata));
  ASSERT_TRUE(committed) << committed.error().ToString();
  EXPECT_EQ((*catalog)->LoadTable(id_)->metadata_location, committed->metadata_location);
  auto columns = SharedPg().Exec("SELECT count(*) FROM information_schema.columns WHERE table_name = 'iceberg_tables'", "v0");
  ASSERT_TRUE(columns);
  EXPECT_EQ(*columns, "5");  // not altered

  // V1: a view row of Java's is not a table.
  auto v1 = Open();
  ASSERT_TRUE(v1);
  ASSERT_TRUE(v1->CreateNamespace({"db"}, {}));
  ASSERT_TRUE(SharedPg().Exec("INSERT INTO iceberg_tables VALUES ('" + v1->name() + "', 'db', 'v', '/x.json', NULL, 'VIEW')"));
  EXPECT_TRUE(v1->ListTables({"db"})->empty());
  EXPECT_FALSE(*v1->TableExists(TableIdentifier{{"db"}, "v"}));
  EXPECT_EQ(v1->DropNamespace({"db"}).error().kind, ErrorKind::kNamespaceNotEmpty);
}

TEST_F(PostgresCatalogTest, TwoInstancesRaceOnOneTable) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->CreateNamespace({"db"}, {}));
  LoadedTable base = Create(*a, id_);
  // Both prepared on the same base; b swaps first (from a's hook, between a's file write and
  // its swap). a's compare-and-swap matches no row, it reloads and its requirement fails.
  std::string b_location;
  a->SetCommitHook([&](CommitPoint point) -> Status {
    if (point != CommitPoint::kBeforeSwap || !b_location.empty()) return Ok();
    auto won = b->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
    if (!won) return std::unexpected(won.error());
    b_location = won->metadata_location;
    return Ok();
  });
  auto lost = a->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, ErrorKind::kCommitFailed) << lost.error().ToString();
  EXPECT_EQ(a->LoadTable(id_)->metadata_location, b_location);
  EXPECT_EQ(b->LoadTable(id_)->metadata_location, b_location);
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 2u);  // a deleted its file
}

TEST_F(PostgresCatalogTest, TransactionIsInvisibleUntilCommitAndAllOrNothing) {
  auto a = Open();
  auto other = Open();
  ASSERT_TRUE(a && other);
  ASSERT_TRUE(a->CreateNamespace({"db"}, {}));
  TableIdentifier id_b{{"db"}, "b"};
  LoadedTable ta = Create(*a, id_);
  LoadedTable tb = Create(*a, id_b);
  // Both rows are swapped inside the open transaction: another instance still sees both old
  // pointers. Then the hook fails: both stay old and the new files are gone.
  std::string seen_a, seen_b;
  a->SetCommitHook([&](CommitPoint point) -> Status {
    if (point != CommitPoint::kBeforeCommit) return Ok();
    seen_a = other->LoadTable(id_)->metadata_location;
    seen_b = other->LoadTable(id_b)->metadata_location;
    return MakeError(ErrorKind::kIOError, "injected before COMMIT");
  });
  auto failed = a->CommitTransaction({TableCommit{id_, MainIs(ta.metadata), AppendUpdates(ta.metadata)},
                                      TableCommit{id_b, MainIs(tb.metadata), AppendUpdates(tb.metadata)}});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(seen_a, ta.metadata_location);
  EXPECT_EQ(seen_b, tb.metadata_location);
  EXPECT_EQ(other->LoadTable(id_)->metadata_location, ta.metadata_location);
  EXPECT_EQ(other->LoadTable(id_b)->metadata_location, tb.metadata_location);
  EXPECT_EQ(MetadataFiles(ta.metadata).size(), 1u);
  EXPECT_EQ(MetadataFiles(tb.metadata).size(), 1u);

  // Then both commit together and another instance sees both.
  a->SetCommitHook(nullptr);
  auto both = a->CommitTransaction({TableCommit{id_b, MainIs(tb.metadata), AppendUpdates(tb.metadata)},
                                    TableCommit{id_, MainIs(ta.metadata), AppendUpdates(ta.metadata)}});
  ASSERT_TRUE(both) << both.error().ToString();
  EXPECT_EQ(other->LoadTable(id_b)->metadata_location, (*both)[0].metadata_location);
  EXPECT_EQ(other->LoadTable(id_)->metadata_location, (*both)[1].metadata_location);
}

TEST_F(PostgresCatalogTest, ConcurrentCommitsFromTwoInstancesLoseNothing) {
  auto setup = Open();
  ASSERT_TRUE(setup);
  ASSERT_TRUE(setup->CreateNamespace({"db"}, {}));
  Create(*setup, id_);
  // Two instances, two threads each; one of them with a single pooled connection.
  std::shared_ptr<Catalog> instances[] = {Open(1), Open(4)};
  constexpr int kThreads = 4, kPerThread = 25;
  std::atomic<int> conflicts{0};
  std::string errors[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Catalog& catalog = *instances[t % 2];
      for (int i = 0; i < kPerThread; ++i) {
        while (true) {
          auto current = catalog.LoadTable(id_);
          if (!current) { errors[t] = current.error().ToString(); return; }
          auto done = catalog.CommitTable(id_, MainIs(current->metadata), AppendUpdates(current->metadata));
          if (done) break;
          if (done.error().kind != ErrorKind::kCommitFailed) { errors[t] = done.error().ToString(); return; }
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) ASSERT_EQ(e, "");
  auto final_table = setup->LoadTable(id_);
  ASSERT_TRUE(final_table);
  const iceberg::TableMetadata& m = final_table->metadata;
  EXPECT_EQ(m.snapshots.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(m.Ancestors(*m.current_snapshot_id).size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(m.last_sequence_number, kThreads * kPerThread);
  EXPECT_EQ(MetadataFiles(m).size(), size_t{kThreads * kPerThread + 1});  // losers deleted theirs
  std::printf("conflicts retried: %d\n", conflicts.load());
}

TEST_F(PostgresCatalogTest, ExclusiveLeaseWaitsForSharedLeasesOfAnotherInstance) {
  auto writer = Open();
  auto remover = Open();
  ASSERT_TRUE(writer && remover);
  ASSERT_TRUE(writer->CreateNamespace({"db"}, {}));
  LoadedTable base = Create(*writer, id_);
  auto shared1 = writer->AcquireWriteLease(false);
  auto shared2 = writer->AcquireWriteLease(false);
  ASSERT_TRUE(shared1 && *shared1) << "a PostgreSQL catalog has a lease";
  ASSERT_TRUE(shared2 && *shared2);
  auto held = SharedPg().Exec("SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND granted");
  ASSERT_TRUE(held);
  EXPECT_EQ(*held, "ShareLock");  // one server lock for both shared leases of the instance

  std::atomic<bool> got{false};
  std::thread orphans([&] {
    auto ex = remover->AcquireWriteLease(true);
    ASSERT_TRUE(ex) << ex.error().ToString();
    got = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(got.load()) << "exclusive granted while another instance's writers hold the lease";
  // A writer that holds a lease commits (which takes another shared lease) while the
  // exclusive request waits: it must not queue behind it.
  auto committed = writer->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_TRUE(committed) << committed.error().ToString();
  shared1->reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load());
  shared2->reset();
  for (int i = 0; i < 400 && !got; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(got.load());
  // While the exclusive lease is held, a commit of the other instance waits for it.
  auto start = std::chrono::steady_clock::now();
  auto after = writer->CommitTable(id_, MainIs(committed->metadata), AppendUpdates(committed->metadata));
  ASSERT_TRUE(after) << after.error().ToString();
  orphans.join();
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
  auto left = SharedPg().Exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock'");
  ASSERT_TRUE(left);
  EXPECT_EQ(*left, "0");
}

TEST_F(PostgresCatalogTest, BrokenPooledConnectionsAreReplaced) {
  auto catalog = Open(2, "frazil-catalog-loss");
  ASSERT_TRUE(catalog);
  ASSERT_TRUE(catalog->CreateNamespace({"db"}, {}));
  LoadedTable base = Create(*catalog, id_);
  EXPECT_GE(Terminate("frazil-catalog-loss"), 1);
  // Every call after the loss works on a new connection.
  auto loaded = catalog->LoadTable(id_);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  auto committed = catalog->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_TRUE(committed) << committed.error().ToString();

  // The same after the server restarts (every connection of the pool breaks).
  ASSERT_TRUE(SharedPg().Restart(/*crash=*/false));
  auto after_restart = catalog->LoadTable(id_);
  ASSERT_TRUE(after_restart) << after_restart.error().ToString();
  EXPECT_EQ(after_restart->metadata_location, committed->metadata_location);
  ASSERT_TRUE(catalog->ListTables({"db"}));
}

TEST_F(PostgresCatalogTest, ConnectionLostInsideTheCommitIsNeverSilent) {
  auto catalog = Open(2, "frazil-catalog-midcommit");
  ASSERT_TRUE(catalog);
  ASSERT_TRUE(catalog->CreateNamespace({"db"}, {}));
  LoadedTable base = Create(*catalog, id_);
  // The backend dies with the swap done inside the open transaction, before COMMIT.
  catalog->SetCommitHook([&](CommitPoint point) -> Status {
    if (point == CommitPoint::kBeforeCommit) Terminate("frazil-catalog-midcommit", "idle in transaction");
    return Ok();
  });
  auto lost = catalog->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_FALSE(lost) << "a commit whose connection died reported success";
  EXPECT_TRUE(lost.error().kind == ErrorKind::kCommitStateUnknown || lost.error().kind == ErrorKind::kIOError)
      << lost.error().ToString();
  catalog->SetCommitHook(nullptr);
  auto now = catalog->LoadTable(id_);
  ASSERT_TRUE(now) << now.error().ToString();
  EXPECT_EQ(now->metadata_location, base.metadata_location);  // COMMIT never reached the server
  // Unknown keeps the new file (it might be referenced); a definite failure deletes it.
  EXPECT_EQ(MetadataFiles(base.metadata).size(), lost.error().kind == ErrorKind::kCommitStateUnknown ? 2u : 1u);
  auto retried = catalog->CommitTable(id_, MainIs(now->metadata), AppendUpdates(now->metadata));
  ASSERT_TRUE(retried) << retried.error().ToString();
}

TEST_F(PostgresCatalogTest, CommitAfterTheServerWentAwayFailsDefinitely) {
  TempDir dir;
  auto pg = pg::TestPgCluster::Start();
  ASSERT_TRUE(pg) << pg.error().ToString();
  PostgresCatalogOptions o = PgTestOptions(dir);
  o.conninfo = (*pg)->conninfo();
  auto catalog = PostgresCatalog::Make(o, file_io_);
  ASSERT_TRUE(catalog) << catalog.error().ToString();
  ASSERT_TRUE((*catalog)->CreateNamespace({"db"}, {}));
  LoadedTable base = Create(**catalog, id_);
  ASSERT_TRUE((*pg)->Stop());
  auto failed = (*catalog)->CommitTable(id_, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
  ASSERT_FALSE(failed);
  // Nothing reached the server: a definite failure that deleted its metadata file. (The
  // shared lease's connection is the first to find the server gone.)
  EXPECT_EQ(failed.error().kind, ErrorKind::kIOError) << failed.error().ToString();
  EXPECT_NE(failed.error().message.find((*pg)->port()), std::string::npos) << failed.error().message;
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 1u);
  ASSERT_TRUE((*pg)->StartAgain());
  auto ok = (*catalog)->CommitTable(id_, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
  ASSERT_TRUE(ok) << ok.error().ToString();
}

TEST(PostgresCatalogOptionsTest, ErrorsNeverShowThePassword) {
  for (std::string conninfo : {"host=127.0.0.1 port=1 user=u password=sekret dbname=lake connect_timeout=2",
                               "postgresql://u:sekret@127.0.0.1:1/lake?connect_timeout=2"}) {
    PostgresCatalogOptions o;
    o.conninfo = conninfo;
    o.warehouse = "/tmp/wh";
    auto catalog = PostgresCatalog::Make(o, io::NewLocalFileIO());
    ASSERT_FALSE(catalog);
    EXPECT_EQ(catalog.error().kind, ErrorKind::kIOError);
    EXPECT_EQ(catalog.error().message.find("sekret"), std::string::npos) << catalog.error().message;
    EXPECT_NE(catalog.error().message.find("127.0.0.1"), std::string::npos) << catalog.error().message;
  }
  PostgresCatalogOptions empty;
  EXPECT_EQ(PostgresCatalog::Make(empty, io::NewLocalFileIO()).error().kind, ErrorKind::kInvalidArgument);
  PostgresCatalogOptions no_pool;
  no_pool.conninfo = "host=x";
  no_pool.pool_size = 0;
  EXPECT_EQ(PostgresCatalog::Make(no_pool, io::NewLocalFileIO()).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(PostgresCatalog::LeaseKey("frazil"), PostgresCatalog::LeaseKey("frazil"));
  EXPECT_NE(PostgresCatalog::LeaseKey("frazil"), PostgresCatalog::LeaseKey("other"));
}

// Driver for tests/interop/test_pg_catalog.py (PyIceberg's SqlCatalog on the same
// PostgreSQL database). Skipped unless FRAZIL_PG_CATALOG_CONNINFO, _WAREHOUSE and _PHASE are
// set. Phase "create": a namespace, a table and a commit; "verify": every table of the
// namespace loads and takes a commit, and PyIceberg's commits are there.
TEST(PostgresCatalogInterop, Phase) {
  const char* conninfo = std::getenv("FRAZIL_PG_CATALOG_CONNINFO");
  const char* warehouse = std::getenv("FRAZIL_PG_CATALOG_WAREHOUSE");
  const char* phase = std::getenv("FRAZIL_PG_CATALOG_PHASE");
  if (conninfo == nullptr || warehouse == nullptr || phase == nullptr) {
    GTEST_SKIP() << "run by tests/interop/test_pg_catalog.py only";
  }
  PostgresCatalogOptions o;
  o.conninfo = conninfo;
  o.name = "frazil";
  o.warehouse = warehouse;
  auto made = PostgresCatalog::Make(o, io::NewLocalFileIO());
  ASSERT_TRUE(made) << made.error().ToString();
  PostgresCatalog& catalog = **made;
  TableIdentifier frazil_table{{"interop"}, "frazil_table"};
  if (std::string(phase) == "create") {
    ASSERT_TRUE(catalog.CreateNamespace({"interop"}, {{"comment", "made by frazil"}}));
    auto created = catalog.CreateTable(frazil_table, TestSchema(), {}, {}, std::nullopt, {{"written-by", "frazil"}});
    ASSERT_TRUE(created) << created.error().ToString();
    auto committed = catalog.CommitTable(frazil_table, {iceberg::req::AssertTableUuid{created->metadata.table_uuid}},
                                         {iceberg::upd::SetProperties{{{"frazil.commit", "1"}}}});
    ASSERT_TRUE(committed) << committed.error().ToString();
    std::printf("FRAZIL created %s at %s\n", frazil_table.ToString().c_str(), committed->metadata_location.c_str());
    return;
  }
  ASSERT_EQ(std::string(phase), "verify");
  auto tables = catalog.ListTables({"interop"});
  ASSERT_TRUE(tables) << tables.error().ToString();
  for (const char* name : {"frazil_table", "py_table"}) {
    EXPECT_TRUE(std::find(tables->begin(), tables->end(), TableIdentifier{{"interop"}, name}) != tables->end()) << name;
  }
  for (const TableIdentifier& id : *tables) {
    auto loaded = catalog.LoadTable(id);
    ASSERT_TRUE(loaded) << id.ToString() << ": " << loaded.error().ToString();
    // PyIceberg appended to both tables.
    EXPECT_FALSE(loaded->metadata.snapshots.empty()) << id.ToString();
    auto committed = catalog.CommitTable(id, {iceberg::req::AssertTableUuid{loaded->metadata.table_uuid}},
                                         {iceberg::upd::SetProperties{{{"frazil.verified", "true"}}}});
    ASSERT_TRUE(committed) << id.ToString() << ": " << committed.error().ToString();
    std::printf("FRAZIL verified %s: %zu snapshot(s), metadata %s\n", id.ToString().c_str(),
                committed->metadata.snapshots.size(), committed->metadata_location.c_str());
  }
}

}  // namespace
}  // namespace frazil::catalog
