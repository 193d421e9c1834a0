// Rendering query results and listings for the terminal: aligned table, CSV or JSON lines.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/engine/duckdb.h"

namespace frazil::cli {

enum class OutputFormat { kTable, kCsv, kJson };
Result<OutputFormat> ParseOutputFormat(const std::string& name);

// A small in-memory result: column names, whether each is numeric/boolean (JSON unquoted),
// and rows of nullable strings.
struct Rows {
  std::vector<std::string> columns;
  std::vector<bool> raw_json;  // write the value unquoted in JSON (numbers, booleans)
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// `types_from` (optional) supplies the column types when `result` holds them cast to text.
Rows FromQueryResult(engine::QueryResult& result, engine::QueryResult* types_from = nullptr);
// Writes `rows`; a table is truncated to `max_rows` with a note (0 = all).
void Render(const Rows& rows, OutputFormat format, std::ostream& out, size_t max_rows = 0);

}  // namespace frazil::cli
