// Integration tests of the app module against a real warehouse in a temporary directory:
// append/overwrite, partitioned tables and pruning, deletes, and error handling.
#include "frazil/app/app_test_fixture.h"

namespace frazil::app {
namespace {

// 1. Append / overwrite.

TEST_F(AppTest, AppendAppendThenOverwrite) {
  auto id = Id("sales.orders");
  Create(id, SimpleSchema());
  Exec("CREATE TABLE src1 AS SELECT i AS id, i * 3 - 7 AS v, 'n' || i AS name FROM range(1000) t(i)");
  Exec("CREATE TABLE src2 AS SELECT i + 1000 AS id, i * i AS v, 'm' || i AS name FROM range(500) t(i)");
  Exec("CREATE TABLE src3 AS SELECT i + 5000 AS id, -i AS v, NULL::VARCHAR AS name FROM range(300) t(i)");

  auto r1 = Append(id, "SELECT * FROM src1");
  EXPECT_EQ(r1.rows, 1000);
  EXPECT_GE(r1.files, 1);
  EXPECT_EQ(CurrentSnapshot(id), r1.snapshot_id);
  EXPECT_EQ(Sql("SELECT count(*), sum(v), sum(id), min(name), max(name) FROM sales.orders"),
            Query("SELECT count(*), sum(v), sum(id), min(name), max(name) FROM src1"));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM sales.orders"), "1000");
  EXPECT_EQ(Summary(id, "total-records"), "1000");
  EXPECT_EQ(Summary(id, "operation"), "append");

  // Columns are matched by name, not by position.
  auto r2 = Append(id, "SELECT name, v, id FROM src2");
  EXPECT_EQ(r2.rows, 500);
  EXPECT_NE(r2.snapshot_id, r1.snapshot_id);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM sales.orders"), "1500");
  EXPECT_EQ(Sql("SELECT count(*), sum(v), sum(id) FROM sales.orders"),
            Query("SELECT count(*), sum(v), sum(id) FROM (SELECT * FROM src1 UNION ALL SELECT * FROM src2)"));
  EXPECT_EQ(Sql("SELECT id, v, name FROM sales.orders WHERE id >= 1000 ORDER BY id"),
            Query("SELECT id, v, name FROM src2 ORDER BY id"));
  EXPECT_EQ(Summary(id, "total-records"), "1500");
  auto t2 = Load(id);
  ASSERT_NE(t2.metadata.current_snapshot(), nullptr);
  EXPECT_EQ(t2.metadata.current_snapshot()->parent_snapshot_id, r1.snapshot_id);

  auto r3 = Append(id, "SELECT * FROM src3", /*overwrite=*/true);
  EXPECT_EQ(r3.rows, 300);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM sales.orders"), "300");
  EXPECT_EQ(Sql("SELECT count(*), sum(v), min(id), max(id), count(name) FROM sales.orders"),
            Query("SELECT count(*), sum(v), min(id), max(id), count(name) FROM src3"));
  EXPECT_EQ(Summary(id, "total-records"), "300");
  EXPECT_EQ(Summary(id, "operation"), "overwrite");
  EXPECT_EQ(CurrentSnapshot(id), r3.snapshot_id);

  // Overwriting with nothing leaves an empty table.
  auto r4 = Append(id, "SELECT * FROM src3 WHERE false", /*overwrite=*/true);
  EXPECT_EQ(r4.rows, 0);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM sales.orders"), "0");
  EXPECT_EQ(Summary(id, "total-records"), "0");
}

TEST_F(AppTest, AppendFillsMissingOptionalColumnsWithNull) {
  auto id = Id("ns.t");
  Create(id, SimpleSchema());
  Append(id, "SELECT i AS id FROM range(10) t(i)");
  EXPECT_EQ(Sql("SELECT count(*), count(id), count(v), count(name), sum(id) FROM ns.t"),
            (Rows{{"10", "10", "0", "0", "45"}}));
}

// ---------------------------------------------------------------------------------------
TEST_F(PartitionedTest, ParsePartitionFieldErrors) {
  EXPECT_EQ(ParsePartitionField(schema_, "bucket(0, id)", 1000).error().kind, ErrorKind::kInvalidArgument);
  auto missing = ParsePartitionField(schema_, "day(nope)", 1000);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos) << missing.error().message;
  EXPECT_FALSE(ParsePartitionField(schema_, "day(name)", 1000));  // day of a string
  auto bare = ParsePartitionField(schema_, "cat", 1005);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->transform.kind, iceberg::TransformKind::kIdentity);
  EXPECT_EQ(bare->source_id, 4);
  EXPECT_EQ(bare->field_id, 1005);
  auto swapped = ParsePartitionField(schema_, "bucket(id, 8)", 1000);
  ASSERT_TRUE(swapped);
  EXPECT_EQ(swapped->transform.param, 8);
  EXPECT_EQ(swapped->source_id, 1);
}

TEST_F(PartitionedTest, RowsReadBackExactly) {
  auto t = Load(id_);
  auto plan = iceberg::PlanScan(t.metadata, w_->io(), {});
  ASSERT_TRUE(plan) << plan.error().ToString();
  // 3 categories x 2 name prefixes (+ null) x 4 buckets x 3 days: many files, each one
  // partition tuple.
  EXPECT_GT(plan->tasks.size(), 20u);
  std::set<std::string> paths;
  for (const auto& task : plan->tasks) {
    EXPECT_EQ(task.data_file.partition.size(), 4u);
    paths.insert(task.data_file.file_path);
  }
  EXPECT_EQ(paths.size(), plan->tasks.size());
  EXPECT_EQ(Sql("SELECT id, ts, name, cat FROM ns.p ORDER BY id"), Query("SELECT id, ts, name, cat FROM src ORDER BY id"));
  EXPECT_EQ(Summary(id_, "total-records"), "600");
}

TEST_F(PartitionedTest, CategoryFilterPrunesFilesAndKeepsResult) {
  auto t = Load(id_);
  const std::string sql = "SELECT count(*) FROM ns.p WHERE cat = 'x'";
  auto terms = ExtractFilter(*con_, sql, id_, *t.metadata.current_schema());
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_EQ(terms[0].field_id, 4);
  EXPECT_EQ(terms[0].op, iceberg::FilterOp::kEq);
  EXPECT_EQ(terms[0].value, iceberg::Datum(std::string("x")));

  auto all = iceberg::PlanScan(t.metadata, w_->io(), {});
  ASSERT_TRUE(all);
  iceberg::ScanOptions opts;
  opts.filter = terms;
  auto pruned = iceberg::PlanScan(t.metadata, w_->io(), opts);
  ASSERT_TRUE(pruned) << pruned.error().ToString();
  EXPECT_GT(pruned->files_skipped, 0);
  EXPECT_LT(pruned->tasks.size(), all->tasks.size());
  EXPECT_EQ(pruned->tasks.size() + static_cast<size_t>(pruned->files_skipped), all->tasks.size());
  for (const auto& task : pruned->tasks) {
    EXPECT_EQ(task.data_file.partition[3], iceberg::Datum(std::string("x")));
  }
  EXPECT_EQ(SqlValue(sql), QueryValue("SELECT count(*) FROM src WHERE cat = 'x'"));
  EXPECT_EQ(SqlValue(sql), "200");
}

// Every pruned query must return exactly what the unpruned source returns; the predicates
// exercise each transform's projection (day, bucket, truncate, identity) and column bounds.
TEST_F(PartitionedTest, PrunedQueriesMatchSource) {
  const std::vector<std::string> predicates = {
      "cat = 'y'",
      "cat < 'y'",
      "cat >= 'y' AND id < 100",
      "'y' = cat",
      "id = 77",
      "id = 78 AND cat = 'x'",
      "id < 50",
      "id <= 50",
      "id > 550",
      "550 < id",
      "id >= 550 AND id < 560",
      "ts < '2024-03-02 00:00:00'",
      "ts <= '2024-03-02 00:00:00'",
      "ts > '2024-03-02 00:00:00'",
      "ts >= '2024-03-02 00:00:00'",
      "ts = '2024-03-02 00:00:00'",
      "ts > '2024-03-02 23:55:00'",
      "name = 'alpha_long_10'",
      "name < 'alpha_long_2'",
      "name > 'bravo_long_5'",
      "name >= 'bravo'",
      "name <= 'alpha_long'",
      "name IS NULL",
      "name = 'alpha_long_10' OR cat = 'z'",
      "cat = 'x' AND name IS NOT NULL AND id % 7 = 1",
  };
  for (const auto& p : predicates) {
    EXPECT_EQ(SqlValue("SELECT count(*), sum(id) FROM ns.p WHERE " + p),
              QueryValue("SELECT count(*), sum(id) FROM src WHERE " + p))
        << p;
    EXPECT_EQ(Sql("SELECT count(*), sum(id) FROM ns.p WHERE " + p), Query("SELECT count(*), sum(id) FROM src WHERE " + p))
        << p;
  }
}

TEST_F(PartitionedTest, ExtractFilterGivesNoTermsWhenUnsafe) {
  auto other = Id("ns.other");
  Create(other, schema_);
  auto t = Load(id_);
  const auto& schema = *t.metadata.current_schema();
  auto terms = [&](const std::string& sql) { return ExtractFilter(*con_, sql, id_, schema); };

  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE cat = 'x' OR cat = 'y'").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE NOT (cat = 'x')").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE cat <> 'x'").empty());
  // Self-join: one predicate per reference would be wrong for the other.
  EXPECT_TRUE(terms("SELECT * FROM ns.p a JOIN ns.p b ON a.id = b.id WHERE a.cat = 'x'").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE cat = 'x' AND id IN (SELECT id FROM ns.p)").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE cat = 'x' UNION ALL SELECT * FROM ns.p").empty());
  // A predicate on a different table.
  EXPECT_TRUE(terms("SELECT * FROM ns.other WHERE cat = 'x'").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p JOIN ns.other o ON ns.p.id = o.id WHERE o.cat = 'x'").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.other o WHERE o.id IN (SELECT id FROM ns.p) AND o.cat = 'x'").empty());
  // Qualified by another name than the table's or its alias.
  EXPECT_TRUE(terms("SELECT * FROM ns.p AS q, (SELECT 'x' AS cat) o WHERE o.cat = 'x'").empty());
  // Not a SELECT from the table / unparsable / no WHERE.
  EXPECT_TRUE(terms("SELECT * FROM ns.p").empty());
  EXPECT_TRUE(terms("SELEC nonsense FROM WHERE").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE cat = NULL").empty());
  EXPECT_TRUE(terms("SELECT * FROM ns.p WHERE cat = other_col").empty());

  // And the safe forms do give terms.
  auto two = terms("SELECT * FROM ns.p AS q WHERE q.cat = 'x' AND 10 > id AND (id = 1 OR id = 2)");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].field_id, 4);
  EXPECT_EQ(two[1].field_id, 1);
  EXPECT_EQ(two[1].op, iceberg::FilterOp::kLt);
  EXPECT_EQ(two[1].value, iceberg::Datum(int64_t{10}));
  auto ts = terms("SELECT * FROM ns.p WHERE ts >= '1970-01-01 00:00:01'");
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].op, iceberg::FilterOp::kGtEq);
  EXPECT_EQ(ts[0].value, iceberg::Datum(int64_t{1000000}));
}

// A fractional constant compared with an integer column must not be rounded into a term
// that excludes matching rows: `id > 4.6` holds for id = 5, `id < 5.4` for id = 5.
// (Regression: ExtractFilter used to evaluate the constant with CAST(<decimal or double>
// AS BIGINT), which rounds 4.6 -> 5 and 5.4 -> 5, turning `id > 4.6` into the term
// `id > 5`; PlanScan then skipped the file holding only id 5 and RunSql returned 4
// instead of 7 rows.)
TEST_F(AppTest, FractionalConstantOnIntegerColumnDoesNotPruneMatchingRows) {
  auto id = Id("ns.ints");
  Create(id, SimpleSchema());
  // One file per append: ids 0..4, then ids 5 only, then 6..9.
  Append(id, "SELECT i AS id, i AS v FROM range(5) t(i)");
  Append(id, "SELECT 5 AS id, i AS v FROM range(3) t(i)");
  Append(id, "SELECT i + 6 AS id, i AS v FROM range(4) t(i)");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.ints WHERE id > 4.6"), "7");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.ints WHERE id < 5.4"), "8");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.ints WHERE id >= 4.6 AND id <= 5.4"), "3");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.ints WHERE id > 4.6e0"), "7");  // a DOUBLE constant
}

// ---------------------------------------------------------------------------------------
// 3. DeleteWhere.

TEST_F(AppTest, DeleteWhereRemovesExactlyTheMatchingRows) {
  auto id = Id("ns.d");
  Create(id, SimpleSchema());
  Exec("CREATE TABLE src AS SELECT i AS id, i * 2 AS v, 'r' || i AS name FROM range(100) t(i)");
  Append(id, "SELECT * FROM src WHERE id < 60");
  Append(id, "SELECT * FROM src WHERE id >= 60");

  auto d1 = DeleteWhere(*w_, id, "id % 10 = 3");
  ASSERT_TRUE(d1) << d1.error().ToString();
  EXPECT_EQ(d1->rows, 10);
  EXPECT_EQ(d1->files, 2);  // one delete file per data file touched
  EXPECT_EQ(CurrentSnapshot(id), d1->snapshot_id);
  EXPECT_EQ(Summary(id, "operation"), "delete");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.d"), "90");
  EXPECT_EQ(Sql("SELECT id, v, name FROM ns.d ORDER BY id"), Query("SELECT id, v, name FROM src WHERE id % 10 <> 3 ORDER BY id"));

  // Overlapping a previous delete: only rows still live are deleted again.
  auto d2 = DeleteWhere(*w_, id, "id < 20 AND name LIKE 'r1%'");
  ASSERT_TRUE(d2) << d2.error().ToString();
  EXPECT_EQ(d2->rows, 10);  // r1, r10..r19 minus r13
  EXPECT_EQ(Sql("SELECT id FROM ns.d ORDER BY id"),
            Query("SELECT id FROM src WHERE id % 10 <> 3 AND NOT (id < 20 AND name LIKE 'r1%') ORDER BY id"));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.d"), "80");

  // Nothing matches: no commit.
  int64_t before = *CurrentSnapshot(id);
  auto none = DeleteWhere(*w_, id, "id > 1000");
  ASSERT_TRUE(none) << none.error().ToString();
  EXPECT_EQ(none->rows, 0);
  EXPECT_EQ(CurrentSnapshot(id), before);
  // Rows already deleted do not match either.
  auto again = DeleteWhere(*w_, id, "id = 13");
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->rows, 0);
  EXPECT_EQ(CurrentSnapshot(id), before);

  // A bad predicate is an error and changes nothing.
  size_t snapshots = Load(id).metadata.snapshots.size();
  auto bad = DeleteWhere(*w_, id, "no_such_column = 1");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no_such_column"), std::string::npos) << bad.error().message;
  auto bad2 = DeleteWhere(*w_, id, "id = = 3");
  EXPECT_FALSE(bad2);
  EXPECT_EQ(CurrentSnapshot(id), before);
  EXPECT_EQ(Load(id).metadata.snapshots.size(), snapshots);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.d"), "80");

  // Deleting everything, then appending again.
  auto all = DeleteWhere(*w_, id, "true");
  ASSERT_TRUE(all) << all.error().ToString();
  EXPECT_EQ(all->rows, 80);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.d"), "0");
  Append(id, "SELECT * FROM src WHERE id < 5");
  EXPECT_EQ(Sql("SELECT id FROM ns.d ORDER BY id"), (Rows{{"0"}, {"1"}, {"2"}, {"3"}, {"4"}}));
}

TEST_F(AppTest, DeleteOnEmptyTableCommitsNothing) {
  auto id = Id("ns.e");
  Create(id, SimpleSchema());
  auto r = DeleteWhere(*w_, id, "id = 1");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->rows, 0);
  EXPECT_FALSE(CurrentSnapshot(id).has_value());
}

TEST_F(PartitionedTest, DeleteOnPartitionedTableWithPrunedRead) {
  auto d = DeleteWhere(*w_, id_, "cat = 'x' AND id % 4 = 0");
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->rows, std::stoll(QueryValue("SELECT count(*) FROM src WHERE cat = 'x' AND id % 4 = 0")));
  Exec("DELETE FROM src WHERE cat = 'x' AND id % 4 = 0");
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.p WHERE cat = 'x'"), QueryValue("SELECT count(*) FROM src WHERE cat = 'x'"));
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.p WHERE id = 24"), "0");
  EXPECT_EQ(Sql("SELECT id, ts, name, cat FROM ns.p ORDER BY id"), Query("SELECT id, ts, name, cat FROM src ORDER BY id"));
}

// ---------------------------------------------------------------------------------------
// 7. Errors.

TEST_F(AppTest, AppendWithUnknownColumnIsRejected) {
  auto id = Id("ns.err");
  Create(id, SimpleSchema());
  Append(id, "SELECT 1 AS id");
  auto before = Load(id);
  auto r = AppendQuery(*w_, id, "SELECT 2 AS id, 'oops' AS Bogus_Col", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message.find("Bogus_Col"), std::string::npos) << r.error().message;
  auto after = Load(id);
  EXPECT_EQ(after.metadata_location, before.metadata_location);
  EXPECT_EQ(after.metadata.current_snapshot_id, before.metadata.current_snapshot_id);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.err"), "1");

  // Column names match case-insensitively.
  Append(id, "SELECT 3 AS ID, 4 AS V");
  EXPECT_EQ(Sql("SELECT id, v FROM ns.err ORDER BY id"), (Rows{{"1", std::nullopt}, {"3", "4"}}));

  // A query that does not parse is an error too.
  auto bad_sql = AppendQuery(*w_, id, "SELEC 1", false);
  ASSERT_FALSE(bad_sql);
  EXPECT_EQ(bad_sql.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(AppTest, AppendWithoutRequiredColumnIsRejected) {
  auto id = Id("ns.req");
  iceberg::Schema schema(0, {NestedField{.id = 1, .name = "id", .required = true, .type = Primitive(TypeId::kLong)},
                             NestedField{.id = 2, .name = "note", .required = false, .type = Primitive(TypeId::kString)}});
  Create(id, schema);
  auto r = AppendQuery(*w_, id, "SELECT 'x' AS note", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message.find("'id'"), std::string::npos) << r.error().message;
  EXPECT_FALSE(CurrentSnapshot(id).has_value());
}

TEST_F(AppTest, RequiredColumnRejectsNullsAndFailedWritesLeaveNoFiles) {
  auto id = Id("ns.reqnull");
  iceberg::Schema schema(0, {NestedField{.id = 1, .name = "id", .required = true, .type = Primitive(TypeId::kLong)},
                             NestedField{.id = 2, .name = "note", .required = false, .type = Primitive(TypeId::kString)}});
  Create(id, schema);
  Append(id, "SELECT 1 AS id, 'a' AS note");
  auto before = Load(id);
  auto data_files = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(
             io::StripFileScheme(before.metadata.location) + "/data", ec)) {
      n += e.is_regular_file() ? 1 : 0;
    }
    return n;
  };
  size_t files_before = data_files();
  EXPECT_EQ(files_before, 1u);

  auto nulls = AppendQuery(*w_, id, "SELECT CASE WHEN i = 3 THEN NULL ELSE i END AS id FROM range(10) t(i)", false);
  ASSERT_FALSE(nulls);
  EXPECT_EQ(nulls.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(nulls.error().message.find("'id'"), std::string::npos) << nulls.error().message;
  // A value that does not convert (row 5 of the input) fails the write part-way.
  auto bad_cast = AppendQuery(*w_, id, "SELECT CASE WHEN i = 5 THEN 'x' ELSE i::VARCHAR END AS id FROM range(10) t(i)", false);
  EXPECT_FALSE(bad_cast);
  EXPECT_EQ(data_files(), files_before);
  EXPECT_EQ(Load(id).metadata_location, before.metadata_location);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM ns.reqnull"), "1");
}

TEST_F(AppTest, AppendToMissingTable) {
  auto r = AppendQuery(*w_, Id("ns.missing"), "SELECT 1 AS id", false);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().kind == ErrorKind::kNoSuchTable || r.error().kind == ErrorKind::kNotFound)
      << r.error().ToString();
  auto d = DeleteWhere(*w_, Id("ns.missing"), "true");
  ASSERT_FALSE(d);
  EXPECT_TRUE(d.error().kind == ErrorKind::kNoSuchTable || d.error().kind == ErrorKind::kNotFound);
  auto a = AlterTable(*w_, Id("ns.missing"), {"add-column", "x", "int"});
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().kind == ErrorKind::kNoSuchTable || a.error().kind == ErrorKind::kNotFound);
  auto sql = RunSql(*w_, *con_, "SELECT * FROM ns.missing");
  EXPECT_FALSE(sql);
}

TEST_F(AppTest, CorruptMetadataFileIsReportedAsCorrupt) {
  auto id = Id("ns.bad");
  Create(id, SimpleSchema());
  Append(id, "SELECT i AS id FROM range(5) t(i)");
  auto t = Load(id);
  std::string path = io::StripFileScheme(t.metadata_location);
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 10u);
  std::filesystem::resize_file(path, size / 2);
  // A process that already parsed this (immutable) metadata file keeps its copy; a fresh
  // one, as every CLI command is, reads the damaged file and must say so.
  con_.reset();
  w_ = OpenWarehouse();
  con_.emplace(*engine::Connection::Open(w_->db()));

  std::string file_name = std::filesystem::path(path).filename().string();
  auto loaded = w_->catalog().LoadTable(id);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().kind, ErrorKind::kCorrupt) << loaded.error().ToString();
  EXPECT_NE(loaded.error().message.find(file_name), std::string::npos) << loaded.error().message;

  auto append = AppendQuery(*w_, id, "SELECT 9 AS id", false);
  ASSERT_FALSE(append);
  EXPECT_EQ(append.error().kind, ErrorKind::kCorrupt);
  auto sql = RunSql(*w_, *con_, "SELECT count(*) FROM ns.bad");
  ASSERT_FALSE(sql);
  EXPECT_EQ(sql.error().kind, ErrorKind::kCorrupt);
}

TEST_F(AppTest, CreateTableCreatesNamespaceAndRejectsDuplicates) {
  auto id = Id("deep.level.t");
  Create(id, SimpleSchema());
  auto ns = w_->catalog().NamespaceExists({"deep", "level"});
  ASSERT_TRUE(ns);
  EXPECT_TRUE(*ns);
  auto again = CreateTable(*w_, id, SimpleSchema(), {}, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kAlreadyExists);
  // A second table in the existing namespace.
  Create(Id("deep.level.u"), SimpleSchema());
  Append(id, "SELECT 1 AS id");
  // A two-level namespace is a DuckDB catalog.schema.
  EXPECT_EQ(SqlValue("SELECT count(*) FROM deep.level.t"), "1");
  auto t = Load(id);
  EXPECT_EQ(SqlValue("SELECT count(*) FROM deep.level.t AT (VERSION => " +
                     std::to_string(*t.metadata.current_snapshot_id) + ")"),
            "1");
}

TEST_F(AppTest, NamespacesDeeperThanTwoLevelsAreUnsupportedInSql) {
  auto id = Id("a.b.c.t");
  Create(id, SimpleSchema());
  Append(id, "SELECT 1 AS id");
  auto r = RunSql(*w_, *con_, "SELECT count(*) FROM a.b.c.t");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kUnsupported) << r.error().ToString();
}

// A namespace "sales" (tables are schema sales in DuckDB's default catalog) and a nested
// namespace "sales.raw" (PrepareSql ATTACHes an in-memory catalog named "sales") must both
// stay queryable, alone and together.
// BUG: once a statement has read sales.raw.u, the catalog "sales" exists next to the schema
// "sales", and every later statement on sales.t fails with DuckDB's "Ambiguous reference
// to catalog or schema "sales"" (from PrepareSql's CREATE OR REPLACE VIEW "sales"."t"),
// although the same statement worked before.
TEST_F(AppTest, DISABLED_OneAndTwoLevelNamespacesSharingAPrefixBothQueryable) {
  Create(Id("sales.t"), SimpleSchema());
  Create(Id("sales.raw.u"), SimpleSchema());
  Append(Id("sales.t"), "SELECT 1 AS id");
  Append(Id("sales.raw.u"), "SELECT 2 AS id");
  EXPECT_EQ(SqlValue("SELECT id FROM sales.t"), "1");
  EXPECT_EQ(SqlValue("SELECT id FROM sales.raw.u"), "2");
  EXPECT_EQ(SqlValue("SELECT id FROM sales.t"), "1");
  EXPECT_EQ(Sql("SELECT a.id, b.id FROM sales.t a, sales.raw.u b"), (Rows{{"1", "2"}}));
}

// PrepareSql makes tables visible on `con` only (views with the statement's pruning baked
// in): a statement prepared on one connection must still read the whole table after another
// connection prepares a statement with a different filter. (Was a bug when the views lived
// in the shared database; each connection now has its own catalog.)
TEST_F(PartitionedTest, PreparedStatementsOnTwoConnectionsKeepTheirOwnFilters) {
  auto other = engine::Connection::Open(w_->db());
  ASSERT_TRUE(other);
  auto a = PrepareSql(*w_, *con_, "SELECT count(*) FROM ns.p WHERE cat = 'x'");
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = PrepareSql(*w_, *other, "SELECT count(*) FROM ns.p WHERE cat = 'y'");
  ASSERT_TRUE(b) << b.error().ToString();
  auto ra = con_->Query(*a);
  ASSERT_TRUE(ra) << ra.error().ToString();
  EXPECT_EQ(ra->FetchAll(), (Rows{{"200"}}));
  auto rb = other->Query(*b);
  ASSERT_TRUE(rb) << rb.error().ToString();
  EXPECT_EQ(rb->FetchAll(), (Rows{{"200"}}));
}

}  // namespace
}  // namespace frazil::app
