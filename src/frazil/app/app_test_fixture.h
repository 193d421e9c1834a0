// Shared fixtures of the app tests: a fresh warehouse per test, helpers to run SQL and
// compare with DuckDB over the same source rows, and a partitioned table.
#pragma once

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


}  // namespace
}  // namespace frazil::app
