#include "frazil/iceberg/transform.h"

#include <gtest/gtest.h>

#include "frazil/iceberg/test_util.h"

#include <nlohmann/json.hpp>

namespace frazil::iceberg {
namespace {

using testing::Raw;

TypePtr T(TypeId id) { return Primitive(id); }

int32_t Hash(const TypePtr& type, const Datum& d) {
  auto r = BucketHash(*type, d);
  EXPECT_TRUE(r.has_value()) << type->ToString() << (r ? "" : r.error().ToString());
  return r.value_or(0);
}

Datum ApplyOk(const Transform& t, const TypePtr& type, const Datum& d) {
  auto r = t.Apply(*type, d);
  EXPECT_TRUE(r.has_value()) << t.ToString() << " on " << type->ToString() << (r ? "" : r.error().ToString());
  return r.value_or(Datum{});
}

int64_t Micros(std::string_view text, bool tz = false) {
  auto r = ParseTimestamp(text, tz);
  EXPECT_TRUE(r.has_value()) << text;
  return r.value_or(0);
}

int32_t Date(std::string_view text) {
  auto r = ParseDate(text);
  EXPECT_TRUE(r.has_value()) << text;
  return r.value_or(0);
}

constexpr Transform kIdentity{TransformKind::kIdentity, 0};
constexpr Transform kYear{TransformKind::kYear, 0};
constexpr Transform kMonth{TransformKind::kMonth, 0};
constexpr Transform kDay{TransformKind::kDay, 0};
constexpr Transform kHour{TransformKind::kHour, 0};
constexpr Transform kVoid{TransformKind::kVoid, 0};
Transform Bucket(int n) { return {TransformKind::kBucket, n}; }
Transform Truncate(int w) { return {TransformKind::kTruncate, w}; }

TEST(Murmur3Test, KnownVectors) {
  EXPECT_EQ(Murmur3Hash32(""), 0);
  EXPECT_EQ(Murmur3Hash32(Raw({0, 1, 2, 3})), -188683207);
  EXPECT_EQ(Murmur3Hash32("iceberg"), 1210000089);
}

// The spec's "Appendix B: 32-bit Hash Requirements" table.
TEST(BucketHashTest, SpecVectors) {
  EXPECT_EQ(Hash(T(TypeId::kInt), int32_t{34}), 2017239379);
  EXPECT_EQ(Hash(T(TypeId::kLong), int64_t{34}), 2017239379);
  EXPECT_EQ(Hash(Decimal(4, 2), Decimal128{1420}), -500754589);
  EXPECT_EQ(Hash(T(TypeId::kDate), Date("2017-11-16")), -653330422);
  auto time = ParseTime("22:31:08");
  ASSERT_TRUE(time.has_value());
  EXPECT_EQ(Hash(T(TypeId::kTime), *time), -662762989);
  EXPECT_EQ(Hash(T(TypeId::kTimestamp), Micros("2017-11-16T22:31:08")), -2047944441);
  EXPECT_EQ(Hash(T(TypeId::kTimestampTz), Micros("2017-11-16T14:31:08-08:00", true)), -2047944441);
  EXPECT_EQ(Hash(T(TypeId::kString), std::string("iceberg")), 1210000089);
  auto uuid = DatumFromJson(*T(TypeId::kUuid), nlohmann::json("f79c3e09-677c-4bbd-a479-3f349cb785e7"));
  ASSERT_TRUE(uuid.has_value());
  EXPECT_EQ(Hash(T(TypeId::kUuid), *uuid), 1488055340);
  EXPECT_EQ(Hash(Fixed(4), Bytes{Raw({0, 1, 2, 3})}), -188683207);
  EXPECT_EQ(Hash(T(TypeId::kBinary), Bytes{Raw({0, 1, 2, 3})}), -188683207);
}

TEST(BucketHashTest, RejectsUnhashableTypes) {
  EXPECT_FALSE(BucketHash(*T(TypeId::kBoolean), true).has_value());
  EXPECT_FALSE(BucketHash(*T(TypeId::kDouble), 1.0).has_value());
  EXPECT_FALSE(BucketHash(*T(TypeId::kInt), std::string("x")).has_value());
}

TEST(TransformTest, Bucket) {
  // (2017239379 & INT_MAX) % 16 = 3 ; hashes as long, so int and long agree.
  EXPECT_EQ(ApplyOk(Bucket(16), T(TypeId::kInt), int32_t{34}), Datum(int32_t{2017239379 % 16}));
  EXPECT_EQ(ApplyOk(Bucket(16), T(TypeId::kLong), int64_t{34}), Datum(int32_t{2017239379 % 16}));
  // Negative hash: -188683207 & 0x7FFFFFFF = 1958800441.
  EXPECT_EQ(ApplyOk(Bucket(100), T(TypeId::kBinary), Bytes{Raw({0, 1, 2, 3})}), Datum(int32_t{1958800441 % 100}));
  EXPECT_TRUE(IsNull(ApplyOk(Bucket(4), T(TypeId::kInt), Datum{})));
  EXPECT_FALSE(Bucket(0).Apply(*T(TypeId::kInt), int32_t{1}).has_value());
}

TEST(TransformTest, TruncateNumbers) {
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kInt), int32_t{1}), Datum(int32_t{0}));
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kInt), int32_t{-1}), Datum(int32_t{-10}));
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kInt), int32_t{-10}), Datum(int32_t{-10}));
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kInt), int32_t{19}), Datum(int32_t{10}));
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kLong), int64_t{1}), Datum(int64_t{0}));
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kLong), int64_t{-1}), Datum(int64_t{-10}));
  // Spec: truncate[50](10.65) = 10.50 on the unscaled value 1065.
  EXPECT_EQ(ApplyOk(Truncate(50), Decimal(9, 2), Decimal128{1065}), Datum(Decimal128{1050}));
  EXPECT_EQ(ApplyOk(Truncate(50), Decimal(9, 2), Decimal128{-1065}), Datum(Decimal128{-1100}));
}

TEST(TransformTest, TruncateStringsAndBinary) {
  EXPECT_EQ(ApplyOk(Truncate(3), T(TypeId::kString), std::string("iceberg")), Datum(std::string("ice")));
  EXPECT_EQ(ApplyOk(Truncate(10), T(TypeId::kString), std::string("ice")), Datum(std::string("ice")));
  // Code points, not bytes: "\u00e9t\u00e9s" -> first 2 code points.
  EXPECT_EQ(ApplyOk(Truncate(2), T(TypeId::kString), std::string("\xc3\xa9t\xc3\xa9s")),
            Datum(std::string("\xc3\xa9t")));
  // A 4-byte code point (U+1F600) counts once.
  EXPECT_EQ(ApplyOk(Truncate(1), T(TypeId::kString), std::string("\xf0\x9f\x98\x80x")),
            Datum(std::string("\xf0\x9f\x98\x80")));
  EXPECT_EQ(ApplyOk(Truncate(3), T(TypeId::kBinary), Bytes{Raw({1, 2, 3, 4, 5})}), Datum(Bytes{Raw({1, 2, 3})}));
}

TEST(TransformTest, TemporalFromTimestamps) {
  int64_t ts = Micros("2017-11-16T22:31:08");
  EXPECT_EQ(ApplyOk(kYear, T(TypeId::kTimestamp), ts), Datum(int32_t{47}));
  EXPECT_EQ(ApplyOk(kMonth, T(TypeId::kTimestamp), ts), Datum(int32_t{47 * 12 + 10}));
  EXPECT_EQ(ApplyOk(kDay, T(TypeId::kTimestamp), ts), Datum(int32_t{17486}));
  EXPECT_EQ(ApplyOk(kHour, T(TypeId::kTimestamp), ts), Datum(int32_t{17486 * 24 + 22}));
  EXPECT_EQ(ApplyOk(kHour, T(TypeId::kTimestampTz), Micros("2017-11-16T14:31:08-08:00", true)),
            Datum(int32_t{17486 * 24 + 22}));
}

TEST(TransformTest, TemporalBefore1970Floors) {
  int64_t last_us = Micros("1969-12-31T23:59:59.999999");
  EXPECT_EQ(last_us, -1);
  EXPECT_EQ(ApplyOk(kYear, T(TypeId::kTimestamp), last_us), Datum(int32_t{-1}));
  EXPECT_EQ(ApplyOk(kMonth, T(TypeId::kTimestamp), last_us), Datum(int32_t{-1}));
  EXPECT_EQ(ApplyOk(kDay, T(TypeId::kTimestamp), last_us), Datum(int32_t{-1}));
  EXPECT_EQ(ApplyOk(kHour, T(TypeId::kTimestamp), last_us), Datum(int32_t{-1}));
  int64_t old = Micros("1900-03-01T05:00:00");
  EXPECT_EQ(ApplyOk(kDay, T(TypeId::kTimestamp), old), Datum(int32_t{-25508}));
  EXPECT_EQ(ApplyOk(kYear, T(TypeId::kTimestamp), old), Datum(int32_t{-70}));
  EXPECT_EQ(ApplyOk(kMonth, T(TypeId::kTimestamp), old), Datum(int32_t{-70 * 12 + 2}));
  EXPECT_EQ(ApplyOk(kHour, T(TypeId::kTimestamp), old), Datum(int32_t{-25508 * 24 + 5}));
}

TEST(TransformTest, TemporalFromDates) {
  EXPECT_EQ(ApplyOk(kYear, T(TypeId::kDate), Date("1969-12-31")), Datum(int32_t{-1}));
  EXPECT_EQ(ApplyOk(kMonth, T(TypeId::kDate), Date("1969-12-31")), Datum(int32_t{-1}));
  EXPECT_EQ(ApplyOk(kMonth, T(TypeId::kDate), Date("1969-01-01")), Datum(int32_t{-12}));
  EXPECT_EQ(ApplyOk(kYear, T(TypeId::kDate), Date("1970-01-01")), Datum(int32_t{0}));
  EXPECT_EQ(ApplyOk(kDay, T(TypeId::kDate), Date("2017-11-16")), Datum(int32_t{17486}));
  EXPECT_EQ(ApplyOk(kMonth, T(TypeId::kDate), Date("2017-11-16")), Datum(int32_t{574}));
  EXPECT_FALSE(kHour.Apply(*T(TypeId::kDate), int32_t{0}).has_value());
}

TEST(TransformTest, IdentityAndVoid) {
  EXPECT_EQ(ApplyOk(kIdentity, T(TypeId::kString), std::string("x")), Datum(std::string("x")));
  EXPECT_TRUE(IsNull(ApplyOk(kVoid, T(TypeId::kLong), int64_t{5})));
  EXPECT_TRUE(IsNull(ApplyOk(kYear, T(TypeId::kDate), Datum{})));
}

TEST(TransformTest, CanTransformAndResultType) {
  EXPECT_TRUE(Bucket(4).CanTransform(*T(TypeId::kUuid)));
  EXPECT_FALSE(Bucket(4).CanTransform(*T(TypeId::kDouble)));
  EXPECT_FALSE(Bucket(4).CanTransform(*T(TypeId::kBoolean)));
  EXPECT_TRUE(Truncate(4).CanTransform(*Decimal(9, 2)));
  EXPECT_FALSE(Truncate(4).CanTransform(*T(TypeId::kTimestamp)));
  EXPECT_FALSE(Truncate(4).CanTransform(*T(TypeId::kUuid)));
  EXPECT_TRUE(kDay.CanTransform(*T(TypeId::kDate)));
  EXPECT_FALSE(kHour.CanTransform(*T(TypeId::kDate)));
  EXPECT_FALSE(kYear.CanTransform(*T(TypeId::kTime)));
  EXPECT_FALSE(kIdentity.CanTransform(*List(1, T(TypeId::kInt), true)));
  EXPECT_TRUE(kVoid.CanTransform(*List(1, T(TypeId::kInt), true)));

  EXPECT_EQ((*Bucket(4).ResultType(T(TypeId::kString)))->id, TypeId::kInt);
  EXPECT_EQ((*kYear.ResultType(T(TypeId::kTimestamp)))->id, TypeId::kInt);
  EXPECT_EQ((*kMonth.ResultType(T(TypeId::kDate)))->id, TypeId::kInt);
  EXPECT_EQ((*kHour.ResultType(T(TypeId::kTimestampTz)))->id, TypeId::kInt);
  EXPECT_EQ((*kDay.ResultType(T(TypeId::kTimestamp)))->id, TypeId::kDate);
  auto dec = Decimal(9, 2);
  EXPECT_TRUE(TypeEquals(**Truncate(5).ResultType(dec), *dec));
  EXPECT_EQ((*kIdentity.ResultType(T(TypeId::kUuid)))->id, TypeId::kUuid);
  EXPECT_EQ((*kVoid.ResultType(T(TypeId::kLong)))->id, TypeId::kLong);
  auto bad = kHour.ResultType(T(TypeId::kString));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
}

TEST(TransformTest, ParseAndToString) {
  for (const char* text : {"identity", "bucket[16]", "truncate[4]", "year", "month", "day", "hour", "void"}) {
    auto t = ParseTransform(text);
    ASSERT_TRUE(t.has_value()) << text;
    EXPECT_EQ(t->ToString(), text);
  }
  EXPECT_EQ(*ParseTransform("bucket[16]"), Bucket(16));
  EXPECT_EQ(*ParseTransform("Truncate[ 4 ]"), Truncate(4));
  for (const char* text : {"", "bucket", "bucket[]", "bucket[0]", "bucket[-1]", "bucket[x]", "years", "truncate[4"}) {
    auto t = ParseTransform(text);
    ASSERT_FALSE(t.has_value()) << text;
    EXPECT_EQ(t.error().kind, ErrorKind::kInvalidArgument);
  }
}

TEST(TransformTest, PreservesOrder) {
  EXPECT_TRUE(kIdentity.PreservesOrder());
  EXPECT_TRUE(Truncate(3).PreservesOrder());
  EXPECT_TRUE(kYear.PreservesOrder());
  EXPECT_TRUE(kMonth.PreservesOrder());
  EXPECT_TRUE(kDay.PreservesOrder());
  EXPECT_TRUE(kHour.PreservesOrder());
  EXPECT_FALSE(Bucket(3).PreservesOrder());
  EXPECT_FALSE(kVoid.PreservesOrder());
}

}  // namespace
}  // namespace frazil::iceberg
