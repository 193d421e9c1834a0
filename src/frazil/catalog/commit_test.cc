// The commit path: compare-and-swap, retries, requirement failures, metadata-log, faults.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "frazil/catalog/catalog_test_util.h"
#include "frazil/catalog/fault_injecting_catalog.h"
#include "frazil/catalog/sqlite_catalog.h"

namespace frazil::catalog {
namespace {

using testing::AppendUpdates;
using testing::MainIs;
using testing::MetadataFiles;
using testing::TempDir;
using testing::TestSchema;

// Every store of the JDBC layout passes the same commit tests.
class CommitTest : public ::testing::TestWithParam<testing::Store> {
 protected:
  void SetUp() override {
    file_io_ = io::NewLocalFileIO();
    catalog_ = Open();
    ASSERT_TRUE(catalog_->CreateNamespace({"db"}, {}));
  }

  std::shared_ptr<JdbcCatalog> Open() {
    auto catalog = testing::MakeTestCatalog(GetParam(), dir_, file_io_);
    EXPECT_TRUE(catalog) << catalog.error().ToString();
    return std::shared_ptr<JdbcCatalog>(std::move(*catalog));
  }

  LoadedTable Create(const Properties& props = {}) {
    auto created = catalog_->CreateTable(id_, TestSchema(), {}, {}, std::nullopt, props);
    EXPECT_TRUE(created) << created.error().ToString();
    return *created;
  }

  TempDir dir_;
  std::shared_ptr<io::FileIO> file_io_;
  std::shared_ptr<JdbcCatalog> catalog_;
  TableIdentifier id_{{"db"}, "t"};
};

TEST_P(CommitTest, CommitWritesNextVersionAndSwapsPointer) {
  LoadedTable base = Create();
  int64_t snapshot_id = 0;
  auto committed = catalog_->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata, &snapshot_id));
  ASSERT_TRUE(committed) << committed.error().ToString();
  EXPECT_TRUE(committed->metadata_location.starts_with(base.metadata.location + "/metadata/00001-"))
      << committed->metadata_location;
  EXPECT_EQ(committed->metadata.current_snapshot_id, snapshot_id);
  ASSERT_EQ(committed->metadata.metadata_log.size(), 1u);
  EXPECT_EQ(committed->metadata.metadata_log[0].metadata_file, base.metadata_location);
  auto loaded = catalog_->LoadTable(id_);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->metadata_location, committed->metadata_location);
  EXPECT_EQ(loaded->metadata.current_snapshot_id, snapshot_id);

  // An empty commit changes nothing and writes nothing.
  auto noop = catalog_->CommitTable(id_, MainIs(loaded->metadata), {});
  ASSERT_TRUE(noop);
  EXPECT_EQ(noop->metadata_location, committed->metadata_location);
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 2u);
}

TEST_P(CommitTest, FailedRequirementLeavesTableUnchanged) {
  LoadedTable base = Create();
  ASSERT_TRUE(catalog_->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata)));
  auto current = catalog_->LoadTable(id_);
  ASSERT_TRUE(current);
  // A writer still on the old base.
  auto stale = catalog_->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().kind, ErrorKind::kCommitFailed);
  auto after = catalog_->LoadTable(id_);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->metadata_location, current->metadata_location);
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 2u);
}

TEST_P(CommitTest, LostRaceRechecksRequirementsAndDeletesItsFile) {
  LoadedTable base = Create();
  auto rival = Open();
  std::string rival_location;
  // Between writing its metadata file and the swap, another catalog commits.
  catalog_->SetCommitHook([&](CommitPoint point) -> Status {
    if (point != CommitPoint::kBeforeSwap || !rival_location.empty()) return Ok();
    auto won = rival->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
    if (!won) return std::unexpected(won.error());
    rival_location = won->metadata_location;
    return Ok();
  });
  auto lost = catalog_->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, ErrorKind::kCommitFailed) << lost.error().ToString();
  ASSERT_FALSE(rival_location.empty());
  EXPECT_EQ(catalog_->LoadTable(id_)->metadata_location, rival_location);
  // Only the create's and the rival's files remain: the loser deleted its orphan.
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 2u);
}

TEST_P(CommitTest, LostRaceWithoutConflictIsRetried) {
  LoadedTable base = Create();
  auto rival = Open();
  bool rival_done = false;
  catalog_->SetCommitHook([&](CommitPoint point) -> Status {
    if (point != CommitPoint::kBeforeSwap || rival_done) return Ok();
    rival_done = true;
    auto won = rival->CommitTable(id_, {}, {iceberg::upd::SetProperties{{{"rival", "1"}}}});
    if (!won) return std::unexpected(won.error());
    return Ok();
  });
  // No requirement: after losing the swap it reapplies on the rival's metadata.
  auto committed = catalog_->CommitTable(id_, {}, {iceberg::upd::SetProperties{{{"mine", "1"}}}});
  ASSERT_TRUE(committed) << committed.error().ToString();
  EXPECT_EQ(committed->metadata.properties.at("rival"), "1");
  EXPECT_EQ(committed->metadata.properties.at("mine"), "1");
  EXPECT_TRUE(committed->metadata_location.starts_with(base.metadata.location + "/metadata/00002-"));
  EXPECT_EQ(committed->metadata.metadata_log.size(), 2u);
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 3u);
}

TEST_P(CommitTest, ConcurrentWritersLoseNoCommit) {
  LoadedTable base = Create();
  constexpr int kPerThread = 50;
  std::atomic<int> conflicts{0};
  auto writer = [&](std::shared_ptr<Catalog> catalog, std::string* error) {
    for (int i = 0; i < kPerThread; ++i) {
      while (true) {
        auto current = catalog->LoadTable(id_);
        if (!current) { *error = current.error().ToString(); return; }
        auto done = catalog->CommitTable(id_, MainIs(current->metadata), AppendUpdates(current->metadata));
        if (done) break;
        if (done.error().kind != ErrorKind::kCommitFailed) { *error = done.error().ToString(); return; }
        ++conflicts;
      }
    }
  };
  std::string error1, error2;
  std::thread t1(writer, Open(), &error1);
  std::thread t2(writer, Open(), &error2);
  t1.join();
  t2.join();
  ASSERT_EQ(error1, "");
  ASSERT_EQ(error2, "");

  auto final_table = catalog_->LoadTable(id_);
  ASSERT_TRUE(final_table);
  const iceberg::TableMetadata& m = final_table->metadata;
  EXPECT_EQ(m.snapshots.size(), 2u * kPerThread);
  ASSERT_TRUE(m.current_snapshot_id);
  auto chain = m.Ancestors(*m.current_snapshot_id);
  EXPECT_EQ(chain.size(), 2u * kPerThread);  // parent chain intact back to the first snapshot
  EXPECT_FALSE(chain.back()->parent_snapshot_id);
  EXPECT_EQ(m.last_sequence_number, 2 * kPerThread);
  EXPECT_EQ(m.metadata_log.size(), 100u);  // 100 previous versions: capped at the default
  // Every losing attempt deleted its file: exactly one file per committed version.
  EXPECT_EQ(MetadataFiles(m).size(), 2u * kPerThread + 1);
  EXPECT_TRUE(final_table->metadata_location.starts_with(m.location + "/metadata/00100-"));
  std::printf("conflicts retried: %d\n", conflicts.load());
}

TEST_P(CommitTest, MetadataLogGrowsAndIsCapped) {
  LoadedTable table = Create({{std::string(kPreviousVersionsMaxProperty), "3"}});
  std::vector<std::string> locations{table.metadata_location};
  for (int i = 1; i <= 5; ++i) {
    auto next = catalog_->CommitTable(id_, MainIs(table.metadata), AppendUpdates(table.metadata));
    ASSERT_TRUE(next) << next.error().ToString();
    table = *next;
    locations.push_back(table.metadata_location);
    ASSERT_EQ(table.metadata.metadata_log.size(), static_cast<size_t>(std::min(i, 3)));
  }
  // The log holds the three versions before the current one, oldest first.
  EXPECT_EQ(table.metadata.metadata_log[0].metadata_file, locations[2]);
  EXPECT_EQ(table.metadata.metadata_log[2].metadata_file, locations[4]);
  EXPECT_TRUE(table.metadata_location.starts_with(table.metadata.location + "/metadata/00005-"));
}

TEST_P(CommitTest, MissingTableAndAssertCreate) {
  auto missing = catalog_->CommitTable(id_, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNoSuchTable);

  std::string location = "file://" + dir_.path() + "/created-by-commit";
  std::vector<iceberg::TableUpdate> updates{
      iceberg::upd::AssignUuid{NewUuid()},
      iceberg::upd::UpgradeFormatVersion{2},
      iceberg::upd::AddSchema{TestSchema(), 2},
      iceberg::upd::SetCurrentSchema{-1},
      iceberg::upd::AddSpec{iceberg::PartitionSpec{}},
      iceberg::upd::SetDefaultSpec{-1},
      iceberg::upd::AddSortOrder{iceberg::SortOrder{}},
      iceberg::upd::SetDefaultSortOrder{-1},
      iceberg::upd::SetLocation{location},
      iceberg::upd::SetProperties{{{"created", "by-commit"}}},
  };
  auto created = catalog_->CommitTable(id_, {iceberg::req::AssertCreate{}}, updates);
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_TRUE(created->metadata_location.starts_with(location + "/metadata/00000-"));
  auto loaded = catalog_->LoadTable(id_);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->metadata.properties.at("created"), "by-commit");
  auto again = catalog_->CommitTable(id_, {iceberg::req::AssertCreate{}}, updates);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kCommitFailed);
  EXPECT_EQ(catalog_->CommitTable(TableIdentifier{{"nope"}, "t"}, {iceberg::req::AssertCreate{}}, updates)
                .error()
                .kind,
            ErrorKind::kNoSuchNamespace);
}

TEST_P(CommitTest, TransactionIsAllOrNothing) {
  LoadedTable a = Create();
  TableIdentifier id_b{{"db"}, "b"};
  auto b = catalog_->CreateTable(id_b, TestSchema(), {}, {}, std::nullopt, {});
  ASSERT_TRUE(b);
  ASSERT_TRUE(catalog_->CommitTable(id_b, {}, AppendUpdates(b->metadata)));  // b moves on

  // b's requirement is stale: a must not change either, and no file may be left behind.
  auto failed = catalog_->CommitTransaction({TableCommit{id_, MainIs(a.metadata), AppendUpdates(a.metadata)},
                                             TableCommit{id_b, MainIs(b->metadata), AppendUpdates(b->metadata)}});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kCommitFailed);
  EXPECT_EQ(catalog_->LoadTable(id_)->metadata_location, a.metadata_location);
  EXPECT_EQ(MetadataFiles(a.metadata).size(), 1u);

  auto b_now = catalog_->LoadTable(id_b);
  ASSERT_TRUE(b_now);
  auto both = catalog_->CommitTransaction({TableCommit{id_, MainIs(a.metadata), AppendUpdates(a.metadata)},
                                           TableCommit{id_b, MainIs(b_now->metadata), AppendUpdates(b_now->metadata)}});
  ASSERT_TRUE(both) << both.error().ToString();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ(catalog_->LoadTable(id_)->metadata_location, (*both)[0].metadata_location);
  EXPECT_EQ(catalog_->LoadTable(id_b)->metadata_location, (*both)[1].metadata_location);
  EXPECT_EQ(catalog_->CommitTransaction({TableCommit{id_, {}, {}}, TableCommit{id_, {}, {}}}).error().kind,
            ErrorKind::kInvalidArgument);
}

TEST_P(CommitTest, HookFailureBeforeSwapIsDefinite) {
  LoadedTable base = Create();
  catalog_->SetCommitHook([](CommitPoint point) -> Status {
    if (point == CommitPoint::kBeforeSwap) return MakeError(ErrorKind::kIOError, "crash before swap");
    return Ok();
  });
  auto failed = catalog_->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(catalog_->LoadTable(id_)->metadata_location, base.metadata_location);
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 1u);
}

TEST_P(CommitTest, UnknownStateAfterSwapDeletesNothing) {
  LoadedTable base = Create();
  catalog_->SetCommitHook([](CommitPoint point) -> Status {
    if (point == CommitPoint::kAfterSwap) return MakeError(ErrorKind::kIOError, "reply lost");
    return Ok();
  });
  auto unknown = catalog_->CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::kCommitStateUnknown);
  auto loaded = catalog_->LoadTable(id_);
  ASSERT_TRUE(loaded);
  EXPECT_NE(loaded->metadata_location, base.metadata_location);  // it did commit
  EXPECT_TRUE(*file_io_->Exists(loaded->metadata_location));
  EXPECT_EQ(MetadataFiles(base.metadata).size(), 2u);
}

TEST_P(CommitTest, FaultInjectingCatalog) {
  LoadedTable base = Create();
  FaultInjectingCatalog faulty(catalog_);
  faulty.FailNthCommit(2, CommitFault::kFailBeforeSwap);
  auto first = faulty.CommitTable(id_, MainIs(base.metadata), AppendUpdates(base.metadata));
  ASSERT_TRUE(first) << first.error().ToString();
  auto second = faulty.CommitTable(id_, MainIs(first->metadata), AppendUpdates(first->metadata));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(faulty.LoadTable(id_)->metadata_location, first->metadata_location);

  faulty.FailNthCommit(1, CommitFault::kUnknownAfterSwap);
  auto third = faulty.CommitTable(id_, MainIs(first->metadata), AppendUpdates(first->metadata));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().kind, ErrorKind::kCommitStateUnknown);
  EXPECT_NE(faulty.LoadTable(id_)->metadata_location, first->metadata_location);
  EXPECT_EQ(faulty.commits(), 3);
  // Faults are one-shot.
  auto current = faulty.LoadTable(id_);
  EXPECT_TRUE(faulty.CommitTable(id_, MainIs(current->metadata), AppendUpdates(current->metadata)));
}

INSTANTIATE_TEST_SUITE_P(Stores, CommitTest,
                         ::testing::Values(testing::Store::kSqlite, testing::Store::kPostgres),
                         testing::StoreName);

}  // namespace
}  // namespace frazil::catalog
