#include "frazil/iceberg/datum.h"

#include <gtest/gtest.h>

#include "frazil/iceberg/test_util.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace frazil::iceberg {
namespace {

using testing::Raw;

Bytes UuidBytes() {
  return Bytes{Raw({0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd, 0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7})};
}

int32_t Days(int64_t y, int m, int d) { return static_cast<int32_t>(DaysFromCivil(y, m, d)); }

std::string Encode(const Type& type, const Datum& d) {
  auto r = EncodeBound(type, d);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().ToString());
  return r.value_or("<error>");
}

TEST(CalendarTest, CivilConversions) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2017, 11, 16), 17486);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1900, 3, 1), -25508);
  for (int64_t d : {-800000LL, -719468LL, -1LL, 0LL, 59LL, 60LL, 11016LL, 17486LL, 2932896LL}) {
    CivilDate c = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), d) << d;
  }
  CivilDate c = CivilFromDays(-1);
  EXPECT_EQ(c.year, 1969);
  EXPECT_EQ(c.month, 12);
  EXPECT_EQ(c.day, 31);
  CivilDate leap = CivilFromDays(DaysFromCivil(2000, 2, 29));
  EXPECT_EQ(leap.month, 2);
  EXPECT_EQ(leap.day, 29);
}

TEST(BoundTest, FixedWidthEncodings) {
  EXPECT_EQ(Encode(*Primitive(TypeId::kBoolean), true), Raw({1}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kBoolean), false), Raw({0}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kInt), int32_t{1}), Raw({1, 0, 0, 0}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kInt), int32_t{-2}), Raw({0xfe, 0xff, 0xff, 0xff}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kDate), int32_t{17486}), Raw({0x4e, 0x44, 0, 0}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kLong), int64_t{0x0102030405060708}),
            Raw({8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kTimestampTz), int64_t{-1}), std::string(8, '\xff'));
  EXPECT_EQ(Encode(*Primitive(TypeId::kFloat), 1.0f), Raw({0, 0, 0x80, 0x3f}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kDouble), 1.0), Raw({0, 0, 0, 0, 0, 0, 0xf0, 0x3f}));
  EXPECT_EQ(Encode(*Primitive(TypeId::kString), std::string("iceberg")), "iceberg");
  EXPECT_EQ(Encode(*Primitive(TypeId::kUuid), UuidBytes()), UuidBytes().data);
  // Lossless widening: an int32 datum for a long column encodes as 8 bytes.
  EXPECT_EQ(Encode(*Primitive(TypeId::kLong), int32_t{1}).size(), 8u);
}

TEST(BoundTest, DecimalMinimalBigEndian) {
  auto dec = Decimal(38, 2);
  EXPECT_EQ(Encode(*dec, Decimal128{0}), Raw({0x00}));
  EXPECT_EQ(Encode(*dec, Decimal128{-1}), Raw({0xff}));
  EXPECT_EQ(Encode(*dec, Decimal128{127}), Raw({0x7f}));
  EXPECT_EQ(Encode(*dec, Decimal128{128}), Raw({0x00, 0x80}));
  EXPECT_EQ(Encode(*dec, Decimal128{-128}), Raw({0x80}));
  EXPECT_EQ(Encode(*dec, Decimal128{-129}), Raw({0xff, 0x7f}));
  EXPECT_EQ(Encode(*dec, Decimal128{1420}), Raw({0x05, 0x8c}));
  EXPECT_EQ(Encode(*dec, Decimal128{65535}), Raw({0x00, 0xff, 0xff}));
  __int128 big = 1;
  for (int i = 0; i < 37; ++i) big *= 10;  // 10^37 needs 16 bytes
  EXPECT_EQ(Encode(*dec, Decimal128{big}).size(), 16u);
}

TEST(BoundTest, RoundTripsEveryType) {
  struct Case {
    TypePtr type;
    Datum value;
  };
  __int128 big = -1;
  for (int i = 0; i < 37; ++i) big *= 10;
  const Case cases[] = {
      {Primitive(TypeId::kBoolean), true},
      {Primitive(TypeId::kBoolean), false},
      {Primitive(TypeId::kInt), std::numeric_limits<int32_t>::min()},
      {Primitive(TypeId::kInt), int32_t{34}},
      {Primitive(TypeId::kLong), std::numeric_limits<int64_t>::max()},
      {Primitive(TypeId::kLong), int64_t{-34}},
      {Primitive(TypeId::kFloat), -1.5f},
      {Primitive(TypeId::kDouble), 3.141592653589793},
      {Decimal(9, 2), Decimal128{1420}},
      {Decimal(9, 2), Decimal128{-99999}},
      {Decimal(38, 0), Decimal128{big}},
      {Primitive(TypeId::kDate), Days(1900, 1, 1)},
      {Primitive(TypeId::kTime), int64_t{81068000000}},
      {Primitive(TypeId::kTimestamp), int64_t{1510871468000001}},
      {Primitive(TypeId::kTimestampTz), int64_t{-1}},
      {Primitive(TypeId::kString), std::string("h\xc3\xa9llo")},
      {Primitive(TypeId::kString), std::string()},
      {Primitive(TypeId::kUuid), UuidBytes()},
      {Fixed(4), Bytes{Raw({0, 1, 2, 3})}},
      {Primitive(TypeId::kBinary), Bytes{Raw({0xff, 0})}},
  };
  for (const Case& c : cases) {
    auto encoded = EncodeBound(*c.type, c.value);
    ASSERT_TRUE(encoded.has_value()) << c.type->ToString();
    auto decoded = DecodeBound(*c.type, *encoded);
    ASSERT_TRUE(decoded.has_value()) << c.type->ToString();
    EXPECT_EQ(*decoded, c.value) << c.type->ToString() << " " << DatumToString(*c.type, c.value);
  }
}

TEST(BoundTest, EncodeRejectsMismatchedValues) {
  EXPECT_EQ(EncodeBound(*Primitive(TypeId::kInt), int64_t{1}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(EncodeBound(*Primitive(TypeId::kString), Bytes{"x"}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(EncodeBound(*Primitive(TypeId::kUuid), Bytes{"short"}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(EncodeBound(*Fixed(4), Bytes{"abc"}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(EncodeBound(*Decimal(3, 0), Decimal128{1000}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(EncodeBound(*Decimal(3, 0), Decimal128{-999}).has_value());
  EXPECT_FALSE(EncodeBound(*Primitive(TypeId::kLong), Datum{}).has_value());
}

TEST(BoundTest, DecodeRejectsWrongLengths) {
  EXPECT_EQ(DecodeBound(*Primitive(TypeId::kInt), Raw({1, 2, 3})).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(DecodeBound(*Primitive(TypeId::kLong), Raw({1, 2, 3, 4})).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(DecodeBound(*Primitive(TypeId::kUuid), Raw({1})).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(DecodeBound(*Fixed(2), Raw({1, 2, 3})).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(DecodeBound(*Decimal(9, 2), "").error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(DecodeBound(*Decimal(38, 2), std::string(17, 'a')).error().kind, ErrorKind::kCorrupt);
  // Non-minimal decimal bytes from other writers still decode.
  EXPECT_EQ(*DecodeBound(*Decimal(9, 2), Raw({0xff, 0xff, 0xff, 0xfe})), Datum(Decimal128{-2}));
  EXPECT_EQ(*DecodeBound(*Primitive(TypeId::kBoolean), Raw({2})), Datum(true));
}

TEST(CompareTest, OrdersValues) {
  EXPECT_LT(CompareDatum(int32_t{-5}, int32_t{3}), 0);
  EXPECT_GT(CompareDatum(int64_t{5}, int32_t{3}), 0);
  EXPECT_EQ(CompareDatum(int64_t{3}, int32_t{3}), 0);
  EXPECT_LT(CompareDatum(Decimal128{-1}, Decimal128{0}), 0);
  EXPECT_LT(CompareDatum(false, true), 0);
  EXPECT_LT(CompareDatum(-0.0, 0.0), 0);
  EXPECT_GT(CompareDatum(std::nan(""), 1e300), 0);
  EXPECT_LT(CompareDatum(1.0f, 2.0), 0);
  EXPECT_LT(CompareDatum(std::string("a"), std::string("ab")), 0);
  // UTF-8 byte order: U+00E9 (0xC3 0xA9) sorts after 'z'.
  EXPECT_GT(CompareDatum(std::string("\xc3\xa9"), std::string("z")), 0);
  // Binary is unsigned.
  EXPECT_GT(CompareDatum(Bytes{Raw({0x80})}, Bytes{Raw({0x7f})}), 0);
  EXPECT_EQ(CompareDatum(Bytes{"abc"}, Bytes{"abc"}), 0);
  EXPECT_LT(CompareDatum(Datum{}, int32_t{0}), 0);
}

TEST(ToStringTest, FormatsEveryType) {
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kDate), Days(2017, 11, 16)), "2017-11-16");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kDate), int32_t{-1}), "1969-12-31");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kDate), Days(1582, 10, 4)), "1582-10-04");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kDate), Days(-44, 3, 15)), "-0044-03-15");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kDate), Days(12345, 1, 2)), "+12345-01-02");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kTime), int64_t{81068000001}), "22:31:08.000001");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kTimestamp), int64_t{1510871468000001}),
            "2017-11-16T22:31:08.000001");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kTimestampTz), int64_t{1510871468123456}),
            "2017-11-16T22:31:08.123456+00:00");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kTimestamp), int64_t{-1}), "1969-12-31T23:59:59.999999");
  EXPECT_EQ(DatumToString(*Decimal(9, 2), Decimal128{1420}), "14.20");
  EXPECT_EQ(DatumToString(*Decimal(9, 2), Decimal128{-5}), "-0.05");
  EXPECT_EQ(DatumToString(*Decimal(9, 2), Decimal128{0}), "0.00");
  EXPECT_EQ(DatumToString(*Decimal(9, 0), Decimal128{-123}), "-123");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kUuid), UuidBytes()), "f79c3e09-677c-4bbd-a479-3f349cb785e7");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kBinary), Bytes{Raw({0, 1, 0xab, 0xff})}), "0001abff");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kBoolean), true), "true");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kInt), int32_t{-7}), "-7");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kFloat), 0.1f), "0.1");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kDouble), std::nan("")), "NaN");
  EXPECT_EQ(DatumToString(*Primitive(TypeId::kString), std::string("x y")), "x y");
}

TEST(JsonTest, SpecExamples) {
  using nlohmann::json;
  auto to_json = [](const TypePtr& t, const Datum& d) {
    auto r = DatumToJson(*t, d);
    EXPECT_TRUE(r.has_value()) << t->ToString();
    return r.value_or(json("<error>"));
  };
  EXPECT_EQ(to_json(Primitive(TypeId::kBoolean), true), json(true));
  EXPECT_EQ(to_json(Primitive(TypeId::kInt), int32_t{34}), json(34));
  EXPECT_EQ(to_json(Primitive(TypeId::kLong), int64_t{34}), json(34));
  EXPECT_EQ(to_json(Primitive(TypeId::kFloat), 1.0f), json(1.0));
  EXPECT_EQ(to_json(Primitive(TypeId::kFloat), 0.1f).dump(), "0.1");
  EXPECT_EQ(to_json(Primitive(TypeId::kDouble), 1.0), json(1.0));
  EXPECT_EQ(to_json(Decimal(9, 2), Decimal128{1420}), json("14.20"));
  EXPECT_EQ(to_json(Primitive(TypeId::kDate), Days(2017, 11, 16)), json("2017-11-16"));
  EXPECT_EQ(to_json(Primitive(TypeId::kTime), int64_t{81068123456}), json("22:31:08.123456"));
  EXPECT_EQ(to_json(Primitive(TypeId::kTimestamp), int64_t{1510871468123456}), json("2017-11-16T22:31:08.123456"));
  EXPECT_EQ(to_json(Primitive(TypeId::kTimestampTz), int64_t{1510871468123456}),
            json("2017-11-16T22:31:08.123456+00:00"));
  EXPECT_EQ(to_json(Primitive(TypeId::kString), std::string("iceberg")), json("iceberg"));
  EXPECT_EQ(to_json(Primitive(TypeId::kUuid), UuidBytes()), json("f79c3e09-677c-4bbd-a479-3f349cb785e7"));
  EXPECT_EQ(to_json(Fixed(4), Bytes{Raw({0, 1, 2, 0xff})}), json("000102ff"));
  EXPECT_EQ(to_json(Primitive(TypeId::kBinary), Bytes{Raw({0, 1, 2, 0xff})}), json("000102ff"));
  EXPECT_TRUE(to_json(Primitive(TypeId::kInt), Datum{}).is_null());
  EXPECT_FALSE(DatumToJson(*Primitive(TypeId::kDouble), std::nan("")).has_value());
}

TEST(JsonTest, RoundTripsEveryType) {
  const std::pair<TypePtr, Datum> cases[] = {
      {Primitive(TypeId::kBoolean), false},
      {Primitive(TypeId::kInt), std::numeric_limits<int32_t>::min()},
      {Primitive(TypeId::kLong), std::numeric_limits<int64_t>::min()},
      {Primitive(TypeId::kFloat), 0.1f},
      {Primitive(TypeId::kDouble), -2.5e-300},
      {Decimal(38, 10), Decimal128{-123456789012345678}},
      {Primitive(TypeId::kDate), Days(-100, 2, 28)},
      {Primitive(TypeId::kTime), int64_t{0}},
      {Primitive(TypeId::kTimestamp), int64_t{-62135596800000000}},  // 0001-01-01
      {Primitive(TypeId::kTimestampTz), int64_t{1}},
      {Primitive(TypeId::kString), std::string("\xe2\x82\xac uro")},
      {Primitive(TypeId::kUuid), UuidBytes()},
      {Fixed(3), Bytes{Raw({0xab, 0xcd, 0xef})}},
      {Primitive(TypeId::kBinary), Bytes{}},
  };
  for (const auto& [type, value] : cases) {
    auto j = DatumToJson(*type, value);
    ASSERT_TRUE(j.has_value()) << type->ToString();
    auto back = DatumFromJson(*type, *j);
    ASSERT_TRUE(back.has_value()) << type->ToString() << " " << j->dump() << " " << back.error().ToString();
    EXPECT_EQ(*back, value) << type->ToString() << " " << j->dump();
  }
}

TEST(JsonTest, ParsesOtherWritersForms) {
  using nlohmann::json;
  auto from = [](const TypePtr& t, const json& j) { return DatumFromJson(*t, j); };
  EXPECT_EQ(*from(Primitive(TypeId::kTimestampTz), json("2017-11-16T14:31:08-08:00")),
            Datum(int64_t{1510871468000000}));
  EXPECT_EQ(*from(Primitive(TypeId::kTimestampTz), json("2017-11-16T22:31:08Z")), Datum(int64_t{1510871468000000}));
  EXPECT_EQ(*from(Primitive(TypeId::kTimestamp), json("2017-11-16T22:31:08.1")), Datum(int64_t{1510871468100000}));
  EXPECT_EQ(*from(Primitive(TypeId::kTimestamp), json("2017-11-16T22:31")), Datum(int64_t{1510871460000000}));
  EXPECT_EQ(*from(Primitive(TypeId::kTime), json("22:31:08.123456789")), Datum(int64_t{81068123456}));
  EXPECT_EQ(*from(Decimal(9, 2), json("14.2")), Datum(Decimal128{1420}));
  EXPECT_EQ(*from(Decimal(9, 2), json("14.200")), Datum(Decimal128{1420}));
  EXPECT_EQ(*from(Decimal(9, 2), json("-0.05")), Datum(Decimal128{-5}));
  EXPECT_EQ(*from(Decimal(30, 0), json("2E+20")), Datum(Decimal128{static_cast<__int128>(200000000000000000LL) * 1000}));
  EXPECT_EQ(*from(Primitive(TypeId::kUuid), json("F79C3E09-677C-4BBD-A479-3F349CB785E7")), Datum(UuidBytes()));
  EXPECT_EQ(*from(Primitive(TypeId::kBinary), json("00FF")), Datum(Bytes{Raw({0, 0xff})}));
  EXPECT_EQ(*from(Primitive(TypeId::kDouble), json(3)), Datum(3.0));
  EXPECT_TRUE(IsNull(*from(Primitive(TypeId::kLong), json(nullptr))));
}

TEST(JsonTest, RejectsBadValues) {
  using nlohmann::json;
  const std::pair<TypePtr, json> cases[] = {
      {Primitive(TypeId::kInt), json(1LL << 40)},
      {Primitive(TypeId::kInt), json("1")},
      {Primitive(TypeId::kLong), json(1.5)},
      {Primitive(TypeId::kBoolean), json(1)},
      {Primitive(TypeId::kDate), json("2017-02-30")},
      {Primitive(TypeId::kDate), json("2017-1-1")},
      {Primitive(TypeId::kTime), json("24:00:00")},
      {Primitive(TypeId::kTimestamp), json("2017-11-16T22:31:08+00:00")},  // zone on a local timestamp
      {Decimal(9, 2), json("14.201")},
      {Decimal(3, 2), json("14.20")},
      {Decimal(9, 2), json("abc")},
      {Primitive(TypeId::kUuid), json("f79c3e09677c-4bbd-a479-3f349cb785e7")},
      {Fixed(2), json("000102")},
      {Primitive(TypeId::kBinary), json("0g")},
      {Primitive(TypeId::kString), json(5)},
  };
  for (const auto& [type, j] : cases) {
    auto r = DatumFromJson(*type, j);
    ASSERT_FALSE(r.has_value()) << type->ToString() << " " << j.dump();
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument) << type->ToString() << " " << j.dump();
  }
}

}  // namespace
}  // namespace frazil::iceberg
