// Tests for type.h, schema.h and partition_spec.h.
#include "frazil/iceberg/type.h"

#include <gtest/gtest.h>

#include "frazil/iceberg/test_util.h"

#include <nlohmann/json.hpp>

#include "frazil/iceberg/partition_spec.h"
#include "frazil/iceberg/schema.h"

namespace frazil::iceberg {
namespace {

using testing::Field;

TEST(TypeTest, PrimitivesAreSharedSingletons) {
  EXPECT_EQ(Primitive(TypeId::kLong).get(), Primitive(TypeId::kLong).get());
  EXPECT_NE(Primitive(TypeId::kLong).get(), Primitive(TypeId::kInt).get());
  EXPECT_EQ(Primitive(TypeId::kTimestampTz)->id, TypeId::kTimestampTz);
}

TEST(TypeTest, ParsesAllPrimitiveNames) {
  const std::pair<const char*, TypeId> cases[] = {
      {"boolean", TypeId::kBoolean}, {"int", TypeId::kInt},
      {"long", TypeId::kLong},       {"float", TypeId::kFloat},
      {"double", TypeId::kDouble},   {"date", TypeId::kDate},
      {"time", TypeId::kTime},       {"timestamp", TypeId::kTimestamp},
      {"timestamptz", TypeId::kTimestampTz}, {"string", TypeId::kString},
      {"uuid", TypeId::kUuid},       {"binary", TypeId::kBinary},
  };
  for (const auto& [name, id] : cases) {
    auto t = ParsePrimitiveType(name);
    ASSERT_TRUE(t.has_value()) << name;
    EXPECT_EQ((*t)->id, id) << name;
    EXPECT_EQ((*t)->ToString(), name);
  }
}

TEST(TypeTest, ParsesDecimalAndFixed) {
  for (const char* text : {"decimal(9,2)", "decimal(9, 2)", " decimal( 9 , 2 ) "}) {
    auto t = ParsePrimitiveType(text);
    ASSERT_TRUE(t.has_value()) << text;
    EXPECT_EQ((*t)->id, TypeId::kDecimal);
    EXPECT_EQ((*t)->precision, 9);
    EXPECT_EQ((*t)->scale, 2);
    EXPECT_EQ((*t)->ToString(), "decimal(9, 2)");
  }
  auto f = ParsePrimitiveType("fixed[16]");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ((*f)->id, TypeId::kFixed);
  EXPECT_EQ((*f)->length, 16);
  EXPECT_EQ((*f)->ToString(), "fixed[16]");
}

TEST(TypeTest, RejectsBadTypeNames) {
  for (const char* text : {"", "integer", "decimal(9)", "decimal(39,2)", "decimal(a,b)", "decimal(9,2",
                           "fixed[0]", "fixed[]", "fixed(4)", "struct"}) {
    auto t = ParsePrimitiveType(text);
    ASSERT_FALSE(t.has_value()) << text;
    EXPECT_EQ(t.error().kind, ErrorKind::kInvalidArgument) << text;
  }
  auto ns = ParsePrimitiveType("timestamp_ns");
  ASSERT_FALSE(ns.has_value());
  EXPECT_EQ(ns.error().kind, ErrorKind::kUnsupported);
}

TEST(TypeTest, NestedToString) {
  auto list = List(3, Primitive(TypeId::kInt), true);
  auto map = Map(4, Primitive(TypeId::kString), 5, Primitive(TypeId::kDouble), false);
  auto s = Struct({Field(1, "a", list, true), Field(2, "b", map)});
  EXPECT_EQ(s->ToString(), "struct<1: a: required list<int>, 2: b: optional map<string, double>>");
  EXPECT_EQ(list->element().name, "element");
  EXPECT_TRUE(map->key().required);
  EXPECT_EQ(map->value().id, 5);
}

TEST(TypeTest, TypeEqualsComparesParametersAndFields) {
  EXPECT_TRUE(TypeEquals(*Decimal(9, 2), *Decimal(9, 2)));
  EXPECT_FALSE(TypeEquals(*Decimal(9, 2), *Decimal(9, 3)));
  EXPECT_FALSE(TypeEquals(*Fixed(4), *Fixed(5)));
  EXPECT_FALSE(TypeEquals(*Primitive(TypeId::kInt), *Primitive(TypeId::kLong)));
  auto a = Struct({Field(1, "x", Primitive(TypeId::kInt))});
  auto b = Struct({Field(1, "x", Primitive(TypeId::kInt))});
  auto c = Struct({Field(1, "x", Primitive(TypeId::kInt), true)});
  auto d = Struct({Field(2, "x", Primitive(TypeId::kInt))});
  EXPECT_TRUE(TypeEquals(*a, *b));
  EXPECT_FALSE(TypeEquals(*a, *c));
  EXPECT_FALSE(TypeEquals(*a, *d));
  EXPECT_FALSE(TypeEquals(*List(1, Primitive(TypeId::kInt), true), *List(1, Primitive(TypeId::kInt), false)));
}

TEST(TypeTest, Promotion) {
  EXPECT_TRUE(IsPromotionAllowed(*Primitive(TypeId::kInt), *Primitive(TypeId::kLong)));
  EXPECT_TRUE(IsPromotionAllowed(*Primitive(TypeId::kFloat), *Primitive(TypeId::kDouble)));
  EXPECT_TRUE(IsPromotionAllowed(*Decimal(9, 2), *Decimal(18, 2)));
  EXPECT_TRUE(IsPromotionAllowed(*Primitive(TypeId::kString), *Primitive(TypeId::kString)));
  EXPECT_FALSE(IsPromotionAllowed(*Primitive(TypeId::kLong), *Primitive(TypeId::kInt)));
  EXPECT_FALSE(IsPromotionAllowed(*Decimal(18, 2), *Decimal(9, 2)));
  EXPECT_FALSE(IsPromotionAllowed(*Decimal(9, 2), *Decimal(18, 3)));
  EXPECT_FALSE(IsPromotionAllowed(*Primitive(TypeId::kInt), *Primitive(TypeId::kString)));
  EXPECT_FALSE(IsPromotionAllowed(*Primitive(TypeId::kDouble), *Primitive(TypeId::kFloat)));
}

// id(1) required long; location(2) optional struct{lat(3) double, lng(4) double};
// tags(5) list<string>(6); props(7) map<string(8), struct{v(10) int}(9)>.
Schema NestedSchema() {
  auto location = Struct({Field(3, "lat", Primitive(TypeId::kDouble)), Field(4, "lng", Primitive(TypeId::kDouble))});
  auto tags = List(6, Primitive(TypeId::kString), false);
  auto props = Map(8, Primitive(TypeId::kString), 9, Struct({Field(10, "v", Primitive(TypeId::kInt))}), false);
  return Schema(3,
                {Field(1, "id", Primitive(TypeId::kLong), true), Field(2, "location", location),
                 Field(5, "tags", tags), Field(7, "props", props)},
                {1});
}

TEST(SchemaTest, FindsFieldsAtAnyDepth) {
  Schema s = NestedSchema();
  EXPECT_EQ(s.schema_id(), 3);
  ASSERT_NE(s.FindField(4), nullptr);
  EXPECT_EQ(s.FindField(4)->name, "lng");
  ASSERT_NE(s.FindField(10), nullptr);
  EXPECT_EQ(s.FindField(10)->type->id, TypeId::kInt);
  EXPECT_EQ(s.FindField(11), nullptr);
  EXPECT_EQ(s.FindName(3), "location.lat");
  EXPECT_EQ(s.FindName(6), "tags.element");
  EXPECT_EQ(s.FindName(8), "props.key");
  EXPECT_EQ(s.FindName(10), "props.value.v");
  EXPECT_EQ(s.FindName(99), std::nullopt);
  ASSERT_NE(s.FindField("location.lat"), nullptr);
  EXPECT_EQ(s.FindField("location.lat")->id, 3);
  EXPECT_EQ(s.FindField("props.value.v")->id, 10);
  EXPECT_EQ(s.FindField("tags.element")->id, 6);
  EXPECT_EQ(s.FindField("Location.lat"), nullptr);
  EXPECT_EQ(s.FindField("lat"), nullptr);
  EXPECT_EQ(s.HighestFieldId(), 10);
  EXPECT_EQ(Schema().HighestFieldId(), 0);
  EXPECT_TRUE(s.Validate().has_value()) << s.Validate().error().ToString();
}

TEST(SchemaTest, CopiesAndMovesKeepIndexesValid) {
  auto original = std::make_unique<Schema>(NestedSchema());
  Schema copy = *original;
  Schema assigned;
  assigned = *original;
  original.reset();  // pointers into the original must not be used by the copies
  ASSERT_NE(copy.FindField(3), nullptr);
  EXPECT_EQ(copy.FindField(3)->name, "lat");
  EXPECT_EQ(assigned.FindField("tags.element")->id, 6);
  Schema moved = std::move(copy);
  EXPECT_EQ(moved.FindField(10)->name, "v");
  std::vector<Schema> many;
  for (int i = 0; i < 20; ++i) many.push_back(NestedSchema());  // reallocation moves schemas
  EXPECT_EQ(many[0].FindField(1)->name, "id");
}

TEST(SchemaTest, AsStructAndSameStructure) {
  Schema a = NestedSchema();
  Schema b = NestedSchema();
  b.set_schema_id(9);
  EXPECT_TRUE(a.SameStructure(b));
  EXPECT_EQ(a.AsStruct()->fields.size(), 4u);
  EXPECT_EQ(a.AsStruct()->id, TypeId::kStruct);
  Schema c(3, {Field(1, "id", Primitive(TypeId::kLong), true)}, {1});
  EXPECT_FALSE(a.SameStructure(c));
  Schema d(3, a.fields(), {});
  EXPECT_FALSE(a.SameStructure(d));
}

TEST(SchemaTest, ValidateRejectsDuplicateIds) {
  Schema s(0, {Field(1, "a", Primitive(TypeId::kInt)),
               Field(2, "b", Struct({Field(1, "c", Primitive(TypeId::kInt))}))});
  auto st = s.Validate();
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(st.error().message.find("duplicate field id 1"), std::string::npos);
}

TEST(SchemaTest, ValidateRejectsBadFields) {
  EXPECT_FALSE(Schema(0, {Field(0, "a", Primitive(TypeId::kInt))}).Validate().has_value());
  EXPECT_FALSE(Schema(0, {Field(1, "a", Primitive(TypeId::kInt)), Field(2, "a", Primitive(TypeId::kInt))})
                   .Validate()
                   .has_value());
  EXPECT_FALSE(Schema(0, {Field(1, "a", nullptr)}).Validate().has_value());
  // Same name in different structs is fine.
  EXPECT_TRUE(Schema(0, {Field(1, "a", Struct({Field(2, "a", Primitive(TypeId::kInt))}))}).Validate().has_value());
}

TEST(SchemaTest, ValidateChecksIdentifierFields) {
  auto make = [](std::vector<int> ids) {
    auto inner = Struct({Field(3, "x", Primitive(TypeId::kInt), true)});
    return Schema(0,
                  {Field(1, "id", Primitive(TypeId::kLong), true), Field(2, "opt", Primitive(TypeId::kLong)),
                   Field(4, "s", inner), Field(5, "d", Primitive(TypeId::kDouble), true),
                   Field(6, "l", List(7, Primitive(TypeId::kInt), true), true),
                   Field(8, "rs", Struct({Field(9, "y", Primitive(TypeId::kInt), true)}), true)},
                  std::move(ids));
  };
  EXPECT_TRUE(make({1}).Validate().has_value());
  EXPECT_TRUE(make({1, 9}).Validate().has_value());  // nested in a required struct: fine
  EXPECT_FALSE(make({2}).Validate().has_value());    // optional
  EXPECT_FALSE(make({3}).Validate().has_value());    // inside an optional struct
  EXPECT_FALSE(make({5}).Validate().has_value());    // double
  EXPECT_FALSE(make({7}).Validate().has_value());    // list element
  EXPECT_FALSE(make({6}).Validate().has_value());    // not primitive
  EXPECT_FALSE(make({42}).Validate().has_value());   // missing
  EXPECT_FALSE(make({1, 1}).Validate().has_value()); // repeated
}

TEST(PartitionSpecTest, UnpartitionedAndLastFieldId) {
  PartitionSpec empty;
  EXPECT_TRUE(empty.is_unpartitioned());
  EXPECT_EQ(empty.LastFieldId(), 999);
  PartitionSpec voids{0, {{1, 1000, "a", Transform{TransformKind::kVoid, 0}}}};
  EXPECT_TRUE(voids.is_unpartitioned());
  PartitionSpec spec{1,
                     {{1, 1000, "id_bucket", Transform{TransformKind::kBucket, 16}},
                      {3, 1003, "lat", Transform{TransformKind::kIdentity, 0}},
                      {2, 1001, "opt_trunc", Transform{TransformKind::kTruncate, 10}}}};
  EXPECT_FALSE(spec.is_unpartitioned());
  EXPECT_EQ(spec.LastFieldId(), 1003);
}

TEST(PartitionSpecTest, PartitionType) {
  auto ts_schema = Schema(0, {Field(1, "id", Primitive(TypeId::kLong), true), Field(2, "ts", Primitive(TypeId::kTimestampTz)),
                              Field(3, "name", Primitive(TypeId::kString))});
  PartitionSpec spec{0,
                     {{1, 1000, "id_bucket", Transform{TransformKind::kBucket, 8}},
                      {2, 1001, "ts_day", Transform{TransformKind::kDay, 0}},
                      {2, 1002, "ts_hour", Transform{TransformKind::kHour, 0}},
                      {3, 1003, "name_trunc", Transform{TransformKind::kTruncate, 3}}}};
  auto type = spec.PartitionType(ts_schema);
  ASSERT_TRUE(type.has_value()) << type.error().ToString();
  ASSERT_EQ((*type)->fields.size(), 4u);
  EXPECT_EQ((*type)->fields[0].id, 1000);
  EXPECT_EQ((*type)->fields[0].name, "id_bucket");
  EXPECT_FALSE((*type)->fields[0].required);
  EXPECT_EQ((*type)->fields[0].type->id, TypeId::kInt);
  EXPECT_EQ((*type)->fields[1].type->id, TypeId::kDate);
  EXPECT_EQ((*type)->fields[2].type->id, TypeId::kInt);
  EXPECT_EQ((*type)->fields[3].type->id, TypeId::kString);

  PartitionSpec missing{0, {{42, 1000, "x", Transform{}}}};
  auto m = missing.PartitionType(ts_schema);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidArgument);
  PartitionSpec bad{0, {{3, 1000, "x", Transform{TransformKind::kHour, 0}}}};
  EXPECT_FALSE(bad.PartitionType(ts_schema).has_value());
}

}  // namespace
}  // namespace frazil::iceberg
