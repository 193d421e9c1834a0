// SQL over the warehouse: DuckDB SQL in which every catalog table is addressable as
// `namespace.table`, read through Iceberg metadata (columns by field id, deletes applied),
// with time travel `ns.t AT (VERSION => <snapshot id>)` and
// `ns.t AT (TIMESTAMP => <timestamp expression>)`.
#pragma once

#include <string>

#include "frazil/app/warehouse.h"
#include "frazil/engine/duckdb.h"

namespace frazil::app {

// Makes the tables `sql` refers to visible on `con` (as views in a schema per namespace)
// and returns the statement with time-travel references rewritten to subqueries.
// Errors: NotFound for an unknown snapshot; the catalog's and planner's errors.
Result<std::string> PrepareSql(Warehouse& w, engine::Connection& con, const std::string& sql);

// Every namespace of the catalog, nested ones included (depth first).
Result<std::vector<catalog::Namespace>> ListAllNamespaces(catalog::Catalog& catalog);

// PrepareSql, then runs it.
Result<engine::QueryResult> RunSql(Warehouse& w, engine::Connection& con, const std::string& sql);

}  // namespace frazil::app
