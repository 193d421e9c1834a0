// Writes Iceberg data and position-delete files as Parquet through DuckDB's COPY, with
// every column's Iceberg field id and the per-column metrics of the manifest entry
// (docs/engine.md, "Parquet layout").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/engine/duckdb.h"
#include "frazil/io/file_io.h"
#include "frazil/iceberg/manifest.h"
#include "frazil/iceberg/partition_spec.h"
#include "frazil/iceberg/schema.h"

namespace frazil::engine {

struct WriteOptions {
  int64_t target_file_size_bytes = int64_t{512} << 20;  // DuckDB rolls to a new file beyond this
  std::string compression = "zstd";                     // snappy, zstd, gzip, uncompressed
  int compression_level = 0;                            // zstd level 1..22; 0 = DuckDB's default
  int64_t row_group_size = 122880;                      // rows per row group
  // Files are named <file_prefix>_<i>.parquet (partitioned: <file_prefix>-p<n>_<i>.parquet);
  // empty = a fresh random UUID per call (per partition for partitioned writes), so names
  // never collide. Every file a call writes starts with a given prefix, which lets a
  // caller remove the files of a write that failed half-way.
  std::string file_prefix;
};

// Writes the rows of `select_sql` (a DuckDB query whose columns are the schema's top-level
// fields in order, matched by position and cast to the Iceberg types) into Parquet files
// under the local directory `local_dir` (created if missing), at least one file if there
// are rows and none if there are none. Returns one DataFile per file: file_path is the
// local path; record_count, file_size_in_bytes, and for every leaf column (keyed by its
// field id) column_sizes, value_counts, null_value_counts, nan_value_counts (float/double
// without NaN only: DuckDB reports whether, not how many) and lower/upper bounds (not for
// list/map children; strings and binary truncated to 16 characters/bytes).
// Errors: the DuckDB error (InvalidArgument for a query/cast problem, IOError).
Result<std::vector<iceberg::DataFile>> WriteParquet(Connection& con, std::string_view select_sql,
                                                    const iceberg::Schema& schema, const std::string& local_dir,
                                                    const WriteOptions& options = {});

// As WriteParquet, split by `spec`: partition values are computed in SQL (bucket through
// the iceberg_bucket function, registered on `con` when needed), each distinct partition
// tuple is written to its own file(s), and DataFile::partition holds the tuple as Datums
// of the transforms' result types. Errors: as WriteParquet; InvalidArgument if the spec
// does not fit the schema; Unsupported for a partition source inside a list or map.
Result<std::vector<iceberg::DataFile>> WritePartitioned(Connection& con, std::string_view select_sql,
                                                        const iceberg::Schema& schema,
                                                        const iceberg::PartitionSpec& spec,
                                                        const std::string& local_dir,
                                                        const WriteOptions& options = {});

// Writes a position delete file (content = kPositionDeletes) from `rows_sql`, a query of
// two columns (data file path as Iceberg knows it, 0-based row position), sorted by
// (file_path, pos), with field ids 2147483546 / 2147483545 and untruncated file_path
// bounds (so a reader can tell which data files it touches). Returns no file if the
// query has no rows.
Result<std::vector<iceberg::DataFile>> WritePositionDeletes(Connection& con, std::string_view rows_sql,
                                                            const std::string& local_dir,
                                                            const WriteOptions& options = {});

// Moves the files a Write* call produced in `io.WriteDir(dir_location)` to their locations
// under `dir_location` (io.Publish: nothing moves for local storage, an upload for S3) and
// sets each file_path to its location. On error, files already published are deleted and
// those still staged are removed, so nothing is left behind.
Status PublishFiles(io::FileIO& io, std::string_view dir_location, std::vector<iceberg::DataFile>* files);

// Registers the scalar function iceberg_bucket(value, n) -> INTEGER on `con`, the
// Iceberg bucket transform of a value given in its hash form: BIGINT (int, long, date as
// days, time/timestamp as microseconds), BLOB (UTF-8 of strings, binary, fixed, the 16
// big-endian bytes of a uuid) or HUGEINT (unscaled decimal). Idempotent per database.
// Errors: Internal if DuckDB refuses the registration.
Status RegisterIcebergFunctions(Connection& con);

// The SQL expression of a partition transform over `source_sql` (an expression of the
// source column's DuckDB type), in the "canonical" form: int/date -> INTEGER (days),
// long/time/timestamp(tz) -> BIGINT (microseconds), decimal -> HUGEINT unscaled, binary
// and fixed -> hex VARCHAR, uuid -> VARCHAR, others as themselves. Exposed for tests.
Result<std::string> PartitionExpression(const iceberg::Type& source, const iceberg::Transform& transform,
                                        const std::string& source_sql);

}  // namespace frazil::engine
