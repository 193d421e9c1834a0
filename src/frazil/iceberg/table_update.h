// Commit requirements and metadata updates (spec REST "CommitTableRequest"), applied by the
// same code for frazil's own writers and for the REST catalog server.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "frazil/base/result.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::iceberg {

namespace req {
struct AssertCreate {};
struct AssertTableUuid { std::string uuid; };
struct AssertRefSnapshotId { std::string ref; std::optional<int64_t> snapshot_id; };
struct AssertLastAssignedFieldId { int last_assigned_field_id; };
struct AssertCurrentSchemaId { int current_schema_id; };
struct AssertLastAssignedPartitionId { int last_assigned_partition_id; };
struct AssertDefaultSpecId { int default_spec_id; };
struct AssertDefaultSortOrderId { int default_sort_order_id; };
}  // namespace req

using TableRequirement =
    std::variant<req::AssertCreate, req::AssertTableUuid, req::AssertRefSnapshotId,
                 req::AssertLastAssignedFieldId, req::AssertCurrentSchemaId,
                 req::AssertLastAssignedPartitionId, req::AssertDefaultSpecId,
                 req::AssertDefaultSortOrderId>;

namespace upd {
struct AssignUuid { std::string uuid; };
struct UpgradeFormatVersion { int format_version; };
struct AddSchema { Schema schema; std::optional<int> last_column_id; };
struct SetCurrentSchema { int schema_id; };  // -1 = the last added schema
struct AddSpec { PartitionSpec spec; };
struct SetDefaultSpec { int spec_id; };      // -1 = the last added spec
struct AddSortOrder { SortOrder sort_order; };
struct SetDefaultSortOrder { int sort_order_id; };  // -1 = the last added
struct AddSnapshot { Snapshot snapshot; };
struct SetSnapshotRef { std::string ref_name; SnapshotRef ref; };
struct RemoveSnapshots { std::vector<int64_t> snapshot_ids; };
struct RemoveSnapshotRef { std::string ref_name; };
struct SetLocation { std::string location; };
struct SetProperties { std::map<std::string, std::string> updates; };
struct RemoveProperties { std::vector<std::string> removals; };
struct SetStatistics { nlohmann::json statistics; };  // has "snapshot-id"
struct RemoveStatistics { int64_t snapshot_id; };
struct SetPartitionStatistics { nlohmann::json partition_statistics; };
struct RemovePartitionStatistics { int64_t snapshot_id; };
struct RemovePartitionSpecs { std::vector<int> spec_ids; };
struct RemoveSchemas { std::vector<int> schema_ids; };
}  // namespace upd

using TableUpdate =
    std::variant<upd::AssignUuid, upd::UpgradeFormatVersion, upd::AddSchema,
                 upd::SetCurrentSchema, upd::AddSpec, upd::SetDefaultSpec, upd::AddSortOrder,
                 upd::SetDefaultSortOrder, upd::AddSnapshot, upd::SetSnapshotRef,
                 upd::RemoveSnapshots, upd::RemoveSnapshotRef, upd::SetLocation,
                 upd::SetProperties, upd::RemoveProperties, upd::SetStatistics,
                 upd::RemoveStatistics, upd::SetPartitionStatistics,
                 upd::RemovePartitionStatistics, upd::RemovePartitionSpecs, upd::RemoveSchemas>;

// Checks requirements against the current metadata (nullptr = table does not exist).
// Errors: CommitFailed naming the requirement and the actual value.
Status CheckRequirements(const TableMetadata* current, const std::vector<TableRequirement>& reqs);

// Applies updates to `base` (nullptr = new table: the updates must create it, as REST
// create / assert-create commits do) and returns the new metadata, stamped with
// last-updated-ms = now_ms. Appends to snapshot-log when `main` moves. Does not touch
// metadata-log (the catalog does that when it writes the file).
// Errors: InvalidArgument for an invalid update (unknown schema id, sequence number not
// above last-sequence-number -> CommitFailed, ...).
Result<TableMetadata> ApplyUpdates(const TableMetadata* base, const std::vector<TableUpdate>& updates,
                                   int64_t now_ms);

// Metadata for a new table: assigns fresh field ids (1..n depth first) when `fresh_ids`,
// partition field ids from 1000, default sort order 0, main unset.
Result<TableMetadata> NewTableMetadata(const Schema& schema, const PartitionSpec& spec,
                                       const SortOrder& order, const std::string& location,
                                       const std::map<std::string, std::string>& properties,
                                       int format_version, int64_t now_ms);

// JSON forms as in the REST spec ({"type":"assert-ref-snapshot-id",...},
// {"action":"add-snapshot",...}). Errors: InvalidArgument for an unknown type/action or a
// malformed field, naming it.
nlohmann::json RequirementToJson(const TableRequirement& r);
Result<TableRequirement> RequirementFromJson(const nlohmann::json& j);
nlohmann::json UpdateToJson(const TableUpdate& u);
Result<TableUpdate> UpdateFromJson(const nlohmann::json& j);

}  // namespace frazil::iceberg
