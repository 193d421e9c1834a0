// JSON forms of table metadata and its pieces (spec "Table Metadata Fields" and appendix C,
// "JSON serialization"). Readers are lenient where real writers differ (v1 fields, -1 for
// "no snapshot", missing optional lists) and strict about types: a malformed file is Corrupt
// and the message names the field's path.
#include <exception>

#include "frazil/iceberg/json_fields.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::iceberg {

using nlohmann::json;
namespace jf = json_fields;

namespace {

// ---- Types ----------------------------------------------------------------------------

Result<TypePtr> ParseType(const json& j, const std::string& path);

Result<NestedField> ParseField(const json& j, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, path));
  NestedField field;
  FRZ_ASSIGN_OR_RETURN(field.id, jf::GetInt(j, path, "id"));
  FRZ_ASSIGN_OR_RETURN(field.name, jf::GetString(j, path, "name"));
  FRZ_ASSIGN_OR_RETURN(field.required, jf::GetBool(j, path, "required"));
  FRZ_ASSIGN_OR_RETURN(const json* type, jf::Require(j, path, "type"));
  FRZ_ASSIGN_OR_RETURN(field.type, ParseType(*type, jf::Join(path, "type")));
  if (const json* doc = jf::Find(j, "doc")) {
    FRZ_ASSIGN_OR_RETURN(field.doc, jf::AsString(*doc, jf::Join(path, "doc")));
  }
  // A default may legitimately be JSON null only when absent, so null means "none".
  if (const json* d = jf::Find(j, "initial-default")) {
    field.initial_default = std::make_shared<const json>(*d);
  }
  if (const json* d = jf::Find(j, "write-default")) {
    field.write_default = std::make_shared<const json>(*d);
  }
  return field;
}

Result<std::vector<NestedField>> ParseFields(const json& obj, const std::string& path) {
  FRZ_ASSIGN_OR_RETURN(const json* fields, jf::Require(obj, path, "fields"));
  std::string fields_path = jf::Join(path, "fields");
  FRZ_RETURN_IF_ERROR(jf::ExpectArray(*fields, fields_path));
  std::vector<NestedField> out;
  out.reserve(fields->size());
  for (size_t i = 0; i < fields->size(); ++i) {
    FRZ_ASSIGN_OR_RETURN(NestedField f, ParseField((*fields)[i], jf::At(fields_path, i)));
    out.push_back(std::move(f));
  }
  return out;
}

Result<TypePtr> ParseType(const json& j, const std::string& path) {
  if (j.is_string()) {
    auto type = ParsePrimitiveType(j.get<std::string>());
    if (!type) return jf::Malformed(path, type.error().message);
    return *type;
  }
  if (!j.is_object()) {
    return jf::Malformed(path, std::string("expected a type name or object, got ") +
                                   j.type_name());
  }
  FRZ_ASSIGN_OR_RETURN(std::string kind, jf::GetString(j, path, "type"));
  if (kind == "struct") {
    FRZ_ASSIGN_OR_RETURN(std::vector<NestedField> fields, ParseFields(j, path));
    return Struct(std::move(fields));
  }
  if (kind == "list") {
    FRZ_ASSIGN_OR_RETURN(int element_id, jf::GetInt(j, path, "element-id"));
    FRZ_ASSIGN_OR_RETURN(const json* element, jf::Require(j, path, "element"));
    FRZ_ASSIGN_OR_RETURN(TypePtr element_type, ParseType(*element, jf::Join(path, "element")));
    FRZ_ASSIGN_OR_RETURN(bool element_required, jf::GetBool(j, path, "element-required"));
    return List(element_id, std::move(element_type), element_required);
  }
  if (kind == "map") {
    FRZ_ASSIGN_OR_RETURN(int key_id, jf::GetInt(j, path, "key-id"));
    FRZ_ASSIGN_OR_RETURN(const json* key, jf::Require(j, path, "key"));
    FRZ_ASSIGN_OR_RETURN(TypePtr key_type, ParseType(*key, jf::Join(path, "key")));
    FRZ_ASSIGN_OR_RETURN(int value_id, jf::GetInt(j, path, "value-id"));
    FRZ_ASSIGN_OR_RETURN(const json* value, jf::Require(j, path, "value"));
    FRZ_ASSIGN_OR_RETURN(TypePtr value_type, ParseType(*value, jf::Join(path, "value")));
    FRZ_ASSIGN_OR_RETURN(bool value_required, jf::GetBool(j, path, "value-required"));
    return Map(key_id, std::move(key_type), value_id, std::move(value_type), value_required);
  }
  return jf::Malformed(jf::Join(path, "type"), "unknown nested type '" + kind + "'");
}

json FieldToJson(const NestedField& field) {
  json j = json::object();
  j["id"] = field.id;
  j["name"] = field.name;
  j["required"] = field.required;
  j["type"] = field.type ? TypeToJson(*field.type) : json();
  if (!field.doc.empty()) j["doc"] = field.doc;
  if (field.initial_default) j["initial-default"] = *field.initial_default;
  if (field.write_default) j["write-default"] = *field.write_default;
  return j;
}

json FieldsToJson(const std::vector<NestedField>& fields) {
  json out = json::array();
  for (const NestedField& f : fields) out.push_back(FieldToJson(f));
  return out;
}

// ---- Schemas, specs, sort orders --------------------------------------------------------

Result<Schema> ParseSchema(const json& j, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, path));
  if (const json* type = jf::Find(j, "type")) {
    if (!type->is_string() || type->get<std::string>() != "struct") {
      return jf::Malformed(jf::Join(path, "type"), "a schema must have type \"struct\"");
    }
  }
  // The REST spec makes schema-id read-only (absent in some requests): default 0.
  FRZ_ASSIGN_OR_RETURN(std::optional<int> schema_id, jf::GetOptionalInt(j, path, "schema-id"));
  std::vector<int> identifier_ids;
  if (const json* ids = jf::Find(j, "identifier-field-ids")) {
    std::string ids_path = jf::Join(path, "identifier-field-ids");
    FRZ_RETURN_IF_ERROR(jf::ExpectArray(*ids, ids_path));
    for (size_t i = 0; i < ids->size(); ++i) {
      FRZ_ASSIGN_OR_RETURN(int id, jf::AsInt((*ids)[i], jf::At(ids_path, i)));
      identifier_ids.push_back(id);
    }
  }
  FRZ_ASSIGN_OR_RETURN(std::vector<NestedField> fields, ParseFields(j, path));
  return Schema(schema_id.value_or(0), std::move(fields), std::move(identifier_ids));
}

// The fields of a partition spec; `fields` is the array. v1 fields may lack field-id: they
// get 1000, 1001, ... in order, as the spec prescribes.
Result<std::vector<PartitionField>> ParseSpecFields(const json& fields, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectArray(fields, path));
  std::vector<PartitionField> out;
  for (size_t i = 0; i < fields.size(); ++i) {
    const json& f = fields[i];
    std::string fpath = jf::At(path, i);
    FRZ_RETURN_IF_ERROR(jf::ExpectObject(f, fpath));
    PartitionField field;
    if (jf::Find(f, "source-id") == nullptr && jf::Find(f, "source-ids") != nullptr) {
      // v3 multi-argument form; frazil's transforms take a single source.
      const json& ids = f["source-ids"];
      if (!ids.is_array() || ids.size() != 1) {
        return MakeError(ErrorKind::kUnsupported,
                         "partition field with several source ids (field '" +
                             jf::Join(fpath, "source-ids") + "')");
      }
      FRZ_ASSIGN_OR_RETURN(field.source_id, jf::AsInt(ids[0], jf::Join(fpath, "source-ids")));
    } else {
      FRZ_ASSIGN_OR_RETURN(field.source_id, jf::GetInt(f, fpath, "source-id"));
    }
    FRZ_ASSIGN_OR_RETURN(std::optional<int> field_id, jf::GetOptionalInt(f, fpath, "field-id"));
    field.field_id = field_id.value_or(kFirstPartitionFieldId + static_cast<int>(i));
    FRZ_ASSIGN_OR_RETURN(field.name, jf::GetString(f, fpath, "name"));
    FRZ_ASSIGN_OR_RETURN(std::string transform, jf::GetString(f, fpath, "transform"));
    auto parsed = ParseTransform(transform);
    if (!parsed) return jf::Malformed(jf::Join(fpath, "transform"), parsed.error().message);
    field.transform = *parsed;
    out.push_back(std::move(field));
  }
  return out;
}

json SpecFieldsToJson(const PartitionSpec& spec) {
  json fields = json::array();
  for (const PartitionField& f : spec.fields) {
    fields.push_back({{"source-id", f.source_id},
                      {"field-id", f.field_id},
                      {"name", f.name},
                      {"transform", f.transform.ToString()}});
  }
  return fields;
}

Result<PartitionSpec> ParseSpec(const json& j, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, path));
  PartitionSpec spec;
  FRZ_ASSIGN_OR_RETURN(std::optional<int> spec_id, jf::GetOptionalInt(j, path, "spec-id"));
  spec.spec_id = spec_id.value_or(0);
  FRZ_ASSIGN_OR_RETURN(const json* fields, jf::Require(j, path, "fields"));
  FRZ_ASSIGN_OR_RETURN(spec.fields, ParseSpecFields(*fields, jf::Join(path, "fields")));
  return spec;
}

Result<SortOrder> ParseSortOrder(const json& j, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, path));
  SortOrder order;
  FRZ_ASSIGN_OR_RETURN(order.order_id, jf::GetInt(j, path, "order-id"));
  FRZ_ASSIGN_OR_RETURN(const json* fields, jf::Require(j, path, "fields"));
  std::string fields_path = jf::Join(path, "fields");
  FRZ_RETURN_IF_ERROR(jf::ExpectArray(*fields, fields_path));
  for (size_t i = 0; i < fields->size(); ++i) {
    const json& f = (*fields)[i];
    std::string fpath = jf::At(fields_path, i);
    FRZ_RETURN_IF_ERROR(jf::ExpectObject(f, fpath));
    SortField field;
    FRZ_ASSIGN_OR_RETURN(std::string transform, jf::GetString(f, fpath, "transform"));
    auto parsed = ParseTransform(transform);
    if (!parsed) return jf::Malformed(jf::Join(fpath, "transform"), parsed.error().message);
    field.transform = *parsed;
    FRZ_ASSIGN_OR_RETURN(field.source_id, jf::GetInt(f, fpath, "source-id"));
    FRZ_ASSIGN_OR_RETURN(std::string direction, jf::GetString(f, fpath, "direction"));
    if (direction != "asc" && direction != "desc") {
      return jf::Malformed(jf::Join(fpath, "direction"),
                           "expected \"asc\" or \"desc\", got \"" + direction + "\"");
    }
    field.ascending = direction == "asc";
    FRZ_ASSIGN_OR_RETURN(std::string null_order, jf::GetString(f, fpath, "null-order"));
    if (null_order != "nulls-first" && null_order != "nulls-last") {
      return jf::Malformed(jf::Join(fpath, "null-order"),
                           "expected \"nulls-first\" or \"nulls-last\", got \"" + null_order +
                               "\"");
    }
    field.nulls_first = null_order == "nulls-first";
    order.fields.push_back(std::move(field));
  }
  return order;
}

// ---- Snapshots and refs ---------------------------------------------------------------

Result<Snapshot> ParseSnapshot(const json& j, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, path));
  Snapshot s;
  FRZ_ASSIGN_OR_RETURN(s.snapshot_id, jf::GetInt64(j, path, "snapshot-id"));
  FRZ_ASSIGN_OR_RETURN(s.parent_snapshot_id, jf::GetOptionalInt64(j, path, "parent-snapshot-id"));
  // v1 snapshots have no sequence number: they all count as 0.
  FRZ_ASSIGN_OR_RETURN(std::optional<int64_t> seq,
                       jf::GetOptionalInt64(j, path, "sequence-number"));
  s.sequence_number = seq.value_or(0);
  FRZ_ASSIGN_OR_RETURN(s.timestamp_ms, jf::GetInt64(j, path, "timestamp-ms"));
  if (jf::Find(j, "manifest-list") == nullptr && jf::Find(j, "manifests") != nullptr) {
    return MakeError(ErrorKind::kUnsupported,
                     "v1 snapshot with an inline manifest list (field '" +
                         jf::Join(path, "manifests") + "')");
  }
  FRZ_ASSIGN_OR_RETURN(s.manifest_list, jf::GetString(j, path, "manifest-list"));
  if (const json* summary = jf::Find(j, "summary")) {
    std::string spath = jf::Join(path, "summary");
    FRZ_RETURN_IF_ERROR(jf::ExpectObject(*summary, spath));
    for (const auto& [key, value] : summary->items()) {
      FRZ_ASSIGN_OR_RETURN(s.summary[key], jf::AsString(value, jf::Join(spath, key)));
    }
  }
  FRZ_ASSIGN_OR_RETURN(s.schema_id, jf::GetOptionalInt(j, path, "schema-id"));
  FRZ_ASSIGN_OR_RETURN(s.first_row_id, jf::GetOptionalInt64(j, path, "first-row-id"));
  FRZ_ASSIGN_OR_RETURN(s.added_rows, jf::GetOptionalInt64(j, path, "added-rows"));
  return s;
}

Result<SnapshotRef> ParseRef(const json& j, const std::string& path) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, path));
  SnapshotRef ref;
  FRZ_ASSIGN_OR_RETURN(ref.snapshot_id, jf::GetInt64(j, path, "snapshot-id"));
  FRZ_ASSIGN_OR_RETURN(std::string type, jf::GetString(j, path, "type"));
  if (type != "branch" && type != "tag") {
    return jf::Malformed(jf::Join(path, "type"),
                         "expected \"branch\" or \"tag\", got \"" + type + "\"");
  }
  ref.is_branch = type == "branch";
  FRZ_ASSIGN_OR_RETURN(ref.min_snapshots_to_keep,
                       jf::GetOptionalInt(j, path, "min-snapshots-to-keep"));
  FRZ_ASSIGN_OR_RETURN(ref.max_snapshot_age_ms,
                       jf::GetOptionalInt64(j, path, "max-snapshot-age-ms"));
  FRZ_ASSIGN_OR_RETURN(ref.max_ref_age_ms, jf::GetOptionalInt64(j, path, "max-ref-age-ms"));
  return ref;
}

// Runs a parser with any stray nlohmann exception turned into Corrupt.
template <typename T, typename F>
Result<T> Guarded(F&& parse) {
  try {
    return parse();
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kCorrupt, std::string("malformed JSON: ") + e.what());
  }
}

}  // namespace

// ---- Public piece-wise API --------------------------------------------------------------

json TypeToJson(const Type& type) {
  switch (type.id) {
    case TypeId::kStruct:
      return {{"type", "struct"}, {"fields", FieldsToJson(type.fields)}};
    case TypeId::kList: {
      const NestedField& e = type.element();
      return {{"type", "list"},
              {"element-id", e.id},
              {"element", e.type ? TypeToJson(*e.type) : json()},
              {"element-required", e.required}};
    }
    case TypeId::kMap: {
      const NestedField& k = type.key();
      const NestedField& v = type.value();
      return {{"type", "map"},
              {"key-id", k.id},
              {"key", k.type ? TypeToJson(*k.type) : json()},
              {"value-id", v.id},
              {"value", v.type ? TypeToJson(*v.type) : json()},
              {"value-required", v.required}};
    }
    default:
      return type.ToString();
  }
}

Result<TypePtr> TypeFromJson(const json& j) {
  return Guarded<TypePtr>([&] { return ParseType(j, "type"); });
}

json SchemaToJson(const Schema& schema) {
  json j = {{"type", "struct"},
            {"schema-id", schema.schema_id()},
            {"fields", FieldsToJson(schema.fields())}};
  if (!schema.identifier_field_ids().empty()) {
    j["identifier-field-ids"] = schema.identifier_field_ids();
  }
  return j;
}

Result<Schema> SchemaFromJson(const json& j) {
  return Guarded<Schema>([&] { return ParseSchema(j, "schema"); });
}

json PartitionSpecToJson(const PartitionSpec& spec) {
  return {{"spec-id", spec.spec_id}, {"fields", SpecFieldsToJson(spec)}};
}

Result<PartitionSpec> PartitionSpecFromJson(const json& j) {
  return Guarded<PartitionSpec>([&] { return ParseSpec(j, "spec"); });
}

json SortOrderToJson(const SortOrder& order) {
  json fields = json::array();
  for (const SortField& f : order.fields) {
    fields.push_back({{"transform", f.transform.ToString()},
                      {"source-id", f.source_id},
                      {"direction", f.ascending ? "asc" : "desc"},
                      {"null-order", f.nulls_first ? "nulls-first" : "nulls-last"}});
  }
  return {{"order-id", order.order_id}, {"fields", std::move(fields)}};
}

Result<SortOrder> SortOrderFromJson(const json& j) {
  return Guarded<SortOrder>([&] { return ParseSortOrder(j, "sort-order"); });
}

json SnapshotToJson(const Snapshot& s) {
  json j = json::object();
  j["snapshot-id"] = s.snapshot_id;
  if (s.parent_snapshot_id) j["parent-snapshot-id"] = *s.parent_snapshot_id;
  // As Java does: v1 snapshots (sequence number 0) carry no sequence number.
  if (s.sequence_number > 0) j["sequence-number"] = s.sequence_number;
  j["timestamp-ms"] = s.timestamp_ms;
  j["manifest-list"] = s.manifest_list;
  if (!s.summary.empty()) j["summary"] = s.summary;
  if (s.schema_id) j["schema-id"] = *s.schema_id;
  if (s.first_row_id) j["first-row-id"] = *s.first_row_id;
  if (s.added_rows) j["added-rows"] = *s.added_rows;
  return j;
}

Result<Snapshot> SnapshotFromJson(const json& j) {
  return Guarded<Snapshot>([&] { return ParseSnapshot(j, "snapshot"); });
}

json SnapshotRefToJson(const SnapshotRef& ref) {
  json j = {{"snapshot-id", ref.snapshot_id}, {"type", ref.is_branch ? "branch" : "tag"}};
  if (ref.min_snapshots_to_keep) j["min-snapshots-to-keep"] = *ref.min_snapshots_to_keep;
  if (ref.max_snapshot_age_ms) j["max-snapshot-age-ms"] = *ref.max_snapshot_age_ms;
  if (ref.max_ref_age_ms) j["max-ref-age-ms"] = *ref.max_ref_age_ms;
  return j;
}

Result<SnapshotRef> SnapshotRefFromJson(const json& j) {
  return Guarded<SnapshotRef>([&] { return ParseRef(j, "ref"); });
}

// ---- Table metadata ---------------------------------------------------------------------

json TableMetadataToJson(const TableMetadata& m) {
  json j = json::object();
  j["format-version"] = m.format_version;
  if (!m.table_uuid.empty() || m.format_version > 1) j["table-uuid"] = m.table_uuid;
  j["location"] = m.location;
  if (m.format_version > 1) j["last-sequence-number"] = m.last_sequence_number;
  j["last-updated-ms"] = m.last_updated_ms;
  j["last-column-id"] = m.last_column_id;
  json schemas = json::array();
  for (const Schema& s : m.schemas) schemas.push_back(SchemaToJson(s));
  j["schemas"] = std::move(schemas);
  j["current-schema-id"] = m.current_schema_id;
  json specs = json::array();
  for (const PartitionSpec& s : m.partition_specs) specs.push_back(PartitionSpecToJson(s));
  j["partition-specs"] = std::move(specs);
  j["default-spec-id"] = m.default_spec_id;
  j["last-partition-id"] = m.last_partition_id;
  if (m.format_version == 1) {
    // v1 readers predate the lists and only know the current schema and spec.
    if (const Schema* s = m.current_schema()) j["schema"] = SchemaToJson(*s);
    if (const PartitionSpec* s = m.default_spec()) j["partition-spec"] = SpecFieldsToJson(*s);
  }
  json properties = json::object();
  for (const auto& [key, value] : m.properties) {
    if (!IsReservedTableProperty(key)) properties[key] = value;
  }
  j["properties"] = std::move(properties);
  j["current-snapshot-id"] = m.current_snapshot_id ? json(*m.current_snapshot_id) : json();
  json snapshots = json::array();
  for (const Snapshot& s : m.snapshots) snapshots.push_back(SnapshotToJson(s));
  j["snapshots"] = std::move(snapshots);
  json snapshot_log = json::array();
  for (const SnapshotLogEntry& e : m.snapshot_log) {
    snapshot_log.push_back({{"timestamp-ms", e.timestamp_ms}, {"snapshot-id", e.snapshot_id}});
  }
  j["snapshot-log"] = std::move(snapshot_log);
  json metadata_log = json::array();
  for (const MetadataLogEntry& e : m.metadata_log) {
    metadata_log.push_back({{"timestamp-ms", e.timestamp_ms}, {"metadata-file", e.metadata_file}});
  }
  j["metadata-log"] = std::move(metadata_log);
  json orders = json::array();
  for (const SortOrder& o : m.sort_orders) orders.push_back(SortOrderToJson(o));
  j["sort-orders"] = std::move(orders);
  j["default-sort-order-id"] = m.default_sort_order_id;
  json refs = json::object();
  for (const auto& [name, ref] : m.refs) refs[name] = SnapshotRefToJson(ref);
  j["refs"] = std::move(refs);
  j["statistics"] = m.statistics;
  j["partition-statistics"] = m.partition_statistics;
  if (m.next_row_id) j["next-row-id"] = *m.next_row_id;
  return j;
}

std::string TableMetadataToJsonString(const TableMetadata& metadata) {
  return TableMetadataToJson(metadata).dump();
}

namespace {

template <typename T, typename F>
Result<std::vector<T>> ParseList(const json& j, std::string_view key, F&& parse_one) {
  std::vector<T> out;
  const json* list = jf::Find(j, key);
  if (list == nullptr) return out;
  std::string path(key);
  FRZ_RETURN_IF_ERROR(jf::ExpectArray(*list, path));
  for (size_t i = 0; i < list->size(); ++i) {
    FRZ_ASSIGN_OR_RETURN(T item, parse_one((*list)[i], jf::At(path, i)));
    out.push_back(std::move(item));
  }
  return out;
}

Result<std::vector<json>> ParseStatistics(const json& j, std::string_view key) {
  return ParseList<json>(j, key, [](const json& item, const std::string& path) -> Result<json> {
    FRZ_RETURN_IF_ERROR(jf::GetInt64(item, path, "snapshot-id"));
    return item;
  });
}

Status ParseSchemas(const json& j, TableMetadata* m) {
  if (jf::Find(j, "schemas") != nullptr) {
    FRZ_ASSIGN_OR_RETURN(m->schemas, ParseList<Schema>(j, "schemas", ParseSchema));
    FRZ_ASSIGN_OR_RETURN(m->current_schema_id, jf::GetInt(j, "", "current-schema-id"));
  } else if (m->format_version == 1) {
    FRZ_ASSIGN_OR_RETURN(const json* schema, jf::Require(j, "", "schema"));
    FRZ_ASSIGN_OR_RETURN(Schema s, ParseSchema(*schema, "schema"));
    m->current_schema_id = s.schema_id();
    m->schemas.push_back(std::move(s));
  } else {
    return jf::Malformed("schemas", "missing required field");
  }
  if (m->schema_by_id(m->current_schema_id) == nullptr) {
    return jf::Malformed("current-schema-id",
                         "no schema with id " + std::to_string(m->current_schema_id));
  }
  return Ok();
}

Status ParseSpecs(const json& j, TableMetadata* m) {
  if (jf::Find(j, "partition-specs") != nullptr) {
    FRZ_ASSIGN_OR_RETURN(m->partition_specs,
                         ParseList<PartitionSpec>(j, "partition-specs", ParseSpec));
    FRZ_ASSIGN_OR_RETURN(m->default_spec_id, jf::GetInt(j, "", "default-spec-id"));
  } else if (m->format_version == 1) {
    FRZ_ASSIGN_OR_RETURN(const json* fields, jf::Require(j, "", "partition-spec"));
    PartitionSpec spec;
    FRZ_ASSIGN_OR_RETURN(spec.fields, ParseSpecFields(*fields, "partition-spec"));
    m->default_spec_id = 0;
    m->partition_specs.push_back(std::move(spec));
  } else {
    return jf::Malformed("partition-specs", "missing required field");
  }
  if (m->spec_by_id(m->default_spec_id) == nullptr) {
    return jf::Malformed("default-spec-id",
                         "no partition spec with id " + std::to_string(m->default_spec_id));
  }
  FRZ_ASSIGN_OR_RETURN(std::optional<int> last_partition_id,
                       jf::GetOptionalInt(j, "", "last-partition-id"));
  if (last_partition_id) {
    m->last_partition_id = *last_partition_id;
  } else if (m->format_version == 1) {
    m->last_partition_id = kFirstPartitionFieldId - 1;
    for (const PartitionSpec& spec : m->partition_specs) {
      for (const PartitionField& f : spec.fields) {
        m->last_partition_id = std::max(m->last_partition_id, f.field_id);
      }
    }
  } else {
    return jf::Malformed("last-partition-id", "missing required field");
  }
  return Ok();
}

Status ParseSortOrders(const json& j, TableMetadata* m) {
  if (jf::Find(j, "sort-orders") != nullptr) {
    FRZ_ASSIGN_OR_RETURN(m->sort_orders, ParseList<SortOrder>(j, "sort-orders", ParseSortOrder));
    FRZ_ASSIGN_OR_RETURN(m->default_sort_order_id, jf::GetInt(j, "", "default-sort-order-id"));
  } else if (m->format_version == 1) {
    m->sort_orders.push_back(SortOrder{});  // unsorted, order id 0
    m->default_sort_order_id = 0;
  } else {
    return jf::Malformed("sort-orders", "missing required field");
  }
  bool found = false;
  for (const SortOrder& o : m->sort_orders) found = found || o.order_id == m->default_sort_order_id;
  if (!found) {
    return jf::Malformed("default-sort-order-id",
                         "no sort order with id " + std::to_string(m->default_sort_order_id));
  }
  return Ok();
}

Status ParseSnapshotsAndRefs(const json& j, TableMetadata* m) {
  FRZ_ASSIGN_OR_RETURN(std::optional<int64_t> current,
                       jf::GetOptionalInt64(j, "", "current-snapshot-id"));
  if (current && *current != -1) m->current_snapshot_id = *current;
  FRZ_ASSIGN_OR_RETURN(m->snapshots, ParseList<Snapshot>(j, "snapshots", ParseSnapshot));
  FRZ_ASSIGN_OR_RETURN(
      m->snapshot_log,
      ParseList<SnapshotLogEntry>(
          j, "snapshot-log",
          [](const json& e, const std::string& path) -> Result<SnapshotLogEntry> {
            SnapshotLogEntry entry;
            FRZ_ASSIGN_OR_RETURN(entry.timestamp_ms, jf::GetInt64(e, path, "timestamp-ms"));
            FRZ_ASSIGN_OR_RETURN(entry.snapshot_id, jf::GetInt64(e, path, "snapshot-id"));
            return entry;
          }));
  FRZ_ASSIGN_OR_RETURN(
      m->metadata_log,
      ParseList<MetadataLogEntry>(
          j, "metadata-log",
          [](const json& e, const std::string& path) -> Result<MetadataLogEntry> {
            MetadataLogEntry entry;
            FRZ_ASSIGN_OR_RETURN(entry.timestamp_ms, jf::GetInt64(e, path, "timestamp-ms"));
            FRZ_ASSIGN_OR_RETURN(entry.metadata_file, jf::GetString(e, path, "metadata-file"));
            return entry;
          }));
  if (const json* refs = jf::Find(j, "refs")) {
    FRZ_RETURN_IF_ERROR(jf::ExpectObject(*refs, "refs"));
    for (const auto& [name, value] : refs->items()) {
      FRZ_ASSIGN_OR_RETURN(m->refs[name], ParseRef(value, jf::Join("refs", name)));
    }
  } else if (m->current_snapshot_id) {
    // Writers before refs existed: main is the current snapshot.
    m->refs[kMainBranch] = SnapshotRef{.snapshot_id = *m->current_snapshot_id};
  }
  if (m->current_snapshot_id && m->snapshot_by_id(*m->current_snapshot_id) == nullptr) {
    return jf::Malformed("current-snapshot-id",
                         "no snapshot with id " + std::to_string(*m->current_snapshot_id));
  }
  return Ok();
}

Result<TableMetadata> ParseMetadata(const json& j) {
  FRZ_RETURN_IF_ERROR(jf::ExpectObject(j, "<root>"));
  TableMetadata m;
  FRZ_ASSIGN_OR_RETURN(m.format_version, jf::GetInt(j, "", "format-version"));
  if (m.format_version < 1 || m.format_version > 3) {
    return MakeError(ErrorKind::kUnsupported, "unsupported table format version " +
                                                  std::to_string(m.format_version) +
                                                  " (field 'format-version')");
  }
  if (m.format_version == 1 && jf::Find(j, "table-uuid") == nullptr) {
    m.table_uuid.clear();
  } else {
    FRZ_ASSIGN_OR_RETURN(m.table_uuid, jf::GetString(j, "", "table-uuid"));
  }
  FRZ_ASSIGN_OR_RETURN(m.location, jf::GetString(j, "", "location"));
  if (m.format_version == 1) {
    FRZ_ASSIGN_OR_RETURN(std::optional<int64_t> seq,
                         jf::GetOptionalInt64(j, "", "last-sequence-number"));
    m.last_sequence_number = seq.value_or(0);
  } else {
    FRZ_ASSIGN_OR_RETURN(m.last_sequence_number, jf::GetInt64(j, "", "last-sequence-number"));
  }
  FRZ_ASSIGN_OR_RETURN(m.last_updated_ms, jf::GetInt64(j, "", "last-updated-ms"));
  FRZ_ASSIGN_OR_RETURN(m.last_column_id, jf::GetInt(j, "", "last-column-id"));
  FRZ_RETURN_IF_ERROR(ParseSchemas(j, &m));
  FRZ_RETURN_IF_ERROR(ParseSpecs(j, &m));
  if (const json* props = jf::Find(j, "properties")) {
    FRZ_RETURN_IF_ERROR(jf::ExpectObject(*props, "properties"));
    for (const auto& [key, value] : props->items()) {
      FRZ_ASSIGN_OR_RETURN(std::string v, jf::AsString(value, jf::Join("properties", key)));
      if (!IsReservedTableProperty(key)) m.properties[key] = std::move(v);
    }
  }
  FRZ_RETURN_IF_ERROR(ParseSnapshotsAndRefs(j, &m));
  FRZ_RETURN_IF_ERROR(ParseSortOrders(j, &m));
  FRZ_ASSIGN_OR_RETURN(m.statistics, ParseStatistics(j, "statistics"));
  FRZ_ASSIGN_OR_RETURN(m.partition_statistics, ParseStatistics(j, "partition-statistics"));
  FRZ_ASSIGN_OR_RETURN(m.next_row_id, jf::GetOptionalInt64(j, "", "next-row-id"));
  return m;
}

}  // namespace

Result<TableMetadata> TableMetadataFromJson(const json& j) {
  return Guarded<TableMetadata>([&] { return ParseMetadata(j); });
}

Result<TableMetadata> TableMetadataFromJsonString(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return MakeError(ErrorKind::kCorrupt, std::string("table metadata is not valid JSON: ") +
                                              e.what());
  }
  return TableMetadataFromJson(j);
}

}  // namespace frazil::iceberg
