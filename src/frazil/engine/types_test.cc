#include "frazil/engine/types.h"

#include <gtest/gtest.h>

#include "frazil/engine/stats_text.h"

namespace frazil::engine {
namespace {

using iceberg::NestedField;
using iceberg::Primitive;
using iceberg::TypeId;

TEST(TypesTest, IcebergToDuckDb) {
  EXPECT_EQ(IcebergTypeToDuckDb(*iceberg::Decimal(10, 2)), "DECIMAL(10,2)");
  EXPECT_EQ(IcebergTypeToDuckDb(*Primitive(TypeId::kUuid)), "UUID");
  EXPECT_EQ(IcebergTypeToDuckDb(*iceberg::Fixed(16)), "BLOB");
  EXPECT_EQ(IcebergTypeToDuckDb(*Primitive(TypeId::kTimestampTz)), "TIMESTAMPTZ");
  EXPECT_EQ(IcebergTypeToDuckDb(*Primitive(TypeId::kTime)), "TIME");
  auto st = iceberg::Struct({NestedField{1, "a", false, Primitive(TypeId::kInt)},
                             NestedField{2, "b c", false, iceberg::List(3, Primitive(TypeId::kString), false)}});
  EXPECT_EQ(IcebergTypeToDuckDb(*st), "STRUCT(\"a\" INTEGER, \"b c\" VARCHAR[])");
  auto m = iceberg::Map(4, Primitive(TypeId::kString), 5, Primitive(TypeId::kLong), false);
  EXPECT_EQ(IcebergTypeToDuckDb(*m), "MAP(VARCHAR, BIGINT)");
}

TEST(TypesTest, DuckDbToIcebergPrimitives) {
  TypeInference inf;
  auto conv = [&](std::string_view t) { return DuckDbTypeToIceberg(t, "c", &inf); };
  EXPECT_EQ(conv("SMALLINT").value()->id, TypeId::kInt);
  EXPECT_EQ(conv("UINTEGER").value()->id, TypeId::kLong);
  auto huge = conv("HUGEINT").value();
  EXPECT_EQ(huge->id, TypeId::kDecimal);
  EXPECT_EQ(huge->precision, 38);
  EXPECT_EQ(conv("UBIGINT").value()->precision, 20);
  auto dec = conv("DECIMAL(18,3)").value();
  EXPECT_EQ(dec->precision, 18);
  EXPECT_EQ(dec->scale, 3);
  EXPECT_EQ(conv("TIMESTAMP_NS").value()->id, TypeId::kTimestamp);
  EXPECT_EQ(conv("TIMESTAMP WITH TIME ZONE").value()->id, TypeId::kTimestampTz);
  EXPECT_EQ(conv("BLOB").value()->id, TypeId::kBinary);
  EXPECT_TRUE(inf.notes.empty());
  EXPECT_EQ(conv("INTERVAL").value()->id, TypeId::kString);
  EXPECT_EQ(conv("ENUM('a', 'b')").value()->id, TypeId::kString);
  EXPECT_EQ(inf.notes.size(), 2u);
  auto bad = conv("GEOMETRY");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kUnsupported);
  EXPECT_NE(bad.error().message.find("column c"), std::string::npos);
}

TEST(TypesTest, DuckDbToIcebergNestedAssignsFreshIds) {
  TypeInference inf;
  inf.next_id = 10;
  auto t = DuckDbTypeToIceberg("STRUCT(a INTEGER, \"b, c\" MAP(VARCHAR, DOUBLE[]), d INTEGER[3])", "s", &inf);
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ((*t)->id, TypeId::kStruct);
  ASSERT_EQ((*t)->fields.size(), 3u);
  EXPECT_EQ((*t)->fields[0].id, 10);
  EXPECT_EQ((*t)->fields[1].name, "b, c");
  EXPECT_EQ((*t)->fields[1].id, 11);
  const auto& m = *(*t)->fields[1].type;
  ASSERT_EQ(m.id, TypeId::kMap);
  EXPECT_EQ(m.value().type->id, TypeId::kList);
  EXPECT_EQ(m.value().type->element().type->id, TypeId::kDouble);
  EXPECT_EQ((*t)->fields[2].type->id, TypeId::kList);
  EXPECT_EQ(inf.next_id, 17);  // 3 members + key + value + list element + array element
}

TEST(TypesTest, InferSchemaFromQuery) {
  auto db = Database::Open();
  auto con = Connection::Open(*db);
  std::vector<std::string> notes;
  auto schema = InferSchema(*con,
                            "SELECT 1::TINYINT a, 'x' b, {'p': 1.5::FLOAT, 'q': [1::BIGINT]} c, "
                            "INTERVAL 1 DAY d, 12.5::DECIMAL(9,1) e",
                            &notes);
  ASSERT_TRUE(schema) << schema.error().ToString();
  ASSERT_EQ(schema->fields().size(), 5u);
  EXPECT_EQ(schema->fields()[0].id, 1);
  EXPECT_EQ(schema->fields()[2].type->fields[1].type->id, TypeId::kList);
  EXPECT_EQ(schema->fields()[3].type->id, TypeId::kString);
  EXPECT_EQ(schema->HighestFieldId(), 8);
  EXPECT_TRUE(schema->Validate());
  ASSERT_EQ(notes.size(), 1u);
}

TEST(StatsTextTest, ParsesDuckDbText) {
  using iceberg::Datum;
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kDate), "1960-01-02"), Datum{int32_t{-3652}});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kDate), "2017-11-16"), Datum{int32_t{17486}});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kTime), "01:00:00.5"), Datum{int64_t{3600500000}});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kTimestamp), "1969-12-31 23:59:59.999999"), Datum{int64_t{-1}});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kTimestampTz), "1970-01-01 05:30:00+05:30"), Datum{int64_t{0}});
  EXPECT_EQ(ParseStatValue(*iceberg::Decimal(10, 2), "-12.3"), Datum{iceberg::Decimal128{-1230}});
  EXPECT_EQ(ParseStatValue(*iceberg::Decimal(10, 2), "7"), Datum{iceberg::Decimal128{700}});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kBinary), "00FF"), Datum{iceberg::Bytes{std::string("\0\xff", 2)}});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kBoolean), "1"), Datum{true});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kFloat), "0.1"), Datum{0.1f});
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kDouble), "nan"), std::nullopt);
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kInt), "12x"), std::nullopt);
  EXPECT_EQ(ParseStatValue(*Primitive(TypeId::kDate), "0001-01-01 (BC)"),
            Datum{static_cast<int32_t>(DaysFromCivil(0, 1, 1))});
}

TEST(StatsTextTest, TruncatesBounds) {
  using iceberg::Datum;
  auto str = Primitive(TypeId::kString);
  std::string s = "abcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(TruncateLowerBound(*str, Datum{s}, 16), Datum{std::string("abcdefghijklmnop")});
  EXPECT_EQ(TruncateUpperBound(*str, Datum{s}, 16), Datum{std::string("abcdefghijklmnoq")});
  EXPECT_EQ(TruncateUpperBound(*str, Datum{std::string("short")}, 16), Datum{std::string("short")});
  // 17 code points, multi-byte: truncation counts code points, not bytes.
  std::string u = "ééééééééééééééééé";
  auto lo = TruncateLowerBound(*str, Datum{u}, 16);
  EXPECT_EQ(std::get<std::string>(*lo).size(), 32u);
  auto hi = TruncateUpperBound(*str, Datum{u}, 16);
  EXPECT_EQ(std::get<std::string>(*hi), "ééééééééééééééé\xc3\xaa");  // é (U+E9) -> ê (U+EA)
  auto bin = Primitive(TypeId::kBinary);
  EXPECT_EQ(TruncateUpperBound(*bin, Datum{iceberg::Bytes{std::string(17, '\xff')}}, 16), std::nullopt);
  EXPECT_EQ(TruncateUpperBound(*bin, Datum{iceberg::Bytes{std::string(15, 'a') + "\xff\xff"}}, 16),
            Datum{iceberg::Bytes{std::string(14, 'a') + "b"}});
}

}  // namespace
}  // namespace frazil::engine
