#include "frazil/cdc/changelog.h"

#include <gtest/gtest.h>

namespace frazil::cdc {
namespace {

constexpr uint32_t kInt4 = 23;
constexpr uint32_t kInt8 = 20;
constexpr uint32_t kText = 25;
constexpr uint32_t kNumeric = 1700;

SourceColumn Col(std::string name, uint32_t oid, int32_t typmod = -1, bool key = false) {
  SourceColumn c;
  c.name = std::move(name);
  c.type.oid = oid;
  c.type.typmod = typmod;
  c.is_key = key;
  return c;
}

SourceTable Users() {
  SourceTable t;
  t.oid = 42;
  t.schema = "public";
  t.name = "users";
  t.columns = {Col("id", kInt4, -1, true), Col("name", kText), Col("balance", kNumeric, (10 << 16 | 2) + 4)};
  return t;
}

TEST(CopyTextTest, ParsesNullsEscapesAndEmptyStrings) {
  std::vector<std::optional<std::string_view>> fields;
  std::vector<std::string> scratch;
  ASSERT_TRUE(ParseCopyTextLine("1\t\\N\ta\\tb\\\\c\\nd\t\t\\101\t\\x41\n", 6, fields, scratch));
  ASSERT_EQ(fields.size(), 6u);
  EXPECT_EQ(*fields[0], "1");
  EXPECT_FALSE(fields[1].has_value());
  EXPECT_EQ(*fields[2], "a\tb\\c\nd");
  EXPECT_EQ(*fields[3], "");
  EXPECT_EQ(*fields[4], "A");
  EXPECT_EQ(*fields[5], "A");
}

TEST(CopyTextTest, WrongFieldCountIsCorrupt) {
  std::vector<std::optional<std::string_view>> fields;
  std::vector<std::string> scratch;
  auto s = ParseCopyTextLine("1\t2\n", 3, fields, scratch);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::kCorrupt);
}

TEST(RawSchemaTest, SourceColumnsThenChangelogColumnsThenOldImage) {
  auto schema = NewRawSchema(Users());
  ASSERT_TRUE(schema) << schema.error().message;
  std::vector<std::string> names;
  for (const auto& f : schema->fields()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"id", "name", "balance", "_op", "_lsn", "_commit_lsn", "_txid",
                                             "_commit_ts", "_seq", "_old"}));
  EXPECT_EQ(schema->FindField(std::string_view("balance"))->type->ToString(), "decimal(10, 2)");
  EXPECT_TRUE(schema->FindField(std::string_view("_op"))->required);
  EXPECT_NE(schema->FindField(std::string_view("_old.balance")), nullptr);
}

TEST(RawSchemaTest, ColumnNamedLikeAChangelogColumnIsRefused) {
  auto t = Users();
  t.columns.push_back(Col("_op", kText));
  auto schema = NewRawSchema(t);
  ASSERT_FALSE(schema);
  EXPECT_NE(schema.error().message.find("_op"), std::string::npos);
}

TEST(RawSchemaTest, EvolutionKeepsIdsPromotesAddsAndDrops) {
  auto base = NewRawSchema(Users());
  ASSERT_TRUE(base);
  int last = base->HighestFieldId();
  int id_field = base->FindField(std::string_view("id"))->id;
  int name_field = base->FindField(std::string_view("name"))->id;
  // id int -> bigint (promotion), balance dropped, email added, name text -> int (not a promotion).
  std::vector<SourceColumn> next = {Col("id", kInt8, -1, true), Col("name", kInt4), Col("email", kText)};
  auto evolved = EvolveRawSchema(*base, last, next, {});
  ASSERT_TRUE(evolved) << evolved.error().message;
  ASSERT_TRUE(evolved->has_value());
  const auto& s = **evolved;
  EXPECT_EQ(s.FindField(std::string_view("id"))->id, id_field);
  EXPECT_EQ(s.FindField(std::string_view("id"))->type->ToString(), "long");
  EXPECT_GT(s.FindField(std::string_view("name"))->id, last);  // replaced: a new id
  EXPECT_NE(s.FindField(std::string_view("name"))->id, name_field);
  EXPECT_GT(s.FindField(std::string_view("email"))->id, last);
  EXPECT_EQ(s.FindField(std::string_view("balance")), nullptr);
  EXPECT_EQ(s.FindField(std::string_view("_old.balance")), nullptr);
  EXPECT_NE(s.FindField(std::string_view("_old.email")), nullptr);
  EXPECT_EQ(s.FindField(std::string_view("_lsn"))->id, base->FindField(std::string_view("_lsn"))->id);
}

TEST(RawSchemaTest, RenameKeepsTheFieldId) {
  auto base = NewRawSchema(Users());
  ASSERT_TRUE(base);
  int name_field = base->FindField(std::string_view("name"))->id;
  std::vector<SourceColumn> next = {Col("id", kInt4, -1, true), Col("full_name", kText),
                                    Col("balance", kNumeric, (10 << 16 | 2) + 4)};
  auto evolved = EvolveRawSchema(*base, base->HighestFieldId(), next, {{"name", "full_name"}});
  ASSERT_TRUE(evolved && evolved->has_value());
  EXPECT_EQ((*evolved)->FindField(std::string_view("full_name"))->id, name_field);
  // Without the rename it is a drop and an add.
  auto unknown = EvolveRawSchema(*base, base->HighestFieldId(), next, {});
  ASSERT_TRUE(unknown && unknown->has_value());
  EXPECT_NE((*unknown)->FindField(std::string_view("full_name"))->id, name_field);
}

TEST(RawSchemaTest, UnchangedColumnsAreNoEvolution) {
  auto base = NewRawSchema(Users());
  ASSERT_TRUE(base);
  auto evolved = EvolveRawSchema(*base, base->HighestFieldId(), Users().columns, {});
  ASSERT_TRUE(evolved);
  EXPECT_FALSE(evolved->has_value());
}

class ChangeBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::Database::Open();
    ASSERT_TRUE(db);
    db_ = std::make_unique<engine::Database>(std::move(*db));
    auto con = engine::Connection::Open(*db_);
    ASSERT_TRUE(con);
    con_ = std::make_unique<engine::Connection>(std::move(*con));
  }
  std::unique_ptr<engine::Database> db_;
  std::unique_ptr<engine::Connection> con_;
};

TupleValue Text(std::string_view s) { return TupleValue{ValueKind::kText, s}; }

TEST_F(ChangeBufferTest, StagedTextBecomesTypedRowsAndToastIsTakenFromTheOldRow) {
  auto schema = NewRawSchema(Users());
  ASSERT_TRUE(schema);
  auto layout = MakeLayout(Users().columns, *schema);
  ASSERT_TRUE(layout) << layout.error().message;
  auto buffer = ChangeBuffer::Create(*con_, 3);
  ASSERT_TRUE(buffer);
  RowMeta meta;
  meta.op = 'u';
  meta.lsn = 100;
  meta.commit_lsn = 200;
  meta.txid = 7;
  meta.commit_ts_us = 1700000000000000;
  meta.seq = 0;
  Tuple old_row = {Text("1"), Text("a long toasted name"), Text("10.50")};
  Tuple new_row = {Text("1"), TupleValue{ValueKind::kUnchangedToast, {}}, Text("11.25")};
  ASSERT_TRUE((*buffer)->Append(meta, &new_row, &old_row));
  meta.op = 'd';
  meta.seq = 1;
  Tuple key_only = {Text("2"), TupleValue{}, TupleValue{}};
  ASSERT_TRUE((*buffer)->Append(meta, &key_only, nullptr));
  EXPECT_FALSE((*buffer)->has_unchanged_toast());
  auto q = con_->Query("SELECT id, name, CAST(balance AS VARCHAR), _op, _lsn, _commit_lsn, _seq, "
                       "CAST(_commit_ts AS VARCHAR), _old.name, CAST(_old.balance AS VARCHAR) FROM (SELECT " +
                       layout->select_list + " FROM " + (*buffer)->sql() + ") ORDER BY _seq");
  ASSERT_TRUE(q) << q.error().message;
  auto rows = q->FetchAll();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(*rows[0][1], "a long toasted name");
  EXPECT_EQ(*rows[0][2], "11.25");
  EXPECT_EQ(*rows[0][3], "u");
  EXPECT_EQ(*rows[0][5], "200");
  EXPECT_EQ(*rows[0][7], "2023-11-14 22:13:20+00");
  EXPECT_EQ(*rows[0][8], "a long toasted name");
  EXPECT_EQ(*rows[0][9], "10.50");
  EXPECT_EQ(*rows[1][0], "2");
  EXPECT_FALSE(rows[1][1].has_value());
  EXPECT_FALSE(rows[1][8].has_value());  // no old image for the delete
}

TEST_F(ChangeBufferTest, UnresolvedToastIsFlaggedNotNulled) {
  auto buffer = ChangeBuffer::Create(*con_, 2);
  ASSERT_TRUE(buffer);
  RowMeta meta;
  meta.lsn = 77;
  Tuple row = {Text("1"), TupleValue{ValueKind::kUnchangedToast, {}}};
  ASSERT_TRUE((*buffer)->Append(meta, &row, nullptr));
  EXPECT_TRUE((*buffer)->has_unchanged_toast());
  auto toast = (*buffer)->FirstUnresolvedToast();
  ASSERT_TRUE(toast.has_value());
  EXPECT_EQ(toast->first, 1u);
  EXPECT_EQ(toast->second, 77u);
  auto q = con_->Query("SELECT _unchanged, c1 FROM " + (*buffer)->sql());
  ASSERT_TRUE(q);
  auto rows = q->FetchAll();
  EXPECT_EQ(*rows[0][0], "1");
  EXPECT_FALSE(rows[0][1].has_value());
}

TEST_F(ChangeBufferTest, DroppingASubtransactionKeepsTheOtherRowsInOrder) {
  auto buffer = ChangeBuffer::Create(*con_, 1);
  ASSERT_TRUE(buffer);
  Tuple a = {Text("a")};
  Tuple b = {Text("b")};
  Tuple c = {Text("c")};
  RowMeta meta;
  meta.stream_xid = 99;
  meta.subxid = 99;
  ASSERT_TRUE((*buffer)->Append(meta, &a, nullptr));
  meta.subxid = 100;
  ASSERT_TRUE((*buffer)->Append(meta, &b, nullptr));
  meta.subxid = 99;
  ASSERT_TRUE((*buffer)->Append(meta, &c, nullptr));
  (*buffer)->DropSubtransaction(100);
  EXPECT_EQ((*buffer)->rows(), 2);
  auto q = con_->Query("SELECT string_agg(c0, '') FROM " + (*buffer)->sql());
  ASSERT_TRUE(q);
  EXPECT_EQ(*q->FetchAll()[0][0], "ac");
}

TEST_F(ChangeBufferTest, ManyRowsStreamThroughTheTableFunction) {
  auto buffer = ChangeBuffer::Create(*con_, 1);
  ASSERT_TRUE(buffer);
  RowMeta meta;
  std::vector<std::string> values;
  for (int i = 0; i < 5000; ++i) values.push_back(std::string(i % 50, 'x') + std::to_string(i));
  for (int i = 0; i < 5000; ++i) {
    meta.lsn = static_cast<Lsn>(i);
    Tuple t = {i % 7 == 0 ? TupleValue{} : Text(values[i])};
    ASSERT_TRUE((*buffer)->Append(meta, &t, nullptr));
  }
  auto q = con_->Query("SELECT count(*), count(c0), sum(_lsn), max(length(c0)) FROM " + (*buffer)->sql());
  ASSERT_TRUE(q) << q.error().message;
  auto rows = q->FetchAll();
  EXPECT_EQ(*rows[0][0], "5000");
  EXPECT_EQ(*rows[0][1], std::to_string(5000 - 715));
  EXPECT_EQ(*rows[0][2], std::to_string(4999 * 5000 / 2));
  EXPECT_EQ(*rows[0][3], "53");
}

}  // namespace
}  // namespace frazil::cdc
