// Move-only RAII wrappers around the DuckDB C API handles: database, connection, query
// result, data chunk, prepared statement, appender. This file is the only place that sees
// DuckDB's error reporting: a failed call becomes a Result error carrying DuckDB's message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <duckdb.h>

#include "frazil/base/result.h"

namespace frazil::engine {

struct DatabaseOptions {
  std::string path;          // empty or ":memory:" = in-memory
  int threads = 0;           // 0 = DuckDB's default (all cores)
  std::string memory_limit;  // e.g. "2GB"; empty = DuckDB's default
  std::string temp_directory;  // where DuckDB spills; empty = default
  // Where DuckDB finds extensions (<dir>/v<version>/<platform>/<name>.duckdb_extension);
  // empty: the one `make deps` fills (.deps/duckdb/extensions), if it exists.
  std::string extension_directory;
  // Statements run once after opening (LOAD httpfs, CREATE SECRET ...). They may hold
  // secrets: neither they nor DuckDB's echo of them reach an error message or a log.
  std::vector<std::string> setup_sql;
};

class Database {
 public:
  // Opens (or creates) a database. Errors: IOError with DuckDB's message.
  static Result<Database> Open(const DatabaseOptions& options = {});

  Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Database& operator=(Database&& o) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  duckdb_database handle() const { return db_; }

 private:
  explicit Database(duckdb_database db) : db_(db) {}
  duckdb_database db_ = nullptr;
};

// A chunk of up to 2048 rows of a result; columns are read with typed accessors that must
// match the column's physical DuckDB type (the caller knows what it selected).
class DataChunk {
 public:
  explicit DataChunk(duckdb_data_chunk chunk) : chunk_(chunk) {}
  DataChunk(DataChunk&& o) noexcept : chunk_(o.chunk_) { o.chunk_ = nullptr; }
  DataChunk& operator=(DataChunk&& o) noexcept;
  DataChunk(const DataChunk&) = delete;
  DataChunk& operator=(const DataChunk&) = delete;
  ~DataChunk();

  size_t size() const;
  bool IsNull(size_t col, size_t row) const;
  // For BOOLEAN / INTEGER / BIGINT / DOUBLE / VARCHAR-or-BLOB columns respectively.
  bool GetBool(size_t col, size_t row) const;
  int32_t GetInt32(size_t col, size_t row) const;
  int64_t GetInt64(size_t col, size_t row) const;
  double GetDouble(size_t col, size_t row) const;
  std::string_view GetStringView(size_t col, size_t row) const;
  // A MAP(VARCHAR, VARCHAR) cell as key/value pairs (NULL values become "").
  std::vector<std::pair<std::string, std::string>> GetStringMap(size_t col, size_t row) const;
  // A MAP(VARCHAR, MAP(VARCHAR, VARCHAR)) cell, as COPY ... RETURN_STATS reports.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> GetNestedStringMap(
      size_t col, size_t row) const;
  duckdb_data_chunk handle() const { return chunk_; }

 private:
  duckdb_data_chunk chunk_ = nullptr;
};

// A query result. Two ways to read it, not to be mixed on one result: random access to
// cells (GetString/GetInt64/..., fine for small results), or chunk iteration (NextChunk).
class QueryResult {
 public:
  QueryResult(QueryResult&& o) noexcept;
  QueryResult& operator=(QueryResult&& o) noexcept;
  QueryResult(const QueryResult&) = delete;
  QueryResult& operator=(const QueryResult&) = delete;
  ~QueryResult();

  size_t column_count();
  std::string column_name(size_t col);
  duckdb_type column_type(size_t col);
  size_t row_count();

  // Cell access (materializes the result on first use).
  bool IsNull(size_t col, size_t row);
  // The value as DuckDB prints it (VARCHAR cast); nullopt for NULL.
  std::optional<std::string> GetString(size_t col, size_t row);
  int64_t GetInt64(size_t col, size_t row);
  double GetDouble(size_t col, size_t row);
  bool GetBool(size_t col, size_t row);
  // Every row as strings; for small results (tests, metadata queries).
  std::vector<std::vector<std::optional<std::string>>> FetchAll();

  // The next chunk, or nullopt at the end.
  std::optional<DataChunk> NextChunk();

 private:
  friend class Connection;
  friend class PreparedStatement;
  QueryResult() = default;
  duckdb_result result_{};
  bool valid_ = false;
};

class PreparedStatement;

class Connection {
 public:
  // Errors: IOError if DuckDB cannot connect.
  static Result<Connection> Open(const Database& db);

  Connection(Connection&& o) noexcept : con_(o.con_) { o.con_ = nullptr; }
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements, discarding results. Errors: InvalidArgument (DuckDB
  // parser/binder/conversion errors) or IOError, with DuckDB's message.
  Status Execute(std::string_view sql);
  // Runs a query and returns its (materialized) result. Errors as Execute.
  Result<QueryResult> Query(std::string_view sql);
  Result<PreparedStatement> Prepare(std::string_view sql);

  duckdb_connection handle() const { return con_; }

 private:
  explicit Connection(duckdb_connection con) : con_(con) {}
  duckdb_connection con_ = nullptr;
};

// Parameters are numbered from 1, as `$1` / `?` in the SQL.
class PreparedStatement {
 public:
  PreparedStatement(PreparedStatement&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  PreparedStatement& operator=(PreparedStatement&& o) noexcept;
  PreparedStatement(const PreparedStatement&) = delete;
  PreparedStatement& operator=(const PreparedStatement&) = delete;
  ~PreparedStatement();

  size_t parameter_count() const;
  Status BindNull(size_t index);
  Status BindBool(size_t index, bool value);
  Status BindInt64(size_t index, int64_t value);
  Status BindDouble(size_t index, double value);
  Status BindString(size_t index, std::string_view value);
  Status BindBlob(size_t index, std::string_view value);
  Result<QueryResult> Execute();

 private:
  friend class Connection;
  explicit PreparedStatement(duckdb_prepared_statement stmt) : stmt_(stmt) {}
  duckdb_prepared_statement stmt_ = nullptr;
};

// Appends rows to an existing table; values in column order, then EndRow(). Close() (or
// the destructor, which drops errors) flushes.
class Appender {
 public:
  // Errors: NotFound/InvalidArgument with DuckDB's message (unknown table).
  static Result<Appender> Open(Connection& con, const std::string& table);

  Appender(Appender&& o) noexcept : app_(o.app_) { o.app_ = nullptr; }
  Appender& operator=(Appender&& o) noexcept;
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;
  ~Appender();

  Status AppendNull();
  Status AppendBool(bool value);
  Status AppendInt64(int64_t value);
  Status AppendDouble(double value);
  Status AppendString(std::string_view value);
  Status AppendBlob(std::string_view value);
  Status EndRow();
  Status Close();

 private:
  explicit Appender(duckdb_appender app) : app_(app) {}
  Status Check(duckdb_state state);
  duckdb_appender app_ = nullptr;
};

// One argument value of a C++ scalar function; which member holds it depends on `type`:
// BIGINT/INTEGER -> i64, HUGEINT -> i128, VARCHAR/BLOB -> bytes.
struct ScalarArg {
  duckdb_type type = DUCKDB_TYPE_BIGINT;
  int64_t i64 = 0;
  __int128 i128 = 0;
  std::string_view bytes;
};
// Returns the function's value, or an error message that fails the query.
using BinaryIntFunction = std::expected<int32_t, std::string> (*)(const ScalarArg& value, int32_t n);

// Registers `name(value, INTEGER) -> INTEGER` on the connection's database, one overload
// per type in `value_types` (BIGINT, HUGEINT, VARCHAR, BLOB); NULL in -> NULL out.
// Errors: Internal if DuckDB refuses (for example, the name exists).
Status RegisterBinaryIntFunction(Connection& con, const std::string& name,
                                 const std::vector<duckdb_type>& value_types, BinaryIntFunction fn);

// SQL text helpers: 'it''s' and "col""name".
std::string QuoteLiteral(std::string_view s);
std::string QuoteIdentifier(std::string_view s);

}  // namespace frazil::engine
