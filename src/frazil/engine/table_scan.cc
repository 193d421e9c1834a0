#include "frazil/engine/table_scan.h"

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

  // Data files without position deletes are read together; each file with position
  // deletes is read on its own and anti-joined with its deleted positions (an integer
  // key, the deletes on the build side; a join keyed on file name and position made
  // DuckDB build the hash table from the data side instead).
  std::vector<std::string> plain_files;
  struct Masked {
    std::string local;
    std::string path;  // as the delete files name it
    int64_t record_count;
    std::vector<std::string> delete_files;
  };
  std::vector<Masked> masked;
  // Equality delete file local path -> (its equality ids, data files it applies to).
  std::map<std::string, std::pair<std::vector<int>, std::vector<std::string>>> eq_deletes;

  for (const auto& task : tasks) {
    std::string local = local_path(task.data_file.file_path);
    if (task.position_deletes.empty()) {
      plain_files.push_back(local);
    } else {
      Masked m{local, task.data_file.file_path, task.data_file.record_count, {}};
      for (const auto& del : task.position_deletes) m.delete_files.push_back(local_path(del.file_path));
      masked.push_back(std::move(m));
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

  const bool row_numbers = !masked.empty() || options.with_row_position;
  if (row_numbers) {
    for (const auto& f : schema.fields()) {
      if (f.name == "file_row_number") {
        return MakeError(ErrorKind::kUnsupported,
                         "DuckDB cannot apply position deletes to files with a column named file_row_number");
      }
    }
  }
  std::string by_name;  // the projection for columns_match_names
  if (options.columns_match_names) {
    for (const auto* f : top) {
      by_name += "CAST(" + QuoteIdentifier(f->name) + " AS " + IcebergTypeToDuckDb(*f->type) + ") AS " +
                 QuoteIdentifier(InternalName(f->id)) + ", ";
    }
    by_name += QuoteIdentifier(kFileColumn) + (row_numbers ? ", file_row_number" : "");
  }
  auto read = [&](const std::vector<std::string>& files) {
    if (options.columns_match_names) {
      return "SELECT " + by_name + " FROM read_parquet(" + FileList(files) + ", filename=" + QuoteLiteral(kFileColumn) +
             (row_numbers ? ", file_row_number=true" : "") + ")";
    }
    return "SELECT * FROM read_parquet(" + FileList(files) + ", schema=" + SchemaMap(top) +
           ", filename=" + QuoteLiteral(kFileColumn) + (row_numbers ? ", file_row_number=true" : "") + ")";
  };
  std::vector<std::string> parts;
  if (!plain_files.empty()) parts.push_back(read(plain_files));
  for (const auto& m : masked) {
    // Anti-join on the row position alone (an integer key; the file is fixed per part),
    // with the deletes for this one file on the build side.
    std::string deletes = "SELECT d.__pos FROM read_parquet(" + FileList(m.delete_files) + ", schema=MAP{" +
                          std::to_string(iceberg::kDeleteFilePathFieldId) +
                          ": {name: '__file_path', type: 'VARCHAR', default_value: NULL}, " +
                          std::to_string(iceberg::kDeletePosFieldId) +
                          ": {name: '__pos', type: 'BIGINT', default_value: NULL}}) d WHERE d.__file_path = " +
                          QuoteLiteral(m.path);
    parts.push_back("SELECT m.* FROM (" + read({m.local}) + ") m ANTI JOIN (" + deletes +
                    ") p ON m.file_row_number = p.__pos");
  }
  std::string source;
  for (size_t i = 0; i < parts.size(); ++i) source += (i ? " UNION ALL " : "") + parts[i];

  std::string row_columns;
  if (options.with_row_position) {
    row_columns = ", r." + std::string(kFileColumn) + " AS " + kFilePathColumn + ", r.file_row_number AS " + kRowPositionColumn;
  }
  std::string sql = "SELECT " + OutputColumns(schema) + row_columns + " FROM (" + source + ") r";
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
