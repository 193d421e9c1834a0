#include "frazil/engine/parquet_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "frazil/base/random.h"
#include "frazil/engine/stats_text.h"
#include "frazil/engine/table_scan.h"
#include "frazil/engine/types.h"
#include "frazil/iceberg/datum.h"
#include "frazil/iceberg/transform.h"

namespace frazil::engine {
namespace {

using iceberg::Datum;
using iceberg::NestedField;
using iceberg::Primitive;
using iceberg::TypeId;

class ParquetWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("frazil_pw_" + NewUuid());
    auto db = Database::Open({.threads = 2});
    ASSERT_TRUE(db);
    db_.emplace(std::move(*db));
    con_.emplace(std::move(*Connection::Open(*db_)));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int64_t Count(const std::string& sql) {
    auto r = con_->Query("SELECT count(*) FROM (" + sql + ")");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->GetInt64(0, 0) : -1;
  }

  static std::vector<iceberg::FileScanTask> Tasks(const std::vector<iceberg::DataFile>& files) {
    std::vector<iceberg::FileScanTask> tasks;
    for (const auto& f : files) tasks.push_back(iceberg::FileScanTask{.data_file = f});
    return tasks;
  }
  static std::string Identity(const std::string& p) { return p; }

  std::filesystem::path dir_;
  std::optional<Database> db_;
  std::optional<Connection> con_;
};

// Every Iceberg type, nested ones included.
iceberg::Schema AllTypesSchema() {
  std::vector<NestedField> f = {
      {1, "b", false, Primitive(TypeId::kBoolean)},
      {2, "i", false, Primitive(TypeId::kInt)},
      {3, "l", false, Primitive(TypeId::kLong)},
      {4, "f", false, Primitive(TypeId::kFloat)},
      {5, "d", false, Primitive(TypeId::kDouble)},
      {6, "dec9", false, iceberg::Decimal(9, 2)},
      {7, "dec18", false, iceberg::Decimal(18, 4)},
      {8, "dec38", false, iceberg::Decimal(38, 10)},
      {9, "dt", false, Primitive(TypeId::kDate)},
      {10, "t", false, Primitive(TypeId::kTime)},
      {11, "ts", false, Primitive(TypeId::kTimestamp)},
      {12, "tz", false, Primitive(TypeId::kTimestampTz)},
      {13, "s", false, Primitive(TypeId::kString)},
      {14, "u", false, Primitive(TypeId::kUuid)},
      {15, "fx", false, iceberg::Primitive(iceberg::TypeId::kBinary)},
      {16, "bin", false, Primitive(TypeId::kBinary)},
      {17, "st", false,
       iceberg::Struct({{18, "x", false, Primitive(TypeId::kInt)}, {19, "y", false, Primitive(TypeId::kString)}})},
      {20, "lst", false, iceberg::List(21, Primitive(TypeId::kLong), false)},
      {22, "m", false, iceberg::Map(23, Primitive(TypeId::kString), 24, Primitive(TypeId::kDouble), false)},
  };
  return iceberg::Schema(0, std::move(f));
}

constexpr const char* kAllTypesRows = R"(
SELECT * FROM (VALUES
 (true, 1, 10000000000, 1.5::FLOAT, 2.25::DOUBLE, 1234567.89, 12345678901234.5678,
  1234567890123456789012345678.0123456789, DATE '2024-02-29', TIME '13:14:15.123456',
  TIMESTAMP '2024-02-29 13:14:15.654321', TIMESTAMPTZ '2024-02-29 13:14:15.5+00',
  'héllo wörld ☃ 🧊', UUID 'f79c3e09-677c-4bbd-a479-3f349cb785e7', '\x01\x02\x03\x04'::BLOB,
  '\x00\xFF'::BLOB, {'x': 5, 'y': 'in'}, [1, 2, NULL]::BIGINT[], MAP{'k1': 1.0, 'k2': NULL}),
 (false, -2147483648, -9223372036854775807, -0.0::FLOAT, -1e300::DOUBLE, -9999999.99, -99999999999999.9999,
  -9999999999999999999999999999.9999999999, DATE '1900-01-01', TIME '00:00:00',
  TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMPTZ '1800-06-01 00:00:00+00',
  'a', UUID '00000000-0000-0000-0000-000000000000', '\x00\x00\x00\x00'::BLOB,
  ''::BLOB, {'x': NULL, 'y': NULL}, []::BIGINT[], MAP{}::MAP(VARCHAR, DOUBLE)),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
))";

TEST_F(ParquetWriterTest, AllTypesRoundTripWithFieldIdsAndBounds) {
  auto schema = AllTypesSchema();
  auto files = WriteParquet(*con_, kAllTypesRows, schema, dir_.string());
  ASSERT_TRUE(files) << files.error().ToString();
  ASSERT_EQ(files->size(), 1u);
  const auto& file = (*files)[0];
  EXPECT_EQ(file.record_count, 3);
  EXPECT_EQ(file.file_size_in_bytes, static_cast<int64_t>(std::filesystem::file_size(file.file_path)));
  EXPECT_EQ(file.content, iceberg::FileContent::kData);
  EXPECT_TRUE(std::filesystem::path(file.file_path).filename().string().ends_with("_0.parquet"));

  // Read back through ScanSql: identical rows (EXCEPT ALL both ways).
  auto scan = ScanSql(schema, Tasks(*files), Identity);
  ASSERT_TRUE(scan) << scan.error().ToString();
  std::string expected = "SELECT " + std::string("*") + " FROM (" + kAllTypesRows + ")";
  auto typed = con_->Query("CREATE TABLE expected AS SELECT CAST(col0 AS BOOLEAN) b, CAST(col1 AS INTEGER) i, "
                           "CAST(col2 AS BIGINT) l, col3 f, col4 d, CAST(col5 AS DECIMAL(9,2)) dec9, "
                           "CAST(col6 AS DECIMAL(18,4)) dec18, CAST(col7 AS DECIMAL(38,10)) dec38, col8 dt, col9 t, "
                           "col10 ts, col11 tz, col12 s, col13 u, col14 fx, col15 bin, col16 st, col17 lst, col18 m "
                           "FROM (" + std::string(kAllTypesRows) + ")");
  ASSERT_TRUE(typed) << typed.error().ToString();
  EXPECT_EQ(Count(*scan), 3);
  EXPECT_EQ(Count("SELECT * FROM (" + *scan + ") EXCEPT ALL SELECT * FROM expected"), 0);
  EXPECT_EQ(Count("SELECT * FROM expected EXCEPT ALL SELECT * FROM (" + *scan + ")"), 0);
  auto names = con_->Query("DESCRIBE " + *scan);
  ASSERT_TRUE(names);
  EXPECT_EQ(names->GetString(0, 12), "s");
  EXPECT_EQ(names->GetString(1, 6), "DECIMAL(18,4)");
  auto text = con_->Query("SELECT s, dt::VARCHAR, st.y FROM (" + *scan + ") WHERE i = 1");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->GetString(0, 0), "héllo wörld ☃ 🧊");
  EXPECT_EQ(text->GetString(1, 0), "2024-02-29");

  // Field ids in the Parquet schema, nested ones included.
  auto ids = con_->Query("SELECT name, field_id FROM parquet_schema(" + QuoteLiteral(file.file_path) +
                         ") WHERE field_id IS NOT NULL");
  ASSERT_TRUE(ids);
  std::map<std::string, int64_t> by_name;
  for (size_t r = 0; r < ids->row_count(); ++r) by_name[*ids->GetString(0, r)] = ids->GetInt64(1, r);
  EXPECT_EQ(by_name["i"], 2);
  EXPECT_EQ(by_name["dec38"], 8);
  EXPECT_EQ(by_name["st"], 17);
  EXPECT_EQ(by_name["y"], 19);
  EXPECT_EQ(by_name["element"], 21);
  EXPECT_EQ(by_name["key"], 23);
  EXPECT_EQ(by_name["value"], 24);
  EXPECT_EQ(by_name.size(), 24u);

  // Metrics.
  EXPECT_EQ(file.value_counts.at(2), 3);
  EXPECT_EQ(file.null_value_counts.at(2), 1);
  EXPECT_EQ(file.null_value_counts.at(18), 2);  // null struct and null member
  EXPECT_GT(file.column_sizes.at(13), 0);
  EXPECT_EQ(file.nan_value_counts.at(5), 0);
  EXPECT_FALSE(file.nan_value_counts.contains(2));
  auto bound = [&](int id, bool lower) -> Datum {
    const auto& m = lower ? file.lower_bounds : file.upper_bounds;
    auto it = m.find(id);
    if (it == m.end()) return Datum{};
    auto d = iceberg::DecodeBound(*schema.FindField(id)->type, it->second);
    EXPECT_TRUE(d) << id;
    return d ? *d : Datum{};
  };
  EXPECT_EQ(bound(2, true), Datum{int32_t{-2147483648}});
  EXPECT_EQ(bound(2, false), Datum{int32_t{1}});
  EXPECT_EQ(bound(3, true), Datum{int64_t{-9223372036854775807}});
  EXPECT_EQ(bound(5, true), Datum{-1e300});
  EXPECT_EQ(bound(6, true), Datum{iceberg::Decimal128{-999999999}});
  EXPECT_EQ(bound(6, false), Datum{iceberg::Decimal128{123456789}});
  // 1234567890123456789012345678.0123456789 unscaled: 1234567890123456789 | 0123456780123456789
  __int128 big = static_cast<__int128>(1234567890123456789LL) * 10000000000000000000ULL + 123456780123456789LL;
  EXPECT_EQ(bound(8, false), Datum{iceberg::Decimal128{big}});
  EXPECT_EQ(bound(9, true), Datum{static_cast<int32_t>(DaysFromCivil(1900, 1, 1))});
  EXPECT_EQ(bound(10, false), Datum{int64_t{(13 * 3600 + 14 * 60 + 15) * 1000000LL + 123456}});
  EXPECT_EQ(bound(11, true), Datum{int64_t{-1}});
  EXPECT_EQ(bound(12, true), Datum{DaysFromCivil(1800, 6, 1) * 86400000000LL});
  EXPECT_EQ(bound(12, false), Datum{DaysFromCivil(2024, 2, 29) * 86400000000LL + 47655500000LL});
  EXPECT_EQ(bound(13, true), Datum{std::string("a")});
  // 'héllo wörld ☃ 🧊' has 15 code points: kept whole.
  EXPECT_EQ(bound(13, false), Datum{std::string("héllo wörld ☃ 🧊")});
  EXPECT_EQ(bound(14, false), Datum{iceberg::Bytes{std::string("\xf7\x9c\x3e\x09\x67\x7c\x4b\xbd\xa4\x79\x3f\x34\x9c\xb7\x85\xe7", 16)}});
  EXPECT_EQ(bound(16, false), Datum{iceberg::Bytes{std::string("\x00\xff", 2)}});
  EXPECT_EQ(bound(18, false), Datum{int32_t{5}});
  EXPECT_EQ(bound(19, true), Datum{std::string("in")});
  EXPECT_TRUE(iceberg::IsNull(bound(21, true)));  // no bounds inside lists
  EXPECT_EQ(file.value_counts.at(21), 5);  // 3 elements + 1 empty list + 1 null list
}

TEST_F(ParquetWriterTest, NanAndLongStringBounds) {
  iceberg::Schema schema(0, {{1, "d", false, Primitive(TypeId::kDouble)},
                             {2, "s", false, Primitive(TypeId::kString)},
                             {3, "f", false, Primitive(TypeId::kFloat)}});
  auto files = WriteParquet(*con_,
                            "SELECT * FROM (VALUES (1.0, 'abcdefghijklmnopqrstuvwxyz', 0.5::FLOAT), "
                            "('nan'::DOUBLE, 'abcdefghijklmnopZZZ', 0.25::FLOAT))",
                            schema, dir_.string());
  ASSERT_TRUE(files) << files.error().ToString();
  const auto& f = (*files)[0];
  EXPECT_FALSE(f.lower_bounds.contains(1));
  EXPECT_FALSE(f.nan_value_counts.contains(1));
  EXPECT_EQ(f.nan_value_counts.at(3), 0);
  EXPECT_EQ(*iceberg::DecodeBound(*Primitive(TypeId::kString), f.lower_bounds.at(2)),
            Datum{std::string("abcdefghijklmnop")});
  EXPECT_EQ(*iceberg::DecodeBound(*Primitive(TypeId::kString), f.upper_bounds.at(2)),
            Datum{std::string("abcdefghijklmnoq")});
  EXPECT_EQ(*iceberg::DecodeBound(*Primitive(TypeId::kFloat), f.lower_bounds.at(3)), Datum{0.25f});
}

TEST_F(ParquetWriterTest, RollsFilesAtTargetSize) {
  iceberg::Schema schema(0, {{1, "id", false, Primitive(TypeId::kLong)}, {2, "s", false, Primitive(TypeId::kString)}});
  WriteOptions options;
  options.target_file_size_bytes = 300000;
  options.row_group_size = 20000;
  auto files = WriteParquet(*con_, "SELECT i, md5(i::VARCHAR) FROM range(200000) t(i)", schema, dir_.string(), options);
  ASSERT_TRUE(files) << files.error().ToString();
  EXPECT_GE(files->size(), 3u);
  int64_t total = 0;
  std::set<std::string> names;
  for (const auto& f : *files) {
    total += f.record_count;
    names.insert(f.file_path);
    EXPECT_TRUE(std::filesystem::exists(f.file_path));
    EXPECT_TRUE(f.lower_bounds.contains(1));
  }
  EXPECT_EQ(total, 200000);
  EXPECT_EQ(names.size(), files->size());
  auto scan = ScanSql(schema, Tasks(*files), Identity);
  auto r = con_->Query("SELECT count(DISTINCT id), sum(id) FROM (" + *scan + ")");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->GetInt64(0, 0), 200000);
  EXPECT_EQ(r->GetInt64(1, 0), 199999LL * 200000 / 2);
  // A second write into the same directory keeps the first one's files.
  auto more = WriteParquet(*con_, "SELECT 1, 'x'", schema, dir_.string(), options);
  ASSERT_TRUE(more);
  for (const auto& f : *files) EXPECT_TRUE(std::filesystem::exists(f.file_path));
  // No rows -> no files.
  auto none = WriteParquet(*con_, "SELECT 1, 'x' WHERE false", schema, dir_.string(), options);
  ASSERT_TRUE(none) << none.error().ToString();
  EXPECT_TRUE(none->empty());
}

TEST_F(ParquetWriterTest, BucketFunctionMatchesSpecVectors) {
  ASSERT_TRUE(RegisterIcebergFunctions(*con_));
  ASSERT_TRUE(RegisterIcebergFunctions(*con_));  // idempotent
  auto expr = [&](const iceberg::Type& t, const std::string& v) {
    return *PartitionExpression(t, iceberg::Transform{iceberg::TransformKind::kBucket, 1000}, v);
  };
  std::string sql = "SELECT " + expr(*Primitive(TypeId::kInt), "34::INTEGER") + ", " +
                    expr(*Primitive(TypeId::kLong), "34::BIGINT") + ", " +
                    expr(*Primitive(TypeId::kString), "'iceberg'") + ", " +
                    expr(*iceberg::Decimal(4, 2), "14.20::DECIMAL(4,2)") + ", " +
                    expr(*Primitive(TypeId::kUuid), "UUID 'f79c3e09-677c-4bbd-a479-3f349cb785e7'") + ", " +
                    expr(*Primitive(TypeId::kDate), "DATE '2017-11-16'") + ", " +
                    expr(*Primitive(TypeId::kInt), "NULL::INTEGER");
  auto r = con_->Query(sql);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->GetInt64(0, 0), 2017239379 % 1000);
  EXPECT_EQ(r->GetInt64(1, 0), 2017239379 % 1000);
  EXPECT_EQ(r->GetInt64(2, 0), 1210000089 % 1000);
  EXPECT_EQ(r->GetInt64(3, 0), (-500754589 & 0x7FFFFFFF) % 1000);
  EXPECT_EQ(r->GetInt64(4, 0), 1488055340 % 1000);
  EXPECT_EQ(r->GetInt64(5, 0), (-653330422 & 0x7FFFFFFF) % 1000);
  EXPECT_TRUE(r->IsNull(6, 0));
}

TEST_F(ParquetWriterTest, PartitionedWriteMatchesTransformApply) {
  iceberg::Schema schema(0, {{1, "id", false, Primitive(TypeId::kLong)},
                             {2, "ts", false, Primitive(TypeId::kTimestampTz)},
                             {3, "s", false, Primitive(TypeId::kString)},
                             {4, "dec", false, iceberg::Decimal(10, 2)},
                             {5, "st", false, iceberg::Struct({{6, "d", false, Primitive(TypeId::kDate)}})}});
  iceberg::PartitionSpec spec;
  spec.fields = {{2, 1000, "ts_day", {iceberg::TransformKind::kDay, 0}},
                 {3, 1001, "s_bucket", {iceberg::TransformKind::kBucket, 4}},
                 {4, 1002, "dec_trunc", {iceberg::TransformKind::kTruncate, 50}},
                 {6, 1003, "d_month", {iceberg::TransformKind::kMonth, 0}},
                 {1, 1004, "id_hour_void", {iceberg::TransformKind::kVoid, 0}},
                 {2, 1005, "ts_hour", {iceberg::TransformKind::kHour, 0}}};
  std::string rows =
      "SELECT i, TIMESTAMPTZ '1969-12-30 22:30:00+00' + to_hours(i * 7), 'k' || (i % 5), "
      "(i * 1.37 - 20)::DECIMAL(10,2), {'d': DATE '1969-11-15' + (i * 11)::INTEGER} FROM range(40) t(i) "
      "UNION ALL SELECT 99, NULL, NULL, NULL, NULL";
  auto files = WritePartitioned(*con_, rows, schema, spec, dir_.string());
  ASSERT_TRUE(files) << files.error().ToString();
  EXPECT_GT(files->size(), 5u);
  auto ptype = *spec.PartitionType(schema);
  int64_t total = 0;
  for (const auto& f : *files) {
    total += f.record_count;
    ASSERT_EQ(f.partition.size(), 6u);
    // Every row of the file maps to the file's partition tuple.
    auto r = con_->Query("SELECT ts::VARCHAR, s, dec::VARCHAR, st.d::VARCHAR FROM read_parquet(" +
                         QuoteLiteral(f.file_path) + ")");
    ASSERT_TRUE(r) << r.error().ToString();
    for (size_t row = 0; row < r->row_count(); ++row) {
      auto value = [&](size_t col, const iceberg::Type& t) -> Datum {
        auto s = r->GetString(col, row);
        return s ? *ParseStatValue(t, *s) : Datum{};
      };
      const auto& tz = *Primitive(TypeId::kTimestampTz);
      auto dec_type = iceberg::Decimal(10, 2);
      const auto& dec = *dec_type;
      EXPECT_EQ(*spec.fields[0].transform.Apply(tz, value(0, tz)), f.partition[0]);
      EXPECT_EQ(*spec.fields[1].transform.Apply(*Primitive(TypeId::kString), value(1, *Primitive(TypeId::kString))),
                f.partition[1]);
      EXPECT_EQ(*spec.fields[2].transform.Apply(dec, value(2, dec)), f.partition[2]);
      EXPECT_EQ(*spec.fields[3].transform.Apply(*Primitive(TypeId::kDate), value(3, *Primitive(TypeId::kDate))),
                f.partition[3]);
      EXPECT_TRUE(iceberg::IsNull(f.partition[4]));
      EXPECT_EQ(*spec.fields[5].transform.Apply(tz, value(0, tz)), f.partition[5]);
    }
    for (size_t i = 0; i < f.partition.size(); ++i) {
      if (!iceberg::IsNull(f.partition[i])) {
        EXPECT_TRUE(iceberg::EncodeBound(*ptype->fields[i].type, f.partition[i]));
      }
    }
  }
  EXPECT_EQ(total, 41);
}

TEST_F(ParquetWriterTest, PositionDeletesAppliedPerTask) {
  iceberg::Schema schema(0, {{1, "id", false, Primitive(TypeId::kLong)}});
  auto a = WriteParquet(*con_, "SELECT i FROM range(10) t(i)", schema, (dir_ / "a").string());
  auto b = WriteParquet(*con_, "SELECT i + 100 FROM range(10) t(i)", schema, (dir_ / "b").string());
  ASSERT_TRUE(a && b);
  std::string path_a = "file://" + (*a)[0].file_path, path_b = "file://" + (*b)[0].file_path;
  (*a)[0].file_path = path_a;
  (*b)[0].file_path = path_b;
  auto dels = WritePositionDeletes(*con_,
                                   "SELECT * FROM (VALUES (" + QuoteLiteral(path_a) + ", 3), (" + QuoteLiteral(path_a) +
                                       ", 1), (" + QuoteLiteral(path_b) + ", 0))",
                                   (dir_ / "del").string());
  ASSERT_TRUE(dels) << dels.error().ToString();
  ASSERT_EQ(dels->size(), 1u);
  auto& del = (*dels)[0];
  EXPECT_EQ(del.content, iceberg::FileContent::kPositionDeletes);
  EXPECT_EQ(del.record_count, 3);
  auto str = Primitive(TypeId::kString);
  EXPECT_EQ(*iceberg::DecodeBound(*str, del.lower_bounds.at(iceberg::kDeleteFilePathFieldId)),
            Datum{std::min(path_a, path_b)});
  EXPECT_EQ(*iceberg::DecodeBound(*str, del.upper_bounds.at(iceberg::kDeleteFilePathFieldId)),
            Datum{std::max(path_a, path_b)});
  auto sorted = con_->Query("SELECT pos FROM read_parquet(" + QuoteLiteral(del.file_path) + ")");
  ASSERT_TRUE(sorted);
  auto ids = con_->Query("SELECT field_id FROM parquet_schema(" + QuoteLiteral(del.file_path) +
                         ") WHERE name IN ('file_path', 'pos') ORDER BY name");
  EXPECT_EQ(ids->GetInt64(0, 0), iceberg::kDeleteFilePathFieldId);
  EXPECT_EQ(ids->GetInt64(0, 1), iceberg::kDeletePosFieldId);
  del.file_path = "file://" + del.file_path;

  // The delete file applies to a only: b's row 0 stays.
  auto tasks = Tasks({(*a)[0], (*b)[0]});
  tasks[0].position_deletes.push_back(del);
  auto strip = [](const std::string& p) { return p.starts_with("file://") ? p.substr(7) : p; };
  auto scan = ScanSql(schema, tasks, strip);
  ASSERT_TRUE(scan) << scan.error().ToString();
  auto r = con_->Query("SELECT list(id ORDER BY id)::VARCHAR, count(*) FROM (" + *scan + ")");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->GetInt64(1, 0), 18);
  EXPECT_EQ(Count("SELECT * FROM (" + *scan + ") WHERE id IN (1, 3)"), 0);
  EXPECT_EQ(Count("SELECT * FROM (" + *scan + ") WHERE id = 100"), 1);
  tasks[1].position_deletes.push_back(del);
  scan = ScanSql(schema, tasks, strip);
  EXPECT_EQ(Count(*scan), 17);
}

}  // namespace
}  // namespace frazil::engine

namespace frazil::engine {
namespace {

TEST(ParquetWriterFixedTest, FixedColumnsAreRefusedWithAClearError) {
  auto db = Database::Open();
  ASSERT_TRUE(db);
  auto con = Connection::Open(*db);
  ASSERT_TRUE(con);
  iceberg::Schema schema(0, {{1, "id", false, iceberg::Primitive(iceberg::TypeId::kLong)},
                             {2, "hash", false, iceberg::Fixed(16)}});
  auto r = WriteParquet(*con, "SELECT 1, '\\x00'::BLOB", schema, "/tmp/frazil-fixed-refused");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kUnsupported);
  EXPECT_NE(r.error().message.find("'hash'"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace frazil::engine
