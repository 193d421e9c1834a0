#include "frazil/engine/duckdb.h"

#include <gtest/gtest.h>

namespace frazil::engine {
namespace {

class DuckDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open({.threads = 2});
    ASSERT_TRUE(db) << db.error().ToString();
    db_.emplace(std::move(*db));
    auto con = Connection::Open(*db_);
    ASSERT_TRUE(con) << con.error().ToString();
    con_.emplace(std::move(*con));
  }
  std::optional<Database> db_;
  std::optional<Connection> con_;
};

TEST_F(DuckDbTest, QueryReturnsColumnsAndNullAwareStrings) {
  auto r = con_->Query("SELECT 42::BIGINT AS a, NULL::VARCHAR AS b, 'x''y' AS c, 1.5::DOUBLE AS d, true AS e");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->column_count(), 5u);
  EXPECT_EQ(r->column_name(0), "a");
  EXPECT_EQ(r->column_type(0), DUCKDB_TYPE_BIGINT);
  EXPECT_EQ(r->row_count(), 1u);
  EXPECT_EQ(r->GetInt64(0, 0), 42);
  EXPECT_EQ(r->GetString(1, 0), std::nullopt);
  EXPECT_TRUE(r->IsNull(1, 0));
  EXPECT_EQ(r->GetString(2, 0), "x'y");
  EXPECT_DOUBLE_EQ(r->GetDouble(3, 0), 1.5);
  EXPECT_TRUE(r->GetBool(4, 0));
}

TEST_F(DuckDbTest, ErrorsCarryDuckDbMessage) {
  auto r = con_->Query("SELECT * FROM no_such_table");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no_such_table"), std::string::npos);
  auto s = con_->Execute("SELEC 1");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(DuckDbTest, ChunksIterateAllRows) {
  auto r = con_->Query("SELECT i::BIGINT, i::VARCHAR, CASE WHEN i % 2 = 0 THEN NULL ELSE i::INTEGER END FROM range(5000) t(i)");
  ASSERT_TRUE(r);
  int64_t sum = 0, rows = 0, nulls = 0;
  std::string last;
  while (auto chunk = r->NextChunk()) {
    for (size_t i = 0; i < chunk->size(); ++i) {
      sum += chunk->GetInt64(0, i);
      last = std::string(chunk->GetStringView(1, i));
      if (chunk->IsNull(2, i)) {
        ++nulls;
      } else {
        EXPECT_EQ(chunk->GetInt32(2, i), chunk->GetInt64(0, i));
      }
      ++rows;
    }
  }
  EXPECT_EQ(rows, 5000);
  EXPECT_EQ(sum, 4999LL * 5000 / 2);
  EXPECT_EQ(nulls, 2500);
  EXPECT_EQ(last, "4999");
}

TEST_F(DuckDbTest, NestedStringMap) {
  auto r = con_->Query("SELECT MAP{'a': MAP{'x': '1', 'y': NULL}, 'b': MAP{}}");
  ASSERT_TRUE(r);
  auto chunk = r->NextChunk();
  ASSERT_TRUE(chunk);
  auto m = chunk->GetNestedStringMap(0, 0);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].first, "a");
  ASSERT_EQ(m[0].second.size(), 2u);
  EXPECT_EQ(m[0].second[0], (std::pair<std::string, std::string>{"x", "1"}));
  EXPECT_EQ(m[0].second[1].second, "");
  EXPECT_TRUE(m[1].second.empty());
}

TEST_F(DuckDbTest, PreparedStatementBindsParameters) {
  auto stmt = con_->Prepare("SELECT $1::BIGINT + 1, $2 || '!', $3 IS NULL, octet_length($4)");
  ASSERT_TRUE(stmt) << stmt.error().ToString();
  EXPECT_EQ(stmt->parameter_count(), 4u);
  ASSERT_TRUE(stmt->BindInt64(1, 41));
  ASSERT_TRUE(stmt->BindString(2, "hi"));
  ASSERT_TRUE(stmt->BindNull(3));
  ASSERT_TRUE(stmt->BindBlob(4, std::string("\0\1\2", 3)));
  auto r = stmt->Execute();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->GetInt64(0, 0), 42);
  EXPECT_EQ(r->GetString(1, 0), "hi!");
  EXPECT_TRUE(r->GetBool(2, 0));
  EXPECT_EQ(r->GetInt64(3, 0), 3);
  EXPECT_FALSE(con_->Prepare("SELECT FROM WHERE"));
}

TEST_F(DuckDbTest, AppenderAppendsRows) {
  ASSERT_TRUE(con_->Execute("CREATE TABLE t (a BIGINT, b VARCHAR, c DOUBLE, d BOOLEAN)"));
  {
    auto app = Appender::Open(*con_, "t");
    ASSERT_TRUE(app) << app.error().ToString();
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(app->AppendInt64(i));
      ASSERT_TRUE(i == 1 ? app->AppendNull() : app->AppendString("v" + std::to_string(i)));
      ASSERT_TRUE(app->AppendDouble(i / 2.0));
      ASSERT_TRUE(app->AppendBool(i % 2 == 0));
      ASSERT_TRUE(app->EndRow());
    }
    ASSERT_TRUE(app->Close());
  }
  auto rows = con_->Query("SELECT * FROM t ORDER BY a")->FetchAll();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][1], std::nullopt);
  EXPECT_EQ(rows[2][1], "v2");
  EXPECT_EQ(rows[2][2], "1.0");
  EXPECT_FALSE(Appender::Open(*con_, "missing"));
}

TEST(DuckDbQuoteTest, Quotes) {
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
}

TEST(DuckDbOpenTest, FileDatabaseAndBadSetting) {
  auto bad = Database::Open({.memory_limit = "lots"});
  EXPECT_FALSE(bad);
  std::string path = ::testing::TempDir() + "/frazil_duckdb_test.db";
  std::remove(path.c_str());
  {
    auto db = Database::Open({.path = path});
    ASSERT_TRUE(db) << db.error().ToString();
    auto con = Connection::Open(*db);
    ASSERT_TRUE(con->Execute("CREATE TABLE x AS SELECT 7 AS v"));
  }
  auto db = Database::Open({.path = path});
  ASSERT_TRUE(db);
  auto con = Connection::Open(*db);
  EXPECT_EQ(con->Query("SELECT v FROM x")->GetInt64(0, 0), 7);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace frazil::engine
