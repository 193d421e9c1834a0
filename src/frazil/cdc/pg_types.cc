#include "frazil/cdc/pg_types.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "frazil/engine/duckdb.h"
#include "frazil/engine/types.h"

namespace frazil::cdc {

namespace {

using iceberg::TypeId;

// OIDs of PostgreSQL's built-in types (src/include/catalog/pg_type.dat; the same in 12 to
// 17). Every row of pg_type with typtype 'b' that is not an array is listed, so that a
// built-in column type never needs a catalog lookup.
constexpr uint32_t kBoolOid = 16;
constexpr uint32_t kByteaOid = 17;
constexpr uint32_t kCharOid = 18;  // "char": one byte
constexpr uint32_t kNameOid = 19;
constexpr uint32_t kInt8Oid = 20;
constexpr uint32_t kInt2Oid = 21;
constexpr uint32_t kInt4Oid = 23;
constexpr uint32_t kRegprocOid = 24;
constexpr uint32_t kTextOid = 25;
constexpr uint32_t kOidOid = 26;
constexpr uint32_t kTidOid = 27;
constexpr uint32_t kXidOid = 28;
constexpr uint32_t kCidOid = 29;
constexpr uint32_t kJsonOid = 114;
constexpr uint32_t kXmlOid = 142;
constexpr uint32_t kPgNodeTreeOid = 194;
constexpr uint32_t kPointOid = 600;
constexpr uint32_t kLsegOid = 601;
constexpr uint32_t kPathOid = 602;
constexpr uint32_t kBoxOid = 603;
constexpr uint32_t kPolygonOid = 604;
constexpr uint32_t kLineOid = 628;
constexpr uint32_t kCidrOid = 650;
constexpr uint32_t kFloat4Oid = 700;
constexpr uint32_t kFloat8Oid = 701;
constexpr uint32_t kCircleOid = 718;
constexpr uint32_t kMacaddr8Oid = 774;
constexpr uint32_t kMoneyOid = 790;
constexpr uint32_t kMacaddrOid = 829;
constexpr uint32_t kInetOid = 869;
constexpr uint32_t kAclitemOid = 1033;
constexpr uint32_t kBpcharOid = 1042;
constexpr uint32_t kVarcharOid = 1043;
constexpr uint32_t kDateOid = 1082;
constexpr uint32_t kTimeOid = 1083;
constexpr uint32_t kTimestampOid = 1114;
constexpr uint32_t kTimestampTzOid = 1184;
constexpr uint32_t kIntervalOid = 1186;
constexpr uint32_t kTimeTzOid = 1266;
constexpr uint32_t kBitOid = 1560;
constexpr uint32_t kVarbitOid = 1562;
constexpr uint32_t kNumericOid = 1700;
constexpr uint32_t kRefcursorOid = 1790;
constexpr uint32_t kRegprocedureOid = 2202;
constexpr uint32_t kRegoperOid = 2203;
constexpr uint32_t kRegoperatorOid = 2204;
constexpr uint32_t kRegclassOid = 2205;
constexpr uint32_t kRegtypeOid = 2206;
constexpr uint32_t kUuidOid = 2950;
constexpr uint32_t kTxidSnapshotOid = 2970;
constexpr uint32_t kPgLsnOid = 3220;
constexpr uint32_t kPgNdistinctOid = 3361;
constexpr uint32_t kPgDependenciesOid = 3402;
constexpr uint32_t kTsvectorOid = 3614;
constexpr uint32_t kTsqueryOid = 3615;
constexpr uint32_t kGtsvectorOid = 3642;
constexpr uint32_t kRegconfigOid = 3734;
constexpr uint32_t kRegdictionaryOid = 3769;
constexpr uint32_t kJsonbOid = 3802;
constexpr uint32_t kJsonpathOid = 4072;
constexpr uint32_t kRegnamespaceOid = 4089;
constexpr uint32_t kRegroleOid = 4096;
constexpr uint32_t kRegcollationOid = 4191;
constexpr uint32_t kPgBrinBloomSummaryOid = 4600;
constexpr uint32_t kPgBrinMinmaxMultiSummaryOid = 4601;
constexpr uint32_t kPgMcvListOid = 5017;
constexpr uint32_t kPgSnapshotOid = 5038;
constexpr uint32_t kXid8Oid = 5069;

// OIDs below this are assigned by initdb (FirstNormalObjectId); user types start here.
constexpr uint32_t kFirstNormalObjectId = 16384;
// A numeric typmod is ((precision << 16) | (scale & 0x7ff)) + VARHDRSZ (numeric.c).
constexpr int32_t kVarHdrSz = 4;

// How the text output of a built-in type becomes a value.
enum class Rule {
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kNumeric,  // decimal(p, s) or text, by typmod
  kUint64,   // xid8: 0 .. 2^64-1 -> decimal(20, 0)
  kBytea,
  kDate,
  kTime,
  kTimestamp,
  kTimestampTz,
  kUuid,
  kString,  // a character type: the text is the value
  kText,    // no exact Iceberg type: PostgreSQL's text output, carried as is
};

struct BuiltinType {
  uint32_t oid;
  Rule rule;
};

// Sorted by oid (checked by a static_assert below).
constexpr std::array kBuiltins = {
    BuiltinType{kBoolOid, Rule::kBoolean},
    BuiltinType{kByteaOid, Rule::kBytea},
    BuiltinType{kCharOid, Rule::kText},  // bytes >= 128 print as \ooo
    BuiltinType{kNameOid, Rule::kString},
    BuiltinType{kInt8Oid, Rule::kLong},
    BuiltinType{kInt2Oid, Rule::kInt},
    BuiltinType{kInt4Oid, Rule::kInt},
    BuiltinType{kRegprocOid, Rule::kText},  // reg* types print names, not numbers
    BuiltinType{kTextOid, Rule::kString},
    BuiltinType{kOidOid, Rule::kLong},  // unsigned 32-bit
    BuiltinType{kTidOid, Rule::kText},
    BuiltinType{kXidOid, Rule::kLong},
    BuiltinType{kCidOid, Rule::kLong},
    BuiltinType{kJsonOid, Rule::kText},
    BuiltinType{kXmlOid, Rule::kText},
    BuiltinType{kPgNodeTreeOid, Rule::kText},
    BuiltinType{kPointOid, Rule::kText},
    BuiltinType{kLsegOid, Rule::kText},
    BuiltinType{kPathOid, Rule::kText},
    BuiltinType{kBoxOid, Rule::kText},
    BuiltinType{kPolygonOid, Rule::kText},
    BuiltinType{kLineOid, Rule::kText},
    BuiltinType{kCidrOid, Rule::kText},
    BuiltinType{kFloat4Oid, Rule::kFloat},
    BuiltinType{kFloat8Oid, Rule::kDouble},
    BuiltinType{kCircleOid, Rule::kText},
    BuiltinType{kMacaddr8Oid, Rule::kText},
    BuiltinType{kMoneyOid, Rule::kText},  // scale and format depend on lc_monetary
    BuiltinType{kMacaddrOid, Rule::kText},
    BuiltinType{kInetOid, Rule::kText},
    BuiltinType{kAclitemOid, Rule::kText},
    BuiltinType{kBpcharOid, Rule::kString},  // padded as PostgreSQL sends it
    BuiltinType{kVarcharOid, Rule::kString},
    BuiltinType{kDateOid, Rule::kDate},
    BuiltinType{kTimeOid, Rule::kTime},
    BuiltinType{kTimestampOid, Rule::kTimestamp},
    BuiltinType{kTimestampTzOid, Rule::kTimestampTz},
    BuiltinType{kIntervalOid, Rule::kText},
    BuiltinType{kTimeTzOid, Rule::kText},  // Iceberg has no time with zone
    BuiltinType{kBitOid, Rule::kText},
    BuiltinType{kVarbitOid, Rule::kText},
    BuiltinType{kNumericOid, Rule::kNumeric},
    BuiltinType{kRefcursorOid, Rule::kText},
    BuiltinType{kRegprocedureOid, Rule::kText},
    BuiltinType{kRegoperOid, Rule::kText},
    BuiltinType{kRegoperatorOid, Rule::kText},
    BuiltinType{kRegclassOid, Rule::kText},
    BuiltinType{kRegtypeOid, Rule::kText},
    BuiltinType{kUuidOid, Rule::kUuid},
    BuiltinType{kTxidSnapshotOid, Rule::kText},
    BuiltinType{kPgLsnOid, Rule::kText},
    BuiltinType{kPgNdistinctOid, Rule::kText},
    BuiltinType{kPgDependenciesOid, Rule::kText},
    BuiltinType{kTsvectorOid, Rule::kText},
    BuiltinType{kTsqueryOid, Rule::kText},
    BuiltinType{kGtsvectorOid, Rule::kText},
    BuiltinType{kRegconfigOid, Rule::kText},
    BuiltinType{kRegdictionaryOid, Rule::kText},
    BuiltinType{kJsonbOid, Rule::kText},
    BuiltinType{kJsonpathOid, Rule::kText},
    BuiltinType{kRegnamespaceOid, Rule::kText},
    BuiltinType{kRegroleOid, Rule::kText},
    BuiltinType{kRegcollationOid, Rule::kText},
    BuiltinType{kPgBrinBloomSummaryOid, Rule::kText},
    BuiltinType{kPgBrinMinmaxMultiSummaryOid, Rule::kText},
    BuiltinType{kPgMcvListOid, Rule::kText},
    BuiltinType{kPgSnapshotOid, Rule::kText},
    BuiltinType{kXid8Oid, Rule::kUint64},
};
static_assert(std::ranges::is_sorted(kBuiltins, {}, &BuiltinType::oid));

const BuiltinType* FindBuiltin(uint32_t oid) {
  auto it = std::ranges::lower_bound(kBuiltins, oid, {}, &BuiltinType::oid);
  return it != kBuiltins.end() && it->oid == oid ? &*it : nullptr;
}

// A column type reduced to what decides its Iceberg type and its cast.
struct Target {
  Rule rule = Rule::kText;  // kNumeric and kUint64 targets are decimals (is_decimal)
  bool is_decimal = false;
  int precision = 0;
  int scale = 0;
};

Target TextTarget(bool natural_string) { return Target{natural_string ? Rule::kString : Rule::kText}; }

// numeric(p, s) holds |v| < 10^(p-s) in steps of 10^-s. PostgreSQL 15 allows s < 0 (digits
// left of the point rounded away) and s > p (only fraction digits), so the smallest exact
// decimal is decimal(p - s, 0) for s < 0 and decimal(s, s) for s > p. No typmod (or more
// than 38 digits) has no exact decimal: text.
Target NumericTarget(int32_t typmod) {
  if (typmod < kVarHdrSz) return TextTarget(false);
  auto bits = static_cast<uint32_t>(typmod - kVarHdrSz);
  int precision = static_cast<int>((bits >> 16) & 0xffff);
  int scale = static_cast<int>(((bits & 0x7ff) ^ 1024)) - 1024;
  if ((bits & 0xf800) != 0 || precision < 1 || precision > 1000) return TextTarget(false);  // not PostgreSQL's
  int p = precision, s = scale;
  if (scale < 0) {
    p = precision - scale;
    s = 0;
  } else if (scale > precision) {
    p = scale;
  }
  if (p > 38) return TextTarget(false);
  return Target{Rule::kNumeric, true, p, s};
}

Target BuiltinTarget(const BuiltinType& b, int32_t typmod) {
  switch (b.rule) {
    case Rule::kNumeric: return NumericTarget(typmod);
    case Rule::kUint64: return Target{Rule::kUint64, true, 20, 0};
    default: return Target{b.rule};
  }
}

std::string DisplayName(const PgType& type) {
  if (!type.name.empty()) return type.name;
  return "type oid " + std::to_string(type.oid);
}

Result<Target> ResolveTarget(const PgType& type) {
  if (type.category == 0) {  // not resolved through pg_type
    if (const BuiltinType* b = FindBuiltin(type.oid)) return BuiltinTarget(*b, type.typmod);
    // Built-in arrays, ranges, pseudo-types and initdb-created types: their text is lossless.
    if (type.oid < kFirstNormalObjectId) return TextTarget(false);
    return MakeError(ErrorKind::kInvalidArgument,
                     DisplayName(type) + " is not a built-in type and was not resolved from pg_type");
  }
  switch (type.typtype) {
    case 'd': {
      if (type.base_oid == 0) {
        return MakeError(ErrorKind::kInvalidArgument, "domain " + DisplayName(type) + " has no resolved base type");
      }
      // A domain's typcategory is its base type's; an array base has category 'A'.
      const BuiltinType* b = type.category == 'A' ? nullptr : FindBuiltin(type.base_oid);
      if (b) return BuiltinTarget(*b, type.base_typmod != -1 ? type.base_typmod : type.typmod);
      return TextTarget(type.category == 'S');
    }
    case 'b': {
      const BuiltinType* b = type.category == 'A' ? nullptr : FindBuiltin(type.oid);
      if (b) return BuiltinTarget(*b, type.typmod);
      return TextTarget(type.category == 'S');  // extension types such as citext stay strings
    }
    default:  // enum, range, multirange, composite, pseudo
      return TextTarget(false);
  }
}

iceberg::TypePtr IcebergType(const Target& t) {
  if (t.is_decimal) return iceberg::Decimal(t.precision, t.scale);
  switch (t.rule) {
    case Rule::kBoolean: return iceberg::Primitive(TypeId::kBoolean);
    case Rule::kInt: return iceberg::Primitive(TypeId::kInt);
    case Rule::kLong: return iceberg::Primitive(TypeId::kLong);
    case Rule::kFloat: return iceberg::Primitive(TypeId::kFloat);
    case Rule::kDouble: return iceberg::Primitive(TypeId::kDouble);
    case Rule::kBytea: return iceberg::Primitive(TypeId::kBinary);
    case Rule::kDate: return iceberg::Primitive(TypeId::kDate);
    case Rule::kTime: return iceberg::Primitive(TypeId::kTime);
    case Rule::kTimestamp: return iceberg::Primitive(TypeId::kTimestamp);
    case Rule::kTimestampTz: return iceberg::Primitive(TypeId::kTimestampTz);
    case Rule::kUuid: return iceberg::Primitive(TypeId::kUuid);
    default: return iceberg::Primitive(TypeId::kString);
  }
}

// error('frazil: ...') with the offending value (its first 100 characters) in the message.
std::string ErrorSql(const std::string& what, const std::string& v) {
  return "error(" + engine::QuoteLiteral("frazil: " + what + ": '") + " || left(" + v + ", 100) || '''')";
}

}  // namespace

Result<ColumnMapping> MapPgType(const PgType& type) {
  FRZ_ASSIGN_OR_RETURN(Target target, ResolveTarget(type));
  return ColumnMapping{IcebergType(target), !target.is_decimal && target.rule == Rule::kText};
}

Result<std::string> CastSql(const PgType& type, const std::string& value_sql) {
  FRZ_ASSIGN_OR_RETURN(Target target, ResolveTarget(type));
  const std::string duck = engine::IcebergTypeToDuckDb(*IcebergType(target));
  const std::string v = "(" + value_sql + ")";
  if (target.is_decimal) {
    // numeric(p, s) prints exactly s fraction digits (none for s <= 0). DuckDB rounds extra
    // digits silently, so anything else fails here; NaN fails here or in DuckDB's cast.
    std::string bad = target.scale > 0
                          ? "strpos(" + v + ", '.') <> length(" + v + ") - " + std::to_string(target.scale)
                          : "strpos(" + v + ", '.') <> 0";
    return "CASE WHEN " + bad + " THEN " +
           ErrorSql(DisplayName(type) + " value is not exactly representable as " + duck, v) + " ELSE CAST(" + v +
           " AS " + duck + ") END";
  }
  switch (target.rule) {
    case Rule::kBytea:
      // bytea_output=hex: '\x' and two digits per byte. from_hex would pad an odd length.
      return "CASE WHEN NOT starts_with(" + v + ", '\\x') OR length(" + v + ") % 2 <> 0 THEN " +
             ErrorSql(DisplayName(type) + " value is not in bytea hex format", v) + " ELSE from_hex(substr(" + v +
             ", 3)) END";
    case Rule::kDate:
    case Rule::kTimestamp:
    case Rule::kTimestampTz:
      // PostgreSQL appends " BC" to the whole value; DuckDB reads " (BC)" right after the
      // date and silently ignores a trailing " BC" on a DATE (year 44 BC would become AD 44).
      return "CAST(CASE WHEN ends_with(" + v + ", ' BC') THEN regexp_replace(" + v +
             ", '^([0-9]+-[0-9]+-[0-9]+)(.*) BC$', '\\1 (BC)\\2') ELSE " + v + " END AS " + duck + ")";
    default: return "CAST(" + v + " AS " + duck + ")";
  }
}

bool IsBuiltinScalar(uint32_t oid) { return FindBuiltin(oid) != nullptr; }

std::string ResolveTypeSql(const std::vector<uint32_t>& oids) {
  std::string list;
  for (uint32_t oid : oids) {
    if (!list.empty()) list += ',';
    list += std::to_string(oid);
  }
  // chain walks each type down its domain chain; the row whose type is not a domain is the
  // base. Only the domain directly over the base can carry a typmod (PostgreSQL rejects
  // typmods on domains over domains), so the last typmod other than -1 wins.
  return "WITH RECURSIVE chain(start_oid, cur_oid, typmod) AS ("
         " SELECT t.oid, t.oid, -1 FROM pg_catalog.pg_type t WHERE t.oid = ANY ('{" +
         list +
         "}'::pg_catalog.oid[])"
         " UNION ALL"
         " SELECT c.start_oid, d.typbasetype, CASE WHEN d.typtypmod <> -1 THEN d.typtypmod ELSE c.typmod END"
         " FROM chain c JOIN pg_catalog.pg_type d ON d.oid = c.cur_oid WHERE d.typtype = 'd')"
         " SELECT t.oid, t.typtype, t.typcategory,"
         " CASE WHEN t.typtype = 'd' THEN b.oid ELSE 0 END AS base_oid,"
         " CASE WHEN t.typtype = 'd' THEN c.typmod ELSE -1 END AS base_typmod,"
         " CASE WHEN b.typcategory = 'A' THEN b.typelem ELSE 0 END AS element_oid,"
         " pg_catalog.format_type(t.oid, NULL) AS name"
         " FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.start_oid"
         " JOIN pg_catalog.pg_type b ON b.oid = c.cur_oid"
         " WHERE b.typtype <> 'd' ORDER BY t.oid";
}

std::string PgSessionOptions() {
  // libpq passes `options` to the server, which splits it at unescaped whitespace; a
  // backslash escapes the next character. lc_monetary is deliberately left alone: it sets
  // the number of fraction digits money prints, so overriding it would change the values.
  static constexpr std::pair<std::string_view, std::string_view> kSettings[] = {
      {"datestyle", "ISO,YMD"},    {"timezone", "UTC"},     {"intervalstyle", "iso_8601"},
      {"extra_float_digits", "3"}, {"bytea_output", "hex"}, {"client_encoding", "UTF8"},
  };
  std::string out;
  for (const auto& [name, value] : kSettings) {
    if (!out.empty()) out += ' ';
    out += "-c ";
    out += name;
    out += '=';
    for (char c : value) {
      if (c == ' ' || c == '\t' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

}  // namespace frazil::cdc
