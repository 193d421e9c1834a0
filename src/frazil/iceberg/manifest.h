// Manifests and manifest lists (spec "Manifests", "Manifest Lists"): the in-memory form and
// their Avro object-container encoding with every Iceberg field id and header key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/iceberg/datum.h"
#include "frazil/iceberg/partition_spec.h"
#include "frazil/iceberg/schema.h"

namespace frazil::iceberg {

enum class FileContent { kData = 0, kPositionDeletes = 1, kEqualityDeletes = 2 };
enum class ManifestContent { kData = 0, kDeletes = 1 };
enum class EntryStatus { kExisting = 0, kAdded = 1, kDeleted = 2 };

// Reserved field ids of position delete files.
inline constexpr int kDeleteFilePathFieldId = 2147483546;
inline constexpr int kDeletePosFieldId = 2147483545;

struct DataFile {
  FileContent content = FileContent::kData;
  std::string file_path;
  std::string file_format = "PARQUET";
  std::vector<Datum> partition;  // one value per field of the manifest's spec, in order
  int64_t record_count = 0;
  int64_t file_size_in_bytes = 0;
  std::map<int, int64_t> column_sizes;
  std::map<int, int64_t> value_counts;
  std::map<int, int64_t> null_value_counts;
  std::map<int, int64_t> nan_value_counts;
  std::map<int, std::string> lower_bounds;  // single-value binary encoding (EncodeBound)
  std::map<int, std::string> upper_bounds;
  std::optional<std::string> key_metadata;
  std::vector<int64_t> split_offsets;
  std::vector<int> equality_ids;
  std::optional<int> sort_order_id;
  std::optional<std::string> referenced_data_file;
  // v3
  std::optional<int64_t> first_row_id;
  std::optional<int64_t> content_offset;
  std::optional<int64_t> content_size_in_bytes;
};

struct ManifestEntry {
  EntryStatus status = EntryStatus::kAdded;
  std::optional<int64_t> snapshot_id;           // null = inherit from the manifest list
  std::optional<int64_t> sequence_number;       // data sequence number; null = inherit
  std::optional<int64_t> file_sequence_number;  // null = inherit
  DataFile data_file;
};

struct PartitionFieldSummary {
  bool contains_null = false;
  std::optional<bool> contains_nan;
  std::optional<std::string> lower_bound;  // EncodeBound of the partition field's type
  std::optional<std::string> upper_bound;
};

struct ManifestFile {
  std::string manifest_path;
  int64_t manifest_length = 0;
  int partition_spec_id = 0;
  ManifestContent content = ManifestContent::kData;
  int64_t sequence_number = 0;
  int64_t min_sequence_number = 0;
  int64_t added_snapshot_id = 0;
  int added_files_count = 0;
  int existing_files_count = 0;
  int deleted_files_count = 0;
  int64_t added_rows_count = 0;
  int64_t existing_rows_count = 0;
  int64_t deleted_rows_count = 0;
  std::vector<PartitionFieldSummary> partitions;
  std::optional<std::string> key_metadata;
  std::optional<int64_t> first_row_id;  // v3
};

// What a manifest's Avro header says and what its entries need to be encoded/decoded.
struct ManifestContext {
  int format_version = 2;
  Schema schema;        // the table schema, written to the "schema" header key
  PartitionSpec spec;   // written to "partition-spec" / "partition-spec-id"
  ManifestContent content = ManifestContent::kData;
};

// Encodes a manifest as an Avro object container file (deflate codec) with header keys
// schema, schema-id, partition-spec, partition-spec-id, format-version, content.
// Errors: InvalidArgument if an entry's partition tuple does not match the spec.
Result<std::string> WriteManifest(const ManifestContext& ctx, const std::vector<ManifestEntry>& entries);

// Decodes a manifest written by frazil, Java, PyIceberg, Spark or Trino (null, deflate or
// snappy codec; fields resolved by field id / name, unknown fields skipped). The partition
// tuple is decoded with `spec` over `schema` (the caller looks up the spec by the manifest
// list's partition_spec_id). Inherited values are NOT filled in here; see
// InheritManifestValues. Errors: Corrupt naming what is wrong.
Result<std::vector<ManifestEntry>> ReadManifest(std::string_view bytes, const Schema& schema,
                                                const PartitionSpec& spec);

// Fills null snapshot_id / sequence_number / file_sequence_number of ADDED entries from the
// manifest list entry (spec "Sequence Number Inheritance").
void InheritManifestValues(const ManifestFile& manifest, std::vector<ManifestEntry>* entries);

// Manifest list Avro file with header keys snapshot-id, parent-snapshot-id ("null" if none),
// sequence-number, format-version.
Result<std::string> WriteManifestList(int format_version, int64_t snapshot_id,
                                      std::optional<int64_t> parent_snapshot_id,
                                      int64_t sequence_number,
                                      const std::vector<ManifestFile>& manifests);
Result<std::vector<ManifestFile>> ReadManifestList(std::string_view bytes);

// Computes a manifest-list partitions summary from entries (bounds encoded with the
// partition type's field types).
Result<std::vector<PartitionFieldSummary>> SummarizePartitions(
    const PartitionSpec& spec, const Schema& schema, const std::vector<ManifestEntry>& entries);

}  // namespace frazil::iceberg
