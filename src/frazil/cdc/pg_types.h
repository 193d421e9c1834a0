// How a PostgreSQL column type becomes an Iceberg type, and how its text output (what
// pgoutput sends in text mode and COPY ... TO STDOUT writes) becomes a value of that type.
// The rule table is docs/cdc-types.md; this file is its implementation.
//
// Values travel from the replication stream into DuckDB as VARCHAR (PostgreSQL's text
// output with the session settings of PgSessionOptions()), and one SQL cast expression per
// column turns them into the DuckDB type that matches the Iceberg type when a batch is
// written. A value that cannot be represented exactly in a typed column is never nulled or
// defaulted: either the whole type maps to `string` (lossless text), or the cast fails and
// the error names the table and column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/iceberg/type.h"
#include "frazil/pg/pg.h"

namespace frazil::cdc {

// The libpq wrappers live in the pg module (the catalog uses them too); cdc code names them
// unqualified.
using pg::PgConnection;
using pg::PgErrorInfo;
using pg::PgQualifiedName;
using pg::PgQuoteIdentifier;
using pg::PgQuoteLiteral;
using pg::PgResult;
using pg::RedactConninfo;

// What frazil knows about a column's type: the OID and typmod from the Relation message,
// plus, for types that are not built in (OID >= 16384) or that need resolving (domains,
// arrays, enums), the pg_type facts read with ResolveTypeSql().
struct PgType {
  uint32_t oid = 0;
  int32_t typmod = -1;
  // Filled by resolution (left as below for built-in scalar types):
  char typtype = 'b';        // 'b' base, 'c' composite, 'd' domain, 'e' enum, 'r' range,
                             // 'm' multirange, 'p' pseudo
  char category = 0;         // pg_type.typcategory ('A' array, 'N' numeric, ...); 0 means
                             // "not resolved" (every pg_type row has a category)
  uint32_t base_oid = 0;     // for a domain: its base type, resolved through domain chains
  int32_t base_typmod = -1;  // for a domain: the base type's typmod
  uint32_t element_oid = 0;  // for an array: the element type
  std::string name;          // format_type(oid, typmod), for messages and docs (ResolveTypeSql
                             // gives format_type(oid, NULL): it sees no typmod)
};

struct ColumnMapping {
  iceberg::TypePtr type;   // the Iceberg type of the column
  bool as_text = false;    // true when the type is carried as its PostgreSQL text form (a
                           // string column for a type that is not a character type)
};

// Maps a (resolved) PostgreSQL type. Never fails for a type PostgreSQL can send: anything
// without an exact Iceberg equivalent maps to string (as_text). A built-in OID maps without
// resolution (one that is not IsBuiltinScalar, such as an array, to string). Errors:
// InvalidArgument only for a PgType that is not resolved (OID >= 16384 and category 0), or a
// domain without base_oid.
Result<ColumnMapping> MapPgType(const PgType& type);

// A DuckDB SQL expression converting `value_sql` (VARCHAR holding PostgreSQL text output)
// into the DuckDB type that matches MapPgType(type).type (engine::IcebergTypeToDuckDb). It
// MUST fail (not return NULL) on a value it cannot convert exactly; NULL in, NULL out.
// Exactness is for PostgreSQL's output under PgSessionOptions() (docs/cdc-types.md lists
// what DuckDB does with other text). `value_sql` appears more than once (pass a column
// name); a failing value's error message contains its first 100 characters, and the
// expression may call error(), so DuckDB treats it as volatile. Errors: as MapPgType.
Result<std::string> CastSql(const PgType& type, const std::string& value_sql);

// True if `oid` is a built-in type whose mapping needs no catalog lookup (every non-array
// base type of PostgreSQL 15). Resolve every other OID, so a column's type never depends on
// whether a lookup happened.
bool IsBuiltinScalar(uint32_t oid);

// A query over pg_type (one row per OID in `oids`, columns: oid, typtype, typcategory,
// base_oid, base_typmod, element_oid, name) that resolves the facts PgType needs,
// following domain chains to their base type. base_oid is 0 and base_typmod -1 for a type
// that is not a domain; element_oid is the (base) array's element type, else 0. An OID
// missing from pg_type (a dropped type) has no row.
std::string ResolveTypeSql(const std::vector<uint32_t>& oids);

// The `options` string for libpq conninfo (`-c datestyle=ISO ...`) that makes text output
// unambiguous for the casts: DateStyle ISO, TimeZone UTC, IntervalStyle iso_8601,
// extra_float_digits 3, bytea_output hex, client_encoding UTF8. (lc_monetary is left to the
// server: it sets money's scale.)
std::string PgSessionOptions();

}  // namespace frazil::cdc
