#include "frazil/maintenance/expire_snapshots.h"

#include <gtest/gtest.h>

#include "frazil/app/app_test_fixture.h"
#include "frazil/catalog/fault_injecting_catalog.h"
#include "frazil/maintenance/reachability.h"

namespace frazil::maintenance {
namespace {

using app::AppTest;
using iceberg::SnapshotRef;

constexpr int64_t kFarFuture = 4'000'000'000'000;  // year 2096

class ExpireTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    Create(id_, SimpleSchema());
  }

  // Appends `n` rows with ids from `first`; returns the new snapshot.
  int64_t AppendRows(int first, int n = 3) {
    return Append(id_, "SELECT i AS id, i * 10 AS v, 'r' || i AS name FROM range(" + std::to_string(first) + ", " +
                           std::to_string(first + n) + ") t(i)")
        .snapshot_id;
  }
  int64_t Overwrite(int first, int n = 3) {
    return Append(id_,
                  "SELECT i AS id, i * 10 AS v, 'r' || i AS name FROM range(" + std::to_string(first) + ", " +
                      std::to_string(first + n) + ") t(i)",
                  /*overwrite=*/true)
        .snapshot_id;
  }

  Result<ExpireResult> Expire(ExpireOptions o, catalog::Catalog* cat = nullptr) {
    return ExpireSnapshots(cat ? *cat : w_->catalog(), w_->io(), w_->clock(), id_, o);
  }

  std::set<int64_t> SnapshotIds() { return AllSnapshotIds(Load(id_).metadata); }

  // Every file a read of any remaining snapshot needs (manifest lists, manifests, live data
  // and delete files) and every metadata file in the log still exists.
  void ExpectReferencedFilesExist() {
    auto t = Load(id_);
    FileSet files;
    ASSERT_TRUE(AddSnapshotFiles(t.metadata, AllSnapshotIds(t.metadata), w_->io(), false, &files));
    for (const auto& [key, f] : files) {
      EXPECT_TRUE(*w_->io().Exists(f.location)) << "referenced file missing: " << f.location;
    }
    for (const auto& e : t.metadata.metadata_log) EXPECT_TRUE(*w_->io().Exists(e.metadata_file));
  }

  // The live data files of a snapshot.
  std::vector<std::string> LiveFiles(int64_t snapshot_id) {
    auto t = Load(id_);
    const auto* s = t.metadata.snapshot_by_id(snapshot_id);
    EXPECT_NE(s, nullptr);
    std::vector<std::string> out;
    if (!s) return out;
    auto live = iceberg::ReadLiveFiles(t.metadata, *s, w_->io());
    EXPECT_TRUE(live);
    for (const auto& f : *live) out.push_back(f.entry.data_file.file_path);
    return out;
  }
  bool Exists(const std::string& location) { return *w_->io().Exists(location); }
  std::string Count() { return SqlValue("SELECT count(*) FROM ns.t"); }

  catalog::TableIdentifier id_ = app::Id("ns.t");
};

TEST_F(ExpireTest, RetainLastKeepsNewestAndRows) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 5; ++i) snaps.push_back(AppendRows(i * 3));
  auto before = Load(id_);
  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 2});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->expired_snapshot_ids, (std::vector<int64_t>{snaps[0], snaps[1], snaps[2]}));
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[3], snaps[4]}));
  EXPECT_EQ(r->Count(FileKind::kManifestList), 3);
  EXPECT_EQ(r->Count(FileKind::kDataFile), 0);  // every appended file is still live
  EXPECT_EQ(r->Failed(), 0);
  EXPECT_GT(r->Bytes(), 0);
  for (const auto& f : r->files) EXPECT_FALSE(Exists(f.file.location)) << f.file.location;
  for (int64_t s : {snaps[0], snaps[1], snaps[2]}) EXPECT_FALSE(Exists(before.metadata.snapshot_by_id(s)->manifest_list));
  EXPECT_EQ(Count(), "15");
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, DefaultsKeepRecentSnapshots) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 3);
  auto r = Expire({});  // older than 5 days: nothing
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->expired_snapshot_ids.empty());
  EXPECT_EQ(r->attempts, 0);
  EXPECT_EQ(SnapshotIds().size(), 3u);
}

TEST_F(ExpireTest, TablePropertiesOverrideDefaults) {
  for (int i = 0; i < 4; ++i) AppendRows(i * 3);
  ASSERT_TRUE(w_->catalog().CommitTable(
      id_, {}, {iceberg::upd::SetProperties{{{kMaxSnapshotAgeProperty, "0"}, {kMinSnapshotsToKeepProperty, "2"}}}}));
  auto r = Expire({});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->retain_last, 2);
  EXPECT_EQ(r->expired_snapshot_ids.size(), 2u);
  EXPECT_EQ(SnapshotIds().size(), 2u);
}

TEST_F(ExpireTest, OlderThanExpiresOnlyOlderSnapshots) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 4; ++i) snaps.push_back(AppendRows(i * 3));
  int64_t cutoff = Load(id_).metadata.snapshot_by_id(snaps[2])->timestamp_ms;
  auto r = Expire({.older_than_ms = cutoff, .retain_last = 1});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[2], snaps[3]}));
  EXPECT_EQ(Count(), "12");
}

TEST_F(ExpireTest, BranchAndTagHeadsAreKept) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 6; ++i) snaps.push_back(AppendRows(i * 3));
  ASSERT_TRUE(app::SetRef(*w_, id_, "t1", snaps[0], /*is_branch=*/false));
  ASSERT_TRUE(app::SetRef(*w_, id_, "b1", snaps[1], /*is_branch=*/true));
  // A branch whose min-snapshots-to-keep protects its head's parent too.
  ASSERT_TRUE(w_->catalog().CommitTable(
      id_, {}, {iceberg::upd::SetSnapshotRef{"b2", SnapshotRef{.snapshot_id = snaps[3], .min_snapshots_to_keep = 2}}}));
  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 1});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[0], snaps[1], snaps[2], snaps[3], snaps[5]}));
  EXPECT_EQ(r->expired_snapshot_ids, (std::vector<int64_t>{snaps[4]}));
  EXPECT_EQ(Load(id_).metadata.refs.size(), 4u);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t AT (VERSION => 't1')"), "3");
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, RetainFromSnapshotKeepsItAndEverythingSince) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 6; ++i) snaps.push_back(AppendRows(i * 3));
  ExpireOptions o{.older_than_ms = kFarFuture, .retain_last = 1};
  o.retain_from_snapshot_ids = {snaps[2], 424242 /* no such snapshot: ignored */};
  auto r = Expire(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->expired_snapshot_ids, (std::vector<int64_t>{snaps[0], snaps[1]}));
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[2], snaps[3], snaps[4], snaps[5]}));
  // An incremental read from snaps[2] still works.
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t AT (VERSION => " + std::to_string(snaps[2]) + ")"), "9");
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, RetainFromSnapshotOffMainKeepsOnlyIt) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 4; ++i) snaps.push_back(AppendRows(i * 3));
  ASSERT_TRUE(app::Rollback(*w_, id_, snaps[1]));  // snaps[2], snaps[3] leave main's history
  int64_t s4 = AppendRows(100);
  ExpireOptions o{.older_than_ms = kFarFuture, .retain_last = 1};
  o.retain_from_snapshot_ids = {snaps[3]};
  auto r = Expire(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[3], s4}));
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, RetainFromOldestSnapshotKeepsEverything) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 4; ++i) snaps.push_back(AppendRows(i * 3));
  ExpireOptions o{.older_than_ms = kFarFuture, .retain_last = 1};
  o.retain_from_snapshot_ids = {snaps[0]};
  auto r = Expire(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->expired_snapshot_ids.empty());
  EXPECT_EQ(r->attempts, 0);
  EXPECT_EQ(SnapshotIds().size(), 4u);
}

TEST_F(ExpireTest, ExpiredTagIsRemovedWithItsSnapshot) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 3; ++i) snaps.push_back(AppendRows(i * 3));
  ASSERT_TRUE(w_->catalog().CommitTable(
      id_, {},
      {iceberg::upd::SetSnapshotRef{"old", SnapshotRef{.snapshot_id = snaps[0], .is_branch = false, .max_ref_age_ms = 1}}}));
  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 1});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->removed_refs, (std::vector<std::string>{"old"}));
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[2]}));
  EXPECT_FALSE(Load(id_).metadata.refs.contains("old"));
}

TEST_F(ExpireTest, DeletesOnlyFilesNoRetainedSnapshotNeeds) {
  int64_t s1 = AppendRows(0);
  auto files1 = LiveFiles(s1);
  ASSERT_TRUE(app::SetRef(*w_, id_, "keep", s1, /*is_branch=*/false));  // s1's files must stay
  int64_t s2 = AppendRows(3);
  auto files2 = LiveFiles(s2);
  auto del = app::DeleteWhere(*w_, id_, "id = 4");
  ASSERT_TRUE(del) << del.error().ToString();
  auto files3 = LiveFiles(del->snapshot_id);
  int64_t s4 = Overwrite(100);
  auto files4 = LiveFiles(s4);
  ASSERT_EQ(files1.size(), 1u);
  ASSERT_EQ(files3.size(), 3u);  // two data files + one position delete file

  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 1});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{s1, s4}));
  EXPECT_TRUE(Exists(files1[0]));  // needed by the tag
  for (const auto& f : files3) {
    if (f != files1[0]) {
      EXPECT_FALSE(Exists(f)) << f;  // s2's data file and the delete file
    }
  }
  for (const auto& f : files4) EXPECT_TRUE(Exists(f));
  EXPECT_EQ(r->Count(FileKind::kDataFile), 1);
  EXPECT_EQ(r->Count(FileKind::kDeleteFile), 1);
  EXPECT_EQ(r->Count(FileKind::kManifestList), 2);
  EXPECT_GE(r->Count(FileKind::kManifest), 2);
  EXPECT_EQ(Count(), "3");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t AT (VERSION => 'keep')"), "3");
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, DryRunChangesNothing) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 3);
  Overwrite(50);
  auto before = Load(id_);
  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 1, .dry_run = true});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->expired_snapshot_ids.size(), 3u);
  EXPECT_EQ(r->Count(FileKind::kDataFile), 3);
  EXPECT_EQ(r->attempts, 0);
  for (const auto& f : r->files) {
    EXPECT_FALSE(f.deleted);
    EXPECT_TRUE(Exists(f.file.location)) << f.file.location;
  }
  EXPECT_EQ(Load(id_).metadata_location, before.metadata_location);
  EXPECT_EQ(SnapshotIds().size(), 4u);
}

TEST_F(ExpireTest, ConcurrentCommitIsRetriedAndKept) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 3; ++i) snaps.push_back(AppendRows(i * 3));
  int64_t concurrent = 0;
  ExpireOptions o{.older_than_ms = kFarFuture, .retain_last = 1};
  o.before_commit = [&] {
    if (concurrent == 0) concurrent = AppendRows(100);  // a second writer moves main
  };
  auto r = Expire(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{concurrent}));
  EXPECT_EQ(r->expired_snapshot_ids.size(), 3u);
  EXPECT_EQ(Count(), "12");
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, ConcurrentRefMoveFailsTheFirstPlan) {
  std::vector<int64_t> snaps;
  for (int i = 0; i < 3; ++i) snaps.push_back(AppendRows(i * 3));
  ASSERT_TRUE(app::SetRef(*w_, id_, "t", snaps[2], /*is_branch=*/false));
  bool moved = false;
  ExpireOptions o{.older_than_ms = kFarFuture, .retain_last = 1};
  o.before_commit = [&] {
    if (!moved) moved = app::SetRef(*w_, id_, "t", snaps[0], false).has_value();  // tag moves to an expiring snapshot
  };
  auto r = Expire(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(SnapshotIds(), (std::set<int64_t>{snaps[0], snaps[2]}));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t AT (VERSION => 't')"), "3");
  ExpectReferencedFilesExist();
}

TEST_F(ExpireTest, CommitStateUnknownDeletesNothing) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 3);
  Overwrite(50);
  auto before = Load(id_);
  catalog::FaultInjectingCatalog faulty(std::shared_ptr<catalog::Catalog>(&w_->catalog(), [](catalog::Catalog*) {}));
  faulty.FailNthCommit(1, catalog::CommitFault::kUnknownAfterSwap);
  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 1}, &faulty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kCommitStateUnknown);
  FileSet all;
  ASSERT_TRUE(AddSnapshotFiles(before.metadata, AllSnapshotIds(before.metadata), w_->io(), true, &all));
  for (const auto& [k, f] : all) EXPECT_TRUE(Exists(f.location)) << f.location;
  // The swap did happen; a second run finds nothing left to expire (its files stay for
  // remove-orphans).
  EXPECT_EQ(SnapshotIds().size(), 1u);
}

TEST_F(ExpireTest, CommitFailedBeforeSwapIsRetried) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 3);
  catalog::FaultInjectingCatalog faulty(std::shared_ptr<catalog::Catalog>(&w_->catalog(), [](catalog::Catalog*) {}));
  faulty.FailNthCommit(1, catalog::CommitFault::kFailBeforeSwap);
  auto r = Expire({.older_than_ms = kFarFuture, .retain_last = 1}, &faulty);
  // A failure before the swap is an IOError, not CommitFailed: nothing is retried or deleted.
  ASSERT_FALSE(r);
  EXPECT_EQ(SnapshotIds().size(), 3u);
  ExpectReferencedFilesExist();
}

TEST(ParseCutoffTest, Forms) {
  const int64_t now = 1'700'000'000'000;
  EXPECT_EQ(*ParseCutoff("7d", now), now - 7 * 86'400'000LL);
  EXPECT_EQ(*ParseCutoff("36h", now), now - 36 * 3'600'000LL);
  EXPECT_EQ(*ParseCutoff("90m", now), now - 90 * 60'000LL);
  EXPECT_EQ(*ParseCutoff("0s", now), now);
  EXPECT_EQ(*ParseCutoff("0", now), now);
  EXPECT_EQ(*ParseCutoff("500ms", now), now - 500);
  EXPECT_EQ(*ParseCutoff("1970-01-02", now), 86'400'000);
  EXPECT_EQ(*ParseCutoff("2023-11-14T22:13:20Z", now), 1'700'000'000'000);
  EXPECT_EQ(*ParseCutoff("2023-11-14 22:13:20.5", now), 1'700'000'000'500);
  EXPECT_EQ(*ParseCutoff("1700000000000", now), 1'700'000'000'000);
  for (const char* bad : {"", "7", "7y", "d", "2023-13-01", "2023-11-14T25:00"}) {
    auto r = ParseCutoff(bad, now);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace frazil::maintenance
