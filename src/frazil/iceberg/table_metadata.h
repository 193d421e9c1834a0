// Table metadata (spec "Table Metadata"): the content of a `*.metadata.json` file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "frazil/base/result.h"
#include "frazil/iceberg/partition_spec.h"
#include "frazil/iceberg/schema.h"

namespace frazil::iceberg {

struct Snapshot {
  int64_t snapshot_id = 0;
  std::optional<int64_t> parent_snapshot_id;
  int64_t sequence_number = 0;
  int64_t timestamp_ms = 0;
  std::string manifest_list;
  // summary["operation"] is the operation (append, replace, overwrite, delete); all other
  // keys are kept exactly as written, including foreign ones (frazil.lsn, flink.*).
  std::map<std::string, std::string> summary;
  std::optional<int> schema_id;
  std::optional<int64_t> first_row_id;  // v3
  std::optional<int64_t> added_rows;    // v3

  std::string operation() const;
};

struct SnapshotRef {
  int64_t snapshot_id = 0;
  bool is_branch = true;  // "branch" or "tag"
  std::optional<int> min_snapshots_to_keep;
  std::optional<int64_t> max_snapshot_age_ms;
  std::optional<int64_t> max_ref_age_ms;
  bool operator==(const SnapshotRef&) const = default;
};

struct SnapshotLogEntry {
  int64_t timestamp_ms = 0;
  int64_t snapshot_id = 0;
};

struct MetadataLogEntry {
  int64_t timestamp_ms = 0;
  std::string metadata_file;
};

inline constexpr const char* kMainBranch = "main";

// Keys that describe the table itself (format-version, uuid, snapshot-count,
// current-snapshot-*, current-schema, default-partition-spec, default-sort-order); they are
// derived from the metadata and never stored in `properties`.
bool IsReservedTableProperty(std::string_view key);

struct TableMetadata {
  int format_version = 2;
  std::string table_uuid;
  std::string location;
  int64_t last_sequence_number = 0;
  int64_t last_updated_ms = 0;
  int last_column_id = 0;
  std::vector<Schema> schemas;
  int current_schema_id = 0;
  std::vector<PartitionSpec> partition_specs;
  int default_spec_id = 0;
  int last_partition_id = kFirstPartitionFieldId - 1;
  std::map<std::string, std::string> properties;
  std::optional<int64_t> current_snapshot_id;  // written as null when absent; -1 read as absent
  std::vector<Snapshot> snapshots;
  std::vector<SnapshotLogEntry> snapshot_log;
  std::vector<MetadataLogEntry> metadata_log;
  std::vector<SortOrder> sort_orders;
  int default_sort_order_id = 0;
  std::map<std::string, SnapshotRef> refs;
  // statistics / partition-statistics entries, kept as their JSON objects (each has a
  // "snapshot-id"); frazil does not interpret them beyond that.
  std::vector<nlohmann::json> statistics;
  std::vector<nlohmann::json> partition_statistics;
  std::optional<int64_t> next_row_id;  // v3

  // Lookups; nullptr if absent.
  const Schema* current_schema() const;
  // An id no schema of the table uses yet.
  int NextSchemaId() const;
  const Schema* schema_by_id(int id) const;
  const PartitionSpec* default_spec() const;
  const PartitionSpec* spec_by_id(int id) const;
  const Snapshot* current_snapshot() const;
  const Snapshot* snapshot_by_id(int64_t id) const;
  // The snapshot a branch or tag points at; nullptr if the ref or snapshot is missing.
  const Snapshot* snapshot_for_ref(const std::string& ref) const;
  // The snapshot that was current at `timestamp_ms` (latest snapshot-log entry at or
  // before it); nullptr if the table had none then.
  const Snapshot* snapshot_as_of(int64_t timestamp_ms) const;
  // Walks the parent chain from a snapshot (inclusive), newest first.
  std::vector<const Snapshot*> Ancestors(int64_t snapshot_id) const;
  std::string Property(const std::string& key, const std::string& fallback) const;
  int64_t PropertyInt(const std::string& key, int64_t fallback) const;
};

// Metadata JSON (spec "Table Metadata Fields"). ToJson writes every required field plus
// properties, current-snapshot-id (null if none), snapshots, snapshot-log, metadata-log,
// refs, statistics and partition-statistics. FromJson accepts what Java, PyIceberg, Spark
// and Trino write (v1 and v2; v1 `schema`/`partition-spec` are upgraded in memory).
// Errors: Corrupt naming the missing or malformed field.
nlohmann::json TableMetadataToJson(const TableMetadata& metadata);
std::string TableMetadataToJsonString(const TableMetadata& metadata);
Result<TableMetadata> TableMetadataFromJson(const nlohmann::json& json);
Result<TableMetadata> TableMetadataFromJsonString(std::string_view text);

// JSON forms of the pieces (shared with the REST API).
nlohmann::json TypeToJson(const Type& type);
Result<TypePtr> TypeFromJson(const nlohmann::json& json);
nlohmann::json SchemaToJson(const Schema& schema);
Result<Schema> SchemaFromJson(const nlohmann::json& json);
nlohmann::json PartitionSpecToJson(const PartitionSpec& spec);
Result<PartitionSpec> PartitionSpecFromJson(const nlohmann::json& json);
nlohmann::json SortOrderToJson(const SortOrder& order);
Result<SortOrder> SortOrderFromJson(const nlohmann::json& json);
nlohmann::json SnapshotToJson(const Snapshot& snapshot);
Result<Snapshot> SnapshotFromJson(const nlohmann::json& json);
nlohmann::json SnapshotRefToJson(const SnapshotRef& ref);
Result<SnapshotRef> SnapshotRefFromJson(const nlohmann::json& json);

}  // namespace frazil::iceberg
