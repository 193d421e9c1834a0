#include "frazil/engine/table_scan.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "frazil/base/random.h"
#include "frazil/engine/parquet_writer.h"

namespace frazil::engine {
namespace {

using iceberg::NestedField;
using iceberg::Primitive;
using iceberg::TypeId;

class TableScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("frazil_scan_" + NewUuid());
    db_.emplace(std::move(*Database::Open({.threads = 2})));
    con_.emplace(std::move(*Connection::Open(*db_)));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::vector<std::optional<std::string>>> Rows(const std::string& sql) {
    auto r = con_->Query(sql);
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return {};
    return r->FetchAll();
  }
  static std::string Identity(const std::string& p) { return p; }

  std::filesystem::path dir_;
  std::optional<Database> db_;
  std::optional<Connection> con_;
};

TEST_F(TableScanTest, EmptyTaskListIsTypedAndEmpty) {
  iceberg::Schema schema(0, {{1, "a", false, iceberg::Decimal(10, 2)},
                             {2, "b", false, iceberg::List(3, Primitive(TypeId::kString), false)}});
  auto sql = ScanSql(schema, {}, Identity);
  ASSERT_TRUE(sql);
  auto rows = Rows("DESCRIBE " + *sql);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "a");
  EXPECT_EQ(rows[0][1], "DECIMAL(10,2)");
  EXPECT_EQ(rows[1][1], "VARCHAR[]");
  EXPECT_EQ(Rows("SELECT count(*) FROM (" + *sql + ")")[0][0], "0");
}

TEST_F(TableScanTest, SchemaEvolutionRenameAddDropPromote) {
  // v1: a int, s string, st struct<x int>, gone string.
  iceberg::Schema v1(0, {{1, "a", false, Primitive(TypeId::kInt)},
                         {2, "s", false, Primitive(TypeId::kString)},
                         {3, "st", false, iceberg::Struct({{4, "x", false, Primitive(TypeId::kInt)}})},
                         {7, "gone", false, Primitive(TypeId::kString)}});
  auto f1 = WriteParquet(*con_, "SELECT i::INTEGER, 'old' || i, {'x': i::INTEGER}, 'bye' FROM range(3) t(i)", v1,
                         dir_.string());
  ASSERT_TRUE(f1) << f1.error().ToString();
  // v2: a renamed to "id" and promoted to long; "gone" dropped; st gains w; new column z;
  // a new column takes the old name "a" with a different id.
  iceberg::Schema v2(1, {{1, "id", false, Primitive(TypeId::kLong)},
                         {2, "s", false, Primitive(TypeId::kString)},
                         {3, "st", false,
                          iceberg::Struct({{4, "x", false, Primitive(TypeId::kLong)},
                                           {5, "w", false, Primitive(TypeId::kString)}})},
                         {6, "z", false, Primitive(TypeId::kDouble)},
                         {8, "a", false, Primitive(TypeId::kString)}});
  auto f2 = WriteParquet(*con_, "SELECT 5000000000 + i, 'new', {'x': i, 'w': 'w'}, 0.5, 'A' FROM range(2) t(i)", v2,
                         dir_.string());
  ASSERT_TRUE(f2) << f2.error().ToString();
  std::vector<iceberg::FileScanTask> tasks = {{.data_file = (*f1)[0]}, {.data_file = (*f2)[0]}};
  auto sql = ScanSql(v2, tasks, Identity);
  ASSERT_TRUE(sql) << sql.error().ToString();
  auto rows = Rows("SELECT id, s, st.x, st.w, z, a FROM (" + *sql + ") ORDER BY id");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0], (std::vector<std::optional<std::string>>{"0", "old0", "0", std::nullopt, std::nullopt,
                                                              std::nullopt}));
  EXPECT_EQ(rows[2][1], "old2");
  EXPECT_EQ(rows[4], (std::vector<std::optional<std::string>>{"5000000001", "new", "1", "w", "0.5", "A"}));
  auto types = Rows("DESCRIBE " + *sql);
  EXPECT_EQ(types[0][1], "BIGINT");
  EXPECT_EQ(types[2][1], "STRUCT(x BIGINT, w VARCHAR)");
}

TEST_F(TableScanTest, ColumnsNamedLikeReaderColumnsDoNotClash) {
  iceberg::Schema schema(0, {{1, "filename", false, Primitive(TypeId::kString)},
                             {2, "file_row_number", false, Primitive(TypeId::kLong)}});
  auto f = WriteParquet(*con_, "SELECT 'mine', 7", schema, dir_.string());
  ASSERT_TRUE(f);
  auto del = WritePositionDeletes(*con_, "SELECT 'nothing', 0", (dir_ / "del").string());
  ASSERT_TRUE(del);
  std::vector<iceberg::FileScanTask> tasks = {{.data_file = (*f)[0], .position_deletes = *del}};
  auto refused = ScanSql(schema, tasks, Identity);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kUnsupported);
  tasks[0].position_deletes.clear();
  auto sql = ScanSql(schema, tasks, Identity);
  ASSERT_TRUE(sql);
  auto rows = Rows(*sql);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "mine");
  EXPECT_EQ(rows[0][1], "7");
}

TEST_F(TableScanTest, EqualityDeletesApplyToListedFilesOnly) {
  iceberg::Schema schema(0, {{1, "k", false, Primitive(TypeId::kLong)}, {2, "v", false, Primitive(TypeId::kString)}});
  auto a = WriteParquet(*con_, "SELECT i, 'a' FROM range(5) t(i)", schema, (dir_ / "a").string());
  auto b = WriteParquet(*con_, "SELECT i, 'b' FROM range(5) t(i)", schema, (dir_ / "b").string());
  iceberg::Schema key_schema(0, {{1, "k", false, Primitive(TypeId::kLong)}});
  auto eq = WriteParquet(*con_, "SELECT * FROM (VALUES (1), (4))", key_schema, (dir_ / "eq").string());
  ASSERT_TRUE(a && b && eq);
  (*eq)[0].content = iceberg::FileContent::kEqualityDeletes;
  (*eq)[0].equality_ids = {1};
  std::vector<iceberg::FileScanTask> tasks = {{.data_file = (*a)[0], .equality_deletes = *eq},
                                              {.data_file = (*b)[0]}};
  auto sql = ScanSql(schema, tasks, Identity);
  ASSERT_TRUE(sql) << sql.error().ToString();
  auto rows = Rows("SELECT v, string_agg(k::VARCHAR, ',' ORDER BY k) FROM (" + *sql + ") GROUP BY v ORDER BY v");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "0,2,3");
  EXPECT_EQ(rows[1][1], "0,1,2,3,4");
}

TEST_F(TableScanTest, NotMuchSlowerThanPlainReadParquet) {
  iceberg::Schema schema(0, {{1, "id", false, Primitive(TypeId::kLong)},
                             {2, "v", false, Primitive(TypeId::kDouble)},
                             {3, "s", false, Primitive(TypeId::kString)}});
  WriteOptions options;
  options.target_file_size_bytes = 4 << 20;
  auto files = WriteParquet(*con_, "SELECT i, i * 0.5, 'row' || (i % 1000) FROM range(3000000) t(i)", schema,
                            dir_.string(), options);
  ASSERT_TRUE(files) << files.error().ToString();
  std::vector<iceberg::FileScanTask> tasks;
  std::string list = "[";
  for (const auto& f : *files) {
    tasks.push_back({.data_file = f});
    list += (list.size() > 1 ? ", " : "") + QuoteLiteral(f.file_path);
  }
  list += "]";
  ASSERT_GT(files->size(), 1u);
  auto sql = ScanSql(schema, tasks, Identity);
  ASSERT_TRUE(sql);
  auto time = [&](const std::string& q) {
    auto best = std::chrono::nanoseconds::max();
    for (int i = 0; i < 3; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto r = con_->Query(q);
      EXPECT_TRUE(r) << r.error().ToString();
      best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    return std::chrono::duration<double, std::milli>(best).count();
  };
  double plain = time("SELECT sum(id), sum(v), max(s) FROM read_parquet(" + list + ")");
  double scan = time("SELECT sum(id), sum(v), max(s) FROM (" + *sql + ")");
  std::printf("plain read_parquet %.1f ms, ScanSql %.1f ms over %zu files\n", plain, scan, files->size());
  EXPECT_LT(scan, plain * 2 + 20);
}

}  // namespace
}  // namespace frazil::engine
