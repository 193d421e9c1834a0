#include "frazil/cdc/pg_types.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "frazil/engine/duckdb.h"
#include "frazil/engine/types.h"

// Every text value below is PostgreSQL's own output, captured from PostgreSQL 15.20 (Debian
// 15.20-0+deb12u1) with the session settings of PgSessionOptions() (psql with PGOPTIONS set
// to it). Expected day / microsecond numbers were computed by PostgreSQL too
// (`d - '1970-01-01'`, `extract(epoch from t) * 1000000`), not by DuckDB.

namespace frazil::cdc {
namespace {

using Strings = std::vector<std::optional<std::string>>;

int32_t NumericTypmod(int precision, int scale) { return ((precision << 16) | (scale & 0x7ff)) + 4; }

PgType Builtin(uint32_t oid, int32_t typmod = -1) {
  PgType t;
  t.oid = oid;
  t.typmod = typmod;
  return t;
}

// One row of ResolveTypeSql's output as psql prints it: oid|typtype|typcategory|base_oid|
// base_typmod|element_oid|name.
PgType Resolved(const std::string& row, int32_t typmod = -1) {
  std::vector<std::string> f;
  std::stringstream in(row);
  for (std::string part; std::getline(in, part, '|');) f.push_back(part);
  PgType t;
  t.oid = static_cast<uint32_t>(std::stoul(f.at(0)));
  t.typmod = typmod;
  t.typtype = f.at(1).at(0);
  t.category = f.at(2).at(0);
  t.base_oid = static_cast<uint32_t>(std::stoul(f.at(3)));
  t.base_typmod = std::stoi(f.at(4));
  t.element_oid = static_cast<uint32_t>(std::stoul(f.at(5)));
  t.name = f.at(6);
  return t;
}

// "decimal(10, 2)", or "string (text)" when carried as PostgreSQL text.
std::string Mapped(const PgType& type) {
  auto m = MapPgType(type);
  if (!m) return "error: " + m.error().ToString();
  return m->type->ToString() + (m->as_text ? " (text)" : "");
}

// ---- Mapping rules ----

TEST(PgTypeMapTest, EveryBuiltinType) {
  struct Case {
    uint32_t oid;
    int32_t typmod;
    const char* pg;
    const char* expected;
  };
  const Case cases[] = {
      {16, -1, "bool", "boolean"},
      {17, -1, "bytea", "binary"},
      {18, -1, "\"char\"", "string (text)"},
      {19, -1, "name", "string"},
      {20, -1, "int8", "long"},
      {21, -1, "int2", "int"},
      {23, -1, "int4", "int"},
      {24, -1, "regproc", "string (text)"},
      {25, -1, "text", "string"},
      {26, -1, "oid", "long"},
      {27, -1, "tid", "string (text)"},
      {28, -1, "xid", "long"},
      {29, -1, "cid", "long"},
      {114, -1, "json", "string (text)"},
      {142, -1, "xml", "string (text)"},
      {600, -1, "point", "string (text)"},
      {601, -1, "lseg", "string (text)"},
      {602, -1, "path", "string (text)"},
      {603, -1, "box", "string (text)"},
      {604, -1, "polygon", "string (text)"},
      {628, -1, "line", "string (text)"},
      {650, -1, "cidr", "string (text)"},
      {700, -1, "float4", "float"},
      {701, -1, "float8", "double"},
      {718, -1, "circle", "string (text)"},
      {774, -1, "macaddr8", "string (text)"},
      {790, -1, "money", "string (text)"},
      {829, -1, "macaddr", "string (text)"},
      {869, -1, "inet", "string (text)"},
      {1042, 9, "char(5)", "string"},
      {1043, 14, "varchar(10)", "string"},
      {1082, -1, "date", "date"},
      {1083, 3, "time(3)", "time"},
      {1114, -1, "timestamp", "timestamp"},
      {1184, 6, "timestamptz(6)", "timestamptz"},
      {1186, -1, "interval", "string (text)"},
      {1266, -1, "timetz", "string (text)"},
      {1560, 4, "bit(4)", "string (text)"},
      {1562, -1, "varbit", "string (text)"},
      {2205, -1, "regclass", "string (text)"},
      {2950, -1, "uuid", "uuid"},
      {3220, -1, "pg_lsn", "string (text)"},
      {3614, -1, "tsvector", "string (text)"},
      {3615, -1, "tsquery", "string (text)"},
      {3802, -1, "jsonb", "string (text)"},
      {4072, -1, "jsonpath", "string (text)"},
      {5069, -1, "xid8", "decimal(20, 0)"},
      // Not scalar, but built in: without resolution their text is still carried as is.
      {22, -1, "int2vector", "string (text)"},
      {1007, -1, "int4[]", "string (text)"},
      {1009, -1, "text[]", "string (text)"},
      {3904, -1, "int4range", "string (text)"},
      {4451, -1, "int4multirange", "string (text)"},
      {2249, -1, "record", "string (text)"},
  };
  for (const Case& c : cases) EXPECT_EQ(Mapped(Builtin(c.oid, c.typmod)), c.expected) << c.pg;
}

TEST(PgTypeMapTest, NumericByTypmod) {
  EXPECT_EQ(Mapped(Builtin(1700)), "string (text)");  // unconstrained: NaN, Infinity, any scale
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(10, 2))), "decimal(10, 2)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(1, 0))), "decimal(1, 0)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(38, 10))), "decimal(38, 10)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(38, 38))), "decimal(38, 38)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(39, 2))), "string (text)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(1000, 0))), "string (text)");
  // PostgreSQL 15: numeric(5,-2) holds multiples of 100 below 10^7; numeric(3,5) holds
  // |v| < 0.01 with five fraction digits.
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(5, -2))), "decimal(7, 0)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(36, -2))), "decimal(38, 0)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(37, -2))), "string (text)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(3, 5))), "decimal(5, 5)");
  EXPECT_EQ(Mapped(Builtin(1700, NumericTypmod(1000, 1000))), "string (text)");
  // Typmods PostgreSQL never makes are carried as text rather than guessed at.
  EXPECT_EQ(Mapped(Builtin(1700, 3)), "string (text)");
  EXPECT_EQ(Mapped(Builtin(1700, (1 << 16 | 0x800) + 4)), "string (text)");
  // The typmod encoding itself, as PostgreSQL 15 reports it (atttypmod of numeric(10,2)).
  EXPECT_EQ(NumericTypmod(10, 2), 655366);
}

// ResolveTypeSql's output on PostgreSQL 15.20 after
//   CREATE DOMAIN money2 AS numeric(10,2) CHECK (VALUE > 0); CREATE DOMAIN money3 AS money2;
//   CREATE DOMAIN ints AS int4[]; CREATE TYPE mood AS ENUM ('sad','ok');
//   CREATE TYPE comp AS (a int, b text); CREATE TYPE fr AS RANGE (subtype = float8);
//   CREATE DOMAIN tsd AS timestamptz; CREATE DOMAIN vc AS varchar(7);
// for the OIDs of int4, int4[], information_schema.cardinal_number and the types above.
TEST(PgTypeMapTest, ResolvedTypes) {
  EXPECT_EQ(Mapped(Resolved("23|b|N|0|-1|0|integer")), "int");
  EXPECT_EQ(Mapped(Resolved("1007|b|A|0|-1|23|integer[]")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("13221|d|N|23|-1|0|information_schema.cardinal_number")), "int");
  EXPECT_EQ(Mapped(Resolved("16400|d|N|1700|655366|0|money3")), "decimal(10, 2)");  // domain chain
  EXPECT_EQ(Mapped(Resolved("16402|d|A|1007|-1|23|ints")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("16403|b|A|0|-1|16404|mood[]")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("16404|e|E|0|-1|0|mood")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("16413|c|C|0|-1|0|comp")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("16417|r|R|0|-1|0|fr")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("16425|d|D|1184|-1|0|tsd")), "timestamptz");
  EXPECT_EQ(Mapped(Resolved("16427|d|S|1043|11|0|vc")), "string");
  // Extension types: a string-category one (citext) stays a plain string, others are text.
  EXPECT_EQ(Mapped(Resolved("16500|b|S|0|-1|0|citext")), "string");
  EXPECT_EQ(Mapped(Resolved("16600|b|U|0|-1|0|geometry")), "string (text)");
  EXPECT_EQ(Mapped(Resolved("16700|m|R|0|-1|0|frmultirange")), "string (text)");
}

TEST(PgTypeMapTest, UnresolvedUserTypeIsAnError) {
  PgType t = Builtin(16404);
  t.name = "mood";
  auto m = MapPgType(t);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(m.error().message.find("mood"), std::string::npos);
  EXPECT_FALSE(CastSql(t, "v"));

  PgType domain = Resolved("16400|d|N|0|-1|0|money3");  // a domain whose base was not resolved
  EXPECT_FALSE(MapPgType(domain));
}

TEST(PgTypeMapTest, IsBuiltinScalar) {
  for (uint32_t oid : {16u, 17u, 20u, 25u, 700u, 1082u, 1184u, 1700u, 2950u, 3802u, 5069u}) {
    EXPECT_TRUE(IsBuiltinScalar(oid)) << oid;
  }
  for (uint32_t oid : {0u, 22u, 1007u, 2249u, 3904u, 4451u, 13221u, 16384u, 16400u}) {
    EXPECT_FALSE(IsBuiltinScalar(oid)) << oid;
  }
}

TEST(PgTypeMapTest, ResolveTypeSqlListsTheOids) {
  std::string sql = ResolveTypeSql({16400, 16402});
  EXPECT_NE(sql.find("'{16400,16402}'::pg_catalog.oid[]"), std::string::npos) << sql;
  EXPECT_NE(sql.find("WITH RECURSIVE"), std::string::npos);
  for (const char* column : {"typtype", "typcategory", "base_oid", "base_typmod", "element_oid", "name"}) {
    EXPECT_NE(sql.find(column), std::string::npos) << column;
  }
  EXPECT_NE(ResolveTypeSql({}).find("'{}'::pg_catalog.oid[]"), std::string::npos);
}

TEST(PgTypeMapTest, SessionOptions) {
  EXPECT_EQ(PgSessionOptions(),
            "-c datestyle=ISO,YMD -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3 "
            "-c bytea_output=hex -c client_encoding=UTF8");
}

// ---- Casts, run in DuckDB ----

class PgTypeCastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::Database::Open({.threads = 2});
    ASSERT_TRUE(db) << db.error().ToString();
    db_.emplace(std::move(*db));
    auto con = engine::Connection::Open(*db_);
    ASSERT_TRUE(con) << con.error().ToString();
    con_.emplace(std::move(*con));
    // timestamptz casts must not depend on DuckDB's session time zone.
    ASSERT_TRUE(con_->Execute("SET TimeZone = 'America/New_York'"));
  }

  static std::string ValuesSql(const Strings& inputs) {
    std::string sql = "(VALUES ";
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += "(" + std::to_string(i) + ", CAST(" + (inputs[i] ? engine::QuoteLiteral(*inputs[i]) : "NULL") +
             " AS VARCHAR))";
    }
    return sql + ") t(i, v)";
  }

  // CastSql(type, "v") over `inputs`, then `probe` (an expression over the cast value `c`)
  // per row, in input order. An error is the query's error.
  Result<Strings> Run(const PgType& type, const Strings& inputs, const std::string& probe = "CAST(c AS VARCHAR)") {
    FRZ_ASSIGN_OR_RETURN(std::string cast, CastSql(type, "v"));
    FRZ_ASSIGN_OR_RETURN(auto result, con_->Query("SELECT i, " + probe + " FROM (SELECT i, " + cast +
                                                  " AS c FROM " + ValuesSql(inputs) + ") ORDER BY i"));
    Strings out;
    for (auto& row : result.FetchAll()) out.push_back(row.at(1));
    return out;
  }

  // Expects the cast to give `expected` (probe values) for `inputs`.
  void ExpectCast(const PgType& type, const Strings& inputs, const Strings& expected,
                  const std::string& probe = "CAST(c AS VARCHAR)") {
    auto out = Run(type, inputs, probe);
    ASSERT_TRUE(out) << out.error().ToString();
    ASSERT_EQ(out->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ((*out)[i], expected[i]) << Mapped(type) << " input " << inputs[i].value_or("NULL");
    }
  }

  // Expects the query to fail, not to yield a NULL or a rounded value; NULLs around it do not
  // change that.
  void ExpectFails(const PgType& type, const std::string& input, const std::string& message_part = "") {
    auto out = Run(type, {std::nullopt, input, std::nullopt});
    ASSERT_FALSE(out) << Mapped(type) << " accepted '" << input << "'";
    EXPECT_NE(out.error().message.find(message_part), std::string::npos) << out.error().message;
  }

  std::optional<engine::Database> db_;
  std::optional<engine::Connection> con_;
};

// The value of every cast has exactly the DuckDB type of its Iceberg type.
TEST_F(PgTypeCastTest, CastTypeIsTheIcebergDuckDbType) {
  std::vector<PgType> types;
  for (uint32_t oid = 0; oid < 6000; ++oid) {
    if (IsBuiltinScalar(oid)) types.push_back(Builtin(oid));
  }
  for (auto [p, s] : {std::pair{10, 2}, {38, 0}, {38, 38}, {5, -2}, {3, 5}, {39, 2}}) {
    types.push_back(Builtin(1700, NumericTypmod(p, s)));
  }
  types.push_back(Builtin(1007));
  types.push_back(Resolved("16400|d|N|1700|655366|0|money3"));
  for (const PgType& t : types) {
    auto m = MapPgType(t);
    ASSERT_TRUE(m);
    auto cast = CastSql(t, "v");
    ASSERT_TRUE(cast);
    auto r = con_->Query("SELECT typeof(" + *cast + "), typeof(CAST(NULL AS " + engine::IcebergTypeToDuckDb(*m->type) +
                         ")), " + *cast + " IS NULL FROM (VALUES (CAST(NULL AS VARCHAR))) t(v)");
    ASSERT_TRUE(r) << r.error().ToString() << "\n" << *cast;
    EXPECT_EQ(r->GetString(0, 0), r->GetString(1, 0)) << Mapped(t) << " oid " << t.oid;
    EXPECT_EQ(r->GetString(2, 0), "true") << "NULL in, NULL out: oid " << t.oid;
  }
}

TEST_F(PgTypeCastTest, Integers) {
  ExpectCast(Builtin(21), {"0", "-32768", "32767", std::nullopt}, {"0", "-32768", "32767", std::nullopt});
  ExpectCast(Builtin(23), {"-2147483648", "2147483647"}, {"-2147483648", "2147483647"});
  ExpectCast(Builtin(20), {"-9223372036854775808", "9223372036854775807"},
             {"-9223372036854775808", "9223372036854775807"});
  ExpectCast(Builtin(26), {"4294967295", "0"}, {"4294967295", "0"});  // oid
  ExpectCast(Builtin(28), {"4294967295"}, {"4294967295"});            // xid
  ExpectCast(Builtin(29), {"4294967295"}, {"4294967295"});            // cid
  ExpectCast(Builtin(5069), {"18446744073709551615", "9223372036854775808", "0"},
             {"18446744073709551615", "9223372036854775808", "0"});  // xid8
  ExpectFails(Builtin(23), "2147483648", "2147483648");
}

TEST_F(PgTypeCastTest, FloatsIncludingNanAndInfinity) {
  // DuckDB prints the shortest text that reads back as the same float, so equal text means
  // the same value. (300,000 random PostgreSQL float4/float8 outputs were also checked to
  // round-trip bit-exactly through these casts when this was written.)
  ExpectCast(Builtin(700),
             {"3.4028235e+38", "1e-45", "-0", "NaN", "Infinity", "-Infinity", "0.1", "1e+10", "123456.7",
              "1.1754944e-38", std::nullopt},
             {"3.4028235e+38", "1e-45", "-0.0", "nan", "inf", "-inf", "0.1", "10000000000.0", "123456.7",
              "1.1754944e-38", std::nullopt});
  ExpectCast(Builtin(701),
             {"1.7976931348623157e+308", "5e-324", "-0", "NaN", "Infinity", "-Infinity", "0.1", "1e+22",
              "123456789.123", "2.2250738585072014e-308"},
             {"1.7976931348623157e+308", "5e-324", "-0.0", "nan", "inf", "-inf", "0.1", "1e+22", "123456789.123",
              "2.2250738585072014e-308"});
  // PostgreSQL printed 17 digits where 16 suffice; it is the same double.
  ExpectCast(Builtin(701), {"-2.9930594021156168e+16"}, {"true"},
             "CAST(c = CAST('-2.993059402115617e+16' AS DOUBLE) AS VARCHAR)");
  ExpectCast(Builtin(700), {"-0"}, {"true"}, "CAST(signbit(c) AS VARCHAR)");
  ExpectCast(Builtin(701), {"-0"}, {"true"}, "CAST(signbit(c) AS VARCHAR)");
}

TEST_F(PgTypeCastTest, Decimals) {
  ExpectCast(Builtin(1700, NumericTypmod(10, 2)), {"12345678.90", "-0.01", "0.00", std::nullopt},
             {"12345678.90", "-0.01", "0.00", std::nullopt});
  ExpectCast(Builtin(1700, NumericTypmod(38, 10)),
             {"9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999"},
             {"9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999"});
  ExpectCast(Builtin(1700, NumericTypmod(38, 0)), {"99999999999999999999999999999999999999"},
             {"99999999999999999999999999999999999999"});
  ExpectCast(Builtin(1700, NumericTypmod(1, 0)), {"9"}, {"9"});
  // numeric(5,-2): PostgreSQL stored 12345.6 as 12300 and 9999949 as 9999900.
  ExpectCast(Builtin(1700, NumericTypmod(5, -2)), {"12300", "9999900", "-9999900"}, {"12300", "9999900", "-9999900"});
  // numeric(3,5): DuckDB prints no leading zero.
  ExpectCast(Builtin(1700, NumericTypmod(3, 5)), {"0.00999", "-0.00123"}, {".00999", "-.00123"});
  // A domain over numeric(10,2), two levels deep.
  ExpectCast(Resolved("16400|d|N|1700|655366|0|money3"), {"1.50"}, {"1.50"});
}

TEST_F(PgTypeCastTest, DecimalRejectsWhatItCannotHold) {
  const PgType n10_2 = Builtin(1700, NumericTypmod(10, 2));
  ExpectFails(n10_2, "NaN", "not exactly representable");  // numeric(10,2) can hold NaN
  ExpectFails(Builtin(1700, NumericTypmod(10, 0)), "NaN", "NaN");
  ExpectFails(Builtin(5069), "NaN", "NaN");
  ExpectFails(Resolved("16400|d|N|1700|655366|0|money3"), "NaN", "money3");
  // Not PostgreSQL output for numeric(10,2), but DuckDB would round these silently.
  ExpectFails(n10_2, "1.239", "not exactly representable");
  ExpectFails(n10_2, "1.5", "not exactly representable");
  ExpectFails(Builtin(1700, NumericTypmod(5, -2)), "12300.5", "not exactly representable");
  ExpectFails(n10_2, "123456789.00", "123456789.00");  // overflow
  // Unconstrained numeric is text, so NaN and Infinity are kept.
  ExpectCast(Builtin(1700),
             {"NaN", "Infinity", "-Infinity", "0.000000000000000000000000000001",
              "123456789012345678901234567890123456789012345", "1.50"},
             {"NaN", "Infinity", "-Infinity", "0.000000000000000000000000000001",
              "123456789012345678901234567890123456789012345", "1.50"});
}

TEST_F(PgTypeCastTest, TextTypesCarryPostgresOutputUnchanged) {
  struct Case {
    uint32_t oid;
    std::vector<std::string> values;
  };
  const Case cases[] = {
      {25, {"héllo", "", "a\tb\nc\\d"}},
      {1043, {"ab"}},
      {1042, {"ab   ", "     "}},  // char(5): the padding PostgreSQL sends is kept
      {19, {"pg_class"}},
      {18, {"a", "", "\\377", "\\"}},  // "char": byte 0xFF prints as \377 since PostgreSQL 15
      {790, {"$12.34", "-$1,234,567.89", "-$92,233,720,368,547,758.08"}},  // lc_monetary C.UTF-8
      {1266, {"10:00:00.123456+05:30", "24:00:00-15:59"}},
      {1186, {"P1Y2M3DT4H5M6.5S", "P-1DT2H", "PT0S", "P178000000Y"}},
      {114, {"{\"b\": 1,  \"a\": [1,2]}"}},
      {3802, {"{\"a\": [1, 2], \"b\": 1}"}},
      {142, {"<a>x</a>"}},
      {869, {"192.168.0.1", "192.168.0.0/24", "::1"}},
      {650, {"192.168.0.0/24", "10.0.0.0/8"}},
      {829, {"08:00:2b:01:02:03"}},
      {774, {"08:00:2b:01:02:03:04:05"}},
      {1560, {"1010"}},
      {1562, {"101"}},
      {3614, {"'a' 'cat' 'fat'"}},
      {3615, {"'fat' & 'rat'"}},
      {600, {"(1.5,2)"}},
      {628, {"{1,2,3}"}},
      {601, {"[(1,2),(3,4)]"}},
      {603, {"(3,4),(1,2)"}},
      {602, {"[(1,2),(3,4)]"}},
      {604, {"((1,2),(3,4),(5,6))"}},
      {718, {"<(1,2),3>"}},
      {3220, {"16/B374D848"}},
      {1007, {"{1,2,NULL}", "[0:2]={1,2,3}", "{{1,2},{3,4}}", "{}"}},
      {1009, {"{\"a b\",\"NULL\",NULL,\"\\\"q\\\"\",\"c,d\",\"\",\"x\\\\y\"}"}},
      {3904, {"[1,10)", "empty"}},
      {4451, {"{[1,3),[5,7)}"}},
      {3910, {"[\"2024-01-01 00:00:00+00\",infinity)"}},
      {2249, {"(1,\"a b\",)"}},
  };
  for (const Case& c : cases) {
    Strings in(c.values.begin(), c.values.end());
    in.push_back(std::nullopt);
    ExpectCast(Builtin(c.oid), in, in);
  }
  ExpectCast(Resolved("16404|e|E|0|-1|0|mood"), {"sad"}, {"sad"});
  ExpectCast(Resolved("16413|c|C|0|-1|0|comp"), {"(1,\"a b\")"}, {"(1,\"a b\")"});
}

TEST_F(PgTypeCastTest, ByteaHex) {
  ExpectCast(Builtin(17), {"\\x0a0bff", "\\x", "\\x00", std::nullopt}, {"0A0BFF", "", "00", std::nullopt}, "hex(c)");
  ExpectCast(Builtin(17), {"\\x"}, {"0"}, "CAST(octet_length(c) AS VARCHAR)");
  ExpectFails(Builtin(17), "\\x0a0", "bytea hex format");  // from_hex alone would pad it
  ExpectFails(Builtin(17), "ab0a", "bytea hex format");    // bytea_output=escape
}

TEST_F(PgTypeCastTest, BoolAndUuid) {
  ExpectCast(Builtin(16), {"t", "f", std::nullopt}, {"true", "false", std::nullopt});
  ExpectCast(Builtin(2950),
             {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000",
              "ffffffff-ffff-ffff-ffff-ffffffffffff"},
             {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000",
              "ffffffff-ffff-ffff-ffff-ffffffffffff"});
  ExpectFails(Builtin(2950), "zz", "zz");
}

// Probes: days / microseconds since 1970 for finite values, the text for infinities
// (epoch_us of an infinity is NULL in DuckDB).
constexpr const char* kDays =
    "CASE WHEN isinf(c) THEN CAST(c AS VARCHAR) ELSE CAST(c - DATE '1970-01-01' AS VARCHAR) END";
constexpr const char* kMicros = "CASE WHEN isinf(c) THEN CAST(c AS VARCHAR) ELSE CAST(epoch_us(c) AS VARCHAR) END";

TEST_F(PgTypeCastTest, DatesIncludingBcAndInfinity) {
  ExpectCast(Builtin(1082),
             {"2024-05-01", "0044-03-15 BC", "0001-12-31 BC", "0001-01-01", "4714-11-24 BC", "5874897-12-31",
              "10000-01-01", "1970-01-01", "infinity", "-infinity", std::nullopt},
             {"19844", "-735160", "-719163", "-719162", "-2440588", "2145042905", "2932897", "0", "infinity",
              "-infinity", std::nullopt},
             kDays);
}

TEST_F(PgTypeCastTest, TimestampsIncludingBcAndInfinity) {
  ExpectCast(Builtin(1114),
             {"2024-05-01 10:00:00.123456", "0044-03-15 10:00:00.5 BC", "4714-11-24 00:00:00 BC",
              "0001-12-31 23:59:59.999999 BC", "294247-01-10 04:00:54.775806", "10000-01-01 00:00:00",
              "1969-12-31 23:59:59.999999", "infinity", "-infinity", std::nullopt},
             {"1714557600123456", "-63517787999500000", "-210866803200000000", "-62135596800000001",
              "9223372036854775806", "253402300800000000", "-1", "infinity", "-infinity", std::nullopt},
             kMicros);
  ExpectCast(Builtin(1184),
             {"2024-05-01 08:00:00.123456+00", "0044-03-15 10:00:00.5+00 BC", "4714-11-24 00:00:00+00 BC",
              "294247-01-10 04:00:54.775806+00", "1900-01-01 00:00:00+00", "2024-03-10 07:00:00+00", "infinity",
              "-infinity", std::nullopt},
             {"1714550400123456", "-63517787999500000", "-210866803200000000", "9223372036854775806",
              "-2208988800000000", "1710054000000000", "infinity", "-infinity", std::nullopt},
             kMicros);
  ExpectCast(Resolved("16425|d|D|1184|-1|0|tsd"), {"infinity"}, {"infinity"});
}

TEST_F(PgTypeCastTest, TimestampsBeyondDuckDbFail) {
  // PostgreSQL goes to 294276-12-31; microseconds since 1970 in an int64 end at
  // 294247-01-10 04:00:54.775807, which DuckDB reserves for infinity.
  ExpectFails(Builtin(1114), "294276-12-31 23:59:59.999999", "out of range");
  ExpectFails(Builtin(1114), "294247-01-10 04:00:54.775807", "out of range");
  ExpectFails(Builtin(1184), "294276-12-31 23:59:59.999999+00", "out of range");
  ExpectFails(Builtin(1184), "294247-01-10 04:00:54.775807+00", "out of range");
}

TEST_F(PgTypeCastTest, TimesIncludingTwentyFour) {
  ExpectCast(Builtin(1083), {"10:00:00.123456", "24:00:00", "00:00:00", "23:59:59.999999", std::nullopt},
             {"36000123456", "86400000000", "0", "86399999999", std::nullopt}, "CAST(epoch_us(c) AS VARCHAR)");
}

// Infinity is a value, not a NULL, also after a Parquet round trip.
TEST_F(PgTypeCastTest, InfinitySurvivesParquet) {
  auto dir = std::filesystem::temp_directory_path() / ("frazil_pg_types_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string file = (dir / "inf.parquet").string();
  auto d = CastSql(Builtin(1082), "v");
  auto ts = CastSql(Builtin(1114), "v");
  auto tz = CastSql(Builtin(1184), "v");
  ASSERT_TRUE(d && ts && tz);
  ASSERT_TRUE(con_->Execute("COPY (SELECT " + *d + " AS d, " + *ts + " AS ts, " + *tz + " AS tz FROM " +
                            ValuesSql({"infinity", "-infinity"}) + ") TO " + engine::QuoteLiteral(file) +
                            " (FORMAT parquet)"));
  auto r = con_->Query("SELECT CAST(d AS VARCHAR), CAST(ts AS VARCHAR), CAST(tz AS VARCHAR) FROM read_parquet(" +
                       engine::QuoteLiteral(file) + ")");
  ASSERT_TRUE(r) << r.error().ToString();
  auto rows = r->FetchAll();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (Strings{"infinity", "infinity", "infinity"}));
  EXPECT_EQ(rows[1], (Strings{"-infinity", "-infinity", "-infinity"}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace frazil::cdc
