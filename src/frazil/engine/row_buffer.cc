#include "frazil/engine/row_buffer.h"

#include <duckdb.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <mutex>

namespace frazil::engine {

struct RowBuffer::ColumnData {
  std::vector<int64_t> ints;            // kBigint, kBoolean (0/1)
  std::vector<std::string_view> strs;   // kVarchar
  std::vector<uint8_t> valid;
};

namespace {

// Buffers by id, so that a query can name one (frazil_rows(7)) without pointers in SQL.
std::mutex registry_mu;
std::map<int64_t, RowBuffer*>& Registry() {
  static std::map<int64_t, RowBuffer*> r;
  return r;
}
int64_t next_id = 1;

constexpr size_t kMinBlock = 64 * 1024;
constexpr size_t kMaxBlock = 4 * 1024 * 1024;

duckdb_logical_type LogicalType(RowBuffer::Type t) {
  switch (t) {
    case RowBuffer::Type::kBigint: return duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    case RowBuffer::Type::kBoolean: return duckdb_create_logical_type(DUCKDB_TYPE_BOOLEAN);
    default: return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
  }
}

struct Bind {
  RowBuffer* buffer = nullptr;
};
struct Init {
  size_t position = 0;
  std::vector<idx_t> columns;  // projected column indexes
};

void BindRows(duckdb_bind_info info) {
  duckdb_value v = duckdb_bind_get_parameter(info, 0);
  int64_t id = duckdb_get_int64(v);
  duckdb_destroy_value(&v);
  RowBuffer* buffer = nullptr;
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    auto it = Registry().find(id);
    if (it != Registry().end()) buffer = it->second;
  }
  if (buffer == nullptr) {
    duckdb_bind_set_error(info, ("frazil_rows: no row buffer " + std::to_string(id)).c_str());
    return;
  }
  for (const auto& c : buffer->columns()) {
    duckdb_logical_type t = LogicalType(c.type);
    duckdb_bind_add_result_column(info, c.name.c_str(), t);
    duckdb_destroy_logical_type(&t);
  }
  duckdb_bind_set_cardinality(info, buffer->rows(), true);
  auto* b = new Bind{buffer};
  duckdb_bind_set_bind_data(info, b, [](void* p) { delete static_cast<Bind*>(p); });
}

void InitRows(duckdb_init_info info) {
  auto* init = new Init();
  idx_t n = duckdb_init_get_column_count(info);
  for (idx_t i = 0; i < n; ++i) init->columns.push_back(duckdb_init_get_column_index(info, i));
  duckdb_init_set_max_threads(info, 1);
  duckdb_init_set_init_data(info, init, [](void* p) { delete static_cast<Init*>(p); });
}

void ScanRows(duckdb_function_info info, duckdb_data_chunk output) {
  auto* bind = static_cast<Bind*>(duckdb_function_get_bind_data(info));
  auto* init = static_cast<Init*>(duckdb_function_get_init_data(info));
  const RowBuffer& buf = *bind->buffer;
  size_t start = init->position;
  size_t count = std::min<size_t>(duckdb_vector_size(), buf.rows() - std::min(start, buf.rows()));
  for (size_t out = 0; out < init->columns.size(); ++out) {
    idx_t col = init->columns[out];
    duckdb_vector vec = duckdb_data_chunk_get_vector(output, out);
    auto type = buf.columns()[col].type;
    uint64_t* validity = nullptr;
    for (size_t i = 0; i < count; ++i) {
      size_t row = start + i;
      if (buf.IsNull(col, row)) {
        if (validity == nullptr) {
          duckdb_vector_ensure_validity_writable(vec);
          validity = duckdb_vector_get_validity(vec);
        }
        duckdb_validity_set_row_invalid(validity, i);
        continue;
      }
      if (type == RowBuffer::Type::kVarchar) {
        std::string_view s = buf.GetString(col, row);
        duckdb_vector_assign_string_element_len(vec, i, s.data(), s.size());
      } else if (type == RowBuffer::Type::kBigint) {
        static_cast<int64_t*>(duckdb_vector_get_data(vec))[i] = buf.GetInt64(col, row);
      } else {
        static_cast<bool*>(duckdb_vector_get_data(vec))[i] = buf.GetInt64(col, row) != 0;
      }
    }
  }
  init->position = start + count;
  duckdb_data_chunk_set_size(output, count);
}

}  // namespace

RowBuffer::RowBuffer(std::vector<Column> columns) : columns_(std::move(columns)) {
  for (size_t i = 0; i < columns_.size(); ++i) data_.push_back(std::make_unique<ColumnData>());
  std::lock_guard<std::mutex> lock(registry_mu);
  id_ = next_id++;
  Registry()[id_] = this;
}

RowBuffer::~RowBuffer() {
  std::lock_guard<std::mutex> lock(registry_mu);
  Registry().erase(id_);
}

std::string RowBuffer::sql() const { return "frazil_rows(" + std::to_string(id_) + ")"; }

void RowBuffer::AppendNull() {
  auto& d = *data_[column_];
  if (columns_[column_].type == Type::kVarchar) {
    d.strs.emplace_back();
  } else {
    d.ints.push_back(0);
  }
  d.valid.push_back(0);
  ++column_;
}

void RowBuffer::AppendNulls(size_t count) {
  for (size_t end = column_ + count; column_ < end;) AppendNull();
}

void RowBuffer::AppendInt64(int64_t value) {
  assert(columns_[column_].type != Type::kVarchar);
  auto& d = *data_[column_];
  d.ints.push_back(value);
  d.valid.push_back(1);
  ++column_;
}

void RowBuffer::AppendBool(bool value) { AppendInt64(value ? 1 : 0); }

std::string_view RowBuffer::Store(std::string_view value) {
  if (block_used_ + value.size() > block_size_) {
    block_size_ = std::max({kMinBlock, std::min(kMaxBlock, block_size_ * 2), value.size()});
    blocks_.push_back(std::make_unique<char[]>(block_size_));
    block_used_ = 0;
    bytes_ += block_size_;
  }
  char* dst = blocks_.back().get() + block_used_;
  if (!value.empty()) std::memcpy(dst, value.data(), value.size());
  block_used_ += value.size();
  return std::string_view(dst, value.size());
}

void RowBuffer::AppendString(std::string_view value) {
  assert(columns_[column_].type == Type::kVarchar);
  auto& d = *data_[column_];
  d.strs.push_back(Store(value));
  d.valid.push_back(1);
  ++column_;
}

void RowBuffer::SetString(size_t column, size_t row, std::optional<std::string_view> value) {
  assert(columns_[column].type == Type::kVarchar);
  auto& d = *data_[column];
  d.strs[row] = value ? Store(*value) : std::string_view();
  d.valid[row] = value ? 1 : 0;
}

void RowBuffer::EndRow() {
  assert(column_ == columns_.size());
  column_ = 0;
  ++rows_;
  bytes_ += columns_.size() * 17;
}

bool RowBuffer::IsNull(size_t column, size_t row) const { return data_[column]->valid[row] == 0; }
int64_t RowBuffer::GetInt64(size_t column, size_t row) const { return data_[column]->ints[row]; }
std::string_view RowBuffer::GetString(size_t column, size_t row) const { return data_[column]->strs[row]; }

void RowBuffer::Clear() {
  for (auto& d : data_) *d = ColumnData{};
  blocks_.clear();
  block_used_ = block_size_ = 0;
  column_ = rows_ = bytes_ = 0;
}

void RowBuffer::Retain(const std::function<bool(size_t)>& keep) {
  size_t out = 0;
  for (size_t row = 0; row < rows_; ++row) {
    if (!keep(row)) continue;
    if (out != row) {
      for (auto& d : data_) {
        if (!d->ints.empty()) d->ints[out] = d->ints[row];
        if (!d->strs.empty()) d->strs[out] = d->strs[row];
        d->valid[out] = d->valid[row];
      }
    }
    ++out;
  }
  for (auto& d : data_) {
    if (!d->ints.empty()) d->ints.resize(out);
    if (!d->strs.empty()) d->strs.resize(out);
    d->valid.resize(out);
  }
  // String bytes of dropped rows stay in their blocks until Clear(); fine for the
  // occasional subtransaction abort this serves.
  if (rows_ > 0) bytes_ = bytes_ * out / rows_;
  rows_ = out;
}

Status RegisterRowBufferFunction(Connection& con) {
  // Registration is per database, which the C API does not expose from a connection: a
  // second connection's attempt is refused, and the probe below confirms it exists.
  duckdb_table_function f = duckdb_create_table_function();
  duckdb_table_function_set_name(f, "frazil_rows");
  duckdb_logical_type id_type = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
  duckdb_table_function_add_parameter(f, id_type);
  duckdb_destroy_logical_type(&id_type);
  duckdb_table_function_set_bind(f, BindRows);
  duckdb_table_function_set_init(f, InitRows);
  duckdb_table_function_set_function(f, ScanRows);
  duckdb_table_function_supports_projection_pushdown(f, true);
  duckdb_state st = duckdb_register_table_function(con.handle(), f);
  duckdb_destroy_table_function(&f);
  if (st != DuckDBSuccess) {
    // Already registered in this database (another connection did it): fine if it works.
    auto probe = con.Query("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'frazil_rows'");
    if (probe) {
      auto rows = probe->FetchAll();
      if (!rows.empty() && rows[0][0] && *rows[0][0] != "0") return Ok();
    }
    return MakeError(ErrorKind::kInternal, "DuckDB refused to register the table function frazil_rows");
  }
  return Ok();
}

}  // namespace frazil::engine
