#include "frazil/maintenance/orphan_files.h"

#include <gtest/gtest.h>

#include <thread>

#include "frazil/app/app_test_fixture.h"
#include "frazil/base/random.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/maintenance/expire_snapshots.h"
#include "frazil/maintenance/reachability.h"

namespace frazil::maintenance {
namespace {

using app::AppTest;

constexpr int64_t kFarFuture = 4'000'000'000'000;

class OrphanTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    Create(id_, SimpleSchema());
    for (int i = 0; i < 4; ++i) {
      Append(id_, "SELECT i AS id, i AS v, 'x' AS name FROM range(" + std::to_string(i * 5) + ", " +
                      std::to_string(i * 5 + 5) + ") t(i)");
    }
    ASSERT_TRUE(app::DeleteWhere(*w_, id_, "id < 3"));
    Append(id_, "SELECT 100 AS id, 1 AS v, 'y' AS name", /*overwrite=*/true);
    auto t = Load(id_);
    // Old snapshots stay in the metadata: their files are referenced and must survive.
    data_dir_ = iceberg::DataDir(t.metadata);
    metadata_dir_ = iceberg::MetadataDir(t.metadata);
  }

  Result<OrphanResult> Remove(OrphanOptions o) {
    return RemoveOrphanFiles(w_->catalog(), w_->io(), w_->clock(), id_, o);
  }
  void Plant(const std::string& location) { ASSERT_TRUE(w_->io().Write(location, "stray")); }
  bool Exists(const std::string& location) { return *w_->io().Exists(location); }

  std::vector<std::string> Referenced() {
    auto t = Load(id_);
    FileSet files;
    EXPECT_TRUE(AddSnapshotFiles(t.metadata, AllSnapshotIds(t.metadata), w_->io(), true, &files));
    std::vector<std::string> out{t.metadata_location};
    for (const auto& e : t.metadata.metadata_log) out.push_back(e.metadata_file);
    for (const auto& [k, f] : files) out.push_back(f.location);
    return out;
  }

  catalog::TableIdentifier id_ = app::Id("ns.t");
  std::string data_dir_, metadata_dir_;
};

TEST_F(OrphanTest, KeepsReferencedFilesAndHonoursTheWindow) {
  const std::string stray_data = io::JoinLocation(data_dir_, "stray.parquet");
  const std::string stray_nested = io::JoinLocation(data_dir_, "p=1/stray2.parquet");
  const std::string stray_meta = io::JoinLocation(metadata_dir_, "00099-lost.metadata.json");
  const std::string outside = io::JoinLocation(w_->root(), "ns/not-this-table.parquet");
  for (const auto& f : {stray_data, stray_nested, stray_meta, outside}) Plant(f);
  auto referenced = Referenced();
  ASSERT_GT(referenced.size(), 20u);

  // Inside the window (files written just now, window 1 hour): nothing is deleted.
  auto r = Remove({.older_than_ms = w_->clock().NowMillis() - 3'600'000});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->orphans.empty());
  EXPECT_EQ(r->too_new, 3);
  EXPECT_EQ(r->files_referenced, static_cast<int64_t>(referenced.size()));
  EXPECT_TRUE(Exists(stray_data));

  // Default window (7 days): nothing either.
  r = Remove({});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->orphans.empty());

  // Window 0 (cutoff in the future): the strays go, referenced files and the file outside stay.
  r = Remove({.older_than_ms = kFarFuture});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->orphans.size(), 3u);
  EXPECT_EQ(r->Failed(), 0);
  EXPECT_EQ(r->Bytes(), 15);
  for (const auto& f : {stray_data, stray_nested, stray_meta}) EXPECT_FALSE(Exists(f)) << f;
  EXPECT_TRUE(Exists(outside));
  for (const auto& f : referenced) EXPECT_TRUE(Exists(f)) << f;
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "1");
  auto first = Load(id_).metadata.snapshots.front().snapshot_id;
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t AT (VERSION => " + std::to_string(first) + ")"), "5");
}

TEST_F(OrphanTest, DryRunDeletesNothing) {
  const std::string stray = io::JoinLocation(data_dir_, "stray.parquet");
  Plant(stray);
  auto r = Remove({.older_than_ms = kFarFuture, .dry_run = true});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->orphans.size(), 1u);
  EXPECT_FALSE(r->orphans[0].deleted);
  EXPECT_TRUE(Exists(stray));
}

TEST_F(OrphanTest, AfterExpiryLeftoversAreOrphansAndMetadataLogIsKept) {
  // Expiry that could not clean up (state unknown) leaves files no snapshot references.
  auto before = Load(id_);
  auto e = ExpireSnapshots(w_->catalog(), w_->io(), w_->clock(), id_,
                           {.older_than_ms = kFarFuture, .retain_last = 1, .dry_run = true});
  ASSERT_TRUE(e) << e.error().ToString();
  ASSERT_FALSE(e->files.empty());
  ASSERT_TRUE(w_->catalog().CommitTable(
      id_, {}, {iceberg::upd::RemoveSnapshots{e->expired_snapshot_ids}}));  // metadata only
  auto referenced = Referenced();
  auto r = Remove({.older_than_ms = kFarFuture});
  ASSERT_TRUE(r) << r.error().ToString();
  // The expired snapshots' manifest lists and manifests are orphans now; their data files
  // too, except those a retained manifest still names in a DELETED entry (kept: orphan
  // removal keeps every file any manifest names).
  std::set<std::string> expected;
  for (const auto& f : e->files) expected.insert(NormalizeLocation(f.file.location));
  for (const auto& o : r->orphans) EXPECT_TRUE(expected.contains(NormalizeLocation(o.info.location))) << o.info.location;
  for (const auto& f : e->files) {
    if (f.file.kind == FileKind::kManifestList || f.file.kind == FileKind::kManifest) {
      EXPECT_FALSE(Exists(f.file.location)) << f.file.location;
    }
  }
  EXPECT_GT(r->orphans.size(), 4u);
  for (const auto& f : referenced) EXPECT_TRUE(Exists(f)) << f;
  // The old metadata files are in the metadata log: kept.
  EXPECT_TRUE(Exists(before.metadata_location));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "1");
}

TEST_F(OrphanTest, CommitDuringTheRunKeepsItsFiles) {
  OrphanOptions o{.older_than_ms = kFarFuture};
  // A writer arriving while orphan removal lists and reads references waits for the lease
  // (so its files cannot be taken for orphans), then commits.
  std::thread writer;
  o.after_listing = [&] { writer = std::thread([&] { Append(id_, "SELECT 200 AS id, 2 AS v, 'z' AS name"); }); };
  auto r = Remove(o);
  writer.join();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->orphans.empty());
  for (const auto& f : Referenced()) EXPECT_TRUE(Exists(f)) << f;
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.t"), "2");
}

}  // namespace
}  // namespace frazil::maintenance

namespace frazil::maintenance {
namespace {

// A catalog that cannot lease (an in-memory one here; a remote REST catalog in practice) must
// not delete files recent enough to belong to a commit in flight.
TEST(OrphanNoLeaseTest, RecentCutoffIsRefusedWithoutAWriteLease) {
  auto dir = std::filesystem::temp_directory_path() / ("frazil-orphan-nolease-" + NewUuid());
  std::filesystem::create_directories(dir);
  std::shared_ptr<io::FileIO> fio(io::NewLocalFileIO());
  catalog::SqliteCatalogOptions o;
  o.path = ":memory:";
  o.warehouse = "file://" + dir.string();
  auto cat = catalog::SqliteCatalog::Make(o, fio);
  ASSERT_TRUE(cat) << cat.error().ToString();
  ASSERT_TRUE((*cat)->CreateNamespace({"ns"}, {}));
  iceberg::Schema schema(0, {iceberg::NestedField{.id = 1, .name = "id", .required = true,
                                                  .type = iceberg::Primitive(iceberg::TypeId::kLong)}});
  auto id = app::Id("ns.t");
  ASSERT_TRUE((*cat)->CreateTable(id, schema, {}, {}, std::nullopt, {}));
  auto lease = (*cat)->AcquireWriteLease(true);
  ASSERT_TRUE(lease);
  ASSERT_EQ(*lease, nullptr);
  const Clock& clock = Clock::System();
  auto refused = RemoveOrphanFiles(**cat, *fio, clock, id, {.older_than_ms = clock.NowMillis()});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("no write lease"), std::string::npos);
  // A dry run and an old enough cutoff are fine.
  EXPECT_TRUE(RemoveOrphanFiles(**cat, *fio, clock, id, {.older_than_ms = clock.NowMillis(), .dry_run = true}));
  EXPECT_TRUE(RemoveOrphanFiles(**cat, *fio, clock, id, {.older_than_ms = clock.NowMillis() - 2 * kMinUnleasedWindowMs}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace frazil::maintenance
