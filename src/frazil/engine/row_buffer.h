// Rows buffered in frazil's own memory and read by DuckDB queries as a table function,
// `frazil_rows(<id>)`: appending costs a copy of the bytes and no more (no table storage,
// statistics or compression), and a query such as COPY (SELECT ... FROM frazil_rows(7)) TO
// '...parquet' streams them straight into the Parquet writer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/engine/duckdb.h"

namespace frazil::engine {

class RowBuffer {
 public:
  enum class Type { kBigint, kVarchar, kBoolean };
  struct Column {
    std::string name;
    Type type;
  };

  explicit RowBuffer(std::vector<Column> columns);
  ~RowBuffer();
  RowBuffer(const RowBuffer&) = delete;
  RowBuffer& operator=(const RowBuffer&) = delete;

  // Values of one row in column order, then EndRow(). Appending a value of the wrong type
  // for its column is a bug (checked in debug builds only).
  void AppendNull();
  void AppendNulls(size_t count);
  void AppendInt64(int64_t value);
  void AppendBool(bool value);
  void AppendString(std::string_view value);
  void EndRow();

  size_t rows() const { return rows_; }
  size_t bytes() const { return bytes_; }  // approximate memory held
  const std::vector<Column>& columns() const { return columns_; }
  bool IsNull(size_t column, size_t row) const;
  int64_t GetInt64(size_t column, size_t row) const;
  std::string_view GetString(size_t column, size_t row) const;

  // Replaces one value of an appended row (a string column; nullopt = NULL).
  void SetString(size_t column, size_t row, std::optional<std::string_view> value);

  void Clear();
  // Keeps the rows for which `keep(row)` is true, in order.
  void Retain(const std::function<bool(size_t row)>& keep);

  // The SQL table expression that reads this buffer: "frazil_rows(<id>)". Valid while the
  // buffer lives, on connections of a database where RegisterRowBufferFunction ran; the
  // buffer must not change while a query reads it.
  std::string sql() const;

 private:
  struct ColumnData;
  std::string_view Store(std::string_view value);
  std::vector<Column> columns_;
  std::vector<std::unique_ptr<ColumnData>> data_;
  std::vector<std::unique_ptr<char[]>> blocks_;  // string bytes; blocks never move
  size_t block_used_ = 0;
  size_t block_size_ = 0;
  size_t column_ = 0;  // next column of the row being appended
  size_t rows_ = 0;
  size_t bytes_ = 0;
  int64_t id_ = 0;
};

// Registers frazil_rows(BIGINT) on `con` (idempotent per database).
// Errors: Internal if DuckDB refuses the registration.
Status RegisterRowBufferFunction(Connection& con);

}  // namespace frazil::engine
