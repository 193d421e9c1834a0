// WarehouseAdapter on a real warehouse: every model write is one Iceberg commit, and what
// it reads back (through frazil's own scan) is what the write meant.
#include "frazil/app/model_adapter.h"

#include <filesystem>
#include <fstream>

#include "frazil/app/app_test_fixture.h"
#include "frazil/iceberg/snapshot_producer.h"

namespace frazil::app {
namespace {

using transform::MaterializeRequest;
using transform::WriteMode;

class ModelAdapterTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    auto a = WarehouseAdapter::Make(*w_);
    ASSERT_TRUE(a) << a.error().ToString();
    adapter_ = std::move(*a);
  }
  void TearDown() override {
    adapter_.reset();
    AppTest::TearDown();
  }
  std::optional<int64_t> Snap(const catalog::TableIdentifier& id) {
    auto s = adapter_->Describe(id);
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? s->snapshot_id : std::nullopt;
  }
  transform::MaterializeResult Write(const catalog::TableIdentifier& id, const std::string& sql, WriteMode mode,
                                     std::vector<std::string> key = {}) {
    MaterializeRequest r;
    r.target = id;
    r.select_sql = sql;
    r.mode = mode;
    r.unique_key = std::move(key);
    r.expected_snapshot_id = Snap(id);
    r.summary["frazil.model"] = "m";
    auto out = adapter_->Materialize(r);
    EXPECT_TRUE(out) << out.error().ToString();
    return out ? *out : transform::MaterializeResult{};
  }
  size_t FilesUnder(const std::string& dir) {
    size_t n = 0;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
      if (it->is_regular_file()) ++n;
    }
    return n;
  }
  std::unique_ptr<WarehouseAdapter> adapter_;
};

TEST_F(ModelAdapterTest, ReplaceCreatesThenReplacesWithSchemaChangeInOneCommit) {
  auto id = Id("m.t");
  auto first = Write(id, "SELECT i AS id, 'a' || i AS name FROM range(5) r(i)", WriteMode::kReplace);
  EXPECT_EQ(first.rows_inserted, 5);
  size_t snapshots_before = Load(id).metadata.snapshots.size();
  // A new column, a dropped one and a changed type: one new snapshot, and the table is the query.
  auto second = Write(id, "SELECT CAST(i AS VARCHAR) AS id, i * 2 AS twice FROM range(3) r(i)", WriteMode::kReplace);
  EXPECT_EQ(second.rows_inserted, 3);
  EXPECT_EQ(second.rows_deleted, 5);
  auto t = Load(id);
  EXPECT_EQ(t.metadata.snapshots.size(), snapshots_before + 1);
  const auto* schema = t.metadata.current_schema();
  ASSERT_NE(schema, nullptr);
  ASSERT_EQ(schema->fields().size(), 2u);
  EXPECT_EQ(schema->fields()[0].name, "id");
  EXPECT_EQ(schema->fields()[0].type->ToString(), "string");
  EXPECT_EQ(Sql("SELECT id, twice FROM m.t ORDER BY id"),
            (Rows{{"0", "0"}, {"1", "2"}, {"2", "4"}}));
  EXPECT_EQ(t.metadata.current_snapshot()->summary.at("frazil.model"), "m");
}

TEST_F(ModelAdapterTest, MergeReplacesMatchedRowsAndInsertsTheRest) {
  auto id = Id("m.accounts");
  Write(id, "SELECT * FROM (VALUES (1, 'x', 10), (2, 'y', 20), (3, 'z', 30)) v(id, k, amount)", WriteMode::kReplace);
  auto r = Write(id, "SELECT * FROM (VALUES (2, 'y', 21), (4, 'w', 40)) v(id, k, amount)", WriteMode::kMerge, {"id"});
  EXPECT_EQ(r.rows_inserted, 2);
  EXPECT_EQ(r.rows_deleted, 1);
  EXPECT_EQ(Sql("SELECT id, k, amount FROM m.accounts ORDER BY id"),
            (Rows{{"1", "x", "10"}, {"2", "y", "21"}, {"3", "z", "30"}, {"4", "w", "40"}}));
  // A composite key: (2, 'y') matches, (2, 'q') does not.
  Write(id, "SELECT * FROM (VALUES (2, 'y', 22), (2, 'q', 5)) v(id, k, amount)", WriteMode::kMerge, {"id", "k"});
  EXPECT_EQ(Sql("SELECT id, k, amount FROM m.accounts ORDER BY id, k"),
            (Rows{{"1", "x", "10"}, {"2", "q", "5"}, {"2", "y", "22"}, {"3", "z", "30"}, {"4", "w", "40"}}));
}

TEST_F(ModelAdapterTest, MergeUpdateColumnsKeepTheOthers) {
  auto id = Id("m.hub");
  Write(id, "SELECT 1 AS hk, TIMESTAMP '2026-01-01' AS first_seen, 100 AS last_lsn", WriteMode::kReplace);
  MaterializeRequest r;
  r.target = id;
  r.select_sql = "SELECT * FROM (VALUES (1, TIMESTAMP '2026-05-05', 200), (2, TIMESTAMP '2026-05-05', 200)) v(hk, first_seen, last_lsn)";
  r.mode = WriteMode::kMerge;
  r.unique_key = {"hk"};
  r.merge_update_columns = std::vector<std::string>{"last_lsn"};
  r.expected_snapshot_id = Snap(id);
  ASSERT_TRUE(adapter_->Materialize(r));
  EXPECT_EQ(Sql("SELECT hk, first_seen, last_lsn FROM m.hub ORDER BY hk"),
            (Rows{{"1", "2026-01-01 00:00:00", "200"}, {"2", "2026-05-05 00:00:00", "200"}}));
}

TEST_F(ModelAdapterTest, MergeRefusesDuplicateKeysInTheQuery) {
  auto id = Id("m.d");
  Write(id, "SELECT 1 AS id, 'a' AS v", WriteMode::kReplace);
  MaterializeRequest r;
  r.target = id;
  r.select_sql = "SELECT * FROM (VALUES (5, 'x'), (5, 'y')) v(id, v)";
  r.mode = WriteMode::kMerge;
  r.unique_key = {"id"};
  r.expected_snapshot_id = Snap(id);
  auto out = adapter_->Materialize(r);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("more than one row"), std::string::npos) << out.error().message;
  EXPECT_EQ(SqlValue("SELECT count(*) FROM m.d"), "1");
}

TEST_F(ModelAdapterTest, DeleteInsertAndAppend) {
  auto id = Id("m.e");
  Write(id, "SELECT * FROM (VALUES (1, 'a'), (1, 'b'), (2, 'c')) v(id, v)", WriteMode::kReplace);
  auto r = Write(id, "SELECT * FROM (VALUES (1, 'z')) v(id, v)", WriteMode::kDeleteInsert, {"id"});
  EXPECT_EQ(r.rows_deleted, 2);
  Write(id, "SELECT 3 AS id, 'd' AS v", WriteMode::kAppend);
  EXPECT_EQ(Sql("SELECT id, v FROM m.e ORDER BY id, v"), (Rows{{"1", "z"}, {"2", "c"}, {"3", "d"}}));
}

TEST_F(ModelAdapterTest, AStaleExpectedSnapshotFailsAndLeavesNoFiles) {
  auto id = Id("m.s");
  Write(id, "SELECT 1 AS id", WriteMode::kReplace);
  auto before = Snap(id);
  Write(id, "SELECT 2 AS id", WriteMode::kAppend);
  std::string data_dir = w_->io().LocalPath(iceberg::DataDir(Load(id).metadata));
  std::string meta_dir = w_->io().LocalPath(iceberg::MetadataDir(Load(id).metadata));
  size_t files = FilesUnder(data_dir) + FilesUnder(meta_dir);
  MaterializeRequest r;
  r.target = id;
  r.select_sql = "SELECT 3 AS id";
  r.mode = WriteMode::kAppend;
  r.expected_snapshot_id = before;
  auto out = adapter_->Materialize(r);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::kCommitFailed);
  EXPECT_EQ(FilesUnder(data_dir) + FilesUnder(meta_dir), files);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM m.s"), "2");
}

TEST_F(ModelAdapterTest, IncrementalReadsOnlyAppendedRowsAndRefusesAfterARewrite) {
  auto id = Id("raw.events");
  Write(id, "SELECT i AS id FROM range(3) r(i)", WriteMode::kReplace);
  auto s1 = Snap(id);
  Write(id, "SELECT i AS id FROM range(10, 12) r(i)", WriteMode::kAppend);
  Write(id, "SELECT 20 AS id", WriteMode::kAppend);
  auto s3 = Snap(id);
  auto rel = adapter_->Read(transform::ReadSpec{id, s3, s1});
  ASSERT_TRUE(rel) << rel.error().ToString();
  auto rows = adapter_->Query("SELECT id FROM " + *rel + " ORDER BY id", nullptr);
  ASSERT_TRUE(rows);
  EXPECT_EQ(*rows, (Rows{{"10"}, {"11"}, {"20"}}));
  auto none = adapter_->Read(transform::ReadSpec{id, s3, s3});
  ASSERT_TRUE(none);
  EXPECT_EQ(*adapter_->Query("SELECT count(*) FROM " + *none, nullptr), (Rows{{"0"}}));
  Write(id, "SELECT 1 AS id", WriteMode::kMerge, {"id"});  // rewrites a row
  auto refused = adapter_->Read(transform::ReadSpec{id, Snap(id), s3});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("overwrite"), std::string::npos) << refused.error().message;
}

TEST_F(ModelAdapterTest, IncrementalReadsSkipCompactionsAndReadTheAppendsOwnFiles) {
  auto id = Id("raw.compacted");
  Write(id, "SELECT i AS id FROM range(3) r(i)", WriteMode::kReplace);
  auto s1 = Snap(id);
  Write(id, "SELECT i AS id FROM range(10, 12) r(i)", WriteMode::kAppend);
  Write(id, "SELECT 20 AS id", WriteMode::kAppend);
  // A compaction: every live file replaced by one with the same rows ("replace").
  auto loaded = w_->catalog().LoadTable(id);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  const auto& md = loaded->metadata;
  auto live = iceberg::ReadLiveFiles(md, *md.current_snapshot(), w_->io());
  ASSERT_TRUE(live) << live.error().ToString();
  ASSERT_EQ(live->size(), 3u);
  auto files = WriteQueryFiles(*w_, *con_, id, md, *md.current_schema(),
                               "SELECT * FROM (VALUES (0), (1), (2), (10), (11), (20)) v(id)");
  ASSERT_TRUE(files) << files.error().ToString();
  iceberg::SnapshotChanges changes;
  changes.operation = "replace";
  changes.spec_id = md.default_spec_id;
  changes.added_data_files = *files;
  for (const auto& f : *live) changes.removed_files.insert(f.entry.data_file.file_path);
  auto produced = iceberg::ProduceSnapshot(md, w_->io(), changes, w_->clock().NowMillis());
  ASSERT_TRUE(produced) << produced.error().ToString();
  auto committed = w_->catalog().CommitTable(id, produced->requirements, produced->updates);
  ASSERT_TRUE(committed) << committed.error().ToString();
  Write(id, "SELECT 30 AS id", WriteMode::kAppend);
  auto head = committed->metadata.current_snapshot()->snapshot_id;
  auto now = *w_->catalog().LoadTable(id);
  ASSERT_EQ(now.metadata.current_snapshot()->operation(), "append");

  auto rel = adapter_->Read(transform::ReadSpec{id, now.metadata.current_snapshot()->snapshot_id, s1});
  ASSERT_TRUE(rel) << rel.error().ToString();
  EXPECT_EQ(*adapter_->Query("SELECT id FROM " + *rel + " ORDER BY id", nullptr), (Rows{{"10"}, {"11"}, {"20"}, {"30"}}));
  // From the compaction itself: only what came after it.
  auto after = adapter_->Read(transform::ReadSpec{id, now.metadata.current_snapshot()->snapshot_id, head});
  ASSERT_TRUE(after) << after.error().ToString();
  EXPECT_EQ(*adapter_->Query("SELECT id FROM " + *after + " ORDER BY id", nullptr), (Rows{{"30"}}));
}

TEST_F(ModelAdapterTest, OnSchemaChange) {
  auto id = Id("m.sc");
  Write(id, "SELECT 1 AS id, 'a' AS v", WriteMode::kReplace);
  // ignore (the default): the new column is dropped.
  Write(id, "SELECT 2 AS id, 'b' AS v, 9 AS extra", WriteMode::kAppend);
  EXPECT_EQ(Load(id).metadata.current_schema()->fields().size(), 2u);
  // fail: refused, naming the column.
  MaterializeRequest r;
  r.target = id;
  r.select_sql = "SELECT 3 AS id, 'c' AS v, 9 AS extra";
  r.mode = WriteMode::kAppend;
  r.on_schema_change = "fail";
  r.expected_snapshot_id = Snap(id);
  auto failed = adapter_->Materialize(r);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("+extra"), std::string::npos) << failed.error().message;
  // append_new_columns: added; older rows read it as null.
  r.on_schema_change = "append_new_columns";
  ASSERT_TRUE(adapter_->Materialize(r));
  EXPECT_EQ(Sql("SELECT id, v, extra FROM m.sc ORDER BY id"),
            (Rows{{"1", "a", std::nullopt}, {"2", "b", std::nullopt}, {"3", "c", "9"}}));
}

TEST_F(ModelAdapterTest, ViewsAreStoredExpandedAndReplacedByTables) {
  auto id = Id("m.base");
  Write(id, "SELECT i AS id FROM range(4) r(i)", WriteMode::kReplace);
  ASSERT_TRUE(adapter_->CreateView(Id("m.evens"), "SELECT id FROM \"m\".\"base\" WHERE id % 2 = 0"));
  ASSERT_TRUE(adapter_->CreateView(Id("m.big_evens"), "SELECT id FROM \"m\".\"evens\" WHERE id > 0"));
  EXPECT_EQ(Sql("SELECT id FROM m.big_evens"), (Rows{{"2"}}));
  auto st = adapter_->Describe(Id("m.evens"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exists);
  EXPECT_TRUE(st->is_view);
  // A view that does not plan is refused and not stored.
  EXPECT_FALSE(adapter_->CreateView(Id("m.bad"), "SELECT nope FROM m.base"));
  EXPECT_FALSE(adapter_->Describe(Id("m.bad"))->exists);
  // The same name as a table: the view goes.
  Write(Id("m.evens"), "SELECT 42 AS id", WriteMode::kReplace);
  EXPECT_FALSE(adapter_->Describe(Id("m.evens"))->is_view);
  EXPECT_EQ(Sql("SELECT id FROM m.evens"), (Rows{{"42"}}));
}

TEST_F(ModelAdapterTest, SeedsLoadCsvWithColumnTypes) {
  std::string csv = (dir_ / "codes.csv").string();
  std::filesystem::create_directories(dir_);
  {
    std::ofstream out(csv);
    out << "code,name\n007,bond\n042,answer\n";
  }
  auto r = adapter_->LoadSeed(Id("s.codes"), csv, {{"code", "VARCHAR"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->rows_inserted, 2);
  EXPECT_EQ(Sql("SELECT code, name FROM s.codes ORDER BY code"), (Rows{{"007", "bond"}, {"042", "answer"}}));
  // Loading again replaces.
  ASSERT_TRUE(adapter_->LoadSeed(Id("s.codes"), csv, {{"code", "VARCHAR"}}));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM s.codes"), "2");
}

}  // namespace
}  // namespace frazil::app

namespace frazil::app {
namespace {

TEST_F(ModelAdapterTest, DescribeKeepsTheModelsReadsThroughOtherWritersCommits) {
  auto id = Id("m.kept");
  MaterializeRequest r;
  r.target = id;
  r.select_sql = "SELECT i AS id FROM range(4) r(i)";
  r.summary = {{"frazil.model", "kept"}, {"frazil.read.raw.x", "123"}};
  ASSERT_TRUE(adapter_->Materialize(r));
  // Another writer (a user's delete) commits on top.
  auto deleted = DeleteWhere(*w_, id, "id = 1");
  ASSERT_TRUE(deleted) << deleted.error().ToString();
  auto st = adapter_->Describe(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->snapshot_id, Load(id).metadata.current_snapshot_id);
  EXPECT_EQ(st->summary["frazil.read.raw.x"], "123");
  EXPECT_EQ(st->summary["frazil.model"], "kept");
}

}  // namespace
}  // namespace frazil::app

namespace frazil::app {
namespace {

TEST_F(ModelAdapterTest, ReplacingWithTheSameColumnsKeepsTheSchema) {
  auto id = Id("m.same");
  const std::string sql =
      "SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' AS ts, 1 AS x, {'a': 1, 'b': [1.5]} AS st, [DATE '2024-01-01'] AS l, "
      "MAP {'k': 1} AS m, CAST(1.25 AS DECIMAL(15,2)) AS d, uuid() AS u";
  Write(id, sql, WriteMode::kReplace);
  auto first = Load(id).metadata;
  Write(id, sql, WriteMode::kReplace);
  Write(id, sql, WriteMode::kReplace);
  auto t = Load(id).metadata;
  EXPECT_EQ(t.schemas.size(), 1u) << "a replace with unchanged columns must not add a schema";
  EXPECT_EQ(t.last_column_id, first.last_column_id);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM m.same"), "1");
}

}  // namespace
}  // namespace frazil::app
