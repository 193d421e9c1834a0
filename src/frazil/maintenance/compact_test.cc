#include "frazil/maintenance/compact.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "frazil/app/app_test_fixture.h"
#include "frazil/catalog/fault_injecting_catalog.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/maintenance/reachability.h"

namespace frazil::maintenance {
namespace {

using app::AppTest;
using app::PartitionedTest;

class CompactTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    Create(id_, SimpleSchema());
  }

  int64_t AppendRows(int first, int n = 5) {
    return Append(id_, "SELECT i AS id, i * 10 AS v, 'r' || i AS name FROM range(" + std::to_string(first) + ", " +
                           std::to_string(first + n) + ") t(i)")
        .snapshot_id;
  }
  Result<CompactResult> Compact(CompactOptions o = {}, catalog::Catalog* cat = nullptr) {
    return CompactTable(cat ? *cat : w_->catalog(), w_->io(), w_->db(), w_->clock(), id_, o);
  }
  app::Rows AllRows() { return Sql("SELECT id, v, name FROM ns.t ORDER BY id, v, name"); }

  struct Live {
    std::vector<std::string> data, deletes;
  };
  Live LiveFiles() {
    Live out;
    auto t = Load(id_);
    const auto* s = t.metadata.current_snapshot();
    if (s == nullptr) return out;
    auto live = iceberg::ReadLiveFiles(t.metadata, *s, w_->io());
    EXPECT_TRUE(live);
    for (const auto& f : *live) {
      (f.entry.data_file.content == iceberg::FileContent::kData ? out.data : out.deletes).push_back(f.entry.data_file.file_path);
    }
    return out;
  }
  std::string Operation() { return Summary(id_, "operation"); }
  bool Exists(const std::string& location) { return *w_->io().Exists(location); }
  std::set<std::string> DataDirFiles() {
    std::set<std::string> out;
    auto dir = w_->io().LocalPath(iceberg::DataDir(Load(id_).metadata));
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
      if (it->is_regular_file()) out.insert(it->path().string());
    }
    return out;
  }

  catalog::TableIdentifier id_ = app::Id("ns.t");
};

TEST_F(CompactTest, ManySmallAppendsBecomeOneFile) {
  for (int i = 0; i < 20; ++i) AppendRows(i * 5);
  auto before = AllRows();
  ASSERT_EQ(before.size(), 100u);
  auto old_files = LiveFiles().data;
  ASSERT_EQ(old_files.size(), 20u);

  auto r = Compact();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->groups.size(), 1u);
  EXPECT_EQ(r->rewritten.files, 20);
  EXPECT_EQ(r->rewritten.rows, 100);
  EXPECT_EQ(r->written.files, 1);
  EXPECT_EQ(r->written.rows, 100);
  EXPECT_EQ(r->data_before.files, 20);
  EXPECT_EQ(r->data_after.files, 1);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->target_file_size_bytes, kDefaultTargetFileSize);
  EXPECT_NE(r->snapshot_id, 0);
  EXPECT_EQ(CurrentSnapshot(id_), r->snapshot_id);
  EXPECT_EQ(Operation(), "replace");
  EXPECT_EQ(Summary(id_, "frazil.maintenance"), "compact");
  EXPECT_EQ(Summary(id_, "total-records"), "100");
  EXPECT_EQ(Summary(id_, "total-data-files"), "1");
  EXPECT_EQ(LiveFiles().data.size(), 1u);
  EXPECT_EQ(AllRows(), before);
  // The old files stay until their snapshots expire: time travel still reads them.
  for (const auto& f : old_files) EXPECT_TRUE(Exists(f));

  // Nothing left to do: one file without deletes.
  auto again = Compact();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->groups.empty());
  EXPECT_EQ(again->snapshot_id, 0);
  EXPECT_EQ(CurrentSnapshot(id_), r->snapshot_id);
}

TEST_F(CompactTest, TargetSizeSplitsGroupsAndThresholdSkipsBigFiles) {
  for (int i = 0; i < 6; ++i) AppendRows(i * 5);
  auto live = Load(id_);
  auto files = iceberg::ReadLiveFiles(live.metadata, *live.metadata.current_snapshot(), w_->io());
  ASSERT_TRUE(files);
  int64_t size = (*files)[0].entry.data_file.file_size_in_bytes;
  // Groups of at most three files' bytes.
  auto r = Compact({.target_file_size_bytes = size * 3 + size / 2, .dry_run = true});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->groups.size(), 2u);
  // Files no smaller than the threshold (and without deletes) are not candidates.
  auto none = Compact({.file_size_threshold_bytes = 1});
  ASSERT_TRUE(none) << none.error().ToString();
  EXPECT_TRUE(none->groups.empty());
  EXPECT_EQ(LiveFiles().data.size(), 6u);
}

TEST_F(CompactTest, PositionDeletesAreFoldedIn) {
  for (int i = 0; i < 4; ++i) AppendRows(i * 5);
  ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id IN (1, 2, 7, 13)"));
  auto before = AllRows();
  ASSERT_EQ(before.size(), 16u);
  auto live = LiveFiles();
  ASSERT_EQ(live.deletes.size(), 3u);

  auto r = Compact();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->removed_deletes.files, 3);
  EXPECT_EQ(r->removed_deletes.rows, 4);
  EXPECT_EQ(r->deletes_before.files, 3);
  EXPECT_EQ(r->deletes_after.files, 0);
  EXPECT_EQ(r->rewritten.rows, 20);
  EXPECT_EQ(r->written.rows, 16);
  EXPECT_EQ(r->live_rows, 16);
  auto after = LiveFiles();
  EXPECT_EQ(after.data.size(), 1u);
  EXPECT_TRUE(after.deletes.empty());
  EXPECT_EQ(Summary(id_, "total-delete-files"), "0");
  EXPECT_EQ(Summary(id_, "total-position-deletes"), "0");
  EXPECT_EQ(Summary(id_, "total-records"), "16");
  EXPECT_EQ(AllRows(), before);
}

TEST_F(CompactTest, BigFileWithDeletesIsRewrittenAloneOthersUntouched) {
  AppendRows(0, 10);
  AppendRows(10, 10);
  ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id = 3"));
  auto before = AllRows();
  auto live = LiveFiles();
  ASSERT_EQ(live.data.size(), 2u);
  // No file is "small": only the one with a delete is rewritten, on its own.
  auto r = Compact({.file_size_threshold_bytes = 1});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->groups.size(), 1u);
  EXPECT_EQ(r->groups[0].inputs.size(), 1u);
  EXPECT_EQ(r->groups[0].delete_files, 1);
  EXPECT_EQ(r->written.rows, 9);
  auto after = LiveFiles();
  EXPECT_EQ(after.data.size(), 2u);
  EXPECT_TRUE(after.deletes.empty());
  EXPECT_EQ(AllRows(), before);
  // A threshold of 2 delete files: a file with one is not a candidate.
  ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id = 15"));
  auto r2 = Compact({.file_size_threshold_bytes = 1, .delete_file_threshold = 2});
  ASSERT_TRUE(r2) << r2.error().ToString();
  EXPECT_TRUE(r2->groups.empty());
}

TEST_F(CompactTest, SingleFileIsSkippedUnlessRewriteAll) {
  AppendRows(0, 10);
  auto r = Compact();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->groups.empty());
  EXPECT_EQ(r->attempts, 0);
  auto old = LiveFiles().data;
  auto all = Compact({.rewrite_all = true});
  ASSERT_TRUE(all) << all.error().ToString();
  ASSERT_EQ(all->groups.size(), 1u);
  EXPECT_NE(LiveFiles().data, old);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "10");
}

TEST_F(CompactTest, ConcurrentAppendIsKeptWithoutRewritingAgain) {
  for (int i = 0; i < 5; ++i) AppendRows(i * 5);
  int64_t concurrent = 0;
  CompactOptions o;
  o.before_commit = [&] {
    if (concurrent == 0) concurrent = AppendRows(1000, 3);  // CDC appends meanwhile
  };
  auto r = Compact(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->replans, 0);
  EXPECT_EQ(r->written.files, 1);
  auto t = Load(id_);
  const auto* head = t.metadata.current_snapshot();
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->parent_snapshot_id, concurrent);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "28");
  EXPECT_EQ(SqlValue("SELECT count(DISTINCT id) FROM ns.t"), "28");
  EXPECT_EQ(LiveFiles().data.size(), 2u);  // the compacted file + the concurrent append
  EXPECT_EQ(r->data_after.files, 2);
}

TEST_F(CompactTest, ConcurrentDeleteOnARewrittenFileRestarts) {
  for (int i = 0; i < 5; ++i) AppendRows(i * 5);
  bool deleted = false;
  std::set<std::string> first_outputs;
  CompactOptions o;
  o.before_commit = [&] {
    if (deleted) return;
    deleted = true;
    for (const auto& f : DataDirFiles()) first_outputs.insert(f);
    auto d = app::DeleteWhere(*w_, id_, "id IN (3, 17)");  // rows in two of the files being rewritten
    ASSERT_TRUE(d) << d.error().ToString();
  };
  auto r = Compact(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->replans, 1);
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->written.rows, 23);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "23");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t WHERE id IN (3, 17)"), "0");  // not resurrected
  auto live = LiveFiles();
  EXPECT_EQ(live.data.size(), 1u);
  EXPECT_TRUE(live.deletes.empty());
}

TEST_F(CompactTest, ConcurrentRemovalOfAnInputRestarts) {
  for (int i = 0; i < 4; ++i) AppendRows(i * 5);
  bool done = false;
  CompactOptions o;
  o.before_commit = [&] {
    if (done) return;
    done = true;
    ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id < 5"));  // a whole file goes
  };
  auto r = Compact(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->replans, 1);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "15");
  EXPECT_EQ(SqlValue("SELECT min(id) FROM ns.t"), "5");
}

TEST_F(CompactTest, WrittenFilesAreRemovedWhenCommitsKeepFailing) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 5);
  auto files_before = DataDirFiles();
  int n = 0;
  CompactOptions o;
  o.max_attempts = 3;
  o.before_commit = [&] { AppendRows(500 + 10 * n++, 1); };
  auto r = Compact(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kCommitFailed);
  // Only the concurrent appends' files are new.
  auto files_after = DataDirFiles();
  EXPECT_EQ(files_after.size(), files_before.size() + 3);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "18");
}

TEST_F(CompactTest, CommitStateUnknownDeletesNothing) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 5);
  catalog::FaultInjectingCatalog faulty(std::shared_ptr<catalog::Catalog>(&w_->catalog(), [](catalog::Catalog*) {}));
  faulty.FailNthCommit(1, catalog::CommitFault::kUnknownAfterSwap);
  auto r = Compact({}, &faulty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kCommitStateUnknown);
  // The swap happened: the table reads its compacted file, which must still exist.
  EXPECT_EQ(Operation(), "replace");
  for (const auto& f : LiveFiles().data) EXPECT_TRUE(Exists(f)) << f;
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "15");
}

TEST_F(CompactTest, FailedCommitRemovesWrittenFiles) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 5);
  auto files_before = DataDirFiles();
  catalog::FaultInjectingCatalog faulty(std::shared_ptr<catalog::Catalog>(&w_->catalog(), [](catalog::Catalog*) {}));
  faulty.FailNthCommit(1, catalog::CommitFault::kFailBeforeSwap);
  auto r = Compact({}, &faulty);
  ASSERT_FALSE(r);
  EXPECT_EQ(DataDirFiles(), files_before);
  EXPECT_EQ(Operation(), "append");
}

TEST_F(CompactTest, DryRunChangesNothing) {
  for (int i = 0; i < 4; ++i) AppendRows(i * 5);
  auto before = Load(id_);
  auto files = DataDirFiles();
  auto r = Compact({.dry_run = true});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->dry_run);
  ASSERT_EQ(r->groups.size(), 1u);
  EXPECT_EQ(r->groups[0].inputs.size(), 4u);
  EXPECT_EQ(r->rewritten.files, 4);
  EXPECT_EQ(r->written.files, 0);
  EXPECT_EQ(r->attempts, 0);
  EXPECT_EQ(r->snapshot_id, 0);
  EXPECT_EQ(Load(id_).metadata_location, before.metadata_location);
  EXPECT_EQ(DataDirFiles(), files);
}

TEST_F(CompactTest, FrazilSummaryKeysAreCarried) {
  AppendRows(0);
  app::RowWrite write;
  write.id = id_;
  write.insert_sql = "SELECT 100 AS id, 1 AS v, 'm' AS name";
  write.check_expected = false;
  write.summary = {{"frazil.model", "orders"}, {"frazil.read.raw.orders", "12345"}, {"frazil.run-id", "run-1"},
                   {"other.key", "x"}};
  auto w = app::WriteRows(*w_, *con_, write);
  ASSERT_TRUE(w) << w.error().ToString();
  auto r = Compact();
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_NE(r->snapshot_id, 0);
  EXPECT_EQ(Summary(id_, "frazil.model"), "orders");
  EXPECT_EQ(Summary(id_, "frazil.read.raw.orders"), "12345");
  EXPECT_EQ(Summary(id_, "frazil.run-id"), "run-1");
  EXPECT_EQ(Summary(id_, "frazil.maintenance"), "compact");
  EXPECT_EQ(Summary(id_, "other.key"), "<missing>");
}

TEST_F(CompactTest, MirrorTablesAreRefused) {
  auto mirror = app::Id("ns.m");
  ASSERT_TRUE(app::CreateTable(*w_, mirror, SimpleSchema(), {}, {{"frazil.mirror-of", "raw.m"}}));
  Append(mirror, "SELECT 1 AS id, 1 AS v, 'a' AS name");
  Append(mirror, "SELECT 2 AS id, 2 AS v, 'b' AS name");
  auto r = CompactTable(w_->catalog(), w_->io(), w_->db(), w_->clock(), mirror, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message.find("mirror"), std::string::npos) << r.error().message;
  auto forced = CompactTable(w_->catalog(), w_->io(), w_->db(), w_->clock(), mirror, {.allow_mirror = true});
  ASSERT_TRUE(forced) << forced.error().ToString();
  EXPECT_EQ(forced->written.rows, 2);
}

TEST_F(PartitionedTest, CompactGroupsPerPartition) {
  // Three more appends: every partition now has four small files.
  for (int i = 0; i < 3; ++i) Append(id_, "SELECT * FROM src");
  auto before = Sql("SELECT id, ts, name, cat FROM ns.p ORDER BY ALL");
  auto t = Load(id_);
  auto live = iceberg::ReadLiveFiles(t.metadata, *t.metadata.current_snapshot(), w_->io());
  ASSERT_TRUE(live);
  std::set<std::vector<iceberg::Datum>> partitions;
  for (const auto& f : *live) partitions.insert(f.entry.data_file.partition);
  ASSERT_EQ(live->size(), partitions.size() * 4);

  auto r = CompactTable(w_->catalog(), w_->io(), w_->db(), w_->clock(), id_, {});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->groups.size(), partitions.size());
  for (const auto& g : r->groups) {
    EXPECT_EQ(g.inputs.size(), 4u);
    EXPECT_EQ(g.output.files, 1);
    EXPECT_NE(g.partition.find("ts_day="), std::string::npos) << g.partition;
  }
  auto t2 = Load(id_);
  auto live2 = iceberg::ReadLiveFiles(t2.metadata, *t2.metadata.current_snapshot(), w_->io());
  ASSERT_TRUE(live2);
  EXPECT_EQ(live2->size(), partitions.size());
  std::set<std::vector<iceberg::Datum>> partitions2;
  for (const auto& f : *live2) partitions2.insert(f.entry.data_file.partition);
  EXPECT_EQ(partitions2, partitions);
  EXPECT_EQ(Sql("SELECT id, ts, name, cat FROM ns.p ORDER BY ALL"), before);
}

TEST(CarriedSummaryTest, OnlyFrazilKeys) {
  iceberg::Snapshot s;
  s.summary = {{"operation", "append"}, {"frazil.lsn", "0/1"}, {"frazil.maintenance", "compact"}, {"x", "y"}};
  auto out = CarriedSummary(&s, "rewrite-manifests");
  EXPECT_EQ(out, (std::map<std::string, std::string>{{"frazil.lsn", "0/1"}, {"frazil.maintenance", "rewrite-manifests"}}));
  EXPECT_EQ(CarriedSummary(nullptr, "compact").size(), 1u);
}

}  // namespace
}  // namespace frazil::maintenance
