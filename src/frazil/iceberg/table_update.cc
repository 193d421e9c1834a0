// Commit requirements and metadata updates, following the semantics of the Java reference
// (TableMetadata.Builder, UpdateRequirement). The JSON forms live in update_json.cc.
#include "frazil/iceberg/table_update.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "frazil/base/random.h"

namespace frazil::iceberg {
namespace {

std::unexpected<Error> RequirementFailed(const std::string& what) {
  return MakeError(ErrorKind::kCommitFailed, "Requirement failed: " + what);
}

std::unexpected<Error> Invalid(const std::string& what) {
  return MakeError(ErrorKind::kInvalidArgument, what);
}

std::string ExpectedActual(int64_t expected, int64_t actual) {
  return "expected id " + std::to_string(expected) + " != " + std::to_string(actual);
}

Status Check(const TableMetadata* m, const req::AssertCreate&) {
  if (m != nullptr) return RequirementFailed("table already exists");
  return Ok();
}

Status Check(const TableMetadata& m, const req::AssertTableUuid& r) {
  if (m.table_uuid != r.uuid) {
    return RequirementFailed("UUID does not match: expected " + r.uuid + " != " + m.table_uuid);
  }
  return Ok();
}

Status Check(const TableMetadata& m, const req::AssertRefSnapshotId& r) {
  auto it = m.refs.find(r.ref);
  if (it == m.refs.end()) {
    if (r.snapshot_id) {
      return RequirementFailed("branch or tag " + r.ref + " is missing, expected " +
                               std::to_string(*r.snapshot_id));
    }
    return Ok();
  }
  const char* kind = it->second.is_branch ? "branch" : "tag";
  if (!r.snapshot_id) {
    return RequirementFailed(std::string(kind) + " " + r.ref + " was created concurrently");
  }
  if (*r.snapshot_id != it->second.snapshot_id) {
    return RequirementFailed(std::string(kind) + " " + r.ref + " has changed: " +
                             ExpectedActual(*r.snapshot_id, it->second.snapshot_id));
  }
  return Ok();
}

Status CheckId(const std::string& what, int64_t expected, int64_t actual) {
  if (expected != actual) return RequirementFailed(what + ": " + ExpectedActual(expected, actual));
  return Ok();
}

Status Check(const TableMetadata& m, const req::AssertLastAssignedFieldId& r) {
  return CheckId("last assigned field id changed", r.last_assigned_field_id, m.last_column_id);
}
Status Check(const TableMetadata& m, const req::AssertCurrentSchemaId& r) {
  return CheckId("current schema changed", r.current_schema_id, m.current_schema_id);
}
Status Check(const TableMetadata& m, const req::AssertLastAssignedPartitionId& r) {
  return CheckId("last assigned partition id changed", r.last_assigned_partition_id,
                 m.last_partition_id);
}
Status Check(const TableMetadata& m, const req::AssertDefaultSpecId& r) {
  return CheckId("default partition spec changed", r.default_spec_id, m.default_spec_id);
}
Status Check(const TableMetadata& m, const req::AssertDefaultSortOrderId& r) {
  return CheckId("default sort order changed", r.default_sort_order_id,
                 m.default_sort_order_id);
}

int64_t StatisticsSnapshotId(const nlohmann::json& stats) {
  auto it = stats.find("snapshot-id");
  if (it == stats.end() || !it->is_number_integer()) return -1;
  return it->get<int64_t>();
}

// Applies updates one by one to a copy of the base metadata, remembering what this commit
// added so that "-1 = last added" and snapshot-log timestamps resolve as in Java.
class MetadataBuilder {
 public:
  MetadataBuilder(const TableMetadata* base, int64_t now_ms)
      : is_new_(base == nullptr), now_ms_(now_ms) {
    if (base != nullptr) m_ = *base;
  }

  Status Apply(const TableUpdate& update) {
    return std::visit([this](const auto& u) { return Do(u); }, update);
  }

  Result<TableMetadata> Finish() {
    if (is_new_) {
      if (m_.location.empty()) return Invalid("a new table needs a location (set-location)");
      if (m_.schemas.empty()) return Invalid("a new table needs a schema (add-schema)");
      if (m_.partition_specs.empty()) m_.partition_specs.push_back(PartitionSpec{});
      if (m_.sort_orders.empty()) m_.sort_orders.push_back(SortOrder{});
      if (m_.table_uuid.empty()) m_.table_uuid = NewUuid();
    }
    if (m_.current_schema() == nullptr) {
      return Invalid("current schema " + std::to_string(m_.current_schema_id) + " does not exist");
    }
    if (m_.default_spec() == nullptr) {
      return Invalid("default partition spec " + std::to_string(m_.default_spec_id) +
                     " does not exist");
    }
    m_.last_updated_ms = now_ms_;
    return std::move(m_);
  }

 private:
  const Schema* SchemaForValidation() const {
    if (const Schema* s = m_.current_schema()) return s;
    return last_added_schema_ ? m_.schema_by_id(*last_added_schema_) : nullptr;
  }

  Status Do(const upd::AssignUuid& u) {
    if (u.uuid.empty()) return Invalid("assign-uuid needs a uuid");
    if (!is_new_ && !m_.table_uuid.empty() && m_.table_uuid != u.uuid) {
      return Invalid("Cannot reassign table uuid " + m_.table_uuid + " to " + u.uuid);
    }
    m_.table_uuid = u.uuid;
    return Ok();
  }

  Status Do(const upd::UpgradeFormatVersion& u) {
    if (u.format_version < 1 || u.format_version > 3) {
      return MakeError(ErrorKind::kUnsupported,
                       "unsupported format version " + std::to_string(u.format_version));
    }
    if (!is_new_ && u.format_version < m_.format_version) {
      return Invalid("Cannot downgrade format version from " +
                     std::to_string(m_.format_version) + " to " +
                     std::to_string(u.format_version));
    }
    m_.format_version = u.format_version;
    return Ok();
  }

  Status Do(const upd::AddSchema& u) {
    if (auto valid = u.schema.Validate(); !valid) {
      return Invalid("invalid schema: " + valid.error().message);
    }
    m_.last_column_id = std::max({m_.last_column_id, u.last_column_id.value_or(0),
                                  u.schema.HighestFieldId()});
    for (const Schema& s : m_.schemas) {
      if (s.SameStructure(u.schema) && s.identifier_field_ids() == u.schema.identifier_field_ids()) {
        last_added_schema_ = s.schema_id();
        return Ok();
      }
    }
    int id = m_.NextSchemaId();
    Schema schema = u.schema;
    schema.set_schema_id(id);
    m_.schemas.push_back(std::move(schema));
    last_added_schema_ = id;
    return Ok();
  }

  Status Do(const upd::SetCurrentSchema& u) {
    int id = u.schema_id;
    if (id == -1) {
      if (!last_added_schema_) return Invalid("Cannot set last added schema: no schema added");
      id = *last_added_schema_;
    }
    if (m_.schema_by_id(id) == nullptr) {
      return Invalid("Cannot set current schema to unknown schema: " + std::to_string(id));
    }
    m_.current_schema_id = id;
    return Ok();
  }

  Status Do(const upd::AddSpec& u) {
    if (const Schema* schema = SchemaForValidation()) {
      if (auto type = u.spec.PartitionType(*schema); !type) {
        return Invalid("invalid partition spec: " + type.error().message);
      }
    }
    for (const PartitionField& f : u.spec.fields) {
      m_.last_partition_id = std::max(m_.last_partition_id, f.field_id);
    }
    for (const PartitionSpec& s : m_.partition_specs) {
      if (s.CompatibleWith(u.spec)) {
        last_added_spec_ = s.spec_id;
        return Ok();
      }
    }
    int id = 0;
    for (const PartitionSpec& s : m_.partition_specs) id = std::max(id, s.spec_id + 1);
    PartitionSpec spec = u.spec;
    spec.spec_id = id;
    m_.partition_specs.push_back(std::move(spec));
    last_added_spec_ = id;
    return Ok();
  }

  Status Do(const upd::SetDefaultSpec& u) {
    int id = u.spec_id;
    if (id == -1) {
      if (!last_added_spec_) return Invalid("Cannot set last added spec: no spec added");
      id = *last_added_spec_;
    }
    if (m_.spec_by_id(id) == nullptr) {
      return Invalid("Cannot set default partition spec to unknown spec: " + std::to_string(id));
    }
    m_.default_spec_id = id;
    return Ok();
  }

  Status Do(const upd::AddSortOrder& u) {
    if (const Schema* schema = SchemaForValidation()) {
      for (const SortField& f : u.sort_order.fields) {
        if (schema->FindField(f.source_id) == nullptr) {
          return Invalid("sort order references unknown field id " + std::to_string(f.source_id));
        }
      }
    }
    for (const SortOrder& o : m_.sort_orders) {
      if (o.fields == u.sort_order.fields) {
        last_added_order_ = o.order_id;
        return Ok();
      }
    }
    // Order 0 is reserved for "unsorted".
    int id = 0;
    if (!u.sort_order.fields.empty()) {
      id = 1;
      for (const SortOrder& o : m_.sort_orders) id = std::max(id, o.order_id + 1);
    }
    SortOrder order = u.sort_order;
    order.order_id = id;
    m_.sort_orders.push_back(std::move(order));
    last_added_order_ = id;
    return Ok();
  }

  Status Do(const upd::SetDefaultSortOrder& u) {
    int id = u.sort_order_id;
    if (id == -1) {
      if (!last_added_order_) return Invalid("Cannot set last added sort order: none added");
      id = *last_added_order_;
    }
    bool found = false;
    for (const SortOrder& o : m_.sort_orders) found = found || o.order_id == id;
    if (!found) {
      return Invalid("Cannot set default sort order to unknown order: " + std::to_string(id));
    }
    m_.default_sort_order_id = id;
    return Ok();
  }

  Status Do(const upd::AddSnapshot& u) {
    const Snapshot& s = u.snapshot;
    if (m_.snapshot_by_id(s.snapshot_id) != nullptr) {
      return Invalid("Snapshot already exists: " + std::to_string(s.snapshot_id));
    }
    if (m_.format_version >= 2 && s.sequence_number <= m_.last_sequence_number) {
      return MakeError(ErrorKind::kCommitFailed,
                       "Cannot add snapshot with sequence number " +
                           std::to_string(s.sequence_number) +
                           " older than last sequence number " +
                           std::to_string(m_.last_sequence_number));
    }
    m_.last_sequence_number = std::max(m_.last_sequence_number, s.sequence_number);
    if (m_.format_version >= 3 && s.first_row_id && s.added_rows) {
      m_.next_row_id = std::max(m_.next_row_id.value_or(0), *s.first_row_id + *s.added_rows);
    }
    m_.snapshots.push_back(s);
    added_snapshots_.insert(s.snapshot_id);
    return Ok();
  }

  Status Do(const upd::SetSnapshotRef& u) {
    const Snapshot* snapshot = m_.snapshot_by_id(u.ref.snapshot_id);
    if (snapshot == nullptr) {
      return Invalid("Cannot set " + u.ref_name + " to unknown snapshot: " +
                     std::to_string(u.ref.snapshot_id));
    }
    bool is_main = u.ref_name == kMainBranch;
    if (is_main && !u.ref.is_branch) return Invalid("main must be a branch, not a tag");
    auto it = m_.refs.find(u.ref_name);
    if (it != m_.refs.end() && it->second == u.ref) return Ok();
    m_.refs[u.ref_name] = u.ref;
    if (is_main) {
      m_.current_snapshot_id = snapshot->snapshot_id;
      // A snapshot added by this commit became current when it was made; an older one
      // (rollback, cherry-pick of a staged snapshot) becomes current now.
      int64_t ts = added_snapshots_.contains(snapshot->snapshot_id) ? snapshot->timestamp_ms
                                                                    : now_ms_;
      m_.snapshot_log.push_back({ts, snapshot->snapshot_id});
    }
    return Ok();
  }

  Status Do(const upd::RemoveSnapshots& u) {
    std::set<int64_t> ids(u.snapshot_ids.begin(), u.snapshot_ids.end());
    std::erase_if(m_.snapshots, [&](const Snapshot& s) { return ids.contains(s.snapshot_id); });
    // As in Java: a ref to a removed snapshot goes with it.
    for (auto it = m_.refs.begin(); it != m_.refs.end();) {
      if (ids.contains(it->second.snapshot_id)) {
        if (it->first == kMainBranch) m_.current_snapshot_id.reset();
        it = m_.refs.erase(it);
      } else {
        ++it;
      }
    }
    auto removed_stats = [&](const nlohmann::json& s) {
      return ids.contains(StatisticsSnapshotId(s));
    };
    std::erase_if(m_.statistics, removed_stats);
    std::erase_if(m_.partition_statistics, removed_stats);
    // History before a removed snapshot is dropped: a gap would make time travel answer
    // with the wrong snapshot.
    std::vector<SnapshotLogEntry> log;
    for (const SnapshotLogEntry& e : m_.snapshot_log) {
      if (m_.snapshot_by_id(e.snapshot_id) != nullptr) {
        log.push_back(e);
      } else {
        log.clear();
      }
    }
    m_.snapshot_log = std::move(log);
    return Ok();
  }

  Status Do(const upd::RemoveSnapshotRef& u) {
    if (m_.refs.erase(u.ref_name) > 0 && u.ref_name == kMainBranch) {
      m_.current_snapshot_id.reset();
    }
    return Ok();
  }

  Status Do(const upd::SetLocation& u) {
    if (u.location.empty()) return Invalid("set-location needs a location");
    m_.location = u.location;
    return Ok();
  }

  Status Do(const upd::SetProperties& u) {
    for (const auto& [key, value] : u.updates) {
      if (key == "format-version") {
        // Engines (Spark's TBLPROPERTIES) ask for upgrades through this property.
        int version = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), version);
        if (ec != std::errc() || ptr != value.data() + value.size()) {
          return Invalid("invalid format-version property: " + value);
        }
        if (version != m_.format_version) {
          FRZ_RETURN_IF_ERROR(Do(upd::UpgradeFormatVersion{version}));
        }
        continue;
      }
      if (IsReservedTableProperty(key)) continue;  // derived from metadata, never stored
      m_.properties[key] = value;
    }
    return Ok();
  }

  Status Do(const upd::RemoveProperties& u) {
    for (const std::string& key : u.removals) m_.properties.erase(key);
    return Ok();
  }

  static Status SetStats(std::vector<nlohmann::json>* list, const nlohmann::json& stats,
                         const char* what) {
    if (!stats.is_object() || !stats.contains("snapshot-id") ||
        !stats["snapshot-id"].is_number_integer()) {
      return Invalid(std::string(what) + " needs an object with an integer snapshot-id");
    }
    int64_t id = StatisticsSnapshotId(stats);
    std::erase_if(*list, [&](const nlohmann::json& s) { return StatisticsSnapshotId(s) == id; });
    list->push_back(stats);
    return Ok();
  }

  static void RemoveStats(std::vector<nlohmann::json>* list, int64_t snapshot_id) {
    std::erase_if(*list, [&](const nlohmann::json& s) {
      return StatisticsSnapshotId(s) == snapshot_id;
    });
  }

  Status Do(const upd::SetStatistics& u) {
    return SetStats(&m_.statistics, u.statistics, "set-statistics");
  }
  Status Do(const upd::RemoveStatistics& u) {
    RemoveStats(&m_.statistics, u.snapshot_id);
    return Ok();
  }
  Status Do(const upd::SetPartitionStatistics& u) {
    return SetStats(&m_.partition_statistics, u.partition_statistics, "set-partition-statistics");
  }
  Status Do(const upd::RemovePartitionStatistics& u) {
    RemoveStats(&m_.partition_statistics, u.snapshot_id);
    return Ok();
  }

  Status Do(const upd::RemovePartitionSpecs& u) {
    for (int id : u.spec_ids) {
      if (id == m_.default_spec_id) {
        return Invalid("Cannot remove the default partition spec " + std::to_string(id));
      }
    }
    std::erase_if(m_.partition_specs, [&](const PartitionSpec& s) {
      return std::ranges::find(u.spec_ids, s.spec_id) != u.spec_ids.end();
    });
    return Ok();
  }

  Status Do(const upd::RemoveSchemas& u) {
    for (int id : u.schema_ids) {
      if (id == m_.current_schema_id) {
        return Invalid("Cannot remove the current schema " + std::to_string(id));
      }
    }
    std::erase_if(m_.schemas, [&](const Schema& s) {
      return std::ranges::find(u.schema_ids, s.schema_id()) != u.schema_ids.end();
    });
    return Ok();
  }

  TableMetadata m_;
  bool is_new_;
  int64_t now_ms_;
  std::optional<int> last_added_schema_;
  std::optional<int> last_added_spec_;
  std::optional<int> last_added_order_;
  std::set<int64_t> added_snapshots_;
};

// Assigns fresh field ids the way Java's TypeUtil.assignFreshIds and PyIceberg do: all
// fields of a struct first, then their nested types in order (so a table created here gets
// the same ids as one created by Spark or PyIceberg from the same schema).
class FreshIds {
 public:
  std::vector<NestedField> AssignStruct(const std::vector<NestedField>& fields) {
    std::vector<NestedField> out = fields;
    for (NestedField& f : out) f.id = Next(f.id);
    for (NestedField& f : out) f.type = AssignType(f.type);
    return out;
  }

  int Remap(int old_id) const {
    auto it = old_to_new_.find(old_id);
    return it == old_to_new_.end() ? -1 : it->second;
  }
  int last() const { return next_ - 1; }

 private:
  int Next(int old_id) {
    old_to_new_.try_emplace(old_id, next_);
    return next_++;
  }

  TypePtr AssignType(const TypePtr& type) {
    if (!type || type->is_primitive()) return type;
    switch (type->id) {
      case TypeId::kStruct:
        return Struct(AssignStruct(type->fields));
      case TypeId::kList: {
        const NestedField& e = type->element();
        int id = Next(e.id);
        return List(id, AssignType(e.type), e.required);
      }
      case TypeId::kMap: {
        const NestedField& k = type->key();
        const NestedField& v = type->value();
        int key_id = Next(k.id);
        int value_id = Next(v.id);
        TypePtr key_type = AssignType(k.type);
        return Map(key_id, std::move(key_type), value_id, AssignType(v.type), v.required);
      }
      default:
        return type;
    }
  }

  int next_ = 1;
  std::map<int, int> old_to_new_;
};

}  // namespace

Status CheckRequirements(const TableMetadata* current,
                         const std::vector<TableRequirement>& reqs) {
  for (const TableRequirement& r : reqs) {
    Status status = std::visit(
        [current](const auto& requirement) -> Status {
          using T = std::decay_t<decltype(requirement)>;
          if constexpr (std::is_same_v<T, req::AssertCreate>) {
            return Check(current, requirement);
          } else {
            if (current == nullptr) return RequirementFailed("table does not exist");
            return Check(*current, requirement);
          }
        },
        r);
    FRZ_RETURN_IF_ERROR(status);
  }
  return Ok();
}

Result<TableMetadata> ApplyUpdates(const TableMetadata* base,
                                   const std::vector<TableUpdate>& updates, int64_t now_ms) {
  MetadataBuilder builder(base, now_ms);
  for (const TableUpdate& u : updates) FRZ_RETURN_IF_ERROR(builder.Apply(u));
  return builder.Finish();
}

Result<TableMetadata> NewTableMetadata(const Schema& schema, const PartitionSpec& spec,
                                       const SortOrder& order, const std::string& location,
                                       const std::map<std::string, std::string>& properties,
                                       int format_version, int64_t now_ms) {
  if (location.empty()) return Invalid("a new table needs a location");
  auto version_property = properties.find("format-version");
  if (version_property != properties.end()) {
    const std::string& v = version_property->second;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), format_version);
    if (ec != std::errc() || ptr != v.data() + v.size()) {
      return Invalid("invalid format-version property: " + v);
    }
  }
  if (format_version < 1 || format_version > 3) {
    return MakeError(ErrorKind::kUnsupported,
                     "unsupported format version " + std::to_string(format_version));
  }

  FreshIds ids;
  std::vector<NestedField> fields = ids.AssignStruct(schema.fields());
  std::vector<int> identifier_ids;
  for (int id : schema.identifier_field_ids()) {
    int fresh = ids.Remap(id);
    if (fresh < 0) return Invalid("identifier field id " + std::to_string(id) + " not in schema");
    identifier_ids.push_back(fresh);
  }
  Schema fresh_schema(0, std::move(fields), std::move(identifier_ids));
  if (auto valid = fresh_schema.Validate(); !valid) {
    return Invalid("invalid schema: " + valid.error().message);
  }

  PartitionSpec fresh_spec;
  for (const PartitionField& f : spec.fields) {
    int source = ids.Remap(f.source_id);
    if (source < 0) {
      return Invalid("partition field " + f.name + " references unknown field id " +
                     std::to_string(f.source_id));
    }
    fresh_spec.fields.push_back(
        {source, kFirstPartitionFieldId + static_cast<int>(fresh_spec.fields.size()), f.name,
         f.transform});
  }
  if (auto type = fresh_spec.PartitionType(fresh_schema); !type) {
    return Invalid("invalid partition spec: " + type.error().message);
  }

  SortOrder fresh_order;
  for (const SortField& f : order.fields) {
    SortField field = f;
    field.source_id = ids.Remap(f.source_id);
    if (field.source_id < 0) {
      return Invalid("sort field references unknown field id " + std::to_string(f.source_id));
    }
    fresh_order.fields.push_back(field);
  }
  fresh_order.order_id = fresh_order.fields.empty() ? 0 : 1;

  TableMetadata m;
  m.format_version = format_version;
  m.table_uuid = NewUuid();
  m.location = location;
  m.last_sequence_number = 0;
  m.last_updated_ms = now_ms;
  m.last_column_id = ids.last();
  m.schemas.push_back(std::move(fresh_schema));
  m.current_schema_id = 0;
  m.default_spec_id = 0;
  m.last_partition_id = kFirstPartitionFieldId - 1 + static_cast<int>(fresh_spec.fields.size());
  m.partition_specs.push_back(std::move(fresh_spec));
  m.default_sort_order_id = fresh_order.order_id;
  m.sort_orders.push_back(std::move(fresh_order));
  for (const auto& [key, value] : properties) {
    if (!IsReservedTableProperty(key)) m.properties[key] = value;
  }
  if (format_version >= 3) m.next_row_id = 0;
  return m;
}

}  // namespace frazil::iceberg
