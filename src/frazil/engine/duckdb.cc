#include "frazil/engine/duckdb.h"

#include <filesystem>

#include <utility>

namespace frazil::engine {
namespace {

ErrorKind KindOf(duckdb_error_type type) {
  switch (type) {
    case DUCKDB_ERROR_IO:
    case DUCKDB_ERROR_NETWORK:
    case DUCKDB_ERROR_HTTP:
    case DUCKDB_ERROR_PERMISSION:
    case DUCKDB_ERROR_OUT_OF_MEMORY:
    case DUCKDB_ERROR_INTERRUPT:
      return ErrorKind::kIOError;
    case DUCKDB_ERROR_CATALOG:
      return ErrorKind::kNotFound;
    case DUCKDB_ERROR_NOT_IMPLEMENTED:
      return ErrorKind::kUnsupported;
    case DUCKDB_ERROR_INTERNAL:
    case DUCKDB_ERROR_FATAL:
      return ErrorKind::kInternal;
    default:
      return ErrorKind::kInvalidArgument;
  }
}

std::unexpected<Error> ResultError(duckdb_result* result, std::string_view sql) {
  const char* msg = duckdb_result_error(result);
  std::string text = msg ? msg : "unknown DuckDB error";
  // Internal errors carry DuckDB's C++ stack trace: not for users' eyes.
  if (auto trace = text.find("\n\nStack Trace:"); trace != std::string::npos) text.erase(trace);
  constexpr size_t kMaxSql = 300;
  if (!sql.empty()) {
    text += " [sql: ";
    text += sql.size() > kMaxSql ? std::string(sql.substr(0, kMaxSql)) + "..." : std::string(sql);
    text += "]";
  }
  return MakeError(KindOf(duckdb_result_error_type(result)), std::move(text));
}

}  // namespace

// ---- Database ----

Result<Database> Database::Open(const DatabaseOptions& options) {
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) {
    return MakeError(ErrorKind::kInternal, "duckdb_create_config failed");
  }
  auto set = [&](const char* name, const std::string& value) -> Status {
    if (duckdb_set_config(config, name, value.c_str()) == DuckDBError) {
      return MakeError(ErrorKind::kInvalidArgument, std::string("bad DuckDB setting ") + name + "=" + value);
    }
    return Ok();
  };
  Status st = Ok();
  if (options.threads > 0) st = set("threads", std::to_string(options.threads));
  if (st && !options.memory_limit.empty()) st = set("memory_limit", options.memory_limit);
  if (st && !options.temp_directory.empty()) st = set("temp_directory", options.temp_directory);
  std::string ext_dir = options.extension_directory;
#ifdef FRAZIL_DUCKDB_EXTENSION_DIR
  if (ext_dir.empty() && std::filesystem::is_directory(FRAZIL_DUCKDB_EXTENSION_DIR)) ext_dir = FRAZIL_DUCKDB_EXTENSION_DIR;
#endif
  if (st && !ext_dir.empty()) st = set("extension_directory", ext_dir);
  if (!st) {
    duckdb_destroy_config(&config);
    return std::unexpected(st.error());
  }
  duckdb_database db = nullptr;
  char* err = nullptr;
  const char* path = options.path.empty() ? nullptr : options.path.c_str();
  duckdb_state state = duckdb_open_ext(path, &db, config, &err);
  duckdb_destroy_config(&config);
  if (state == DuckDBError) {
    std::string msg = err ? err : "duckdb_open failed";
    if (err) duckdb_free(err);
    return MakeError(ErrorKind::kIOError, "cannot open DuckDB database '" + options.path + "': " + msg);
  }
  Database out(db);
  if (!options.setup_sql.empty()) {
    duckdb_connection con = nullptr;
    if (duckdb_connect(db, &con) == DuckDBError) return MakeError(ErrorKind::kInternal, "duckdb_connect failed");
    for (size_t i = 0; i < options.setup_sql.size(); ++i) {
      duckdb_result result;
      duckdb_state qs = duckdb_query(con, options.setup_sql[i].c_str(), &result);
      std::string error = qs == DuckDBError && duckdb_result_error(&result) ? duckdb_result_error(&result) : "";
      duckdb_destroy_result(&result);
      if (qs == DuckDBError) {
        duckdb_disconnect(&con);
        // DuckDB quotes the statement after "LINE 1:"; the statement may hold a secret.
        error = error.substr(0, error.find("LINE "));
        std::string statement = options.setup_sql[i].substr(0, options.setup_sql[i].find_first_of(" ("));
        return MakeError(ErrorKind::kIOError, "DuckDB setup (" + statement + " ..., statement " + std::to_string(i + 1) +
                                                  ") failed" + (ext_dir.empty() ? "" : " (extensions from " + ext_dir + ")") +
                                                  ": " + error);
      }
    }
    duckdb_disconnect(&con);
  }
  return out;
}

Database& Database::operator=(Database&& o) noexcept {
  if (this != &o) {
    if (db_) duckdb_close(&db_);
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}

Database::~Database() {
  if (db_) duckdb_close(&db_);
}

// ---- DataChunk ----

DataChunk& DataChunk::operator=(DataChunk&& o) noexcept {
  if (this != &o) {
    if (chunk_) duckdb_destroy_data_chunk(&chunk_);
    chunk_ = std::exchange(o.chunk_, nullptr);
  }
  return *this;
}

DataChunk::~DataChunk() {
  if (chunk_) duckdb_destroy_data_chunk(&chunk_);
}

size_t DataChunk::size() const { return duckdb_data_chunk_get_size(chunk_); }

bool DataChunk::IsNull(size_t col, size_t row) const {
  uint64_t* validity = duckdb_vector_get_validity(duckdb_data_chunk_get_vector(chunk_, col));
  return validity != nullptr && !duckdb_validity_row_is_valid(validity, row);
}

bool DataChunk::GetBool(size_t col, size_t row) const {
  return static_cast<const bool*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk_, col)))[row];
}

int32_t DataChunk::GetInt32(size_t col, size_t row) const {
  return static_cast<const int32_t*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk_, col)))[row];
}

int64_t DataChunk::GetInt64(size_t col, size_t row) const {
  return static_cast<const int64_t*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk_, col)))[row];
}

double DataChunk::GetDouble(size_t col, size_t row) const {
  return static_cast<const double*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk_, col)))[row];
}

std::string_view DataChunk::GetStringView(size_t col, size_t row) const {
  auto* strings =
      static_cast<duckdb_string_t*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk_, col)));
  duckdb_string_t* s = &strings[row];
  return std::string_view(duckdb_string_t_data(s), duckdb_string_t_length(*s));
}

namespace {

bool VectorRowValid(duckdb_vector v, size_t row) {
  uint64_t* validity = duckdb_vector_get_validity(v);
  return validity == nullptr || duckdb_validity_row_is_valid(validity, row);
}

std::string VectorString(duckdb_vector v, size_t row) {
  if (!VectorRowValid(v, row)) return "";
  auto* strings = static_cast<duckdb_string_t*>(duckdb_vector_get_data(v));
  return std::string(duckdb_string_t_data(&strings[row]), duckdb_string_t_length(strings[row]));
}

// A MAP vector is a LIST of STRUCT(key, value); returns the entry range of `row`.
std::pair<size_t, size_t> MapRange(duckdb_vector map, size_t row) {
  if (!VectorRowValid(map, row)) return {0, 0};
  auto* entries = static_cast<duckdb_list_entry*>(duckdb_vector_get_data(map));
  return {entries[row].offset, entries[row].length};
}

std::vector<std::pair<std::string, std::string>> ReadStringMap(duckdb_vector map, size_t row) {
  std::vector<std::pair<std::string, std::string>> out;
  auto [offset, length] = MapRange(map, row);
  duckdb_vector kv = duckdb_list_vector_get_child(map);
  duckdb_vector keys = duckdb_struct_vector_get_child(kv, 0);
  duckdb_vector values = duckdb_struct_vector_get_child(kv, 1);
  for (size_t i = offset; i < offset + length; ++i) out.emplace_back(VectorString(keys, i), VectorString(values, i));
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> DataChunk::GetStringMap(size_t col, size_t row) const {
  return ReadStringMap(duckdb_data_chunk_get_vector(chunk_, col), row);
}

std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>
DataChunk::GetNestedStringMap(size_t col, size_t row) const {
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> out;
  duckdb_vector map = duckdb_data_chunk_get_vector(chunk_, col);
  auto [offset, length] = MapRange(map, row);
  duckdb_vector kv = duckdb_list_vector_get_child(map);
  duckdb_vector keys = duckdb_struct_vector_get_child(kv, 0);
  duckdb_vector values = duckdb_struct_vector_get_child(kv, 1);
  for (size_t i = offset; i < offset + length; ++i) out.emplace_back(VectorString(keys, i), ReadStringMap(values, i));
  return out;
}

// ---- QueryResult ----

QueryResult::QueryResult(QueryResult&& o) noexcept : result_(o.result_), valid_(o.valid_) {
  o.valid_ = false;
  o.result_ = duckdb_result{};
}

QueryResult& QueryResult::operator=(QueryResult&& o) noexcept {
  if (this != &o) {
    if (valid_) duckdb_destroy_result(&result_);
    result_ = o.result_;
    valid_ = std::exchange(o.valid_, false);
    o.result_ = duckdb_result{};
  }
  return *this;
}

QueryResult::~QueryResult() {
  if (valid_) duckdb_destroy_result(&result_);
}

size_t QueryResult::column_count() { return duckdb_column_count(&result_); }

std::string QueryResult::column_name(size_t col) {
  const char* name = duckdb_column_name(&result_, col);
  return name ? name : "";
}

duckdb_type QueryResult::column_type(size_t col) { return duckdb_column_type(&result_, col); }

size_t QueryResult::row_count() { return duckdb_row_count(&result_); }

bool QueryResult::IsNull(size_t col, size_t row) { return duckdb_value_is_null(&result_, col, row); }

std::optional<std::string> QueryResult::GetString(size_t col, size_t row) {
  if (duckdb_value_is_null(&result_, col, row)) return std::nullopt;
  char* text = duckdb_value_varchar(&result_, col, row);
  if (text == nullptr) return std::nullopt;
  std::string out(text);
  duckdb_free(text);
  return out;
}

int64_t QueryResult::GetInt64(size_t col, size_t row) { return duckdb_value_int64(&result_, col, row); }

double QueryResult::GetDouble(size_t col, size_t row) { return duckdb_value_double(&result_, col, row); }

bool QueryResult::GetBool(size_t col, size_t row) { return duckdb_value_boolean(&result_, col, row); }

std::vector<std::vector<std::optional<std::string>>> QueryResult::FetchAll() {
  std::vector<std::vector<std::optional<std::string>>> rows;
  size_t n = row_count();
  size_t cols = column_count();
  rows.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    std::vector<std::optional<std::string>> row;
    row.reserve(cols);
    for (size_t c = 0; c < cols; ++c) row.push_back(GetString(c, r));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::optional<DataChunk> QueryResult::NextChunk() {
  duckdb_data_chunk chunk = duckdb_fetch_chunk(result_);
  if (chunk == nullptr) return std::nullopt;
  return DataChunk(chunk);
}

// ---- Connection ----

Result<Connection> Connection::Open(const Database& db) {
  duckdb_connection con = nullptr;
  if (duckdb_connect(db.handle(), &con) == DuckDBError) {
    return MakeError(ErrorKind::kIOError, "cannot connect to DuckDB database");
  }
  return Connection(con);
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (con_) duckdb_disconnect(&con_);
    con_ = std::exchange(o.con_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (con_) duckdb_disconnect(&con_);
}

Status Connection::Execute(std::string_view sql) {
  FRZ_ASSIGN_OR_RETURN(QueryResult result, Query(sql));
  (void)result;
  return Ok();
}

Result<QueryResult> Connection::Query(std::string_view sql) {
  QueryResult result;
  std::string text(sql);
  duckdb_state state = duckdb_query(con_, text.c_str(), &result.result_);
  result.valid_ = true;  // duckdb_query fills the result even on error; it must be destroyed
  if (state == DuckDBError) return ResultError(&result.result_, sql);
  return result;
}

Result<PreparedStatement> Connection::Prepare(std::string_view sql) {
  duckdb_prepared_statement stmt = nullptr;
  std::string text(sql);
  duckdb_state state = duckdb_prepare(con_, text.c_str(), &stmt);
  PreparedStatement prepared(stmt);
  if (state == DuckDBError) {
    const char* msg = duckdb_prepare_error(stmt);
    return MakeError(ErrorKind::kInvalidArgument,
                     std::string(msg ? msg : "prepare failed") + " [sql: " + text + "]");
  }
  return prepared;
}

// ---- PreparedStatement ----

PreparedStatement& PreparedStatement::operator=(PreparedStatement&& o) noexcept {
  if (this != &o) {
    if (stmt_) duckdb_destroy_prepare(&stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

PreparedStatement::~PreparedStatement() {
  if (stmt_) duckdb_destroy_prepare(&stmt_);
}

size_t PreparedStatement::parameter_count() const { return duckdb_nparams(stmt_); }

namespace {
Status BindResult(duckdb_state state, size_t index) {
  if (state == DuckDBError) {
    return MakeError(ErrorKind::kInvalidArgument, "cannot bind parameter " + std::to_string(index));
  }
  return Ok();
}
}  // namespace

Status PreparedStatement::BindNull(size_t index) { return BindResult(duckdb_bind_null(stmt_, index), index); }
Status PreparedStatement::BindBool(size_t index, bool value) {
  return BindResult(duckdb_bind_boolean(stmt_, index, value), index);
}
Status PreparedStatement::BindInt64(size_t index, int64_t value) {
  return BindResult(duckdb_bind_int64(stmt_, index, value), index);
}
Status PreparedStatement::BindDouble(size_t index, double value) {
  return BindResult(duckdb_bind_double(stmt_, index, value), index);
}
Status PreparedStatement::BindString(size_t index, std::string_view value) {
  return BindResult(duckdb_bind_varchar_length(stmt_, index, value.data(), value.size()), index);
}
Status PreparedStatement::BindBlob(size_t index, std::string_view value) {
  return BindResult(duckdb_bind_blob(stmt_, index, value.data(), value.size()), index);
}

Result<QueryResult> PreparedStatement::Execute() {
  QueryResult result;
  duckdb_state state = duckdb_execute_prepared(stmt_, &result.result_);
  result.valid_ = true;
  if (state == DuckDBError) return ResultError(&result.result_, "");
  return result;
}

// ---- Appender ----

Result<Appender> Appender::Open(Connection& con, const std::string& table) {
  duckdb_appender app = nullptr;
  duckdb_state state = duckdb_appender_create(con.handle(), nullptr, table.c_str(), &app);
  Appender appender(app);
  if (state == DuckDBError) {
    const char* msg = app ? duckdb_appender_error(app) : nullptr;
    return MakeError(ErrorKind::kNotFound,
                     "cannot append to " + table + ": " + (msg ? msg : "unknown error"));
  }
  return appender;
}

Appender& Appender::operator=(Appender&& o) noexcept {
  if (this != &o) {
    if (app_) duckdb_appender_destroy(&app_);
    app_ = std::exchange(o.app_, nullptr);
  }
  return *this;
}

Appender::~Appender() {
  if (app_) duckdb_appender_destroy(&app_);
}

Status Appender::Check(duckdb_state state) {
  if (state == DuckDBError) {
    const char* msg = duckdb_appender_error(app_);
    return MakeError(ErrorKind::kInvalidArgument, std::string("append failed: ") + (msg ? msg : "unknown"));
  }
  return Ok();
}

Status Appender::AppendNull() { return Check(duckdb_append_null(app_)); }
Status Appender::AppendBool(bool value) { return Check(duckdb_append_bool(app_, value)); }
Status Appender::AppendInt64(int64_t value) { return Check(duckdb_append_int64(app_, value)); }
Status Appender::AppendDouble(double value) { return Check(duckdb_append_double(app_, value)); }
Status Appender::AppendString(std::string_view value) {
  return Check(duckdb_append_varchar_length(app_, value.data(), value.size()));
}
Status Appender::AppendBlob(std::string_view value) {
  return Check(duckdb_append_blob(app_, value.data(), value.size()));
}
Status Appender::EndRow() { return Check(duckdb_appender_end_row(app_)); }

Status Appender::Close() {
  if (app_ == nullptr) return Ok();
  Status st = Check(duckdb_appender_flush(app_));
  duckdb_appender_destroy(&app_);
  return st;
}

// ---- Scalar functions ----

namespace {

struct FunctionInfo {
  BinaryIntFunction fn;
  duckdb_type type;
};

void DeleteFunctionInfo(void* p) { delete static_cast<FunctionInfo*>(p); }

void CallBinaryInt(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
  auto* fi = static_cast<FunctionInfo*>(duckdb_scalar_function_get_extra_info(info));
  size_t n = duckdb_data_chunk_get_size(input);
  duckdb_vector values = duckdb_data_chunk_get_vector(input, 0);
  duckdb_vector params = duckdb_data_chunk_get_vector(input, 1);
  auto* out = static_cast<int32_t*>(duckdb_vector_get_data(output));
  const auto* param_data = static_cast<const int32_t*>(duckdb_vector_get_data(params));
  void* value_data = duckdb_vector_get_data(values);
  duckdb_vector_ensure_validity_writable(output);
  uint64_t* out_validity = duckdb_vector_get_validity(output);
  for (size_t row = 0; row < n; ++row) {
    if (!VectorRowValid(values, row) || !VectorRowValid(params, row)) {
      duckdb_validity_set_row_invalid(out_validity, row);
      continue;
    }
    ScalarArg arg;
    arg.type = fi->type;
    switch (fi->type) {
      case DUCKDB_TYPE_BIGINT: arg.i64 = static_cast<const int64_t*>(value_data)[row]; break;
      case DUCKDB_TYPE_INTEGER: arg.i64 = static_cast<const int32_t*>(value_data)[row]; break;
      case DUCKDB_TYPE_HUGEINT: {
        duckdb_hugeint h = static_cast<const duckdb_hugeint*>(value_data)[row];
        arg.i128 = static_cast<__int128>(static_cast<unsigned __int128>(static_cast<uint64_t>(h.upper)) << 64 |
                                         h.lower);
        break;
      }
      default: {
        auto* strings = static_cast<duckdb_string_t*>(value_data);
        arg.bytes = std::string_view(duckdb_string_t_data(&strings[row]), duckdb_string_t_length(strings[row]));
      }
    }
    auto r = fi->fn(arg, param_data[row]);
    if (!r) {
      duckdb_scalar_function_set_error(info, r.error().c_str());
      return;
    }
    out[row] = *r;
  }
}

}  // namespace

Status RegisterBinaryIntFunction(Connection& con, const std::string& name,
                                 const std::vector<duckdb_type>& value_types, BinaryIntFunction fn) {
  duckdb_scalar_function_set set = duckdb_create_scalar_function_set(name.c_str());
  Status st = Ok();
  for (duckdb_type type : value_types) {
    duckdb_scalar_function f = duckdb_create_scalar_function();
    duckdb_scalar_function_set_name(f, name.c_str());
    duckdb_logical_type value_type = duckdb_create_logical_type(type);
    duckdb_logical_type int_type = duckdb_create_logical_type(DUCKDB_TYPE_INTEGER);
    duckdb_scalar_function_add_parameter(f, value_type);
    duckdb_scalar_function_add_parameter(f, int_type);
    duckdb_scalar_function_set_return_type(f, int_type);
    duckdb_destroy_logical_type(&value_type);
    duckdb_destroy_logical_type(&int_type);
    duckdb_scalar_function_set_extra_info(f, new FunctionInfo{fn, type}, DeleteFunctionInfo);
    duckdb_scalar_function_set_function(f, CallBinaryInt);
    if (duckdb_add_scalar_function_to_set(set, f) == DuckDBError) {
      st = MakeError(ErrorKind::kInternal, "cannot add overload of " + name);
    }
    duckdb_destroy_scalar_function(&f);
  }
  if (st && duckdb_register_scalar_function_set(con.handle(), set) == DuckDBError) {
    st = MakeError(ErrorKind::kInternal, "cannot register scalar function " + name);
  }
  duckdb_destroy_scalar_function_set(&set);
  return st;
}

// ---- SQL text ----

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

std::string QuoteIdentifier(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace frazil::engine
