// Lookups on TableMetadata and Snapshot. The JSON forms live in metadata_json.cc.
#include "frazil/iceberg/table_metadata.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace frazil::iceberg {

bool IsReservedTableProperty(std::string_view key) {
  return key == "format-version" || key == "uuid" || key == "snapshot-count" ||
         key.starts_with("current-snapshot-") || key == "current-schema" ||
         key == "default-partition-spec" || key == "default-sort-order";
}

std::string Snapshot::operation() const {
  auto it = summary.find("operation");
  return it == summary.end() ? std::string() : it->second;
}

const Schema* TableMetadata::current_schema() const { return schema_by_id(current_schema_id); }

int TableMetadata::NextSchemaId() const {
  int id = 0;
  for (const Schema& s : schemas) id = std::max(id, s.schema_id() + 1);
  return id;
}

const Schema* TableMetadata::schema_by_id(int id) const {
  for (const Schema& s : schemas) {
    if (s.schema_id() == id) return &s;
  }
  return nullptr;
}

const PartitionSpec* TableMetadata::default_spec() const { return spec_by_id(default_spec_id); }

const PartitionSpec* TableMetadata::spec_by_id(int id) const {
  for (const PartitionSpec& s : partition_specs) {
    if (s.spec_id == id) return &s;
  }
  return nullptr;
}

const Snapshot* TableMetadata::current_snapshot() const {
  if (!current_snapshot_id) return nullptr;
  return snapshot_by_id(*current_snapshot_id);
}

const Snapshot* TableMetadata::snapshot_by_id(int64_t id) const {
  for (const Snapshot& s : snapshots) {
    if (s.snapshot_id == id) return &s;
  }
  return nullptr;
}

const Snapshot* TableMetadata::snapshot_for_ref(const std::string& ref) const {
  auto it = refs.find(ref);
  if (it == refs.end()) return nullptr;
  return snapshot_by_id(it->second.snapshot_id);
}

const Snapshot* TableMetadata::snapshot_as_of(int64_t timestamp_ms) const {
  // The log is in commit order; the last entry at or before the time wins even if a
  // rollback made timestamps non-monotonic.
  const SnapshotLogEntry* found = nullptr;
  for (const SnapshotLogEntry& e : snapshot_log) {
    if (e.timestamp_ms <= timestamp_ms) found = &e;
  }
  return found == nullptr ? nullptr : snapshot_by_id(found->snapshot_id);
}

std::vector<const Snapshot*> TableMetadata::Ancestors(int64_t snapshot_id) const {
  std::vector<const Snapshot*> out;
  std::set<int64_t> seen;  // guards against a corrupt parent cycle
  const Snapshot* s = snapshot_by_id(snapshot_id);
  while (s != nullptr && seen.insert(s->snapshot_id).second) {
    out.push_back(s);
    if (!s->parent_snapshot_id) break;
    s = snapshot_by_id(*s->parent_snapshot_id);
  }
  return out;
}

std::string TableMetadata::Property(const std::string& key, const std::string& fallback) const {
  auto it = properties.find(key);
  return it == properties.end() ? fallback : it->second;
}

int64_t TableMetadata::PropertyInt(const std::string& key, int64_t fallback) const {
  auto it = properties.find(key);
  if (it == properties.end()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return fallback;
  return value;
}

}  // namespace frazil::iceberg
