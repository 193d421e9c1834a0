#include "frazil/engine/parquet_writer.h"

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "frazil/base/random.h"
#include "frazil/engine/stats_text.h"
#include "frazil/engine/types.h"
#include "frazil/iceberg/datum.h"
#include "frazil/iceberg/transform.h"

namespace frazil::engine {

using iceberg::DataFile;
using iceberg::Datum;
using iceberg::Type;
using iceberg::TypeId;

namespace {

constexpr int kTruncateLength = 16;  // Iceberg's default metrics mode truncate(16)

// A leaf (primitive) column of the written file.
struct Leaf {
  int id = 0;
  iceberg::TypePtr type;
  bool repeated = false;  // inside a list or map: no bounds
};

// DuckDB names leaf columns in RETURN_STATS as the quoted path: "s"."y"."element".
void CollectLeaves(const iceberg::NestedField& field, const std::string& prefix, bool repeated,
                   std::map<std::string, Leaf>* leaves) {
  std::string path = prefix.empty() ? QuoteIdentifier(field.name) : prefix + "." + QuoteIdentifier(field.name);
  const Type& t = *field.type;
  switch (t.id) {
    case TypeId::kStruct:
      for (const auto& child : t.fields) CollectLeaves(child, path, repeated, leaves);
      return;
    case TypeId::kList: {
      iceberg::NestedField element = t.element();
      element.name = "element";
      CollectLeaves(element, path, true, leaves);
      return;
    }
    case TypeId::kMap: {
      iceberg::NestedField key = t.key();
      key.name = "key";
      iceberg::NestedField value = t.value();
      value.name = "value";
      CollectLeaves(key, path, true, leaves);
      CollectLeaves(value, path, true, leaves);
      return;
    }
    default:
      (*leaves)[path] = Leaf{field.id, field.type, repeated};
  }
}

// The FIELD_IDS entry of a column: `name: id` or `name: {__duckdb_field_id: id, ...}`.
std::string FieldIdSpec(const std::string& name, const iceberg::NestedField& field) {
  const Type& t = *field.type;
  std::string key = QuoteIdentifier(name) + ": ";
  if (t.is_primitive()) return key + std::to_string(field.id);
  std::string out = key + "{__duckdb_field_id: " + std::to_string(field.id);
  if (t.id == TypeId::kStruct) {
    for (const auto& child : t.fields) out += ", " + FieldIdSpec(child.name, child);
  } else if (t.id == TypeId::kList) {
    out += ", " + FieldIdSpec("element", t.element());
  } else {
    out += ", " + FieldIdSpec("key", t.key()) + ", " + FieldIdSpec("value", t.value());
  }
  return out + "}";
}

std::string FieldIds(const iceberg::Schema& schema) {
  std::string out = "{";
  for (size_t i = 0; i < schema.fields().size(); ++i) {
    if (i > 0) out += ", ";
    out += FieldIdSpec(schema.fields()[i].name, schema.fields()[i]);
  }
  return out + "}";
}

// SELECT CAST("__c0" AS T0) AS "name0", ... FROM (<sql>) AS __src("__c0", ...)
std::string CastSelect(std::string_view sql, const iceberg::Schema& schema) {
  std::string cols, aliases;
  for (size_t i = 0; i < schema.fields().size(); ++i) {
    const auto& f = schema.fields()[i];
    std::string src = "\"__c" + std::to_string(i) + "\"";
    if (i > 0) {
      cols += ", ";
      aliases += ", ";
    }
    cols += "CAST(" + src + " AS " + IcebergTypeToDuckDb(*f.type) + ") AS " + QuoteIdentifier(f.name);
    aliases += src;
  }
  return "SELECT " + cols + " FROM (" + std::string(sql) + ") AS __src(" + aliases + ")";
}

std::optional<int64_t> ToInt64(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Adds the metrics of one leaf column from DuckDB's statistics map.
void AddColumnMetrics(const Leaf& leaf, const std::vector<std::pair<std::string, std::string>>& stats,
                      bool truncate_strings, DataFile* file) {
  std::map<std::string, std::string> s(stats.begin(), stats.end());
  auto get = [&](const char* key) -> std::optional<std::string> {
    auto it = s.find(key);
    if (it == s.end()) return std::nullopt;
    return it->second;
  };
  if (auto v = get("column_size_bytes"); v && ToInt64(*v)) file->column_sizes[leaf.id] = *ToInt64(*v);
  if (auto v = get("num_values"); v && ToInt64(*v)) file->value_counts[leaf.id] = *ToInt64(*v);
  if (auto v = get("null_count"); v && ToInt64(*v)) file->null_value_counts[leaf.id] = *ToInt64(*v);
  bool floating = leaf.type->id == TypeId::kFloat || leaf.type->id == TypeId::kDouble;
  if (floating) {
    auto has_nan = get("has_nan");
    if (!has_nan || *has_nan != "false") return;  // NaN present or unknown: no bounds
    file->nan_value_counts[leaf.id] = 0;
  }
  if (leaf.repeated) return;
  auto min = get("min");
  auto max = get("max");
  if (!min || !max) return;
  auto lower = ParseStatValue(*leaf.type, *min);
  auto upper = ParseStatValue(*leaf.type, *max);
  if (!lower || !upper) return;  // a format we do not understand: no bounds is always safe
  Datum lo = *lower, hi = *upper;
  if (truncate_strings) {
    auto tlo = TruncateLowerBound(*leaf.type, lo, kTruncateLength);
    auto thi = TruncateUpperBound(*leaf.type, hi, kTruncateLength);
    if (!tlo) return;
    lo = *tlo;
    if (thi) {
      hi = *thi;
    } else {
      hi = Datum{};
    }
  }
  if (auto enc = iceberg::EncodeBound(*leaf.type, lo)) file->lower_bounds[leaf.id] = *enc;
  if (!iceberg::IsNull(hi)) {
    if (auto enc = iceberg::EncodeBound(*leaf.type, hi)) file->upper_bounds[leaf.id] = *enc;
  }
}

// Runs the COPY and turns its RETURN_STATS rows into DataFiles. `cast_select` must
// produce exactly the schema's columns, named as in the schema.
// With `partition_column`, the select has that extra last column and the COPY splits files
// by it (PARTITION_BY; DuckDB cannot also roll files by size then), and `keys` receives each
// returned file's value of it.
Result<std::vector<DataFile>> CopyToParquet(Connection& con, const std::string& cast_select,
                                            const iceberg::Schema& schema, const std::string& local_dir,
                                            const WriteOptions& options, bool truncate_strings,
                                            const std::string& partition_column = "",
                                            std::vector<std::string>* keys = nullptr) {
  std::error_code ec;
  std::filesystem::create_directories(local_dir, ec);
  if (ec) return MakeError(ErrorKind::kIOError, "cannot create " + local_dir + ": " + ec.message());
  std::string prefix = options.file_prefix.empty() ? NewUuid() : options.file_prefix;
  std::string sql = "COPY (" + cast_select + ") TO " + QuoteLiteral(local_dir) +
                    " (FORMAT parquet, FIELD_IDS " + FieldIds(schema) +
                    ", RETURN_STATS true" +
                    (partition_column.empty()
                         ? ", FILE_SIZE_BYTES " + std::to_string(options.target_file_size_bytes)
                         : ", PARTITION_BY (" + QuoteIdentifier(partition_column) + ")") +
                    ", ROW_GROUP_SIZE " + std::to_string(options.row_group_size) +
                    ", COMPRESSION " + QuoteLiteral(options.compression) +
                    (options.compression_level != 0 && options.compression == "zstd"
                         ? ", COMPRESSION_LEVEL " + std::to_string(options.compression_level)
                         : std::string()) +
                    ", FILENAME_PATTERN " +
                    QuoteLiteral(prefix + "_{i}") + ", OVERWRITE_OR_IGNORE true)";
  FRZ_ASSIGN_OR_RETURN(QueryResult result, con.Query(sql));
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < result.column_count(); ++i) col[result.column_name(i)] = i;
  for (const char* needed : {"filename", "count", "file_size_bytes", "column_statistics"}) {
    if (!col.contains(needed)) {
      return MakeError(ErrorKind::kInternal, std::string("COPY RETURN_STATS lacks column ") + needed);
    }
  }
  std::map<std::string, Leaf> leaves;
  for (const auto& f : schema.fields()) CollectLeaves(f, "", false, &leaves);

  std::vector<DataFile> files;
  while (auto chunk = result.NextChunk()) {
    for (size_t row = 0; row < chunk->size(); ++row) {
      DataFile file;
      file.file_path = std::string(chunk->GetStringView(col["filename"], row));
      file.record_count = chunk->GetInt64(col["count"], row);
      file.file_size_in_bytes = chunk->GetInt64(col["file_size_bytes"], row);
      if (file.record_count == 0) {
        std::filesystem::remove(file.file_path, ec);
        continue;
      }
      for (const auto& [path, stats] : chunk->GetNestedStringMap(col["column_statistics"], row)) {
        auto it = leaves.find(path);
        if (it != leaves.end()) AddColumnMetrics(it->second, stats, truncate_strings, &file);
      }
      if (keys != nullptr) {
        std::string key;
        if (col.contains("partition_keys")) {
          for (const auto& [k, v] : chunk->GetStringMap(col["partition_keys"], row)) {
            if (k == partition_column) key = v;
          }
        }
        if (key.empty()) return MakeError(ErrorKind::kInternal, "COPY PARTITION_BY returned no key for " + file.file_path);
        keys->push_back(key);
      }
      files.push_back(std::move(file));
    }
  }
  return files;
}

// The expression turning a value of `source` into its iceberg_bucket argument.
Result<std::string> BucketArgument(const Type& source, const std::string& x) {
  switch (source.id) {
    case TypeId::kInt:
    case TypeId::kLong: return "CAST(" + x + " AS BIGINT)";
    case TypeId::kDate: return "CAST(" + x + " - DATE '1970-01-01' AS BIGINT)";
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: return "epoch_us(" + x + ")";
    case TypeId::kString: return "encode(" + x + ")";
    case TypeId::kBinary:
    case TypeId::kFixed: return "CAST(" + x + " AS BLOB)";
    case TypeId::kUuid: return "unhex(replace(CAST(" + x + " AS VARCHAR), '-', ''))";
    case TypeId::kDecimal: return "CAST(replace(CAST(" + x + " AS VARCHAR), '.', '') AS HUGEINT)";
    default: return MakeError(ErrorKind::kInvalidArgument, "cannot bucket " + source.ToString());
  }
}

// The value of `x` (of Iceberg type `t`) in canonical form (see PartitionExpression).
std::string Canonical(const Type& t, const std::string& x) {
  switch (t.id) {
    case TypeId::kDate: return "CAST(" + x + " - DATE '1970-01-01' AS INTEGER)";
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: return "epoch_us(" + x + ")";
    case TypeId::kDecimal: return "CAST(replace(CAST(" + x + " AS VARCHAR), '.', '') AS HUGEINT)";
    case TypeId::kBinary:
    case TypeId::kFixed: return "hex(" + x + ")";
    case TypeId::kUuid: return "CAST(" + x + " AS VARCHAR)";
    default: return x;
  }
}

// Days/months/years need the UTC wall clock; epoch_us is zone independent.
std::string AsUtcTimestamp(const Type& t, const std::string& x) {
  if (t.id == TypeId::kTimestampTz) return "make_timestamp(epoch_us(" + x + "))";
  return x;
}

// The SQL path ("a"."b") of every field reachable through structs only.
void StructPaths(const iceberg::NestedField& field, const std::string& prefix, std::map<int, std::string>* out) {
  std::string path = prefix.empty() ? QuoteIdentifier(field.name) : prefix + "." + QuoteIdentifier(field.name);
  (*out)[field.id] = path;
  if (field.type->id == TypeId::kStruct) {
    for (const auto& child : field.type->fields) StructPaths(child, path, out);
  }
}

std::string FloorDiv(const std::string& v, const std::string& w) {
  // DuckDB's % truncates toward zero; subtracting the non-negative remainder first makes the
  // integer division exact, which then equals floor division.
  return "((" + v + " - (((" + v + ") % " + w + " + " + w + ") % " + w + ")) // " + w + ")";
}

// Parses a partition value in canonical text form into a Datum of `t`.
Result<Datum> ParseCanonical(const Type& t, const std::optional<std::string>& text) {
  if (!text) return Datum{};
  auto bad = [&]() {
    return MakeError(ErrorKind::kInternal, "unexpected partition value '" + *text + "' for " + t.ToString());
  };
  switch (t.id) {
    case TypeId::kBoolean: return Datum{*text == "true"};
    case TypeId::kInt:
    case TypeId::kDate: {
      auto v = ToInt64(*text);
      if (!v) return bad();
      return Datum{static_cast<int32_t>(*v)};
    }
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: {
      auto v = ToInt64(*text);
      if (!v) return bad();
      return Datum{*v};
    }
    case TypeId::kFloat: return Datum{std::strtof(text->c_str(), nullptr)};
    case TypeId::kDouble: return Datum{std::strtod(text->c_str(), nullptr)};
    case TypeId::kDecimal: {
      auto v = ParseStatValue(*iceberg::Decimal(38, 0), *text);
      if (!v) return bad();
      return *v;
    }
    case TypeId::kString: return Datum{*text};
    case TypeId::kBinary:
    case TypeId::kFixed:
    case TypeId::kUuid: {
      auto v = ParseStatValue(t, *text);
      if (!v) return bad();
      return *v;
    }
    default: return bad();
  }
}

std::expected<int32_t, std::string> BucketFunction(const ScalarArg& arg, int32_t n) {
  if (n <= 0) return std::unexpected("iceberg_bucket: bucket count must be positive");
  Result<int32_t> hash = 0;
  switch (arg.type) {
    case DUCKDB_TYPE_BIGINT:
      hash = iceberg::BucketHash(*iceberg::Primitive(TypeId::kLong), Datum{arg.i64});
      break;
    case DUCKDB_TYPE_HUGEINT:
      hash = iceberg::BucketHash(*iceberg::Decimal(38, 0), Datum{iceberg::Decimal128{arg.i128}});
      break;
    default:
      hash = iceberg::Murmur3Hash32(arg.bytes);
  }
  if (!hash) return std::unexpected(hash.error().message);
  return static_cast<int32_t>((*hash & 0x7FFFFFFF) % n);
}

}  // namespace

Result<std::string> PartitionExpression(const Type& source, const iceberg::Transform& transform,
                                        const std::string& x) {
  using iceberg::TransformKind;
  if (!transform.CanTransform(source)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "transform " + transform.ToString() + " cannot apply to " + source.ToString());
  }
  const std::string w = std::to_string(transform.param);
  switch (transform.kind) {
    case TransformKind::kIdentity: return Canonical(source, x);
    case TransformKind::kVoid: return std::string("NULL");
    case TransformKind::kBucket: {
      FRZ_ASSIGN_OR_RETURN(std::string arg, BucketArgument(source, x));
      return "iceberg_bucket(" + arg + ", " + w + ")";
    }
    case TransformKind::kTruncate:
      switch (source.id) {
        case TypeId::kInt: return "CAST(" + x + " - ((" + x + " % " + w + " + " + w + ") % " + w + ") AS INTEGER)";
        case TypeId::kLong: return "(" + x + " - ((" + x + " % " + w + " + " + w + ") % " + w + "))";
        case TypeId::kDecimal: {
          std::string u = Canonical(source, x);
          return "(" + u + " - ((" + u + " % " + w + " + " + w + ") % " + w + "))";
        }
        case TypeId::kString: return "substring(" + x + ", 1, " + w + ")";
        case TypeId::kBinary: return "hex(" + x + ")[1:" + std::to_string(2 * transform.param) + "]";
        default: break;
      }
      break;
    case TransformKind::kYear: return "CAST(year(" + AsUtcTimestamp(source, x) + ") - 1970 AS INTEGER)";
    case TransformKind::kMonth: {
      std::string t = AsUtcTimestamp(source, x);
      return "CAST((year(" + t + ") - 1970) * 12 + month(" + t + ") - 1 AS INTEGER)";
    }
    case TransformKind::kDay:
      if (source.id == TypeId::kDate) return Canonical(source, x);
      return "CAST(CAST(" + AsUtcTimestamp(source, x) + " AS DATE) - DATE '1970-01-01' AS INTEGER)";
    case TransformKind::kHour:
      return "CAST(" + FloorDiv("epoch_us(" + x + ")", "3600000000") + " AS INTEGER)";
  }
  return MakeError(ErrorKind::kUnsupported, "transform " + transform.ToString() + " on " + source.ToString());
}

Status RegisterIcebergFunctions(Connection& con) {
  FRZ_ASSIGN_OR_RETURN(QueryResult existing,
                       con.Query("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'iceberg_bucket'"));
  if (existing.GetInt64(0, 0) > 0) return Ok();
  return RegisterBinaryIntFunction(con, "iceberg_bucket", {DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_BLOB, DUCKDB_TYPE_HUGEINT},
                                   BucketFunction);
}

// DuckDB has no fixed-length binary type, so it cannot write the FIXED_LEN_BYTE_ARRAY(L)
// that the spec requires for fixed[L]; a BYTE_ARRAY column would be rejected by PyIceberg.
// Refuse clearly instead of writing a file some readers cannot read.
Status CheckWritable(const iceberg::NestedField& f, const std::string& prefix) {
  std::string name = prefix + f.name;
  if (f.type->id == TypeId::kFixed) {
    return MakeError(ErrorKind::kUnsupported, "column '" + name + "' has type " + f.type->ToString() +
                                                  ": frazil cannot write fixed-length binary yet (DuckDB's Parquet writer has no "
                                                  "FIXED_LEN_BYTE_ARRAY); use binary, or write this table with another engine");
  }
  for (const auto& child : f.type->fields) FRZ_RETURN_IF_ERROR(CheckWritable(child, name + "."));
  return Ok();
}

Status CheckWritable(const iceberg::Schema& schema) {
  for (const auto& f : schema.fields()) FRZ_RETURN_IF_ERROR(CheckWritable(f, ""));
  return Ok();
}

Result<std::vector<DataFile>> WriteParquet(Connection& con, std::string_view select_sql,
                                           const iceberg::Schema& schema, const std::string& local_dir,
                                           const WriteOptions& options) {
  FRZ_RETURN_IF_ERROR(CheckWritable(schema));
  return CopyToParquet(con, CastSelect(select_sql, schema), schema, local_dir, options, true);
}

Result<std::vector<DataFile>> WritePartitioned(Connection& con, std::string_view select_sql,
                                               const iceberg::Schema& schema, const iceberg::PartitionSpec& spec,
                                               const std::string& local_dir, const WriteOptions& options) {
  if (spec.fields.empty()) return WriteParquet(con, select_sql, schema, local_dir, options);
  FRZ_RETURN_IF_ERROR(CheckWritable(schema));
  FRZ_ASSIGN_OR_RETURN(iceberg::TypePtr partition_type, spec.PartitionType(schema));
  std::map<int, std::string> paths;
  for (const auto& f : schema.fields()) StructPaths(f, "", &paths);
  std::string exprs, order;
  bool needs_bucket = false;
  for (size_t i = 0; i < spec.fields.size(); ++i) {
    const auto& pf = spec.fields[i];
    const iceberg::NestedField* source = schema.FindField(pf.source_id);
    auto name = schema.FindName(pf.source_id);
    if (source == nullptr || !name) {
      return MakeError(ErrorKind::kInvalidArgument, "partition source field " + std::to_string(pf.source_id) + " not found");
    }
    auto path = paths.find(pf.source_id);
    if (path == paths.end()) {
      return MakeError(ErrorKind::kUnsupported, "partition source " + *name + " is inside a list or map");
    }
    const std::string& x = path->second;
    if (pf.transform.kind == iceberg::TransformKind::kBucket) needs_bucket = true;
    FRZ_ASSIGN_OR_RETURN(std::string e, PartitionExpression(*source->type, pf.transform, x));
    std::string alias = "\"__p" + std::to_string(i) + "\"";
    exprs += ", " + e + " AS " + alias;
    order += std::string(i > 0 ? ", " : "") + alias + " NULLS FIRST";
  }
  if (needs_bucket) FRZ_RETURN_IF_ERROR(RegisterIcebergFunctions(con));

  std::string table = "__frazil_part_" + NewUuid().substr(0, 8);
  std::string create = "CREATE TEMP TABLE " + table + " AS SELECT *, dense_rank() OVER (ORDER BY " + order +
                       ") AS __pid FROM (SELECT *" + exprs + " FROM (" + CastSelect(select_sql, schema) +
                       ")) ORDER BY __pid";
  FRZ_RETURN_IF_ERROR(con.Execute(create));
  struct Dropper {
    Connection& con;
    std::string table;
    ~Dropper() { (void)con.Execute("DROP TABLE IF EXISTS " + table); }
  } dropper{con, table};

  std::string values = "SELECT __pid, count(*)";
  for (size_t i = 0; i < spec.fields.size(); ++i) values += ", any_value(CAST(\"__p" + std::to_string(i) + "\" AS VARCHAR))";
  FRZ_ASSIGN_OR_RETURN(QueryResult tuples, con.Query(values + " FROM " + table + " GROUP BY __pid ORDER BY __pid"));
  std::string columns;
  for (size_t i = 0; i < schema.fields().size(); ++i) {
    columns += (i > 0 ? ", " : "") + QuoteIdentifier(schema.fields()[i].name);
  }
  // Partitions that may outgrow the target file size get COPYs of their own, which roll
  // files by size; all others go through one COPY ... PARTITION_BY, which is an order of
  // magnitude faster with many partitions but cannot roll. 16 bytes per row is a
  // conservative compressed row size for this estimate.
  const int64_t max_rows_small = std::max<int64_t>(1, options.target_file_size_bytes / 16);
  std::map<int64_t, std::vector<Datum>> partition_of;
  std::vector<int64_t> big;
  for (size_t row = 0; row < tuples.row_count(); ++row) {
    int64_t pid = tuples.GetInt64(0, row);
    std::vector<Datum> partition;
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      FRZ_ASSIGN_OR_RETURN(Datum d, ParseCanonical(*partition_type->fields[i].type, tuples.GetString(i + 2, row)));
      partition.push_back(std::move(d));
    }
    partition_of[pid] = std::move(partition);
    if (tuples.GetInt64(1, row) > max_rows_small) big.push_back(pid);
  }
  // Every file name starts with the caller's prefix so a failed write can be cleaned up.
  const std::string prefix = options.file_prefix.empty() ? NewUuid() : options.file_prefix;
  std::vector<DataFile> all;
  std::string big_list;
  for (int64_t pid : big) {
    big_list += (big_list.empty() ? "" : ", ") + std::to_string(pid);
    WriteOptions per_partition = options;
    per_partition.file_prefix = prefix + "-p" + std::to_string(pid);
    std::string select = "SELECT " + columns + " FROM " + table + " WHERE __pid = " + std::to_string(pid);
    FRZ_ASSIGN_OR_RETURN(auto files, CopyToParquet(con, select, schema, local_dir, per_partition, true));
    for (auto& f : files) {
      f.partition = partition_of[pid];
      all.push_back(std::move(f));
    }
  }
  if (big.size() < partition_of.size()) {
    // One open file per partition (DuckDB's default of 100 would split partitions).
    FRZ_RETURN_IF_ERROR(con.Execute("SET partitioned_write_max_open_files = " +
                                    std::to_string(std::max<size_t>(100, partition_of.size() + 1))));
    WriteOptions small = options;
    small.file_prefix = prefix;
    std::string select = "SELECT " + columns + ", __pid FROM " + table +
                         (big.empty() ? "" : " WHERE __pid NOT IN (" + big_list + ")");
    std::vector<std::string> keys;
    FRZ_ASSIGN_OR_RETURN(auto files, CopyToParquet(con, select, schema, local_dir, small, true, "__pid", &keys));
    for (size_t i = 0; i < files.size(); ++i) {
      int64_t pid = 0;
      try {
        pid = std::stoll(keys[i]);
      } catch (...) {
        return MakeError(ErrorKind::kInternal, "unexpected partition key '" + keys[i] + "'");
      }
      auto it = partition_of.find(pid);
      if (it == partition_of.end()) return MakeError(ErrorKind::kInternal, "unknown partition id " + keys[i]);
      files[i].partition = it->second;
      all.push_back(std::move(files[i]));
    }
  }
  return all;
}

Result<std::vector<DataFile>> WritePositionDeletes(Connection& con, std::string_view rows_sql,
                                                   const std::string& local_dir, const WriteOptions& options) {
  iceberg::Schema schema(0, {iceberg::NestedField{iceberg::kDeleteFilePathFieldId, "file_path", true,
                                                  iceberg::Primitive(TypeId::kString)},
                             iceberg::NestedField{iceberg::kDeletePosFieldId, "pos", true,
                                                  iceberg::Primitive(TypeId::kLong)}});
  std::string select = CastSelect(rows_sql, schema) + " ORDER BY file_path, pos";
  FRZ_ASSIGN_OR_RETURN(auto files, CopyToParquet(con, select, schema, local_dir, options, false));
  for (auto& f : files) f.content = iceberg::FileContent::kPositionDeletes;
  return files;
}

Status PublishFiles(io::FileIO& io, std::string_view dir_location, std::vector<iceberg::DataFile>* files) {
  for (size_t i = 0; i < files->size(); ++i) {
    auto location = io.Publish(dir_location, (*files)[i].file_path);
    if (!location) {
      std::vector<std::string> published;
      for (size_t j = 0; j < i; ++j) published.push_back((*files)[j].file_path);
      (void)io.DeleteMany(published);
      std::error_code ec;
      for (size_t j = i; j < files->size(); ++j) std::filesystem::remove((*files)[j].file_path, ec);
      return std::unexpected(location.error());
    }
    (*files)[i].file_path = std::move(*location);
  }
  return Ok();
}

}  // namespace frazil::engine
