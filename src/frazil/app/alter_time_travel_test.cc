// Integration tests of the app module: schema and partition evolution, time travel and
// rollback, and concurrent writers on one warehouse.
#include "frazil/app/app_test_fixture.h"

namespace frazil::app {
namespace {

// 4. AlterTable.

class AlterTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    iceberg::Schema schema(
        0, {NestedField{.id = 1, .name = "id", .required = false, .type = Primitive(TypeId::kLong)},
            NestedField{.id = 2, .name = "name", .required = false, .type = Primitive(TypeId::kString)},
            NestedField{.id = 3, .name = "small", .required = false, .type = Primitive(TypeId::kInt)},
            NestedField{.id = 4, .name = "big", .required = false, .type = Primitive(TypeId::kLong)}});
    Create(id_, schema);
    Append(id_, "SELECT i AS id, 'n' || i AS name, (i * 10)::INTEGER AS small, i * 1000000000000 AS big FROM range(10) t(i)");
  }
  catalog::LoadedTable Alter(const std::vector<std::string>& change) {
    auto r = AlterTable(*w_, id_, change);
    EXPECT_TRUE(r) << change[0] << ": " << r.error().ToString();
    return r ? *r : catalog::LoadedTable{};
  }
  void ExpectInvalid(const std::vector<std::string>& change, const std::string& mention) {
    auto before = Load(id_);
    auto r = AlterTable(*w_, id_, change);
    ASSERT_FALSE(r) << "change " << change[0] << " unexpectedly succeeded";
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument) << r.error().ToString();
    EXPECT_NE(r.error().message.find(mention), std::string::npos) << r.error().message;
    auto after = Load(id_);
    EXPECT_EQ(after.metadata.current_schema_id, before.metadata.current_schema_id);
    EXPECT_EQ(after.metadata.schemas.size(), before.metadata.schemas.size());
    EXPECT_EQ(after.metadata.default_spec_id, before.metadata.default_spec_id);
    EXPECT_EQ(after.metadata_location, before.metadata_location);
  }
  std::vector<std::string> Columns() {
    std::vector<std::string> out;
    auto r = RunSql(*w_, *con_, "SELECT * FROM ns.a LIMIT 0");
    EXPECT_TRUE(r);
    if (!r) return out;
    for (size_t i = 0; i < r->column_count(); ++i) out.push_back(r->column_name(i));
    return out;
  }
  catalog::TableIdentifier id_ = Id("ns.a");
};

TEST_F(AlterTest, AddColumnOldRowsNullNewRowsFilled) {
  auto t = Alter({"add-column", "extra", "string"});
  EXPECT_EQ(t.metadata.current_schema_id, 1);
  ASSERT_NE(t.metadata.current_schema(), nullptr);
  const auto* f = t.metadata.current_schema()->FindField("extra");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->id, 5);
  EXPECT_EQ(t.metadata.last_column_id, 5);
  EXPECT_EQ(SqlValue("SELECT count(*) FILTER (WHERE extra IS NULL) FROM ns.a"), "10");
  Append(id_, "SELECT i + 100 AS id, 'e' || i AS extra FROM range(3) t(i)");
  EXPECT_EQ(Sql("SELECT id, extra, name FROM ns.a WHERE id >= 9 ORDER BY id"),
            (Rows{{"9", std::nullopt, "n9"}, {"100", "e0", std::nullopt}, {"101", "e1", std::nullopt},
                  {"102", "e2", std::nullopt}}));
}

TEST_F(AlterTest, RenameColumnReadsByFieldId) {
  Alter({"rename-column", "name", "label"});
  EXPECT_EQ(Sql("SELECT id, label FROM ns.a WHERE id < 3 ORDER BY id"), (Rows{{"0", "n0"}, {"1", "n1"}, {"2", "n2"}}));
  auto old_name = RunSql(*w_, *con_, "SELECT name FROM ns.a");
  EXPECT_FALSE(old_name);
  // A new column with the old name is a different field: old rows read NULL there.
  Alter({"add-column", "name", "string"});
  Append(id_, "SELECT 50 AS id, 'L' AS label, 'N' AS name");
  EXPECT_EQ(Sql("SELECT id, label, name FROM ns.a WHERE id IN (1, 50) ORDER BY id"),
            (Rows{{"1", "n1", std::nullopt}, {"50", "L", "N"}}));
  // Pruning on the renamed column uses the right field.
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a WHERE label = 'n7'"), "1");
}

TEST_F(AlterTest, DropColumn) {
  Alter({"drop-column", "name"});
  EXPECT_EQ(Columns(), (std::vector<std::string>{"id", "small", "big"}));
  EXPECT_FALSE(RunSql(*w_, *con_, "SELECT name FROM ns.a"));
  EXPECT_EQ(SqlValue("SELECT sum(small) FROM ns.a"), "450");
  Append(id_, "SELECT 11 AS id, 1::INTEGER AS small");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a"), "11");
  // Re-adding the name gives a new field id; the dropped data does not come back.
  auto t = Alter({"add-column", "name", "string"});
  EXPECT_EQ(t.metadata.current_schema()->FindField("name")->id, 5);
  EXPECT_EQ(SqlValue("SELECT count(name) FROM ns.a"), "0");
}

TEST_F(AlterTest, UpdateColumnPromotion) {
  Alter({"update-column", "small", "long"});
  auto desc = Sql("SELECT typeof(small) FROM ns.a LIMIT 1");
  ASSERT_EQ(desc.size(), 1u);
  EXPECT_EQ(desc[0][0], "BIGINT");
  EXPECT_EQ(SqlValue("SELECT sum(small) FROM ns.a"), "450");
  Append(id_, "SELECT 99 AS id, 5000000000 AS small");
  EXPECT_EQ(SqlValue("SELECT max(small) FROM ns.a"), "5000000000");

  ExpectInvalid({"update-column", "big", "int"}, "big");
  ExpectInvalid({"update-column", "name", "long"}, "name");
  ExpectInvalid({"update-column", "small", "int"}, "small");  // now long: no narrowing back
  ExpectInvalid({"update-column", "small", "nosuchtype"}, "nosuchtype");
}

TEST_F(AlterTest, MoveColumn) {
  Alter({"move-column", "big", "first"});
  EXPECT_EQ(Columns(), (std::vector<std::string>{"big", "id", "name", "small"}));
  Alter({"move-column", "id", "after", "small"});
  EXPECT_EQ(Columns(), (std::vector<std::string>{"big", "name", "small", "id"}));
  EXPECT_EQ(Sql("SELECT * FROM ns.a WHERE id = 2"), (Rows{{"2000000000000", "n2", "20", "2"}}));
  ExpectInvalid({"move-column", "id", "after", "nope"}, "nope");
  ExpectInvalid({"move-column", "id", "sideways"}, "usage");
}

TEST_F(AlterTest, AddPartitionFieldThenAppendUsesNewSpec) {
  auto t = Alter({"add-partition-field", "bucket(2, id)"});
  EXPECT_EQ(t.metadata.default_spec_id, 1);
  ASSERT_NE(t.metadata.default_spec(), nullptr);
  ASSERT_EQ(t.metadata.default_spec()->fields.size(), 1u);
  EXPECT_EQ(t.metadata.default_spec()->fields[0].name, "id_bucket");
  EXPECT_EQ(t.metadata.default_spec()->fields[0].field_id, 1000);
  EXPECT_EQ(t.metadata.current_schema_id, 0);  // partition changes leave the schema alone
  Append(id_, "SELECT i + 100 AS id, 'p' || i AS name FROM range(20) t(i)");

  auto loaded = Load(id_);
  auto plan = iceberg::PlanScan(loaded.metadata, w_->io(), {});
  ASSERT_TRUE(plan) << plan.error().ToString();
  int old_files = 0, new_files = 0;
  for (const auto& task : plan->tasks) {
    if (task.spec_id == 0) {
      old_files++;
      EXPECT_TRUE(task.data_file.partition.empty());
    } else {
      EXPECT_EQ(task.spec_id, 1);
      EXPECT_EQ(task.data_file.partition.size(), 1u);
      new_files++;
    }
  }
  EXPECT_EQ(old_files, 1);
  EXPECT_EQ(new_files, 2);  // 20 ids over 2 buckets
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a"), "30");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a WHERE id = 105"), "1");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a WHERE id = 5"), "1");

  ExpectInvalid({"add-partition-field", "bucket(2, id)"}, "already exists");
  auto bad_col = AlterTable(*w_, id_, {"add-partition-field", "bucket(2, nope)"});
  ASSERT_FALSE(bad_col);
  EXPECT_EQ(bad_col.error().kind, ErrorKind::kInvalidArgument);

  auto dropped = Alter({"drop-partition-field", "id_bucket"});
  ASSERT_NE(dropped.metadata.default_spec(), nullptr);
  EXPECT_TRUE(dropped.metadata.default_spec()->is_unpartitioned());
  // The resulting spec equals the original unpartitioned spec, which is reused.
  EXPECT_EQ(dropped.metadata.default_spec_id, 0);
  Append(id_, "SELECT 1000 AS id");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a"), "31");
}

TEST_F(AlterTest, InvalidChangesLeaveSchemaUnchanged) {
  ExpectInvalid({"add-column", "name", "string"}, "name");     // duplicate
  ExpectInvalid({"add-column", "NAME", "string"}, "NAME");     // duplicate, other case
  ExpectInvalid({"add-column", "x", "notatype"}, "notatype");
  ExpectInvalid({"drop-column", "nope"}, "nope");
  ExpectInvalid({"rename-column", "nope", "other"}, "nope");
  ExpectInvalid({"rename-column", "name", "id"}, "id");        // target exists
  ExpectInvalid({"update-column", "nope", "long"}, "nope");
  ExpectInvalid({"move-column", "nope", "first"}, "nope");
  ExpectInvalid({"frobnicate", "id"}, "frobnicate");
  ExpectInvalid({"add-column", "x"}, "usage");
  ExpectInvalid({"drop-partition-field", "nope"}, "nope");
  ExpectInvalid({"set-required", "id"}, "required");
  auto empty = AlterTable(*w_, id_, {});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(Load(id_).metadata.current_schema_id, 0);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.a"), "10");
}

TEST_F(AlterTest, AppendWrittenBeforeSchemaChangeIsRejected) {
  auto t = Load(id_);
  int schema_id = t.metadata.current_schema_id;
  int spec_id = t.metadata.default_spec_id;
  Alter({"add-column", "extra", "string"});
  auto r = CommitDataFiles(*w_, id_, {}, spec_id, schema_id, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kCommitFailed);
}

// ---------------------------------------------------------------------------------------
// 5. Time travel and rollback.

class TimeTravelTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    Create(id_, SimpleSchema());
    first_ = Append(id_, "SELECT i AS id, i AS v FROM range(100) t(i)").snapshot_id;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct snapshot timestamps
    second_ = Append(id_, "SELECT i + 100 AS id, i AS v FROM range(50) t(i)").snapshot_id;
    ASSERT_NE(first_, 0);
    ASSERT_NE(second_, 0);
  }
  std::string V(int64_t s) { return std::to_string(s); }
  catalog::TableIdentifier id_ = Id("ns.tt");
  int64_t first_ = 0, second_ = 0;
};

TEST_F(TimeTravelTest, VersionReadsOldSnapshot) {
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt"), "150");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (VERSION => " + V(first_) + ")"), "100");
  EXPECT_EQ(SqlValue("select count(*) from ns.tt at (version => " + V(first_) + ") where id >= 95"), "5");
  EXPECT_EQ(SqlValue("SELECT max(id) FROM ns.tt AT (VERSION => " + V(second_) + ")"), "149");
  // With an alias.
  EXPECT_EQ(Sql("SELECT x.id FROM ns.tt AT (VERSION => " + V(first_) + ") x WHERE x.id < 5 ORDER BY x.id"),
            (Rows{{"0"}, {"1"}, {"2"}, {"3"}, {"4"}}));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (VERSION => " + V(first_) + ") AS x WHERE x.id < 5"), "5");
  // Qualified by the table name when there is no alias.
  EXPECT_EQ(SqlValue("SELECT count(tt.id) FROM ns.tt AT (VERSION => " + V(first_) + ") WHERE tt.id < 7"), "7");
  // In a join with the current table.
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt cur LEFT JOIN ns.tt AT (VERSION => " + V(first_) +
                     ") old ON cur.id = old.id WHERE old.id IS NULL"),
            "50");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (VERSION => " + V(first_) + ") old JOIN ns.tt cur ON cur.id = old.id"),
            "100");
  EXPECT_EQ(Sql("SELECT (SELECT count(*) FROM ns.tt), (SELECT count(*) FROM ns.tt AT (VERSION => " + V(first_) + "))"),
            (Rows{{"150", "100"}}));
}

TEST_F(TimeTravelTest, TimestampTravel) {
  auto t = Load(id_);
  const auto* s1 = t.metadata.snapshot_by_id(first_);
  const auto* s2 = t.metadata.snapshot_by_id(second_);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  ASSERT_LT(s1->timestamp_ms, s2->timestamp_ms);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (TIMESTAMP => epoch_ms(" + std::to_string(s1->timestamp_ms) + "))"),
            "100");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (TIMESTAMP => epoch_ms(" + std::to_string(s2->timestamp_ms) + "))"),
            "150");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (TIMESTAMP => now())"), "150");

  engine::Connection& con = *con_;
  for (const char* ts : {"TIMESTAMP '2000-01-01 00:00:00'", "epoch_ms(0)"}) {
    auto r = RunSql(*w_, con, std::string("SELECT count(*) FROM ns.tt AT (TIMESTAMP => ") + ts + ")");
    ASSERT_FALSE(r) << ts;
    EXPECT_EQ(r.error().kind, ErrorKind::kNotFound) << r.error().ToString();
    auto p = PrepareSql(*w_, con, std::string("SELECT count(*) FROM ns.tt AT (TIMESTAMP => ") + ts + ")");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind, ErrorKind::kNotFound);
  }
  auto unknown = RunSql(*w_, con, "SELECT count(*) FROM ns.tt AT (VERSION => 12345)");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::kNotFound);
  auto garbage = RunSql(*w_, con, "SELECT count(*) FROM ns.tt AT (VERSION => abc)");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(TimeTravelTest, PrepareSqlRewritesOnlyTimeTravelReferences) {
  auto p = PrepareSql(*w_, *con_, "SELECT count(*) FROM ns.tt AT (VERSION => " + V(first_) + ")");
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->find("VERSION"), std::string::npos) << *p;
  auto r = con_->Query(*p);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->FetchAll(), (Rows{{"100"}}));
  auto plain = PrepareSql(*w_, *con_, "SELECT count(*) FROM ns.tt");
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, "SELECT count(*) FROM ns.tt");
}

TEST_F(TimeTravelTest, TagTimeTravel) {
  auto tag = SetRef(*w_, id_, "v1", first_, /*is_branch=*/false);
  ASSERT_TRUE(tag) << tag.error().ToString();
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (VERSION => 'v1')"), "100");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (VERSION => 'main')"), "150");
  auto missing = RunSql(*w_, *con_, "SELECT count(*) FROM ns.tt AT (VERSION => 'nope')");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound) << missing.error().ToString();
}

TEST_F(TimeTravelTest, RollbackToFirstSnapshot) {
  auto rb = Rollback(*w_, id_, first_);
  ASSERT_TRUE(rb) << rb.error().ToString();
  EXPECT_EQ(rb->metadata.current_snapshot_id, first_);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt"), "100");
  EXPECT_EQ(SqlValue("SELECT max(id) FROM ns.tt"), "99");
  // The rolled-back snapshot is still readable by id.
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt AT (VERSION => " + V(second_) + ")"), "150");
  // A new append builds on the first snapshot.
  auto r = Append(id_, "SELECT 1000 AS id");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt"), "101");
  auto t = Load(id_);
  EXPECT_EQ(t.metadata.snapshot_by_id(r.snapshot_id)->parent_snapshot_id, first_);
  EXPECT_EQ(Summary(id_, "total-records"), "101");
  // Rolling forward again is allowed too.
  ASSERT_TRUE(Rollback(*w_, id_, second_));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.tt"), "150");

  auto missing = Rollback(*w_, id_, 42);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(CurrentSnapshot(id_), second_);
}

// ---------------------------------------------------------------------------------------
// 6. Concurrent writers.

// Two Warehouse objects (separate catalog connections and DuckDB databases) on one
// warehouse directory, one thread each, every thread appending 20 times to one table.
// Thread t's k-th append writes k+1 rows with distinct ids and v = t.
struct ConcurrentOutcome {
  std::vector<WriteResult> ok[2];
  std::vector<Error> failed[2];
  int64_t ok_rows = 0;
  int64_t ok_rows_by_thread[2] = {0, 0};
};

class ConcurrentTest : public AppTest {
 protected:
  static constexpr int kPerThread = 20;
  ConcurrentOutcome RunWriters() {
    ConcurrentOutcome out;
    Create(id_, SimpleSchema());
    w2_ = OpenWarehouse();
    if (w2_ == nullptr) return out;
    auto writer = [&](Warehouse* w, int thread) {
      for (int k = 0; k < kPerThread; ++k) {
        std::string sql = "SELECT " + std::to_string(thread * 1000 + k * 20) + " + i AS id, " +
                          std::to_string(thread) + " AS v FROM range(" + std::to_string(k + 1) + ") t(i)";
        auto r = AppendQuery(*w, id_, sql, false);
        if (r) {
          out.ok[thread].push_back(*r);
        } else {
          out.failed[thread].push_back(r.error());
        }
      }
    };
    std::thread t0(writer, w_.get(), 0);
    std::thread t1(writer, w2_.get(), 1);
    t0.join();
    t1.join();
    for (int t = 0; t < 2; ++t) {
      for (const auto& r : out.ok[t]) {
        out.ok_rows += r.rows;
        out.ok_rows_by_thread[t] += r.rows;
      }
    }
    return out;
  }
  catalog::TableIdentifier id_ = Id("ns.c");
  std::unique_ptr<Warehouse> w2_;
};

// Whatever the interleaving, no commit is lost or duplicated: every append that reported
// success is in the current ancestry exactly once, the table holds exactly their rows,
// failures are clean CommitFailed errors, and failed appends leave no data files behind.
TEST_F(ConcurrentTest, ConcurrentAppendsNeverLoseOrDuplicateCommits) {
  auto out = RunWriters();
  ASSERT_NE(w2_, nullptr);
  size_t successes = out.ok[0].size() + out.ok[1].size();
  EXPECT_GT(out.ok[0].size(), 0u);
  EXPECT_GT(out.ok[1].size(), 0u);
  for (int t = 0; t < 2; ++t) {
    for (const auto& e : out.failed[t]) EXPECT_EQ(e.kind, ErrorKind::kCommitFailed) << e.ToString();
  }
  auto t = Load(id_);
  ASSERT_TRUE(t.metadata.current_snapshot_id);
  auto ancestry = t.metadata.Ancestors(*t.metadata.current_snapshot_id);
  EXPECT_EQ(ancestry.size(), successes);
  std::set<int64_t> in_ancestry;
  for (const auto* s : ancestry) {
    in_ancestry.insert(s->snapshot_id);
    EXPECT_EQ(s->operation(), "append");
  }
  for (int th = 0; th < 2; ++th) {
    for (const auto& r : out.ok[th]) EXPECT_TRUE(in_ancestry.count(r.snapshot_id)) << r.snapshot_id;
  }
  EXPECT_EQ(Sql("SELECT count(*), count(DISTINCT id) FROM ns.c"),
            (Rows{{std::to_string(out.ok_rows), std::to_string(out.ok_rows)}}));
  EXPECT_EQ(Sql("SELECT v, count(*) FROM ns.c GROUP BY v ORDER BY v"),
            (Rows{{"0", std::to_string(out.ok_rows_by_thread[0])}, {"1", std::to_string(out.ok_rows_by_thread[1])}}));
  EXPECT_EQ(Summary(id_, "total-records"), std::to_string(out.ok_rows));

  // No orphaned data files from the appends that failed.
  auto plan = iceberg::PlanScan(t.metadata, w_->io(), {});
  ASSERT_TRUE(plan) << plan.error().ToString();
  std::set<std::string> live;
  for (const auto& task : plan->tasks) live.insert(w_->io().LocalPath(task.data_file.file_path));
  std::set<std::string> on_disk;
  for (const auto& e : std::filesystem::recursive_directory_iterator(io::StripFileScheme(t.metadata.location) + "/data")) {
    if (e.is_regular_file()) on_disk.insert(e.path().string());
  }
  EXPECT_EQ(on_disk, live);

  // The other warehouse sees the same table.
  auto con2 = engine::Connection::Open(w2_->db());
  ASSERT_TRUE(con2);
  auto r2 = RunSql(*w2_, *con2, "SELECT count(*) FROM ns.c");
  ASSERT_TRUE(r2) << r2.error().ToString();
  EXPECT_EQ(r2->FetchAll(), (Rows{{std::to_string(out.ok_rows)}}));
}

// Two writers, 20 appends each: all 40 should commit.
// Was a bug: the retry loop had no backoff, so two writers kept colliding and some of the
// 40 appends failed after 10 attempts. Fixed with jittered exponential backoff.
TEST_F(ConcurrentTest, TwoWarehousesAllFortyAppendsLand) {
  auto out = RunWriters();
  ASSERT_NE(w2_, nullptr);
  EXPECT_TRUE(out.failed[0].empty()) << out.failed[0].front().ToString();
  EXPECT_TRUE(out.failed[1].empty()) << out.failed[1].front().ToString();
  const int per_thread_rows = kPerThread * (kPerThread + 1) / 2;  // 210
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.c"), std::to_string(2 * per_thread_rows));
  auto t = Load(id_);
  ASSERT_TRUE(t.metadata.current_snapshot_id);
  EXPECT_EQ(t.metadata.Ancestors(*t.metadata.current_snapshot_id).size(), 2u * kPerThread);
}

// ---------------------------------------------------------------------------------------

}  // namespace
}  // namespace frazil::app
