// JSON forms of commit requirements and metadata updates, as in the REST catalog spec
// (TableRequirement and TableUpdate schemas of rest-catalog-open-api.yaml). Request bodies
// come from clients, so every error here is InvalidArgument (HTTP 400) naming the field.
#include <exception>

#include "frazil/iceberg/json_fields.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::iceberg {

using nlohmann::json;
namespace jf = json_fields;

namespace {

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};

std::optional<int64_t> OptionalSnapshotId(const json& j) {
  if (!j.is_number_integer()) return std::nullopt;
  return j.get<int64_t>();
}

Result<TableRequirement> ParseRequirement(const json& j) {
  FRZ_ASSIGN_OR_RETURN(std::string type, jf::GetString(j, "", "type"));
  if (type == "assert-create") return req::AssertCreate{};
  if (type == "assert-table-uuid") {
    FRZ_ASSIGN_OR_RETURN(std::string uuid, jf::GetString(j, "", "uuid"));
    return req::AssertTableUuid{std::move(uuid)};
  }
  if (type == "assert-ref-snapshot-id") {
    req::AssertRefSnapshotId r;
    FRZ_ASSIGN_OR_RETURN(r.ref, jf::GetString(j, "", "ref"));
    // null (or absent) = the ref must not exist.
    FRZ_ASSIGN_OR_RETURN(r.snapshot_id, jf::GetOptionalInt64(j, "", "snapshot-id"));
    return r;
  }
  if (type == "assert-last-assigned-field-id") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "last-assigned-field-id"));
    return req::AssertLastAssignedFieldId{id};
  }
  if (type == "assert-current-schema-id") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "current-schema-id"));
    return req::AssertCurrentSchemaId{id};
  }
  if (type == "assert-last-assigned-partition-id") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "last-assigned-partition-id"));
    return req::AssertLastAssignedPartitionId{id};
  }
  if (type == "assert-default-spec-id") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "default-spec-id"));
    return req::AssertDefaultSpecId{id};
  }
  if (type == "assert-default-sort-order-id") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "default-sort-order-id"));
    return req::AssertDefaultSortOrderId{id};
  }
  return MakeError(ErrorKind::kInvalidArgument, "unknown requirement type '" + type + "'");
}

Result<std::vector<int64_t>> LongList(const json& j, const char* key) {
  FRZ_ASSIGN_OR_RETURN(const json* list, jf::Require(j, "", key));
  FRZ_RETURN_IF_ERROR(jf::ExpectArray(*list, key));
  std::vector<int64_t> out;
  for (size_t i = 0; i < list->size(); ++i) {
    FRZ_ASSIGN_OR_RETURN(int64_t v, jf::AsInt64((*list)[i], jf::At(key, i)));
    out.push_back(v);
  }
  return out;
}

Result<std::vector<int>> IntList(const json& j, const char* key) {
  FRZ_ASSIGN_OR_RETURN(const json* list, jf::Require(j, "", key));
  FRZ_RETURN_IF_ERROR(jf::ExpectArray(*list, key));
  std::vector<int> out;
  for (size_t i = 0; i < list->size(); ++i) {
    FRZ_ASSIGN_OR_RETURN(int v, jf::AsInt((*list)[i], jf::At(key, i)));
    out.push_back(v);
  }
  return out;
}

Result<upd::SetSnapshotRef> ParseSetSnapshotRef(const json& j) {
  upd::SetSnapshotRef u;
  FRZ_ASSIGN_OR_RETURN(u.ref_name, jf::GetString(j, "", "ref-name"));
  FRZ_ASSIGN_OR_RETURN(u.ref.snapshot_id, jf::GetInt64(j, "", "snapshot-id"));
  FRZ_ASSIGN_OR_RETURN(std::string type, jf::GetString(j, "", "type"));
  if (type != "branch" && type != "tag") {
    return jf::Malformed("type", "expected \"branch\" or \"tag\", got \"" + type + "\"");
  }
  u.ref.is_branch = type == "branch";
  FRZ_ASSIGN_OR_RETURN(u.ref.min_snapshots_to_keep,
                       jf::GetOptionalInt(j, "", "min-snapshots-to-keep"));
  FRZ_ASSIGN_OR_RETURN(u.ref.max_snapshot_age_ms,
                       jf::GetOptionalInt64(j, "", "max-snapshot-age-ms"));
  FRZ_ASSIGN_OR_RETURN(u.ref.max_ref_age_ms, jf::GetOptionalInt64(j, "", "max-ref-age-ms"));
  return u;
}

Result<TableUpdate> ParseUpdate(const json& j) {
  FRZ_ASSIGN_OR_RETURN(std::string action, jf::GetString(j, "", "action"));
  if (action == "assign-uuid") {
    FRZ_ASSIGN_OR_RETURN(std::string uuid, jf::GetString(j, "", "uuid"));
    return upd::AssignUuid{std::move(uuid)};
  }
  if (action == "upgrade-format-version") {
    FRZ_ASSIGN_OR_RETURN(int v, jf::GetInt(j, "", "format-version"));
    return upd::UpgradeFormatVersion{v};
  }
  if (action == "add-schema") {
    FRZ_ASSIGN_OR_RETURN(const json* schema, jf::Require(j, "", "schema"));
    FRZ_ASSIGN_OR_RETURN(Schema s, SchemaFromJson(*schema));
    FRZ_ASSIGN_OR_RETURN(std::optional<int> last, jf::GetOptionalInt(j, "", "last-column-id"));
    return upd::AddSchema{std::move(s), last};
  }
  if (action == "set-current-schema") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "schema-id"));
    return upd::SetCurrentSchema{id};
  }
  if (action == "add-spec") {
    FRZ_ASSIGN_OR_RETURN(const json* spec, jf::Require(j, "", "spec"));
    FRZ_ASSIGN_OR_RETURN(PartitionSpec s, PartitionSpecFromJson(*spec));
    return upd::AddSpec{std::move(s)};
  }
  if (action == "set-default-spec") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "spec-id"));
    return upd::SetDefaultSpec{id};
  }
  if (action == "add-sort-order") {
    FRZ_ASSIGN_OR_RETURN(const json* order, jf::Require(j, "", "sort-order"));
    FRZ_ASSIGN_OR_RETURN(SortOrder o, SortOrderFromJson(*order));
    return upd::AddSortOrder{std::move(o)};
  }
  if (action == "set-default-sort-order") {
    FRZ_ASSIGN_OR_RETURN(int id, jf::GetInt(j, "", "sort-order-id"));
    return upd::SetDefaultSortOrder{id};
  }
  if (action == "add-snapshot") {
    FRZ_ASSIGN_OR_RETURN(const json* snapshot, jf::Require(j, "", "snapshot"));
    FRZ_ASSIGN_OR_RETURN(Snapshot s, SnapshotFromJson(*snapshot));
    return upd::AddSnapshot{std::move(s)};
  }
  if (action == "set-snapshot-ref") {
    FRZ_ASSIGN_OR_RETURN(upd::SetSnapshotRef u, ParseSetSnapshotRef(j));
    return u;
  }
  if (action == "remove-snapshots") {
    FRZ_ASSIGN_OR_RETURN(std::vector<int64_t> ids, LongList(j, "snapshot-ids"));
    return upd::RemoveSnapshots{std::move(ids)};
  }
  if (action == "remove-snapshot-ref") {
    FRZ_ASSIGN_OR_RETURN(std::string name, jf::GetString(j, "", "ref-name"));
    return upd::RemoveSnapshotRef{std::move(name)};
  }
  if (action == "set-location") {
    FRZ_ASSIGN_OR_RETURN(std::string location, jf::GetString(j, "", "location"));
    return upd::SetLocation{std::move(location)};
  }
  if (action == "set-properties") {
    FRZ_ASSIGN_OR_RETURN(const json* updates, jf::Require(j, "", "updates"));
    FRZ_RETURN_IF_ERROR(jf::ExpectObject(*updates, "updates"));
    upd::SetProperties u;
    for (const auto& [key, value] : updates->items()) {
      FRZ_ASSIGN_OR_RETURN(u.updates[key], jf::AsString(value, jf::Join("updates", key)));
    }
    return u;
  }
  if (action == "remove-properties") {
    FRZ_ASSIGN_OR_RETURN(const json* removals, jf::Require(j, "", "removals"));
    FRZ_RETURN_IF_ERROR(jf::ExpectArray(*removals, "removals"));
    upd::RemoveProperties u;
    for (size_t i = 0; i < removals->size(); ++i) {
      FRZ_ASSIGN_OR_RETURN(std::string key, jf::AsString((*removals)[i], jf::At("removals", i)));
      u.removals.push_back(std::move(key));
    }
    return u;
  }
  if (action == "set-statistics") {
    FRZ_ASSIGN_OR_RETURN(const json* stats, jf::Require(j, "", "statistics"));
    FRZ_RETURN_IF_ERROR(jf::GetInt64(*stats, "statistics", "snapshot-id"));
    return upd::SetStatistics{*stats};
  }
  if (action == "remove-statistics") {
    FRZ_ASSIGN_OR_RETURN(int64_t id, jf::GetInt64(j, "", "snapshot-id"));
    return upd::RemoveStatistics{id};
  }
  if (action == "set-partition-statistics") {
    FRZ_ASSIGN_OR_RETURN(const json* stats, jf::Require(j, "", "partition-statistics"));
    FRZ_RETURN_IF_ERROR(jf::GetInt64(*stats, "partition-statistics", "snapshot-id"));
    return upd::SetPartitionStatistics{*stats};
  }
  if (action == "remove-partition-statistics") {
    FRZ_ASSIGN_OR_RETURN(int64_t id, jf::GetInt64(j, "", "snapshot-id"));
    return upd::RemovePartitionStatistics{id};
  }
  if (action == "remove-partition-specs") {
    FRZ_ASSIGN_OR_RETURN(std::vector<int> ids, IntList(j, "spec-ids"));
    return upd::RemovePartitionSpecs{std::move(ids)};
  }
  if (action == "remove-schemas") {
    FRZ_ASSIGN_OR_RETURN(std::vector<int> ids, IntList(j, "schema-ids"));
    return upd::RemoveSchemas{std::move(ids)};
  }
  return MakeError(ErrorKind::kInvalidArgument, "unknown update action '" + action + "'");
}

template <typename T, typename F>
Result<T> GuardedRequest(F&& parse) {
  try {
    auto result = parse();
    if (!result) return std::unexpected(jf::AsInvalidArgument(std::move(result).error()));
    return result;
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kInvalidArgument, std::string("malformed request: ") + e.what());
  }
}

}  // namespace

json RequirementToJson(const TableRequirement& r) {
  return std::visit(
      Overloaded{
          [](const req::AssertCreate&) -> json { return {{"type", "assert-create"}}; },
          [](const req::AssertTableUuid& x) -> json {
            return {{"type", "assert-table-uuid"}, {"uuid", x.uuid}};
          },
          [](const req::AssertRefSnapshotId& x) -> json {
            return {{"type", "assert-ref-snapshot-id"},
                    {"ref", x.ref},
                    {"snapshot-id", x.snapshot_id ? json(*x.snapshot_id) : json()}};
          },
          [](const req::AssertLastAssignedFieldId& x) -> json {
            return {{"type", "assert-last-assigned-field-id"},
                    {"last-assigned-field-id", x.last_assigned_field_id}};
          },
          [](const req::AssertCurrentSchemaId& x) -> json {
            return {{"type", "assert-current-schema-id"},
                    {"current-schema-id", x.current_schema_id}};
          },
          [](const req::AssertLastAssignedPartitionId& x) -> json {
            return {{"type", "assert-last-assigned-partition-id"},
                    {"last-assigned-partition-id", x.last_assigned_partition_id}};
          },
          [](const req::AssertDefaultSpecId& x) -> json {
            return {{"type", "assert-default-spec-id"}, {"default-spec-id", x.default_spec_id}};
          },
          [](const req::AssertDefaultSortOrderId& x) -> json {
            return {{"type", "assert-default-sort-order-id"},
                    {"default-sort-order-id", x.default_sort_order_id}};
          },
      },
      r);
}

Result<TableRequirement> RequirementFromJson(const json& j) {
  return GuardedRequest<TableRequirement>([&] { return ParseRequirement(j); });
}

json UpdateToJson(const TableUpdate& u) {
  return std::visit(
      Overloaded{
          [](const upd::AssignUuid& x) -> json {
            return {{"action", "assign-uuid"}, {"uuid", x.uuid}};
          },
          [](const upd::UpgradeFormatVersion& x) -> json {
            return {{"action", "upgrade-format-version"}, {"format-version", x.format_version}};
          },
          [](const upd::AddSchema& x) -> json {
            json j = {{"action", "add-schema"}, {"schema", SchemaToJson(x.schema)}};
            if (x.last_column_id) j["last-column-id"] = *x.last_column_id;
            return j;
          },
          [](const upd::SetCurrentSchema& x) -> json {
            return {{"action", "set-current-schema"}, {"schema-id", x.schema_id}};
          },
          [](const upd::AddSpec& x) -> json {
            return {{"action", "add-spec"}, {"spec", PartitionSpecToJson(x.spec)}};
          },
          [](const upd::SetDefaultSpec& x) -> json {
            return {{"action", "set-default-spec"}, {"spec-id", x.spec_id}};
          },
          [](const upd::AddSortOrder& x) -> json {
            return {{"action", "add-sort-order"}, {"sort-order", SortOrderToJson(x.sort_order)}};
          },
          [](const upd::SetDefaultSortOrder& x) -> json {
            return {{"action", "set-default-sort-order"}, {"sort-order-id", x.sort_order_id}};
          },
          [](const upd::AddSnapshot& x) -> json {
            return {{"action", "add-snapshot"}, {"snapshot", SnapshotToJson(x.snapshot)}};
          },
          [](const upd::SetSnapshotRef& x) -> json {
            json j = SnapshotRefToJson(x.ref);
            j["action"] = "set-snapshot-ref";
            j["ref-name"] = x.ref_name;
            return j;
          },
          [](const upd::RemoveSnapshots& x) -> json {
            return {{"action", "remove-snapshots"}, {"snapshot-ids", x.snapshot_ids}};
          },
          [](const upd::RemoveSnapshotRef& x) -> json {
            return {{"action", "remove-snapshot-ref"}, {"ref-name", x.ref_name}};
          },
          [](const upd::SetLocation& x) -> json {
            return {{"action", "set-location"}, {"location", x.location}};
          },
          [](const upd::SetProperties& x) -> json {
            return {{"action", "set-properties"}, {"updates", x.updates}};
          },
          [](const upd::RemoveProperties& x) -> json {
            return {{"action", "remove-properties"}, {"removals", x.removals}};
          },
          [](const upd::SetStatistics& x) -> json {
            // snapshot-id at the top level is deprecated but older servers require it.
            json j = {{"action", "set-statistics"}, {"statistics", x.statistics}};
            if (auto id = OptionalSnapshotId(x.statistics.value("snapshot-id", json()))) {
              j["snapshot-id"] = *id;
            }
            return j;
          },
          [](const upd::RemoveStatistics& x) -> json {
            return {{"action", "remove-statistics"}, {"snapshot-id", x.snapshot_id}};
          },
          [](const upd::SetPartitionStatistics& x) -> json {
            return {{"action", "set-partition-statistics"},
                    {"partition-statistics", x.partition_statistics}};
          },
          [](const upd::RemovePartitionStatistics& x) -> json {
            return {{"action", "remove-partition-statistics"}, {"snapshot-id", x.snapshot_id}};
          },
          [](const upd::RemovePartitionSpecs& x) -> json {
            return {{"action", "remove-partition-specs"}, {"spec-ids", x.spec_ids}};
          },
          [](const upd::RemoveSchemas& x) -> json {
            return {{"action", "remove-schemas"}, {"schema-ids", x.schema_ids}};
          },
      },
      u);
}

Result<TableUpdate> UpdateFromJson(const json& j) {
  return GuardedRequest<TableUpdate>([&] { return ParseUpdate(j); });
}

}  // namespace frazil::iceberg
