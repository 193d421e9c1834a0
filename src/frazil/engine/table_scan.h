// The DuckDB SQL that reads an Iceberg table's data files (one snapshot's scan plan),
// resolving columns by field id and applying position and equality deletes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/iceberg/scan.h"
#include "frazil/iceberg/schema.h"

namespace frazil::engine {

// Maps an Iceberg file location (DataFile::file_path) to a path DuckDB can read.
using LocalPathFn = std::function<std::string(const std::string&)>;

// A query (usable as a subquery: `SELECT * FROM (<sql>)`) returning the schema's top-level
// columns, named as in the schema and typed as IcebergTypeToDuckDb, over the tasks' data
// files. Top-level columns are matched by Parquet field id (renames, drops, adds and type
// promotions read correctly; a column missing from a file reads as NULL); fields inside
// structs are matched by name (DuckDB's limitation: renaming a nested field makes it read
// as NULL in older files). Position deletes are anti-joined on (file, row position), only
// for the data files whose task lists that delete file; equality deletes likewise, on
// their equality_ids (top-level columns only). No tasks -> a typed empty query.
// Errors: Unsupported for equality deletes on nested columns, and for position deletes on a
// table with a column named file_row_number (DuckDB refuses to read those files that way).
struct ScanSqlOptions {
  // Also return each row's data file (its local path, column kFilePathColumn) and 0-based
  // position in it (kRowPositionColumn): what a position delete needs.
  bool with_row_position = false;
  // Every data file names its columns exactly as `schema` does (true when the table has
  // only ever had one schema and no name mapping): read columns by name, which DuckDB does
  // about twice as fast as by field id.
  bool columns_match_names = false;
};
inline constexpr const char* kFilePathColumn = "__frazil_file";
inline constexpr const char* kRowPositionColumn = "__frazil_pos";

Result<std::string> ScanSql(const iceberg::Schema& schema, const std::vector<iceberg::FileScanTask>& tasks,
                            const LocalPathFn& local_path, const ScanSqlOptions& options = {});

}  // namespace frazil::engine
