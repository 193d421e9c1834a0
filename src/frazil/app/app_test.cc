// Integration tests of the app module: table operations (append/overwrite/delete/alter/
// rollback), SQL sessions (views, time travel), scan filter extraction and pruning, and
// concurrent writers, all against a real warehouse in a temporary directory.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "frazil/app/scan_filter.h"
#include "frazil/app/sql_session.h"
#include "frazil/app/table_ops.h"
#include "frazil/app/warehouse.h"
#include "frazil/base/random.h"
#include "frazil/catalog/catalog.h"
#include "frazil/engine/duckdb.h"
#include "frazil/iceberg/scan.h"
#include "frazil/io/file_io.h"

namespace frazil::app {
namespace {

using iceberg::NestedField;
using iceberg::Primitive;
using iceberg::TypeId;
using Rows = std::vector<std::vector<std::optional<std::string>>>;

catalog::TableIdentifier Id(std::string_view dotted) {
  auto id = catalog::TableIdentifier::Parse(dotted);
  EXPECT_TRUE(id) << dotted;
  return *id;
}

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("frazil_app_" + NewUuid());
    w_ = OpenWarehouse();
    ASSERT_NE(w_, nullptr);
    auto con = engine::Connection::Open(w_->db());
    ASSERT_TRUE(con) << con.error().ToString();
    con_.emplace(std::move(*con));
  }
  void TearDown() override {
    con_.reset();
    w_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Warehouse> OpenWarehouse() {
    Config config;
    config.warehouse = dir_.string();
    config.threads = 2;
    auto w = Warehouse::Open(config);
    EXPECT_TRUE(w) << w.error().ToString();
    return w ? std::move(*w) : nullptr;
  }

  // Plain DuckDB query on the warehouse's database (the source tables live here).
  Rows Query(const std::string& sql) {
    auto r = con_->Query(sql);
    EXPECT_TRUE(r) << sql << ": " << r.error().ToString();
    if (!r) return {};
    return r->FetchAll();
  }
  void Exec(const std::string& sql) {
    auto s = con_->Execute(sql);
    ASSERT_TRUE(s) << sql << ": " << s.error().ToString();
  }
  // SQL through the session (catalog tables visible, time travel rewritten).
  Rows Sql(const std::string& sql) {
    auto r = RunSql(*w_, *con_, sql);
    EXPECT_TRUE(r) << sql << ": " << r.error().ToString();
    if (!r) return {};
    return r->FetchAll();
  }
  std::string SqlValue(const std::string& sql) {
    auto rows = Sql(sql);
    if (rows.size() != 1 || rows[0].empty()) {
      ADD_FAILURE() << sql << " returned " << rows.size() << " rows";
      return "<none>";
    }
    return rows[0][0].value_or("NULL");
  }
  std::string QueryValue(const std::string& sql) {
    auto rows = Query(sql);
    if (rows.size() != 1 || rows[0].empty()) {
      ADD_FAILURE() << sql << " returned " << rows.size() << " rows";
      return "<none>";
    }
    return rows[0][0].value_or("NULL");
  }

  catalog::LoadedTable Load(const catalog::TableIdentifier& id) {
    auto t = w_->catalog().LoadTable(id);
    EXPECT_TRUE(t) << t.error().ToString();
    return t ? std::move(*t) : catalog::LoadedTable{};
  }
  std::optional<int64_t> CurrentSnapshot(const catalog::TableIdentifier& id) {
    return Load(id).metadata.current_snapshot_id;
  }
  std::string Summary(const catalog::TableIdentifier& id, const std::string& key) {
    auto t = Load(id);
    const auto* snap = t.metadata.current_snapshot();
    if (snap == nullptr) return "<no snapshot>";
    auto it = snap->summary.find(key);
    return it == snap->summary.end() ? "<missing>" : it->second;
  }

  void Create(const catalog::TableIdentifier& id, const iceberg::Schema& schema,
              const iceberg::PartitionSpec& spec = {}) {
    auto t = CreateTable(*w_, id, schema, spec, {});
    ASSERT_TRUE(t) << t.error().ToString();
  }
  WriteResult Append(const catalog::TableIdentifier& id, const std::string& sql, bool overwrite = false) {
    auto r = AppendQuery(*w_, id, sql, overwrite);
    EXPECT_TRUE(r) << sql << ": " << r.error().ToString();
    return r ? *r : WriteResult{};
  }

  // id long, v long, name string.
  static iceberg::Schema SimpleSchema() {
    return iceberg::Schema(0, {NestedField{.id = 1, .name = "id", .required = false, .type = Primitive(TypeId::kLong)},
                               NestedField{.id = 2, .name = "v", .required = false, .type = Primitive(TypeId::kLong)},
                               NestedField{.id = 3, .name = "name", .required = false,
                                           .type = Primitive(TypeId::kString)}});
  }

  std::filesystem::path dir_;
  std::unique_ptr<Warehouse> w_;
  std::optional<engine::Connection> con_;
};

// ---------------------------------------------------------------------------------------
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
// 2. Partitioned tables and pruning.

class PartitionedTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    if (HasFatalFailure()) return;
    schema_ = iceberg::Schema(
        0, {NestedField{.id = 1, .name = "id", .required = false, .type = Primitive(TypeId::kLong)},
            NestedField{.id = 2, .name = "ts", .required = false, .type = Primitive(TypeId::kTimestamp)},
            NestedField{.id = 3, .name = "name", .required = false, .type = Primitive(TypeId::kString)},
            NestedField{.id = 4, .name = "cat", .required = false, .type = Primitive(TypeId::kString)}});
    iceberg::PartitionSpec spec;
    int field_id = iceberg::kFirstPartitionFieldId;
    for (const char* text : {"day(ts)", "bucket(4, id)", "truncate(10, name)", "identity(cat)"}) {
      auto pf = ParsePartitionField(schema_, text, field_id++);
      ASSERT_TRUE(pf) << text << ": " << pf.error().ToString();
      spec.fields.push_back(*pf);
    }
    ASSERT_EQ(spec.fields.size(), 4u);
    EXPECT_EQ(spec.fields[0].name, "ts_day");
    EXPECT_EQ(spec.fields[0].transform.kind, iceberg::TransformKind::kDay);
    EXPECT_EQ(spec.fields[1].name, "id_bucket");
    EXPECT_EQ(spec.fields[1].transform.kind, iceberg::TransformKind::kBucket);
    EXPECT_EQ(spec.fields[1].transform.param, 4);
    EXPECT_EQ(spec.fields[1].source_id, 1);
    EXPECT_EQ(spec.fields[2].name, "name_trunc");
    EXPECT_EQ(spec.fields[2].transform.param, 10);
    EXPECT_EQ(spec.fields[3].name, "cat");
    EXPECT_EQ(spec.fields[3].transform.kind, iceberg::TransformKind::kIdentity);
    EXPECT_EQ(spec.fields[3].field_id, 1003);
    Create(id_, schema_, spec);
    // 600 rows over ~2 days (5-minute steps), two name prefixes (truncated to 10 chars),
    // three categories, some null names.
    Exec(
        "CREATE TABLE src AS SELECT i AS id, TIMESTAMP '2024-03-01 00:00:00' + to_seconds(i * 300) AS ts, "
        "CASE WHEN i % 17 = 0 THEN NULL WHEN i % 2 = 0 THEN 'alpha_long_' || i ELSE 'bravo_long_' || i END AS name, "
        "['x', 'y', 'z'][i % 3 + 1] AS cat FROM range(600) t(i)");
    Append(id_, "SELECT * FROM src");
  }

  iceberg::Schema schema_;
  catalog::TableIdentifier id_ = Id("ns.p");
};

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

}  // namespace
}  // namespace frazil::app
