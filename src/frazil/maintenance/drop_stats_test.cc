#include "frazil/maintenance/drop_stats.h"

#include <gtest/gtest.h>

#include "frazil/app/app_test_fixture.h"
#include "frazil/catalog/fault_injecting_catalog.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::maintenance {
namespace {

using app::AppTest;

class DropStatsTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    Create(id_, SimpleSchema());
    s1_ = Append(id_, "SELECT 1 AS id, 1 AS v, 'a' AS name").snapshot_id;
    s2_ = Append(id_, "SELECT 2 AS id, 2 AS v, 'b' AS name").snapshot_id;
  }

  // A statistics file on storage and its metadata entry.
  std::string AddStats(int64_t snapshot_id, bool partition) {
    auto t = Load(id_);
    std::string path = io::JoinLocation(iceberg::MetadataDir(t.metadata),
                                        (partition ? "partition-stats-" : "stats-") + std::to_string(snapshot_id) +
                                            (partition ? ".parquet" : ".puffin"));
    EXPECT_TRUE(w_->io().Write(path, "PFA1 stats"));
    nlohmann::json entry = {{"snapshot-id", snapshot_id}, {"statistics-path", path}, {"file-size-in-bytes", 10}};
    if (!partition) {
      entry["file-footer-size-in-bytes"] = 4;
      entry["blob-metadata"] = nlohmann::json::array();
    }
    iceberg::TableUpdate u = partition ? iceberg::TableUpdate(iceberg::upd::SetPartitionStatistics{entry})
                                       : iceberg::TableUpdate(iceberg::upd::SetStatistics{entry});
    auto c = w_->catalog().CommitTable(id_, {}, {u});
    EXPECT_TRUE(c) << c.error().ToString();
    return path;
  }
  bool Exists(const std::string& location) { return *w_->io().Exists(location); }
  Result<DropStatsResult> Drop(DropStatsOptions o = {}, catalog::Catalog* cat = nullptr) {
    return DropExtendedStats(cat ? *cat : w_->catalog(), w_->io(), id_, o);
  }

  catalog::TableIdentifier id_ = app::Id("ns.t");
  int64_t s1_ = 0, s2_ = 0;
};

TEST_F(DropStatsTest, RemovesEveryEntryAndItsFile) {
  std::string a = AddStats(s1_, false), b = AddStats(s2_, false), p = AddStats(s2_, true);
  ASSERT_TRUE(w_->catalog().CommitTable(
      id_, {}, {iceberg::upd::SetProperties{{{"trino.stats.ndv.1.ndv", "5"}, {"keep.me", "x"}}}}));
  auto r = Drop();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->Bytes(), 30);
  EXPECT_EQ(r->Failed(), 0);
  EXPECT_EQ(r->removed_properties, (std::vector<std::string>{"trino.stats.ndv.1.ndv"}));
  for (const auto& e : r->entries) EXPECT_TRUE(e.deleted) << e.file.location;
  for (const auto& f : {a, b, p}) EXPECT_FALSE(Exists(f)) << f;
  auto t = Load(id_);
  EXPECT_TRUE(t.metadata.statistics.empty());
  EXPECT_TRUE(t.metadata.partition_statistics.empty());
  EXPECT_FALSE(t.metadata.properties.contains("trino.stats.ndv.1.ndv"));
  EXPECT_EQ(t.metadata.properties.at("keep.me"), "x");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "2");

  auto again = Drop();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->entries.empty());
  EXPECT_EQ(again->attempts, 0);
}

TEST_F(DropStatsTest, DryRunChangesNothing) {
  std::string a = AddStats(s1_, false);
  auto before = Load(id_);
  auto r = Drop({.dry_run = true});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].snapshot_id, s1_);
  EXPECT_FALSE(r->entries[0].deleted);
  EXPECT_TRUE(Exists(a));
  EXPECT_EQ(Load(id_).metadata_location, before.metadata_location);
}

TEST_F(DropStatsTest, StatsSetAgainConcurrentlyStayWithTheirFile) {
  std::string a = AddStats(s1_, false);
  bool once = false;
  DropStatsOptions o;
  o.before_commit = [&] {
    if (once) return;
    once = true;
    AddStats(s2_, false);  // a writer adds stats meanwhile
  };
  auto r = Drop(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(Exists(a));
  // Only the planned entry is removed; the new one (not in the plan) stays, with its file.
  auto t = Load(id_);
  ASSERT_EQ(t.metadata.statistics.size(), 1u);
  EXPECT_EQ(t.metadata.statistics[0]["snapshot-id"], s2_);
  EXPECT_TRUE(Exists(t.metadata.statistics[0]["statistics-path"].get<std::string>()));
}

TEST_F(DropStatsTest, CommitStateUnknownDeletesNothing) {
  std::string a = AddStats(s1_, false);
  catalog::FaultInjectingCatalog faulty(std::shared_ptr<catalog::Catalog>(&w_->catalog(), [](catalog::Catalog*) {}));
  faulty.FailNthCommit(1, catalog::CommitFault::kUnknownAfterSwap);
  auto r = Drop({}, &faulty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kCommitStateUnknown);
  EXPECT_TRUE(Exists(a));
}

}  // namespace
}  // namespace frazil::maintenance
