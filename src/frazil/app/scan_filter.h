// Partition and file pruning for SQL: the simple conjunctive predicates a statement puts on
// one table (`col <op> constant`, from DuckDB's own parse tree via json_serialize_sql),
// turned into iceberg::FilterTerm so scan planning skips manifests and files that cannot
// match. DuckDB still evaluates the full predicate; this only avoids reading files.
#pragma once

#include <string>
#include <vector>

#include "frazil/catalog/catalog.h"
#include "frazil/engine/duckdb.h"
#include "frazil/iceberg/scan.h"
#include "frazil/iceberg/schema.h"

namespace frazil::app {

// The filter terms that hold for every row `sql` reads from table `id`: only when the
// statement references the table exactly once, as the single FROM table of a SELECT, and
// only for AND-ed comparisons between one of its top-level primitive columns and a
// constant. Anything else yields no terms (never wrong terms). Parse failures yield none.
std::vector<iceberg::FilterTerm> ExtractFilter(engine::Connection& con, const std::string& sql,
                                               const catalog::TableIdentifier& id, const iceberg::Schema& schema);

}  // namespace frazil::app
