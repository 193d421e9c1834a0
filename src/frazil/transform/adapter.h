// What the model runner needs from the place models live, as dbt calls it an adapter: read
// tables at pinned snapshots, query, and write a model's result as one atomic commit. The
// warehouse implementation (Iceberg tables through the catalog) is app::WarehouseAdapter;
// transform/duckdb_adapter.h is a fake over plain DuckDB tables for unit tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"

namespace frazil::transform {

using Rows = std::vector<std::vector<std::optional<std::string>>>;

struct RelationState {
  bool exists = false;
  bool is_view = false;
  std::optional<int64_t> snapshot_id;          // the current snapshot; nullopt: no snapshot yet
  // The summary of the latest snapshot in the current snapshot's history that a model run
  // committed (frazil.model, frazil.read.*); empty if none.
  std::map<std::string, std::string> summary;
};

// A read of a table: at `snapshot_id` (nullopt: the table is empty), and, with
// `after_snapshot_id`, only the rows appended after that snapshot (an incremental read).
struct ReadSpec {
  catalog::TableIdentifier id;
  std::optional<int64_t> snapshot_id;
  std::optional<int64_t> after_snapshot_id;
};

enum class WriteMode {
  kReplace,       // the table holds exactly the query's rows afterwards (created if missing)
  kAppend,        // the query's rows are added
  kMerge,         // rows whose unique key matches are updated, the others inserted
  kDeleteInsert,  // rows whose unique key appears in the query are deleted, all query rows inserted
};

struct MaterializeRequest {
  catalog::TableIdentifier target;
  std::string select_sql;   // DuckDB SQL; relations as returned by Adapter::Read
  WriteMode mode = WriteMode::kReplace;
  std::vector<std::string> unique_key;                        // merge / delete+insert
  std::optional<std::vector<std::string>> merge_update_columns;  // merge: only these change
  std::string on_schema_change = "ignore";  // incremental: ignore | fail | append_new_columns | sync_all_columns
  std::vector<std::string> partition_by;    // when the table is created
  // The target's snapshot the query was computed against (nullopt: the table had none).
  // The write fails with CommitFailed if the target moved, so a model never applies its
  // rows twice or on top of rows it did not see.
  std::optional<int64_t> expected_snapshot_id;
  std::map<std::string, std::string> summary;  // added to the snapshot summary
};

struct MaterializeResult {
  int64_t snapshot_id = 0;  // 0: nothing committed (an append of no rows)
  int64_t rows_inserted = 0;
  int64_t rows_deleted = 0;
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  // Errors: the catalog's (never NoSuchTable: a missing table is exists = false).
  virtual Result<RelationState> Describe(const catalog::TableIdentifier& id) = 0;
  // SQL that can stand in a FROM clause for the read (a view or subquery made visible on
  // the adapter's connection). Errors: NotFound for an unknown snapshot; InvalidArgument
  // when an incremental read is impossible (the table was rewritten since `after`).
  virtual Result<std::string> Read(const ReadSpec& spec) = 0;
  // The name under which a table is addressed in stored view definitions ("ns.table").
  virtual std::string QualifiedName(const catalog::TableIdentifier& id) = 0;
  // Runs a query; `column_names` (optional) receives its column names.
  virtual Result<Rows> Query(const std::string& sql, std::vector<std::string>* column_names = nullptr) = 0;
  // Writes a model's result as one commit. Errors: CommitFailed if the target moved from
  // `expected_snapshot_id`; InvalidArgument for a query whose columns do not fit
  // (on_schema_change = fail, a missing unique key column).
  virtual Result<MaterializeResult> Materialize(const MaterializeRequest& request) = 0;
  // Stores (or replaces) a view. `sql` addresses tables by QualifiedName.
  virtual Status CreateView(const catalog::TableIdentifier& id, const std::string& sql) = 0;
  // Replaces the table's rows with the CSV file's (header row; types inferred, or
  // `column_types` per column).
  virtual Result<MaterializeResult> LoadSeed(const catalog::TableIdentifier& id, const std::string& csv_path,
                                             const std::map<std::string, std::string>& column_types) = 0;
};

// The query that reads a seed's CSV file (header row; types inferred, or `column_types`
// per column): what every adapter's LoadSeed materializes.
std::string SeedSelectSql(const std::string& csv_path, const std::map<std::string, std::string>& column_types);

}  // namespace frazil::transform
