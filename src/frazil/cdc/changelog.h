// The raw changelog table of one source table (docs/cdc.md, "Raw changelog tables"):
// its Iceberg schema, the DuckDB staging table changes are buffered in before they are
// written, and the SQL that turns staged text into typed Parquet columns.
//
// Raw table columns: the source columns (all optional, Iceberg types by docs/cdc-types.md),
// then _op (r snapshot read, c insert, u update, d delete, t truncate), _lsn (the change's
// WAL position), _commit_lsn, _txid, _commit_ts, _seq (ordinal within the transaction),
// and _old (a struct of the source columns: the old row image when PostgreSQL sends one).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/cdc/pgoutput.h"
#include "frazil/cdc/source_admin.h"
#include "frazil/engine/duckdb.h"
#include "frazil/engine/row_buffer.h"
#include "frazil/catalog/catalog.h"
#include "frazil/iceberg/schema.h"
#include "frazil/iceberg/snapshot_producer.h"

namespace frazil::cdc {

// The changelog metadata column names.
inline constexpr const char* kOpColumn = "_op";
inline constexpr const char* kLsnColumn = "_lsn";
inline constexpr const char* kCommitLsnColumn = "_commit_lsn";
inline constexpr const char* kTxidColumn = "_txid";
inline constexpr const char* kCommitTsColumn = "_commit_ts";
inline constexpr const char* kSeqColumn = "_seq";
inline constexpr const char* kOldColumn = "_old";
bool IsChangelogColumn(std::string_view name);

// Snapshot/table property and summary keys frazil owns on raw tables.
inline constexpr const char* kLsnProperty = "frazil.lsn";            // resume point (see docs/cdc.md)
inline constexpr const char* kSlotProperty = "frazil.slot";
inline constexpr const char* kSourceProperty = "frazil.source-table";

// One version of a source table's columns and the raw table schema they are written with.
struct Layout {
  std::vector<SourceColumn> columns;  // source columns in order (staged as c0..cN-1, o0..)
  iceberg::Schema schema;             // the raw table schema these columns map into
  // SELECT list that turns staging rows (columns as in StagingColumnsSql) into the
  // schema's columns by position.
  std::string select_list;
};

// Builds a raw table schema for `columns` (fresh ids from 1; the catalog keeps them).
// Errors: InvalidArgument if a source column name collides with a changelog column.
Result<iceberg::Schema> NewRawSchema(const SourceTable& table);

// Maps `columns` onto `schema` (fields matched by name) and builds the select list.
// Errors: Internal if a column has no field in the schema.
Result<Layout> MakeLayout(const std::vector<SourceColumn>& columns, const iceberg::Schema& schema);

// The raw schema for new source `columns`, evolved from `current`: fields of columns that
// still exist (same name) keep their ids; a type change keeps the id when Iceberg allows
// the promotion (int->long, float->double, wider decimal) and otherwise replaces the field
// (new id, same name); new columns get new ids; columns gone are dropped. `renames` maps
// old -> new names known from captured DDL. Returns nullopt if nothing changes.
Result<std::optional<iceberg::Schema>> EvolveRawSchema(const iceberg::Schema& current, int last_column_id,
                                                       const std::vector<SourceColumn>& columns,
                                                       const std::vector<std::pair<std::string, std::string>>& renames);

// The commit of a table CDC writes (a raw or a mirror table) that advances it to `lsn`:
// `schema` (when set) becomes current; `changes` become a snapshot whose summary carries
// frazil.lsn when they change any file; the frazil.lsn property (and `properties`) is set.
// Without a new snapshot it still asserts the table (uuid, main branch head).
struct LsnCommit {
  std::optional<iceberg::Schema> schema;
  int last_column_id = 0;
  iceberg::SnapshotChanges changes;
  std::map<std::string, std::string> properties;
};
// Creates namespace `ns` unless it exists (a concurrent creation is fine).
Status EnsureNamespace(catalog::Catalog& catalog, const catalog::Namespace& ns);

Result<catalog::TableCommit> PrepareLsnCommit(const catalog::TableIdentifier& id, const iceberg::TableMetadata& base,
                                              io::FileIO& io, int64_t now_ms, LsnCommit c, Lsn lsn);

// Per-row changelog metadata.
struct RowMeta {
  char op = 'c';
  Lsn lsn = 0;
  std::optional<Lsn> commit_lsn;
  std::optional<uint32_t> txid;
  std::optional<int64_t> commit_ts_us;  // Unix microseconds
  std::optional<int64_t> seq;
  std::optional<uint32_t> stream_xid;   // top-level xid of an in-progress streamed transaction
  uint32_t subxid = 0;
};

// Changes of one table buffered as text in frazil's memory (an engine::RowBuffer), read by
// DuckDB as the table expression sql() when they are written. Columns: _op, _lsn,
// _commit_lsn, _txid, _commit_ts, _seq, _stream_xid, _subxid, _unchanged, _has_old, c0..cN-1
// (the row image), o0..oN-1 (the old image). Not thread-safe.
class ChangeBuffer {
 public:
  // Errors: Internal if the frazil_rows table function cannot be registered on `con`.
  static Result<std::unique_ptr<ChangeBuffer>> Create(engine::Connection& con, size_t ncolumns);

  // Appends one change. `new_tuple` / `old_tuple` may be null. An unchanged TOAST value is
  // taken from the old row when PostgreSQL sent it, else staged as NULL and listed in
  // _unchanged (WriteStaged refuses to write such a row).
  Status Append(const RowMeta& meta, const Tuple* new_tuple, const Tuple* old_tuple);
  // Appends one snapshot row from COPY text fields (nullopt = NULL).
  Status AppendFields(const RowMeta& meta, std::span<const std::optional<std::string_view>> fields);

  // "frazil_rows(<id>)": the rows as a DuckDB table expression.
  std::string sql() const { return rows_.sql(); }
  void Clear();
  // Drops the rows of subtransaction `subxid` (a ROLLBACK TO SAVEPOINT in a streamed
  // transaction).
  void DropSubtransaction(uint32_t subxid);
  // Row access for filling unchanged TOAST values (rows in arrival order).
  char op(size_t row) const;
  std::optional<std::string_view> value(size_t row, size_t column) const;   // the row image c<column>
  // The old image o<column> (nullopt when NULL or when the change has no old image).
  std::optional<std::string_view> old_value(size_t row, size_t column) const;
  std::vector<size_t> unchanged_columns(size_t row) const;                   // columns still to fill
  void Fill(size_t row, size_t column, std::optional<std::string_view> value);
  // Marks the row's unchanged columns as filled (call after Fill for each).
  void ClearUnchanged(size_t row);

  // The first row with an unchanged TOAST value that could not be filled: (column, LSN).
  std::optional<std::pair<size_t, Lsn>> FirstUnresolvedToast() const;

  size_t ncolumns() const { return ncolumns_; }
  int64_t rows() const { return static_cast<int64_t>(rows_.rows()); }
  int64_t bytes() const { return static_cast<int64_t>(rows_.bytes()); }
  bool has_unchanged_toast() const { return unchanged_toast_ > 0; }

 private:
  explicit ChangeBuffer(size_t ncolumns);
  void AppendMeta(const RowMeta& meta);
  size_t ncolumns_;
  engine::RowBuffer rows_;
  int64_t unchanged_toast_ = 0;
};

// Parses one line of COPY ... TO STDOUT text format (tab-separated, \N for NULL, backslash
// escapes) into fields. `scratch` holds unescaped values; views point into it or `line`.
// Errors: Corrupt naming the line number when the field count is not `expected`.
Status ParseCopyTextLine(std::string_view line, size_t expected, std::vector<std::optional<std::string_view>>& fields,
                         std::vector<std::string>& scratch);

}  // namespace frazil::cdc
