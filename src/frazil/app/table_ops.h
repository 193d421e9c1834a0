// Table operations a user (CLI, later HTTP) runs against the warehouse: create, append,
// overwrite, delete rows, evolve schema and partitioning, roll back. Each is one Iceberg
// commit through the catalog's compare-and-swap, retried on a concurrent commit.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "frazil/app/warehouse.h"
#include "frazil/catalog/catalog.h"
#include "frazil/iceberg/scan.h"

namespace frazil::app {

// Called periodically from another thread with a write's percentage (0..100, -1 unknown)
// and rows processed.
using ProgressFn = std::function<void(double percentage, uint64_t rows)>;

struct WriteResult {
  int64_t snapshot_id = 0;
  int64_t rows = 0;
  int64_t files = 0;
  int64_t bytes = 0;
};

// Creates the namespace if missing, then the table.
Result<catalog::LoadedTable> CreateTable(Warehouse& w, const catalog::TableIdentifier& id,
                                         const iceberg::Schema& schema,
                                         const iceberg::PartitionSpec& spec,
                                         const std::map<std::string, std::string>& properties);

// Appends the rows of a DuckDB query (columns matched to the table's schema by name;
// missing optional columns become null). `overwrite` replaces all current rows instead.
// Errors: InvalidArgument naming a query column the table lacks or a required column the
// query lacks; CommitFailed after repeated conflicts.
// `progress` (optional) is called periodically from another thread with the write's
// percentage (0..100, -1 unknown) and rows processed.
Result<WriteResult> AppendQuery(Warehouse& w, const catalog::TableIdentifier& id,
                                const std::string& select_sql, bool overwrite, ProgressFn progress = nullptr);

// Writes the rows of `select_sql` as data files of a table with `schema` (the query's
// columns matched to the schema's by name; missing optional columns become null) and
// returns them, not yet committed. On failure nothing it wrote is left behind.
// Errors: InvalidArgument naming a query column the table lacks, a required column the
// query lacks or fills with nulls; the engine's errors.
Result<std::vector<iceberg::DataFile>> WriteQueryFiles(Warehouse& w, engine::Connection& con,
                                                       const catalog::TableIdentifier& id,
                                                       const iceberg::TableMetadata& metadata,
                                                       const iceberg::Schema& schema, const std::string& select_sql,
                                                       ProgressFn progress = nullptr);

// A row-level change committed as one snapshot (the model runner's writes): optionally
// evolve the schema, remove every current row or the rows whose key matches, and add the
// rows of a query. Fails with CommitFailed, writing nothing, if the table's snapshot is not
// `expected_snapshot_id` (when `check_expected`), so a writer never applies changes computed
// against rows it did not see.
struct RowWrite {
  catalog::TableIdentifier id;
  std::string insert_sql;       // rows to add (columns matched by name); empty = none
  bool overwrite = false;       // remove every current row first
  std::string delete_keys_sql;  // rows of key tuples: table rows whose `delete_keys` equal one are removed
  std::vector<std::string> delete_keys;
  bool check_expected = true;
  std::optional<int64_t> expected_snapshot_id;
  std::optional<iceberg::Schema> schema;  // the table's new schema (field ids assigned), if it changes
  std::map<std::string, std::string> summary;
};
struct RowWriteResult {
  int64_t snapshot_id = 0;  // 0: nothing to commit
  int64_t rows_inserted = 0;
  int64_t rows_deleted = 0;
};
Result<RowWriteResult> WriteRows(Warehouse& w, engine::Connection& con, const RowWrite& write);

// Commits data files already written for the table's spec `spec_id` and schema
// `schema_id` as an append, or as an overwrite of every current row. Fails with
// CommitFailed if the table's schema or spec changed since the files were written.
Result<WriteResult> CommitDataFiles(Warehouse& w, const catalog::TableIdentifier& id,
                                    const std::vector<iceberg::DataFile>& files, int spec_id, int schema_id,
                                    bool overwrite);

// Deletes the rows matching a SQL predicate by writing position delete files.
Result<WriteResult> DeleteWhere(Warehouse& w, const catalog::TableIdentifier& id,
                                const std::string& predicate);

// Schema and partition evolution, one change per call:
//   add-column <name> <type> | drop-column <name> | rename-column <old> <new> |
//   update-column <name> <type> | move-column <name> first|after <other> |
//   add-partition-field <transform>(<column>) | drop-partition-field <name>
// Errors: InvalidArgument naming what is wrong (unknown column, disallowed promotion...).
Result<catalog::LoadedTable> AlterTable(Warehouse& w, const catalog::TableIdentifier& id,
                                        const std::vector<std::string>& change);

// Makes `snapshot_id` the current snapshot of main.
Result<catalog::LoadedTable> Rollback(Warehouse& w, const catalog::TableIdentifier& id, int64_t snapshot_id);

// Creates or moves a tag or branch `name` to `snapshot_id` (default: the current snapshot),
// or removes it (`remove`). `main` cannot be removed and must stay a branch.
// Errors: NotFound for an unknown snapshot or ref; InvalidArgument for a bad name.
Result<catalog::LoadedTable> SetRef(Warehouse& w, const catalog::TableIdentifier& id, const std::string& name,
                                    std::optional<int64_t> snapshot_id, bool is_branch);
Result<catalog::LoadedTable> RemoveRef(Warehouse& w, const catalog::TableIdentifier& id, const std::string& name);

// Whether every data file of the table can be read by column name: it never changed its
// schema (so every writer used these names) and maps no names for imported files.
bool ColumnsMatchNames(const iceberg::TableMetadata& metadata);

// SQL (DuckDB dialect) that reads a table as planned, columns by field id, deletes applied.
Result<std::string> TableScanSql(Warehouse& w, const catalog::LoadedTable& table,
                                 const iceberg::ScanOptions& options);

// Parses "bucket(16, id)", "day(ts)", "identity(a)" or a bare column name into a partition
// field over `schema`.
Result<iceberg::PartitionField> ParsePartitionField(const iceberg::Schema& schema, std::string_view text,
                                                    int field_id);

}  // namespace frazil::app
