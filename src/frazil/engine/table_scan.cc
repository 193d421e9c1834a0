#include "frazil/engine/table_scan.h"

#include <array>
#include <map>
#include <set>

#include "frazil/engine/duckdb.h"
#include "frazil/engine/types.h"
#include "frazil/iceberg/manifest.h"

namespace frazil::engine {
namespace {

// Internal column names keep user columns apart from read_parquet's own (filename,
// file_row_number) and from each other across renames.
std::string InternalName(int field_id) { return "__c" + std::to_string(field_id); }

constexpr const char* kFileColumn = "__frazil_file";

// read_parquet's `schema` parameter: columns by field id, missing ones read as NULL.
std::string SchemaMap(const std::vector<const iceberg::NestedField*>& fields) {
  std::string out = "MAP{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(fields[i]->id) + ": {name: " + QuoteLiteral(InternalName(fields[i]->id)) +
           ", type: " + QuoteLiteral(IcebergTypeToDuckDb(*fields[i]->type)) + ", default_value: NULL}";
  }
  return out + "}";
}

std::string FileList(const std::vector<std::string>& paths) {
  std::string out = "[";
  for (size_t i = 0; i < paths.size(); ++i) out += (i > 0 ? ", " : "") + QuoteLiteral(paths[i]);
  return out + "]";
}

std::string StringList(const std::vector<std::string>& items) {
  std::string out = "(";
  for (size_t i = 0; i < items.size(); ++i) out += (i > 0 ? ", " : "") + QuoteLiteral(items[i]);
  return out + ")";
}

std::string OutputColumns(const iceberg::Schema& schema) {
  std::string out;
  for (size_t i = 0; i < schema.fields().size(); ++i) {
    const auto& f = schema.fields()[i];
    out += (i > 0 ? ", " : "") + QuoteIdentifier(InternalName(f.id)) + " AS " + QuoteIdentifier(f.name);
  }
  return out;
}

}  // namespace

Result<std::string> ScanSql(const iceberg::Schema& schema, const std::vector<iceberg::FileScanTask>& tasks,
                            const LocalPathFn& local_path, const ScanSqlOptions& options) {
  if (tasks.empty()) {
    std::string out = "SELECT ";
    for (size_t i = 0; i < schema.fields().size(); ++i) {
      const auto& f = schema.fields()[i];
      out += (i > 0 ? ", " : "") + std::string("CAST(NULL AS ") + IcebergTypeToDuckDb(*f.type) + ") AS " +
             QuoteIdentifier(f.name);
    }
    if (schema.fields().empty()) out += "NULL AS __empty";
    if (options.with_row_position) {
      out += std::string(", CAST(NULL AS VARCHAR) AS ") + kFilePathColumn + ", CAST(NULL AS BIGINT) AS " + kRowPositionColumn;
    }
    return out + " WHERE false";
  }

  std::vector<const iceberg::NestedField*> top;
  for (const auto& f : schema.fields()) top.push_back(&f);

  std::vector<std::string> data_files;
  // (delete file local path, data file local path, data file Iceberg path)
  std::vector<std::array<std::string, 3>> applies;
  std::vector<std::string> pos_delete_files;
  std::set<std::string> seen_pos;
  // Equality delete file local path -> (its equality ids, data files it applies to).
  std::map<std::string, std::pair<std::vector<int>, std::vector<std::string>>> eq_deletes;

  for (const auto& task : tasks) {
    std::string local = local_path(task.data_file.file_path);
    data_files.push_back(local);
    for (const auto& del : task.position_deletes) {
      std::string del_local = local_path(del.file_path);
      if (seen_pos.insert(del_local).second) pos_delete_files.push_back(del_local);
      applies.push_back({del_local, local, task.data_file.file_path});
    }
    for (const auto& del : task.equality_deletes) {
      for (int id : del.equality_ids) {
        bool is_top = false;
        for (const auto& f : schema.fields()) is_top |= f.id == id;
        if (!is_top) {
          return MakeError(ErrorKind::kUnsupported,
                           "equality delete " + del.file_path + " uses field " + std::to_string(id) +
                               ", which is not a top-level column of the schema");
        }
      }
      auto& entry = eq_deletes[local_path(del.file_path)];
      entry.first = del.equality_ids;
      entry.second.push_back(local);
    }
  }

  const bool row_numbers = !pos_delete_files.empty() || options.with_row_position;
  if (row_numbers) {
    for (const auto& f : schema.fields()) {
      if (f.name == "file_row_number") {
        return MakeError(ErrorKind::kUnsupported,
                         "DuckDB cannot apply position deletes to files with a column named file_row_number");
      }
    }
  }
  std::string sql;
  if (!pos_delete_files.empty()) {
    sql += "WITH __applies(__dfile, __local, __path) AS (VALUES ";
    for (size_t i = 0; i < applies.size(); ++i) {
      sql += (i > 0 ? ", (" : "(") + QuoteLiteral(applies[i][0]) + ", " + QuoteLiteral(applies[i][1]) + ", " +
             QuoteLiteral(applies[i][2]) + ")";
    }
    sql += "), __posdel AS (SELECT a.__local AS __local, d.__pos AS __pos FROM read_parquet(" +
           FileList(pos_delete_files) + ", schema=MAP{" + std::to_string(iceberg::kDeleteFilePathFieldId) +
           ": {name: '__file_path', type: 'VARCHAR', default_value: NULL}, " +
           std::to_string(iceberg::kDeletePosFieldId) +
           ": {name: '__pos', type: 'BIGINT', default_value: NULL}}, filename='__dfile_name') d "
           "JOIN __applies a ON d.__dfile_name = a.__dfile AND d.__file_path = a.__path) ";
  }
  std::string row_columns;
  if (options.with_row_position) {
    row_columns = ", r." + std::string(kFileColumn) + " AS " + kFilePathColumn + ", r.file_row_number AS " + kRowPositionColumn;
  }
  sql += "SELECT " + OutputColumns(schema) + row_columns + " FROM read_parquet(" + FileList(data_files) +
         ", schema=" + SchemaMap(top) + ", filename=" + QuoteLiteral(kFileColumn) +
         (row_numbers ? ", file_row_number=true" : "") + ") r";
  if (!pos_delete_files.empty()) {
    sql += " ANTI JOIN __posdel p ON p.__local = r." + std::string(kFileColumn) + " AND p.__pos = r.file_row_number";
  }
  bool first_condition = true;
  for (const auto& [del_local, entry] : eq_deletes) {
    const auto& [ids, targets] = entry;
    std::vector<const iceberg::NestedField*> eq_fields;
    std::string match;
    for (int id : ids) {
      eq_fields.push_back(schema.FindField(id));
      std::string c = QuoteIdentifier(InternalName(id));
      match += (match.empty() ? "" : " AND ") + ("e." + c + " IS NOT DISTINCT FROM r." + c);
    }
    sql += first_condition ? " WHERE " : " AND ";
    first_condition = false;
    sql += "NOT (r." + std::string(kFileColumn) + " IN " + StringList(targets) +
           " AND EXISTS (SELECT 1 FROM read_parquet(" + FileList({del_local}) + ", schema=" + SchemaMap(eq_fields) +
           ") e WHERE " + match + "))";
  }
  return sql;
}

}  // namespace frazil::engine
