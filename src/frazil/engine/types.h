// The mapping between Iceberg types and DuckDB SQL types (docs/engine.md has the table).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/engine/duckdb.h"
#include "frazil/iceberg/schema.h"
#include "frazil/iceberg/type.h"

namespace frazil::engine {

// The DuckDB type an Iceberg type is stored as: "DECIMAL(10,2)", "STRUCT(\"a\" INTEGER)",
// "INTEGER[]", "MAP(VARCHAR, BIGINT)", uuid -> UUID, fixed/binary -> BLOB,
// timestamp -> TIMESTAMP, timestamptz -> TIMESTAMPTZ, time -> TIME.
std::string IcebergTypeToDuckDb(const iceberg::Type& type);

// Assigns field ids while converting nested DuckDB types.
struct TypeInference {
  int next_id = 1;                 // the next fresh field id
  std::vector<std::string> notes;  // lossy conversions ("c: INTERVAL stored as string")
};

// The Iceberg type for a DuckDB type string as printed by DESCRIBE ("DECIMAL(18,3)",
// "STRUCT(a INTEGER, \"b c\" VARCHAR[])", "MAP(VARCHAR, BIGINT)", "INTEGER[3]").
// Nested fields get fresh ids from `inference`; HUGEINT -> decimal(38,0), UBIGINT ->
// decimal(20,0), UINTEGER -> long, TIMESTAMP_NS/_MS/_S -> timestamp; INTERVAL, TIMETZ,
// ENUM, UNION, BIT, JSON -> string (with a note). Errors: Unsupported naming `column`.
Result<iceberg::TypePtr> DuckDbTypeToIceberg(std::string_view duckdb_type, std::string_view column,
                                             TypeInference* inference);

// An Iceberg schema (all fields optional, ids from 1) for the columns of a query, from
// DESCRIBE. Errors: the query's DuckDB error, or Unsupported for a column type.
Result<iceberg::Schema> InferSchema(Connection& con, std::string_view select_sql,
                                    std::vector<std::string>* notes = nullptr);

}  // namespace frazil::engine
