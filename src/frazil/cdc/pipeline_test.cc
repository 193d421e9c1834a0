// The pipeline against a real PostgreSQL, with the replication stream broken on purpose
// (FaultInjectingStream): every reconnect resumes from the committed LSN and no change is
// lost or duplicated.
#include "frazil/cdc/pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/cdc/test_pg_cluster.h"
#include "frazil/engine/table_scan.h"
#include "frazil/iceberg/scan.h"

namespace frazil::cdc {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = TestPgCluster::Start();
    ASSERT_TRUE(pg) << pg.error().ToString();
    pg_ = std::move(*pg);
    dir_ = std::filesystem::temp_directory_path() / ("frazil-pipeline-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    io_ = std::shared_ptr<io::FileIO>(io::NewLocalFileIO());
    catalog::SqliteCatalogOptions o;
    o.path = (dir_ / "catalog.db").string();
    o.warehouse = "file://" + dir_.string();
    auto cat = catalog::SqliteCatalog::Make(o, io_);
    ASSERT_TRUE(cat) << cat.error().ToString();
    catalog_ = std::move(*cat);
    auto db = engine::Database::Open();
    ASSERT_TRUE(db);
    db_ = std::make_unique<engine::Database>(std::move(*db));
    ctx_.catalog = catalog_.get();
    ctx_.io = io_.get();
    ctx_.db = db_.get();
    ctx_.clock = &Clock::System();
    ctx_.spill_dir = (dir_ / "spill").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CdcOptions Options() const {
    CdcOptions o;
    o.conninfo = pg_->conninfo();
    o.tables = {"public.t"};
    o.commit_interval_ms = 20;
    o.stop_at_current_lsn = true;
    o.max_reconnect_wait_ms = 500;
    return o;
  }

  // (rows, distinct ids, snapshot rows) of raw_data.t as committed.
  std::tuple<int64_t, int64_t, int64_t> RawCounts() {
    auto id = catalog::TableIdentifier::Parse("raw_data.t");
    auto table = catalog_->LoadTable(*id);
    EXPECT_TRUE(table) << table.error().ToString();
    auto plan = iceberg::PlanScan(table->metadata, *io_, {});
    EXPECT_TRUE(plan);
    auto scan = engine::ScanSql(plan->schema, plan->tasks, [this](const std::string& l) { return io_->LocalPath(l); });
    EXPECT_TRUE(scan);
    auto con = engine::Connection::Open(*db_);
    auto q = con->Query("SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE _op = 'r') FROM (" + *scan + ")");
    EXPECT_TRUE(q) << q.error().ToString();
    auto rows = q->FetchAll();
    return {std::stoll(*rows[0][0]), std::stoll(*rows[0][1]), std::stoll(*rows[0][2])};
  }

  std::unique_ptr<TestPgCluster> pg_;
  std::filesystem::path dir_;
  std::shared_ptr<io::FileIO> io_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<engine::Database> db_;
  CdcContext ctx_;
};

TEST_F(PipelineTest, BrokenStreamsReconnectWithoutLosingOrDuplicatingChanges) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE t (id int PRIMARY KEY, v text); "
                        "INSERT INTO t SELECT g, 'snap' FROM generate_series(1, 10) g"));
  std::atomic<bool> stop{false};
  {
    Pipeline first(ctx_, Options());  // creates publication and slot, copies the 10 rows
    ASSERT_TRUE(first.Run(stop));
  }
  std::string inserts;
  for (int i = 11; i <= 200; ++i) inserts += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'c');\n";
  ASSERT_TRUE(pg_->Exec(inserts));  // 190 transactions

  int opens = 0;
  Pipeline second(ctx_, Options());
  StreamOptions so{pg_->conninfo(), "frazil_slot", "frazil_pub", true, "frazil-test"};
  second.set_stream_opener([&](Lsn start) -> Result<std::unique_ptr<ReplicationStream>> {
    ++opens;
    FRZ_ASSIGN_OR_RETURN(auto stream, StartPgStream(so, start));
    if (opens > 4) return stream;
    // The first connections break after a few dozen messages, mid-transaction or not.
    return std::unique_ptr<ReplicationStream>(new FaultInjectingStream(std::move(stream), 37 * opens));
  });
  auto ran = second.Run(stop);
  ASSERT_TRUE(ran) << ran.error().ToString();
  EXPECT_GE(opens, 5);
  auto [rows, ids, snapshot_rows] = RawCounts();
  EXPECT_EQ(rows, 200);
  EXPECT_EQ(ids, 200);
  EXPECT_EQ(snapshot_rows, 10);
}

TEST(FakeStreamTest, YieldsItsPayloadsAndRecordsStatuses) {
  FakeReplicationStream fake;
  fake.payloads = {"a", "bc"};
  auto one = fake.Next(0);
  ASSERT_TRUE(one && *one);
  EXPECT_EQ(**one, "a");
  auto two = fake.Next(0);
  ASSERT_TRUE(two && *two);
  EXPECT_EQ(**two, "bc");
  auto none = fake.Next(0);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(fake.SendStatus(42, true));
  ASSERT_EQ(fake.statuses.size(), 1u);
  EXPECT_EQ(fake.statuses[0].first, 42u);
}

TEST(RedactConninfoTest, PasswordsNeverSurvive) {
  EXPECT_EQ(RedactConninfo("host=db password=sekret user=u"), "host=db password=*** user=u");
  EXPECT_EQ(RedactConninfo("postgresql://u:sekret@db:5432/x"), "postgresql://u:***@db:5432/x");
  EXPECT_EQ(RedactConninfo("postgresql://u@db/x?password=sekret&sslmode=require"),
            "postgresql://u@db/x?password=***&sslmode=require");
  EXPECT_EQ(RedactConninfo("host=db password='a b'"), "host=db password=***");
}

}  // namespace
}  // namespace frazil::cdc
