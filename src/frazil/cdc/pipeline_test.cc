// The pipeline against a real PostgreSQL, with the replication stream broken on purpose
// (FaultInjectingStream): every reconnect resumes from the committed LSN and no change is
// lost or duplicated; and the mirror tables it keeps beside the raw tables.
#include "frazil/cdc/pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "frazil/pg/test_pg_cluster.h"
#include "frazil/cdc/test_warehouse.h"
#include "frazil/engine/table_scan.h"
#include "frazil/iceberg/scan.h"

namespace frazil::cdc {
namespace {

using pg::TestPgCluster;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = TestPgCluster::Start();
    ASSERT_TRUE(pg) << pg.error().ToString();
    pg_ = std::move(*pg);
    auto wh = TestWarehouse::Create("frazil-pipeline-" + std::to_string(getpid()));
    ASSERT_TRUE(wh) << wh.error().ToString();
    wh_ = std::move(*wh);
    dir_ = wh_->dir;
    io_ = wh_->io.get();
    catalog_ = wh_->catalog.get();
    db_ = wh_->db.get();
    ctx_ = wh_->ctx;
  }
  void TearDown() override { wh_.reset(); }

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

  // One line per row of `table` as committed ("id|v", ordered), read with DuckDB.
  std::string TableText(const std::string& table, const std::string& columns = "id, v") {
    auto id = catalog::TableIdentifier::Parse(table);
    auto loaded = catalog_->LoadTable(*id);
    EXPECT_TRUE(loaded) << loaded.error().ToString();
    if (!loaded) return "";
    auto plan = iceberg::PlanScan(loaded->metadata, *io_, {});
    EXPECT_TRUE(plan);
    auto scan = engine::ScanSql(plan->schema, plan->tasks, [this](const std::string& l) { return io_->LocalPath(l); });
    EXPECT_TRUE(scan) << scan.error().ToString();
    auto con = engine::Connection::Open(*db_);
    auto q = con->Query("SELECT coalesce(string_agg(concat_ws('|', " + columns + "), chr(10) ORDER BY " + columns +
                        "), '') FROM (" + *scan + ")");
    EXPECT_TRUE(q) << q.error().ToString();
    return q ? q->GetString(0, 0).value_or("") : "";
  }
  std::string SourceText(const std::string& table, const std::string& columns = "id, v") {
    auto out = pg_->Exec("SELECT coalesce(string_agg(concat_ws('|', " + columns + "), chr(10) ORDER BY " + columns +
                         "), '') FROM " + table);
    EXPECT_TRUE(out) << out.error().ToString();
    std::string text = out ? *out : "";
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  // Data and delete files live in a table's current snapshot.
  std::pair<int, int> LiveFiles(const std::string& table) {
    auto loaded = catalog_->LoadTable(*catalog::TableIdentifier::Parse(table));
    const auto* snap = loaded->metadata.current_snapshot();
    if (snap == nullptr) return {0, 0};
    auto live = iceberg::ReadLiveFiles(loaded->metadata, *snap, *io_);
    EXPECT_TRUE(live);
    int data = 0, deletes = 0;
    for (const auto& f : *live) (f.entry.data_file.content == iceberg::FileContent::kData ? data : deletes)++;
    return {data, deletes};
  }

  std::unique_ptr<TestPgCluster> pg_;
  std::unique_ptr<TestWarehouse> wh_;
  std::filesystem::path dir_;
  io::FileIO* io_ = nullptr;
  catalog::Catalog* catalog_ = nullptr;
  engine::Database* db_ = nullptr;
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
  EXPECT_EQ(TableText("mirror.t"), SourceText("t"));
}

// Updates, deletes, key changes (also several within one batch), truncates and re-inserts,
// over many small batches: the mirror equals the source after each run, its small files are
// merged and its mostly-deleted files rewritten, so the live file count stays bounded.
TEST_F(PipelineTest, MirrorEqualsTheSourceThroughKeyChangesTruncatesAndManyBatches) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE t (id int PRIMARY KEY, v text); "
                        "INSERT INTO t SELECT g, 'snap' || g FROM generate_series(1, 50) g"));
  ctx_.mirror.merge_fanin = 4;
  ctx_.mirror.max_delete_files = 3;
  ctx_.mirror.index_dir = (dir_ / "index").string();
  std::atomic<bool> stop{false};
  auto run = [&] {
    Pipeline p(ctx_, Options());
    auto ran = p.Run(stop);
    ASSERT_TRUE(ran) << ran.error().ToString();
  };
  run();
  EXPECT_EQ(TableText("mirror.t"), SourceText("t"));
  std::string work;
  for (int i = 0; i < 60; ++i) {
    std::string n = std::to_string(i);
    work += "UPDATE t SET v = 'u" + n + "' WHERE id % 7 = " + std::to_string(i % 7) + ";\n";
    work += "INSERT INTO t VALUES (" + std::to_string(1000 + i) + ", 'i" + n + "');\n";
    work += "DELETE FROM t WHERE id = " + std::to_string(i + 1) + ";\n";
    if (i % 10 == 5) {
      // The key moves twice in one transaction, and a freed key is taken again.
      work += "BEGIN; UPDATE t SET id = id + 5000 WHERE id = " + std::to_string(1000 + i) + "; UPDATE t SET id = id + 5000 "
              "WHERE id = " + std::to_string(6000 + i) + "; INSERT INTO t VALUES (" + std::to_string(1000 + i) +
              ", 'again'); COMMIT;\n";
    }
    if (i == 30) work += "BEGIN; INSERT INTO t VALUES (-1, 'gone'); TRUNCATE t; INSERT INTO t VALUES (-2, 'kept'); COMMIT;\n";
    work += "SELECT pg_sleep(0.03);\n";  // many separate batches
  }
  ctx_.clock = &Clock::System();
  {
    std::atomic<bool> done{false};
    std::thread writer([&] {
      auto s = pg_->Exec(work);
      EXPECT_TRUE(s) << s.error().ToString();
      done = true;
    });
    CdcOptions o = Options();
    o.stop_at_current_lsn = false;
    Pipeline p(ctx_, o);
    std::thread stopper([&] {
      while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      stop = true;
    });
    auto ran = p.Run(stop);
    writer.join();
    stopper.join();
    ASSERT_TRUE(ran) << ran.error().ToString();
  }
  stop = false;
  run();  // catch up whatever the stop left
  EXPECT_EQ(TableText("mirror.t"), SourceText("t"));
  auto [data, deletes] = LiveFiles("mirror.t");
  EXPECT_LE(data, 12) << "small files are merged";
  EXPECT_LE(deletes, 3) << "delete files are folded";
  // A restart loads the saved index; without it, the index is rebuilt from the table.
  ASSERT_TRUE(std::filesystem::exists(dir_ / "index" / "mirror.t.idx"));
  ASSERT_TRUE(pg_->Exec("UPDATE t SET v = 'after restart' WHERE id % 3 = 0"));
  run();
  EXPECT_EQ(TableText("mirror.t"), SourceText("t"));
  std::filesystem::remove(dir_ / "index" / "mirror.t.idx");
  ASSERT_TRUE(pg_->Exec("UPDATE t SET v = 'after rebuild' WHERE id % 2 = 0; DELETE FROM t WHERE id % 5 = 0"));
  run();
  EXPECT_EQ(TableText("mirror.t"), SourceText("t"));
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
