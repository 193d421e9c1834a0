#include "frazil/cli/output.h"

#include <algorithm>

#include "frazil/base/strings.h"

namespace frazil::cli {
namespace {

// Display width of a UTF-8 string (code points; good enough for alignment).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\"\"";
    else out.push_back(c);
  }
  return out + "\"";
}

std::string JsonString(const std::string& s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

}  // namespace

Result<OutputFormat> ParseOutputFormat(const std::string& name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "csv") return OutputFormat::kCsv;
  if (name == "json") return OutputFormat::kJson;
  return MakeError(ErrorKind::kInvalidArgument, "unknown output format '" + name + "' (table, csv or json)");
}

Rows FromQueryResult(engine::QueryResult& result, engine::QueryResult* types_from) {
  Rows rows;
  for (size_t c = 0; c < result.column_count(); ++c) {
    rows.columns.push_back(result.column_name(c));
    switch (types_from ? types_from->column_type(c) : result.column_type(c)) {
      case DUCKDB_TYPE_BOOLEAN:
      case DUCKDB_TYPE_TINYINT:
      case DUCKDB_TYPE_SMALLINT:
      case DUCKDB_TYPE_INTEGER:
      case DUCKDB_TYPE_BIGINT:
      case DUCKDB_TYPE_UTINYINT:
      case DUCKDB_TYPE_USMALLINT:
      case DUCKDB_TYPE_UINTEGER:
      case DUCKDB_TYPE_UBIGINT:
      case DUCKDB_TYPE_HUGEINT:
      case DUCKDB_TYPE_FLOAT:
      case DUCKDB_TYPE_DOUBLE:
        rows.raw_json.push_back(true);
        break;
      default:
        rows.raw_json.push_back(false);
    }
  }
  rows.rows = result.FetchAll();
  return rows;
}

void Render(const Rows& rows, OutputFormat format, std::ostream& out, size_t max_rows) {
  const size_t n = rows.columns.size();
  if (format == OutputFormat::kCsv) {
    for (size_t c = 0; c < n; ++c) out << (c ? "," : "") << CsvField(rows.columns[c]);
    out << "\n";
    for (const auto& r : rows.rows) {
      for (size_t c = 0; c < n; ++c) out << (c ? "," : "") << (r[c] ? CsvField(*r[c]) : "");
      out << "\n";
    }
    return;
  }
  if (format == OutputFormat::kJson) {
    for (const auto& r : rows.rows) {
      out << "{";
      for (size_t c = 0; c < n; ++c) {
        out << (c ? "," : "") << JsonString(rows.columns[c]) << ":";
        if (!r[c]) {
          out << "null";
        } else if (rows.raw_json[c] && *r[c] != "nan" && *r[c] != "inf" && *r[c] != "-inf") {
          out << *r[c];
        } else {
          out << JsonString(*r[c]);
        }
      }
      out << "}\n";
    }
    return;
  }
  size_t shown = max_rows ? std::min(max_rows, rows.rows.size()) : rows.rows.size();
  std::vector<size_t> width(n);
  for (size_t c = 0; c < n; ++c) width[c] = Width(rows.columns[c]);
  for (size_t i = 0; i < shown; ++i) {
    for (size_t c = 0; c < n; ++c) width[c] = std::max(width[c], Width(rows.rows[i][c].value_or("NULL")));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < n; ++c) {
      const std::string& v = cells[c];
      out << (c ? " | " : "");
      bool right = rows.raw_json[c];
      std::string pad(width[c] - Width(v), ' ');
      out << (right ? pad + v : v + (c + 1 < n ? pad : ""));
    }
    out << "\n";
  };
  line(rows.columns);
  for (size_t c = 0; c < n; ++c) out << (c ? "-+-" : "") << std::string(width[c], '-');
  out << "\n";
  for (size_t i = 0; i < shown; ++i) {
    std::vector<std::string> cells;
    for (size_t c = 0; c < n; ++c) cells.push_back(rows.rows[i][c].value_or("NULL"));
    line(cells);
  }
  out << "(" << rows.rows.size() << (rows.rows.size() == 1 ? " row" : " rows");
  if (shown < rows.rows.size()) out << ", " << shown << " shown";
  out << ")\n";
}

}  // namespace frazil::cli
