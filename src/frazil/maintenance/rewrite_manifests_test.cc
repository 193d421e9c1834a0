#include "frazil/maintenance/rewrite_manifests.h"

#include <gtest/gtest.h>

#include "frazil/app/app_test_fixture.h"
#include "frazil/catalog/fault_injecting_catalog.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/maintenance/compact.h"

namespace frazil::maintenance {
namespace {

using app::AppTest;

class RewriteManifestsTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    Create(id_, SimpleSchema());
  }

  int64_t AppendRows(int first, int n = 2) {
    return Append(id_, "SELECT i AS id, i * 10 AS v, 'r' || i AS name FROM range(" + std::to_string(first) + ", " +
                           std::to_string(first + n) + ") t(i)")
        .snapshot_id;
  }
  Result<RewriteManifestsResult> Rewrite(RewriteManifestsOptions o = {}, catalog::Catalog* cat = nullptr) {
    return RewriteManifests(cat ? *cat : w_->catalog(), w_->io(), w_->clock(), id_, o);
  }
  app::Rows AllRows() { return Sql("SELECT id, v, name FROM ns.t ORDER BY id, v, name"); }

  // Manifests of the head, per content.
  std::map<iceberg::ManifestContent, int> ManifestCounts() {
    std::map<iceberg::ManifestContent, int> out;
    auto t = Load(id_);
    auto list = iceberg::ReadSnapshotManifests(*t.metadata.current_snapshot(), w_->io());
    EXPECT_TRUE(list);
    for (const auto& mf : *list) out[mf.content]++;
    return out;
  }
  // Every live file of the head with (snapshot id, data sequence number, file sequence number).
  std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> LiveEntries() {
    std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> out;
    auto t = Load(id_);
    auto live = iceberg::ReadLiveFiles(t.metadata, *t.metadata.current_snapshot(), w_->io());
    EXPECT_TRUE(live);
    for (const auto& f : *live) {
      out[f.entry.data_file.file_path] = {f.entry.snapshot_id.value_or(-1), f.entry.sequence_number.value_or(-1),
                                          f.entry.file_sequence_number.value_or(-1)};
    }
    return out;
  }

  // Commits an equality delete of `ids` (on column id).
  void EqualityDelete(const std::string& ids) {
    auto t = Load(id_);
    iceberg::Schema key(0, {app::NestedField{.id = 1, .name = "id", .required = false,
                                             .type = app::Primitive(app::TypeId::kLong)}});
    auto files = engine::WriteParquet(*con_, "SELECT unnest([" + ids + "])::BIGINT AS id", key,
                                      w_->io().LocalPath(iceberg::DataDir(t.metadata)));
    ASSERT_TRUE(files) << files.error().ToString();
    ASSERT_EQ(files->size(), 1u);
    iceberg::DataFile f = (*files)[0];
    f.file_path = io::LocalLocation(f.file_path);
    f.content = iceberg::FileContent::kEqualityDeletes;
    f.equality_ids = {1};
    iceberg::SnapshotChanges c;
    c.added_delete_files = {f};
    auto produced = iceberg::ProduceSnapshot(t.metadata, w_->io(), c, w_->clock().NowMillis());
    ASSERT_TRUE(produced) << produced.error().ToString();
    ASSERT_TRUE(w_->catalog().CommitTable(id_, produced->requirements, produced->updates));
  }

  catalog::TableIdentifier id_ = app::Id("ns.t");
};

TEST_F(RewriteManifestsTest, FiftyAppendsBecomeOneManifest) {
  for (int i = 0; i < 50; ++i) AppendRows(i * 2);
  auto rows = AllRows();
  auto entries = LiveEntries();
  ASSERT_EQ(ManifestCounts()[iceberg::ManifestContent::kData], 50);
  auto head_before = Load(id_).metadata.current_snapshot()->summary;

  auto r = Rewrite();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->manifests_before, 50);
  EXPECT_EQ(r->manifests_after, 1);
  ASSERT_EQ(r->groups.size(), 1u);
  EXPECT_TRUE(r->groups[0].rewritten);
  EXPECT_EQ(r->groups[0].entries, 50);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(CurrentSnapshot(id_), r->snapshot_id);
  EXPECT_EQ(ManifestCounts()[iceberg::ManifestContent::kData], 1);
  EXPECT_EQ(AllRows(), rows);
  EXPECT_EQ(LiveEntries(), entries);  // ids and sequence numbers kept
  EXPECT_EQ(Summary(id_, "operation"), "replace");
  EXPECT_EQ(Summary(id_, "frazil.maintenance"), "rewrite-manifests");
  EXPECT_EQ(Summary(id_, "manifests-replaced"), "50");
  EXPECT_EQ(Summary(id_, "manifests-created"), "1");
  EXPECT_EQ(Summary(id_, "total-records"), head_before["total-records"]);
  EXPECT_EQ(Summary(id_, "total-data-files"), "50");

  // Already one manifest: nothing to do, unless forced.
  auto again = Rewrite();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->snapshot_id, 0);
  auto forced = Rewrite({.force = true});
  ASSERT_TRUE(forced) << forced.error().ToString();
  EXPECT_NE(forced->snapshot_id, 0);
  EXPECT_EQ(AllRows(), rows);
}

TEST_F(RewriteManifestsTest, SmallTargetSplitsIntoSeveralManifests) {
  for (int i = 0; i < 20; ++i) AppendRows(i * 2);
  auto t = Load(id_);
  auto list = iceberg::ReadSnapshotManifests(*t.metadata.current_snapshot(), w_->io());
  ASSERT_TRUE(list);
  // Manifests differ by a few bytes (values, stats): size the target from their total so
  // that exactly four are needed.
  int64_t total = 0;
  for (const auto& mf : *list) total += mf.manifest_length;
  auto r = Rewrite({.target_manifest_size_bytes = total / 4 + 1});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->manifests_after, 4);
  EXPECT_EQ(ManifestCounts()[iceberg::ManifestContent::kData], 4);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "40");
}

TEST_F(RewriteManifestsTest, DeletesStillApplyAfterTheRewrite) {
  for (int i = 0; i < 5; ++i) AppendRows(i * 2);
  ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id = 1"));
  EqualityDelete("2, 5");
  AppendRows(100);
  ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id = 7"));
  // Re-added after the equality delete: its data sequence number is higher, so it stays.
  Append(id_, "SELECT 5 AS id, 55 AS v, 'again' AS name");
  auto rows = AllRows();
  ASSERT_EQ(SqlValue("SELECT count(*) FROM ns.t WHERE id = 5"), "1");
  ASSERT_EQ(SqlValue("SELECT count(*) FROM ns.t WHERE id IN (1, 2, 7)"), "0");
  auto entries = LiveEntries();
  auto counts = ManifestCounts();
  ASSERT_EQ(counts[iceberg::ManifestContent::kDeletes], 3);

  auto r = Rewrite();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->groups.size(), 2u);  // data and deletes, separately
  auto after = ManifestCounts();
  EXPECT_EQ(after[iceberg::ManifestContent::kData], 1);
  EXPECT_EQ(after[iceberg::ManifestContent::kDeletes], 1);
  EXPECT_EQ(LiveEntries(), entries);
  EXPECT_EQ(AllRows(), rows);
  EXPECT_EQ(SqlValue("SELECT name FROM ns.t WHERE id = 5"), "again");
}

TEST_F(RewriteManifestsTest, ManifestsWithoutLiveFilesGoAfterCompaction) {
  for (int i = 0; i < 3; ++i) AppendRows(i * 2);
  ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id = 1"));
  auto c = CompactTable(w_->catalog(), w_->io(), w_->db(), w_->clock(), id_, {});
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(c->removed_deletes.files, 1);
  ASSERT_EQ(ManifestCounts()[iceberg::ManifestContent::kDeletes], 1);  // only a DELETED entry left in it
  auto rows = AllRows();
  auto r = Rewrite();
  ASSERT_TRUE(r) << r.error().ToString();
  auto counts = ManifestCounts();
  EXPECT_EQ(counts[iceberg::ManifestContent::kData], 1);
  EXPECT_EQ(counts[iceberg::ManifestContent::kDeletes], 0);
  EXPECT_EQ(AllRows(), rows);
}

TEST_F(RewriteManifestsTest, ConcurrentAppendIsRetried) {
  for (int i = 0; i < 10; ++i) AppendRows(i * 2);
  int64_t concurrent = 0;
  RewriteManifestsOptions o;
  o.before_commit = [&] {
    if (concurrent == 0) concurrent = AppendRows(500);
  };
  auto r = Rewrite(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->manifests_before, 11);
  EXPECT_EQ(ManifestCounts()[iceberg::ManifestContent::kData], 1);
  EXPECT_EQ(Load(id_).metadata.current_snapshot()->parent_snapshot_id, concurrent);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "22");
}

TEST_F(RewriteManifestsTest, DryRunAndFailuresLeaveTheTable) {
  for (int i = 0; i < 5; ++i) AppendRows(i * 2);
  auto before = Load(id_);
  auto dry = Rewrite({.dry_run = true});
  ASSERT_TRUE(dry) << dry.error().ToString();
  EXPECT_EQ(dry->manifests_before, 5);
  EXPECT_EQ(dry->manifests_after, 1);
  EXPECT_EQ(dry->snapshot_id, 0);
  EXPECT_EQ(Load(id_).metadata_location, before.metadata_location);

  auto list_metadata = [&] {
    auto files = w_->io().List(iceberg::MetadataDir(before.metadata));
    EXPECT_TRUE(files);
    std::set<std::string> out;
    for (const auto& f : *files) {
      if (f.location.ends_with(".avro")) out.insert(f.location);
    }
    return out;
  };
  auto avro_before = list_metadata();
  catalog::FaultInjectingCatalog faulty(std::shared_ptr<catalog::Catalog>(&w_->catalog(), [](catalog::Catalog*) {}));
  faulty.FailNthCommit(1, catalog::CommitFault::kFailBeforeSwap);
  auto failed = Rewrite({}, &faulty);
  ASSERT_FALSE(failed);
  EXPECT_EQ(list_metadata(), avro_before);  // what it wrote is gone

  faulty.FailNthCommit(1, catalog::CommitFault::kUnknownAfterSwap);
  auto unknown = Rewrite({}, &faulty);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::kCommitStateUnknown);
  EXPECT_EQ(ManifestCounts()[iceberg::ManifestContent::kData], 1);  // it did commit, and its files exist
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "10");
}

}  // namespace
}  // namespace frazil::maintenance
